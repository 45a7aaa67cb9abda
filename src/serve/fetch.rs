//! Object keys and fetch messages: the only place either is built.
//!
//! A [`Target`] (what the format planned) becomes an [`ObjectKey`] (repository, catalog path,
//! variant) and, unless it is a hot object, one [`Fetch`] to the remote's actor, whose
//! [`FetchOutcome`] becomes an [`Outcome`] or a [`ServeError`]. The class of the object is the
//! format's, unless the remote's override patterns match its catalog path. Upstream URLs are
//! the base URL joined with the target's encoded path (which never escapes it, see
//! [`crate::paths`]) or, for a listed file, the absolute URL its own index gave.

use artifactapi_actors::catalog::{CachedObject, ObjectKey};
use artifactapi_actors::integrity::{DocumentCheck, Integrity};
use artifactapi_actors::remote::{CacheStatus, Fetch, FetchOutcome};

use super::{Body, Outcome, ServeError, Service};
use crate::formats::{self, Class, Format, Target};
use crate::paths::join_upstream_suffix;
use crate::registry::RemoteEntry;

/// The upstream URL of `target` below the remote's base URL, with its query.
pub(super) fn upstream_url(entry: &RemoteEntry, target: &Target) -> String {
    let mut url = join_upstream_suffix(&entry.remote.base_url, &target.upstream);
    if !target.query.is_empty() {
        url.push('?');
        url.push_str(&target.query);
    }
    url
}

/// The cache key of `target` in the remote.
pub(super) fn key(entry: &RemoteEntry, target: &Target) -> ObjectKey {
    ObjectKey::new(&entry.remote.spec.name, target.path.as_str(), target.variant.as_str())
}

/// The class of `e` with the remote's override patterns applied to `path`, its catalog path.
pub(super) fn class_of<F: Format>(f: &F, entry: &RemoteEntry, e: &F::Endpoint, path: &str) -> Class {
    formats::classify(f, entry.remote.rules.override_class(path), e)
}

/// What a fetch answered, with the bytes' promised digest for streaming answers.
pub(super) fn outcome(
    repo: &str,
    fetched: FetchOutcome,
    path: &str,
    expected: Option<artifactapi_actors::digest::Digest>,
) -> Result<Outcome, ServeError> {
    match fetched {
        FetchOutcome::Cached { object, status } => Ok(Outcome::stored(&object, status)),
        FetchOutcome::Download(download) => Ok(Outcome::Served {
            body: Body::Streaming { download, digest: expected },
            status: CacheStatus::Miss,
            rendered: false,
        }),
        // 410 stays 410: package clients (`go`) treat 404 and 410 alike as "not here", and the
        // upstream's word is passed on as it was given. A remembered miss answers 404.
        FetchOutcome::NotFound { status: 410 } => {
            Err(ServeError::Gone(format!("{repo}: {path:?} is gone upstream (410)")))
        }
        FetchOutcome::NotFound { .. } => Err(ServeError::NotFound(format!("{repo}: {path:?} not found upstream"))),
        FetchOutcome::Failed(error) => Err(ServeError::Fetch { repo: repo.to_string(), error }),
    }
}

/// A held answer: the fill resolves it only once it is cached, so it is always in the store.
pub(super) fn held(repo: &str, fetched: FetchOutcome, path: &str) -> Result<(CachedObject, CacheStatus), ServeError> {
    match fetched {
        FetchOutcome::Cached { object, status } => Ok((object, status)),
        FetchOutcome::Download(_) => {
            Err(ServeError::Internal(format!("{repo}: {path:?}: a held answer streamed before it was cached")))
        }
        other => Err(outcome(repo, other, path, None)
            .err()
            .unwrap_or_else(|| ServeError::Internal(format!("{repo}: {path:?}: unexpected answer of a held fetch")))),
    }
}

impl Service {
    /// The cached object of `key` if the remote holds it hot (immutable, fresh forever).
    pub(super) fn hot(&self, entry: &RemoteEntry, key: &ObjectKey) -> Option<CachedObject> {
        entry.hot.hit(key)
    }

    /// Sends one fetch for `target` to the remote's actor. `url` is where the bytes are
    /// upstream; `integrity` what an index recorded for them; held targets are checked whole
    /// by the format before they are cached.
    pub(super) async fn send<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        e: &F::Endpoint,
        target: &Target,
        url: String,
        integrity: Option<Integrity>,
    ) -> Result<FetchOutcome, ServeError> {
        let name = entry.remote.spec.name.as_str();
        let class = class_of(f, entry, e, &target.path);
        let (expected, integrity) = match integrity {
            Some(Integrity::Sha256(d)) => (Some(d), None),
            other => (target.expected, other),
        };
        let document = target.held.then(|| {
            let checked = e.clone();
            DocumentCheck::new(move |body| f.check_document(&checked, body))
        });
        let fetch = Fetch {
            path: target.path.clone(),
            variant: target.variant.clone(),
            mutable: class == Class::Mutable,
            upstream_url: url,
            forward_headers: target.accept.iter().map(|a| ("Accept".to_string(), a.clone())).collect(),
            expected,
            integrity,
            document,
            revalidate_by_digest: target.revalidate_by_digest,
            token_scope: target.token_scope.clone(),
        };
        entry.addr.send(fetch).await.map_err(|e| ServeError::Unavailable(format!("remote {name}: {e}")))
    }

    /// The upstream's bytes of `target`: a hot object, or what the remote's actor answers.
    pub(super) async fn bytes<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        e: &F::Endpoint,
        target: Target,
    ) -> Result<Outcome, ServeError> {
        if let Some(object) = self.hot(entry, &key(entry, &target)) {
            return Ok(Outcome::stored(&object, CacheStatus::Hit));
        }
        let url = upstream_url(entry, &target);
        let fetched = self.send(f, entry, e, &target, url, target.integrity.clone()).await?;
        outcome(&entry.remote.spec.name, fetched, &target.path, target.expected)
    }
}

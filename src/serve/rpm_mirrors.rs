//! rpm remotes in front of a mirror list or metalink service ([`crate::formats::rpm::mirrors`]).
//!
//! A mirror document is served like any document: fetched with its query, checked before it
//! is cached, rewritten on the way out so every mirror points back through the remote
//! (`_mirror/{scheme}/{host}/{path}`). Serving one also records the repositories it lists in
//! the remote's list of known mirrors, a small object of the catalog ([`BASES`]) that survives
//! restarts: a request below `_mirror/` is fetched from its mirror only when that list names
//! the mirror's repository, so the remote fetches what its own upstream listed and never a URL
//! a client made up; the fetch itself obeys the private-address rule like every fetch from a
//! host other than the base URL's. A mirror's `repomd.xml`, data files and packages are then
//! served as one consistent snapshot per directory, like the remote's own ([`super::rpm`]).
//!
//! The list is the union of every mirror document served (newest first, capped at
//! [`MAX_REMEMBERED`]); two documents served at the same instant may each miss the other's
//! mirrors until served again.

use artifactapi_actors::catalog::{CachedObject, Catalog, ObjectKey};

use super::documents::read_whole;
use super::{repo_of, Body, Outcome, ServeError, Service};
use crate::db::PgCatalog;
use crate::formats::rpm::mirrors::{self, Mirrors};
use crate::formats::rpm::{Endpoint, Rpm};
use crate::formats::{Format, Plan, Rendered};
use crate::registry::RemoteEntry;

/// The variant of the list of mirror repositories the remote's mirror documents named.
pub const BASES: &str = "rpm-mirror-bases";
/// Most mirror repositories remembered per remote.
const MAX_REMEMBERED: usize = 4 * mirrors::MAX_MIRRORS;

fn catalog_error(e: impl std::fmt::Display) -> ServeError {
    ServeError::Unavailable(format!("catalog: {e}"))
}

fn bases_key(entry: &RemoteEntry) -> ObjectKey {
    ObjectKey::new(&entry.remote.spec.name, mirrors::PREFIX, BASES)
}

impl Service {
    /// A mirror list or metalink, rewritten; the mirrors it lists become fetchable.
    pub(super) async fn rpm_mirrors(&self, entry: &RemoteEntry, e: &Endpoint) -> Result<Outcome, ServeError> {
        let name = &entry.remote.spec.name;
        let Plan::Document(target, doc) = Rpm.plan(e, &repo_of(entry)).map_err(|err| super::refused(name, err))? else {
            return Err(ServeError::Internal(format!("{name}: a mirror document is planned as a document")));
        };
        let (rendered, status) = self.document(&Rpm, entry, e, target.clone(), doc).await?;
        let (source, _) = self.source(&Rpm, entry, e, &target).await?;
        let what = format!("remote {name}: {:?}", target.path);
        let body = read_whole(&*self.store, &what, &source.digest, source.size).await?;
        let listed = mirrors::parse(&body).map_err(|err| ServeError::BadGateway(format!("{what}: {err}")))?;
        self.rpm_remember_mirrors(entry, &listed).await?;
        Ok(Outcome::Served { body: Body::Stored(rendered.stored()), status, rendered: true })
    }

    /// The mirror repositories the remote's mirror documents named (newest first).
    async fn rpm_known_mirrors(&self, entry: &RemoteEntry) -> Result<Vec<String>, ServeError> {
        let catalog = PgCatalog::new(self.db.clone());
        let Some(object) = catalog.lookup(&bases_key(entry)).await.map_err(catalog_error)? else {
            return Ok(Vec::new());
        };
        let what = format!("remote {}: the known mirrors", entry.remote.spec.name);
        let body = read_whole(&*self.store, &what, &object.digest, object.size).await?;
        Ok(String::from_utf8_lossy(&body).lines().map(str::to_string).collect())
    }

    async fn rpm_remember_mirrors(&self, entry: &RemoteEntry, listed: &Mirrors) -> Result<(), ServeError> {
        let known = self.rpm_known_mirrors(entry).await?;
        if listed.bases.iter().all(|b| known.contains(b)) {
            return Ok(());
        }
        let mut all = listed.bases.clone();
        all.extend(known.into_iter().filter(|b| !listed.bases.contains(b)));
        all.truncate(MAX_REMEMBERED);
        let stored = self.renders.store(&Rendered::new(all.join("\n").into_bytes(), "text/plain")).await?;
        let object = CachedObject {
            key: bases_key(entry),
            digest: stored.digest,
            size: stored.size,
            content_type: Some("text/plain".into()),
            upstream_etag: None,
            upstream_last_modified: None,
            mutable: true,
            fetched_at: chrono::Utc::now(),
        };
        PgCatalog::new(self.db.clone()).put_object(&object).await.map_err(catalog_error)?;
        tracing::info!(repo = %entry.remote.spec.name, mirrors = all.len(), "rpm: known mirrors");
        Ok(())
    }

    /// Refuses a request for the mirror file at `url` unless a mirror document of the remote
    /// listed that mirror's repository.
    pub(super) async fn rpm_mirror_allowed(&self, entry: &RemoteEntry, url: &str) -> Result<(), ServeError> {
        let known = Mirrors { kind: mirrors::Kind::Mirrorlist, bases: self.rpm_known_mirrors(entry).await? };
        if known.allows(url) {
            return Ok(());
        }
        Err(ServeError::NotFound(format!(
            "{}: {url} is in no repository that the remote's mirror lists or metalinks name",
            entry.remote.spec.name
        )))
    }
}

//! Package indexes: fetched and checked whole, rendered once per upstream copy, and the files
//! they list.
//!
//! A document (a PyPI simple page, an npm packument, a helm `index.yaml`, a goproxy `@v/list`)
//! is a held fetch: the fill keeps it until the format's parser accepted the whole body, so a
//! broken index is a 502 and never replaces a good copy, and what comes back is always a cached
//! object. Its rendering (every file URL rewritten to come through this remote, from
//! `PUBLIC_URL`, never from the request's `Host`) is made once per upstream copy and form by
//! [`super::renders`] and served from the blob store like any cached object.
//!
//! A listed file is looked up in its index, which names the real upstream URL (another path,
//! another host) and the digest the bytes must match; a file already cached never needs it.
//! Types whose index is read on every such request parse it once per cached copy
//! ([`crate::formats::Format::parse_index`], kept by [`super::kept`]).

use artifactapi_actors::catalog::CachedObject;
use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;
use artifactapi_actors::remote::CacheStatus;
use artifactapi_actors::storage::BlobStore;
use futures_util::StreamExt;

use super::fetch::{held, key, upstream_url};
use super::renders::{RenderKey, RenderedRef};
use super::{repo_of, Outcome, ServeError, Service, MAX_DOCUMENT};
use crate::formats::{Doc, Format, Plan, Target, Urls};
use crate::paths::join_upstream_suffix;
use crate::registry::RemoteEntry;

/// Reads a stored object whole (documents only, bounded by [`MAX_DOCUMENT`]).
pub(super) async fn read_whole(
    store: &dyn BlobStore,
    what: &str,
    digest: &Digest,
    size: u64,
) -> Result<Vec<u8>, ServeError> {
    if size > MAX_DOCUMENT {
        return Err(ServeError::BadGateway(format!("{what} is larger than {MAX_DOCUMENT} bytes")));
    }
    let mut body =
        store.open(digest, None).await.map_err(|e| ServeError::Unavailable(format!("storage: {what}: {e}")))?;
    let mut out = Vec::with_capacity(size as usize);
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.map_err(|e| ServeError::Unavailable(format!("storage: {what}: {e}")))?);
    }
    Ok(out)
}

impl Service {
    /// The whole body of a served document (a tag list a virtual merges, a page whose length
    /// decides its next link), bounded by [`MAX_DOCUMENT`].
    pub async fn document_bytes(&self, outcome: Outcome, what: &str) -> Result<Vec<u8>, ServeError> {
        match outcome {
            Outcome::Served { body: super::Body::Stored(s), .. } => {
                read_whole(&*self.store, what, &s.digest, s.size).await
            }
            Outcome::Served { body: super::Body::Streaming { download, .. }, .. } => {
                let mut body = download.body;
                let mut out = Vec::new();
                while let Some(chunk) = body.next().await {
                    out.extend_from_slice(&chunk.map_err(|e| ServeError::BadGateway(format!("{what}: {e}")))?);
                    if out.len() as u64 > MAX_DOCUMENT {
                        return Err(ServeError::BadGateway(format!("{what} is larger than {MAX_DOCUMENT} bytes")));
                    }
                }
                Ok(out)
            }
            Outcome::Redirect(to) => Err(ServeError::BadGateway(format!("{what}: unexpected redirect to {to:?}"))),
        }
    }
}

/// Runs `f` on a blocking thread (parsing and rendering large documents is CPU work).
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ServeError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ServeError::Internal(format!("document task: {e}")))
}

impl Service {
    /// The URLs a document of this remote, fetched from `document`, is rewritten with.
    pub(super) fn urls(&self, entry: &RemoteEntry, document: String) -> Urls {
        let name = &entry.remote.spec.name;
        let base = join_upstream_suffix(&entry.remote.base_url, "");
        Urls { public: format!("{}/api/v1/remote/{name}/", self.public_base), base, document }
    }

    /// The upstream copy of the document `target` (cache first), checked by the format.
    pub(super) async fn source<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        e: &F::Endpoint,
        target: &Target,
    ) -> Result<(CachedObject, CacheStatus), ServeError> {
        self.source_and_url(f, entry, e, target).await.map(|(object, status, _)| (object, status))
    }

    /// [`Service::source`], with the upstream URL of the document.
    async fn source_and_url<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        e: &F::Endpoint,
        target: &Target,
    ) -> Result<(CachedObject, CacheStatus, String), ServeError> {
        let url = self.document_url(f, entry, e, target).await?;
        let (object, status) = self.source_at(f, entry, e, target, url.clone()).await?;
        Ok((object, status, url))
    }

    /// [`Service::source`] of a document at `url` (rpm remotes fetch mirrors' files).
    pub(super) async fn source_at<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        e: &F::Endpoint,
        target: &Target,
        url: String,
    ) -> Result<(CachedObject, CacheStatus), ServeError> {
        let name = &entry.remote.spec.name;
        if let Some(object) = self.hot(entry, &key(entry, target)) {
            return Ok((object, CacheStatus::Hit));
        }
        let fetched = self.send(f, entry, e, target, url, None).await?;
        held(name, fetched, &target.path)
    }

    /// Where the document `target` of `e` is upstream: below the base URL, or where the
    /// document that [`Format::document_via`] names says (itself at its own path).
    async fn document_url<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        e: &F::Endpoint,
        target: &Target,
    ) -> Result<String, ServeError> {
        let Some(via) = f.document_via(e) else {
            return Ok(upstream_url(entry, target));
        };
        let name = entry.remote.spec.name.as_str();
        let Plan::Document(via_target, _) = f.plan(&via, &repo_of(entry)).map_err(|e| super::refused(name, e))? else {
            return Err(ServeError::Internal(format!("{name}: what names {:?} is no document", target.path)));
        };
        let via_url = upstream_url(entry, &via_target);
        let (source, _) = self.source_at(f, entry, &via, &via_target, via_url.clone()).await?;
        let what = format!("remote {name}: {:?}", via_target.path);
        let body = read_whole(&*self.store, &what, &source.digest, source.size).await?;
        let located = f
            .locate(e, &body, &self.urls(entry, via_url))
            .map_err(|why| ServeError::BadGateway(format!("{what}: {why}")))?
            .ok_or_else(|| ServeError::NotFound(format!("{name}: {what} does not name {:?}", target.path)))?;
        Ok(located.url)
    }

    /// The document `e` as this remote serves it: its upstream copy, rendered (once per copy
    /// and form).
    pub(super) async fn document<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        e: &F::Endpoint,
        target: Target,
        doc: Doc,
    ) -> Result<(RenderedRef, CacheStatus), ServeError> {
        let (source, status, url) = self.source_and_url(f, entry, e, &target).await?;
        let name = entry.remote.spec.name.clone();
        // Keyed by the document's upstream URL, not only its path: a remote whose base URL
        // changed renders the same bytes differently.
        let render_key = RenderKey::new(&name, &url, doc, source.digest);
        let what = format!("remote {name}: {:?}", target.path);
        let urls = self.urls(entry, url);
        let (e, store) = (e.clone(), self.store.clone());
        let job = async move {
            let body = read_whole(&*store, &what, &source.digest, source.size).await?;
            blocking(move || f.rewrite(&e, &doc, &body, &urls))
                .await?
                .map_err(|why| ServeError::BadGateway(format!("{what}: {why}")))
        };
        let rendered = self.renders.get_or_render(render_key, job).await?;
        Ok((rendered, status))
    }

    /// A listed file: from cache when it is there, else from where its index says, checked
    /// against the digest the index records.
    pub(super) async fn listed<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        file: &F::Endpoint,
        path: String,
        index: F::Endpoint,
    ) -> Result<Outcome, ServeError> {
        let name = entry.remote.spec.name.as_str();
        let file_target = Target { path, ..Target::default() };
        if let Some(object) = self.hot(entry, &key(entry, &file_target)) {
            return Ok(Outcome::stored(&object, CacheStatus::Hit));
        }
        let Plan::Document(index_target, _) = f.plan(&index, &repo_of(entry)).map_err(|e| super::refused(name, e))?
        else {
            return Err(ServeError::Internal(format!("{name}: the index of {:?} is no document", file_target.path)));
        };
        let (source, _, index_url) = self.source_and_url(f, entry, &index, &index_target).await?;
        let what = format!("remote {name}: {:?}", index_target.path);
        let urls = self.urls(entry, index_url);
        let located = match self.parsed_indexes.get(&source.digest) {
            Some(parsed) => f.locate_parsed(file, &parsed, &urls),
            None => {
                let _permit = self.renders.permit().await?;
                let body = read_whole(&*self.store, &what, &source.digest, source.size).await?;
                let file = file.clone();
                let (parsed, located) = blocking(move || match f.parse_index(&index, &body) {
                    Some(Ok(parsed)) => {
                        let located = f.locate_parsed(&file, &parsed, &urls);
                        (Some(parsed), located)
                    }
                    Some(Err(e)) => (None, Err(e)),
                    None => (None, f.locate(&file, &body, &urls)),
                })
                .await?;
                if let Some(parsed) = parsed {
                    self.parsed_indexes.put(source.digest, parsed);
                }
                located
            }
        }
        .map_err(|why| ServeError::BadGateway(format!("{what}: {why}")))?
        .ok_or_else(|| {
            ServeError::NotFound(format!("{name}: {:?} is not listed in {:?}", file_target.path, index_target.path))
        })?;
        // A name the index may list again with other bytes (a rebuilt apk) is cached per build.
        let mut file_target = file_target;
        if let Some(variant) = located.integrity.as_ref().and_then(Integrity::cache_variant) {
            file_target.variant = variant;
            if let Some(object) = self.hot(entry, &key(entry, &file_target)) {
                return Ok(Outcome::stored(&object, CacheStatus::Hit));
            }
        }
        let fetched = self.send(f, entry, file, &file_target, located.url, located.integrity).await?;
        super::fetch::outcome(name, fetched, &file_target.path, None)
    }
}

//! Package indexes: fetch, check, rewrite, and the files they list.
//!
//! A [`Plan::Document`] (a PyPI simple page, an npm packument, a helm `index.yaml`) is cached as
//! the upstream sent it, one copy per variant, after the type's parser accepted the whole body
//! (a broken index is a 502 and never replaces a good copy). It is read whole (at most
//! [`MAX_DOCUMENT`] bytes) and rewritten on a blocking thread on the way out, from `PUBLIC_URL`,
//! never from the request's `Host`. A [`Plan::Listed`] file is looked up in its index, which
//! names the real upstream URL and the digest the bytes must match; a file already cached
//! never needs its index.

use std::sync::Arc;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::DocumentCheck;
use artifactapi_actors::remote::{CacheStatus, Fetch, FetchOutcome};
use futures_util::StreamExt;

use super::error::ApiError;
use super::renders::Served;
use super::{proxy, serve};
use crate::formats::{self, Class, Doc, Format, Urls};
use crate::paths::{join_upstream_suffix, RepoPath};
use crate::registry::RemoteEntry;
use crate::state::AppState;

/// Largest document read whole for rewriting or merging.
pub const MAX_DOCUMENT: usize = 64 << 20;

/// A document's upstream copy: still in the store (named by its digest) or read from a fill.
enum Copy {
    Stored(Digest, u64),
    Read(Vec<u8>),
}

/// A document's upstream bytes and where they came from.
pub struct Source {
    copy: Copy,
    pub status: CacheStatus,
    pub urls: Urls,
}

impl Source {
    /// The upstream's bytes, read whole.
    async fn body(self, state: &AppState, name: &str, path: &RepoPath) -> Result<(Vec<u8>, Urls), ApiError> {
        let body = match self.copy {
            Copy::Read(body) => body,
            Copy::Stored(_, size) if size > MAX_DOCUMENT as u64 => return Err(too_large(name, path)),
            Copy::Stored(digest, _) => {
                read_all(state.store.open(&digest, None).await.map_err(storage)?, name, path).await?
            }
        };
        Ok((body, self.urls))
    }
}

fn format_of(entry: &RemoteEntry) -> &'static dyn Format {
    formats::format_for(entry.remote.spec.package_type)
}

/// The URLs documents of this remote are rewritten with.
fn urls(state: &AppState, entry: &RemoteEntry, document: String) -> Urls {
    let name = &entry.remote.spec.name;
    let base = join_upstream_suffix(&entry.remote.base_url, "");
    Urls { public: format!("{}/api/v1/remote/{name}/", state.config.public_base()), base, document }
}

/// Fetches the document at `path` (cache first) as the upstream sent it.
pub async fn source(state: &AppState, entry: &RemoteEntry, path: &RepoPath, doc: &Doc) -> Result<Source, ApiError> {
    let remote = &entry.remote;
    let name = remote.spec.name.as_str();
    let format = format_of(entry);
    let class = formats::classify(remote.spec.package_type, remote.rules.override_class(path.as_str()), path.as_str());
    let upstream_url =
        join_upstream_suffix(&remote.base_url, &format.upstream_suffix(path.as_str(), path.upstream_suffix()));
    let (checked_path, checked_doc) = (path.as_str().to_string(), *doc);
    let fetch = Fetch {
        path: path.as_str().to_string(),
        variant: doc.variant.to_string(),
        mutable: class == Class::Mutable,
        upstream_url: upstream_url.clone(),
        forward_headers: if doc.accept.is_empty() { Vec::new() } else { vec![("accept".into(), doc.accept.into())] },
        expected: None,
        integrity: None,
        document: Some(DocumentCheck::new(move |body| format.check_document(&checked_path, &checked_doc, body))),
        ..Fetch::default()
    };
    let outcome = entry.addr.send(fetch).await.map_err(|e| ApiError::Unavailable(format!("remote {name}: {e}")))?;
    let (copy, status) = match outcome {
        FetchOutcome::Cached { object, status } => (Copy::Stored(object.digest, object.size), status),
        FetchOutcome::Download(download) => (Copy::Read(read_all(download.body, name, path).await?), CacheStatus::Miss),
        FetchOutcome::NotFound { status: 410 } => {
            return Err(ApiError::Gone(format!("{name}: {path:?} is gone upstream")))
        }
        FetchOutcome::NotFound { .. } => return Err(ApiError::Missing(format!("{name}: {path:?} not found upstream"))),
        FetchOutcome::Failed(e) => return Err(named(name, e.into())),
    };
    Ok(Source { copy, status, urls: urls(state, entry, upstream_url) })
}

fn storage(e: artifactapi_actors::storage::StoreError) -> ApiError {
    ApiError::Unavailable(format!("storage: {e}"))
}

fn too_large(name: &str, path: &RepoPath) -> ApiError {
    ApiError::BadGateway(format!("remote {name}: {path:?} is larger than {MAX_DOCUMENT} bytes"))
}

/// Puts the remote's name in front of an upstream error's message.
fn named(name: &str, e: ApiError) -> ApiError {
    match e {
        ApiError::BadGateway(m) => ApiError::BadGateway(format!("remote {name}: {m}")),
        ApiError::GatewayTimeout(m) => ApiError::GatewayTimeout(format!("remote {name}: {m}")),
        other => other,
    }
}

async fn read_all(
    mut body: artifactapi_actors::storage::ByteStream,
    name: &str,
    path: &RepoPath,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadGateway(format!("remote {name}: {path:?}: {e}")))?;
        if out.len() + chunk.len() > MAX_DOCUMENT {
            return Err(too_large(name, path));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The document at `path` as this remote serves it: fetched, then rewritten (or the rendering
/// of the same upstream bytes from memory).
pub async fn rendered(
    state: &AppState,
    entry: &RemoteEntry,
    path: &RepoPath,
    doc: &Doc,
) -> Result<(Arc<Served>, CacheStatus), ApiError> {
    let source = source(state, entry, path, doc).await?;
    let status = source.status;
    let name = entry.remote.spec.name.clone();
    let stored = match source.copy {
        Copy::Stored(digest, _) => Some(digest),
        Copy::Read(_) => None,
    };
    // Keyed by the document's upstream URL, not only its path: a remote whose base URL changed
    // renders the same bytes differently.
    let doc_url = source.urls.document.clone();
    if let Some(hit) = stored.and_then(|d| state.renders.get(&name, &doc_url, *doc, &d)) {
        return Ok((hit, status));
    }
    let (body, urls) = source.body(state, &name, path).await?;
    let format = format_of(entry);
    let (p, d) = (path.as_str().to_string(), *doc);
    let digest = stored.unwrap_or_else(|| Digest::of(&body));
    let rendered = blocking(move || format.rewrite(&p, &d, &body, &urls))
        .await?
        .map_err(|e| ApiError::BadGateway(format!("remote {name}: {path:?}: {e}")))?;
    let rendered = Arc::new(Served::new(rendered));
    state.renders.put(&name, &doc_url, *doc, &digest, rendered.clone());
    Ok((rendered, status))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(format!("document task: {e}")))
}

/// Serves a listed file: from cache when it is there, else from where its index says, checked
/// against the digest the index records.
pub async fn listed(
    req: &HttpRequest,
    state: &AppState,
    entry: &RemoteEntry,
    path: &RepoPath,
    index: &str,
    doc: &Doc,
) -> Result<HttpResponse, ApiError> {
    let name = entry.remote.spec.name.as_str();
    if let Some(hit) = proxy::hot_hit(req, state, entry, path).await {
        return hit;
    }
    let index_path = RepoPath::from_decoded(index)
        .map_err(|e| ApiError::Internal(format!("{name}: index path {index:?} of {path:?}: {e}")))?;
    let (body, urls) = source(state, entry, &index_path, doc).await?.body(state, name, &index_path).await?;
    let format = format_of(entry);
    let (p, d) = (path.as_str().to_string(), *doc);
    let located = blocking(move || format.locate(&p, &d, &body, &urls))
        .await?
        .map_err(|e| ApiError::BadGateway(format!("remote {name}: {index:?}: {e}")))?
        .ok_or_else(|| ApiError::Missing(format!("{name}: {:?} is not listed in {index:?}", path.as_str())))?;
    proxy::fetch_file(req, state, entry, path, located.url, located.integrity).await.map_err(|e| named(name, e))
}

/// A rendered document as a response: `Vary: Accept`, a strong ETag of the served bytes,
/// conditional requests, HEAD without a body.
pub fn respond(req: &HttpRequest, served: &Served, status: CacheStatus) -> HttpResponse {
    let mut resp = HttpResponse::build(StatusCode::OK);
    resp.insert_header(("X-Cache", status.as_str()))
        .insert_header((header::CONTENT_TYPE, served.content_type.clone()))
        .insert_header((header::VARY, "Accept"))
        .insert_header((header::ETAG, served.etag.clone()));
    if serve::if_none_match(req, &served.etag) {
        resp.status(StatusCode::NOT_MODIFIED);
        return resp.finish();
    }
    if req.method() == Method::HEAD {
        let len = served.body.len() as u64;
        let empty = futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
        return resp.no_chunking(len).streaming(empty);
    }
    resp.body(served.body.clone())
}

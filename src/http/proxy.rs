//! `GET|HEAD /api/v1/remote/{name}/{path}`: the caching proxy.
//!
//! The handler reads top to bottom as the request path: find the remote, parse the path (still
//! percent-encoded, straight from the request line, so no decoding step can hide a `..`), let
//! the package type refuse what is no request of its protocol, check the access rules,
//! classify, serve a hot object directly or ask the remote's actor, respond.
//! Every request, errors included, is recorded ([`crate::observe::Tap`]) once its response body
//! has been sent.

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::catalog::ObjectKey;
use artifactapi_actors::integrity::Integrity;
use artifactapi_actors::remote::{CacheStatus, Fetch};

use super::error::ApiError;
use super::openapi::ErrorBody;
use super::{documents, serve};
use crate::formats::{self, Ask, Class, PackageType, PathRefusal, Plan};
use crate::observe::body::RecordedBody;
use crate::observe::Tap;
use crate::paths::{join_upstream, RepoPath};
use crate::registry::RemoteEntry;
use crate::state::AppState;

const PREFIX: &str = "/api/v1/remote/";

/// Splits the raw request path into the remote name and the encoded rest.
fn split(raw: &str) -> Option<(&str, &str)> {
    raw.strip_prefix(PREFIX)?.split_once('/')
}

#[utoipa::path(get, path = "/api/v1/remote/{name}/{path}", tag = "proxy",
    params(("name" = String, Path), ("path" = String, Path)),
    responses((status = 200, description = "The file; `X-Cache` says HIT, MISS, STALE or REVALIDATED", body = Vec<u8>),
        (status = 206, description = "A byte range from cache"), (status = 304, description = "Not modified"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 405, body = ErrorBody), (status = 410, body = ErrorBody), (status = 416, description = "Range not satisfiable"),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn remote(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse<RecordedBody> {
    let mut tap = state.observe.tap(&req);
    let result = serve_remote(&req, &state, &mut tap).await;
    tap.respond(result)
}

async fn serve_remote(req: &HttpRequest, state: &AppState, tap: &mut Tap) -> Result<HttpResponse, ApiError> {
    let raw = req.uri().path();
    let (name, tail) =
        split(raw).ok_or_else(|| ApiError::BadRequest("expected /api/v1/remote/{name}/{path}".into()))?;
    tap.target(name, tail);
    let entry = state.registry.get(name).ok_or_else(|| ApiError::not_found("remote", name))?;
    tap.known(state.observe.repo(name, entry.remote.spec.package_type));
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::MethodNotAllowed { method: req.method().to_string(), allow: "GET, HEAD" });
    }
    let path = parse_path(name, entry.remote.spec.package_type, tail)?;
    serve_member(req, state, &entry, &path).await
}

/// Serves `path` (already parsed and accepted by the package type) from one remote: its access
/// rules, its classification, a hot object or its actor. The remote proxy and virtual
/// repositories (for each member they try) both answer through here.
pub(super) async fn serve_member(
    req: &HttpRequest,
    state: &AppState,
    entry: &RemoteEntry,
    path: &RepoPath,
) -> Result<HttpResponse, ApiError> {
    let remote = &entry.remote;
    let name = remote.spec.name.as_str();
    remote.rules.check_access(path.as_str()).map_err(|d| ApiError::Forbidden(format!("{name}: {d}")))?;
    match formats::format_for(remote.spec.package_type).plan(path.as_str(), &ask(req)) {
        Plan::Bytes => {}
        Plan::Redirect(to) => return Ok(redirect(req, path, &to)),
        Plan::Document(doc) => {
            let (rendered, status) = documents::rendered(state, entry, path, &doc).await?;
            return Ok(documents::respond(req, &rendered, status));
        }
        Plan::Listed { index, doc } => return documents::listed(req, state, entry, path, &index, &doc).await,
    }
    if let Some(hit) = hot_hit(req, state, entry, path).await {
        return hit;
    }
    fetch_file(req, state, entry, path, join_upstream(&remote.base_url, path), None).await
}

/// A file of `path` from the remote's hot objects (immutable, fresh forever), if it is one.
pub(super) async fn hot_hit(
    req: &HttpRequest,
    state: &AppState,
    entry: &RemoteEntry,
    path: &RepoPath,
) -> Option<Result<HttpResponse, ApiError>> {
    let object = entry.hot.hit(&ObjectKey::new(&entry.remote.spec.name, path.as_str(), ""))?;
    Some(serve::cached(req, state.store.as_ref(), &object, CacheStatus::Hit).await)
}

/// Asks the remote's actor for the file at `path` (cache first, else `upstream_url`, checked
/// against `integrity` when the index recorded one) and sends what it answers.
pub(super) async fn fetch_file(
    req: &HttpRequest,
    state: &AppState,
    entry: &RemoteEntry,
    path: &RepoPath,
    upstream_url: String,
    integrity: Option<Integrity>,
) -> Result<HttpResponse, ApiError> {
    let remote = &entry.remote;
    let name = remote.spec.name.as_str();
    let class = formats::classify(remote.spec.package_type, remote.rules.override_class(path.as_str()), path.as_str());
    let (expected, integrity) = match integrity {
        Some(Integrity::Sha256(d)) => (Some(d), None),
        other => (None, other),
    };
    let fetch = Fetch {
        path: path.as_str().to_string(),
        mutable: class == Class::Mutable,
        upstream_url,
        expected,
        integrity,
        ..Fetch::default()
    };
    let outcome = entry.addr.send(fetch).await.map_err(|e| ApiError::Unavailable(format!("remote {name}: {e}")))?;
    serve::respond(req, state.store.as_ref(), outcome, path.as_str()).await
}

/// What the request asks beyond its path, for the package type.
pub(super) fn ask(req: &HttpRequest) -> Ask<'_> {
    Ask { accept: req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()) }
}

/// A permanent redirect to `to`, a path of the repository the request addressed (remote or
/// virtual): the request's path with its repository-relative part replaced.
pub(super) fn redirect(req: &HttpRequest, path: &RepoPath, to: &str) -> HttpResponse {
    let raw = req.uri().path();
    // `/api/v1/{remote|virtual}/{name}/` is the first four segments of the request path.
    let prefix_len = raw.match_indices('/').nth(4).map(|(i, _)| i + 1).unwrap_or(raw.len());
    let target = RepoPath::from_decoded(to).map(|p| p.upstream_suffix()).unwrap_or_else(|_| path.upstream_suffix());
    let mut location = format!("{}{target}", &raw[..prefix_len]);
    if let Some(q) = req.uri().query() {
        location.push('?');
        location.push_str(q);
    }
    HttpResponse::MovedPermanently().insert_header((header::LOCATION, location)).finish()
}

/// Parses the raw path of a request to a repository of `package_type` named `name` and lets
/// the type refuse what is no request of its protocol.
pub(super) fn parse_path(name: &str, package_type: PackageType, tail: &str) -> Result<RepoPath, ApiError> {
    let format = formats::format_for(package_type);
    let path =
        RepoPath::parse(&format.canonical_raw(tail)).map_err(|e| ApiError::BadRequest(format!("invalid path: {e}")))?;
    format.check_path(path.as_str()).map_err(|r| match r {
        PathRefusal::Invalid(m) => ApiError::BadRequest(format!("{name}: {m}")),
        PathRefusal::NotFound(m) => ApiError::Missing(format!("{name}: {m}")),
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_name_and_raw_rest() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("/api/v1/remote/r/a/b.txt", Some(("r", "a/b.txt"))),
            ("/api/v1/remote/r/%2e%2e/x", Some(("r", "%2e%2e/x"))),
            ("/api/v1/remote/r//x", Some(("r", "/x"))),
            ("/api/v1/remote/r", None),
            ("/api/v1/virtual/r/x", None),
        ];
        for (raw, want) in cases {
            assert_eq!(split(raw), *want, "{raw}");
        }
    }
}

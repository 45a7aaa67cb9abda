//! `GET|HEAD /api/v1/remote/{name}/{path}`: the caching proxy.
//!
//! The handler reads top to bottom as the request path: find the remote, parse the path (still
//! percent-encoded, straight from the request line, so no decoding step can hide a `..`), let
//! the package type refuse what is no request of its protocol, check the access rules,
//! classify, serve a hot object directly or ask the remote's actor, respond.
//! Every request, errors included, is recorded ([`crate::observe::Tap`]) once its response body
//! has been sent.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::catalog::ObjectKey;
use artifactapi_actors::remote::{CacheStatus, Fetch};

use super::error::ApiError;
use super::openapi::ErrorBody;
use super::serve;
use crate::formats::{self, Class, PackageType, PathRefusal};
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
    let class = formats::classify(remote.spec.package_type, remote.rules.override_class(path.as_str()), path.as_str());
    let key = ObjectKey::new(name, path.as_str(), "");
    if let Some(object) = entry.hot.hit(&key) {
        return serve::cached(req, state.store.as_ref(), &object, CacheStatus::Hit).await;
    }
    let fetch = Fetch {
        path: key.path,
        variant: key.variant,
        mutable: class == Class::Mutable,
        upstream_url: join_upstream(&remote.base_url, path),
        forward_headers: Vec::new(),
        expected: None,
        revalidate_by_digest: false,
        token_scope: None,
    };
    let outcome = entry.addr.send(fetch).await.map_err(|e| ApiError::Unavailable(format!("remote {name}: {e}")))?;
    serve::respond(req, state.store.as_ref(), outcome, path.as_str()).await
}

/// Parses the raw path of a request to a repository of `package_type` named `name` and lets
/// the type refuse what is no request of its protocol.
pub(super) fn parse_path(name: &str, package_type: PackageType, tail: &str) -> Result<RepoPath, ApiError> {
    let path = RepoPath::parse(tail).map_err(|e| ApiError::BadRequest(format!("invalid path: {e}")))?;
    formats::format_for(package_type).check_path(path.as_str()).map_err(|r| match r {
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

//! `/api/v1/remote/{name}/{path}` and `/api/v1/virtual/{name}/{path}`: parse, serve, respond.
//!
//! Each handler splits the repository name off the raw request path (still percent-encoded,
//! straight from the request line, so no decoding step can hide a `..`), finds the repository,
//! hands the rest to the serving service ([`crate::serve`]) as a [`Request`], and turns the
//! answer into a response ([`super::respond`]). Errors are the management API's
//! `{"error": ...}` (npm reads the same shape). Every request, errors included, is recorded
//! ([`crate::observe::Tap`]) once its response body has been sent.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::openapi::ErrorBody;
use super::respond;
use crate::formats::{Method, Request};
use crate::observe::body::RecordedBody;
use crate::observe::Tap;
use crate::state::AppState;

/// The header naming the members of a virtual that were skipped for being down.
pub const UNAVAILABLE_HEADER: &str = "x-artifactapi-unavailable";

/// Splits the raw request path after `prefix` into the repository name and the encoded rest.
fn split<'a>(raw: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    raw.strip_prefix(prefix)?.split_once('/')
}

pub(super) fn method(req: &HttpRequest) -> Method {
    match req.method().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        _ => Method::Other,
    }
}

/// The `Accept` values of a request.
pub(super) fn accept_values(req: &HttpRequest) -> Vec<&str> {
    req.headers().get_all(header::ACCEPT).filter_map(|v| v.to_str().ok()).collect()
}

/// The request as the serving service takes it.
pub(super) fn request<'a>(req: &'a HttpRequest, repo: &'a str, path: &'a str, accept: &'a [&'a str]) -> Request<'a> {
    Request { repo, method: method(req), path, query: req.query_string(), accept }
}

/// With `ANONYMOUS_READS=false`, reading a repository needs `read` on it: a 401 asks for basic
/// credentials (what pip, npm, helm and curl answer), a 403 names the scope.
pub(super) fn require_repo_read(req: &HttpRequest, state: &AppState, repo: &str) -> Result<(), ApiError> {
    state.auth.require(super::auth::authorization(req), repo, crate::auth::Scope::Read).map(drop).map_err(|e| match e {
        crate::auth::AuthError::Forbidden { .. } => ApiError::Forbidden(e.to_string()),
        other => ApiError::AuthRequired(other.to_string()),
    })
}

#[utoipa::path(get, path = "/api/v1/remote/{name}/{path}", tag = "proxy",
    params(("name" = String, Path), ("path" = String, Path)),
    responses((status = 200, description = "The file; `X-Cache` says HIT, MISS, STALE or REVALIDATED", body = Vec<u8>),
        (status = 206, description = "A byte range from cache"), (status = 301, description = "To the canonical path (PyPI names)"),
        (status = 304, description = "Not modified"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 405, body = ErrorBody), (status = 410, body = ErrorBody), (status = 416, description = "Range not satisfiable"),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn remote(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse<RecordedBody> {
    let mut tap = state.observe.tap(&req);
    let result = serve_remote(&req, &state, &mut tap).await;
    tap.respond(result)
}

async fn serve_remote(req: &HttpRequest, state: &AppState, tap: &mut Tap) -> Result<HttpResponse, ApiError> {
    const PREFIX: &str = "/api/v1/remote/";
    let (name, tail) = split(req.uri().path(), PREFIX)
        .ok_or_else(|| ApiError::BadRequest("expected /api/v1/remote/{name}/{path}".into()))?;
    tap.target(name, tail);
    let entry = state.registry.get(name).ok_or_else(|| ApiError::not_found("remote", name))?;
    tap.known(state.observe.repo(name, entry.remote.spec.package_type));
    require_repo_read(req, state, name)?;
    let accept = accept_values(req);
    let outcome = state.serve.remote(&entry, &request(req, name, tail, &accept)).await?;
    respond::outcome(req, state.store.as_ref(), outcome, &format!("{PREFIX}{name}/")).await
}

#[utoipa::path(get, path = "/api/v1/virtual/{name}/{path}", tag = "proxy",
    params(("name" = String, Path), ("path" = String, Path)),
    responses((status = 200, description = "The file, from the first member that has it; \
        `X-Artifactapi-Unavailable` names members skipped for being down", body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 405, body = ErrorBody),
        (status = 502, description = "No member had the file and at least one was down", body = ErrorBody)))]
pub async fn virtual_repo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse<RecordedBody> {
    let mut tap = state.observe.tap(&req);
    let mut unavailable = Vec::new();
    let mut resp = serve_virtual(&req, &state, &mut tap, &mut unavailable)
        .await
        .unwrap_or_else(|e| actix_web::ResponseError::error_response(&e));
    if let (false, Ok(v)) = (unavailable.is_empty(), HeaderValue::from_str(&unavailable.join(","))) {
        resp.headers_mut().insert(HeaderName::from_static(UNAVAILABLE_HEADER), v);
    }
    tap.send(resp)
}

async fn serve_virtual(
    req: &HttpRequest,
    state: &AppState,
    tap: &mut Tap,
    unavailable: &mut Vec<String>,
) -> Result<HttpResponse, ApiError> {
    const PREFIX: &str = "/api/v1/virtual/";
    let (name, tail) = split(req.uri().path(), PREFIX)
        .ok_or_else(|| ApiError::BadRequest("expected /api/v1/virtual/{name}/{path}".into()))?;
    tap.target(name, tail);
    let spec = state.registry.get_virtual(name).ok_or_else(|| ApiError::not_found("virtual", name))?;
    tap.known(state.observe.repo(name, spec.package_type));
    require_repo_read(req, state, name)?;
    let accept = accept_values(req);
    let reply = state.serve.virtual_repo(&spec, &request(req, name, tail, &accept)).await;
    *unavailable = reply.unavailable;
    respond::outcome(req, state.store.as_ref(), reply.result?, &format!("{PREFIX}{name}/")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_name_and_raw_rest() {
        type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
        let cases: &[Case] = &[
            ("/api/v1/remote/r/a/b.txt", "/api/v1/remote/", Some(("r", "a/b.txt"))),
            ("/api/v1/remote/r/%2e%2e/x", "/api/v1/remote/", Some(("r", "%2e%2e/x"))),
            ("/api/v1/remote/r//x", "/api/v1/remote/", Some(("r", "/x"))),
            ("/api/v1/remote/r", "/api/v1/remote/", None),
            ("/api/v1/virtual/r/x", "/api/v1/remote/", None),
            ("/api/v1/virtual/v/a/b.txt", "/api/v1/virtual/", Some(("v", "a/b.txt"))),
        ];
        for (raw, prefix, want) in cases {
            assert_eq!(split(raw, prefix), *want, "{raw}");
        }
    }
}

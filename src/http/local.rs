//! `/api/v1/local/{name}/{path}`: local repositories of every type but docker (which is served
//! on `/v2`). Reads go through the serving service like remotes' ([`crate::serve`]); writes to
//! the write side of the local's package type ([`crate::locals`]). Reads need `read` on the
//! local when `ANONYMOUS_READS=false`; writes need `write`. Errors are `{"error": ...}` (npm's
//! error shape too). npm's account endpoints (`-/whoami`, `-/ping`, the login) are about the
//! caller, not a package: they are answered before any scope is checked
//! ([`crate::locals::npm::account`]).

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::auth::authorization;
use super::error::ApiError;
use super::openapi::ErrorBody;
use super::proxy::{accept_values, request, require_repo_read};
use super::respond;
use crate::auth::{AuthError, Principal, Scope};
use crate::formats::PackageType;
use crate::locals::{self, generic, npm, LocalError, LocalSpec, WriteReply, WriteRequest};
use crate::observe::body::RecordedBody;
use crate::observe::Tap;
use crate::state::AppState;

const PREFIX: &str = "/api/v1/local/";

impl From<LocalError> for ApiError {
    fn from(e: LocalError) -> Self {
        let message = e.to_string();
        match e {
            LocalError::Invalid(_) | LocalError::DigestMismatch { .. } | LocalError::Body(_) => {
                ApiError::BadRequest(message)
            }
            LocalError::Forbidden(_) => ApiError::Forbidden(message),
            LocalError::Unauthorized(_) => ApiError::AuthRequired(message),
            LocalError::NotFound(_) => ApiError::Missing(message),
            LocalError::NotAllowed(_) => {
                ApiError::MethodNotAllowed { method: message, allow: "GET, HEAD, PUT, DELETE" }
            }
            LocalError::Conflict(_) => ApiError::Conflict(message),
            LocalError::TooLarge { limit } => {
                ApiError::PayloadTooLarge { limit: usize::try_from(limit).unwrap_or(usize::MAX) }
            }
            LocalError::Unavailable(_) => ApiError::Unavailable(message),
            LocalError::Internal(_) => ApiError::Internal(message),
        }
    }
}

/// A write needs `write` on the local: 401 with a basic challenge without a credential.
fn require_write(req: &HttpRequest, state: &AppState, repo: &str) -> Result<Principal, ApiError> {
    state.auth.require(authorization(req), repo, Scope::Write).map_err(|e| match e {
        AuthError::Forbidden { .. } => ApiError::Forbidden(e.to_string()),
        other => ApiError::AuthRequired(other.to_string()),
    })
}

/// The request body as a stream of bytes (no HTTP types below this point).
fn body(payload: web::Payload) -> impl futures_util::Stream<Item = Result<bytes::Bytes, String>> + Unpin {
    payload.map(|chunk| chunk.map_err(|e| e.to_string()))
}

#[utoipa::path(get, path = "/api/v1/local/{name}/{path}", tag = "locals",
    params(("name" = String, Path), ("path" = String, Path)),
    responses((status = 200, description = "The file, a generated index, or (generic locals, a folder path) a listing", body = Vec<u8>),
        (status = 201, description = "Stored (PUT)"), (status = 204, description = "Deleted"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 405, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
pub async fn local(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse<RecordedBody> {
    let mut tap = state.observe.tap(&req);
    let result = serve_local(&req, payload, &state, &mut tap).await;
    tap.respond(result)
}

async fn serve_local(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    tap: &mut Tap,
) -> Result<HttpResponse, ApiError> {
    let (name, tail) = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('/').or(Some((rest, ""))))
        .ok_or_else(|| ApiError::BadRequest("expected /api/v1/local/{name}/{path}".into()))?;
    tap.target(name, tail);
    let spec = state.registry.get_local(name).ok_or_else(|| ApiError::not_found("local", name))?;
    tap.known(state.observe.repo(name, spec.package_type));
    if spec.package_type == PackageType::Docker {
        return Err(ApiError::BadRequest(format!(
            "{name} is a docker repository: push and pull through the registry API, /v2/{name}/{{image}}/..."
        )));
    }
    if spec.package_type == PackageType::Npm {
        if let Some(account) = npm::account::Account::parse(super::proxy::method(req), tail) {
            let reply = npm::account::answer(&state.auth, name, account, authorization(req), Box::pin(body(payload)));
            return Ok(respond_with(reply.await?));
        }
    }
    let method = req.method().clone();
    if method == Method::GET || method == Method::HEAD {
        require_repo_read(req, state, name)?;
        if spec.package_type == PackageType::Generic && (tail.is_empty() || tail.ends_with('/')) {
            let listing = generic::list(&state.local_files(), &state.config.public_base(), &spec, tail).await?;
            return Ok(HttpResponse::Ok().json(listing));
        }
        let accept = accept_values(req);
        let outcome = state.serve.local(&spec, &request(req, name, tail, &accept)).await?;
        return respond::outcome(req, state.store.as_ref(), outcome, &format!("{PREFIX}{name}/")).await;
    }
    let principal = require_write(req, state, name)?;
    write(req, payload, state, &spec, tail, &principal).await
}

/// The write side of the local's package type.
async fn write(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    spec: &LocalSpec,
    tail: &str,
    principal: &Principal,
) -> Result<HttpResponse, ApiError> {
    let public_base = state.config.public_base();
    let headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
        .collect();
    let write = WriteRequest {
        method: super::proxy::method(req),
        path: tail,
        query: req.query_string(),
        headers,
        principal,
        public_base: &public_base,
    };
    let reply = match locals::write(&state.local_files(), spec, &write, Box::pin(body(payload))).await {
        Err(e) if spec.package_type == PackageType::Pypi => return Ok(super::local_pypi::upload_error(e)),
        other => other?,
    };
    Ok(respond_with(reply))
}

fn respond_with(reply: WriteReply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status).insert_header((header::CONTENT_TYPE, reply.content_type)).body(reply.body)
}

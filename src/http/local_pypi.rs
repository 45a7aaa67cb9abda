//! `POST /api/v2/locals/{name}/pypi/yank` and `.../unyank`: yanking a release of a PyPI local
//! (PEP 592). Needs `write` on the local (or `admin`); the body is
//! `{"project", "version", "reason"}`. The work is [`crate::locals::pypi::yank`]'s. Also the
//! form of an upload's error answer (twine reads the reason phrase, as PyPI writes it).

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::auth::{authorization, read_body};
use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::auth::Scope;
use crate::formats::PackageType;
use crate::locals::pypi::yank::{self, YankReply, YankRequest};
use crate::locals::{pypi, LocalError};
use crate::remotes::parse_json;
use crate::state::AppState;

async fn set(
    req: HttpRequest,
    name: &str,
    payload: web::Payload,
    state: &AppState,
    on: bool,
) -> Result<HttpResponse, ApiError> {
    ApiError::check_repo_name("local", name)?;
    state.auth.require(authorization(&req), name, Scope::Write)?;
    let spec = state.registry.get_local(name).ok_or_else(|| ApiError::not_found("local", name))?;
    if spec.package_type != PackageType::Pypi {
        return Err(ApiError::BadRequest(format!("{name} is a {} local; only pypi locals yank", spec.package_type)));
    }
    let body = read_body(&req, payload, state.config.max_json_body).await?;
    let request = parse_json::<YankRequest>(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let reply = yank::set(&state.db, name, &request, on).await?;
    Ok(HttpResponse::Ok().json(reply))
}

#[utoipa::path(post, path = "/api/v2/locals/{name}/pypi/yank", tag = "locals", params(("name" = String, Path)),
    request_body = YankRequest,
    responses((status = 200, body = YankReply), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "No such local, or no file of that version", body = ErrorBody)))]
pub async fn yank(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set(req, &name, payload, &state, true).await
}

#[utoipa::path(post, path = "/api/v2/locals/{name}/pypi/unyank", tag = "locals", params(("name" = String, Path)),
    request_body = YankRequest,
    responses((status = 200, body = YankReply), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unyank(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set(req, &name, payload, &state, false).await
}

/// An upload's refusal as twine shows it: the status, PyPI's reason phrase, the message in the
/// body (`twine --verbose` prints it).
pub fn upload_error(e: LocalError) -> HttpResponse {
    let reason = pypi::reason_phrase(&e);
    let mut resp = ApiError::from(e).error_response();
    if let Some(reason) = reason {
        resp.head_mut().reason = Some(reason);
    }
    resp
}

//! `POST /api/v2/probe`: ask an upstream for a path without caching anything (see
//! [`crate::probe`]). Needs the admin token: it makes this server send requests.

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::admin_json;
use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::probe::{self, ProbeError, ProbeRequest};
use crate::state::AppState;

impl From<ProbeError> for ApiError {
    fn from(e: ProbeError) -> Self {
        match e {
            ProbeError::UnknownRemote(name) => ApiError::not_found("remote", name),
            ProbeError::Invalid(_) | ProbeError::Refused(_) => ApiError::BadRequest(e.to_string()),
        }
    }
}

#[utoipa::path(post, path = "/api/v2/probe", tag = "operations",
    request_body(content = Object, description = "`{\"remote\": name, \"path\": ...}` or `{\"config\": RemoteSpec, \"path\": ...}`"),
    responses((status = 200, description = "What the upstream answered; nothing is cached", body = Object),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn probe(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request: ProbeRequest = admin_json(&req, payload, &state).await?;
    let prepared = probe::prepare(request, &state.registry, state.config.probe_allow_private).await?;
    let report = probe::run(prepared, state.config.upstream_connect_timeout, state.config.upstream_read_timeout).await;
    Ok(HttpResponse::Ok().json(report))
}

//! `/api/v2/remotes`: remote repositories, created, read, replaced and deleted.
//!
//! The catalog is the source of truth; the registry of running actors follows every change at
//! once on this replica and, through a coordinator message, on the others. Reads never return
//! the upstream password. A remote a virtual lists can neither be deleted nor change its
//! package type; the catalog decides that atomically with the write and the 409 names the
//! virtuals.

use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::events::EventKind;

use super::auth::{admin_json, require_admin};
use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::remotes::RemoteSpec;
use crate::state::AppState;

async fn read_spec(req: &HttpRequest, payload: web::Payload, state: &AppState) -> Result<RemoteSpec, ApiError> {
    admin_json(req, payload, state).await
}

#[utoipa::path(get, path = "/api/v2/remotes", tag = "remotes",
    responses((status = 200, description = "Every remote, without passwords", body = [RemoteSpec])))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let specs = state.db.list_remotes().await?;
    let specs: Vec<RemoteSpec> = specs.iter().map(RemoteSpec::redacted).collect();
    Ok(HttpResponse::Ok().json(specs))
}

#[utoipa::path(get, path = "/api/v2/remotes/{name}", tag = "remotes", params(("name" = String, Path)),
    responses((status = 200, body = RemoteSpec), (status = 404, body = ErrorBody)))]
pub async fn get(name: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    ApiError::check_repo_name("remote", &name)?;
    let spec = state.db.get_remote(&name).await?.ok_or_else(|| ApiError::not_found("remote", name.as_str()))?;
    Ok(HttpResponse::Ok().json(spec.redacted()))
}

#[utoipa::path(post, path = "/api/v2/remotes", tag = "remotes", request_body = RemoteSpec,
    responses((status = 201, body = RemoteSpec), (status = 400, description = "Invalid field, named", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let spec = read_spec(&req, payload, &state).await?;
    let remote = spec.clone().validate().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state.db.insert_remote(&spec).await?;
    state.registry.upsert(remote);
    state.config_changed(&spec.name, EventKind::ConfigCreated).await;
    Ok(HttpResponse::Created().json(spec.redacted()))
}

#[utoipa::path(put, path = "/api/v2/remotes/{name}", tag = "remotes", params(("name" = String, Path)),
    request_body = RemoteSpec,
    responses((status = 200, body = RemoteSpec), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A virtual lists the remote and the package type changes", body = ErrorBody)))]
pub async fn replace(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    ApiError::check_repo_name("remote", &name)?;
    let spec = read_spec(&req, payload, &state).await?;
    ApiError::check_body_name(&spec.name, &name)?;
    let remote = spec.clone().validate().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state
        .db
        .update_remote(&name, &spec)
        .await
        .map_err(|e| ApiError::membership(e, "remote", &name, "its package type cannot change"))?;
    state.registry.upsert(remote);
    state.config_changed(&spec.name, EventKind::ConfigUpdated).await;
    Ok(HttpResponse::Ok().json(spec.redacted()))
}

#[utoipa::path(delete, path = "/api/v2/remotes/{name}", tag = "remotes", params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody),
        (status = 409, description = "A virtual lists the remote", body = ErrorBody)))]
pub async fn delete(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    ApiError::check_repo_name("remote", &name)?;
    require_admin(&req, &state)?;
    let deleted = state
        .db
        .delete_remote(&name)
        .await
        .map_err(|e| ApiError::membership(e, "remote", &name, "remove it there first"))?;
    if !deleted {
        return Err(ApiError::not_found("remote", name.as_str()));
    }
    state.registry.remove(&name);
    state.config_changed(&name, EventKind::ConfigDeleted).await;
    Ok(HttpResponse::NoContent().finish())
}

//! `/api/v2/locals`: local repositories, created, read, replaced and deleted.
//!
//! Like remotes and virtuals: the catalog is the source of truth, the registry follows every
//! change at once on this replica and, through a coordinator message, on the others. A local a
//! virtual lists can neither be deleted nor change its package type (the virtual would then
//! list a repository of another type); the catalog decides that atomically with the write and
//! the answer names the virtual.

use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::events::EventKind;

use super::auth::{admin_json, require_admin};
use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::db::{DbError, MembershipError};
use crate::locals::LocalSpec;
use crate::state::AppState;

async fn read_spec(req: &HttpRequest, payload: web::Payload, state: &AppState) -> Result<LocalSpec, ApiError> {
    let spec: LocalSpec = admin_json(req, payload, state).await?;
    spec.validate().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(spec)
}

#[utoipa::path(get, path = "/api/v2/locals", tag = "locals",
    responses((status = 200, description = "Every local", body = [LocalSpec])))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.db.list_locals().await?))
}

#[utoipa::path(get, path = "/api/v2/locals/{name}", tag = "locals", params(("name" = String, Path)),
    responses((status = 200, body = LocalSpec), (status = 404, body = ErrorBody)))]
pub async fn get(name: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    ApiError::check_repo_name("local", &name)?;
    let spec = state.db.get_local(&name).await?.ok_or_else(|| ApiError::not_found("local", name.as_str()))?;
    Ok(HttpResponse::Ok().json(spec))
}

#[utoipa::path(post, path = "/api/v2/locals", tag = "locals", request_body = LocalSpec,
    responses((status = 201, body = LocalSpec), (status = 400, description = "Invalid field, named", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, body = ErrorBody)))]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let spec = read_spec(&req, payload, &state).await?;
    state.db.insert_local(&spec).await?;
    state.registry.upsert_local(spec.clone());
    state.config_changed(&spec.name, EventKind::ConfigCreated).await;
    Ok(HttpResponse::Created().json(spec))
}

#[utoipa::path(put, path = "/api/v2/locals/{name}", tag = "locals", params(("name" = String, Path)),
    request_body = LocalSpec,
    responses((status = 200, body = LocalSpec), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A virtual lists the local and the package type changes", body = ErrorBody),
        (status = 413, body = ErrorBody)))]
pub async fn replace(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let spec = read_spec(&req, payload, &state).await?;
    ApiError::check_repo_name("local", &name)?;
    ApiError::check_body_name(&spec.name, &name)?;
    state.db.update_local(&name, &spec).await.map_err(|e| match e {
        MembershipError::Db(DbError::NotFound(_)) => ApiError::not_found("local", name.as_str()),
        e => ApiError::membership(e, "local", &name, "its package type cannot change"),
    })?;
    state.registry.upsert_local(spec.clone());
    state.config_changed(&spec.name, EventKind::ConfigUpdated).await;
    Ok(HttpResponse::Ok().json(spec))
}

#[utoipa::path(delete, path = "/api/v2/locals/{name}", tag = "locals", params(("name" = String, Path)),
    responses((status = 204, description = "Deleted, with its files (their blobs go at GC)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A virtual lists the local", body = ErrorBody)))]
pub async fn delete(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    ApiError::check_repo_name("local", &name)?;
    let deleted = state
        .db
        .delete_local(&name)
        .await
        .map_err(|e| ApiError::membership(e, "local", &name, "remove it there first"))?;
    if !deleted {
        return Err(ApiError::not_found("local", name.as_str()));
    }
    state.registry.remove_local(&name);
    state.config_changed(&name, EventKind::ConfigDeleted).await;
    Ok(HttpResponse::NoContent().finish())
}

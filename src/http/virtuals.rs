//! `/api/v2/virtuals`: virtual repositories, created, read, replaced and deleted.
//!
//! Like remotes: the catalog is the source of truth, the registry follows every change at once
//! on this replica and, through a coordinator message, on the others, so a new member order
//! applies to the next request everywhere. The catalog checks the members in the same
//! transaction as it writes the virtual, so a member cannot vanish or change type in between.

use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::events::EventKind;

use super::auth::{admin_json, require_admin};
use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::db::MembershipError;
use crate::state::AppState;
use crate::virtuals::VirtualSpec;

/// Reads, parses and checks a spec on its own (the catalog checks the members as it writes).
async fn read_spec(req: &HttpRequest, payload: web::Payload, state: &AppState) -> Result<VirtualSpec, ApiError> {
    let spec: VirtualSpec = admin_json(req, payload, state).await?;
    spec.validate().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(spec)
}

/// A refused write of virtual `name`: a bad member is `400` naming it.
fn refused(name: &str) -> impl FnOnce(MembershipError) -> ApiError + '_ {
    move |e| ApiError::membership(e, "virtual", name, "")
}

#[utoipa::path(get, path = "/api/v2/virtuals", tag = "virtuals",
    responses((status = 200, description = "Every virtual", body = [VirtualSpec])))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.db.list_virtuals().await?))
}

#[utoipa::path(get, path = "/api/v2/virtuals/{name}", tag = "virtuals", params(("name" = String, Path)),
    responses((status = 200, body = VirtualSpec), (status = 404, body = ErrorBody)))]
pub async fn get(name: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    ApiError::check_repo_name("virtual", &name)?;
    let spec = state.db.get_virtual(&name).await?.ok_or_else(|| ApiError::not_found("virtual", name.as_str()))?;
    Ok(HttpResponse::Ok().json(spec))
}

#[utoipa::path(post, path = "/api/v2/virtuals", tag = "virtuals", request_body = VirtualSpec,
    responses((status = 201, body = VirtualSpec),
        (status = 400, description = "Invalid field or member, named", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let spec = read_spec(&req, payload, &state).await?;
    state.db.insert_virtual(&spec).await.map_err(refused(&spec.name))?;
    state.registry.upsert_virtual(spec.clone());
    state.config_changed(&spec.name, EventKind::ConfigCreated).await;
    Ok(HttpResponse::Created().json(spec))
}

#[utoipa::path(put, path = "/api/v2/virtuals/{name}", tag = "virtuals", params(("name" = String, Path)),
    request_body = VirtualSpec,
    responses((status = 200, body = VirtualSpec), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn replace(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    ApiError::check_repo_name("virtual", &name)?;
    let spec = read_spec(&req, payload, &state).await?;
    ApiError::check_body_name(&spec.name, &name)?;
    state.db.update_virtual(&name, &spec).await.map_err(refused(&name))?;
    state.registry.upsert_virtual(spec.clone());
    state.config_changed(&spec.name, EventKind::ConfigUpdated).await;
    Ok(HttpResponse::Ok().json(spec))
}

#[utoipa::path(delete, path = "/api/v2/virtuals/{name}", tag = "virtuals", params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    ApiError::check_repo_name("virtual", &name)?;
    require_admin(&req, &state)?;
    if !state.db.delete_virtual(&name).await? {
        return Err(ApiError::not_found("virtual", name.as_str()));
    }
    state.registry.remove_virtual(&name);
    state.config_changed(&name, EventKind::ConfigDeleted).await;
    Ok(HttpResponse::NoContent().finish())
}

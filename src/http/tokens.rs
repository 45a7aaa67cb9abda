//! `/api/v2/tokens`: scoped tokens, created (the secret shown once), listed without secrets,
//! and revoked. Every operation needs `admin` on `*`. A change is announced to every replica,
//! which reloads its tokens at once.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::auth::{admin_json, require_admin};
use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::auth::{tokens, NewToken, TokenInfo};
use crate::state::AppState;

/// A created token: its details and, this once, its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The secret: send it as `Authorization: Bearer <token>` (or as the password of basic
    /// auth). It is not shown again.
    pub token: String,
}

#[utoipa::path(post, path = "/api/v2/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, description = "The token, with its secret (shown once)", body = CreatedToken),
        (status = 400, description = "Invalid field, named", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let new: NewToken = admin_json(&req, payload, &state).await?;
    let now = chrono::Utc::now();
    new.validate(now).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let secret = tokens::secret();
    let info = TokenInfo {
        id: uuid::Uuid::new_v4(),
        name: new.name,
        scopes: new.scopes,
        expires_at: new.expires_at,
        created_at: now,
    };
    state.db.insert_token(&info, &tokens::hash(&secret)).await?;
    state.tokens_changed().await;
    Ok(HttpResponse::Created().json(CreatedToken { info, token: secret }))
}

#[utoipa::path(get, path = "/api/v2/tokens", tag = "tokens",
    responses((status = 200, description = "Every token, without secrets", body = [TokenInfo]),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    Ok(HttpResponse::Ok().json(state.db.list_tokens().await?))
}

#[utoipa::path(delete, path = "/api/v2/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204, description = "Revoked on every replica"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let parsed = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("token", id.as_str()))?;
    if !state.db.delete_token(&parsed).await? {
        return Err(ApiError::not_found("token", id.as_str()));
    }
    state.tokens_changed().await;
    Ok(HttpResponse::NoContent().finish())
}

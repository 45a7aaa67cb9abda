//! Authorisation and request bodies of the management API.
//!
//! Writes of the management API need `admin` on every repository (`*`): `ADMIN_TOKEN`, or a
//! scoped token with that grant ([`crate::auth`]); without `ADMIN_TOKEN` the server is open.
//! With `ADMIN_TOKEN_READS=true` reads need it too ([`require_read`]): [`guard_reads`] applies
//! that to every GET and HEAD of the `/api/v2` scope except the liveness probe, so a route added
//! there is covered without doing anything; routes outside the scope (`/metrics`) call
//! [`require_read`] themselves. Bodies are read with a hard size limit so an oversize body
//! costs at most the limit and is answered with 413.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use super::error::ApiError;
use crate::auth::{AuthError, Principal, Scope};
use crate::state::AppState;

/// The one management read that never needs the token: load balancers call it.
pub const LIVENESS_PATH: &str = "/api/v2/health/live";

/// The `Authorization` header of a request, if it is text.
pub fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing(_) | AuthError::Invalid => ApiError::Unauthorized,
            AuthError::Forbidden { .. } => ApiError::Forbidden(e.to_string()),
        }
    }
}

/// Checks that the request may administer: `admin` on `*`.
pub fn require_admin(req: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    Ok(state.auth.require(authorization(req), "*", Scope::Admin)?)
}

/// Checks the admin credential on a read of the management API when `ADMIN_TOKEN_READS=true`.
pub fn require_read(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if state.config.admin_token_reads {
        require_admin(req, state)?;
    }
    Ok(())
}

/// Middleware of the `/api/v2` scope: GET and HEAD requests pass [`require_read`] first, except
/// [`LIVENESS_PATH`].
pub async fn guard_reads(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    if read && req.path() != LIVENESS_PATH {
        if let Some(state) = req.app_data::<web::Data<AppState>>() {
            require_read(req.request(), state)?;
        }
    }
    next.call(req).await
}

/// Whether two secrets are equal, in a time that does not depend on where they differ
/// (`subtle`); only their lengths are compared in the ordinary way.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

/// The JSON body of an admin request: the caller is checked for `admin` first, then the body
/// (at most `MAX_JSON_BODY` bytes) is parsed into `T`; a bad body is a 400 naming the field.
pub async fn admin_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<T, ApiError> {
    require_admin(req, state)?;
    let body = read_body(req, payload, state.config.max_json_body).await?;
    crate::remotes::parse_json::<T>(&body).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Reads a request body of at most `limit` bytes.
pub async fn read_body(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let announced =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn refusals_are_401_or_403() {
        assert!(matches!(ApiError::from(AuthError::Invalid), ApiError::Unauthorized));
        assert!(matches!(ApiError::from(AuthError::Missing("x".into())), ApiError::Unauthorized));
        let forbidden = AuthError::Forbidden { who: "ci".into(), repo: "*".into(), need: Scope::Admin };
        assert!(matches!(ApiError::from(forbidden), ApiError::Forbidden(m) if m.contains("admin scope")));
    }
}

//! Authorisation and request bodies of the management API.
//!
//! With `ADMIN_TOKEN` set, every write needs `Authorization: Bearer TOKEN`; the comparison does
//! not stop at the first differing byte. With `ADMIN_TOKEN_READS=true` reads need it too
//! ([`require_read`]): [`guard_reads`] applies that to every GET and HEAD of the `/api/v2`
//! scope except the liveness probe, so a route added there is covered without doing anything;
//! routes outside the scope (`/metrics`) call [`require_read`] themselves. Bodies are read with
//! a hard size limit so an oversize body costs at most the limit and is answered with 413.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use super::error::ApiError;
use crate::state::AppState;

/// The one management read that never needs the token: load balancers call it.
pub const LIVENESS_PATH: &str = "/api/v2/health/live";

/// Checks the admin token when one is configured.
pub fn require_admin(req: &HttpRequest, token: Option<&str>) -> Result<(), ApiError> {
    let Some(token) = token else { return Ok(()) };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// Checks the admin token on a read of the management API when `ADMIN_TOKEN_READS=true`.
pub fn require_read(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if state.config.admin_token_reads {
        require_admin(req, state.config.admin_token.as_deref())
    } else {
        Ok(())
    }
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
    use actix_web::test::TestRequest;

    #[test]
    fn admin_token_is_checked_only_when_set() {
        let none = TestRequest::default().to_http_request();
        let good = TestRequest::default().insert_header(("Authorization", "Bearer s3cret")).to_http_request();
        let bad = TestRequest::default().insert_header(("Authorization", "Bearer s3cres")).to_http_request();
        let basic = TestRequest::default().insert_header(("Authorization", "Basic czNjcmV0")).to_http_request();
        assert!(require_admin(&none, None).is_ok());
        assert!(require_admin(&good, Some("s3cret")).is_ok());
        for req in [&none, &bad, &basic] {
            assert!(matches!(require_admin(req, Some("s3cret")), Err(ApiError::Unauthorized)));
        }
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}

//! Errors of the HTTP layer and how they look on the wire.
//!
//! Every handler returns `Result<_, ApiError>`; the variant decides the status code and the
//! message is the body, as `{"error": "..."}`, the management API's and the generic proxy's
//! format. Package formats with an error format of their own map their errors separately.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use artifactapi_actors::remote::{FetchError, UpstreamError};

use crate::serve::ServeError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{kind} {name:?} not found")]
    NotFound { kind: &'static str, name: String },
    #[error("{0}")]
    Missing(String),
    /// The upstream said 410 Gone.
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("method {method} not allowed here (allowed: {allow})")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A repository read or write without a credential: 401 with a basic challenge (what pip,
    /// npm, helm, twine and curl answer), the message saying what is needed.
    #[error("{0}")]
    AuthRequired(String),
    #[error("this operation needs a credential: `Authorization: Bearer <token>` (ADMIN_TOKEN or a scoped token)")]
    Unauthorized,
    #[error("{0}")]
    Unavailable(String),
    #[error("{message}")]
    RetryLater { message: String, retry_after: Duration },
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    GatewayTimeout(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        ApiError::NotFound { kind, name: name.into() }
    }

    /// 400 when a body's `name` differs from the URL's: repositories are not renamed by PUT.
    pub fn check_body_name(body: &str, url: &str) -> Result<(), ApiError> {
        if body == url {
            Ok(())
        } else {
            Err(ApiError::BadRequest(format!("name: {body:?} does not match the URL's {url:?}")))
        }
    }

    /// 404 for a repository name from a URL that no repository can have (a NUL byte, `..`),
    /// answered before the catalog is asked: PostgreSQL refuses some of those bytes outright.
    pub fn check_repo_name(kind: &'static str, name: &str) -> Result<(), ApiError> {
        crate::remotes::validate_name(name).map_err(|_| ApiError::not_found(kind, name))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized | ApiError::AuthRequired(_) => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable(_) | ApiError::RetryLater { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            ApiError::MethodNotAllowed { allow, .. } => {
                resp.insert_header((header::ALLOW, *allow));
            }
            ApiError::Unauthorized => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"artifactapi\""));
            }
            ApiError::AuthRequired(_) => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"artifactapi\""));
            }
            ApiError::RetryLater { retry_after, .. } => {
                resp.insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1).to_string()));
            }
            _ => {}
        }
        resp.json(serde_json::json!({ "error": self.to_string() }))
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        use crate::db::DbError;
        match e {
            DbError::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            DbError::Conflict(m) => ApiError::Conflict(m),
            DbError::NotFound(m) => ApiError::Missing(m),
            DbError::Query(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// The serving service's errors in the management API's (and npm's) `{"error": ...}` form.
impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> Self {
        if let Some(retry_after) = e.retry_after() {
            return ApiError::RetryLater { message: e.to_string(), retry_after };
        }
        if let ServeError::MethodNotAllowed { method, allow, .. } = &e {
            return ApiError::MethodNotAllowed { method: method.to_string(), allow };
        }
        let message = e.to_string();
        match e.status() {
            400 => ApiError::BadRequest(message),
            403 => ApiError::Forbidden(message),
            404 => ApiError::Missing(message),
            405 => ApiError::MethodNotAllowed { method: message, allow: "GET, HEAD" },
            410 => ApiError::Gone(message),
            502 => ApiError::BadGateway(message),
            503 => ApiError::Unavailable(message),
            504 => ApiError::GatewayTimeout(message),
            _ => ApiError::Internal(message),
        }
    }
}

impl ApiError {
    /// The answer to a write refused for virtual membership: `400` naming the member, `409`
    /// naming the virtuals that list `kind` `name` and saying what to do (`then`), or the
    /// catalog's own error.
    pub fn membership(e: crate::db::MembershipError, kind: &str, name: &str, then: &str) -> ApiError {
        use crate::db::membership::{quoted, MembershipError};
        match e {
            MembershipError::Member(field) => ApiError::BadRequest(field.to_string()),
            MembershipError::Listed(virtuals) => {
                ApiError::Conflict(format!("{kind} {name:?} is a member of virtual {}; {then}", quoted(&virtuals)))
            }
            MembershipError::Db(e) => e.into(),
        }
    }
}

impl From<FetchError> for ApiError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::BreakerOpen { retry_after } => ApiError::RetryLater { message: e.to_string(), retry_after },
            FetchError::Upstream(UpstreamError::Timeout(_)) => ApiError::GatewayTimeout(e.to_string()),
            FetchError::Upstream(_)
            | FetchError::Body(_)
            | FetchError::DigestMismatch { .. }
            | FetchError::IntegrityMismatch(_)
            | FetchError::InvalidDocument(_) => ApiError::BadGateway(e.to_string()),
            FetchError::CatalogUnavailable(_) => ApiError::Unavailable(e.to_string()),
            FetchError::Catalog(_) | FetchError::Storage(_) => ApiError::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (ApiError, u16, Option<(&'static str, &'static str)>);

    #[test]
    fn statuses_and_headers() {
        let cases: Vec<Case> = vec![
            (ApiError::not_found("remote", "x"), 404, None),
            (ApiError::BadRequest("b".into()), 400, None),
            (
                ApiError::MethodNotAllowed { method: "PUT".into(), allow: "GET, HEAD" },
                405,
                Some(("allow", "GET, HEAD")),
            ),
            (ApiError::Unauthorized, 401, Some(("www-authenticate", "Bearer realm=\"artifactapi\""))),
            (
                ApiError::from(FetchError::BreakerOpen { retry_after: Duration::from_millis(2500) }),
                503,
                Some(("retry-after", "2")),
            ),
            (ApiError::from(FetchError::Upstream(UpstreamError::Timeout(Duration::from_secs(1)))), 504, None),
            (ApiError::from(FetchError::Body("reset".into())), 502, None),
            (ApiError::from(FetchError::CatalogUnavailable("down".into())), 503, None),
        ];
        for (err, status, header) in cases {
            let resp = err.error_response();
            assert_eq!(resp.status().as_u16(), status, "{err}");
            if let Some((name, value)) = header {
                assert_eq!(resp.headers().get(name).and_then(|v| v.to_str().ok()), Some(value), "{err}");
            }
        }
        assert_eq!(ApiError::not_found("remote", "x").to_string(), "remote \"x\" not found");
    }
}

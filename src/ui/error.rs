//! The dashboard's one error type, answered as an HTML page with the right status (a missing
//! login is a redirect to the login form instead).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use maud::html;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No (valid) login where one is needed: the login form, then back to `return_to`.
    #[error("login needed")]
    Login { return_to: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<DbError> for UiError {
    fn from(e: DbError) -> Self {
        UiError::Unavailable(format!("catalog: {e}"))
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::Login { .. } => StatusCode::SEE_OTHER,
            UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            UiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let UiError::Login { return_to } = self {
            let to = format!("/ui/login?next={}", super::fmt::query_value(return_to));
            return HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish();
        }
        let status = self.status_code();
        let body = html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
            p.error role="alert" { (self.to_string()) }
            p { a href="/ui/" { "Back to the overview" } }
        };
        super::layout::bare(status, "Error", body)
    }
}

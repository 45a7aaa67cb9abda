//! Errors of the `/v2` surface, in the registry's own format.
//!
//! Registry clients read `{"errors":[{"code","message","detail"}]}` and act on the code, so
//! every `/v2` answer that is not a success is an [`OciError`]: one of the distribution spec's
//! codes ([`OciCode`]), the HTTP status (the code's usual one unless set), a message for humans,
//! an optional `detail` and extra headers (`Allow`, `Retry-After`, `WWW-Authenticate`, `Range`).
//! Errors of the layers below ([`ApiError`], [`FetchError`], endpoint parse errors) convert into
//! it, so handlers can use `?` throughout.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use artifactapi_actors::remote::FetchError;

use crate::formats::docker::EndpointError;
use crate::http::error::ApiError;

/// The header every `/v2` answer carries.
pub const API_VERSION_HEADER: &str = "docker-distribution-api-version";
pub const API_VERSION: &str = "registry/2.0";

/// The error codes of the distribution spec (plus `UNKNOWN`, `TOOMANYREQUESTS` and
/// `UNAVAILABLE` for failures the spec leaves open, as the CNCF registry does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OciCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    PaginationNumberInvalid,
    SizeInvalid,
    TagInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    Unavailable,
    Unknown,
}

/// Each code with its wire name.
const CODES: [(OciCode, &str); 18] = [
    (OciCode::BlobUnknown, "BLOB_UNKNOWN"),
    (OciCode::BlobUploadInvalid, "BLOB_UPLOAD_INVALID"),
    (OciCode::BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN"),
    (OciCode::DigestInvalid, "DIGEST_INVALID"),
    (OciCode::ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN"),
    (OciCode::ManifestInvalid, "MANIFEST_INVALID"),
    (OciCode::ManifestUnknown, "MANIFEST_UNKNOWN"),
    (OciCode::NameInvalid, "NAME_INVALID"),
    (OciCode::NameUnknown, "NAME_UNKNOWN"),
    (OciCode::PaginationNumberInvalid, "PAGINATION_NUMBER_INVALID"),
    (OciCode::SizeInvalid, "SIZE_INVALID"),
    (OciCode::TagInvalid, "TAG_INVALID"),
    (OciCode::Unauthorized, "UNAUTHORIZED"),
    (OciCode::Denied, "DENIED"),
    (OciCode::Unsupported, "UNSUPPORTED"),
    (OciCode::TooManyRequests, "TOOMANYREQUESTS"),
    (OciCode::Unavailable, "UNAVAILABLE"),
    (OciCode::Unknown, "UNKNOWN"),
];

impl OciCode {
    /// The wire name (`MANIFEST_UNKNOWN`).
    pub fn as_str(&self) -> &'static str {
        CODES.iter().find(|(c, _)| c == self).map_or("UNKNOWN", |(_, name)| *name)
    }

    /// The code of its wire name.
    pub fn parse(code: &str) -> Option<OciCode> {
        CODES.iter().find(|(_, name)| *name == code).map(|(c, _)| *c)
    }

    /// The status the code usually comes with.
    pub fn status(&self) -> StatusCode {
        match self {
            OciCode::BlobUnknown | OciCode::BlobUploadUnknown | OciCode::ManifestUnknown | OciCode::NameUnknown => {
                StatusCode::NOT_FOUND
            }
            OciCode::BlobUploadInvalid
            | OciCode::DigestInvalid
            | OciCode::ManifestBlobUnknown
            | OciCode::ManifestInvalid
            | OciCode::NameInvalid
            | OciCode::PaginationNumberInvalid
            | OciCode::SizeInvalid
            | OciCode::TagInvalid => StatusCode::BAD_REQUEST,
            OciCode::Unauthorized => StatusCode::UNAUTHORIZED,
            OciCode::Denied => StatusCode::FORBIDDEN,
            OciCode::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            OciCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            OciCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            OciCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for OciCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `/v2` error answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct OciError {
    pub code: OciCode,
    pub status: StatusCode,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl OciError {
    /// An error with the code's usual status.
    pub fn new(code: OciCode, message: impl Into<String>) -> OciError {
        OciError { code, status: code.status(), message: message.into(), detail: None, headers: Vec::new() }
    }

    pub fn with_status(mut self, status: StatusCode) -> OciError {
        self.status = status;
        self
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> OciError {
        self.detail = Some(detail);
        self
    }

    /// Adds a response header; a value that is no valid header value is left out.
    pub fn with_header(mut self, name: HeaderName, value: &str) -> OciError {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// 405 `UNSUPPORTED` with `Allow`.
    pub fn method_not_allowed(method: &str, allow: &'static str, what: &str) -> OciError {
        OciError::new(OciCode::Unsupported, format!("{method} is not supported on {what} (allowed: {allow})"))
            .with_header(header::ALLOW, allow)
    }

    /// 404 `NAME_UNKNOWN` for a repository or image that does not exist.
    pub fn name_unknown(message: impl Into<String>) -> OciError {
        OciError::new(OciCode::NameUnknown, message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut e = serde_json::json!({ "code": self.code.as_str(), "message": self.message });
        e["detail"] = self.detail.clone().unwrap_or(serde_json::Value::Null);
        serde_json::json!({ "errors": [e] })
    }
}

impl ResponseError for OciError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((API_VERSION_HEADER, API_VERSION));
        for (name, value) in &self.headers {
            resp.insert_header((name.clone(), value.clone()));
        }
        resp.json(self.body())
    }
}

impl From<EndpointError> for OciError {
    fn from(e: EndpointError) -> Self {
        match e {
            EndpointError::NameInvalid(m) => OciError::new(OciCode::NameInvalid, m),
            EndpointError::TagInvalid(m) => OciError::new(OciCode::TagInvalid, m),
            EndpointError::DigestInvalid(m) => OciError::new(OciCode::DigestInvalid, m),
            EndpointError::UploadUnknown(m) => OciError::new(OciCode::BlobUploadUnknown, m),
            EndpointError::NoRoute(m) => OciError::new(OciCode::Unsupported, m).with_status(StatusCode::NOT_FOUND),
            EndpointError::PaginationInvalid(m) => OciError::new(OciCode::PaginationNumberInvalid, m),
            EndpointError::QueryInvalid(m) => {
                OciError::new(OciCode::Unsupported, m).with_status(StatusCode::BAD_REQUEST)
            }
        }
    }
}

impl From<ApiError> for OciError {
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        let status = e.status_code();
        let code = match &e {
            ApiError::NotFound { .. } | ApiError::Missing(_) | ApiError::Gone(_) => OciCode::NameUnknown,
            ApiError::Forbidden(_) => OciCode::Denied,
            ApiError::Unauthorized | ApiError::AuthRequired(_) => OciCode::Unauthorized,
            ApiError::MethodNotAllowed { .. } => OciCode::Unsupported,
            ApiError::PayloadTooLarge { .. } => OciCode::SizeInvalid,
            ApiError::Unavailable(_) | ApiError::RetryLater { .. } => OciCode::Unavailable,
            ApiError::BadRequest(_)
            | ApiError::Conflict(_)
            | ApiError::BadGateway(_)
            | ApiError::GatewayTimeout(_)
            | ApiError::Internal(_) => OciCode::Unknown,
        };
        let mut oci = OciError::new(code, message).with_status(status);
        match e {
            ApiError::MethodNotAllowed { allow, .. } => oci = oci.with_header(header::ALLOW, allow),
            ApiError::RetryLater { retry_after, .. } => {
                oci = oci.with_header(header::RETRY_AFTER, &retry_after.as_secs().max(1).to_string())
            }
            _ => {}
        }
        oci
    }
}

impl From<FetchError> for OciError {
    fn from(e: FetchError) -> Self {
        OciError::from(ApiError::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_the_spec_body_and_headers() {
        let e = OciError::new(OciCode::Denied, "tag \"latest\" is banned")
            .with_detail(serde_json::json!({"tag": "latest"}));
        let resp = e.error_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers().get(API_VERSION_HEADER).unwrap(), API_VERSION);
        assert_eq!(
            e.body(),
            serde_json::json!({"errors": [{"code": "DENIED", "message": "tag \"latest\" is banned", "detail": {"tag": "latest"}}]})
        );
        let plain = OciError::new(OciCode::NameUnknown, "x");
        assert_eq!(plain.body()["errors"][0]["detail"], serde_json::Value::Null);
    }

    type Case = (OciError, &'static str, u16, Option<(&'static str, &'static str)>);

    #[test]
    fn lower_layers_map_to_codes_and_statuses() {
        let cases: Vec<Case> = vec![
            (EndpointError::NameInvalid("n".into()).into(), "NAME_INVALID", 400, None),
            (EndpointError::TagInvalid("t".into()).into(), "TAG_INVALID", 400, None),
            (EndpointError::DigestInvalid("d".into()).into(), "DIGEST_INVALID", 400, None),
            (EndpointError::UploadUnknown("u".into()).into(), "BLOB_UPLOAD_UNKNOWN", 404, None),
            (EndpointError::NoRoute("r".into()).into(), "UNSUPPORTED", 404, None),
            (ApiError::not_found("repository", "x").into(), "NAME_UNKNOWN", 404, None),
            (ApiError::Forbidden("f".into()).into(), "DENIED", 403, None),
            (
                ApiError::MethodNotAllowed { method: "PUT".into(), allow: "GET, HEAD" }.into(),
                "UNSUPPORTED",
                405,
                Some(("allow", "GET, HEAD")),
            ),
            (
                FetchError::BreakerOpen { retry_after: Duration::from_secs(3) }.into(),
                "UNAVAILABLE",
                503,
                Some(("retry-after", "3")),
            ),
            (FetchError::Body("reset".into()).into(), "UNKNOWN", 502, None),
            (
                OciError::method_not_allowed("PUT", "GET, HEAD", "a remote"),
                "UNSUPPORTED",
                405,
                Some(("allow", "GET, HEAD")),
            ),
        ];
        for (e, code, status, header) in cases {
            let resp = e.error_response();
            assert_eq!(e.code.as_str(), code, "{e}");
            assert_eq!(resp.status().as_u16(), status, "{e}");
            if let Some((name, value)) = header {
                assert_eq!(resp.headers().get(name).and_then(|v| v.to_str().ok()), Some(value), "{e}");
            }
        }
    }
}

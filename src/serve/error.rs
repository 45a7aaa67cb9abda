//! Why the service did not serve a request, as a typed error each protocol renders its own way
//! at the HTTP edge (the management API's `{"error": ...}`, npm's `{"error": ...}`, OCI's
//! `{"errors": [...]}`).
//!
//! Virtual repositories judge their members by these variants: [`ServeError::is_absent`] (not
//! here, try the next member) and [`ServeError::is_down`] (unreachable or failing: try the next
//! member, and say so).

use std::time::Duration;

use artifactapi_actors::remote::{FetchError, UpstreamError};

use crate::formats::Method;
use crate::remotes::Denied;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ServeError {
    /// The format refused the request (malformed, or no endpoint of its protocol).
    #[error("{message}")]
    Refused { status: u16, code: &'static str, message: String },
    /// A route that does not serve this kind of repository.
    #[error("{0}")]
    WrongRoute(String),
    #[error("method {method} not allowed on {repo} (allowed: {allow})")]
    MethodNotAllowed { repo: String, method: Method, allow: &'static str },
    /// The repository's `blocklist` or `patterns` refused the subject.
    #[error("{repo}: {subject:?}: {rule}")]
    Denied { repo: String, subject: String, rule: Denied },
    /// Not found upstream (or remembered as not found), or not listed in its index.
    #[error("{0}")]
    NotFound(String),
    /// The upstream said 410 Gone.
    #[error("{0}")]
    Gone(String),
    /// No member of a virtual repository had it; `down` names the members that were skipped
    /// for being unavailable (then the answer is not a plain 404).
    #[error("{message}")]
    NoMember { message: String, down: Vec<String> },
    /// The upstream failed, timed out or is behind an open breaker; or the catalog or storage
    /// failed during the fetch.
    #[error("remote {repo}: {error}")]
    Fetch { repo: String, error: FetchError },
    /// An upstream answer that cannot be served: a broken or oversize document, a failed body.
    #[error("{0}")]
    BadGateway(String),
    /// A dependency of this server (an actor, the store) is unavailable.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ServeError {
    /// Not in this repository: a virtual tries the next member.
    pub fn is_absent(&self) -> bool {
        match self {
            ServeError::NotFound(_) | ServeError::Gone(_) | ServeError::Denied { .. } => true,
            ServeError::NoMember { down, .. } => down.is_empty(),
            ServeError::Refused { status, .. } => *status == 404,
            _ => false,
        }
    }

    /// The repository could not answer: a virtual tries the next member and names this one.
    pub fn is_down(&self) -> bool {
        match self {
            ServeError::Fetch { error, .. } => !matches!(error, FetchError::Catalog(_) | FetchError::Storage(_)),
            ServeError::BadGateway(_) | ServeError::Unavailable(_) => true,
            ServeError::NoMember { down, .. } => !down.is_empty(),
            _ => false,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            ServeError::Refused { status, .. } => *status,
            ServeError::WrongRoute(_) => 400,
            ServeError::MethodNotAllowed { .. } => 405,
            ServeError::Denied { .. } => 403,
            ServeError::NotFound(_) => 404,
            ServeError::Gone(_) => 410,
            ServeError::NoMember { down, .. } if down.is_empty() => 404,
            ServeError::NoMember { .. } | ServeError::BadGateway(_) => 502,
            ServeError::Fetch { error, .. } => match error {
                FetchError::BreakerOpen { .. } | FetchError::CatalogUnavailable(_) => 503,
                FetchError::Upstream(UpstreamError::Timeout(_)) => 504,
                FetchError::Catalog(_) | FetchError::Storage(_) => 500,
                _ => 502,
            },
            ServeError::Unavailable(_) => 503,
            ServeError::Internal(_) => 500,
        }
    }

    /// When to retry, for answers that say so (an open breaker).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ServeError::Fetch { error: FetchError::BreakerOpen { retry_after }, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// A stable code for the error, for formats that show one.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Refused { code, .. } => code,
            ServeError::WrongRoute(_) => "WRONG_ROUTE",
            ServeError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ServeError::Denied { .. } => "DENIED",
            ServeError::NotFound(_) | ServeError::NoMember { .. } => "NOT_FOUND",
            ServeError::Gone(_) => "GONE",
            ServeError::Fetch { .. } | ServeError::BadGateway(_) => "UPSTREAM",
            ServeError::Unavailable(_) => "UNAVAILABLE",
            ServeError::Internal(_) => "INTERNAL",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_judged_absent_or_down() {
        let fetch = |error| ServeError::Fetch { repo: "r".into(), error };
        let denied = ServeError::Denied { repo: "r".into(), subject: "x".into(), rule: Denied::NotAllowed };
        let cases: Vec<(ServeError, bool, bool, u16)> = vec![
            (ServeError::NotFound("x".into()), true, false, 404),
            (ServeError::Gone("x".into()), true, false, 410),
            (denied, true, false, 403),
            (ServeError::Refused { status: 404, code: "NOT_SERVED", message: "x".into() }, true, false, 404),
            (ServeError::Refused { status: 400, code: "PATH_INVALID", message: "x".into() }, false, false, 400),
            (fetch(FetchError::BreakerOpen { retry_after: Duration::from_secs(2) }), false, true, 503),
            (fetch(FetchError::Upstream(UpstreamError::Timeout(Duration::from_secs(1)))), false, true, 504),
            (fetch(FetchError::Body("reset".into())), false, true, 502),
            (fetch(FetchError::InvalidDocument("x".into())), false, true, 502),
            (fetch(FetchError::Storage("disk".into())), false, false, 500),
            (ServeError::BadGateway("x".into()), false, true, 502),
            (ServeError::Unavailable("x".into()), false, true, 503),
            (ServeError::NoMember { message: "x".into(), down: vec![] }, true, false, 404),
            (ServeError::NoMember { message: "x".into(), down: vec!["m".into()] }, false, true, 502),
            (ServeError::Internal("x".into()), false, false, 500),
            (ServeError::WrongRoute("x".into()), false, false, 400),
        ];
        for (e, absent, down, status) in cases {
            assert_eq!((e.is_absent(), e.is_down(), e.status()), (absent, down, status), "{e:?}");
        }
        let open = fetch(FetchError::BreakerOpen { retry_after: Duration::from_millis(2500) });
        assert_eq!(open.retry_after(), Some(Duration::from_millis(2500)));
    }
}

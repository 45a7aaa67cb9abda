//! Who may push to and pull from docker repositories on `/v2`.
//!
//! Registry clients (docker, podman, skopeo, buildah) authenticate the way a registry asks
//! them to: a 401 with `WWW-Authenticate: Basic realm="artifactapi"` makes them send
//! `Authorization: Basic base64(user:password)` on their requests, with any user name and a
//! token (`ADMIN_TOKEN` or a scoped token) as the password (`podman login -u anything -p
//! TOKEN`); `Authorization: Bearer TOKEN` works too ([`crate::auth`]). Pushes need `write` on the
//! repository; pulls need `read` when `ANONYMOUS_READS=false` (or, for locals, with
//! `ADMIN_TOKEN_READS=true`). Without `ADMIN_TOKEN` everything is open.

use actix_web::http::header;
use actix_web::HttpRequest;

use super::super::error::{OciCode, OciError};
use crate::auth::{AuthError, Scope};
use crate::http::auth::authorization;
use crate::state::AppState;

/// The challenge registry clients answer with basic credentials.
pub const CHALLENGE: &str = "Basic realm=\"artifactapi\"";

/// Whether the request carries a credential this server accepts (or needs none): what the
/// version check `/v2/` answers 200 to.
pub fn has_credential(req: &HttpRequest, state: &AppState) -> bool {
    !state.auth.enforcing()
        || matches!(state.auth.principal(authorization(req)), Ok(p) if p != crate::auth::Principal::Anonymous)
}

/// 401 `UNAUTHORIZED` with the basic challenge.
pub fn challenge() -> OciError {
    OciError::new(OciCode::Unauthorized, "authentication required: any user name, a token as password")
        .with_header(header::WWW_AUTHENTICATE, CHALLENGE)
}

fn refusal(e: AuthError) -> OciError {
    match e {
        AuthError::Missing(_) | AuthError::Invalid => challenge(),
        AuthError::Forbidden { .. } => OciError::new(OciCode::Denied, e.to_string()),
    }
}

/// Pushes, deletes and uploads need `write` on the repository.
pub fn require_write(req: &HttpRequest, state: &AppState, repo: &str) -> Result<(), OciError> {
    state.auth.require(authorization(req), repo, Scope::Write).map(drop).map_err(refusal)
}

/// Pulls need `read` when reads are not anonymous; `closed` (a local with
/// `ADMIN_TOKEN_READS=true`) makes them need it whatever `ANONYMOUS_READS` says.
pub fn require_read(req: &HttpRequest, state: &AppState, repo: &str, closed: bool) -> Result<(), OciError> {
    let authz = authorization(req);
    let result = if closed {
        state.auth.require_always(authz, repo, Scope::Read)
    } else {
        state.auth.require(authz, repo, Scope::Read)
    };
    result.map(drop).map_err(refusal)
}

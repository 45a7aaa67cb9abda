//! Who may push to (and, with `ADMIN_TOKEN_READS`, pull from) local docker repositories.
//!
//! Registry clients (docker, podman, skopeo, buildah) authenticate the way a registry asks
//! them to: a 401 with `WWW-Authenticate: Basic realm="artifactapi"` makes them send
//! `Authorization: Basic base64(user:password)` on their requests. artifactapi has one write
//! credential, `ADMIN_TOKEN`, so any user name is accepted with the token as the password
//! (`podman login -u anything -p TOKEN`); `Authorization: Bearer TOKEN`, the management API's
//! form, works too. Without `ADMIN_TOKEN` everything is open; pulls are anonymous unless
//! `ADMIN_TOKEN_READS=true`.

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::Engine as _;

use super::super::error::{OciCode, OciError};
use crate::state::AppState;

/// The challenge registry clients answer with basic credentials.
pub const CHALLENGE: &str = "Basic realm=\"artifactapi\"";

/// Whether `authorization` carries `token` (Basic with any user, or Bearer).
pub fn carries_token(authorization: Option<&str>, token: &str) -> bool {
    let Some(value) = authorization.map(str::trim) else { return false };
    let given = if let Some(b64) = strip_scheme(value, "basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else { return false };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else { return false };
        decoded[colon + 1..].to_vec()
    } else if let Some(t) = strip_scheme(value, "bearer") {
        t.trim().as_bytes().to_vec()
    } else {
        return false;
    };
    crate::http::auth::constant_time_eq(&given, token.as_bytes())
}

/// The rest of `value` after `scheme ` (the scheme compared without regard to case).
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// Whether the request may write: no `ADMIN_TOKEN`, or it carries it.
pub fn has_write_credential(req: &HttpRequest, state: &AppState) -> bool {
    match state.config.admin_token.as_deref() {
        None => true,
        Some(token) => carries_token(req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()), token),
    }
}

/// 401 `UNAUTHORIZED` with the basic challenge.
pub fn challenge() -> OciError {
    OciError::new(OciCode::Unauthorized, "authentication required: any user name, the admin token as password")
        .with_header(header::WWW_AUTHENTICATE, CHALLENGE)
}

/// Pushes, deletes and uploads need the write credential.
pub fn require_write(req: &HttpRequest, state: &AppState) -> Result<(), OciError> {
    if has_write_credential(req, state) {
        Ok(())
    } else {
        Err(challenge())
    }
}

/// Pulls need it only with `ADMIN_TOKEN_READS=true`.
pub fn require_read(req: &HttpRequest, state: &AppState) -> Result<(), OciError> {
    if state.config.admin_token_reads {
        require_write(req, state)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    }

    #[test]
    fn basic_with_any_user_or_bearer() {
        let t = "s3cret";
        let cases: Vec<(Option<String>, bool)> = vec![
            (None, false),
            (Some(basic("x:s3cret")), true),
            (Some(basic("admin:s3cret")), true),
            (Some(basic(":s3cret")), true),
            (Some(basic("x:s3cret:extra")), false),
            (Some(basic("s3cret")), false),
            (Some(basic("x:s3cre")), false),
            (Some(basic("x:")), false),
            (Some(basic(":")), false),
            (Some(format!("basic {}", base64::engine::general_purpose::STANDARD.encode("u:s3cret"))), true),
            (Some("Basic !!!notbase64".into()), false),
            (Some("Bearer s3cret".into()), true),
            (Some("bearer  s3cret ".into()), true),
            (Some("Bearer s3cret2".into()), false),
            (Some("Token s3cret".into()), false),
            (Some("s3cret".into()), false),
            (Some("".into()), false),
        ];
        for (header, ok) in cases {
            assert_eq!(carries_token(header.as_deref(), t), ok, "{header:?}");
        }
    }
}

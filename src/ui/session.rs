//! Who is looking at the dashboard, and the CSRF token of its write forms.
//!
//! When reads are guarded (`ADMIN_TOKEN_READS=true`: the admin credential; `ANONYMOUS_READS=false`:
//! a `read` grant on every repository), a page without a valid login redirects to the login
//! form. The form takes a token (`ADMIN_TOKEN` or a scoped one) and keeps it in a cookie that
//! scripts cannot read (`HttpOnly`), that is sent only to `/ui` and never with a request another
//! site starts (`SameSite=Strict`; `Secure` when `PUBLIC_URL` is https). The token stays the
//! credential: revoking it logs the browser out at the next page.
//!
//! Write forms (evict, probe, GC, logout) carry a CSRF token derived from the session: the
//! SHA-256 of a label and the login token, or of a random per-browser cookie when nobody logged
//! in (an open server still must not evict because another site posted a form). A POST whose
//! token does not match, or whose `Origin` names another host, is refused before anything runs;
//! the login form is refused from another origin too (no logging a browser in with someone
//! else's token).
//! Destructive actions then need what the API needs: `admin` on `*`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use sha2::{Digest, Sha256};

use super::error::UiError;
use super::layout;
use crate::auth::{Principal, Scope};
use crate::http::auth::constant_time_eq;
use crate::state::AppState;

/// The cookie holding the login token.
pub const TOKEN_COOKIE: &str = "aa_ui_token";
/// The random per-browser cookie CSRF tokens derive from when nobody logged in.
pub const ANON_COOKIE: &str = "aa_ui_anon";
/// Largest login or action form read.
const MAX_FORM: usize = 64 * 1024;

/// The viewer of a page.
pub struct Session {
    pub principal: Principal,
    /// A login cookie is present and valid.
    pub logged_in: bool,
    /// Whether reads need a login on this server (a logout button then makes sense).
    pub guarded: bool,
    /// The CSRF token the page's forms carry.
    pub csrf: String,
    /// Whether the viewer may evict, probe and collect garbage (`admin` on `*`).
    pub can_admin: bool,
    /// A `Set-Cookie` value to send (the anonymous cookie, first visit).
    set_cookie: Option<String>,
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn csrf_of(seed: &str) -> String {
    let digest = Sha256::new().chain_update(b"artifactapi ui csrf\0").chain_update(seed.as_bytes()).finalize();
    hex::encode(&digest[..16])
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<u64>) -> String {
    let secure = if state.config.public_base().as_str().starts_with("https:") { "; Secure" } else { "" };
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict{secure}{age}")
}

/// Whether reads need a login here.
pub fn guarded(state: &AppState) -> bool {
    state.config.admin_token_reads || !state.config.anonymous_reads
}

/// Whether `principal` may read the dashboard: `admin` on `*` with `ADMIN_TOKEN_READS`, `read`
/// on `*` with `ANONYMOUS_READS=false`, anyone otherwise.
fn may_read(state: &AppState, principal: &Principal) -> bool {
    if state.config.admin_token_reads {
        return principal.allows("*", Scope::Admin);
    }
    state.config.anonymous_reads || principal.allows("*", Scope::Read)
}

/// Whether a token looks like one (printable ASCII without separators a cookie cannot hold).
fn token_shape(t: &str) -> bool {
    !t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
}

impl Session {
    /// The session of a page view: the login (when valid), the read check, the CSRF token.
    pub fn open(req: &HttpRequest, state: &AppState) -> Result<Session, UiError> {
        let guarded = guarded(state);
        let token = cookie(req, TOKEN_COOKIE).filter(|t| token_shape(t));
        let authorization = token.as_ref().map(|t| format!("Bearer {t}"));
        let principal = state.auth.principal(authorization.as_deref()).ok();
        let logged_in = principal.as_ref().is_some_and(|p| *p != Principal::Anonymous);
        let principal = principal.unwrap_or(Principal::Anonymous);
        if !may_read(state, &principal) {
            let return_to = req.uri().path_and_query().map_or("/ui/", |p| p.as_str()).to_string();
            return Err(UiError::Login { return_to });
        }
        let can_admin = !state.auth.enforcing() || principal.allows("*", Scope::Admin);
        let (seed, set_cookie) = match (&token, cookie(req, ANON_COOKIE)) {
            (Some(t), _) if logged_in => (t.clone(), None),
            (_, Some(anon)) => (anon, None),
            (_, None) => {
                let anon = uuid::Uuid::new_v4().simple().to_string();
                let c = set_cookie(state, ANON_COOKIE, &anon, None);
                (anon, Some(c))
            }
        };
        Ok(Session { principal, logged_in, guarded, csrf: csrf_of(&seed), can_admin, set_cookie })
    }

    /// A POST of a write form: the session, its CSRF token and `Origin` checked, and the
    /// fields of the form.
    pub async fn post(
        req: &HttpRequest,
        payload: web::Payload,
        state: &AppState,
    ) -> Result<(Session, Vec<(String, String)>), UiError> {
        let session = Session::open(req, state)?;
        check_origin(req)?;
        let fields = read_form(req, payload).await?;
        let sent = field(&fields, "csrf").unwrap_or("");
        if session.set_cookie.is_some() || !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
            return Err(UiError::Forbidden(
                "the form's CSRF token does not match this session; reload the page".into(),
            ));
        }
        Ok((session, fields))
    }

    /// Refuses a destructive action without `admin` on `*`.
    pub fn require_admin(&self) -> Result<(), UiError> {
        if self.can_admin {
            return Ok(());
        }
        Err(UiError::Forbidden(format!(
            "{} lacks the admin scope this action needs; log in with an admin token",
            self.principal.name()
        )))
    }

    /// Adds the session's cookie, if any, to a response.
    pub fn finish(&self, mut resp: HttpResponse) -> HttpResponse {
        if let Some(c) = &self.set_cookie {
            if let Ok(v) = header::HeaderValue::from_str(c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// Refuses a form whose `Origin` names another host than the one it was posted to.
fn check_origin(req: &HttpRequest) -> Result<(), UiError> {
    if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin != "null" && origin_host != host {
            return Err(UiError::Forbidden(format!("form posted from another site ({origin})")));
        }
    }
    Ok(())
}

/// Reads an `application/x-www-form-urlencoded` body of at most [`MAX_FORM`] bytes.
pub async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Vec<(String, String)>, UiError> {
    let body =
        crate::http::auth::read_body(req, payload, MAX_FORM).await.map_err(|e| UiError::BadRequest(e.to_string()))?;
    Ok(url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
}

/// The first value of form field `name`.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Where to go after login: a dashboard path only, never another site.
fn next_page(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/ui/",
    }
}

fn login_page(next: &str, refusal: Option<(actix_web::http::StatusCode, &str)>) -> HttpResponse {
    let (status, message) = match refusal {
        Some((status, m)) => (status, Some(m)),
        None => (actix_web::http::StatusCode::OK, None),
    };
    let body = html! {
        section.login {
            h1 { "Log in" }
            p { "This server guards its dashboard. Log in with " code { "ADMIN_TOKEN" } " or a token from "
                code { "/api/v2/tokens" } "." }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form method="post" action="/ui/login" {
                input type="hidden" name="next" value=(next);
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button type="submit" { "Log in" }
            }
        }
    };
    layout::bare(status, "Log in", body)
}

/// `GET /ui/login`.
pub async fn login_form(req: HttpRequest) -> HttpResponse {
    let next = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned());
    login_page(next_page(next.as_deref()), None)
}

/// `POST /ui/login`: checks the token, sets the cookie, goes on to `next`.
pub async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    // Another site must not log this browser in with a token of its choosing.
    check_origin(&req)?;
    let fields = read_form(&req, payload).await?;
    let next = next_page(field(&fields, "next")).to_string();
    let token = field(&fields, "token").unwrap_or("").trim();
    let principal = if token_shape(token) { state.auth.principal(Some(&format!("Bearer {token}"))).ok() } else { None };
    let Some(principal) = principal.filter(|p| *p != Principal::Anonymous) else {
        let refusal = "That token is not valid here (unknown, revoked or expired).";
        return Ok(login_page(&next, Some((actix_web::http::StatusCode::UNAUTHORIZED, refusal))));
    };
    if !may_read(&state, &principal) {
        let refusal =
            "That token may not read this dashboard: it needs admin (ADMIN_TOKEN_READS) or read on every repository.";
        return Ok(login_page(&next, Some((actix_web::http::StatusCode::FORBIDDEN, refusal))));
    }
    tracing::info!(who = principal.name(), "dashboard login");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .insert_header((header::SET_COOKIE, set_cookie(&state, TOKEN_COOKIE, token, None)))
        .finish())
}

/// `POST /ui/logout`: forgets the cookie.
pub async fn logout(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    check_origin(&req)?;
    let fields = read_form(&req, payload).await?;
    let token = cookie(&req, TOKEN_COOKIE).unwrap_or_default();
    let sent = field(&fields, "csrf").unwrap_or("");
    if !constant_time_eq(sent.as_bytes(), csrf_of(&token).as_bytes()) {
        return Err(UiError::Forbidden("the form's CSRF token does not match this session; reload the page".into()));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/login"))
        .insert_header((header::SET_COOKIE, set_cookie(&state, TOKEN_COOKIE, "", Some(0))))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn cookies_are_found_among_others() {
        let req =
            TestRequest::default().insert_header((header::COOKIE, "a=1; aa_ui_token=secret; b=2")).to_http_request();
        assert_eq!(cookie(&req, TOKEN_COOKIE).as_deref(), Some("secret"));
        assert_eq!(cookie(&req, "c"), None);
        let req = TestRequest::default().insert_header((header::COOKIE, "aa_ui_token=")).to_http_request();
        assert_eq!(cookie(&req, TOKEN_COOKIE), None, "an emptied cookie is none");
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_eq!(csrf_of("a"), csrf_of("a"));
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_eq!(csrf_of("a").len(), 32);
    }

    #[test]
    fn login_goes_on_only_to_dashboard_pages() {
        let cases: &[(Option<&str>, &str)] = &[
            (None, "/ui/"),
            (Some("/ui/remotes"), "/ui/remotes"),
            (Some("/ui/remotes/x?prefix=a"), "/ui/remotes/x?prefix=a"),
            (Some("https://evil.example/"), "/ui/"),
            (Some("//evil.example/ui/"), "/ui/"),
            (Some("/ui/\\evil"), "/ui/"),
            (Some("/api/v2/remotes"), "/ui/"),
        ];
        for (next, want) in cases {
            assert_eq!(next_page(*next), *want, "{next:?}");
        }
    }

    #[test]
    fn tokens_that_cannot_live_in_a_cookie_are_refused() {
        for bad in ["", "a b", "a;b", "a,b", "é", "a\nb"] {
            assert!(!token_shape(bad), "{bad:?}");
        }
        assert!(token_shape("s3cr3t-_.~+/="));
    }
}

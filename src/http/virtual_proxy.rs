//! `GET|HEAD /api/v1/virtual/{name}/{path}`: one name in front of several remotes.
//!
//! The path is parsed and checked once, as the remote proxy does, for the virtual's package
//! type; then each member is tried in order through [`proxy::serve_member`] (so each member's
//! own access rules, classification, cache and breaker apply). The first member that has the
//! file answers. A member saying 404/410 (or refusing the path by its rules) is passed over; a
//! member that is down is passed over too and named in `X-Artifactapi-Unavailable`, and when no
//! member had the file the answer is then 502 naming it rather than a 404 that would be wrong.
//! Package indexes ([`Plan::Document`]: PyPI pages, npm packuments, helm indexes, goproxy
//! `@v/list`) are merged instead: each member renders its own copy, the package type merges
//! them ([`crate::formats::Format::merge`]).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::documents;
use super::error::ApiError;
use super::openapi::ErrorBody;
use super::proxy::{self, parse_path};
use super::renders::Served;
use crate::formats::{self, Doc, Plan};
use crate::observe::body::RecordedBody;
use crate::paths::RepoPath;
use crate::state::AppState;
use crate::virtuals::VirtualSpec;
use artifactapi_actors::remote::CacheStatus;

const PREFIX: &str = "/api/v1/virtual/";
/// The header naming the members that were skipped for being down.
pub const UNAVAILABLE_HEADER: &str = "x-artifactapi-unavailable";

fn split(raw: &str) -> Option<(&str, &str)> {
    raw.strip_prefix(PREFIX)?.split_once('/')
}

/// What one member said.
enum Answer {
    /// Served: this is the response.
    Served(HttpResponse),
    /// Not here (404/410, refused by the member's rules, member not running).
    Absent,
    /// Down: unreachable, failing, breaker open.
    Down,
}

fn judge(result: Result<HttpResponse, ApiError>) -> Result<Answer, ApiError> {
    match result {
        Ok(resp) if matches!(resp.status(), StatusCode::NOT_FOUND | StatusCode::GONE) => Ok(Answer::Absent),
        Ok(resp) => Ok(Answer::Served(resp)),
        Err(ApiError::NotFound { .. } | ApiError::Missing(_) | ApiError::Gone(_) | ApiError::Forbidden(_)) => {
            Ok(Answer::Absent)
        }
        Err(
            ApiError::Unavailable(_)
            | ApiError::RetryLater { .. }
            | ApiError::BadGateway(_)
            | ApiError::GatewayTimeout(_),
        ) => Ok(Answer::Down),
        Err(e) => Err(e),
    }
}

#[utoipa::path(get, path = "/api/v1/virtual/{name}/{path}", tag = "proxy",
    params(("name" = String, Path), ("path" = String, Path)),
    responses((status = 200, description = "The file, from the first member that has it; \
        `X-Artifactapi-Unavailable` names members skipped for being down", body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 405, body = ErrorBody),
        (status = 502, description = "No member had the file and at least one was down", body = ErrorBody)))]
pub async fn virtual_repo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse<RecordedBody> {
    let mut tap = state.observe.tap(&req);
    let mut down = Vec::new();
    let result = serve_virtual(&req, &state, &mut tap, &mut down).await;
    let mut resp = result.unwrap_or_else(|e| e.error_response());
    if !down.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&down.join(",")) {
            resp.headers_mut().insert(header::HeaderName::from_static(UNAVAILABLE_HEADER), v);
        }
    }
    tap.respond(Ok(resp))
}

async fn serve_virtual(
    req: &HttpRequest,
    state: &AppState,
    tap: &mut crate::observe::Tap,
    down: &mut Vec<String>,
) -> Result<HttpResponse, ApiError> {
    let (name, tail) =
        split(req.uri().path()).ok_or_else(|| ApiError::BadRequest("expected /api/v1/virtual/{name}/{path}".into()))?;
    tap.target(name, tail);
    let spec = state.registry.get_virtual(name).ok_or_else(|| ApiError::not_found("virtual", name))?;
    tap.known(state.observe.repo(name, spec.package_type));
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::MethodNotAllowed { method: req.method().to_string(), allow: "GET, HEAD" });
    }
    let path = parse_path(name, spec.package_type, tail)?;
    match formats::format_for(spec.package_type).plan(path.as_str(), &proxy::ask(req)) {
        Plan::Redirect(to) => return Ok(proxy::redirect(req, &path, &to)),
        Plan::Document(doc) => return merged(req, state, &spec, &path, &doc, down).await,
        Plan::Bytes | Plan::Listed { .. } => {}
    }
    for member in &spec.members {
        let Some(entry) = state.registry.get(member) else { continue };
        match judge(proxy::serve_member(req, state, &entry, &path).await)? {
            Answer::Served(resp) => return Ok(resp),
            Answer::Absent => {}
            Answer::Down => down.push(member.clone()),
        }
    }
    Err(none_had_it(name, &path, down))
}

fn none_had_it(name: &str, path: &RepoPath, down: &[String]) -> ApiError {
    if down.is_empty() {
        ApiError::Missing(format!("{:?} not found in any member of virtual {name:?}", path.as_str()))
    } else {
        ApiError::BadGateway(format!(
            "{:?} not found in the members of virtual {name:?} that answered; unavailable: {}",
            path.as_str(),
            down.join(", ")
        ))
    }
}

/// A document merged from every member's rendered copy (file URLs pointing at the member that
/// serves them), by the package type's merge rules. Nothing merged is cached: each member's
/// copy is, under that member's own TTLs.
async fn merged(
    req: &HttpRequest,
    state: &AppState,
    spec: &VirtualSpec,
    path: &RepoPath,
    doc: &Doc,
    down: &mut Vec<String>,
) -> Result<HttpResponse, ApiError> {
    let mut docs = Vec::new();
    let mut status = CacheStatus::Hit;
    for member in &spec.members {
        let Some(entry) = state.registry.get(member) else { continue };
        if entry.remote.rules.check_access(path.as_str()).is_err() {
            continue;
        }
        match documents::rendered(state, &entry, path, doc).await {
            Ok((rendered, s)) => {
                status = worse(status, s);
                docs.push(rendered.to_rendered());
            }
            Err(e) => match judge(Err(e))? {
                Answer::Down => down.push(member.clone()),
                Answer::Absent | Answer::Served(_) => {}
            },
        }
    }
    if docs.is_empty() {
        return Err(none_had_it(&spec.name, path, down));
    }
    let format = formats::format_for(spec.package_type);
    let (p, d, name) = (path.as_str().to_string(), *doc, spec.name.clone());
    let merged = tokio::task::spawn_blocking(move || format.merge(&p, &d, docs))
        .await
        .map_err(|e| ApiError::Internal(format!("merge task: {e}")))?
        .map_err(|e| ApiError::BadGateway(format!("virtual {name}: merging {:?}: {e}", path.as_str())))?;
    Ok(documents::respond(req, &Served::new(merged), status))
}

/// The cache status a merged answer reports: the least fresh of its parts.
fn worse(a: CacheStatus, b: CacheStatus) -> CacheStatus {
    let rank = |s: CacheStatus| match s {
        CacheStatus::Hit => 0,
        CacheStatus::Revalidated => 1,
        CacheStatus::Miss => 2,
        CacheStatus::Stale => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_name_and_raw_rest() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("/api/v1/virtual/v/a/b.txt", Some(("v", "a/b.txt"))),
            ("/api/v1/virtual/v/%2e%2e/x", Some(("v", "%2e%2e/x"))),
            ("/api/v1/virtual/v", None),
            ("/api/v1/remote/v/x", None),
        ];
        for (raw, want) in cases {
            assert_eq!(split(raw), *want, "{raw}");
        }
    }

    #[test]
    fn judges_member_answers() {
        let absent = [
            ApiError::Missing("x".into()),
            ApiError::Gone("x".into()),
            ApiError::Forbidden("x".into()),
            ApiError::not_found("remote", "x"),
        ];
        for e in absent {
            assert!(matches!(judge(Err(e)), Ok(Answer::Absent)));
        }
        let down =
            [ApiError::Unavailable("x".into()), ApiError::BadGateway("x".into()), ApiError::GatewayTimeout("x".into())];
        for e in down {
            assert!(matches!(judge(Err(e)), Ok(Answer::Down)));
        }
        assert!(matches!(judge(Err(ApiError::Internal("x".into()))), Err(ApiError::Internal(_))));
        assert!(matches!(judge(Ok(HttpResponse::NotFound().finish())), Ok(Answer::Absent)));
        assert!(matches!(judge(Ok(HttpResponse::Ok().finish())), Ok(Answer::Served(_))));
    }
}

//! Docker virtual repositories on `/v2`: one registry name in front of several docker remotes
//! and locals, read-only.
//!
//! Manifests, blobs and referrers come from the first member that has them, asked in the
//! virtual's order through the member's own handler ([`super::remote::handle`] for a remote,
//! with its access rules, `ban_tags`, cache and breaker; the local handlers for a local), so
//! the answer (bytes, media type, `Docker-Content-Digest`, `X-Cache`) is exactly the member's.
//! A member without it (404, or a remote whose patterns refuse the image) is passed over; a
//! member that is down (5xx) is passed over too and named in `X-Artifactapi-Unavailable`, and
//! when no member had it the answer is then a 502 naming them rather than a 404 that would be
//! wrong.
//!
//! `tags/list` is the union of the members' whole lists (a remote's as its upstream answers
//! `tags/list` without paging, a local's every page), sorted in byte order, deduplicated and
//! paged with `n`/`last` and a `Link` to the next page, as a local's list is.
//!
//! Pushes (uploads, manifest `PUT`s, deletes) are refused with 405 `UNSUPPORTED`: a virtual
//! stores nothing of its own, so a push goes to a local docker repository.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use super::error::{OciCode, OciError};
use super::local::{auth, blobs, manifests};
use crate::docker_local::tags::{merge, next_link, Pagination, MAX_PAGE};
use crate::docker_local::{Error as LocalError, Repository};
use crate::formats::docker::{Docker, DockerRequest, Op, TagsPage};
use crate::formats::{Method, PackageType};
use crate::state::AppState;
use crate::virtuals::VirtualSpec;

const ALLOW: &str = "GET, HEAD";

/// Pages of a local member's tag list read for a merge (at [`MAX_PAGE`] tags each).
const MAX_LOCAL_PAGES: usize = 10;

/// Serves one parsed `/v2` request to the docker virtual `spec`; members that were down are
/// added to `unavailable`.
pub async fn handle(
    req: &HttpRequest,
    state: &AppState,
    spec: &VirtualSpec,
    method: Method,
    parsed: &DockerRequest,
    unavailable: &mut Vec<String>,
) -> Result<HttpResponse, OciError> {
    let op = &parsed.endpoint.op;
    if !method.is_read() || matches!(op, Op::UploadStart | Op::Upload(_)) {
        return Err(read_only(&spec.name, method));
    }
    // A local member closed to anonymous pulls (ADMIN_TOKEN_READS) closes the virtual too.
    let closed = state.config.admin_token_reads && spec.members.iter().any(|m| state.registry.get_local(m).is_some());
    auth::require_read(req, state, &spec.name, closed)?;
    match op {
        Op::Tags => tags(req, state, spec, parsed, unavailable).await,
        _ => first_hit(req, state, spec, method, parsed, unavailable).await,
    }
}

/// 405 `UNSUPPORTED`: virtuals are read-only.
fn read_only(name: &str, method: Method) -> OciError {
    OciError::new(
        OciCode::Unsupported,
        format!("{name} is a virtual repository: {method} is not supported; push to a local docker repository"),
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
    .with_header(header::ALLOW, ALLOW)
}

/// A member's refusal that means "not here": try the next member.
fn is_absent(e: &OciError) -> bool {
    e.status == StatusCode::NOT_FOUND || (e.status == StatusCode::FORBIDDEN && e.code == OciCode::Denied)
}

/// The answer when no member had it: a 404 of the operation's kind, or a 502 naming the members
/// that could not answer.
fn none_had_it(spec: &VirtualSpec, parsed: &DockerRequest, down: &[String]) -> OciError {
    let (name, image) = (&spec.name, parsed.endpoint.name.as_str());
    if !down.is_empty() {
        return OciError::new(
            OciCode::Unavailable,
            format!(
                "{image} not found in the members of virtual {name:?} that answered; unavailable: {}",
                down.join(", ")
            ),
        )
        .with_status(StatusCode::BAD_GATEWAY)
        .with_detail(serde_json::json!({ "name": image, "unavailable": down }));
    }
    let (code, what) = match &parsed.endpoint.op {
        Op::Manifest(r) => (OciCode::ManifestUnknown, format!("manifest {r} of {image}")),
        Op::Blob(d) => (OciCode::BlobUnknown, format!("blob {d} of {image}")),
        _ => (OciCode::NameUnknown, format!("image {image}")),
    };
    OciError::new(code, format!("{what} not found in any member of virtual {name:?}"))
        .with_detail(serde_json::json!({ "name": image }))
}

/// A docker member of the virtual: a remote or a local.
enum Member {
    Remote(crate::registry::RemoteEntry),
    Local(Repository),
}

fn member(state: &AppState, name: &str, image: &str) -> Option<Member> {
    if let Some(entry) = state.registry.get(name) {
        return (entry.remote.spec.package_type == PackageType::Docker).then_some(Member::Remote(entry));
    }
    let local = state.registry.get_local(name)?;
    (local.package_type == PackageType::Docker).then(|| Member::Local(Repository::new(name, image)))
}

/// The parsed request as the member `name` is asked it.
fn for_member(parsed: &DockerRequest, name: &str) -> DockerRequest {
    let mut p = parsed.clone();
    p.endpoint.repo = name.to_string();
    p
}

async fn first_hit(
    req: &HttpRequest,
    state: &AppState,
    spec: &VirtualSpec,
    method: Method,
    parsed: &DockerRequest,
    unavailable: &mut Vec<String>,
) -> Result<HttpResponse, OciError> {
    let image = parsed.endpoint.name.as_str();
    for name in &spec.members {
        let answer = match member(state, name, image) {
            None => continue,
            Some(Member::Remote(entry)) => {
                super::remote::handle(req, state, &entry, method, &for_member(parsed, name)).await
            }
            Some(Member::Local(repo)) => {
                let dl = state.docker_local();
                match &parsed.endpoint.op {
                    Op::Manifest(r) => manifests::get(req, &dl, &repo, r.clone()).await,
                    Op::Blob(d) => blobs::get(req, &dl, &repo, *d).await,
                    Op::Referrers(d) => manifests::referrers(req, &dl, &repo, *d).await,
                    Op::Tags | Op::UploadStart | Op::Upload(_) => continue,
                }
            }
        };
        match answer {
            Ok(resp) => return Ok(resp),
            Err(e) if is_absent(&e) => {}
            Err(e) if e.status.is_server_error() => unavailable.push(name.clone()),
            Err(e) => return Err(e),
        }
    }
    Err(none_had_it(spec, parsed, unavailable))
}

/// The tags of one member: `None` when it has no such image.
async fn member_tags(
    state: &AppState,
    name: &str,
    member: Member,
    parsed: &DockerRequest,
) -> Result<Option<Vec<String>>, OciError> {
    match member {
        Member::Remote(entry) => {
            let mut whole = for_member(parsed, name);
            whole.query = String::new();
            let outcome = match state.serve.remote_endpoint(&Docker, &entry, Method::Get, &whole).await {
                Ok(outcome) => outcome,
                Err(e) => return Err(super::remote::oci_error(e, &entry, &whole)),
            };
            let what = format!("tag list of {} in {name}", parsed.endpoint.name);
            let bytes = state
                .serve
                .document_bytes(outcome, &what)
                .await
                .map_err(|e| super::remote::oci_error(e, &entry, &whole))?;
            let listed = tokio::task::spawn_blocking(move || crate::formats::docker::tag_list(&bytes))
                .await
                .map_err(|e| OciError::new(OciCode::Unknown, e.to_string()))?;
            listed.map(Some).map_err(|why| {
                OciError::new(OciCode::Unavailable, format!("{what}: {why}")).with_status(StatusCode::BAD_GATEWAY)
            })
        }
        Member::Local(repo) => {
            let dl = state.docker_local();
            let mut all = Vec::new();
            let mut p = Pagination { n: MAX_PAGE, last: None };
            for _ in 0..MAX_LOCAL_PAGES {
                let page = match dl.tags(&repo, &p).await {
                    Ok(page) => page,
                    Err(LocalError::NameUnknown(_)) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                all.extend(page.tags);
                match page.next_after {
                    Some(after) => p.last = Some(after),
                    None => break,
                }
            }
            Ok(Some(all))
        }
    }
}

/// `tags/list` of a virtual: the members' lists merged and paged.
async fn tags(
    req: &HttpRequest,
    state: &AppState,
    spec: &VirtualSpec,
    parsed: &DockerRequest,
    unavailable: &mut Vec<String>,
) -> Result<HttpResponse, OciError> {
    let q = TagsPage::parse(&parsed.query)?;
    let image = parsed.endpoint.name.as_str();
    let mut lists = Vec::new();
    for name in &spec.members {
        let Some(m) = member(state, name, image) else { continue };
        match member_tags(state, name, m, parsed).await {
            Ok(Some(tags)) => lists.push(tags),
            Ok(None) => {}
            Err(e) if is_absent(&e) => {}
            Err(e) if e.status.is_server_error() => unavailable.push(name.clone()),
            Err(e) => return Err(e),
        }
    }
    if lists.is_empty() {
        return Err(none_had_it(spec, parsed, unavailable));
    }
    let p = Pagination { n: q.n.map_or(MAX_PAGE, |n| n as usize), last: q.last.map(|t| t.as_str().to_string()) };
    let page = merge(lists, &p);
    let registry_name = format!("{}/{image}", spec.name);
    let mut resp = HttpResponse::Ok();
    if let Some(after) = &page.next_after {
        resp.insert_header((header::LINK, next_link(&registry_name, p.n, after)));
    }
    manifests::json(req, resp, "application/json", &serde_json::json!({ "name": registry_name, "tags": page.tags }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_refused_and_absence_is_told_apart_from_failure() {
        let e = read_only("all", Method::Put);
        assert_eq!((e.code, e.status), (OciCode::Unsupported, StatusCode::METHOD_NOT_ALLOWED));
        assert_eq!(e.body()["errors"][0]["code"], "UNSUPPORTED");
        assert!(is_absent(&OciError::new(OciCode::ManifestUnknown, "x")));
        assert!(is_absent(&OciError::new(OciCode::Denied, "blocklisted")));
        assert!(!is_absent(&OciError::new(OciCode::Unauthorized, "x")));
        assert!(!is_absent(&OciError::new(OciCode::Unavailable, "x")));
    }
}

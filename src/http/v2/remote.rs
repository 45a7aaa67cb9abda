//! Remote docker repositories on `/v2`: the OCI adapter of the serving service.
//!
//! The docker format ([`crate::formats::docker`]) decides everything a pull-through cache must
//! get right: Docker Hub's `library/`, `ban_tags`, the manifest variant of the client's
//! `Accept`, the digest the bytes must have, which answers are held until whole. The serving
//! service applies the remote's access rules and fetches ([`crate::serve`]). What is left here
//! is the registry's wire format: `Docker-Content-Digest` on every manifest and blob answer, a
//! HEAD of an uncached blob that waits for the verified fill (so a digest mismatch is a clean
//! error), errors as OCI codes, and the `Link` of a tag list page.
//!
//! Tag list pages pass through: `n` and `last` go to the upstream as the client sent them (each
//! page is cached as its own variant); the answer is paged again here (sorted, after `last`, at
//! most `n`: an upstream that ignores the query returns its whole list), and a full page gets
//! a `Link` to the next page through this server, `last` being its last tag (the upstream's own
//! `Link` names the upstream, so it is not passed on). Without `n` and `last` the list is the
//! upstream's answer, byte for byte.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method as HttpMethod, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use artifactapi_actors::remote::{CacheStatus, Download};
use futures_util::StreamExt;

use super::error::{OciCode, OciError};
use crate::docker_local::tags::{merge, next_link, passed_through, Pagination, MAX_PAGE};
use crate::formats::docker::{tag_list, Docker, DockerRequest, Op, Reference, TagsPage};
use crate::formats::Method;
use crate::http::respond;
use crate::registry::RemoteEntry;
use crate::remotes::Denied;
use crate::serve::{Body, Outcome, ServeError};
use crate::state::AppState;

const ALLOW: &str = "GET, HEAD";
const DIGEST_HEADER: &str = "docker-content-digest";

/// Serves one parsed `/v2` request to the remote `entry`.
pub async fn handle(
    req: &HttpRequest,
    state: &AppState,
    entry: &RemoteEntry,
    method: Method,
    e: &DockerRequest,
) -> Result<HttpResponse, OciError> {
    let outcome =
        state.serve.remote_endpoint(&Docker, entry, method, e).await.map_err(|err| oci_error(err, entry, e))?;
    if let Op::Tags = e.endpoint.op {
        let q = TagsPage::parse(&e.query)?;
        if q.n.is_some() || q.last.is_some() {
            return tags_page(req, state, entry, e, q, outcome).await;
        }
    }
    let (mut resp, digest) = match outcome {
        Outcome::Served { body: Body::Stored(stored), status, .. } => {
            (respond::stored_response(req, state.store.as_ref(), &stored, status).await?, Some(stored.digest))
        }
        Outcome::Served { body: Body::Streaming { download, digest }, .. } => (streamed(req, download).await?, digest),
        Outcome::Redirect(to) => return Err(OciError::new(OciCode::Unknown, format!("unexpected redirect to {to:?}"))),
    };
    // The digest the client named (a `sha512:` one names the same bytes as their SHA-256).
    let named = match &e.endpoint.op {
        Op::Blob(d) | Op::Manifest(Reference::Digest(d)) => Some(d.to_string()),
        _ => digest.map(|d| d.to_string()),
    };
    if let Some(v) = named.and_then(|d| HeaderValue::from_str(&d).ok()) {
        resp.headers_mut().insert(HeaderName::from_static(DIGEST_HEADER), v);
    }
    Ok(resp)
}

/// A tag list page (`n` or `last` given): the upstream's answer to the same query, paged again
/// here (sorted, after `last`, at most `n`) for upstreams that ignore the query, with a `Link`
/// when the page is full.
async fn tags_page(
    req: &HttpRequest,
    state: &AppState,
    entry: &RemoteEntry,
    e: &DockerRequest,
    q: TagsPage,
    outcome: Outcome,
) -> Result<HttpResponse, OciError> {
    let cache = match &outcome {
        Outcome::Served { status, .. } => *status,
        Outcome::Redirect(_) => CacheStatus::Miss,
    };
    let bytes = state.serve.document_bytes(outcome, "tag list").await.map_err(|err| oci_error(err, entry, e))?;
    let tags = tokio::task::spawn_blocking(move || tag_list(&bytes))
        .await
        .map_err(|err| OciError::new(OciCode::Unknown, err.to_string()))?
        .map_err(|why| OciError::new(OciCode::Unknown, why).with_status(StatusCode::BAD_GATEWAY))?;
    let n = q.n.map_or(MAX_PAGE, |n| n as usize);
    let p = Pagination { n, last: q.last.map(|t| t.as_str().to_string()) };
    let page = merge([tags], &p);
    let next = page.next_after.clone().or_else(|| passed_through(q.n, &page.tags));
    let name = format!("{}/{}", entry.remote.spec.name, e.endpoint.name);
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("X-Cache", cache.as_str()));
    if let Some(after) = next {
        resp.insert_header((header::LINK, next_link(&name, n, &after)));
    }
    let body = serde_json::json!({ "name": name, "tags": page.tags });
    super::local::manifests::json(req, resp, "application/json", &body)
}

/// A blob miss: streamed to a GET; a HEAD gets the length once the fill has the whole
/// (verified) blob.
async fn streamed(req: &HttpRequest, download: Download) -> Result<HttpResponse, OciError> {
    if req.method() != HttpMethod::HEAD {
        return Ok(respond::download_response(req, download));
    }
    let (head, mut body) = (download.head, download.body);
    let mut length = 0u64;
    while let Some(chunk) = body.next().await {
        length += chunk
            .map_err(|e| OciError::new(OciCode::Unknown, e.to_string()).with_status(StatusCode::BAD_GATEWAY))?
            .len() as u64;
    }
    let mut builder = HttpResponse::build(StatusCode::OK);
    builder.insert_header(("X-Cache", CacheStatus::Miss.as_str()));
    builder.insert_header((header::CONTENT_TYPE, head.content_type.as_deref().unwrap_or("application/octet-stream")));
    Ok(respond::head_only(builder, Some(length)))
}

/// The serving service's refusal in the registry's error format.
pub(super) fn oci_error(err: ServeError, entry: &RemoteEntry, e: &DockerRequest) -> OciError {
    let name = entry.remote.spec.name.as_str();
    let image = e.endpoint.name.as_str();
    match err {
        ServeError::Refused { status, code, message } => {
            let code = OciCode::parse(code).unwrap_or(OciCode::Unknown);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let oci = OciError::new(code, message).with_status(status);
            if status == StatusCode::METHOD_NOT_ALLOWED {
                oci.with_header(header::ALLOW, ALLOW)
            } else {
                oci
            }
        }
        ServeError::MethodNotAllowed { method, .. } => {
            let message = format!(
                "{name} is a remote repository (a pull-through cache): {method} is not supported; push to a local docker repository"
            );
            OciError::new(OciCode::Unsupported, message).with_header(header::ALLOW, ALLOW)
        }
        ServeError::Denied { subject, rule, .. } => {
            let message = match rule {
                Denied::Blocklisted(rule) => {
                    format!("image {subject} matches blocklist rule {rule:?} of remote {name}")
                }
                Denied::NotAllowed => format!("image {subject} matches none of the patterns of remote {name}"),
            };
            OciError::new(OciCode::Denied, message).with_detail(serde_json::json!({ "name": subject }))
        }
        ServeError::NotFound(_) | ServeError::Gone(_) => not_found(image, &e.endpoint.op),
        other => OciError::from(crate::http::error::ApiError::from(other)),
    }
}

fn not_found(name: &str, op: &Op) -> OciError {
    let (code, message, detail) = match op {
        Op::Manifest(r) => (
            OciCode::ManifestUnknown,
            format!("manifest {r} of {name} not found upstream"),
            serde_json::json!({ "name": name, "reference": r.to_string() }),
        ),
        Op::Blob(d) => (
            OciCode::BlobUnknown,
            format!("blob {d} of {name} not found upstream"),
            serde_json::json!({ "name": name, "digest": d.to_string() }),
        ),
        Op::Referrers(_) => (
            OciCode::NameUnknown,
            format!("the upstream lists no referrers for {name}"),
            serde_json::json!({ "name": name }),
        ),
        _ => (OciCode::NameUnknown, format!("image {name} not found upstream"), serde_json::json!({ "name": name })),
    };
    OciError::new(code, message).with_detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use artifactapi_actors::Digest;

    #[test]
    fn not_found_names_what_is_missing() {
        let d = Digest::of(b"x");
        let manifest = not_found("library/alpine", &Op::Blob(d.into()));
        assert_eq!(manifest.code, OciCode::BlobUnknown);
        assert_eq!(manifest.detail.unwrap()["digest"], d.to_string());
        let tags = not_found("app", &Op::Tags);
        assert_eq!((tags.code, tags.status), (OciCode::NameUnknown, StatusCode::NOT_FOUND));
    }
}

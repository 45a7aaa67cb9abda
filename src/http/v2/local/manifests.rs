//! Manifests of local docker repositories: pulls (exact bytes, exact media type), pushes by
//! tag or digest, deletes, tag lists and referrers.
//!
//! A pushed manifest is read into memory (it must be parsed and checked whole) up to
//! `DOCKER_MAX_MANIFEST` bytes; a larger one is answered 413 after at most that much was kept
//! (the rest of the body is read and dropped, up to a bound, so the client sees the answer).

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::events::{Event, EventKind, EventSink};
use artifactapi_actors::Digest;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::{empty, head_only, CONTENT_DIGEST};
use crate::docker_local::store::Reference;
use crate::docker_local::tags::{next_link, Pagination};
use crate::docker_local::upload::DockerLocal;
use crate::docker_local::{manifest::OCI_INDEX, Error, Repository};
use crate::formats::docker::{self, ReferrersFilter, TagsPage};
use crate::http::v2::error::OciError;
use crate::state::AppState;

/// Past the limit, this much more of a manifest body is read and dropped before answering.
const DRAIN_MAX: usize = 64 << 20;

fn reference(r: docker::Reference) -> Reference {
    match r {
        docker::Reference::Tag(t) => Reference::Tag(t.as_str().to_string()),
        docker::Reference::Digest(d) => Reference::Digest(d),
    }
}

/// `GET|HEAD .../manifests/{reference}`.
pub async fn get(
    req: &HttpRequest,
    dl: &DockerLocal,
    repo: &Repository,
    r: docker::Reference,
) -> Result<HttpResponse, OciError> {
    // A manifest pulled by its `sha512:` digest is answered with that digest.
    let named = match &r {
        docker::Reference::Digest(d) => Some(d.to_string()),
        docker::Reference::Tag(_) => None,
    };
    let m = dl.manifest(repo, &reference(r)).await?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CONTENT_TYPE, m.media_type.as_str()))
        .insert_header((CONTENT_DIGEST, named.unwrap_or_else(|| m.digest.to_string())))
        .insert_header((header::ETAG, format!("\"{}\"", m.digest)));
    if req.method() == Method::HEAD {
        return Ok(head_only(resp, m.size));
    }
    let body = dl.store.open(&m.digest, None).await.map_err(Error::from)?;
    Ok(resp.no_chunking(m.size).streaming(body))
}

/// Reads a manifest body of at most `limit` bytes.
async fn read_manifest(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<Bytes, Error> {
    let too_large = Error::TooLarge { what: "manifest", limit };
    let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut body = BytesMut::new();
    let mut over = announced.is_some_and(|n| n > limit as u64);
    let mut drained = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Error::Body(e.to_string()))?;
        if over || body.len() + chunk.len() > limit {
            over = true;
            body = BytesMut::new();
            drained += chunk.len();
            if drained > DRAIN_MAX {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if over {
        return Err(too_large);
    }
    Ok(body.freeze())
}

/// `PUT .../manifests/{reference}`: 201 with `Location`, `Docker-Content-Digest` and, for a
/// manifest with a subject, `OCI-Subject`; a `push_completed` event.
pub async fn put(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    repo: &Repository,
    r: docker::Reference,
) -> Result<HttpResponse, OciError> {
    let dl = state.docker_local();
    let body = read_manifest(req, payload, dl.max_manifest).await?;
    let size = body.len() as u64;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let pushed = dl.put_manifest(repo, &reference(r.clone()), content_type, body).await?;
    state.events.emit(
        Event::new(EventKind::PushCompleted)
            .repo(&repo.local)
            .path(&format!("{}/manifests/{r}", repo.image))
            .size(size)
            .detail(serde_json::json!({ "digest": pushed.digest.to_string(), "named": pushed.named.to_string() })),
    );
    let mut resp = empty(StatusCode::CREATED);
    resp.insert_header((header::LOCATION, format!("/v2/{repo}/manifests/{}", pushed.named)))
        .insert_header((CONTENT_DIGEST, pushed.named.to_string()));
    if let Some(subject) = pushed.subject {
        resp.insert_header(("oci-subject", subject.to_string()));
    }
    Ok(resp.finish())
}

/// `DELETE .../manifests/{reference}`: by digest the manifest and its tags, by tag the tag.
pub async fn delete(dl: &DockerLocal, repo: &Repository, r: docker::Reference) -> Result<HttpResponse, OciError> {
    dl.delete_manifest(repo, &reference(r)).await?;
    Ok(empty(StatusCode::ACCEPTED).finish())
}

/// `GET .../tags/list?n=&last=`.
pub async fn tags(req: &HttpRequest, dl: &DockerLocal, repo: &Repository) -> Result<HttpResponse, OciError> {
    let q = TagsPage::parse(req.query_string())?;
    let p = Pagination {
        n: q.n.map_or(crate::docker_local::tags::MAX_PAGE, |n| n as usize),
        last: q.last.map(|t| t.as_str().to_string()),
    };
    let page = dl.tags(repo, &p).await?;
    let mut resp = HttpResponse::Ok();
    if let Some(after) = &page.next_after {
        resp.insert_header((header::LINK, next_link(&repo.to_string(), p.n, after)));
    }
    let body = serde_json::json!({ "name": repo.to_string(), "tags": page.tags });
    json(req, resp, "application/json", &body)
}

/// `GET .../referrers/{digest}?artifactType=`: an OCI index of the manifests whose subject is
/// `digest` (empty when there are none).
pub async fn referrers(
    req: &HttpRequest,
    dl: &DockerLocal,
    repo: &Repository,
    subject: Digest,
) -> Result<HttpResponse, OciError> {
    let filter = ReferrersFilter::parse(req.query_string())?;
    let index = dl.referrers(repo, &subject, filter.artifact_type.as_deref()).await?;
    let mut resp = HttpResponse::Ok();
    if filter.artifact_type.is_some() {
        resp.insert_header(("oci-filters-applied", "artifactType"));
    }
    let body = serde_json::to_value(&index).map_err(|e| Error::Actor(e.to_string()))?;
    json(req, resp, OCI_INDEX, &body)
}

pub(crate) fn json(
    req: &HttpRequest,
    mut resp: actix_web::HttpResponseBuilder,
    content_type: &str,
    body: &serde_json::Value,
) -> Result<HttpResponse, OciError> {
    resp.insert_header((header::CONTENT_TYPE, content_type));
    let bytes = serde_json::to_vec(body).map_err(|e| Error::Actor(e.to_string()))?;
    if req.method() == Method::HEAD {
        return Ok(head_only(resp, bytes.len() as u64));
    }
    Ok(resp.body(bytes))
}

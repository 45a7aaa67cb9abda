//! Blobs of local docker repositories: reads (whole or a byte range), deletes, uploads and
//! cross-repository mounts.
//!
//! Upload answers carry what clients need to go on: `Location` (the upload URL, relative to
//! this server), `Docker-Upload-UUID`, `Range: 0-{last byte}` and, when an upload starts,
//! `OCI-Chunk-Min-Length` (a hint for clients that chunk; smaller chunks are accepted). A chunk
//! that does not start where the upload stands gets 416 with the current `Range`.
//!
//! A blob may be named by its `sha512:` digest everywhere a digest goes (pulls, deletes, mounts,
//! `?digest=` of an upload); answers then carry that digest in `Docker-Content-Digest` and
//! `Location`, while the bytes are the one blob stored under their SHA-256.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::storage::ByteRange;
use artifactapi_actors::Digest;
use uuid::Uuid;

use super::{empty, head_only, CONTENT_DIGEST};
use crate::docker_local::chunk;
use crate::docker_local::upload::{blob_location, upload_location, ChunkHeaders, DockerLocal};
use crate::docker_local::{Error, Repository};
use crate::formats::docker::grammar::parse_oci_digest;
use crate::formats::docker::{ImageName, OciDigest};
use crate::http::respond::{parse_range, RangeRequest};
use crate::http::v2::error::{OciCode, OciError};
use crate::state::AppState;

/// Advertised in `OCI-Chunk-Min-Length`: chunks of at least this size keep the number of
/// stored parts of an upload small.
pub const CHUNK_MIN_LENGTH: u64 = 1 << 20;

/// `GET|HEAD .../blobs/{digest}`.
pub async fn get(
    req: &HttpRequest,
    dl: &DockerLocal,
    repo: &Repository,
    named: OciDigest,
) -> Result<HttpResponse, OciError> {
    let digest = stored(dl, &named).await?;
    let size = dl.blob_size(repo, &digest).await.map_err(|e| as_named(e, named))?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CONTENT_TYPE, "application/octet-stream"))
        .insert_header((CONTENT_DIGEST, named.to_string()))
        .insert_header((header::ETAG, format!("\"{digest}\"")))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
    let range_header = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match parse_range(range_header, size) {
        RangeRequest::Full => None,
        RangeRequest::Partial(r) => Some(r),
        RangeRequest::Unsatisfiable => {
            return Err(OciError::new(
                OciCode::SizeInvalid,
                format!("range not satisfiable: the blob has {size} bytes"),
            )
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            .with_header(header::CONTENT_RANGE, &format!("bytes */{size}")))
        }
    };
    let length = match range {
        Some(ByteRange { start, end }) => {
            resp.status(StatusCode::PARTIAL_CONTENT);
            resp.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")));
            end - start + 1
        }
        None => size,
    };
    if req.method() == Method::HEAD {
        return Ok(head_only(resp, length));
    }
    let body = dl.store.open(&digest, range).await.map_err(Error::from)?;
    Ok(resp.no_chunking(length).streaming(body))
}

/// The stored blob `named` names, or `BLOB_UNKNOWN`.
async fn stored(dl: &DockerLocal, named: &OciDigest) -> Result<Digest, Error> {
    dl.resolve(named).await?.ok_or(Error::BlobUnknown(*named))
}

/// A `BLOB_UNKNOWN` that names the blob as the client did.
fn as_named(e: Error, named: OciDigest) -> Error {
    match e {
        Error::BlobUnknown(_) => Error::BlobUnknown(named),
        e => e,
    }
}

/// `DELETE .../blobs/{digest}`: the repository no longer links the blob (202).
pub async fn delete(dl: &DockerLocal, repo: &Repository, named: OciDigest) -> Result<HttpResponse, OciError> {
    let digest = stored(dl, &named).await?;
    dl.delete_blob(repo, &digest).await.map_err(|e| as_named(e, named))?;
    Ok(empty(StatusCode::ACCEPTED).finish())
}

/// The query of `POST .../blobs/uploads/`.
#[derive(Debug, Default, PartialEq, Eq)]
struct StartQuery {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
}

fn start_query(query: &str) -> StartQuery {
    let mut q = StartQuery::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "digest" => q.digest = Some(v.into_owned()),
            "mount" => q.mount = Some(v.into_owned()),
            "from" => q.from = Some(v.into_owned()),
            _ => {}
        }
    }
    q
}

fn digest_param(s: &str) -> Result<OciDigest, OciError> {
    parse_oci_digest(s).map_err(|m| OciError::new(OciCode::DigestInvalid, m))
}

/// The repository a `from=` names, if it is a local docker repository of this server.
fn mount_source(state: &AppState, from: &str) -> Option<Repository> {
    let (local, image) = from.split_once('/')?;
    let spec = state.registry.get_local(local)?;
    let image = ImageName::parse(image).ok()?;
    (spec.package_type == crate::formats::PackageType::Docker).then(|| Repository::new(local, image.as_str()))
}

/// `POST .../blobs/uploads/`: a mount (`?mount=&from=`), a monolithic upload (`?digest=`), or
/// the start of an upload.
pub async fn start(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    dl: &DockerLocal,
    repo: &Repository,
) -> Result<HttpResponse, OciError> {
    let q = start_query(req.query_string());
    if let Some(mount) = &q.mount {
        let named = digest_param(mount)?;
        let source = q.from.as_deref().and_then(|f| mount_source(state, f));
        if let (Some(from), Some(digest)) = (source, dl.resolve(&named).await?) {
            if dl.mount(repo, &from, &digest).await?.is_some() {
                return Ok(created_blob(repo, &named));
            }
        }
        // Unknown there: an ordinary upload instead, as the spec asks.
    } else if let Some(digest) = &q.digest {
        let named = digest_param(digest)?;
        let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        dl.put_blob(repo, named, announced, payload).await?;
        return Ok(created_blob(repo, &named));
    }
    let id = dl.start_upload(repo).await?;
    Ok(progress(StatusCode::ACCEPTED, repo, &id, 0)
        .insert_header(("oci-chunk-min-length", CHUNK_MIN_LENGTH.to_string()))
        .finish())
}

fn created_blob(repo: &Repository, digest: &OciDigest) -> HttpResponse {
    empty(StatusCode::CREATED)
        .insert_header((header::LOCATION, blob_location(repo, digest)))
        .insert_header((CONTENT_DIGEST, digest.to_string()))
        .finish()
}

/// An answer reporting where an upload stands.
fn progress(status: StatusCode, repo: &Repository, id: &Uuid, size: u64) -> actix_web::HttpResponseBuilder {
    let mut resp = empty(status);
    resp.insert_header((header::LOCATION, upload_location(repo, id)))
        .insert_header(("docker-upload-uuid", id.to_string()))
        .insert_header((header::RANGE, chunk::progress(size)));
    resp
}

/// The chunk headers of a PATCH or PUT.
fn chunk_headers(req: &HttpRequest) -> Result<ChunkHeaders, OciError> {
    let text = |name| req.headers().get(name).map(|v| v.to_str().map_err(|_| ()));
    let range = match text(header::CONTENT_RANGE) {
        None => None,
        Some(Ok(v)) => Some(chunk::parse_content_range(v).map_err(Error::from)?),
        Some(Err(())) => return Err(Error::UploadInvalid("Content-Range is not text".into()).into()),
    };
    let content_length = match text(header::CONTENT_LENGTH) {
        Some(Ok(v)) => v.trim().parse::<u64>().ok(),
        _ => None,
    };
    Ok(ChunkHeaders { range, content_length })
}

/// `GET|PATCH|PUT|DELETE .../blobs/uploads/{id}`.
pub async fn upload(
    req: &HttpRequest,
    payload: web::Payload,
    dl: &DockerLocal,
    repo: &Repository,
    id: &str,
    method: Method,
) -> Result<HttpResponse, OciError> {
    // Ids this server issues are UUIDs; anything else cannot be an upload of it.
    let id = Uuid::try_parse(id).map_err(|_| Error::UploadUnknown(id.to_string()))?;
    match method {
        Method::GET | Method::HEAD => {
            let size = dl.upload_size(repo, id).await?;
            Ok(progress(StatusCode::NO_CONTENT, repo, &id, size).finish())
        }
        Method::PATCH => {
            let chunk = chunk_headers(req)?;
            match dl.append(repo, id, chunk, payload).await {
                Ok(size) => Ok(progress(StatusCode::ACCEPTED, repo, &id, size).finish()),
                Err(e) => Err(out_of_order(e, repo, &id)),
            }
        }
        Method::PUT => {
            let q = start_query(req.query_string());
            let digest = q.digest.as_deref().ok_or_else(|| {
                OciError::new(OciCode::DigestInvalid, "closing an upload needs ?digest=sha256:... (or sha512:...)")
            })?;
            let named = digest_param(digest)?;
            let chunk = chunk_headers(req)?;
            match dl.finish(repo, id, named, chunk, payload).await {
                Ok(_) => Ok(created_blob(repo, &named)),
                Err(e) => Err(out_of_order(e, repo, &id)),
            }
        }
        Method::DELETE => {
            dl.cancel(repo, id).await?;
            Ok(empty(StatusCode::NO_CONTENT).finish())
        }
        m => Err(OciError::method_not_allowed(m.as_str(), "GET, HEAD, PATCH, PUT, DELETE", "an upload")),
    }
}

/// A 416 also says where the upload stands, so the client can resume there.
fn out_of_order(e: Error, repo: &Repository, id: &Uuid) -> OciError {
    let at = match &e {
        Error::OutOfOrder { size, .. } => Some(*size),
        _ => None,
    };
    let err = OciError::from(e);
    match at {
        Some(size) => err
            .with_header(header::LOCATION, &upload_location(repo, id))
            .with_header(header::RANGE, &chunk::progress(size))
            .with_header(header::HeaderName::from_static("docker-upload-uuid"), &id.to_string()),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_query_reads_digest_mount_and_from() {
        let q = start_query("mount=sha256%3Aab&from=loc%2Fteam%2Fapp&other=1");
        assert_eq!(q, StartQuery { digest: None, mount: Some("sha256:ab".into()), from: Some("loc/team/app".into()) });
        assert_eq!(start_query("digest=sha256:00").digest.as_deref(), Some("sha256:00"));
        assert_eq!(start_query(""), StartQuery::default());
    }
}

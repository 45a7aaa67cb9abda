//! Local docker repositories on `/v2`: artifactapi as a registry of its own (push and pull).
//!
//! The router ([`super::route`]) has already parsed the path into an [`Endpoint`] (repository,
//! image name and operation) and found that `endpoint.repo` is a local docker repository. Here
//! the method and query decide the operation; each handler checks access ([`auth`]), calls the
//! layer below ([`crate::docker_local`]) and writes the registry's headers. Bodies are
//! streamed (blob uploads) or read up to the manifest limit; nothing is buffered beyond that.
//!
//! - [`blobs`]: blob reads and deletes, uploads (monolithic, chunked, streamed), mounts.
//! - [`manifests`]: manifest pulls, pushes and deletes, tag lists, referrers.
//! - [`auth`]: the write credential and its challenge.

pub mod auth;
pub mod blobs;
pub mod manifests;

use std::sync::Arc;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};

use super::error::{OciCode, OciError};
use crate::docker_local::{Error, Repository};
use crate::formats::docker::{Endpoint, Op};
use crate::locals::LocalSpec;
use crate::state::AppState;

/// `Docker-Content-Digest`: the digest of a blob or manifest answered or stored.
pub const CONTENT_DIGEST: &str = "docker-content-digest";

/// Serves one `/v2` request to the local docker repository `local`. `payload` is the request
/// body as a stream (no size limit is applied before this point).
pub async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    local: Arc<LocalSpec>,
    endpoint: Endpoint,
) -> Result<HttpResponse, OciError> {
    let repo = Repository::new(local.name.clone(), endpoint.name.as_str());
    let method = req.method().clone();
    // An upload's status is part of a push, so it needs the write credential too.
    let read = (method == Method::GET || method == Method::HEAD) && !matches!(endpoint.op, Op::Upload(_));
    if read {
        auth::require_read(req, state, &local.name, state.config.admin_token_reads)?;
    } else {
        auth::require_write(req, state, &local.name)?;
    }
    let dl = state.docker_local();
    match (endpoint.op, method) {
        (Op::Manifest(r), Method::GET | Method::HEAD) => manifests::get(req, &dl, &repo, r).await,
        (Op::Manifest(r), Method::PUT) => manifests::put(req, payload, state, &repo, r).await,
        (Op::Manifest(r), Method::DELETE) => manifests::delete(&dl, &repo, r).await,
        (Op::Manifest(_), m) => Err(not_allowed(&m, "GET, HEAD, PUT, DELETE", "a manifest")),
        (Op::Blob(d), Method::GET | Method::HEAD) => blobs::get(req, &dl, &repo, d).await,
        (Op::Blob(d), Method::DELETE) => blobs::delete(&dl, &repo, d).await,
        (Op::Blob(_), m) => Err(not_allowed(&m, "GET, HEAD, DELETE", "a blob")),
        (Op::UploadStart, Method::POST) => blobs::start(req, payload, state, &dl, &repo).await,
        (Op::UploadStart, m) => Err(not_allowed(&m, "POST", "blobs/uploads/")),
        (Op::Upload(id), m) => blobs::upload(req, payload, &dl, &repo, id.as_str(), m).await,
        (Op::Tags, Method::GET | Method::HEAD) => manifests::tags(req, &dl, &repo).await,
        (Op::Tags, m) => Err(not_allowed(&m, "GET, HEAD", "tags/list")),
        (Op::Referrers(d), Method::GET | Method::HEAD) => manifests::referrers(req, &dl, &repo, d).await,
        (Op::Referrers(_), m) => Err(not_allowed(&m, "GET, HEAD", "referrers")),
    }
}

fn not_allowed(method: &Method, allow: &'static str, what: &str) -> OciError {
    OciError::method_not_allowed(method.as_str(), allow, what)
}

/// A HEAD answer: the length a GET would have, and no body (actix-http writes the
/// Content-Length of a sized body and sends no body bytes for HEAD).
pub(crate) fn head_only(mut resp: HttpResponseBuilder, length: u64) -> HttpResponse {
    let empty = futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
    resp.no_chunking(length).streaming(empty)
}

/// An empty answer with a sized body (`Content-Length: 0`).
fn empty(status: StatusCode) -> HttpResponseBuilder {
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::CONTENT_LENGTH, "0"));
    resp
}

impl From<Error> for OciError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::NameUnknown(_) => OciCode::NameUnknown,
            Error::NameInvalid(_) => OciCode::NameInvalid,
            Error::BlobUnknown(_) => OciCode::BlobUnknown,
            Error::UploadUnknown(_) => OciCode::BlobUploadUnknown,
            Error::UploadInvalid(_) | Error::OutOfOrder { .. } | Error::Body(_) => OciCode::BlobUploadInvalid,
            Error::DigestInvalid(_) => OciCode::DigestInvalid,
            Error::ManifestUnknown(_) => OciCode::ManifestUnknown,
            Error::ManifestInvalid(_) => OciCode::ManifestInvalid,
            Error::ManifestBlobUnknown { .. } => OciCode::ManifestBlobUnknown,
            Error::TagInvalid(_) => OciCode::TagInvalid,
            Error::SizeInvalid(_) | Error::TooLarge { .. } => OciCode::SizeInvalid,
            Error::Unsupported(_) => OciCode::Unsupported,
            _ if e.status() == 503 => OciCode::Unavailable,
            Error::Db(_) | Error::Store(_) | Error::Actor(_) => OciCode::Unknown,
        };
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %e, "local docker repository request failed");
        }
        let mut err = OciError::new(code, e.to_string()).with_status(status);
        let detail = e.detail();
        if !detail.is_null() {
            err = err.with_detail(detail);
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use artifactapi_actors::storage::StoreError;
    use artifactapi_actors::Digest;

    use super::*;
    use crate::db::DbError;

    #[test]
    fn errors_carry_the_spec_codes() {
        let d = Digest::of(b"x");
        let cases: Vec<(Error, &str, u16)> = vec![
            (Error::NameUnknown("l/a".into()), "NAME_UNKNOWN", 404),
            (Error::BlobUnknown(d.into()), "BLOB_UNKNOWN", 404),
            (Error::UploadUnknown("u".into()), "BLOB_UPLOAD_UNKNOWN", 404),
            (Error::UploadInvalid("x".into()), "BLOB_UPLOAD_INVALID", 400),
            (Error::OutOfOrder { start: 5, size: 3 }, "BLOB_UPLOAD_INVALID", 416),
            (Error::Body("reset".into()), "BLOB_UPLOAD_INVALID", 400),
            (Error::DigestInvalid("x".into()), "DIGEST_INVALID", 400),
            (Error::ManifestUnknown("latest".into()), "MANIFEST_UNKNOWN", 404),
            (Error::ManifestInvalid("x".into()), "MANIFEST_INVALID", 400),
            (Error::ManifestBlobUnknown { digest: d, what: "blob" }, "MANIFEST_BLOB_UNKNOWN", 400),
            (Error::TagInvalid("x".into()), "TAG_INVALID", 400),
            (Error::TooLarge { what: "manifest", limit: 8 }, "SIZE_INVALID", 413),
            (Error::Unsupported("x".into()), "UNSUPPORTED", 405),
            (Error::Db(DbError::Unavailable("down".into())), "UNAVAILABLE", 503),
            (Error::Store(StoreError::S3("down".into())), "UNAVAILABLE", 503),
            (Error::Db(DbError::Query("bug".into())), "UNKNOWN", 500),
        ];
        for (e, code, status) in cases {
            let text = e.to_string();
            let oci = OciError::from(e);
            assert_eq!((oci.code.as_str(), oci.status.as_u16()), (code, status), "{text}");
            assert_eq!(oci.body()["errors"][0]["code"], code);
        }
        let detail = OciError::from(Error::ManifestBlobUnknown { digest: d, what: "blob" }).body();
        assert_eq!(detail["errors"][0]["detail"]["digest"], d.to_string());
    }
}

//! Errors of local docker repositories, one variant per error code of the distribution spec.
//!
//! The layer below HTTP decides *what* went wrong; the `/v2/` handlers render it as an OCI
//! error body (`{"errors":[{"code","message","detail"}]}`) with the code each variant names
//! and [`Error::status`]. Catalog and storage failures keep their own meaning: unavailable is a
//! 503 the client may retry, anything else a 500.

use artifactapi_actors::storage::{CommitError, StoreError};
use artifactapi_actors::Digest;

use super::chunk::ChunkError;
use crate::db::DbError;
use crate::formats::docker::OciDigest;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("repository {0} not known")]
    NameUnknown(String),
    #[error("{0}")]
    NameInvalid(String),
    #[error("blob {0} not known in this repository")]
    BlobUnknown(OciDigest),
    #[error("upload {0} not known (finished, cancelled or expired)")]
    UploadUnknown(String),
    #[error("{0}")]
    UploadInvalid(String),
    /// A chunk that does not start where the upload stands (416).
    #[error("chunk starts at byte {start}, but the upload has {size} bytes")]
    OutOfOrder { start: u64, size: u64 },
    #[error("{0}")]
    DigestInvalid(String),
    #[error("manifest {0} not known in this repository")]
    ManifestUnknown(String),
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("the manifest references {digest}, which is no {what} of this repository")]
    ManifestBlobUnknown { digest: Digest, what: &'static str },
    #[error("{0}")]
    TagInvalid(String),
    #[error("{0}")]
    SizeInvalid(String),
    /// A body over a limit (413).
    #[error("{what} larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    #[error("{0}")]
    Unsupported(String),
    #[error("reading the request body: {0}")]
    Body(String),
    #[error("catalog: {0}")]
    Db(#[from] DbError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("storage actor: {0}")]
    Actor(String),
}

impl Error {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::NameUnknown(_) | Error::BlobUnknown(_) | Error::UploadUnknown(_) | Error::ManifestUnknown(_) => 404,
            Error::OutOfOrder { .. } => 416,
            Error::TooLarge { .. } => 413,
            Error::Unsupported(_) => 405,
            Error::Db(e) if e.is_unavailable() => 503,
            Error::Store(StoreError::Io(_)) | Error::Store(StoreError::S3(_)) => 503,
            Error::Db(_) | Error::Store(_) | Error::Actor(_) => 500,
            _ => 400,
        }
    }

    /// A machine-readable detail for the error body, where there is one.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            Error::BlobUnknown(d) => serde_json::json!({ "digest": d.to_string() }),
            Error::ManifestBlobUnknown { digest, .. } => serde_json::json!({ "digest": digest.to_string() }),
            Error::OutOfOrder { size, .. } => serde_json::json!({ "size": size }),
            Error::TooLarge { limit, .. } => serde_json::json!({ "limit": limit }),
            _ => serde_json::Value::Null,
        }
    }
}

impl From<ChunkError> for Error {
    fn from(e: ChunkError) -> Self {
        match e {
            ChunkError::Invalid(m) => Error::UploadInvalid(m),
            ChunkError::OutOfOrder { start, size } => Error::OutOfOrder { start, size },
        }
    }
}

impl From<CommitError> for Error {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::DigestMismatch { expected, actual } => {
                Error::DigestInvalid(format!("the uploaded bytes are {actual}, not {expected}"))
            }
            CommitError::Store(e) => Error::Store(e),
            other => Error::Actor(other.to_string()),
        }
    }
}

impl From<actix::MailboxError> for Error {
    fn from(e: actix::MailboxError) -> Self {
        Error::Actor(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let d = Digest::of(b"x");
        let cases: Vec<(Error, u16)> = vec![
            (Error::NameUnknown("l/a".into()), 404),
            (Error::BlobUnknown(d.into()), 404),
            (Error::UploadUnknown("u".into()), 404),
            (Error::UploadInvalid("x".into()), 400),
            (ChunkError::OutOfOrder { start: 5, size: 3 }.into(), 416),
            (CommitError::DigestMismatch { expected: d, actual: d }.into(), 400),
            (Error::ManifestUnknown("latest".into()), 404),
            (Error::ManifestInvalid("x".into()), 400),
            (Error::ManifestBlobUnknown { digest: d, what: "blob" }, 400),
            (Error::TooLarge { what: "manifest", limit: 8 }, 413),
            (Error::Db(DbError::Unavailable("down".into())), 503),
            (Error::Db(DbError::Query("bug".into())), 500),
        ];
        for (e, status) in cases {
            assert_eq!(e.status(), status, "{e}");
        }
        assert_eq!(Error::OutOfOrder { start: 5, size: 3 }.detail(), serde_json::json!({"size": 3}));
    }
}

//! Errors of local docker repositories, each with the distribution spec's code and status.
//!
//! The layer below HTTP decides *what* went wrong; the `/v2/` handlers render it as an OCI
//! error body (`{"errors":[{"code","message","detail"}]}`) with [`Error::code`] and
//! [`Error::status`]. Catalog and storage failures keep their own meaning: unavailable is a
//! 503 the client may retry, anything else a 500.

use artifactapi_actors::storage::{CommitError, StoreError};
use artifactapi_actors::Digest;

use super::chunk::ChunkError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("repository {0} not known")]
    NameUnknown(String),
    #[error("{0}")]
    NameInvalid(String),
    #[error("blob {0} not known in this repository")]
    BlobUnknown(Digest),
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
    /// The distribution spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NameUnknown(_) => "NAME_UNKNOWN",
            Error::NameInvalid(_) => "NAME_INVALID",
            Error::BlobUnknown(_) => "BLOB_UNKNOWN",
            Error::UploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            Error::UploadInvalid(_) | Error::OutOfOrder { .. } | Error::Body(_) => "BLOB_UPLOAD_INVALID",
            Error::DigestInvalid(_) => "DIGEST_INVALID",
            Error::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            Error::ManifestInvalid(_) => "MANIFEST_INVALID",
            Error::ManifestBlobUnknown { .. } => "MANIFEST_BLOB_UNKNOWN",
            Error::TagInvalid(_) => "TAG_INVALID",
            Error::SizeInvalid(_) | Error::TooLarge { .. } => "SIZE_INVALID",
            Error::Unsupported(_) => "UNSUPPORTED",
            Error::Db(_) | Error::Store(_) | Error::Actor(_) => "UNKNOWN",
        }
    }

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
    fn codes_and_statuses() {
        let d = Digest::of(b"x");
        let cases: Vec<(Error, &str, u16)> = vec![
            (Error::NameUnknown("l/a".into()), "NAME_UNKNOWN", 404),
            (Error::BlobUnknown(d), "BLOB_UNKNOWN", 404),
            (Error::UploadUnknown("u".into()), "BLOB_UPLOAD_UNKNOWN", 404),
            (Error::UploadInvalid("x".into()), "BLOB_UPLOAD_INVALID", 400),
            (ChunkError::OutOfOrder { start: 5, size: 3 }.into(), "BLOB_UPLOAD_INVALID", 416),
            (CommitError::DigestMismatch { expected: d, actual: d }.into(), "DIGEST_INVALID", 400),
            (Error::ManifestUnknown("latest".into()), "MANIFEST_UNKNOWN", 404),
            (Error::ManifestInvalid("x".into()), "MANIFEST_INVALID", 400),
            (Error::ManifestBlobUnknown { digest: d, what: "blob" }, "MANIFEST_BLOB_UNKNOWN", 400),
            (Error::TagInvalid("x".into()), "TAG_INVALID", 400),
            (Error::TooLarge { what: "manifest", limit: 8 }, "SIZE_INVALID", 413),
            (Error::Db(DbError::Unavailable("down".into())), "UNKNOWN", 503),
            (Error::Db(DbError::Query("bug".into())), "UNKNOWN", 500),
        ];
        for (e, code, status) in cases {
            assert_eq!((e.code(), e.status()), (code, status), "{e}");
        }
        assert_eq!(Error::OutOfOrder { start: 5, size: 3 }.detail(), serde_json::json!({"size": 3}));
    }
}

//! Why a write to (or a read of) a local repository failed, with the status each protocol's
//! error format carries it with.

use artifactapi_actors::digest::Digest;
use artifactapi_actors::storage::CommitError;

use crate::db::DbError;
use crate::paths::PathError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LocalError {
    /// Malformed: a path, a name, a version, a body that is not what the protocol says (400).
    #[error("{0}")]
    Invalid(String),
    /// The bytes do not hash to what the client said they do (400); nothing is stored.
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: Digest },
    /// Nothing there (404).
    #[error("{0}")]
    NotFound(String),
    /// The method does not apply to this path (405).
    #[error("{0}")]
    NotAllowed(String),
    /// Already there, and not replaceable (409), or refused by the protocol's rules (a version
    /// published before: npm answers 403, which [`LocalError::Forbidden`] carries).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    /// No credential, or one that is no token, where the protocol needs one (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Larger than the configured limit (413).
    #[error("upload larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The request body broke off or could not be read (400).
    #[error("reading the upload: {0}")]
    Body(String),
    /// A dependency of this server (the catalog, the store) is unavailable (503).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// A path that does not decode to one below the repository (traversal, an encoded separator, a
/// control character, ...) is malformed: every local's write checks its path the same way.
impl From<PathError> for LocalError {
    fn from(e: PathError) -> LocalError {
        LocalError::Invalid(format!("invalid path: {e}"))
    }
}

impl LocalError {
    pub fn status(&self) -> u16 {
        match self {
            LocalError::Invalid(_) | LocalError::DigestMismatch { .. } | LocalError::Body(_) => 400,
            LocalError::Unauthorized(_) => 401,
            LocalError::Forbidden(_) => 403,
            LocalError::NotFound(_) => 404,
            LocalError::NotAllowed(_) => 405,
            LocalError::Conflict(_) => 409,
            LocalError::TooLarge { .. } => 413,
            LocalError::Unavailable(_) => 503,
            LocalError::Internal(_) => 500,
        }
    }
}

impl From<DbError> for LocalError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => LocalError::Unavailable(e.to_string()),
            DbError::Conflict(m) => LocalError::Conflict(m),
            DbError::NotFound(m) => LocalError::NotFound(m),
            DbError::Query(_) => LocalError::Internal(e.to_string()),
        }
    }
}

impl From<CommitError> for LocalError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::DigestMismatch { expected, actual } => {
                LocalError::DigestMismatch { expected: expected.to_string(), actual }
            }
            other => LocalError::Unavailable(format!("storing the upload: {other}")),
        }
    }
}

//! The content-addressable store and the actor that guards it.
//!
//! Every byte artifactapi serves from cache lives in a [`BlobStore`] under
//! `blobs/sha256/{hash}`. Bytes arrive in a local staging file ([`staging::StagingWriter`]) that
//! hashes as it writes; only the [`StorageActor`] publishes a staged file, and only after its
//! digest matched what was expected. Reads do not go through the actor: handlers call
//! [`BlobStore::open`] directly.

pub mod actor;
pub mod fs;
pub mod gc;
pub mod memcache;
pub mod parts;
pub mod s3;
mod s3_parts;
pub mod staging;
#[cfg(feature = "testing")]
pub mod testing;

use std::io;
use std::path::Path;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;

use crate::digest::Digest;

pub use actor::{Commit, CommitError, CommitPart, Committed, Gc, StorageActor};
pub use fs::FsStore;
pub use gc::{GcError, GcReport};
pub use memcache::MemoryCached;
pub use parts::{PartKey, PartMeta};
pub use s3::{S3Settings, S3Store};
pub use staging::{Staged, StagingArea, StagingWriter};

/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// An inclusive byte range `start..=end`, already checked against the blob's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What the store knows of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub digest: Digest,
    pub size: u64,
    /// When the blob was written to the store (used by GC's grace period).
    pub modified: DateTime<Utc>,
}

/// Storage errors. `NotFound` is its own variant because callers treat it as a cache miss.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob {0} not found")]
    NotFound(Digest),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("range {start}-{end} not satisfiable for a blob of {size} bytes")]
    Range { start: u64, end: u64, size: u64 },
    #[error("storage I/O: {0}")]
    Io(#[from] io::Error),
    #[error("S3: {0}")]
    S3(String),
}

/// A content-addressable blob store. Implementations: [`fs::FsStore`], [`s3::S3Store`].
///
/// Writers never write into the store directly: bytes are staged locally, verified, and then
/// handed to [`BlobStore::publish`], which makes them visible atomically (rename on a
/// filesystem, a single PUT or completed multipart upload on S3).
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// A short name for logs and health checks (`fs`, `s3`).
    fn kind(&self) -> &'static str;

    /// Publishes a verified staged file as `blobs/sha256/{digest}`. The staged file is consumed
    /// (moved or deleted). Publishing a digest that already exists is not an error.
    async fn publish(&self, staged: &Path, digest: &Digest, size: u64) -> Result<(), StoreError>;

    /// Opens a blob for reading, optionally a byte range of it (already validated by the caller
    /// against the size it knows; the store re-checks and returns `Range` if it does not fit).
    async fn open(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, StoreError>;

    /// Size and write time of a blob, `None` if absent.
    async fn stat(&self, digest: &Digest) -> Result<Option<BlobMeta>, StoreError>;

    /// Deletes a blob; deleting an absent blob is not an error.
    async fn delete(&self, digest: &Digest) -> Result<(), StoreError>;

    /// Every blob in the store.
    async fn list(&self) -> Result<Vec<BlobMeta>, StoreError>;

    /// A cheap round trip proving the store answers (for health checks).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a staged file as one part of an upload in progress, at `uploads/{upload}/{part}`
    /// (see [`parts`]); the staged file is consumed. Parts are never blobs: nothing serves
    /// them, and [`BlobStore::list`] (so GC) never sees them.
    async fn put_part(&self, staged: &Path, key: &PartKey, size: u64) -> Result<(), StoreError>;

    /// Reads a stored part whole.
    async fn open_part(&self, key: &PartKey) -> Result<ByteStream, StoreError>;

    /// Makes a stored part the blob `digest` (rename on a filesystem, server-side copy on S3,
    /// parts of at most [`parts::PROMOTE_MAX`] bytes) and removes the part. The caller vouches
    /// for the digest (it hashed the bytes when they were stored); only the
    /// [`StorageActor`] calls this. If the blob exists already the part is just removed.
    async fn publish_part(&self, key: &PartKey, digest: &Digest, size: u64) -> Result<(), StoreError>;

    /// Deletes every part of an upload; an upload without parts is not an error.
    async fn delete_upload(&self, upload: &uuid::Uuid) -> Result<(), StoreError>;

    /// Every part of every upload in the store (for sweeping parts whose upload is gone).
    async fn list_parts(&self) -> Result<Vec<PartMeta>, StoreError>;
}

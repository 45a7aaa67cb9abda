//! What the actors need from the catalog (PostgreSQL, implemented in the service crate).
//!
//! The catalog is the source of truth for what is cached where: a cached object maps
//! `(repo, path, variant)` to a blob digest plus the upstream validators needed to revalidate
//! it. Blobs have their own rows so the garbage collector can decide, under a row lock, that a
//! blob is referenced by nothing before it deletes the bytes.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::digest::Digest;
use crate::storage::StoreError;

/// Catalog errors. `Unavailable` (the database is down or the pool timed out) becomes a 503.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog unavailable: {0}")]
    Unavailable(String),
    #[error("catalog: {0}")]
    Query(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Identifies one cached object. `variant` is empty for most objects; formats with content
/// negotiation (PEP 691 JSON vs HTML, npm abbreviated metadata) use it to keep one entry each.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub repo: String,
    pub path: String,
    pub variant: String,
}

impl ObjectKey {
    pub fn new(repo: impl Into<String>, path: impl Into<String>, variant: impl Into<String>) -> Self {
        ObjectKey { repo: repo.into(), path: path.into(), variant: variant.into() }
    }

    /// The object part of coordinator keys: `{variant}|{path}`.
    pub fn coord_key(&self) -> String {
        format!("{}|{}", self.variant, self.path)
    }
}

/// One cached object as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedObject {
    pub key: ObjectKey,
    pub digest: Digest,
    pub size: u64,
    pub content_type: Option<String>,
    /// Upstream validators, replayed as If-None-Match / If-Modified-Since on revalidation.
    pub upstream_etag: Option<String>,
    pub upstream_last_modified: Option<String>,
    pub mutable: bool,
    pub fetched_at: DateTime<Utc>,
}

/// Hits to add to an object, batched by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HitBatch {
    pub key: ObjectKey,
    pub hits: u64,
    pub last_access: DateTime<Utc>,
}

/// A future the GC hands to [`Catalog::gc_delete_blob`] to delete the bytes while the blob row
/// is locked.
pub type DeleteBytes<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// The cached object at `key`, if any.
    async fn lookup(&self, key: &ObjectKey) -> Result<Option<CachedObject>, CatalogError>;

    /// Inserts or replaces the cached object at `obj.key` (hits are kept on replace).
    async fn put_object(&self, obj: &CachedObject) -> Result<(), CatalogError>;

    /// After a 304: records the (possibly new) validators without changing the bytes.
    async fn renew_object(
        &self,
        key: &ObjectKey,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<(), CatalogError>;

    /// Adds hits and last-access times (called in batches, off the request path).
    async fn record_hits(&self, batch: &[HitBatch]) -> Result<(), CatalogError>;

    /// Records a blob as present and just used (`last_seen = now()`); returns true when the row
    /// was created rather than updated (the caller must then make sure the bytes are published).
    /// Blocks while GC holds the row.
    async fn upsert_blob(&self, digest: &Digest, size: u64) -> Result<bool, CatalogError>;

    /// Garbage-collects one blob: in one transaction, deletes its row if no cached object, local
    /// file or open upload references it and it was last seen before `cutoff` (a store blob
    /// without a row counts as last seen at the epoch), runs `delete_bytes` while holding the
    /// row, and commits only if that succeeded. Returns whether the blob was deleted.
    async fn gc_delete_blob(
        &self,
        digest: &Digest,
        size: u64,
        cutoff: DateTime<Utc>,
        delete_bytes: DeleteBytes<'_>,
    ) -> Result<bool, CatalogError>;

    /// Whether a blob is referenced by anything (for GC dry runs and reports).
    async fn blob_referenced(&self, digest: &Digest) -> Result<bool, CatalogError>;
}

//! An in-memory [`Catalog`] test double for the StorageActor and GC tests.
//!
//! The real catalog is PostgreSQL and lives in the service crate (`src/db/`), which this crate
//! must not depend on; the real PostgreSQL catalog is exercised by the service crate's
//! integration tests. This double keeps the semantics the actor relies on: `upsert_blob` bumps
//! `last_seen` and says whether it created the row, and `gc_delete_blob` holds one lock (the
//! stand-in for the blob's row lock) while it checks references and `last_seen` against the
//! cutoff and deletes the bytes, removing the row only when the bytes went.

use std::collections::{HashMap, HashSet};

use artifactapi_actors::catalog::{CachedObject, Catalog, CatalogError, DeleteBytes, HitBatch, ObjectKey};
use artifactapi_actors::Digest;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRow {
    pub size: u64,
    pub last_seen: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    objects: HashMap<ObjectKey, CachedObject>,
    blobs: HashMap<Digest, BlobRow>,
    /// References other than cached objects (local files, open uploads).
    pins: HashSet<Digest>,
}

impl State {
    fn referenced(&self, digest: &Digest) -> bool {
        self.pins.contains(digest) || self.objects.values().any(|o| o.digest == *digest)
    }
}

#[derive(Default)]
pub struct MemoryCatalog {
    state: Mutex<State>,
}

impl MemoryCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a reference from a local file or an upload.
    pub async fn pin(&self, digest: Digest) {
        self.state.lock().await.pins.insert(digest);
    }

    pub async fn blob_row(&self, digest: &Digest) -> Option<BlobRow> {
        self.state.lock().await.blobs.get(digest).copied()
    }

    pub async fn blob_rows(&self) -> usize {
        self.state.lock().await.blobs.len()
    }

    pub async fn object_count(&self) -> usize {
        self.state.lock().await.objects.len()
    }

    /// Pretends the row was last used at `when`.
    pub async fn set_last_seen(&self, digest: &Digest, when: DateTime<Utc>) {
        if let Some(row) = self.state.lock().await.blobs.get_mut(digest) {
            row.last_seen = when;
        }
    }
}

#[async_trait]
impl Catalog for MemoryCatalog {
    async fn lookup(&self, key: &ObjectKey) -> Result<Option<CachedObject>, CatalogError> {
        Ok(self.state.lock().await.objects.get(key).cloned())
    }

    async fn put_object(&self, obj: &CachedObject) -> Result<(), CatalogError> {
        self.state.lock().await.objects.insert(obj.key.clone(), obj.clone());
        Ok(())
    }

    async fn renew_object(
        &self,
        key: &ObjectKey,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<(), CatalogError> {
        if let Some(obj) = self.state.lock().await.objects.get_mut(key) {
            obj.upstream_etag = etag.map(str::to_string);
            obj.upstream_last_modified = last_modified.map(str::to_string);
        }
        Ok(())
    }

    async fn record_hits(&self, _batch: &[HitBatch]) -> Result<(), CatalogError> {
        Ok(())
    }

    async fn upsert_blob(&self, digest: &Digest, size: u64) -> Result<bool, CatalogError> {
        let mut state = self.state.lock().await;
        let created = !state.blobs.contains_key(digest);
        state.blobs.insert(*digest, BlobRow { size, last_seen: Utc::now() });
        Ok(created)
    }

    async fn gc_delete_blob(
        &self,
        digest: &Digest,
        _size: u64,
        cutoff: DateTime<Utc>,
        delete_bytes: DeleteBytes<'_>,
    ) -> Result<bool, CatalogError> {
        let mut state = self.state.lock().await;
        let last_seen = state.blobs.get(digest).map(|r| r.last_seen).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        if state.referenced(digest) || last_seen >= cutoff {
            return Ok(false);
        }
        delete_bytes.await?;
        state.blobs.remove(digest);
        Ok(true)
    }

    async fn blob_referenced(&self, digest: &Digest) -> Result<bool, CatalogError> {
        Ok(self.state.lock().await.referenced(digest))
    }
}

//! Garbage collection of the content-addressable store: mark-and-sweep with a grace period.
//!
//! The catalog is the mark: a blob is live while a cached object, a local file or an open
//! upload references it, or while its row was touched (`last_seen`) after the cutoff. The sweep
//! lists the store and, for every blob written before the cutoff (`t0 - grace`), asks the
//! catalog to delete it under the blob's row lock ([`Catalog::gc_delete_blob`]), handing it the
//! deletion of the bytes so row and bytes go together or not at all.
//!
//! Why a blob written or committed during the sweep survives: its store mtime is after the
//! cutoff (so it is never a candidate), and a commit of bytes that were already there bumps the
//! row's `last_seen` through `upsert_blob` before anything else, so the catalog refuses to
//! delete it. Within one process, each deletion also holds the store's write lock, the same one
//! commits hold, so a commit and a deletion never interleave; across processes the row lock does
//! that. Everything else (listing, the age check, dry-run lookups) runs without the write lock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Mutex;

use super::{BlobMeta, BlobStore, StoreError};
use crate::catalog::{Catalog, CatalogError};

/// What to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// Report what would be deleted without deleting anything.
    pub dry_run: bool,
    /// Blobs younger than this are never deleted.
    pub grace: Duration,
}

/// What one sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Blobs listed in the store.
    pub scanned: u64,
    /// Blobs deleted (in a dry run: that would have been deleted).
    pub deleted: u64,
    pub deleted_bytes: u64,
    /// Old enough, but referenced by a cached object, local file or upload.
    pub kept_referenced: u64,
    /// Written (or, per the catalog, last used) within the grace period.
    pub kept_recent: u64,
    /// Blobs whose deletion failed (logged; the sweep goes on).
    pub failed: u64,
    pub dry_run: bool,
    pub duration_ms: u64,
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("a garbage collection is already running")]
    Busy,
    #[error("listing the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// The sweep's cutoff: blobs written before it are candidates.
pub fn cutoff(t0: DateTime<Utc>, grace: Duration) -> DateTime<Utc> {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    t0.checked_sub_signed(grace).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether a blob is too young to be considered at all.
pub fn is_recent(meta: &BlobMeta, cutoff: DateTime<Utc>) -> bool {
    meta.modified >= cutoff
}

/// One sweep over the whole store. `write_lock` is the lock commits hold; it is taken around
/// each single deletion only.
pub async fn sweep(
    store: &dyn BlobStore,
    catalog: &dyn Catalog,
    options: GcOptions,
    write_lock: &Mutex<()>,
) -> Result<GcReport, GcError> {
    let started = std::time::Instant::now();
    let cutoff = cutoff(Utc::now(), options.grace);
    let blobs = store.list().await?;
    let mut report = GcReport { dry_run: options.dry_run, ..GcReport::default() };
    for meta in blobs {
        report.scanned += 1;
        if is_recent(&meta, cutoff) {
            report.kept_recent += 1;
        } else if options.dry_run {
            if catalog.blob_referenced(&meta.digest).await? {
                report.kept_referenced += 1;
            } else {
                report.deleted += 1;
                report.deleted_bytes += meta.size;
            }
        } else {
            collect_one(store, catalog, &meta, cutoff, write_lock, &mut report).await?;
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Deletes one candidate if the catalog agrees, and counts the outcome. Only an unavailable
/// catalog stops the sweep; other failures are counted and logged.
async fn collect_one(
    store: &dyn BlobStore,
    catalog: &dyn Catalog,
    meta: &BlobMeta,
    cutoff: DateTime<Utc>,
    write_lock: &Mutex<()>,
    report: &mut GcReport,
) -> Result<(), GcError> {
    let outcome = {
        let _write = write_lock.lock().await;
        catalog.gc_delete_blob(&meta.digest, meta.size, cutoff, store.delete(&meta.digest)).await
    };
    match outcome {
        Ok(true) => {
            report.deleted += 1;
            report.deleted_bytes += meta.size;
        }
        // Refused: referenced, or used since the cutoff. Ask which, for the report.
        Ok(false) => match catalog.blob_referenced(&meta.digest).await {
            Ok(false) => report.kept_recent += 1,
            _ => report.kept_referenced += 1,
        },
        Err(e @ CatalogError::Unavailable(_)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(digest = %meta.digest, error = %e, "gc: could not delete blob");
            report.failed += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    #[test]
    fn cutoff_and_recency() {
        let t0 = Utc::now();
        let c = cutoff(t0, Duration::from_secs(60));
        assert_eq!(t0 - c, chrono::Duration::seconds(60));
        let meta =
            |age: i64| BlobMeta { digest: Digest::of(b"x"), size: 1, modified: t0 - chrono::Duration::seconds(age) };
        assert!(is_recent(&meta(59), c));
        assert!(is_recent(&meta(60), c));
        assert!(!is_recent(&meta(61), c));
        assert_eq!(cutoff(t0, Duration::MAX), DateTime::<Utc>::MIN_UTC);
        assert_eq!(cutoff(t0, Duration::ZERO), t0);
    }
}

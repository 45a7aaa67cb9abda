//! The storage actor and its garbage collector against the real catalog (PostgreSQL) and the
//! filesystem store: commits publish only verified bytes, and GC reaps exactly the blobs that
//! nothing references once they are past the grace period.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use artifactapi::db::testing::TestDatabase;
use artifactapi::db::PgCatalog;
use artifactapi_actors::catalog::{CachedObject, Catalog, ObjectKey};
use artifactapi_actors::events::NoEvents;
use artifactapi_actors::storage::{BlobStore, Commit, FsStore, Gc, StagingArea, StorageActor};
use artifactapi_actors::Digest;

async fn stage(area: &StagingArea, bytes: &[u8]) -> artifactapi_actors::storage::Staged {
    let mut w = area.create().await.unwrap();
    w.write(bytes).await.unwrap();
    w.finish().await.unwrap()
}

fn object(path: &str, digest: Digest, size: u64) -> CachedObject {
    CachedObject {
        key: ObjectKey::new("gc-remote", path, ""),
        digest,
        size,
        content_type: None,
        upstream_etag: None,
        upstream_last_modified: None,
        mutable: false,
        fetched_at: chrono::Utc::now(),
    }
}

#[actix_rt::test]
async fn commits_verify_and_gc_reaps_only_unreferenced_blobs() {
    let (db_guard, db) = TestDatabase::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(FsStore::new(dir.path()).unwrap());
    let catalog: Arc<dyn Catalog> = Arc::new(PgCatalog::new(db.clone()));
    let area = StagingArea::new(dir.path().join("staging")).unwrap();
    let storage = StorageActor::new(store.clone(), catalog.clone(), Arc::new(NoEvents)).start();

    // A body whose digest does not match what was promised is never published.
    let bad = stage(&area, b"tampered").await;
    let bad_path = bad.path.clone();
    let refused = storage.send(Commit { staged: bad, expected: Some(Digest::of(b"original")), object: None }).await;
    assert!(refused.unwrap().is_err());
    assert!(!bad_path.exists(), "the staged file of a refused commit is removed");
    assert!(store.stat(&Digest::of(b"tampered")).await.unwrap().is_none());

    // One referenced blob, one orphan (committed without an object).
    let kept = stage(&area, b"referenced bytes").await;
    let kept_digest = kept.digest;
    let obj = object("kept.txt", kept.digest, kept.size);
    storage.send(Commit { staged: kept, expected: None, object: Some(obj) }).await.unwrap().unwrap();
    let orphan = stage(&area, b"orphan bytes").await;
    let orphan_digest = orphan.digest;
    storage.send(Commit { staged: orphan, expected: None, object: None }).await.unwrap().unwrap();

    // Within the grace period nothing goes.
    let young = storage.send(Gc { dry_run: false, grace: Duration::from_secs(3600) }).await.unwrap().unwrap();
    assert_eq!(young.deleted, 0);
    assert_eq!(young.kept_recent, 2);

    // A dry run reports and deletes nothing.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let dry = storage.send(Gc { dry_run: true, grace: Duration::ZERO }).await.unwrap().unwrap();
    assert_eq!(dry.deleted, 1);
    assert!(store.stat(&orphan_digest).await.unwrap().is_some());

    // A real run reaps the orphan and keeps the referenced blob.
    let run = storage.send(Gc { dry_run: false, grace: Duration::ZERO }).await.unwrap().unwrap();
    assert_eq!((run.deleted, run.deleted_bytes, run.kept_referenced), (1, 12, 1));
    assert!(store.stat(&orphan_digest).await.unwrap().is_none());
    assert!(store.stat(&kept_digest).await.unwrap().is_some());
    let found = catalog.lookup(&ObjectKey::new("gc-remote", "kept.txt", "")).await.unwrap();
    assert_eq!(found.map(|o| o.digest), Some(kept_digest));

    // The same bytes committed again after GC are published again.
    let again = stage(&area, b"orphan bytes").await;
    storage.send(Commit { staged: again, expected: Some(orphan_digest), object: None }).await.unwrap().unwrap();
    assert!(store.stat(&orphan_digest).await.unwrap().is_some());

    db_guard.drop().await;
}

//! The StorageActor and its garbage collector, against a real filesystem store.
//!
//! The catalog is the in-memory double in `support/memory_catalog.rs` (the PostgreSQL catalog
//! belongs to the service crate and is exercised by its integration tests). Blob ages are made
//! by setting file mtimes and catalog `last_seen` times into the past.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use actix::{Actor, Addr};
use artifactapi_actors::catalog::{CachedObject, Catalog, ObjectKey};
use artifactapi_actors::events::{Event, EventKind, EventSink};
use artifactapi_actors::storage::{
    BlobMeta, BlobStore, ByteRange, ByteStream, Commit, CommitError, CommitPart, FsStore, Gc, GcError, PartKey,
    PartMeta, Staged, StagingArea, StorageActor, StoreError,
};
use artifactapi_actors::Digest;
use async_trait::async_trait;
use chrono::Utc;
use support::memory_catalog::MemoryCatalog;
use tokio::sync::Notify;

const HOUR: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct RecordedEvents(Mutex<Vec<Event>>);

impl EventSink for RecordedEvents {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

/// Wraps the filesystem store so a test can hold a GC sweep right after it listed the store.
/// Everything else goes straight to the real store.
struct PausingStore {
    inner: FsStore,
    listed: Notify,
    resume: Notify,
    pause_next_list: Mutex<bool>,
}

#[async_trait]
impl BlobStore for PausingStore {
    fn kind(&self) -> &'static str {
        "fs"
    }
    async fn publish(&self, staged: &Path, digest: &Digest, size: u64) -> Result<(), StoreError> {
        self.inner.publish(staged, digest, size).await
    }
    async fn open(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, StoreError> {
        self.inner.open(digest, range).await
    }
    async fn stat(&self, digest: &Digest) -> Result<Option<BlobMeta>, StoreError> {
        self.inner.stat(digest).await
    }
    async fn delete(&self, digest: &Digest) -> Result<(), StoreError> {
        self.inner.delete(digest).await
    }
    async fn list(&self) -> Result<Vec<BlobMeta>, StoreError> {
        let listed = self.inner.list().await;
        let pause = std::mem::take(&mut *self.pause_next_list.lock().unwrap());
        if pause {
            self.listed.notify_one();
            self.resume.notified().await;
        }
        listed
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn put_part(&self, staged: &Path, key: &PartKey, size: u64) -> Result<(), StoreError> {
        self.inner.put_part(staged, key, size).await
    }
    async fn open_part(&self, key: &PartKey) -> Result<ByteStream, StoreError> {
        self.inner.open_part(key).await
    }
    async fn publish_part(&self, key: &PartKey, digest: &Digest, size: u64) -> Result<(), StoreError> {
        self.inner.publish_part(key, digest, size).await
    }
    async fn delete_upload(&self, upload: &uuid::Uuid) -> Result<(), StoreError> {
        self.inner.delete_upload(upload).await
    }
    async fn list_parts(&self) -> Result<Vec<PartMeta>, StoreError> {
        self.inner.list_parts().await
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    fs: FsStore,
    store: Arc<PausingStore>,
    staging: StagingArea,
    catalog: Arc<MemoryCatalog>,
    events: Arc<RecordedEvents>,
    actor: Addr<StorageActor>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let fs = FsStore::new(dir.path()).unwrap();
        let store = Arc::new(PausingStore {
            inner: fs.clone(),
            listed: Notify::new(),
            resume: Notify::new(),
            pause_next_list: Mutex::new(false),
        });
        let staging = StagingArea::new(dir.path().join("staging")).unwrap();
        let catalog = Arc::new(MemoryCatalog::new());
        let events = Arc::new(RecordedEvents::default());
        let actor = StorageActor::new(store.clone(), catalog.clone(), events.clone()).start();
        Fixture { _dir: dir, fs, store, staging, catalog, events, actor }
    }

    async fn stage(&self, bytes: &[u8]) -> Staged {
        let mut w = self.staging.create().await.unwrap();
        w.write(bytes).await.unwrap();
        w.finish().await.unwrap()
    }

    async fn commit(&self, bytes: &[u8], object: Option<&str>) -> Digest {
        let staged = self.stage(bytes).await;
        let object = object.map(|path| cached_object(path, &staged));
        let committed =
            self.actor.send(Commit { expected: Some(staged.digest), staged, object }).await.unwrap().unwrap();
        committed.digest
    }

    /// Makes a blob look written and last used two hours ago.
    async fn age(&self, digest: &Digest) {
        let two_hours_ago = SystemTime::now() - 2 * HOUR;
        let file = std::fs::File::options().write(true).open(self.fs.blob_path(digest)).unwrap();
        file.set_modified(two_hours_ago).unwrap();
        self.catalog.set_last_seen(digest, Utc::now() - chrono::Duration::hours(2)).await;
    }

    async fn gc(&self, dry_run: bool) -> artifactapi_actors::storage::GcReport {
        self.actor.send(Gc { dry_run, grace: HOUR }).await.unwrap().unwrap()
    }

    async fn stored(&self) -> Vec<Digest> {
        let mut all: Vec<_> = self.fs.list().await.unwrap().into_iter().map(|m| m.digest).collect();
        all.sort();
        all
    }

    fn staging_files(&self) -> usize {
        std::fs::read_dir(self.staging.dir()).unwrap().count()
    }
}

fn cached_object(path: &str, staged: &Staged) -> CachedObject {
    CachedObject {
        key: ObjectKey::new("generic-remote", path, ""),
        digest: staged.digest,
        size: staged.size,
        content_type: Some("application/octet-stream".into()),
        upstream_etag: None,
        upstream_last_modified: None,
        mutable: false,
        fetched_at: Utc::now(),
    }
}

#[actix_rt::test]
async fn digest_mismatch_publishes_nothing_and_removes_the_staged_file() {
    let f = Fixture::new();
    let staged = f.stage(b"what arrived").await;
    let path = staged.path.clone();
    let object = Some(cached_object("file.bin", &staged));
    let promised = Digest::of(b"what was promised");
    let result = f.actor.send(Commit { staged, expected: Some(promised), object }).await.unwrap();
    match result {
        Err(CommitError::DigestMismatch { expected, actual }) => {
            assert_eq!((expected, actual), (promised, Digest::of(b"what arrived")));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(!path.exists(), "the staged file must be removed");
    assert!(f.stored().await.is_empty());
    assert_eq!(f.catalog.blob_rows().await, 0);
    assert_eq!(f.catalog.object_count().await, 0);
}

/// An upload stored as one part becomes its blob through the actor: only with the right
/// digest, once, and GC never sees the part meanwhile.
#[actix_rt::test]
async fn a_one_part_upload_is_published_in_place() {
    let f = Fixture::new();
    let upload = uuid::Uuid::new_v4();
    let bytes = b"layer bytes pushed in one chunk";
    let digest = Digest::of(bytes);
    let key = PartKey::new(upload);
    let staged = f.stage(bytes).await;
    f.fs.put_part(&staged.path, &key, staged.size).await.unwrap();
    let size = bytes.len() as u64;

    // Old enough for GC, but parts are no blobs: the sweep does not see it.
    let part_file = std::fs::File::options().write(true).open(f.fs.part_path(&key)).unwrap();
    part_file.set_modified(SystemTime::now() - 2 * HOUR).unwrap();
    let report = f.gc(false).await;
    assert_eq!((report.scanned, report.deleted), (0, 0));
    assert!(f.fs.part_path(&key).is_file());

    let wrong = Digest::of(b"something else");
    let refused = f.actor.send(CommitPart { part: key, digest, size, expected: wrong }).await.unwrap();
    assert!(
        matches!(refused, Err(CommitError::DigestMismatch { expected, actual }) if expected == wrong && actual == digest)
    );
    assert!(f.fs.part_path(&key).is_file(), "a refused part stays with its upload");
    assert!(f.stored().await.is_empty());

    let committed = f.actor.send(CommitPart { part: key, digest, size, expected: digest }).await.unwrap().unwrap();
    assert_eq!((committed.digest, committed.size), (digest, size));
    assert_eq!(f.stored().await, vec![digest]);
    assert!(!f.fs.part_path(&key).exists(), "the part became the blob");
    assert_eq!(f.catalog.blob_rows().await, 1);

    // The same bytes pushed again: the blob stays, the new part is left for its upload.
    let again = PartKey::new(upload);
    let staged = f.stage(bytes).await;
    f.fs.put_part(&staged.path, &again, size).await.unwrap();
    f.actor.send(CommitPart { part: again, digest, size, expected: digest }).await.unwrap().unwrap();
    assert_eq!(f.stored().await, vec![digest]);
    f.fs.delete_upload(&upload).await.unwrap();
    assert!(f.fs.list_parts().await.unwrap().is_empty());
}

#[actix_rt::test]
async fn committing_the_same_bytes_twice_stores_them_once() {
    let f = Fixture::new();
    let first = f.commit(b"shared layer", Some("a/layer")).await;
    let second = f.commit(b"shared layer", Some("b/layer")).await;
    assert_eq!(first, second);
    assert_eq!(f.stored().await, vec![first]);
    assert_eq!(f.staging_files(), 0, "the second staged file is discarded");
    assert_eq!(f.catalog.blob_rows().await, 1);
    assert_eq!(f.catalog.object_count().await, 2);
    let b = f.catalog.lookup(&ObjectKey::new("generic-remote", "b/layer", "")).await.unwrap().unwrap();
    assert_eq!(b.digest, first);
}

#[actix_rt::test]
async fn a_row_without_bytes_gets_its_bytes_back() {
    let f = Fixture::new();
    let d = f.commit(b"lost bytes", None).await;
    f.fs.delete(&d).await.unwrap(); // the row survives, the bytes are gone
    f.commit(b"lost bytes", None).await;
    assert_eq!(f.stored().await, vec![d]);
}

#[actix_rt::test]
async fn commit_without_expectation_checks_the_object_digest() {
    let f = Fixture::new();
    let staged = f.stage(b"bytes").await;
    let path = staged.path.clone();
    let mut object = cached_object("x", &staged);
    object.digest = Digest::of(b"other bytes");
    let result = f.actor.send(Commit { staged, expected: None, object: Some(object) }).await.unwrap();
    assert!(matches!(result, Err(CommitError::ObjectMismatch { .. })), "{result:?}");
    assert!(!path.exists());
    assert!(f.stored().await.is_empty());
}

#[actix_rt::test]
async fn gc_deletes_old_unreferenced_blobs_and_reports_it() {
    let f = Fixture::new();
    let d = f.commit(b"nobody wants me", None).await;
    f.age(&d).await;
    // A blob in the store with no catalog row at all (counts as last seen at the epoch).
    let orphan = f.stage(b"orphan").await;
    f.fs.publish(&orphan.path, &orphan.digest, orphan.size).await.unwrap();
    f.age(&orphan.digest).await;

    let report = f.gc(false).await;
    assert_eq!((report.scanned, report.deleted, report.deleted_bytes), (2, 2, 15 + 6));
    assert_eq!((report.kept_referenced, report.kept_recent, report.failed), (0, 0, 0));
    assert!(!report.dry_run);
    assert!(f.stored().await.is_empty());
    assert!(f.catalog.blob_row(&d).await.is_none());

    let events = f.events.0.lock().unwrap();
    let gc = events.iter().find(|e| e.kind == EventKind::GcRun).expect("a gc_run event");
    assert_eq!(gc.size, Some(21));
    let detail = gc.detail.as_ref().unwrap();
    assert_eq!(detail["deleted"], 2);
    assert_eq!(detail["scanned"], 2);
    assert_eq!(detail["dry_run"], false);
}

#[actix_rt::test]
async fn gc_keeps_referenced_blobs() {
    let f = Fixture::new();
    let cached = f.commit(b"cached object", Some("pkg.tgz")).await;
    let local = f.commit(b"local file", None).await;
    f.catalog.pin(local).await; // referenced by a local file or an upload
    f.age(&cached).await;
    f.age(&local).await;
    let report = f.gc(false).await;
    assert_eq!((report.scanned, report.deleted, report.kept_referenced), (2, 0, 2));
    let mut expected = vec![cached, local];
    expected.sort();
    assert_eq!(f.stored().await, expected);
}

#[actix_rt::test]
async fn gc_keeps_blobs_younger_than_the_grace_period() {
    let f = Fixture::new();
    let d = f.commit(b"fresh", None).await;
    let report = f.gc(false).await;
    assert_eq!((report.scanned, report.deleted, report.kept_recent), (1, 0, 1));
    assert_eq!(f.stored().await, vec![d]);
}

#[actix_rt::test]
async fn gc_keeps_old_bytes_whose_row_was_used_recently() {
    let f = Fixture::new();
    let d = f.commit(b"old but used", None).await;
    f.age(&d).await;
    f.catalog.set_last_seen(&d, Utc::now()).await;
    let report = f.gc(false).await;
    assert_eq!((report.deleted, report.kept_recent), (0, 1));
    assert_eq!(f.stored().await, vec![d]);
}

#[actix_rt::test]
async fn dry_run_deletes_nothing() {
    let f = Fixture::new();
    let garbage = f.commit(b"garbage", None).await;
    let cached = f.commit(b"cached", Some("kept")).await;
    f.age(&garbage).await;
    f.age(&cached).await;
    let report = f.gc(true).await;
    assert!(report.dry_run);
    assert_eq!((report.scanned, report.deleted, report.deleted_bytes, report.kept_referenced), (2, 1, 7, 1));
    assert_eq!(f.stored().await.len(), 2);
    assert!(f.catalog.blob_row(&garbage).await.is_some());
}

#[actix_rt::test]
async fn a_blob_committed_during_gc_survives_and_commits_are_not_blocked() {
    let f = Fixture::new();
    let old = f.commit(b"old bytes", None).await;
    f.age(&old).await;

    *f.store.pause_next_list.lock().unwrap() = true;
    let gc = actix_rt::spawn(f.actor.send(Gc { dry_run: false, grace: HOUR }));
    f.store.listed.notified().await; // the sweep has listed `old` as a candidate

    // While the sweep is in progress: the same old bytes are committed again (a new cached
    // object for them) and a brand-new blob arrives. Neither waits for the sweep.
    let within = Duration::from_secs(5);
    let again = tokio::time::timeout(within, f.commit(b"old bytes", None)).await.expect("commit not blocked");
    let new = tokio::time::timeout(within, f.commit(b"new bytes", None)).await.expect("commit not blocked");
    assert_eq!(again, old);
    // Only one sweep at a time.
    let second = f.actor.send(Gc { dry_run: false, grace: HOUR }).await.unwrap();
    assert!(matches!(second, Err(GcError::Busy)), "{second:?}");

    f.store.resume.notify_one();
    let report = gc.await.unwrap().unwrap().unwrap();
    assert_eq!((report.scanned, report.deleted), (1, 0), "{report:?}");
    let mut expected = vec![old, new];
    expected.sort();
    assert_eq!(f.stored().await, expected);
    assert!(f.catalog.blob_row(&old).await.is_some());
}

//! Tests of [`PgCatalog`] against a real PostgreSQL (one fresh database per test).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use artifactapi_actors::catalog::{CachedObject, Catalog, CatalogError, HitBatch, ObjectKey};
use artifactapi_actors::digest::Digest;
use artifactapi_actors::storage::StoreError;
use chrono::{DateTime, TimeZone, Utc};

use super::testing::TestDatabase;
use super::{Db, PgCatalog};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn object(path: &str, body: &[u8]) -> CachedObject {
    CachedObject {
        key: ObjectKey::new("hub", path, ""),
        digest: Digest::of(body),
        size: body.len() as u64,
        content_type: Some("application/octet-stream".into()),
        upstream_etag: Some("\"v1\"".into()),
        upstream_last_modified: Some("Tue, 14 Nov 2023 22:13:20 GMT".into()),
        mutable: false,
        fetched_at: at(0),
    }
}

async fn hits_of(db: &Db, key: &ObjectKey) -> (i64, Option<DateTime<Utc>>) {
    let client = db.client().await.unwrap();
    let row = client
        .query_one(
            "SELECT hits, last_access FROM cached_objects WHERE repo = $1 AND path = $2 AND variant = $3",
            &[&key.repo, &key.path, &key.variant],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn setup() -> (TestDatabase, Db, PgCatalog) {
    let (tdb, db) = TestDatabase::migrated().await;
    let catalog = PgCatalog::new(db.clone());
    (tdb, db, catalog)
}

#[tokio::test]
async fn objects_round_trip_and_replace_keeps_hits() {
    let (tdb, db, cat) = setup().await;
    let obj = object("a/b.tgz", b"one");
    assert_eq!(cat.lookup(&obj.key).await.unwrap(), None);
    cat.put_object(&obj).await.unwrap();
    assert_eq!(cat.lookup(&obj.key).await.unwrap(), Some(obj.clone()));

    // Variants are separate entries.
    let json = CachedObject { key: ObjectKey::new("hub", "a/b.tgz", "json"), ..object("a/b.tgz", b"json") };
    cat.put_object(&json).await.unwrap();
    assert_eq!(cat.lookup(&json.key).await.unwrap(), Some(json.clone()));
    assert_eq!(cat.lookup(&obj.key).await.unwrap(), Some(obj.clone()));

    cat.record_hits(&[
        HitBatch { key: obj.key.clone(), hits: 2, last_access: at(10) },
        HitBatch { key: json.key.clone(), hits: 5, last_access: at(11) },
        // The same key twice in a batch adds up; the latest access wins.
        HitBatch { key: obj.key.clone(), hits: 3, last_access: at(5) },
        // Unknown keys are skipped.
        HitBatch { key: ObjectKey::new("hub", "gone", ""), hits: 1, last_access: at(1) },
    ])
    .await
    .unwrap();
    assert_eq!(hits_of(&db, &obj.key).await, (5, Some(at(10))));
    assert_eq!(hits_of(&db, &json.key).await, (5, Some(at(11))));
    // An older access in a later batch does not move last_access back.
    cat.record_hits(&[HitBatch { key: obj.key.clone(), hits: 1, last_access: at(2) }]).await.unwrap();
    assert_eq!(hits_of(&db, &obj.key).await, (6, Some(at(10))));
    cat.record_hits(&[]).await.unwrap();

    let newer = CachedObject {
        digest: Digest::of(b"two"),
        size: 3,
        upstream_etag: Some("\"v2\"".into()),
        upstream_last_modified: None,
        mutable: true,
        fetched_at: at(100),
        content_type: None,
        ..obj.clone()
    };
    cat.put_object(&newer).await.unwrap();
    assert_eq!(cat.lookup(&obj.key).await.unwrap(), Some(newer.clone()));
    assert_eq!(hits_of(&db, &obj.key).await, (6, Some(at(10))), "hits survive a replace");
    drop(db);
    tdb.drop().await;
}

#[tokio::test]
async fn renew_updates_validators_and_keeps_missing_ones() {
    let (tdb, db, cat) = setup().await;
    let obj = object("index.yaml", b"v1");
    cat.put_object(&obj).await.unwrap();
    cat.renew_object(&obj.key, Some("\"v2\""), None).await.unwrap();
    let got = cat.lookup(&obj.key).await.unwrap().unwrap();
    assert_eq!(got.upstream_etag.as_deref(), Some("\"v2\""));
    assert_eq!(got.upstream_last_modified, obj.upstream_last_modified);
    assert_eq!((got.digest, got.size, got.fetched_at), (obj.digest, obj.size, obj.fetched_at));
    cat.renew_object(&obj.key, None, Some("Wed, 15 Nov 2023 00:00:00 GMT")).await.unwrap();
    let got = cat.lookup(&obj.key).await.unwrap().unwrap();
    assert_eq!(got.upstream_etag.as_deref(), Some("\"v2\""));
    assert_eq!(got.upstream_last_modified.as_deref(), Some("Wed, 15 Nov 2023 00:00:00 GMT"));
    let client = db.client().await.unwrap();
    let validated: DateTime<Utc> =
        client.query_one("SELECT validated_at FROM cached_objects", &[]).await.unwrap().get(0);
    assert!(validated > obj.fetched_at, "renew records the validation time");
    // Renewing an object evicted meanwhile is not an error.
    cat.renew_object(&ObjectKey::new("hub", "gone", ""), Some("x"), None).await.unwrap();
    drop(client);
    drop(db);
    tdb.drop().await;
}

#[tokio::test]
async fn upsert_blob_says_when_it_created_the_row() {
    let (tdb, db, cat) = setup().await;
    let d = Digest::of(b"blob");
    assert!(cat.upsert_blob(&d, 4).await.unwrap());
    let client = db.client().await.unwrap();
    client.execute("UPDATE blobs SET last_seen = 'epoch'", &[]).await.unwrap();
    assert!(!cat.upsert_blob(&d, 4).await.unwrap());
    let seen: DateTime<Utc> = client.query_one("SELECT last_seen FROM blobs", &[]).await.unwrap().get(0);
    assert!(seen > at(0), "an upsert bumps last_seen");
    assert!(cat.upsert_blob(&Digest::of(b"other"), 5).await.unwrap());
    drop(client);
    drop(db);
    tdb.drop().await;
}

/// A `delete_bytes` future that counts its runs and succeeds or fails.
fn deleter(runs: &Arc<AtomicUsize>, ok: bool) -> artifactapi_actors::catalog::DeleteBytes<'static> {
    let runs = runs.clone();
    Box::pin(async move {
        runs.fetch_add(1, Ordering::SeqCst);
        if ok {
            Ok(())
        } else {
            Err(StoreError::S3("injected failure".into()))
        }
    })
}

async fn blob_rows(db: &Db) -> Vec<String> {
    let client = db.client().await.unwrap();
    client.query("SELECT digest FROM blobs ORDER BY digest", &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
}

async fn age_blobs(db: &Db) {
    db.client().await.unwrap().execute("UPDATE blobs SET last_seen = now() - interval '1 day'", &[]).await.unwrap();
}

#[tokio::test]
async fn gc_deletes_old_unreferenced_blobs_only() {
    let (tdb, db, cat) = setup().await;
    let cutoff = Utc::now() - chrono::Duration::hours(1);
    let runs = Arc::new(AtomicUsize::new(0));

    // Old and unreferenced: deleted, bytes deleted.
    let old = Digest::of(b"old");
    cat.upsert_blob(&old, 3).await.unwrap();
    age_blobs(&db).await;
    assert!(cat.gc_delete_blob(&old, 3, cutoff, deleter(&runs, true)).await.unwrap());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(blob_rows(&db).await.is_empty());

    // In the store but never recorded: counts as seen at the epoch.
    let stray = Digest::of(b"stray");
    assert!(cat.gc_delete_blob(&stray, 5, cutoff, deleter(&runs, true)).await.unwrap());
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // Recently seen: kept, bytes untouched.
    let recent = Digest::of(b"recent");
    cat.upsert_blob(&recent, 6).await.unwrap();
    assert!(!cat.gc_delete_blob(&recent, 6, cutoff, deleter(&runs, true)).await.unwrap());
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(blob_rows(&db).await, [recent.to_string()]);
    drop(db);
    tdb.drop().await;
}

#[tokio::test]
async fn gc_keeps_blobs_something_references() {
    let (tdb, db, cat) = setup().await;
    let cutoff = Utc::now() - chrono::Duration::hours(1);
    let runs = Arc::new(AtomicUsize::new(0));
    let cached = Digest::of(b"cached");
    let local = Digest::of(b"local");
    let uploading = Digest::of(b"uploading");
    let finished = Digest::of(b"finished upload");
    let client = db.client().await.unwrap();
    cat.put_object(&object("c", b"cached")).await.unwrap();
    client
        .execute("INSERT INTO local_files (repo, path, digest, size) VALUES ('l', 'f', $1, 5)", &[&local.to_string()])
        .await
        .unwrap();
    for (d, state) in [(&uploading, "open"), (&finished, "done")] {
        client
            .execute(
                "INSERT INTO upload_sessions (id, repo, name, digest, state) VALUES (gen_random_uuid(), 'l', 'img', $1, $2)",
                &[&d.to_string(), &state],
            )
            .await
            .unwrap();
    }
    for d in [&cached, &local, &uploading, &finished] {
        cat.upsert_blob(d, 1).await.unwrap();
    }
    age_blobs(&db).await;

    for d in [&cached, &local, &uploading] {
        assert!(cat.blob_referenced(d).await.unwrap(), "{d}");
        assert!(!cat.gc_delete_blob(d, 1, cutoff, deleter(&runs, true)).await.unwrap(), "{d}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    // A finished upload no longer holds its digest.
    assert!(!cat.blob_referenced(&finished).await.unwrap());
    assert!(cat.gc_delete_blob(&finished, 1, cutoff, deleter(&runs, true)).await.unwrap());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // A referenced blob without a row gets none from GC.
    client.execute("DELETE FROM blobs WHERE digest = $1", &[&cached.to_string()]).await.unwrap();
    assert!(!cat.gc_delete_blob(&cached, 1, cutoff, deleter(&runs, true)).await.unwrap());
    let mut want = vec![local.to_string(), uploading.to_string()];
    want.sort();
    assert_eq!(blob_rows(&db).await, want, "no epoch row is left behind");
    drop(client);
    drop(db);
    tdb.drop().await;
}

#[tokio::test]
async fn gc_keeps_the_row_when_deleting_the_bytes_fails() {
    let (tdb, db, cat) = setup().await;
    let cutoff = Utc::now() - chrono::Duration::hours(1);
    let runs = Arc::new(AtomicUsize::new(0));
    let d = Digest::of(b"stubborn");
    cat.upsert_blob(&d, 8).await.unwrap();
    age_blobs(&db).await;
    let err = cat.gc_delete_blob(&d, 8, cutoff, deleter(&runs, false)).await.unwrap_err();
    assert!(matches!(err, CatalogError::Store(StoreError::S3(_))), "{err}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(blob_rows(&db).await, [d.to_string()]);
    assert!(!cat.upsert_blob(&d, 8).await.unwrap(), "the row is still there");

    // Without a row: the epoch row is rolled back too.
    let stray = Digest::of(b"stray");
    assert!(cat.gc_delete_blob(&stray, 5, cutoff, deleter(&runs, false)).await.is_err());
    assert_eq!(blob_rows(&db).await, [d.to_string()]);
    drop(db);
    tdb.drop().await;
}

#[tokio::test]
async fn a_commit_waits_for_gc_and_then_recreates_the_row() {
    let (tdb, db, cat) = setup().await;
    let cutoff = Utc::now() - chrono::Duration::hours(1);
    let d = Digest::of(b"contended");
    cat.upsert_blob(&d, 9).await.unwrap();
    age_blobs(&db).await;

    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let gc_cat = cat.clone();
    let gc = tokio::spawn(async move {
        let delete = Box::pin(async move {
            let _ = entered_tx.send(());
            release_rx.await.map_err(|_| StoreError::S3("released by nobody".into()))
        });
        gc_cat.gc_delete_blob(&d, 9, cutoff, delete).await
    });
    entered_rx.await.expect("GC reaches delete_bytes");

    let commit_cat = cat.clone();
    let commit = tokio::spawn(async move { commit_cat.upsert_blob(&d, 9).await });
    // Wait until the upsert is seen blocked on a lock (or fails the test by finishing).
    let observer = db.client().await.unwrap();
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO blobs%'";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(!commit.is_finished(), "upsert_blob must wait while GC holds the row");
        if observer.query_one(waiting, &[]).await.unwrap().get::<_, i64>(0) == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "upsert_blob never waited on the row lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(observer);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!commit.is_finished(), "upsert_blob must wait while GC holds the row");

    release_tx.send(()).unwrap();
    assert!(gc.await.unwrap().unwrap(), "GC deleted the blob");
    assert!(commit.await.unwrap().unwrap(), "the commit recreated the row");
    assert_eq!(blob_rows(&db).await, [d.to_string()]);
    drop(db);
    tdb.drop().await;
}

//! Renderings against the real PostgreSQL catalog and a filesystem store: concurrent requests
//! for one document share one rendering, a second process finds it in the catalog, the
//! permits bound how many run at once, and a failed rendering is not remembered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use artifactapi_actors::digest::Digest;
use artifactapi_actors::events::NoEvents;
use artifactapi_actors::storage::{BlobStore, FsStore, StagingArea, StorageActor};
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use super::renders::{RenderKey, Renders};
use super::ServeError;
use crate::db::testing::TestDatabase;
use crate::db::PgCatalog;
use crate::formats::{Doc, Rendered};

const DOC: Doc = Doc { variant: "", accept: "application/json" };

#[actix_rt::test]
async fn one_rendering_per_document_shared_by_concurrent_requests_and_replicas() {
    let (tdb, db) = TestDatabase::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(FsStore::new(dir.path()).unwrap());
    let storage = StorageActor::new(store.clone(), Arc::new(PgCatalog::new(db.clone())), Arc::new(NoEvents)).start();
    let staging = StagingArea::new(dir.path().join("staging")).unwrap();
    let permits = Arc::new(Semaphore::new(1));
    let grace = Duration::from_secs(3600);
    let renders = Arc::new(Renders::new(staging.clone(), storage.clone(), db.clone(), permits.clone(), grace));

    let runs = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let job = |body: &'static [u8]| {
        let (runs, running, most) = (runs.clone(), running.clone(), most.clone());
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, ServeError>(Rendered::new(body.to_vec(), "application/json"))
        }
    };
    let key = |n: u8| RenderKey::new("npm", &format!("http://up/p{n}"), DOC, Digest::of(&[n]));

    // Eight requests for one document, three for another, at once.
    let mut waiting = Vec::new();
    for i in 0..11u8 {
        let (renders, k, j) =
            (renders.clone(), key(u8::from(i >= 8)), job(if i >= 8 { b"{\"b\":2}" } else { b"{\"a\":1}" }));
        waiting.push(actix_rt::spawn(async move { renders.get_or_render(k, j).await }));
    }
    let mut answers = Vec::new();
    for w in waiting {
        answers.push(w.await.unwrap().unwrap());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one rendering per document");
    assert_eq!(most.load(Ordering::SeqCst), 1, "no more renderings at once than permits");
    assert!(answers[..8].iter().all(|a| *a == answers[0]));
    assert_eq!(answers[0].digest, Digest::of(b"{\"a\":1}"));
    assert_eq!(answers[8].digest, Digest::of(b"{\"b\":2}"));
    let mut body = store.open(&answers[0].digest, None).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(bytes, b"{\"a\":1}", "the rendering is in the blob store");

    // Known in this process: no job runs, even one that would fail.
    let failing = async { Err::<Rendered, _>(ServeError::Internal("must not run".into())) };
    assert_eq!(renders.get_or_render(key(0), failing).await.unwrap(), answers[0]);
    // Another replica (a fresh process state) finds it in the catalog.
    let other = Arc::new(Renders::new(staging, storage, db.clone(), permits, grace));
    let failing = async { Err::<Rendered, _>(ServeError::Internal("must not run".into())) };
    assert_eq!(other.get_or_render(key(0), failing).await.unwrap(), answers[0]);
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // A failed rendering is reported to every waiter and not remembered.
    let failing = async { Err::<Rendered, _>(ServeError::BadGateway("broken document".into())) };
    let err = other.get_or_render(key(7), failing).await.unwrap_err();
    assert!(matches!(err, ServeError::BadGateway(ref m) if m.contains("broken")), "{err}");
    let fixed = other.get_or_render(key(7), job(b"{\"c\":3}")).await.unwrap();
    assert_eq!(fixed.digest, Digest::of(b"{\"c\":3}"));
    drop((renders, other));
    drop(db);
    tdb.drop().await;
}

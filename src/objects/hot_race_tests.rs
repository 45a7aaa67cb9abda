//! An eviction racing a catalog look-up must not leave the evicted object in the remote's hot
//! map: a real remote actor over the real PostgreSQL catalog, with the look-up held between
//! reading the row and answering while the eviction runs.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use artifactapi_actors::catalog::{CachedObject, Catalog, CatalogError, DeleteBytes, HitBatch, ObjectKey};
use artifactapi_actors::digest::Digest;
use artifactapi_actors::events::NoEvents;
use artifactapi_actors::remote::replica::ReplicaFills;
use artifactapi_actors::remote::tls::TrustStore;
use artifactapi_actors::remote::RemoteSettings;
use artifactapi_actors::remote::{CacheStatus, Fetch, FetchOutcome, Forget, HotObjects, RemoteActor, RemoteDeps};
use artifactapi_actors::storage::{FsStore, StagingArea, StorageActor};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};

use crate::coord::MemoryCoordinator;
use crate::db::objects::EvictTarget;
use crate::db::testing::TestDatabase;
use crate::db::PgCatalog;

/// The PostgreSQL catalog, except that `lookup` answers only once a permit is released.
struct HeldLookups {
    inner: PgCatalog,
    read: Notify,
    release: Semaphore,
}

#[async_trait]
impl Catalog for HeldLookups {
    async fn lookup(&self, key: &ObjectKey) -> Result<Option<CachedObject>, CatalogError> {
        let row = self.inner.lookup(key).await;
        self.read.notify_one();
        if let Ok(permit) = self.release.acquire().await {
            permit.forget();
        }
        row
    }
    async fn put_object(&self, obj: &CachedObject) -> Result<(), CatalogError> {
        self.inner.put_object(obj).await
    }
    async fn renew_object(&self, key: &ObjectKey, etag: Option<&str>, lm: Option<&str>) -> Result<(), CatalogError> {
        self.inner.renew_object(key, etag, lm).await
    }
    async fn record_hits(&self, batch: &[HitBatch]) -> Result<(), CatalogError> {
        self.inner.record_hits(batch).await
    }
    async fn upsert_blob(&self, digest: &Digest, size: u64) -> Result<bool, CatalogError> {
        self.inner.upsert_blob(digest, size).await
    }
    async fn gc_delete_blob(
        &self,
        digest: &Digest,
        size: u64,
        cutoff: DateTime<Utc>,
        delete_bytes: DeleteBytes<'_>,
    ) -> Result<bool, CatalogError> {
        self.inner.gc_delete_blob(digest, size, cutoff, delete_bytes).await
    }
    async fn blob_referenced(&self, digest: &Digest) -> Result<bool, CatalogError> {
        self.inner.blob_referenced(digest).await
    }
}

#[actix_rt::test]
async fn a_lookup_read_before_an_eviction_does_not_make_the_object_hot() {
    let (tdb, db) = TestDatabase::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog =
        Arc::new(HeldLookups { inner: PgCatalog::new(db.clone()), read: Notify::new(), release: Semaphore::new(0) });
    let key = ObjectKey::new("hub", "files/a.bin", "");
    let object = CachedObject {
        key: key.clone(),
        digest: Digest::of(b"a"),
        size: 1,
        content_type: None,
        upstream_etag: None,
        upstream_last_modified: None,
        mutable: false,
        fetched_at: Utc::now(),
    };
    catalog.put_object(&object).await.unwrap();

    let store = Arc::new(FsStore::new(dir.path()).unwrap());
    let storage = StorageActor::new(store.clone(), catalog.clone(), Arc::new(NoEvents)).start();
    let deps = RemoteDeps {
        catalog: catalog.clone(),
        coord: Arc::new(MemoryCoordinator::new()),
        storage,
        staging: StagingArea::new(dir.path().join("staging")).unwrap(),
        events: Arc::new(NoEvents),
        documents: Arc::new(tokio::sync::Semaphore::new(2)),
        trust: Arc::new(TrustStore::load(None).unwrap().0),
        rate_limits: Default::default(),
        store,
        replicas: ReplicaFills::new(None),
    };
    let settings = RemoteSettings {
        name: "hub".into(),
        base_url: "http://127.0.0.1:9/".into(),
        credentials: None,
        token_realm_hosts: Vec::new(),
        allow_private_upstreams: false,
        tls: Default::default(),
        immutable_ttl: Duration::ZERO,
        mutable_ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        breaker_threshold: 5,
        breaker_open: Duration::from_secs(30),
    };
    let hot = HotObjects::new();
    let actor = RemoteActor::new(settings, deps, hot.clone()).start();

    let fetch = Fetch {
        path: key.path.clone(),
        variant: String::new(),
        mutable: false,
        upstream_url: "http://127.0.0.1:9/files/a.bin".into(),
        forward_headers: Vec::new(),
        expected: None,
        integrity: None,
        document: None,
        revalidate_by_digest: false,
        token_scope: None,
    };
    let pending = actix_rt::spawn(actor.send(fetch));
    catalog.read.notified().await;
    // The row was read; now it is evicted and the actor told, before the look-up answers.
    let gone = db.evict_objects("hub", EvictTarget::Path(&key.path)).await.unwrap();
    assert_eq!(gone.count, 1);
    actor.send(Forget { prefix: key.path.clone() }).await.unwrap();
    catalog.release.add_permits(1);
    let outcome = pending.await.unwrap().unwrap();
    assert!(matches!(outcome, FetchOutcome::Cached { status: CacheStatus::Hit, .. }), "{outcome:?}");
    assert!(hot.hit(&key).is_none(), "the evicted object went back into the hot map");

    drop(actor);
    drop(db);
    tdb.drop().await;
}

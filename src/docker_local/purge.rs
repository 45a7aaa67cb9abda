//! Purging abandoned blob uploads.
//!
//! A client that starts an upload and never finishes or cancels it leaves a catalog row and
//! parts in the store. Uploads idle for longer than `DOCKER_UPLOAD_MAX_AGE` (no chunk, no
//! status request) are deleted: the rows first, then the parts. Parts whose upload row is gone
//! (a replica crashed between the two, or the local was deleted) are swept by listing the store,
//! once they are older than the same age. Every replica runs the schedule; a round is taken by
//! one replica through the coordinator lock [`PURGE_LOCK`], held for the interval.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use artifactapi_actors::coord::Coordinator;
use artifactapi_actors::storage::BlobStore;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Error;
use crate::db::Db;

/// The coordinator lock of a purge round.
pub const PURGE_LOCK: &str = "aa:lock:docker-uploads";
/// Uploads deleted per catalog statement.
const BATCH: i64 = 500;

/// What one purge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Uploads idle for too long, deleted with their parts.
    pub expired: usize,
    /// Uploads whose parts were in the store without a catalog row.
    pub orphaned: usize,
}

/// How often the purge runs for a given maximum age: a quarter of it, between 1 s and 1 h.
pub fn interval(max_age: Duration) -> Duration {
    (max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// One purge of uploads idle since before `now - max_age`.
pub async fn purge(db: &Db, store: &dyn BlobStore, max_age: Duration) -> Result<PurgeReport, Error> {
    let cutoff = Utc::now() - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    let mut report = PurgeReport::default();
    loop {
        let expired = db.docker_expire_uploads(cutoff, BATCH).await?;
        for id in &expired {
            store.delete_upload(id).await?;
        }
        report.expired += expired.len();
        if (expired.len() as i64) < BATCH {
            break;
        }
    }
    let stale = stale_uploads(&store.list_parts().await?, cutoff);
    if !stale.is_empty() {
        let ids: Vec<Uuid> = stale.iter().copied().collect();
        let live = db.docker_live_uploads(&ids).await?;
        for id in ids.iter().filter(|id| !live.contains(id)) {
            store.delete_upload(id).await?;
            report.orphaned += 1;
        }
    }
    Ok(report)
}

/// Uploads all of whose parts were written before `cutoff`.
fn stale_uploads(parts: &[artifactapi_actors::storage::PartMeta], cutoff: DateTime<Utc>) -> HashSet<Uuid> {
    let mut newest: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for p in parts {
        let e = newest.entry(p.key.upload).or_insert(p.modified);
        *e = (*e).max(p.modified);
    }
    newest.into_iter().filter(|(_, t)| *t < cutoff).map(|(id, _)| id).collect()
}

/// Starts the purge schedule on the current arbiter.
pub fn start(max_age: Duration, coord: Arc<dyn Coordinator>, db: Db, store: Arc<dyn BlobStore>) {
    let every = interval(max_age);
    actix_rt::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // The lock is not released: it marks the round as taken until it expires.
            match coord.try_lock(PURGE_LOCK, every).await {
                Ok(Some(_)) => match purge(&db, store.as_ref(), max_age).await {
                    Ok(r) if r == PurgeReport::default() => {}
                    Ok(r) => {
                        tracing::info!(expired = r.expired, orphaned = r.orphaned, "purged abandoned docker uploads")
                    }
                    Err(e) => tracing::warn!(error = %e, "purging abandoned docker uploads failed"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "upload purge skipped: coordinator unavailable"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::TestDatabase;
    use crate::docker_local::Repository;
    use crate::formats::PackageType;
    use crate::locals::LocalSpec;
    use artifactapi_actors::storage::{FsStore, PartKey, PartMeta, StagingArea};

    /// Expired uploads go with their parts; parts without an upload go once old; the rest stays.
    #[tokio::test]
    async fn purges_idle_uploads_and_orphaned_parts() {
        let (tdb, db) = TestDatabase::migrated().await;
        db.insert_local(&LocalSpec::new("loc", PackageType::Docker)).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path()).unwrap();
        let staging = StagingArea::new(dir.path().join("staging")).unwrap();
        let repo = Repository::new("loc", "app");
        let (idle, active, orphan, young_orphan) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let put = |upload: Uuid, age: Duration| {
            let (store, staging) = (store.clone(), staging.clone());
            async move {
                let mut w = staging.create().await.unwrap();
                w.write(b"part").await.unwrap();
                let staged = w.finish().await.unwrap();
                let key = PartKey::new(upload);
                store.put_part(&staged.path, &key, 4).await.unwrap();
                let file = std::fs::File::options().write(true).open(store.part_path(&key)).unwrap();
                file.set_modified(std::time::SystemTime::now() - age).unwrap();
            }
        };
        let hour = Duration::from_secs(3600);
        for id in [idle, active] {
            db.docker_create_upload(&repo, id).await.unwrap();
            put(id, 2 * hour).await;
        }
        put(orphan, 2 * hour).await;
        put(young_orphan, Duration::ZERO).await;
        let client = db.client().await.unwrap();
        client
            .execute("UPDATE oci_uploads SET updated_at = now() - interval '2 hours' WHERE id = $1", &[&idle])
            .await
            .unwrap();

        let report = purge(&db, &store, hour).await.unwrap();
        assert_eq!(report, PurgeReport { expired: 1, orphaned: 1 });
        let mut left: Vec<Uuid> = store.list_parts().await.unwrap().into_iter().map(|p| p.key.upload).collect();
        left.sort();
        let mut want = vec![active, young_orphan];
        want.sort();
        assert_eq!(left, want, "the active upload and the young orphan stay");
        assert_eq!(db.docker_live_uploads(&[idle, active]).await.unwrap(), HashSet::from([active]));
        assert_eq!(purge(&db, &store, hour).await.unwrap(), PurgeReport::default());
        drop((client, db));
        tdb.drop().await;
    }

    #[test]
    fn intervals_and_stale_uploads() {
        assert_eq!(interval(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(interval(Duration::from_secs(400)), Duration::from_secs(100));
        assert_eq!(interval(Duration::from_secs(86400)), Duration::from_secs(3600));
        let now = Utc::now();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let part = |upload, age: i64| PartMeta {
            key: PartKey::new(upload),
            size: 1,
            modified: now - chrono::Duration::seconds(age),
        };
        // `a` had a chunk recently; `b` did not.
        let parts = [part(a, 100), part(a, 1), part(b, 100), part(b, 50)];
        let stale = stale_uploads(&parts, now - chrono::Duration::seconds(10));
        assert_eq!(stale, HashSet::from([b]));
    }
}

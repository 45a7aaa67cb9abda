//! Tests of the stats and access-log queries (and of the stats flusher) against a real
//! PostgreSQL, one fresh database per test.

use std::collections::HashMap;
use std::sync::Arc;

use artifactapi_actors::catalog::{CachedObject, Catalog, ObjectKey};
use artifactapi_actors::digest::Digest;
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::access_log::{AccessFilter, NewAccess, StatusFilter};
use super::stats::RepoCounts;
use super::testing::TestDatabase;
use super::{Db, PgCatalog};
use crate::formats::PackageType;
use crate::observe::record::CacheLabel;
use crate::observe::repos::Repos;
use crate::observe::stats::Stats;
use crate::remotes::RemoteSpec;

fn spec(name: &str) -> RemoteSpec {
    serde_json::from_value(serde_json::json!({
        "name": name, "package_type": "generic", "base_url": "http://127.0.0.1:9/"
    }))
    .unwrap()
}

fn counts(requests: u64, hits: u64, bytes_served: u64) -> RepoCounts {
    RepoCounts { requests, hits, bytes_served, ..Default::default() }
}

async fn put(cat: &PgCatalog, repo: &str, path: &str, body: &[u8]) {
    let obj = CachedObject {
        key: ObjectKey::new(repo, path, ""),
        digest: Digest::of(body),
        size: body.len() as u64,
        content_type: None,
        upstream_etag: None,
        upstream_last_modified: None,
        mutable: false,
        fetched_at: Utc::now(),
    };
    cat.upsert_blob(&obj.digest, obj.size).await.unwrap();
    cat.put_object(&obj).await.unwrap();
}

#[tokio::test]
async fn stats_add_up_across_flushes_and_join_what_is_stored() {
    let (tdb, db) = TestDatabase::migrated().await;
    let cat = PgCatalog::new(db.clone());
    for name in ["b", "a"] {
        db.insert_remote(&spec(name)).await.unwrap();
    }
    put(&cat, "a", "x", b"shared bytes").await;
    put(&cat, "b", "y", b"shared bytes").await;
    put(&cat, "b", "z", b"other").await;

    db.add_repo_stats(&[("a".into(), counts(3, 2, 30)), ("gone".into(), counts(1, 1, 1))]).await.unwrap();
    db.add_repo_stats(&[("a".into(), counts(1, 1, 5))]).await.unwrap();
    db.add_repo_stats(&[]).await.unwrap();

    let rows = db.repo_stats(None).await.unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "b"], "configured repositories only, by name");
    assert_eq!(rows[0].counts, counts(4, 3, 35));
    assert_eq!((rows[0].objects, rows[0].bytes_stored), (1, 12));
    assert_eq!((rows[1].counts, rows[1].objects, rows[1].bytes_stored), (RepoCounts::default(), 2, 17));
    assert_eq!((rows[0].kind.as_str(), rows[0].package_type.as_str()), ("remote", "generic"));
    assert_eq!(db.repo_stats(Some("b")).await.unwrap().len(), 1);
    assert!(db.repo_stats(Some("gone")).await.unwrap().is_empty());

    let storage = db.storage_totals().await.unwrap();
    assert_eq!((storage.blobs, storage.bytes, storage.logical_bytes), (2, 17, 29));
    assert!(db.repo_exists("a").await.unwrap());
    assert!(!db.repo_exists("gone").await.unwrap());
    drop((cat, db));
    tdb.drop().await;
}

#[tokio::test]
async fn a_report_sees_unflushed_counts_once_and_a_failed_flush_keeps_them() {
    let (tdb, db) = TestDatabase::migrated().await;
    db.insert_remote(&spec("a")).await.unwrap();
    let repos = Arc::new(Repos::default());
    let stats = Stats::new(repos.clone());
    let obs = repos.for_request("a", PackageType::Generic);
    obs.counters.count_request(CacheLabel::Hit, 10);
    obs.counters.count_request(CacheLabel::Miss, 5);
    let requests = |r: &crate::observe::stats::StatsReport| r.total.counts.requests;

    let before = stats.report(&db, None, &HashMap::new()).await.unwrap().unwrap();
    assert_eq!(requests(&before), 2, "unflushed counts are reported");
    stats.flush(&db).await.unwrap();
    let after = stats.report(&db, None, &HashMap::new()).await.unwrap().unwrap();
    assert_eq!(requests(&after), 2, "flushed counts are reported once");
    assert_eq!(after.total.counts.bytes_served, 15);
    assert_eq!(after.total.hit_ratio, Some(0.5));

    // A database that cannot be reached: the counts stay in memory for the next flush.
    let mut settings = tdb.settings();
    settings.port = 9;
    settings.timeout = std::time::Duration::from_millis(500);
    let down = Db::new(settings).unwrap();
    obs.counters.count_request(CacheLabel::Stale, 7);
    assert!(stats.flush(&down).await.is_err());
    assert_eq!(obs.counters.peek().stale, 1, "kept after the failed flush");
    stats.flush(&db).await.unwrap();
    let last = stats.report(&db, Some("a"), &HashMap::new()).await.unwrap().unwrap();
    assert_eq!((requests(&last), last.total.counts.stale), (3, 1));
    assert!(stats.report(&db, Some("nope"), &HashMap::new()).await.unwrap().is_none());
    drop(db);
    tdb.drop().await;
}

fn access(at: DateTime<Utc>, repo: &str, path: &str, status: u16, cache: Option<&'static str>) -> NewAccess {
    NewAccess {
        at,
        repo: repo.into(),
        path: path.into(),
        method: "GET".into(),
        status,
        cache_status: cache,
        bytes: 100,
        duration_ms: 3,
        client: Some("127.0.0.1".into()),
    }
}

#[tokio::test]
async fn the_access_log_filters_pages_and_expires() {
    let (tdb, db) = TestDatabase::migrated().await;
    let t0 = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let rows: Vec<NewAccess> = (0..10)
        .map(|i| {
            let (repo, status, cache) = match i % 3 {
                0 => ("a", 200, Some("HIT")),
                1 => ("a", 404, None),
                _ => ("b", 200, Some("MISS")),
            };
            access(t0 + Duration::seconds(i), repo, &format!("dir{}/f{i}", i % 2), status, cache)
        })
        .collect();
    assert_eq!(db.insert_access_log(&rows).await.unwrap(), 10);
    assert_eq!(db.insert_access_log(&[]).await.unwrap(), 0);

    let all = db.query_access_log(&AccessFilter::default()).await.unwrap();
    assert_eq!(all.len(), 10);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].path, "dir1/f9");
    assert_eq!((all[0].bytes, all[0].duration_ms, all[0].client.as_deref()), (100, 3, Some("127.0.0.1")));

    let q = |f: AccessFilter| {
        let db = db.clone();
        async move { db.query_access_log(&f).await.unwrap().into_iter().map(|e| e.path).collect::<Vec<_>>() }
    };
    let repo_a = AccessFilter { repo: Some("a".into()), ..Default::default() };
    assert_eq!(q(repo_a.clone()).await.len(), 7);
    assert_eq!(q(AccessFilter { status: Some(StatusFilter::Exact(404)), ..Default::default() }).await.len(), 3);
    assert_eq!(q(AccessFilter { status: Some(StatusFilter::Class(2)), ..Default::default() }).await.len(), 7);
    assert_eq!(
        q(AccessFilter { cache: Some("MISS".into()), ..Default::default() }).await,
        ["dir0/f8", "dir1/f5", "dir0/f2"]
    );
    let window = AccessFilter {
        since: Some(t0 + Duration::seconds(2)),
        until: Some(t0 + Duration::seconds(4)),
        ..Default::default()
    };
    assert_eq!(q(window).await, ["dir1/f3", "dir0/f2"], "since inclusive, until exclusive");
    let prefix = AccessFilter { path_prefix: Some("dir0/".into()), ..repo_a.clone() };
    assert_eq!(q(prefix).await, ["dir0/f6", "dir0/f4", "dir0/f0"]);
    let odd = AccessFilter { path_prefix: Some("%_".into()), ..Default::default() };
    assert!(q(odd).await.is_empty(), "the prefix is literal, not a LIKE pattern");

    // Keyset paging: three pages of 4, 4 and 2, no row twice.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            db.query_access_log(&AccessFilter { limit: 4, before_id: cursor, ..Default::default() }).await.unwrap();
        seen.extend(page.iter().map(|e| e.id));
        if page.len() < 4 {
            break;
        }
        cursor = page.last().map(|e| e.id);
    }
    assert_eq!(seen, all.iter().map(|e| e.id).collect::<Vec<_>>());

    assert_eq!(db.expire_access_log(t0 + Duration::seconds(5), 2).await.unwrap(), 2, "in batches");
    assert_eq!(db.expire_access_log(t0 + Duration::seconds(5), 100).await.unwrap(), 3);
    assert_eq!(db.query_access_log(&AccessFilter::default()).await.unwrap().len(), 5);
    drop(db);
    tdb.drop().await;
}

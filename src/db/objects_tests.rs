//! Tests of the object browser's queries against a real PostgreSQL (one fresh database each).

use super::*;
use crate::db::testing::TestDatabase;

/// Inserts an object of `repo` at `path`/`variant` with `size` bytes, last accessed
/// `access` seconds after a fixed time (never when `None`; it was fetched at that time + 0).
async fn insert(db: &Db, repo: &str, path: &str, variant: &str, size: i64, access: Option<i64>) {
    let client = db.client().await.unwrap();
    client
        .execute(
            "INSERT INTO cached_objects (repo, path, variant, digest, size, fetched_at, last_access) \
             VALUES ($1, $2, $3, 'sha256:' || md5($2 || $3), $4, \
                 '2024-01-01T00:00:00Z'::timestamptz, \
                 '2024-01-01T00:00:00Z'::timestamptz + make_interval(secs => $5::bigint))",
            &[&repo, &path, &variant, &size, &access],
        )
        .await
        .unwrap();
}

fn paths(rows: &[ObjectRow]) -> Vec<String> {
    rows.iter()
        .map(|r| if r.variant.is_empty() { r.path.clone() } else { format!("{}#{}", r.path, r.variant) })
        .collect()
}

/// Every page of a listing, following the last row's key.
async fn all_pages(db: &Db, prefix: Option<&str>, sort: Sort, order: Order, limit: u32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let rows = db.list_objects("hub", prefix, sort, order, after.as_ref(), limit).await.unwrap();
        if rows.is_empty() {
            return pages;
        }
        after = rows.last().map(|r| SortKey::of(r, sort));
        pages.push(paths(&rows));
    }
}

#[tokio::test]
async fn pages_follow_the_keyset_in_either_order() {
    let (tdb, db) = TestDatabase::migrated().await;
    insert(&db, "hub", "b/2", "", 2, Some(50)).await;
    insert(&db, "hub", "a/1", "", 1, Some(10)).await;
    insert(&db, "hub", "a/1", "json", 3, None).await;
    insert(&db, "hub", "c/3", "", 4, Some(30)).await;
    insert(&db, "hub", "a/10", "", 5, Some(20)).await;
    insert(&db, "other", "a/0", "", 6, Some(0)).await;

    let by_path = all_pages(&db, None, Sort::Path, Order::Asc, 2).await;
    assert_eq!(by_path, [vec!["a/1", "a/1#json"], vec!["a/10", "b/2"], vec!["c/3"]]);
    let by_path_desc = all_pages(&db, None, Sort::Path, Order::Desc, 3).await;
    assert_eq!(by_path_desc, [vec!["c/3", "b/2", "a/10"], vec!["a/1#json", "a/1"]]);
    // Never accessed: sorted by its fetch time (offset 0), the oldest.
    let by_access = all_pages(&db, None, Sort::LastAccess, Order::Asc, 2).await;
    assert_eq!(by_access, [vec!["a/1#json", "a/1"], vec!["a/10", "c/3"], vec!["b/2"]]);
    let by_access_desc = all_pages(&db, None, Sort::LastAccess, Order::Desc, 10).await;
    assert_eq!(by_access_desc, [vec!["b/2", "c/3", "a/10", "a/1", "a/1#json"]]);

    let under_a = all_pages(&db, Some("a/1"), Sort::Path, Order::Asc, 10).await;
    assert_eq!(under_a, [vec!["a/1", "a/1#json", "a/10"]]);
    assert_eq!(db.count_objects("hub", None).await.unwrap(), 5);
    assert_eq!(db.count_objects("hub", Some("a/")).await.unwrap(), 3);
    assert_eq!(db.count_objects("hub", Some("zzz")).await.unwrap(), 0);
    assert_eq!(db.count_objects("nobody", None).await.unwrap(), 0);

    let row = &db.list_objects("hub", Some("b/"), Sort::Path, Order::Asc, None, 1).await.unwrap()[0];
    assert_eq!((row.size, row.hits, row.mutable), (2, 0, false));
    assert_eq!(row.last_access - row.fetched_at, chrono::Duration::seconds(50));
    drop(db);
    tdb.drop().await;
}

#[tokio::test]
async fn prefixes_are_plain_text_not_patterns() {
    let (tdb, db) = TestDatabase::migrated().await;
    for path in ["a%b/x", "aXb/x", "a_b/x", "a\\b/x", "a/x"] {
        insert(&db, "hub", path, "", 1, None).await;
    }
    for (prefix, want) in [("a%", vec!["a%b/x"]), ("a_", vec!["a_b/x"]), ("a\\", vec!["a\\b/x"]), ("a/", vec!["a/x"])] {
        let rows = db.list_objects("hub", Some(prefix), Sort::Path, Order::Asc, None, 10).await.unwrap();
        assert_eq!(paths(&rows), want, "{prefix}");
    }
    let gone = db.evict_objects("hub", EvictTarget::Prefix("a%")).await.unwrap();
    assert_eq!(gone.count, 1);
    assert_eq!(db.count_objects("hub", None).await.unwrap(), 4);
    drop(db);
    tdb.drop().await;
}

#[tokio::test]
async fn eviction_reports_count_bytes_and_variants() {
    let (tdb, db) = TestDatabase::migrated().await;
    insert(&db, "hub", "pkg/a", "", 10, None).await;
    insert(&db, "hub", "pkg/a", "json", 20, None).await;
    insert(&db, "hub", "pkg/ab", "", 30, None).await;
    insert(&db, "hub", "lib/c", "", 40, None).await;
    insert(&db, "kept", "pkg/a", "", 50, None).await;

    let one = db.evict_objects("hub", EvictTarget::Path("pkg/a")).await.unwrap();
    assert_eq!((one.count, one.bytes), (2, 30), "every variant of the path, and only that path");
    let mut variants = one.variants.clone();
    variants.sort();
    assert_eq!(variants, ["", "json"]);
    let none = db.evict_objects("hub", EvictTarget::Path("pkg/a")).await.unwrap();
    assert_eq!(none, Evicted::default());
    let prefix = db.evict_objects("hub", EvictTarget::Prefix("pkg/")).await.unwrap();
    assert_eq!((prefix.count, prefix.bytes, prefix.variants), (1, 30, vec![String::new()]));
    let all = db.evict_objects("hub", EvictTarget::All).await.unwrap();
    assert_eq!((all.count, all.bytes), (1, 40));
    assert_eq!(db.count_objects("hub", None).await.unwrap(), 0);
    assert_eq!(db.count_objects("kept", None).await.unwrap(), 1, "another remote's objects stay");
    drop(db);
    tdb.drop().await;
}

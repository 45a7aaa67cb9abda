//! The pool against a PostgreSQL that goes away and comes back (a private cluster, since the
//! shared server must keep running): requests fail fast with `Unavailable` while it is down,
//! and the same [`Db`] works again once it is back, without a restart.

use std::time::{Duration, Instant};

use artifactapi_actors::catalog::{Catalog, CatalogError, ObjectKey};

use super::testing::cluster::PrivateCluster;
use super::testing::TestDatabase;
use super::{Db, DbError, PgCatalog};

const TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn the_pool_fails_fast_while_postgres_is_down_and_heals_when_it_is_back() {
    let cluster = PrivateCluster::init();

    // Down at start: `connect` gives up after its window, naming the settings to check.
    let err = Db::connect_within(cluster.settings(TIMEOUT), Duration::from_secs(1)).await.unwrap_err();
    let want = format!("DBHOST=127.0.0.1 DBPORT={} DBNAME=postgres", cluster.port());
    assert!(matches!(&err, DbError::Unavailable(m) if m.contains(&want)), "{err}");

    // Down at start but up soon: `connect` waits for it.
    let connecting = tokio::spawn(Db::connect_within(cluster.settings(TIMEOUT), Duration::from_secs(30)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.start();
    let db = connecting.await.unwrap().expect("connect retries until the server is up");
    db.migrate().await.unwrap();
    let catalog = PgCatalog::new(db.clone());
    let key = ObjectKey::new("hub", "a", "");
    assert_eq!(catalog.lookup(&key).await.unwrap(), None);
    // Fill the pool with idle connections the restart will break.
    let held: Vec<_> = futures_util::future::join_all((0..3).map(|_| db.client())).await;
    drop(held);

    cluster.stop();
    for _ in 0..3 {
        let start = Instant::now();
        let err = db.ping().await.unwrap_err();
        assert!(matches!(err, DbError::Unavailable(_)), "{err}");
        let err = catalog.lookup(&key).await.unwrap_err();
        assert!(matches!(err, CatalogError::Unavailable(_)), "{err}");
        assert!(start.elapsed() < TIMEOUT * 2 + Duration::from_secs(1), "took {:?}", start.elapsed());
    }

    cluster.start();
    db.ping().await.expect("the first query after the restart works");
    assert_eq!(catalog.lookup(&key).await.unwrap(), None, "the schema is still there");
    let clients: Vec<_> = futures_util::future::join_all((0..4).map(|_| db.client())).await;
    for c in &clients {
        c.as_ref().expect("every pooled connection is fresh").simple_query("SELECT 1").await.unwrap();
    }
}

#[tokio::test]
async fn an_exhausted_pool_answers_unavailable_within_the_timeout() {
    let tdb = TestDatabase::create().await;
    let mut settings = tdb.settings();
    settings.pool_size = 1;
    settings.timeout = Duration::from_millis(500);
    let db = Db::new(settings).unwrap();
    let busy = db.client().await.unwrap();
    let start = Instant::now();
    let err = db.ping().await.unwrap_err();
    assert!(matches!(&err, DbError::Unavailable(m) if m.contains("timed out")), "{err}");
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    drop(busy);
    db.ping().await.unwrap();
    drop(db);
    tdb.drop().await;
}

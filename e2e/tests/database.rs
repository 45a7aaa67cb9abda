//! The service heals after a PostgreSQL restart without being restarted itself: while the
//! database is down, requests that need it get 503 quickly (never a hang) and immutable objects
//! already served keep being served; once it is back, everything works again on the same
//! process, and health says which dependency failed (503) and recovered (200).

use std::time::{Duration, Instant};

use artifactapi::db::testing::cluster::PrivateCluster;
use artifactapi_e2e::{generic_remote, pattern_bytes, poll_until, sha256_hex, Options, Server, Storage, Upstream};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_postgresql_restart() {
    let cluster = PrivateCluster::init();
    cluster.start();
    let up = Upstream::start().await;
    let cached = pattern_bytes(50_000, 3);
    up.put_bytes("/a.bin", cached.clone());
    up.put_bytes("/b.bin", pattern_bytes(10_000, 4));
    let opts = Options::new(Storage::Fs, false)
        .env("DBHOST", "127.0.0.1")
        .env("DBPORT", cluster.port())
        .env("DBUSER", "postgres")
        .env("DBNAME", "postgres")
        .env("DB_TIMEOUT", 2);
    let s = Server::start(opts).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    assert_eq!(s.proxy_get("gen", "a.bin").await.status, StatusCode::OK);
    s.wait_cached("gen", "a.bin").await;

    cluster.stop();

    // An object already known to be immutable is still served.
    let hit = s.proxy_get("gen", "a.bin").await;
    assert_eq!((hit.status, hit.x_cache()), (StatusCode::OK, "HIT"), "{}", hit.describe());
    assert_eq!(sha256_hex(&hit.body), sha256_hex(&cached));
    // What needs the catalog fails fast with 503.
    let started = Instant::now();
    let miss = s.proxy_get("gen", "b.bin").await;
    assert_eq!(miss.status, StatusCode::SERVICE_UNAVAILABLE, "{}", miss.describe());
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let list = s.get("/api/v2/remotes").await;
    assert_eq!(list.status, StatusCode::SERVICE_UNAVAILABLE, "{}", list.describe());
    // Health names the failing dependency; liveness stays up.
    let health = s.get("/api/v2/health").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{}", health.describe());
    let h = health.json();
    assert_eq!(
        (h["checks"]["database"]["status"].as_str(), h["checks"]["storage"]["status"].as_str()),
        (Some("error"), Some("ok")),
        "{h}"
    );
    assert_eq!(s.get("/api/v2/health/live").await.status, StatusCode::OK);
    assert_eq!(up.count("/b.bin"), 0, "nothing went upstream without the catalog");

    cluster.start();

    let back =
        poll_until("the catalog to answer again", Duration::from_secs(30), Duration::from_millis(200), || async {
            let r = s.proxy_get("gen", "b.bin").await;
            (r.status == StatusCode::OK).then_some(r)
        })
        .await;
    assert_eq!(back.body.len(), 10_000);
    assert_eq!(s.get("/api/v2/remotes").await.status, StatusCode::OK);
    let health = s.get("/api/v2/health").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.describe());
    drop(s);
    cluster.stop();
}

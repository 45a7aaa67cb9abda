//! Faults of a service artifactapi depends on, with an instance the test owns so the shared
//! ones stay up for every other test: Redis, the coordinator, gone while the server runs;
//! PostgreSQL, the catalog, restarted and gone for a while. Every fault must show in
//! `/api/v2/health`, in `/metrics` (`artifactapi_dependency_up`) and in the event feed
//! (`dependency_down`, then `dependency_up`), and go without a restart of artifactapi.
//!
//! What degrades without Redis (README, "Running several replicas"): freshness, not-found and
//! breaker state cannot be read, so cached copies are served as fresh, fetches go ahead without
//! the cross-replica lock (a duplicate download at worst, never a wrong byte), and health says
//! the coordinator is down. Nothing needs a restart once Redis is back.

use std::time::{Duration, Instant};

use artifactapi::db::testing::cluster::PrivateCluster;
use artifactapi_e2e::faults::{assert_health_error, dependency_events, expect_event, failures, gauge, wait_healthy};
use artifactapi_e2e::redis::PrivateRedis;
use artifactapi_e2e::{
    generic_remote, pattern_bytes, poll_until, sha256_hex, File, Options, Server, Storage, Upstream,
};
use reqwest::{Method, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_gone_and_back_degrades_nothing_a_client_sees() {
    let mut redis = PrivateRedis::start().await;
    let up = Upstream::start().await;
    let cached = pattern_bytes(400_000, 51);
    let cold = pattern_bytes(300_000, 52);
    up.put("/files/cached.bin", File::new(cached.clone()));
    up.put("/files/cold.bin", File::new(cold.clone()));
    let s = Server::start(Options::new(Storage::Fs, false).env("REDIS_URL", redis.url())).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let r = s.proxy_get("gen", "files/cached.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"));
    s.wait_cached("gen", "files/cached.bin").await;
    let health = s.get("/api/v2/health").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.describe());
    assert_eq!(gauge(&s, "coordinator").await, 1.0);
    let mut events = dependency_events(&s).await;

    redis.stop();
    let r = s.proxy_get("gen", "files/cached.bin").await;
    assert_eq!(r.status, StatusCode::OK, "a cached copy without Redis: {}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&cached));
    let r = s.proxy_get("gen", "files/cold.bin").await;
    assert_eq!(r.status, StatusCode::OK, "a cold fetch without Redis: {}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&cold));
    let health = s.get("/api/v2/health").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{}", health.describe());
    let h = health.json();
    assert_eq!(h["checks"]["coordinator"]["status"], "error", "{h}");
    assert_eq!(h["checks"]["database"]["status"], "ok", "{h}");
    // Events go through Redis; this replica's own clients still get its events.
    let down = expect_event(&mut events, "dependency_down", "coordinator").await;
    assert_eq!(down["detail"]["backend"], "redis", "{down}");
    assert!(down["detail"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{down}");
    assert_eq!(gauge(&s, "coordinator").await, 0.0);
    assert_eq!(failures(&s, "coordinator").await, 1.0);

    redis.resume().await;
    expect_event(&mut events, "dependency_up", "coordinator").await;
    poll_until("health once Redis is back", Duration::from_secs(20), Duration::from_millis(100), || async {
        (s.get("/api/v2/health").await.status == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(gauge(&s, "coordinator").await, 1.0);
    let r = s.proxy_get("gen", "files/cold.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "what was fetched without Redis is cached");
    // Configuration changes are announced through Redis again: a new remote works at once.
    s.create_remote(generic_remote("gen2", &up.base_url())).await;
    let r = s.proxy_get("gen2", "files/cached.bin").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&cached));
}

/// PostgreSQL restarted, then gone for a while (12 s here; the behaviour does not change with
/// the length: every request that needs the catalog fails at once with a 503 and the pool dials
/// again on the next one). What this replica committed itself is served without the catalog
/// (immutable objects fresh forever are held in memory); everything else is a clear 503, and
/// nothing is fetched from the upstream that could not be recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_and_gone_for_a_while_recovers_without_a_restart() {
    let pg = PrivateCluster::init();
    pg.start();
    let up = Upstream::start().await;
    let (hot, cold, later) = (pattern_bytes(300_000, 61), pattern_bytes(200_000, 62), pattern_bytes(100_000, 63));
    up.put("/files/hot.bin", File::new(hot.clone()));
    up.put("/files/cold.bin", File::new(cold.clone()));
    up.put("/files/later.bin", File::new(later.clone()));
    let opts = Options::new(Storage::Fs, false)
        .env("DBHOST", "127.0.0.1")
        .env("DBPORT", pg.port())
        .env("DBUSER", "postgres")
        .env("DBNAME", "postgres");
    let s = Server::start(opts).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let r = s.proxy_get("gen", "files/hot.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"));
    s.wait_cached("gen", "files/hot.bin").await;

    // Restarted: the connections it closed are dropped at checkout, new ones dialled.
    pg.stop();
    pg.start();
    let r = s.proxy_get("gen", "files/cold.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "right after a restart: {}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&cold));
    s.wait_cached("gen", "files/cold.bin").await;
    wait_healthy(&s).await;
    // The restart may have been seen by the dependency checks (down, then up again) or not.
    poll_until("the database gauge at 1", Duration::from_secs(20), Duration::from_millis(100), || async {
        (gauge(&s, "database").await == 1.0).then_some(())
    })
    .await;
    let failed_before = failures(&s, "database").await;
    let mut events = dependency_events(&s).await;

    // Gone.
    pg.stop();
    let gone = Instant::now();
    for (path, bytes) in [("files/hot.bin", &hot), ("files/cold.bin", &cold)] {
        let r = s.proxy_get("gen", path).await;
        assert_eq!(r.status, StatusCode::OK, "{path} without the catalog: {}", r.describe());
        assert_eq!(sha256_hex(&r.body), sha256_hex(bytes), "{path}");
    }
    let r = s.proxy_get("gen", "files/later.bin").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "an uncached file without the catalog: {}", r.describe());
    assert_eq!(up.count("/files/later.bin"), 0, "fetched what could not be recorded");
    let spec = generic_remote("gen2", &up.base_url());
    let r = s.send_json(Method::POST, "/api/v2/remotes", &spec).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a configuration change: {}", r.describe());
    let h = assert_health_error(&s, "database").await;
    assert_eq!(h["checks"]["storage"]["status"], "ok", "{h}");
    let down = expect_event(&mut events, "dependency_down", "database").await;
    assert_eq!(down["detail"]["backend"], "postgresql", "{down}");
    assert_eq!(gauge(&s, "database").await, 0.0);
    assert_eq!(failures(&s, "database").await, failed_before + 1.0);
    tokio::time::sleep(Duration::from_secs(12).saturating_sub(gone.elapsed())).await;
    let r = s.proxy_get("gen", "files/hot.bin").await;
    assert_eq!(r.status, StatusCode::OK, "still served after 12 s: {}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&hot));
    assert_eq!(s.proxy_get("gen", "files/later.bin").await.status, StatusCode::SERVICE_UNAVAILABLE);

    pg.start();
    expect_event(&mut events, "dependency_up", "database").await;
    wait_healthy(&s).await;
    assert_eq!(gauge(&s, "database").await, 1.0);
    let r = s.proxy_get("gen", "files/later.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "{}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&later));
    s.wait_cached("gen", "files/later.bin").await;
    assert_eq!(up.count("/files/later.bin"), 1);
    s.create_remote(generic_remote("gen2", &up.base_url())).await;
    let r = s.proxy_get("gen2", "files/hot.bin").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
}

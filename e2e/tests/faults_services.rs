//! Faults of a service artifactapi depends on, with an instance the test owns so the shared
//! ones stay up for every other test: Redis, the coordinator, gone while the server runs.
//!
//! What degrades without Redis (README, "Running several replicas"): freshness, not-found and
//! breaker state cannot be read, so cached copies are served as fresh, fetches go ahead without
//! the cross-replica lock (a duplicate download at worst, never a wrong byte), and health says
//! the coordinator is down. Nothing needs a restart once Redis is back.

use std::time::Duration;

use artifactapi_e2e::redis::PrivateRedis;
use artifactapi_e2e::{
    generic_remote, pattern_bytes, poll_until, sha256_hex, File, Options, Server, Storage, Upstream,
};
use reqwest::StatusCode;

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

    redis.resume().await;
    poll_until("health once Redis is back", Duration::from_secs(20), Duration::from_millis(100), || async {
        (s.get("/api/v2/health").await.status == StatusCode::OK).then_some(())
    })
    .await;
    let r = s.proxy_get("gen", "files/cold.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "what was fetched without Redis is cached");
    // Configuration changes are announced through Redis again: a new remote works at once.
    s.create_remote(generic_remote("gen2", &up.base_url())).await;
    let r = s.proxy_get("gen2", "files/cached.bin").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&cached));
}

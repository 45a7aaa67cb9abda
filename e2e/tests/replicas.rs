//! Two replicas of one deployment: separate processes sharing the database, the storage (the
//! same DATA_DIR, or the same S3 bucket) and the Redis namespace. What one replica cached is a
//! HIT on the other, and a breaker opened through one fails fast on the other. Shared freshness
//! and breaker state need Redis, so these run on the Redis configurations only.

use artifactapi_e2e::{generic_remote, matrix, pattern_bytes, sha256_hex, File, Mode, Options, Server, Upstream};
use reqwest::StatusCode;

async fn replicas_share_the_cache_and_the_breaker(opts: Options) {
    let opts = opts.env("BREAKER_THRESHOLD", 2).env("BREAKER_OPEN", 60);
    let up = Upstream::start().await;
    let body = pattern_bytes(300_000, 41);
    up.put("/files/shared.bin", File::new(body.clone()));
    let a = Server::start(opts.clone()).await;
    a.create_remote(generic_remote("gen", &up.base_url())).await;
    let b = Server::start(opts.shared_with(&a)).await;

    let ra = a.proxy_get("gen", "files/shared.bin").await;
    assert_eq!((ra.status, ra.x_cache()), (StatusCode::OK, "MISS"));
    a.wait_cached("gen", "files/shared.bin").await;
    let rb = b.proxy_get("gen", "files/shared.bin").await;
    assert_eq!((rb.status, rb.x_cache()), (StatusCode::OK, "HIT"), "cached through A, a HIT on B");
    assert_eq!(sha256_hex(&rb.body), sha256_hex(&body));
    assert_eq!(rb.header("etag"), Some(format!("\"{}\"", sha256_hex(&body)).as_str()));
    assert_eq!(up.count("/files/shared.bin"), 1);

    up.set_mode(Mode::Error500);
    for path in ["x/1", "x/2"] {
        assert_eq!(a.proxy_get("gen", path).await.status, StatusCode::BAD_GATEWAY, "{path} via A");
    }
    assert_eq!(a.proxy_get("gen", "x/3").await.status, StatusCode::SERVICE_UNAVAILABLE, "open on A");
    let before = up.total();
    let r = b.proxy_get("gen", "x/3").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "the breaker opened through A fails fast on B");
    assert!(r.header("retry-after").is_some());
    assert_eq!(up.total(), before, "B did not contact the upstream");
    let r = b.proxy_get("gen", "files/shared.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "cached objects still served with the breaker open");
}
matrix!(replicas_share_the_cache_and_the_breaker, redis_only);

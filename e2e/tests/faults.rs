//! Upstream faults, on every storage/coordination configuration: stale copies while the
//! upstream is down, the circuit breaker opening, failing fast and closing again, and failed
//! transfers (reset mid-body, 500, HTML error pages, timeouts) that must reach the client as
//! failures and never be cached.

use std::time::Duration;

use artifactapi_e2e::client::assert_failed_transfer;
use artifactapi_e2e::{matrix, pattern_bytes, poll_until, try_fetch, File, Mode, Options};
use reqwest::StatusCode;
use serde_json::json;

const POLL: Duration = Duration::from_millis(100);

use artifactapi_e2e::with_generic_remote as setup;

async fn stale_copies_are_served_while_the_upstream_is_down(opts: Options) {
    let opts = opts.env("BREAKER_THRESHOLD", 100);
    let spec = json!({ "immutable_ttl": 1, "mutable_ttl": 1, "mutable_patterns": ["^meta/"] });
    let (s, up) = setup(opts, spec).await;
    let meta = br#"{"latest":"1.0"}"#.to_vec();
    let blob = pattern_bytes(50_000, 21);
    up.put("/meta/index.json", File::new(meta.clone()).etag("m1"));
    up.put("/files/blob.bin", File::new(blob.clone()));
    for path in ["meta/index.json", "files/blob.bin"] {
        let r = s.proxy_get("gen", path).await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "{path}");
        s.wait_cached("gen", path).await;
    }

    up.down().await;
    for (path, expected) in [("meta/index.json", &meta), ("files/blob.bin", &blob)] {
        poll_until("a STALE answer once the TTL has passed", Duration::from_secs(15), POLL, || async {
            let r = s.proxy_get("gen", path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.describe());
            assert_eq!(&r.body.to_vec(), expected, "{path}");
            (r.x_cache() == "STALE").then_some(())
        })
        .await;
    }
    let r = s.proxy_get("gen", "files/uncached.bin").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "uncached while down: {}", r.describe());
    assert!(!r.error_message().is_empty());

    up.up().await;
    up.put("/files/uncached.bin", File::new("back"));
    let r = s.proxy_get("gen", "files/uncached.bin").await;
    assert_eq!((r.status, r.x_cache(), r.text().as_str()), (StatusCode::OK, "MISS", "back"));
}
matrix!(stale_copies_are_served_while_the_upstream_is_down);

async fn the_breaker_opens_fails_fast_and_closes(opts: Options) {
    let opts = opts.env("BREAKER_THRESHOLD", 2).env("BREAKER_OPEN", 1);
    let (s, up) = setup(opts, json!({})).await;
    up.set_mode(Mode::Error500);
    for path in ["a/1", "a/2"] {
        let r = s.proxy_get("gen", path).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{path}: {}", r.describe());
    }
    assert_eq!(up.total(), 2);
    let r = s.proxy_get("gen", "a/3").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "open breaker: {}", r.describe());
    assert!(r.header("retry-after").is_some(), "503 without Retry-After");
    assert_eq!(up.total(), 2, "an open breaker does not contact the upstream");

    // After BREAKER_OPEN one probe goes through; it fails, so the breaker opens again.
    let probe = poll_until("the half-open probe", Duration::from_secs(15), POLL, || async {
        let r = s.proxy_get("gen", "a/3").await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(up.total(), 2, "fail-fast answers must not reach the upstream");
            return None;
        }
        Some(r)
    })
    .await;
    assert_eq!(probe.status, StatusCode::BAD_GATEWAY, "{}", probe.describe());
    assert_eq!(up.total(), 3, "exactly one probe");
    let r = s.proxy_get("gen", "a/3").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a failed probe reopens the breaker");
    assert_eq!(up.total(), 3);

    // The upstream recovers: the next probe succeeds and closes the breaker.
    up.set_mode(Mode::Normal);
    up.put("/a/3", File::new("three"));
    up.put("/a/4", File::new("four"));
    let ok = poll_until("a successful probe", Duration::from_secs(15), POLL, || async {
        let r = s.proxy_get("gen", "a/3").await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(up.total(), 3, "fail-fast answers must not reach the upstream");
            return None;
        }
        Some(r)
    })
    .await;
    assert_eq!((ok.status, ok.text().as_str()), (StatusCode::OK, "three"));
    assert_eq!(up.total(), 4);
    let r = s.proxy_get("gen", "a/4").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "four"), "the breaker is closed again");
}
matrix!(the_breaker_opens_fails_fast_and_closes);

async fn a_reset_mid_body_fails_the_transfer_and_caches_nothing(opts: Options) {
    let (s, up) = setup(opts.env("BREAKER_THRESHOLD", 100), json!({})).await;
    let body = pattern_bytes(1 << 20, 22);
    let get = || s.client().get(s.proxy_url("gen", "files/reset.bin"));
    up.put("/files/reset.bin", File::new(body.clone()));
    up.set_mode(Mode::ResetMidBody);
    assert_failed_transfer(try_fetch(get()).await, body.len());
    let before = up.count("/files/reset.bin");
    up.set_mode(Mode::Normal);
    let r = try_fetch(get()).await.expect("complete transfer once the upstream is healthy");
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "nothing was cached from the reset transfer");
    assert_eq!(r.body, body);
    assert!(up.count("/files/reset.bin") > before, "the next request went upstream again");
}
matrix!(a_reset_mid_body_fails_the_transfer_and_caches_nothing);

async fn upstream_error_answers_are_502_and_never_cached(opts: Options) {
    let (s, up) = setup(opts.env("BREAKER_THRESHOLD", 100), json!({})).await;
    let body = pattern_bytes(100_000, 23);
    for (path, mode) in [
        ("files/e500.bin", Mode::Error500),
        ("files/h503.bin", Mode::HtmlError(503)),
        ("files/h502.bin", Mode::HtmlError(502)),
    ] {
        up.put(path, File::new(body.clone()));
        up.set_mode(mode);
        let r = try_fetch(s.client().get(s.proxy_url("gen", path))).await.expect("an error answer");
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{path} ({mode:?}): {}", r.describe());
        assert!(!r.error_message().is_empty());
        up.set_mode(Mode::Normal);
        let r = try_fetch(s.client().get(s.proxy_url("gen", path))).await.expect("a complete transfer");
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "{path}: the error answer was not cached");
        assert_eq!(r.body, body, "{path}");
    }
}
matrix!(upstream_error_answers_are_502_and_never_cached);

async fn an_upstream_silent_past_the_read_timeout_is_a_gateway_error(opts: Options) {
    // Connect and read limits both at 1 s: whether the wait for headers is bounded by the read
    // timeout alone or by connect + read, 4 s of silence is past it.
    let opts = opts.env("BREAKER_THRESHOLD", 100).env("UPSTREAM_READ_TIMEOUT", 1).env("UPSTREAM_CONNECT_TIMEOUT", 1);
    let (s, up) = setup(opts, json!({})).await;
    let body = pattern_bytes(10_000, 24);
    up.put("/files/slow-headers.bin", File::new(body.clone()));
    up.set_header_delay(Duration::from_secs(4));
    let url = s.proxy_url("gen", "files/slow-headers.bin");
    let r = try_fetch(s.client().get(&url)).await.expect("an error answer");
    assert!(matches!(r.status.as_u16(), 502 | 504), "no headers within the upstream timeouts gave {}", r.status);
    up.set_header_delay(Duration::ZERO);
    let r = try_fetch(s.client().get(&url)).await.expect("a complete transfer");
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"));
    assert_eq!(r.body, body);
}
matrix!(an_upstream_silent_past_the_read_timeout_is_a_gateway_error);

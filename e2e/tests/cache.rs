//! Caching behaviour of a generic remote, on every storage/coordination configuration: what a
//! MISS and a HIT look like (headers, HEAD, ranges, conditional requests), coalescing of
//! concurrent cold requests, streaming while the upstream is still sending, a fill that
//! survives its client leaving, revalidation of mutable objects and negative caching.

use std::time::{Duration, SystemTime};

use artifactapi_e2e::{concurrent_gets, fetch, matrix, pattern_bytes, poll_until, sha256_hex, File, Mode, Options};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

const POLL: Duration = Duration::from_millis(100);

use artifactapi_e2e::with_generic_remote as setup;

async fn health_and_generic_file_round_trip(opts: Options) {
    let (s, up) = setup(opts, json!({})).await;
    let health = s.get("/api/v2/health").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.describe());
    let h = health.json();
    assert_eq!(h["status"], "ok", "{h}");
    for check in ["database", "storage", "coordinator"] {
        assert_eq!(h["checks"][check]["status"], "ok", "{check}: {h}");
    }

    let body = pattern_bytes(100_000, 11);
    let sha = sha256_hex(&body);
    up.put("/files/a.bin", File::new(body.clone()).content_type("application/x-test"));
    let first = s.proxy_get("gen", "files/a.bin").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.describe());
    assert_eq!(first.x_cache(), "MISS");
    assert_eq!(sha256_hex(&first.body), sha);

    let hit = s.wait_cached("gen", "files/a.bin").await;
    assert_eq!(hit.x_cache(), "HIT");
    assert_eq!(hit.body, body);
    assert_eq!(hit.header("etag"), Some(format!("\"{sha}\"").as_str()));
    assert_eq!(hit.header("content-length"), Some("100000"));
    assert_eq!(hit.header("accept-ranges"), Some("bytes"));
    assert_eq!(hit.header("content-type"), Some("application/x-test"));

    let head = fetch(s.client().head(s.proxy_url("gen", "files/a.bin"))).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("100000"));
    assert_eq!(head.header("etag"), hit.header("etag"));
    assert_eq!(head.header("x-cache"), Some("HIT"));

    let ranges: &[(&str, u16, &str, std::ops::Range<usize>)] = &[
        ("bytes=0-0", 206, "bytes 0-0/100000", 0..1),
        ("bytes=-10", 206, "bytes 99990-99999/100000", 99_990..100_000),
        ("bytes=5-", 206, "bytes 5-99999/100000", 5..100_000),
        ("bytes=99999-200000", 206, "bytes 99999-99999/100000", 99_999..100_000),
        ("bytes=100000-", 416, "bytes */100000", 0..0),
        ("bytes=200000-200010", 416, "bytes */100000", 0..0),
    ];
    for (range, status, content_range, slice) in ranges {
        let r = fetch(s.client().get(s.proxy_url("gen", "files/a.bin")).header("range", *range)).await;
        assert_eq!(r.status.as_u16(), *status, "{range}: {}", r.describe());
        assert_eq!(r.header("content-range"), Some(*content_range), "{range}");
        // Without a length a keep-alive client waits for the connection to close.
        let framed = r.header("content-length").is_some() || r.header("transfer-encoding").is_some();
        assert!(framed, "{range}: a {status} without Content-Length");
        if *status == 206 {
            assert_eq!(r.body, body[slice.clone()], "{range}");
            assert_eq!(r.header("content-length"), Some(slice.len().to_string().as_str()), "{range}");
        }
    }

    let etag = format!("\"{sha}\"");
    let r = fetch(s.client().get(s.proxy_url("gen", "files/a.bin")).header("if-none-match", &etag)).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    let r = fetch(s.client().get(s.proxy_url("gen", "files/a.bin")).header("if-none-match", "\"other\"")).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, body.len()));

    assert_eq!(up.count("/files/a.bin"), 1, "the upstream saw the file exactly once");
}
matrix!(health_and_generic_file_round_trip);

async fn concurrent_cold_gets_fetch_upstream_once(opts: Options) {
    let (s, up) = setup(opts, json!({})).await;
    let body = pattern_bytes(8 << 20, 12);
    up.put("/big/8m.bin", File::new(body.clone()));
    up.set_mode(Mode::Slow { bytes_per_sec: 4 << 20 });
    let results = concurrent_gets(s.client(), &s.proxy_url("gen", "big/8m.bin"), 50).await;
    let sha = sha256_hex(&body);
    for (i, r) in results.into_iter().enumerate() {
        let r = r.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.status, StatusCode::OK, "request {i}");
        assert_eq!((r.len, r.sha256.as_str()), (body.len(), sha.as_str()), "request {i} ({})", r.x_cache);
    }
    assert_eq!(up.count("/big/8m.bin"), 1, "50 concurrent cold requests, one upstream request");
}
matrix!(concurrent_cold_gets_fetch_upstream_once);

async fn a_miss_streams_bytes_as_they_arrive(opts: Options) {
    let (s, up) = setup(opts, json!({})).await;
    let body = pattern_bytes(4 << 20, 13);
    up.put("/stream/4m.bin", File::new(body.clone()));
    up.set_mode(Mode::Slow { bytes_per_sec: 1 << 20 });
    let resp = s.client().get(s.proxy_url("gen", "stream/4m.bin")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("x-cache").unwrap(), "MISS");
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.expect("a first chunk").unwrap();
    let upstream_then = up.progress("/stream/4m.bin");
    assert_eq!(
        upstream_then.completed, 0,
        "the client got its first bytes only after the upstream had sent everything ({upstream_then:?})"
    );
    let mut got = first.to_vec();
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(sha256_hex(&got), sha256_hex(&body));
    assert_eq!(up.count("/stream/4m.bin"), 1);
}
matrix!(a_miss_streams_bytes_as_they_arrive);

async fn a_leader_leaving_does_not_cancel_the_fill(opts: Options) {
    let (s, up) = setup(opts, json!({})).await;
    let body = pattern_bytes(2 << 20, 14);
    up.put("/leave/2m.bin", File::new(body.clone()));
    up.set_mode(Mode::Slow { bytes_per_sec: 1 << 20 });
    let resp = s.client().get(s.proxy_url("gen", "leave/2m.bin")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.bytes_stream();
    stream.next().await.expect("a first chunk").unwrap();
    drop(stream); // the leader goes away mid-download

    up.wait_completed("/leave/2m.bin", 1, Duration::from_secs(30)).await;
    let hit = poll_until("the filled object to be a HIT", Duration::from_secs(15), POLL, || async {
        let r = s.proxy_get("gen", "leave/2m.bin").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
        assert_eq!(sha256_hex(&r.body), sha256_hex(&body), "X-Cache {}", r.x_cache());
        (r.x_cache() == "HIT").then_some(r)
    })
    .await;
    assert_eq!(hit.body.len(), body.len());
    assert_eq!(up.count("/leave/2m.bin"), 1, "the fill was not restarted");
}
matrix!(a_leader_leaving_does_not_cancel_the_fill);

async fn mutable_objects_revalidate(opts: Options) {
    let (s, up) = setup(opts, json!({ "mutable_ttl": 1, "mutable_patterns": ["\\.json$"] })).await;
    let v1 = br#"{"version":1}"#.to_vec();
    up.put("/meta/index.json", File::new(v1.clone()).etag("v1").content_type("application/json"));
    let modified = SystemTime::now() - Duration::from_secs(600);
    up.put("/meta/dated.json", File::new("dated").last_modified(modified));

    for path in ["meta/index.json", "meta/dated.json"] {
        let r = s.proxy_get("gen", path).await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "{path}");
        let expected = r.body.clone();
        let revalidated = poll_until("revalidation after mutable_ttl", Duration::from_secs(15), POLL, || async {
            let r = s.proxy_get("gen", path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert_eq!(r.body, expected, "{path}");
            // A MISS right after the first one joined its fill (see Server::wait_cached).
            let joined = r.x_cache() == "MISS" && up.count(path) == 1;
            assert!(joined || matches!(r.x_cache(), "HIT" | "REVALIDATED"), "{path}: X-Cache {}", r.x_cache());
            (r.x_cache() == "REVALIDATED").then_some(r)
        })
        .await;
        assert_eq!(revalidated.header("content-length"), Some(expected.len().to_string().as_str()));
        assert_eq!(up.count(path), 2, "{path}: one fetch, one conditional request");
    }
    let sent = up.requests("/meta/index.json");
    assert_eq!(sent[1].header("if-none-match"), Some("\"v1\""));
    let sent = up.requests("/meta/dated.json");
    assert_eq!(sent[1].header("if-modified-since"), Some(httpdate::fmt_http_date(modified).as_str()));

    let v2 = br#"{"version":2,"more":true}"#.to_vec();
    up.put("/meta/index.json", File::new(v2.clone()).etag("v2").content_type("application/json"));
    let fresh = poll_until("the new content", Duration::from_secs(15), POLL, || async {
        let r = s.proxy_get("gen", "meta/index.json").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body == v1 || r.body == v2, "neither version: {}", r.describe());
        (r.body == v2).then_some(r)
    })
    .await;
    assert_eq!(fresh.x_cache(), "MISS", "new bytes from the upstream are a MISS");
    let after = s.wait_cached("gen", "meta/index.json").await;
    assert_eq!(after.body, v2);
}
matrix!(mutable_objects_revalidate);

async fn upstream_not_found_is_remembered(opts: Options) {
    let (s, up) = setup(opts.env("NEGATIVE_TTL", 3), json!({})).await;
    for path in ["missing/x.bin", "gone/y.bin"] {
        if path.starts_with("gone") {
            up.put(path, File::new("removed").status(410));
        }
        // The upstream's own answer is passed on (410 stays 410); a remembered miss is a 404.
        let first = if path.starts_with("gone") { StatusCode::GONE } else { StatusCode::NOT_FOUND };
        let r = s.proxy_get("gen", path).await;
        assert_eq!(r.status, first, "{path}: {}", r.describe());
        let r = s.proxy_get("gen", path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(up.count(path), 1, "{path}: the second request within NEGATIVE_TTL stayed local");
    }
    let body = pattern_bytes(1000, 15);
    up.put("/missing/x.bin", File::new(body.clone()));
    let r = poll_until("the negative entry to expire", Duration::from_secs(20), POLL, || async {
        let r = s.proxy_get("gen", "missing/x.bin").await;
        (r.status == StatusCode::OK).then_some(r)
    })
    .await;
    assert_eq!(r.body, body);
    assert_eq!(up.count("/missing/x.bin"), 2);
}
matrix!(upstream_not_found_is_remembered);

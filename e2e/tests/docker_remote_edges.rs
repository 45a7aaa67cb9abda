//! Docker remotes at their edges: content that fails its digest, hostile names, and requests
//! that are no pull.
//!
//! - An upstream serving a blob or a manifest whose bytes do not match the digest asked for:
//!   a HEAD of the blob and a GET of the manifest answer 502 with an OCI error, a GET of the
//!   blob is cut off before its last byte (the status line had left already), and nothing is
//!   stored; once the upstream is right again, the same request is a MISS with the right bytes.
//! - Concurrent pulls of one uncached blob share one upstream GET, and all get every byte.
//! - Hostile names, tags, digests and queries get their OCI error code, and the upstream is
//!   never asked.

use artifactapi_e2e::docker::{push, Front, FrontAuth, Layout, Registry};
use artifactapi_e2e::raw;
use std::time::Duration;

use artifactapi_e2e::{concurrent_gets, fetch, poll_until, sha256_hex, try_fetch, Options, Server, Storage};
use reqwest::StatusCode;
use serde_json::json;

async fn start(layout: &Layout) -> (Registry, Front, Server) {
    let reg = Registry::start().await;
    push(layout, "amd", &format!("{}/app:1.0", reg.host()), &[]);
    let front = Front::start(&reg.url(), FrontAuth::None).await;
    (reg, front, Server::start(Options::new(Storage::Fs, false)).await)
}

/// Creates a docker virtual `name` in front of the remote `member`.
async fn docker_virtual(s: &Server, name: &str, member: &str) {
    let spec = json!({ "name": name, "package_type": "docker", "members": [member] });
    let resp = s.send_json(reqwest::Method::POST, "/api/v2/virtuals", &spec).await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.describe());
}

async fn content_failing_its_digest(opts: Options) {
    let layout = Layout::build(6, 300_000);
    let reg = Registry::start().await;
    push(&layout, "amd", &format!("{}/app:1.0", reg.host()), &[]);
    let front = Front::start(&reg.url(), FrontAuth::None).await;
    let s = Server::start(opts).await;
    s.create_remote(json!({ "name": "hub", "package_type": "docker", "base_url": front.url() })).await;
    let layer = layout.blobs("amd").pop().expect("a layer");
    let big = layout.blobs("amd").into_iter().max_by_key(|d| layout.blob(d).len()).expect("layers");
    let url = s.url(&format!("/v2/hub/app/blobs/{big}"));
    front.corrupt(Some(&big));
    let mut corrupted = layout.blob(&big);
    *corrupted.last_mut().unwrap() ^= 0xff;

    // HEAD waits for the fill: a clean 502 with an OCI error naming the digest.
    let head = fetch(s.client().head(&url)).await;
    assert_eq!(head.status, StatusCode::BAD_GATEWAY);
    // GET streams: it is cut off before its last byte, never served whole.
    match try_fetch(s.client().get(&url)).await {
        Ok(r) => {
            assert!(r.status != StatusCode::OK || r.body.len() < corrupted.len(), "a corrupt blob was served whole")
        }
        Err(e) => eprintln!("corrupt blob GET failed as it must: {e}"),
    }
    let other = fetch(s.client().get(s.url(&format!("/v2/hub/app/blobs/{layer}")))).await;
    assert_eq!(other.status, StatusCode::OK, "other blobs are not affected");
    for bytes in [layout.blob(&big), corrupted] {
        let path = s.blob_path(&sha256_hex(&bytes));
        assert!(!path.exists(), "{} was stored", path.display());
    }
    let objects = s.get("/api/v2/remotes/hub/objects").await;
    assert!(!objects.text().contains(big.trim_start_matches("sha256:")), "{}", objects.describe());
    let again = fetch(s.client().head(&url)).await;
    assert_eq!(again.status, StatusCode::BAD_GATEWAY, "nothing was remembered: the upstream is asked again");
    assert_eq!(front.count("GET", &format!("/blobs/{big}")), 3);

    // A manifest by digest is read whole before it is answered: a clean 502.
    let manifest = layout.digest("amd");
    front.corrupt(Some(&manifest));
    let r = fetch(s.client().get(s.url(&format!("/v2/hub/app/manifests/{manifest}")))).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
    let message = r.json()["errors"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("digest mismatch"), "{message}");

    // The upstream is right again: a MISS with the right bytes, then a HIT.
    front.corrupt(None);
    let r = fetch(s.client().get(&url)).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"));
    assert_eq!(format!("sha256:{}", sha256_hex(&r.body)), big);
    assert_eq!(r.header("docker-content-digest"), Some(big.as_str()));
    poll_until("the blob to be cached", Duration::from_secs(15), Duration::from_millis(50), || async {
        let r = fetch(s.client().get(&url)).await;
        (r.x_cache() == "HIT").then_some(())
    })
    .await;
    drop(reg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_failing_its_digest_fs() {
    content_failing_its_digest(Options::new(Storage::Fs, false)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_failing_its_digest_s3() {
    content_failing_its_digest(Options::new(Storage::S3, false)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_a_blob_share_one_upstream_fetch() {
    let layout = Layout::build(8, 8 << 20);
    let (_reg, front, s) = start(&layout).await;
    s.create_remote(json!({ "name": "hub", "package_type": "docker", "base_url": front.url() })).await;
    let big = layout.blobs("amd").into_iter().max_by_key(|d| layout.blob(d).len()).expect("layers");
    let url = s.url(&format!("/v2/hub/app/blobs/{big}"));
    let results = concurrent_gets(s.client(), &url, 8).await;
    for r in results {
        let r = r.expect("every client gets the whole blob");
        assert_eq!((r.status, format!("sha256:{}", r.sha256)), (StatusCode::OK, big.clone()));
    }
    assert_eq!(front.count("GET", &format!("/blobs/{big}")), 1, "{:?}", front.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_oci_errors_and_reach_no_upstream() {
    let layout = Layout::build(7, 10_000);
    let (_reg, front, s) = start(&layout).await;
    s.create_remote(json!({ "name": "hub", "package_type": "docker", "base_url": front.url() })).await;
    s.create_remote(json!({ "name": "gen", "package_type": "generic", "base_url": front.url() })).await;
    docker_virtual(&s, "dv", "hub").await;
    let hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    let long = format!("/v2/hub/{}/manifests/1.0", "a".repeat(300));
    let huge = format!("/v2/hub/{}/manifests/1.0", "a/".repeat(3000));
    let cases: Vec<(String, u16, &str)> = vec![
        ("/v2/hub/../etc/manifests/1.0".into(), 400, "NAME_INVALID"),
        ("/v2/hub/%2e%2e/manifests/1.0".into(), 400, "NAME_INVALID"),
        ("/v2/hub/app%2f..%2f..%2fx/manifests/1.0".into(), 400, "NAME_INVALID"),
        ("/v2/hub/app%5cx/manifests/1.0".into(), 400, "NAME_INVALID"),
        ("/v2/hub/app\\x/manifests/1.0".into(), 400, "NAME_INVALID"),
        ("/v2/hub/app%00/manifests/1.0".into(), 400, "NAME_INVALID"),
        ("/v2/hub/App/manifests/1.0".into(), 400, "NAME_INVALID"),
        ("/v2/%2e%2e/app/manifests/1.0".into(), 400, "NAME_INVALID"),
        (long, 400, "NAME_INVALID"),
        (huge, 400, "NAME_INVALID"),
        ("/v2/hub/app/manifests/..".into(), 400, "TAG_INVALID"),
        ("/v2/hub/app/manifests/%2e%2e".into(), 400, "TAG_INVALID"),
        ("/v2/hub/app/manifests/-x".into(), 400, "TAG_INVALID"),
        ("/v2/hub/app/blobs/sha256:../../x".into(), 404, "UNSUPPORTED"),
        ("/v2/hub/app/blobs/sha256:..%2f..%2fx".into(), 400, "DIGEST_INVALID"),
        (format!("/v2/hub/app/blobs/sha256:{}", hex.to_uppercase()), 400, "DIGEST_INVALID"),
        (format!("/v2/hub/app/blobs/sha512:{hex}"), 400, "DIGEST_INVALID"),
        (format!("/v2/hub/app/blobs/sha512:{}{}", hex.to_uppercase(), hex.to_uppercase()), 400, "DIGEST_INVALID"),
        (format!("/v2/hub/app/manifests/md5:{hex}"), 400, "DIGEST_INVALID"),
        ("/v2/hub/app/tags/list?n=abc".into(), 400, "PAGINATION_NUMBER_INVALID"),
        ("/v2/hub/app/tags/list?last=..".into(), 400, "TAG_INVALID"),
        ("/v2/hub/app/blobs/uploads/..".into(), 404, "BLOB_UPLOAD_UNKNOWN"),
        ("/v2/nope/app/manifests/1.0".into(), 404, "NAME_UNKNOWN"),
        ("/v2/gen/app/manifests/1.0".into(), 404, "NAME_UNKNOWN"),
        ("/v2/hub/app/layers/x".into(), 404, "UNSUPPORTED"),
    ];
    for (target, status, code) in cases {
        let r = raw::request(s.port(), "GET", &target).await;
        let label: String = target.chars().take(80).collect();
        assert_eq!(r.status, status, "{label}: {}", r.head);
        assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"), "{label}");
        let body: serde_json::Value =
            serde_json::from_slice(&r.rest).unwrap_or_else(|e| panic!("{label}: {e}: {}", r.rest_text()));
        assert_eq!(body["errors"][0]["code"], code, "{label}: {body}");
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{label}");
    }
    assert!(front.seen().is_empty(), "hostile requests reached the upstream: {:?}", front.seen());

    // Referrers: docker-registry 2.8 has no referrers API, so its 404 is passed on (clients
    // then fall back to the tag schema).
    let r = fetch(s.client().get(s.url(&format!("/v2/hub/app/referrers/{}", layout.digest("amd"))))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["errors"][0]["code"], "NAME_UNKNOWN");
    assert_eq!(front.count("GET", "/referrers/"), 1);
}

/// Every route to a docker remote passes the docker rules: the generic proxy route and the
/// virtual route refuse docker repositories, pointing at `/v2/`, and ask no upstream. Before,
/// `/api/v1/remote/{docker remote}/v2/...` reached the same upstream paths as `/v2/` without
/// the docker rules (a blob of an image the blocklist refuses was served with 200) and shared
/// its cache keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_remotes_are_served_on_v2_only() {
    let layout = Layout::build(9, 10_000);
    let (_reg, front, s) = start(&layout).await;
    let spec = json!({ "name": "hub", "package_type": "docker", "base_url": front.url(), "blocklist": ["^app$"] });
    s.create_remote(spec).await;
    docker_virtual(&s, "dv", "hub").await;
    let blob = layout.blobs("amd").pop().expect("a layer");

    let r = fetch(s.client().get(s.url(&format!("/v2/hub/app/blobs/{blob}")))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.describe());
    assert_eq!(r.json()["errors"][0]["code"], "DENIED");

    for path in [
        format!("/api/v1/remote/hub/v2/app/blobs/{blob}"),
        format!("/api/v1/remote/hub/app/blobs/{blob}"),
        "/api/v1/remote/hub/v2/app/manifests/1.0".to_string(),
        "/api/v1/remote/hub/v2/app/tags/list".to_string(),
        format!("/api/v1/virtual/dv/v2/app/blobs/{blob}"),
    ] {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let r = fetch(s.client().request(method.clone(), s.url(&path))).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path}: {}", r.describe());
            if method == reqwest::Method::GET {
                assert!(r.error_message().contains("/v2/"), "{path}: the refusal points at /v2/: {}", r.describe());
            }
        }
    }
    assert!(front.seen().is_empty(), "a refused route reached the upstream: {:?}", front.seen());
    let objects = s.get("/api/v2/remotes/hub/objects").await;
    assert_eq!(objects.json()["total"], 0, "nothing was cached: {}", objects.describe());
}

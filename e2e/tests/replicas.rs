//! Replicas of one deployment: separate processes sharing the database, the storage (the
//! same DATA_DIR, or the same S3 bucket) and the Redis namespace. What one replica cached is a
//! HIT on the others, a breaker opened through one fails fast on all, a subscriber on one sees
//! the events of all, and a docker upload may move between replicas at every request. Shared
//! freshness and breaker state need Redis, so these run with Redis only: on the filesystem, and
//! on S3 served by Garage (a store as deployments run it; see `artifactapi_e2e::garage`).

use std::time::Duration;

use artifactapi_e2e::client::FetchError;
use artifactapi_e2e::oci_client::{digest, error_code, image_manifest, Registry, OCI_MANIFEST};
use artifactapi_e2e::sse::{has_fields, EventStream};
use artifactapi_e2e::{
    fetch, generic_remote, matrix, pattern_bytes, poll_until, sha256_hex, try_fetch, File, Mode, Options, Server,
    Upstream,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

const POLL: Duration = Duration::from_millis(50);
/// How long an event may take to reach a subscriber on another replica.
const EVENTS_WAIT: Duration = Duration::from_secs(15);

/// Three replicas: an object cached through A is a HIT on B and C with the same bytes and ETag
/// (one upstream GET in all), and a breaker opened by failures seen on A fails fast on B and C
/// without their contacting the upstream, while cached objects are still served everywhere.
async fn replicas_share_the_cache_and_the_breaker(opts: Options) {
    let opts = opts.env("BREAKER_THRESHOLD", 2).env("BREAKER_OPEN", 60);
    let up = Upstream::start().await;
    let body = pattern_bytes(300_000, 41);
    up.put("/files/shared.bin", File::new(body.clone()));
    let a = Server::start(opts.clone()).await;
    a.create_remote(generic_remote("gen", &up.base_url())).await;
    let b = Server::start(opts.clone().shared_with(&a)).await;
    let c = Server::start(opts.shared_with(&a)).await;

    let ra = a.proxy_get("gen", "files/shared.bin").await;
    assert_eq!((ra.status, ra.x_cache()), (StatusCode::OK, "MISS"));
    a.wait_cached("gen", "files/shared.bin").await;
    for (name, s) in [("B", &b), ("C", &c)] {
        let r = s.proxy_get("gen", "files/shared.bin").await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "cached through A, a HIT on {name}");
        assert_eq!(sha256_hex(&r.body), sha256_hex(&body));
        assert_eq!(r.header("etag"), Some(format!("\"{}\"", sha256_hex(&body)).as_str()));
    }
    assert_eq!(up.count("/files/shared.bin"), 1);

    up.set_mode(Mode::Error500);
    for path in ["x/1", "x/2"] {
        assert_eq!(a.proxy_get("gen", path).await.status, StatusCode::BAD_GATEWAY, "{path} via A");
    }
    assert_eq!(a.proxy_get("gen", "x/3").await.status, StatusCode::SERVICE_UNAVAILABLE, "open on A");
    let before = up.total();
    for (name, s) in [("B", &b), ("C", &c)] {
        let r = s.proxy_get("gen", "x/3").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "the breaker opened through A fails fast on {name}");
        assert!(r.header("retry-after").is_some());
        let r = s.proxy_get("gen", "files/shared.bin").await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "cached objects still served on {name}");
    }
    assert_eq!(up.total(), before, "B and C did not contact the upstream");
}
matrix!(replicas_share_the_cache_and_the_breaker, replicas);

/// Three replicas, one cold object behind a slow upstream, the leading replica killed mid-fetch:
/// its client sees a broken transfer (never a short 200); one other replica takes the fetch
/// lease over once it runs out and fetches once more (two upstream GETs in all), and the
/// clients on both other replicas get every byte right. What the dead replica staged stays
/// until a replica starts again, which sweeps it without touching the live replicas' staging.
async fn a_replica_killed_mid_fetch_hands_the_fetch_over(opts: Options) {
    let up = Upstream::start().await;
    let body = pattern_bytes(3 << 20, 43);
    up.put("/files/big.bin", File::new(body.clone()));
    up.set_mode(Mode::Slow { bytes_per_sec: 1 << 20 });
    let mut a = Server::start(opts.clone()).await;
    a.create_remote(generic_remote("gen", &up.base_url())).await;
    let b = Server::start(opts.clone().shared_with(&a)).await;
    let c = Server::start(opts.shared_with(&a)).await;
    let path = "files/big.bin";

    let leader = tokio::spawn(try_fetch(a.client().get(a.proxy_url("gen", path))));
    poll_until("the leader's upstream request", Duration::from_secs(10), POLL, || async {
        (up.count("/files/big.bin") == 1).then_some(())
    })
    .await;
    let followers: Vec<_> =
        [&b, &c, &b, &c].iter().map(|s| tokio::spawn(try_fetch(s.client().get(s.proxy_url("gen", path))))).collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(up.count("/files/big.bin"), 1, "followers on other replicas wait for the leader's fetch");
    a.kill();

    match leader.await.expect("leader task") {
        Ok(r) => assert!(
            r.status.is_server_error() || r.body.len() < body.len(),
            "the killed replica's client got a complete-looking {} with {} bytes",
            r.status,
            r.body.len()
        ),
        Err(FetchError::Body { received, .. }) => assert!(received < body.len(), "received {received}"),
        Err(FetchError::Request(_)) => {}
    }
    for f in followers {
        let r = f.await.expect("follower task").expect("a follower's transfer completes");
        assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
        assert_eq!(sha256_hex(&r.body), sha256_hex(&body), "a follower got wrong bytes");
    }
    assert_eq!(up.count("/files/big.bin"), 2, "exactly one replica took the fetch over");
    let r = b.proxy_get("gen", path).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"));

    // The dead replica's staging folder holds its partial spool until a replica starts again.
    let staging = a.data_dir().join("staging");
    let folders = || -> Vec<_> {
        std::fs::read_dir(&staging).unwrap().flatten().filter(|e| e.path().is_dir()).map(|e| e.path()).collect()
    };
    assert_eq!(folders().len(), 3, "one staging folder per replica, the dead one's included");
    a.restart().await;
    let left = folders();
    assert_eq!(left.len(), 3, "the restarted replica swept the dead folder and made its own: {left:?}");
    let r = a.proxy_get("gen", path).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"));
    assert_eq!(sha256_hex(&r.body), sha256_hex(&body));
    let r = c.proxy_get("gen", path).await;
    assert_eq!(r.status, StatusCode::OK, "the live replicas still serve");
}
matrix!(a_replica_killed_mid_fetch_hands_the_fetch_over, replicas);

/// A remote created on one of three replicas, changed on the second and deleted on the third
/// is in effect on all three, each step within a second (the announcement through Redis; the
/// poll allows more so that a loaded machine does not fail the test, and the figure is printed).
async fn remote_changes_reach_every_replica(opts: Options) {
    let (one, two) = (Upstream::start().await, Upstream::start().await);
    one.put("/files/a.txt", File::new("from one"));
    two.put("/files/b.txt", File::new("from two"));
    let a = Server::start(opts.clone()).await;
    let b = Server::start(opts.clone().shared_with(&a)).await;
    let c = Server::start(opts.shared_with(&a)).await;
    let replicas = [&a, &b, &c];
    let mut slowest = Duration::ZERO;
    let mut everywhere = async |what: &str, path: &str, want: StatusCode| {
        let started = std::time::Instant::now();
        for s in replicas {
            poll_until(what, Duration::from_secs(5), Duration::from_millis(10), || async {
                (s.proxy_get("gen", path).await.status == want).then_some(())
            })
            .await;
        }
        slowest = slowest.max(started.elapsed());
    };

    a.create_remote(generic_remote("gen", &one.base_url())).await;
    everywhere("the new remote on every replica", "files/a.txt", StatusCode::OK).await;
    b.update_remote("gen", generic_remote("gen", &two.base_url())).await;
    everywhere("the new base URL on every replica", "files/b.txt", StatusCode::OK).await;
    let r = fetch(c.admin(Method::DELETE, "/api/v2/remotes/gen")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.describe());
    everywhere("the deleted remote gone from every replica", "files/b.txt", StatusCode::NOT_FOUND).await;
    eprintln!("slowest change to reach all three replicas: {} ms", slowest.as_millis());
}
matrix!(remote_changes_reach_every_replica, replicas);

/// A subscriber to `/api/v2/events` on one of three replicas sees what happens on all three,
/// each event naming the replica it happened on: the remote created on B, then a fetch on C,
/// one on A itself and one on B.
async fn a_subscriber_on_one_replica_sees_all_three(opts: Options) {
    let up = Upstream::start().await;
    for name in ["c.bin", "a.bin", "b.bin"] {
        up.put(&format!("/files/{name}"), File::new(pattern_bytes(4000, name.len() as u64)));
    }
    let a = Server::start(opts.clone()).await;
    let b = Server::start(opts.clone().shared_with(&a)).await;
    let c = Server::start(opts.shared_with(&a)).await;
    let id = |s: &Server| format!("e2e-{}", s.port());
    let mut on_a = match EventStream::open(&a, "repo=ev").await {
        Ok(stream) => stream,
        Err(resp) => panic!("GET /api/v2/events: {}", resp.describe()),
    };

    b.create_remote(generic_remote("ev", &up.base_url())).await;
    on_a.expect_in_order(&[("config_created", json!({"repository": "ev", "replica": id(&b)}))], EVENTS_WAIT).await;
    let mut expected = Vec::new();
    for (s, name) in [(&c, "c.bin"), (&a, "a.bin"), (&b, "b.bin")] {
        // The remote B created is in effect on the others once its announcement arrived.
        let r = poll_until("the remote on every replica", Duration::from_secs(5), POLL, || async {
            let r = s.proxy_get("ev", &format!("files/{name}")).await;
            (r.status != StatusCode::NOT_FOUND).then_some(r)
        })
        .await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "{}", r.describe());
        expected.push(json!({"repository": "ev", "path": format!("files/{name}"), "replica": id(s), "size": 4000}));
    }
    // Each replica publishes when its fetch is committed: the three may arrive in any order.
    while !expected.is_empty() {
        let (event, _) = on_a
            .until("a fetch_completed of another replica", EVENTS_WAIT, |e, j| {
                e.event == "fetch_completed" && expected.iter().any(|want| has_fields(j, want))
            })
            .await;
        expected.retain(|want| !has_fields(&event, want));
    }
}
matrix!(a_subscriber_on_one_replica_sees_all_three, replicas);

/// A docker blob upload that moves between replicas at every request, as it does behind a
/// load balancer without stickiness: started (`POST`) on A, a chunk (`PATCH`) on B, the last
/// chunk and the digest (`PUT`) on C. The first chunk is larger than one part of an S3
/// multipart upload (8 MiB), so on S3 both the stored chunk and the assembled blob go up in
/// parts. The image's manifest pushed on C is then pulled from every replica with the pushed
/// digest, and so is the blob, whole and a range of it.
async fn a_docker_upload_moves_across_three_replicas(opts: Options) {
    let a = Server::start(opts.clone()).await;
    let b = Server::start(opts.clone().shared_with(&a)).await;
    let c = Server::start(opts.shared_with(&a)).await;
    let replicas = [&a, &b, &c];
    let r = a.send_json(Method::POST, "/api/v2/locals", &json!({"name": "loc", "package_type": "docker"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let absent = format!("/v2/loc/app/blobs/{}", digest(b"absent"));
    for s in replicas {
        poll_until("the local on every replica", Duration::from_secs(5), POLL, || async {
            let r = Registry::new(s).get(&absent).await;
            (r.status == StatusCode::NOT_FOUND && error_code(&r) == "BLOB_UNKNOWN").then_some(())
        })
        .await;
    }

    let layer = pattern_bytes(12 << 20, 47);
    let (first, last) = layer.split_at(9 << 20);
    let layer_digest = digest(&layer);
    let location = Registry::new(&a).start_upload("loc/app").await;
    let r = Registry::new(&b).patch(&location, Some((0, first.len() as u64 - 1)), first).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "PATCH on B: {}", r.describe());
    assert_eq!(r.header("range"), Some(format!("0-{}", first.len() - 1).as_str()));
    let r = Registry::new(&c).close(&location, &layer_digest, last).await;
    assert_eq!(r.status, StatusCode::CREATED, "PUT on C: {}", r.describe());
    assert_eq!(r.header("docker-content-digest"), Some(layer_digest.as_str()));

    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    Registry::new(&b).push_blob("loc/app", config).await;
    let manifest = image_manifest(config, &[layer.as_slice()]);
    let r = Registry::new(&c).put_manifest("loc/app", "v1", OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status, StatusCode::CREATED, "manifest on C: {}", r.describe());

    for (name, s) in [("A", &a), ("B", &b), ("C", &c)] {
        let reg = Registry::new(s);
        let m = reg.get("/v2/loc/app/manifests/v1").await;
        assert_eq!(m.status, StatusCode::OK, "manifest from {name}: {}", m.describe());
        assert_eq!(m.header("docker-content-digest"), Some(digest(&manifest).as_str()), "from {name}");
        assert!(m.body.as_ref() == manifest.as_slice(), "the manifest from {name} has the pushed bytes");
        let blob = reg.get(&format!("/v2/loc/app/blobs/{layer_digest}")).await;
        assert_eq!((blob.status, blob.body.len()), (StatusCode::OK, layer.len()), "blob from {name}");
        assert_eq!(digest(&blob.body), layer_digest, "the blob from {name} has the pushed bytes");
    }
    let url = format!("/v2/loc/app/blobs/{layer_digest}");
    let part = fetch(Registry::new(&a).request(Method::GET, &url).header("range", "bytes=9437000-9437999")).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{}", part.describe());
    assert!(part.body.as_ref() == &layer[9_437_000..9_438_000], "a range across the chunk boundary");
}
matrix!(a_docker_upload_moves_across_three_replicas, replicas);

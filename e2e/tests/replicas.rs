//! Replicas of one deployment: separate processes sharing the database, the storage (the
//! same DATA_DIR, or the same S3 bucket) and the Redis namespace. What one replica cached is a
//! HIT on the other, and a breaker opened through one fails fast on the other. Shared freshness
//! and breaker state need Redis, so these run on the Redis configurations only.

use std::time::Duration;

use artifactapi_e2e::client::FetchError;
use artifactapi_e2e::{
    fetch, generic_remote, matrix, pattern_bytes, poll_until, sha256_hex, try_fetch, File, Mode, Options, Server,
    Upstream,
};
use reqwest::{Method, StatusCode};

const POLL: Duration = Duration::from_millis(50);

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
matrix!(a_replica_killed_mid_fetch_hands_the_fetch_over, redis_only);

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
matrix!(remote_changes_reach_every_replica, redis_only);

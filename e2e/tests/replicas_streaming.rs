//! Replicas with `REPLICA_URL`: clients on the replicas that wait on another's fetch stream it
//! while it runs (from the leading replica's fill), instead of waiting for its commit; when the
//! leading replica dies mid-fetch, one other replica takes the fetch over and every client of
//! the surviving replicas still gets exactly the right bytes. Redis configurations only (the
//! fetch lease and the fill adverts live there).

use std::sync::Arc;
use std::time::{Duration, Instant};

use artifactapi_e2e::client::assert_failed_transfer;
use artifactapi_e2e::prom::Scrape;
use artifactapi_e2e::raw::request_with_headers;
use artifactapi_e2e::{
    generic_remote, matrix, pattern_bytes, poll_until, sha256_hex, try_fetch, File, Mode, Options, Server, Upstream,
};
use futures_util::StreamExt;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

const POLL: Duration = Duration::from_millis(50);

/// One client's transfer, hashed as it streamed.
#[derive(Debug)]
struct Timed {
    status: StatusCode,
    len: usize,
    sha256: String,
    /// From sending the request to the first body byte.
    first_byte: Duration,
    /// Whether the upstream was still sending its (only) body when that byte arrived, so the
    /// leader could not have committed the object yet.
    upstream_busy_at_first_byte: bool,
}

/// GETs `url`, hashing the body; notes when the first byte came and what the upstream was doing.
async fn timed_get(
    client: reqwest::Client,
    url: String,
    up: Arc<Upstream>,
    path: &'static str,
) -> Result<Timed, String> {
    let started = Instant::now();
    let resp = client.get(&url).send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    let mut stream = resp.bytes_stream();
    let (mut hasher, mut len, mut first) = (Sha256::new(), 0usize, None);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("body failed after {len} bytes: {e}"))?;
        if first.is_none() && !chunk.is_empty() {
            first = Some((started.elapsed(), up.progress(path).completed == 0));
        }
        len += chunk.len();
        hasher.update(&chunk);
    }
    let (first_byte, upstream_busy_at_first_byte) = first.unwrap_or((started.elapsed(), false));
    Ok(Timed { status, len, sha256: hex::encode(hasher.finalize()), first_byte, upstream_busy_at_first_byte })
}

fn millis(d: &[Duration]) -> (u128, u128) {
    let mut ms: Vec<u128> = d.iter().map(Duration::as_millis).collect();
    ms.sort_unstable();
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

async fn scrape(s: &Server) -> Scrape {
    let r = s.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    Scrape::parse(&r.text()).expect("metrics parse")
}

fn streams(m: &Scrape, role: &str) -> f64 {
    m.sum("artifactapi_replica_streams_total", &[("role", role)])
}

/// 30 cold clients spread over three replicas on one 256 MiB object behind a slow upstream:
/// one upstream GET; the clients of the two other replicas get their first byte while the
/// upstream is still sending (so before the leader could commit), and every client gets the
/// right bytes. First-byte times are printed, not asserted.
async fn thirty_clients_on_three_replicas_stream_one_fetch(opts: Options) {
    const PATH: &str = "/files/big.bin";
    let opts = opts.replica_url();
    let up = Arc::new(Upstream::start().await);
    let body = pattern_bytes(256 << 20, 47);
    let (digest, size) = (sha256_hex(&body), body.len());
    up.put(PATH, File::new(body));
    up.set_mode(Mode::Slow { bytes_per_sec: 16 << 20 });
    let a = Server::start(opts.clone()).await;
    a.create_remote(generic_remote("gen", &up.base_url())).await;
    let b = Server::start(opts.clone().shared_with(&a)).await;
    let c = Server::start(opts.shared_with(&a)).await;
    let get = |s: &Server| tokio::spawn(timed_get(s.client().clone(), s.proxy_url("gen", PATH), up.clone(), PATH));

    // The first client makes A the leading replica; the other 29 arrive together.
    let first = get(&a);
    up.wait_for("the leader's upstream request", Duration::from_secs(20), |u| u.count(PATH) == 1).await;
    let on_a: Vec<_> = (0..9).map(|_| get(&a)).collect();
    let elsewhere: Vec<_> = (0..20).map(|i| get(if i % 2 == 0 { &b } else { &c })).collect();

    let check = |t: Timed| {
        assert_eq!((t.status, t.len), (StatusCode::OK, size));
        assert_eq!(t.sha256, digest, "a client got wrong bytes");
        t
    };
    let first = check(first.await.expect("task").expect("the first client's transfer"));
    let mut leader = Vec::new();
    for t in on_a {
        leader.push(check(t.await.expect("task").expect("a leader-replica client's transfer")).first_byte);
    }
    let mut followers = Vec::new();
    for t in elsewhere {
        let t = check(t.await.expect("task").expect("a follower-replica client's transfer"));
        assert!(
            t.upstream_busy_at_first_byte,
            "a client on another replica got its first byte only after the upstream had sent everything \
             ({} ms)",
            t.first_byte.as_millis()
        );
        followers.push(t.first_byte);
    }
    assert_eq!(up.count(PATH), 1, "one upstream GET for 30 clients on three replicas");
    let ((lm, lx), (fm, fx)) = (millis(&leader), millis(&followers));
    eprintln!(
        "first byte, 256 MiB at 16 MiB/s: first client {} ms; leader replica's 9 others median {lm} ms, max {lx} ms; \
         20 clients on the two other replicas median {fm} ms, max {fx} ms (ratio of medians {:.2})",
        first.first_byte.as_millis(),
        fm as f64 / lm.max(1) as f64
    );
    let (ma, mb, mc) = (scrape(&a).await, scrape(&b).await, scrape(&c).await);
    assert_eq!(streams(&ma, "served"), 2.0, "one stream from the leader to each other replica");
    assert_eq!((streams(&mb, "followed"), streams(&mc, "followed")), (1.0, 1.0));
    for s in [&a, &b, &c] {
        let r = s.wait_cached("gen", PATH.trim_start_matches('/')).await;
        assert_eq!(sha256_hex(&r.body), digest);
    }
}
matrix!(thirty_clients_on_three_replicas_stream_one_fetch, replicas);

/// GETs `url` and reports, once, that the first body bytes arrived.
async fn get_reporting_start(
    client: reqwest::Client,
    url: String,
    started: tokio::sync::mpsc::Sender<()>,
) -> Result<(StatusCode, usize, String), String> {
    let resp = client.get(&url).send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    let mut stream = resp.bytes_stream();
    let (mut hasher, mut len) = (Sha256::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("body failed after {len} bytes: {e}"))?;
        if len == 0 && !chunk.is_empty() {
            let _ = started.send(()).await;
        }
        len += chunk.len();
        hasher.update(&chunk);
    }
    Ok((status, len, hex::encode(hasher.finalize())))
}

/// The leading replica is killed mid-fetch while clients on both other replicas stream its
/// fill: its own client sees a broken transfer; one other replica takes the fetch over (two
/// upstream GETs in all) and the clients of both finish with exactly the right bytes, resuming
/// from what they had.
async fn followers_finish_when_the_leading_replica_is_killed(opts: Options) {
    const PATH: &str = "/files/big.bin";
    let opts = opts.replica_url();
    let up = Upstream::start().await;
    let body = pattern_bytes(24 << 20, 53);
    let (digest, size) = (sha256_hex(&body), body.len());
    up.put(PATH, File::new(body));
    up.set_mode(Mode::Slow { bytes_per_sec: 3 << 20 });
    let mut a = Server::start(opts.clone()).await;
    a.create_remote(generic_remote("gen", &up.base_url())).await;
    let b = Server::start(opts.clone().shared_with(&a)).await;
    let c = Server::start(opts.shared_with(&a)).await;

    let leader = tokio::spawn(try_fetch(a.client().get(a.proxy_url("gen", PATH))));
    up.wait_for("the leader's upstream request", Duration::from_secs(20), |u| u.count(PATH) == 1).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let followers: Vec<_> = [&b, &c, &b, &c]
        .iter()
        .map(|s| tokio::spawn(get_reporting_start(s.client().clone(), s.proxy_url("gen", PATH), tx.clone())))
        .collect();
    for _ in 0..followers.len() {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("every follower streams while the leader fetches");
    }
    assert_eq!(up.progress(PATH).completed, 0, "the upstream is still sending");
    a.kill();

    assert_failed_transfer(leader.await.expect("leader task"), size);
    for f in followers {
        let (status, len, sha) = f.await.expect("follower task").expect("a follower's transfer completes");
        assert_eq!((status, len), (StatusCode::OK, size));
        assert_eq!(sha, digest, "a follower got wrong bytes");
    }
    assert!(up.count(PATH) <= 2, "{} upstream GETs: one replica at most takes the fetch over", up.count(PATH));
    let (mb, mc) = (scrape(&b).await, scrape(&c).await);
    eprintln!(
        "after the kill: {} upstream GETs; replica B followed {} (resumed {}), served {}; C followed {} (resumed {}), \
         served {}",
        up.count(PATH),
        streams(&mb, "followed"),
        streams(&mb, "resumed"),
        streams(&mb, "served"),
        streams(&mc, "followed"),
        streams(&mc, "resumed"),
        streams(&mc, "served")
    );
    let r = b.proxy_get("gen", PATH.trim_start_matches('/')).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"));
    assert_eq!(sha256_hex(&r.body), digest);
}
matrix!(followers_finish_when_the_leading_replica_is_killed, replicas);

/// The internal route serves a fill only to the holder of its token: a wrong token, a malformed
/// id, a traversal or a range other than `bytes=N-` gets 404 or 400 and no byte, even while the
/// fill exists; the right token streams it.
async fn the_fill_route_refuses_strangers(opts: Options) {
    const PATH: &str = "/files/slow.bin";
    let opts = opts.replica_url();
    let up = Upstream::start().await;
    let body = pattern_bytes(2 << 20, 59);
    up.put(PATH, File::new(body.clone()));
    up.set_mode(Mode::Slow { bytes_per_sec: 256 << 10 });
    let a = Server::start(opts).await;
    a.create_remote(generic_remote("gen", &up.base_url())).await;
    let leader = tokio::spawn(try_fetch(a.client().get(a.proxy_url("gen", PATH))));

    // The advert the leader keeps in Redis beside its fetch lease.
    let ns = a.redis_namespace().expect("a Redis configuration");
    let key = format!("{}:aa:fill:gen:|{}", ns.prefix, PATH.trim_start_matches('/'));
    let client = redis::Client::open(ns.url.as_str()).expect("redis url");
    let conn = client.get_multiplexed_async_connection().await.expect("redis");
    let advert: serde_json::Value = poll_until("the fill's advert", Duration::from_secs(20), POLL, || {
        let (key, mut conn) = (key.clone(), conn.clone());
        async move {
            let v: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await.ok()?;
            v.and_then(|v| serde_json::from_str(&v).ok())
        }
    })
    .await;
    let (id, token) = (advert["id"].as_str().unwrap().to_string(), advert["token"].as_str().unwrap().to_string());
    assert_eq!(advert["url"], format!("http://127.0.0.1:{}", a.port()));
    let route = format!("/_replica/fills/{id}");
    let header = |t: &str| format!("X-Artifactapi-Fill-Token: {t}");
    let last = if token.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &token[..token.len() - 1]);
    let cases: Vec<(String, Vec<String>, u16)> = vec![
        (route.clone(), vec![], 404),
        (route.clone(), vec![header(&wrong)], 404),
        (route.clone(), vec![header("")], 404),
        (route.clone(), vec![header(&format!("{token}x"))], 404),
        (format!("/_replica/fills/{}", "0".repeat(32)), vec![header(&token)], 404),
        (format!("/_replica/fills/{}", id.to_uppercase()), vec![header(&token)], 400),
        ("/_replica/fills/abc".into(), vec![header(&token)], 400),
        ("/_replica/fills/..%2f..%2fapi%2fv2%2fremotes".into(), vec![header(&token)], 400),
        ("/_replica/fills/%2e%2e".into(), vec![header(&token)], 400),
        ("/_replica/fills/../../api/v2/remotes".into(), vec![header(&token)], 404),
        (format!("{route}/../../../api/v2/remotes"), vec![header(&token)], 404),
        (format!("{route}/x"), vec![header(&token)], 404),
        (route.clone(), vec![header(&token), "Range: bytes=0-9".into()], 400),
        (route.clone(), vec![header(&token), "Range: bytes=-5".into()], 400),
    ];
    for (target, headers, want) in &cases {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let r = request_with_headers(a.port(), "GET", target, &headers).await;
        assert_eq!(r.status, *want, "GET {target} {headers:?}: {}", r.rest_text());
        assert!(r.rest.len() < 1024, "GET {target}: {} bytes came back", r.rest.len());
    }

    // The token holder streams the fill, from an offset too.
    let url = a.url(&route);
    let r = try_fetch(a.client().get(&url).header("x-artifactapi-fill-token", &token).header("range", "bytes=1000-"))
        .await
        .expect("the fill streams to its token holder");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(sha256_hex(&r.body), sha256_hex(&body[1000..]));
    let r = leader.await.expect("task").expect("the leader's client");
    assert_eq!(sha256_hex(&r.body), sha256_hex(&body));
    assert_eq!(up.count(PATH), 1);
}
matrix!(the_fill_route_refuses_strangers, replicas);

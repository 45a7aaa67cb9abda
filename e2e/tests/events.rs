//! The live event stream, `GET /api/v2/events`, against the real binary: a scripted sequence
//! of actions shows up as events in order, filters select by repository and type, heartbeats
//! keep an idle stream alive, bad filters are refused, events cross replicas through Redis, and
//! a client that never reads slows nothing down (it skips events and is told how many).

use std::time::{Duration, Instant};

use artifactapi_e2e::sse::{EventStream, Item, Parser};
use artifactapi_e2e::{fetch, generic_remote, pattern_bytes, File, Mode, Options, Server, Storage, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(15);

async fn open(s: &Server, query: &str) -> EventStream {
    match EventStream::open(s, query).await {
        Ok(stream) => stream,
        Err(resp) => panic!("GET /api/v2/events?{query}: {} {}", resp.status, resp.describe()),
    }
}

/// A generic remote whose cache hits go through its actor (a finite immutable TTL), so each
/// one is announced as a `cache_hit` event.
fn remote(name: &str, up: &Upstream) -> Value {
    let mut spec = generic_remote(name, &up.base_url());
    spec["immutable_ttl"] = 3600.into();
    spec
}

async fn a_scripted_sequence_arrives_in_order(opts: Options) {
    let opts = opts.env("BREAKER_THRESHOLD", 1).env("BREAKER_OPEN", 60);
    let up = Upstream::start().await;
    let body = pattern_bytes(70_000, 3);
    up.put("/files/a.bin", File::new(body.clone()));
    let s = Server::start(opts).await;
    let replica = format!("e2e-{}", s.port());
    let mut events = open(&s, "").await;
    assert_eq!(events.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
    assert_eq!(events.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-cache"));

    s.create_remote(remote("ev", &up)).await;
    let miss = s.proxy_get("ev", "files/a.bin").await;
    assert_eq!((miss.status, miss.x_cache()), (StatusCode::OK, "MISS"));
    s.wait_cached("ev", "files/a.bin").await;
    up.set_mode(Mode::Error500);
    assert_eq!(s.proxy_get("ev", "files/b.bin").await.status, StatusCode::BAD_GATEWAY);
    assert_eq!(s.proxy_get("ev", "files/c.bin").await.status, StatusCode::SERVICE_UNAVAILABLE, "breaker open");
    up.set_mode(Mode::Normal);
    s.update_remote("ev", remote("ev", &up)).await;
    let deleted = fetch(s.admin(Method::DELETE, "/api/v2/remotes/ev")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    s.gc(true, None).await;

    let a = json!({"repository": "ev", "path": "files/a.bin"});
    let seen = events
        .expect_in_order(
            &[
                ("config_created", json!({"repository": "ev"})),
                ("fetch_started", a.clone()),
                ("fetch_completed", a.clone()),
                ("cache_hit", a.clone()),
                ("fetch_failed", json!({"repository": "ev", "path": "files/b.bin", "status": 500})),
                ("breaker_opened", json!({"repository": "ev"})),
                ("config_updated", json!({"repository": "ev"})),
                ("config_deleted", json!({"repository": "ev"})),
                ("gc_run", json!({})),
            ],
            WAIT,
        )
        .await;
    for event in &seen {
        assert_eq!(event["replica"], replica.as_str(), "{event}");
        assert!(event["time"].as_str().is_some_and(|t| t.contains('T')), "no RFC 3339 time: {event}");
    }
    let completed = &seen[2];
    assert_eq!((completed["status"].as_u64(), completed["size"].as_u64()), (Some(200), Some(body.len() as u64)));
    assert!(completed["duration_ms"].is_u64(), "{completed}");
    assert!(seen[4]["detail"].is_string(), "a failure says why: {}", seen[4]);
    assert_eq!(seen[5]["detail"]["threshold"], 1, "{}", seen[5]);
    assert!(seen[8]["detail"]["dry_run"].as_bool().unwrap_or(false), "{}", seen[8]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_sequence_arrives_in_order_in_process() {
    a_scripted_sequence_arrives_in_order(Options::new(Storage::Fs, false)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_sequence_arrives_in_order_with_redis() {
    a_scripted_sequence_arrives_in_order(Options::new(Storage::Fs, true)).await
}

/// Reads until `last` and checks that everything before it passed `allowed`.
async fn only(events: &mut EventStream, what: &str, allowed: impl Fn(&Value) -> bool, last: Value) -> Vec<Value> {
    let (end, before) = events
        .until(what, WAIT, |e, json| e.event == "fetch_completed" && artifactapi_e2e::sse::has_fields(json, &last))
        .await;
    let mut all = before;
    all.push(end);
    for event in &all {
        assert!(allowed(event), "{what}: the filter let through {event}");
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_by_repository_and_type() {
    let up = Upstream::start().await;
    for path in ["/x", "/y", "/z"] {
        up.put(path, File::new(path.as_bytes().to_vec()));
    }
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    let mut by_repo = open(&s, "repo=one").await;
    let mut by_type = open(&s, "type=fetch_completed").await;
    let mut both = open(&s, "repo=two,not-yet-created&type=fetch_completed,config_created").await;

    s.create_remote(remote("one", &up)).await;
    s.create_remote(remote("two", &up)).await;
    for (repo, path) in [("one", "x"), ("two", "y"), ("one", "z"), ("two", "z")] {
        assert_eq!(s.proxy_get(repo, path).await.status, StatusCode::OK);
    }

    let got =
        only(&mut by_repo, "repo=one", |e| e["repository"] == "one", json!({"repository": "one", "path": "z"})).await;
    let kinds: Vec<&str> = got.iter().filter_map(|e| e["type"].as_str()).collect();
    for want in ["config_created", "fetch_started", "fetch_completed"] {
        assert!(kinds.contains(&want), "repo=one missed {want}: {kinds:?}");
    }

    let got = only(
        &mut by_type,
        "type=fetch_completed",
        |e| e["type"] == "fetch_completed",
        json!({"repository": "two", "path": "z"}),
    )
    .await;
    let paths: Vec<String> = got
        .iter()
        .map(|e| format!("{}/{}", e["repository"].as_str().unwrap_or("?"), e["path"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(paths, ["one/x", "two/y", "one/z", "two/z"]);

    let got = only(
        &mut both,
        "repo=two&type=fetch_completed,config_created",
        |e| e["repository"] == "two" && (e["type"] == "fetch_completed" || e["type"] == "config_created"),
        json!({"repository": "two", "path": "z"}),
    )
    .await;
    assert_eq!(got.len(), 3, "config_created, two/y, two/z: {got:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_and_bad_queries() {
    let s = Server::start(Options::new(Storage::Fs, false).env("EVENTS_HEARTBEAT", 1)).await;
    let mut events = open(&s, "repo=nothing-here-yet").await;
    let started = Instant::now();
    for n in 1..=2 {
        match events.next_item(Duration::from_secs(5)).await {
            Some(Item::Comment(c)) => assert_eq!(c, "heartbeat"),
            other => panic!("heartbeat {n}: got {other:?}"),
        }
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(5), "two heartbeats took {took:?}");

    let cases: &[(&str, &str)] = &[
        ("type=nope", "type: unknown event type \"nope\"; valid types: fetch_started, fetch_completed"),
        ("type=fetch_started,", "type: empty name in the list"),
        ("repo=..%2Fetc", "repo: invalid repository name \"../etc\""),
        ("repo=", "repo: empty name in the list"),
        ("since=5", "unknown query parameter \"since\""),
    ];
    for (query, message) in cases {
        let resp = EventStream::open(&s, query).await.err().unwrap_or_else(|| panic!("{query}: a stream opened"));
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{query}: {}", resp.describe());
        assert!(resp.error_message().starts_with(message), "{query}: {}", resp.error_message());
    }
    let valid = EventStream::open(&s, "type=x").await.err().expect("400").error_message();
    for kind in ["cache_hit", "breaker_half_open", "config_deleted", "gc_run", "push_completed", "eviction"] {
        assert!(valid.contains(kind), "the valid types do not list {kind}: {valid}");
    }
    let post = fetch(s.client().post(s.url("/api/v2/events"))).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.header("allow"), Some("GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_replica_sees_what_happens_on_another() {
    let up = Upstream::start().await;
    up.put("/shared.bin", File::new(pattern_bytes(5000, 9)));
    let a = Server::start(Options::new(Storage::Fs, true)).await;
    let b = Server::start(Options::new(Storage::Fs, true).shared_with(&a)).await;
    let (replica_a, replica_b) = (format!("e2e-{}", a.port()), format!("e2e-{}", b.port()));
    let mut on_a = open(&a, "repo=shared").await;

    b.create_remote(remote("shared", &up)).await;
    let created = on_a.expect_in_order(&[("config_created", json!({"repository": "shared"}))], WAIT).await;
    assert_eq!(created[0]["replica"], replica_b.as_str());
    // B announced the remote to A through Redis; fetch on B and see it on A.
    let r = fetch(b.client().get(b.proxy_url("shared", "shared.bin"))).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"));
    let fetched = on_a
        .expect_in_order(
            &[
                ("fetch_started", json!({"path": "shared.bin", "replica": replica_b})),
                ("fetch_completed", json!({"path": "shared.bin", "replica": replica_b, "size": 5000})),
            ],
            WAIT,
        )
        .await;
    assert_eq!(fetched.len(), 2);

    // B publishes its cache hits once it has noticed (within about a second) that A listens.
    let deadline = Instant::now() + WAIT;
    loop {
        let r = b.proxy_get("shared", "shared.bin").await;
        assert_eq!(r.status, StatusCode::OK);
        let hit = on_a.next_event(Duration::from_millis(300)).await;
        if hit.as_ref().is_some_and(|e| e.event == "cache_hit" && e.json()["replica"] == replica_b.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "no cache_hit from replica B reached A; last: {hit:?}");
    }
    // And A's own events reach its own subscriber through the same channel.
    a.proxy_get("shared", "shared.bin").await;
    let (hit, _) =
        on_a.until("a cache hit on A", WAIT, |e, j| e.event == "cache_hit" && j["replica"] == replica_a.as_str()).await;
    assert_eq!(hit["path"], "shared.bin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_slows_nothing_down() {
    // A long path makes every cache_hit event about 3 KiB, so a few thousand hits are far more
    // than the socket buffers (up to 4 MiB on Linux) and the 1024 events a client may lag hold.
    let hot = format!("hot/{}/x.bin", vec!["a".repeat(250); 10].join("/"));
    let up = Upstream::start().await;
    up.put(&format!("/{hot}"), File::new(pattern_bytes(2000, 5)));
    for i in 0..200 {
        up.put(&format!("/cold/{i}"), File::new(pattern_bytes(1000, i)));
    }
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(remote("busy", &up)).await;
    s.wait_cached("busy", &hot).await;

    // A client with a small receive window that sends its request and then never reads.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stuck = socket.connect(([127, 0, 0, 1], s.port()).into()).await.expect("connect");
    stuck.write_all(b"GET /api/v2/events HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("send request");
    // Its greeting waits unread in the socket once it is registered.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 6000 cache hits, 16 at a time, each announced to the client that does not read.
    let url = s.proxy_url("busy", &hot);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (client, url) = (s.client().clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..375 {
                    assert_eq!(fetch(client.get(&url)).await.status, StatusCode::OK);
                }
            })
        })
        .collect();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t).await.expect("cache hits hung").expect("hit task");
    }

    // With the client far behind, 200 more requests (misses, each announced twice).
    let started = Instant::now();
    for i in 0..200 {
        let r = tokio::time::timeout(Duration::from_secs(10), s.proxy_get("busy", &format!("cold/{i}")))
            .await
            .unwrap_or_else(|_| panic!("request {i} hung behind a subscriber that does not read"));
        assert_eq!(r.status, StatusCode::OK, "request {i}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "200 requests took {took:?}");

    // Now it reads: it is told how many events it skipped, and the stream goes on.
    let mut parser = Parser::new();
    let mut buf = vec![0u8; 256 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut skipped = None;
    while skipped.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, tokio::io::AsyncReadExt::read(&mut stuck, &mut buf))
            .await
            .expect("no lag notice within 30 s")
            .expect("read");
        assert!(n > 0, "the server closed the stream");
        for item in parser.push(&buf[..n]) {
            match item {
                Item::Event(e) if e.event == "lagged" => skipped = Some(e.json()["skipped"].as_u64()),
                _ => {}
            }
        }
    }
    assert!(skipped.flatten().is_some_and(|n| n > 0), "lag notice without a count: {skipped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesced_requests_are_announced_and_counted() {
    let up = Upstream::start().await;
    up.put("/big.bin", File::new(pattern_bytes(100_000, 8)));
    up.set_mode(Mode::Slow { bytes_per_sec: 100_000 });
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(remote("co", &up)).await;
    let mut events = open(&s, "repo=co&type=coalesced,fetch_completed").await;

    let results = artifactapi_e2e::concurrent_gets(s.client(), &s.proxy_url("co", "big.bin"), 4).await;
    for r in &results {
        assert_eq!(r.as_ref().map(|d| d.status), Ok(StatusCode::OK), "{r:?}");
    }
    assert_eq!(up.count("/big.bin"), 1, "one upstream request for four clients");
    let (completed, before) = events
        .until("fetch_completed of big.bin", WAIT, |e, j| e.event == "fetch_completed" && j["path"] == "big.bin")
        .await;
    let waiters: Vec<u64> = before.iter().filter_map(|e| e["detail"]["waiters"].as_u64()).collect();
    assert_eq!(waiters, [1, 2, 3], "one coalesced event per joining request: {before:#?}");
    assert_eq!(completed["detail"]["waiters"], 3, "{completed}");
}

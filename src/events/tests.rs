//! The bus against both coordinators: what stream clients receive, and cache hits published
//! only while someone listens (on this replica, or, through Redis, on another).

use std::sync::Arc;
use std::time::{Duration, Instant};

use artifactapi_actors::coord::Coordinator;
use artifactapi_actors::events::{Event, EventKind, EventSink};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{sse, EventBus, Filter};
use crate::coord::{MemoryCoordinator, RedisCoordinator};

const REDIS_URL: &str = "redis://127.0.0.1:6379";

async fn redis(namespace: &str) -> Arc<dyn Coordinator> {
    Arc::new(RedisCoordinator::connect(REDIS_URL, namespace).await.expect("redis at 127.0.0.1:6379"))
}

/// The next chunk of an SSE stream, as text.
async fn chunk<S: Stream<Item = Result<Bytes, std::convert::Infallible>> + Unpin>(s: &mut S) -> String {
    let item = tokio::time::timeout(Duration::from_secs(5), s.next()).await.expect("nothing within 5 s");
    let Some(Ok(bytes)) = item else { panic!("stream ended") };
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// Polls `f` until it is true, at most 5 s.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn hit(repo: &str, path: &str) -> Event {
    Event::new(EventKind::CacheHit).repo(repo).path(path)
}

#[tokio::test]
async fn a_client_gets_its_events_framed_with_the_replica_and_heartbeats() {
    let bus = EventBus::start(Arc::new(MemoryCoordinator::new()), "replica-1".into());
    let listener = bus.listen().await;
    let filter = Filter::parse("repo=r&type=fetch_completed,gc_run").unwrap();
    let mut s = Box::pin(sse::stream(listener, filter, Duration::from_millis(300), "replica-1".into()));
    assert_eq!(chunk(&mut s).await, "retry: 3000\n: artifactapi events from replica replica-1\n\n");

    bus.emit(Event::new(EventKind::FetchStarted).repo("r").path("a"));
    bus.emit(Event::new(EventKind::FetchCompleted).repo("other").path("a"));
    bus.emit(Event::new(EventKind::FetchCompleted).repo("r").path("a").size(3).status(200));
    let frame = chunk(&mut s).await;
    let lines: Vec<&str> = frame.lines().collect();
    assert_eq!(lines[1], "event: fetch_completed", "{frame}");
    assert!(lines[0].starts_with("id: "), "{frame}");
    let data: serde_json::Value = serde_json::from_str(lines[2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(data["repository"], "r");
    assert_eq!(data["size"], 3);
    assert_eq!(data["replica"], "replica-1");
    assert!(data["time"].is_string());

    assert_eq!(chunk(&mut s).await, ": heartbeat\n\n", "no heartbeat while idle");
}

#[tokio::test]
async fn in_process_hits_flow_only_while_a_client_listens() {
    let bus = EventBus::start(Arc::new(MemoryCoordinator::new()), "r1".into());
    assert!(!bus.wants(EventKind::CacheHit), "hits wanted with nobody listening");
    assert!(bus.wants(EventKind::FetchStarted));
    bus.emit(hit("r", "unheard"));
    assert_eq!(bus.hits(), 1, "hits are counted whether published or not");

    let listener = bus.listen().await;
    assert!(bus.wants(EventKind::CacheHit), "a local client must turn hits on at once");
    let mut s = Box::pin(sse::stream(listener, Filter::default(), Duration::from_secs(60), "r1".into()));
    chunk(&mut s).await;
    bus.emit(hit("r", "heard"));
    let frame = chunk(&mut s).await;
    assert!(frame.contains("event: cache_hit") && frame.contains("\"path\":\"heard\""), "{frame}");

    drop(s);
    // The subscription lingers a few seconds after the last client, then hits stop.
    let deadline = Instant::now() + Duration::from_secs(15);
    while bus.wants(EventKind::CacheHit) {
        assert!(Instant::now() < deadline, "hits still wanted 15 s after the last client left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_redis_a_client_on_one_replica_hears_another_replicas_hits() {
    let ns = format!("aatest-events-{}", uuid::Uuid::new_v4());
    let a = EventBus::start(redis(&ns).await, "a".into());
    let b = EventBus::start(redis(&ns).await, "b".into());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!b.wants(EventKind::CacheHit), "hits wanted before anyone listens");

    let listener = a.listen().await;
    let mut s = Box::pin(sse::stream(listener, Filter::default(), Duration::from_secs(60), "a".into()));
    chunk(&mut s).await;
    // B learns within about a second that someone subscribes to the channel.
    eventually("replica b to see the listener on a", || b.wants(EventKind::CacheHit)).await;
    b.emit(hit("r", "from-b"));
    let frame = chunk(&mut s).await;
    assert!(frame.contains("event: cache_hit"), "{frame}");
    assert!(frame.contains("\"replica\":\"b\""), "{frame}");

    // Other events need no listener check and keep their order.
    for i in 0..50 {
        b.emit(Event::new(EventKind::FetchStarted).repo("r").path(&i.to_string()));
    }
    for i in 0..50 {
        let frame = chunk(&mut s).await;
        assert!(frame.contains(&format!("\"path\":\"{i}\"")), "event {i} out of order: {frame}");
    }
}

#[tokio::test]
async fn closing_the_bus_ends_every_stream_now_and_later() {
    let bus = EventBus::start(Arc::new(MemoryCoordinator::new()), "r".into());
    let listener = bus.listen().await;
    let mut s = Box::pin(sse::stream(listener, Filter::default(), Duration::from_secs(60), "r".into()));
    assert!(chunk(&mut s).await.starts_with("retry:"), "greeting");
    bus.close();
    let end = tokio::time::timeout(Duration::from_secs(5), s.next()).await.expect("ends at once");
    assert!(end.is_none(), "the stream ends: {end:?}");
    let late = bus.listen().await;
    let mut s = Box::pin(sse::stream(late, Filter::default(), Duration::from_secs(60), "r".into()));
    assert!(chunk(&mut s).await.starts_with("retry:"));
    assert!(tokio::time::timeout(Duration::from_secs(5), s.next()).await.expect("ends").is_none());
}

/// A `redis-server` of the test's own on a free port, which the test kills.
fn private_redis() -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server on PATH");
    (child, format!("redis://127.0.0.1:{port}"))
}

#[tokio::test]
async fn without_redis_a_replicas_clients_still_get_its_events_and_dependency_events_come_once() {
    let (mut redis_server, url) = private_redis();
    let deadline = Instant::now() + Duration::from_secs(10);
    let coord = loop {
        match RedisCoordinator::connect(&url, "aatest-local").await {
            Ok(c) => break c,
            Err(e) => assert!(Instant::now() < deadline, "private redis-server: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let bus = EventBus::start(Arc::new(coord), "a".into());
    let listener = bus.listen().await;
    let mut s = Box::pin(sse::stream(listener, Filter::default(), Duration::from_secs(60), "a".into()));
    chunk(&mut s).await;

    // Delivered here directly; the copy coming back through Redis is skipped.
    bus.emit(Event::new(EventKind::DependencyDown).detail(serde_json::json!({"dependency": "storage"})));
    bus.emit(Event::new(EventKind::FetchStarted).repo("r").path("after"));
    assert!(chunk(&mut s).await.contains("event: dependency_down"));
    let next = chunk(&mut s).await;
    assert!(next.contains("event: fetch_started") && next.contains("\"path\":\"after\""), "{next}");

    redis_server.kill().unwrap();
    redis_server.wait().unwrap();
    bus.emit(Event::new(EventKind::FetchStarted).repo("r").path("during"));
    bus.emit(Event::new(EventKind::DependencyDown).detail(serde_json::json!({"dependency": "coordinator"})));
    let first = chunk(&mut s).await;
    assert!(first.contains("event: dependency_down") && first.contains("coordinator"), "{first}");
    let second = chunk(&mut s).await;
    assert!(second.contains("\"path\":\"during\""), "an event Redis could not take: {second}");
}

//! The Redis coordinator across a Redis restart, against a private `redis-server`.
//!
//! The test owns its server (a child process on a free port, no persistence), kills it, checks
//! that calls fail fast with `Unavailable` instead of hanging, starts it again on the same port
//! and checks that commands and an existing subscription work again without any intervention.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use artifactapi_actors::coord::{CoordError, Coordinator};
use futures_util::StreamExt;

use super::RedisCoordinator;

/// A private redis-server, killed when dropped.
struct Server {
    child: Child,
}

impl Server {
    fn start(port: u16) -> Server {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child }
    }

    fn kill(mut self) {
        self.child.kill().expect("kill redis-server");
        self.child.wait().expect("reap redis-server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `op` and checks it fails with `Unavailable` within three seconds.
async fn fails_fast<T: std::fmt::Debug>(what: &str, op: impl std::future::Future<Output = Result<T, CoordError>>) {
    let start = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), op).await.unwrap_or_else(|_| panic!("{what} hung"));
    assert!(matches!(r, Err(CoordError::Unavailable(_))), "{what}: expected Unavailable, got {r:?}");
    assert!(start.elapsed() < Duration::from_secs(3), "{what} took {:?}", start.elapsed());
}

#[tokio::test]
async fn redis_restart_is_survived() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let server = Server::start(port);
    let c = RedisCoordinator::connect(&url, "restart").await.unwrap();
    c.set("k", "v", None).await.unwrap();
    let mut sub = c.subscribe("ch").await.unwrap();
    c.publish("ch", "before").await.unwrap();
    assert_eq!(super::suite::next(&mut sub).await, "before");

    server.kill();
    // The pooled connection is dead (first call) and dialing is refused (later calls).
    fails_fast("get on a dead connection", c.get("k")).await;
    fails_fast("set while down", c.set("k", "v", None)).await;
    fails_fast("try_lock while down", c.try_lock("l", Duration::from_secs(1))).await;
    fails_fast("publish while down", c.publish("ch", "lost")).await;
    fails_fast("subscribe while down", async { c.subscribe("ch2").await.map(|_| ()) }).await;

    let _server = Server::start(port);
    // Commands work again as soon as the server is back (the data is gone: no persistence).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.set("k", "again", None).await {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "commands did not recover: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.get("k").await.unwrap().as_deref(), Some("again"));
    assert!(c.try_lock("l", Duration::from_secs(5)).await.unwrap().is_some());

    // The existing subscription resubscribes by itself; publish until it hears us.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    let heard = loop {
        c.publish("ch", &format!("after-{n}")).await.unwrap();
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
            break msg;
        }
        assert!(Instant::now() < deadline, "the subscription did not recover");
        n += 1;
    };
    assert!(heard.starts_with("after-"), "unexpected message {heard:?}");
    // And it keeps delivering in order afterwards.
    for i in 0..5 {
        c.publish("ch", &format!("later-{i}")).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        let msg = super::suite::next(&mut sub).await;
        if msg.starts_with("later-") {
            got.push(msg);
        }
    }
    assert_eq!(got, (0..5).map(|i| format!("later-{i}")).collect::<Vec<_>>());
}

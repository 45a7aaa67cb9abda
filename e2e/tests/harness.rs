//! Tests of the harness itself, which need no artifactapi binary: the upstream servers and
//! their fault modes, s3s-fs start-up, database and Redis namespace lifecycles, raw requests.
//! The end-to-end tests are only as good as these parts, so each mode is checked with a real
//! HTTP client against its own promise.

use std::time::{Duration, Instant, SystemTime};

use artifactapi_e2e::db::{Database, DbServer};
use artifactapi_e2e::redis::Namespace;
use artifactapi_e2e::s3::S3Server;
use artifactapi_e2e::upstream::basic_auth;
use artifactapi_e2e::{concurrent_gets, fetch, pattern_bytes, raw, sha256_hex, try_fetch, File, Mode, Upstream};
use futures_util::StreamExt;
use reqwest::StatusCode;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn upstream_serves_files_with_validators_and_counts_requests() {
    let up = Upstream::start().await;
    let body = pattern_bytes(200_000, 1);
    let modified = SystemTime::now() - Duration::from_secs(3600);
    up.put("/dir/a.bin", File::new(body.clone()).content_type("application/x-test").etag("v1").last_modified(modified));
    let c = client();

    let r = fetch(c.get(up.url("dir/a.bin"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, body);
    assert_eq!(r.header("content-type"), Some("application/x-test"));
    assert_eq!(r.header("content-length"), Some("200000"));
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert_eq!(r.header("last-modified"), Some(httpdate::fmt_http_date(modified).as_str()));
    assert_eq!(up.progress("/dir/a.bin").completed, 1);
    assert_eq!(up.progress("/dir/a.bin").sent, 200_000);

    let head = fetch(c.head(up.url("dir/a.bin"))).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), Some("200000"));
    assert!(head.body.is_empty());

    let missing = fetch(c.get(up.url("nope"))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    up.put("/gone", File::new("removed").status(410));
    assert_eq!(fetch(c.get(up.url("gone"))).await.status, StatusCode::GONE);

    assert_eq!(up.count("/dir/a.bin"), 2);
    assert_eq!(up.count("dir/a.bin"), 2, "leading slash is optional");
    assert_eq!(up.total(), 4);
    let seen = up.requests("/dir/a.bin");
    assert_eq!((seen[0].method.as_str(), seen[1].method.as_str()), ("GET", "HEAD"));
}

#[tokio::test]
async fn upstream_honours_conditional_requests() {
    let up = Upstream::start().await;
    let modified = SystemTime::now() - Duration::from_secs(3600);
    up.put("/m.json", File::new("{}").etag("v1").last_modified(modified));
    up.put("/lm-only", File::new("x").last_modified(modified));
    let c = client();
    let get = |path: &str, h: &str, v: String| fetch(c.get(up.url(path)).header(h, v));

    let r = get("m.json", "if-none-match", "\"v1\"".into()).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert!(r.body.is_empty());
    assert_eq!(get("m.json", "if-none-match", "\"old\", W/\"v1\"".into()).await.status, StatusCode::NOT_MODIFIED);
    assert_eq!(get("m.json", "if-none-match", "\"v0\"".into()).await.status, StatusCode::OK);
    assert_eq!(up.requests("/m.json")[0].header("if-none-match"), Some("\"v1\""));

    let at = httpdate::fmt_http_date(modified);
    let before = httpdate::fmt_http_date(modified - Duration::from_secs(10));
    assert_eq!(get("lm-only", "if-modified-since", at).await.status, StatusCode::NOT_MODIFIED);
    assert_eq!(get("lm-only", "if-modified-since", before).await.status, StatusCode::OK);
}

#[tokio::test]
async fn slow_mode_streams_bytes_before_the_body_is_complete() {
    let up = Upstream::start().await;
    let body = pattern_bytes(256 * 1024, 2);
    up.put("/slow", File::new(body.clone()));
    up.set_mode(Mode::Slow { bytes_per_sec: 512 * 1024 });
    let started = Instant::now();
    let resp = client().get(up.url("slow")).send().await.unwrap();
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    assert_eq!(up.progress("/slow").completed, 0, "the first chunk arrived before the upstream finished");
    let mut got = first.to_vec();
    while let Some(c) = stream.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert_eq!(got, body);
    assert_eq!(up.progress("/slow").completed, 1);
    // Pacing can only make it slower than the rate allows, never faster.
    assert!(started.elapsed() >= Duration::from_millis(400), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn reset_mode_drops_the_connection_mid_body() {
    let up = Upstream::start().await;
    up.put("/r", File::new(pattern_bytes(300_000, 3)));
    up.set_mode(Mode::ResetMidBody);
    match try_fetch(client().get(up.url("r"))).await {
        Err(artifactapi_e2e::client::FetchError::Body { status, headers, received, .. }) => {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers.get("content-length").unwrap(), "300000");
            assert!(received > 0 && received < 300_000, "received {received}");
        }
        other => panic!("expected a failed body, got {other:?}"),
    }
    assert_eq!(up.progress("/r").completed, 0);
    up.set_mode(Mode::Normal);
    assert_eq!(fetch(client().get(up.url("r"))).await.body.len(), 300_000);
}

#[tokio::test]
async fn error_modes_answer_500_and_html_pages() {
    let up = Upstream::start().await;
    up.put("/f", File::new("data"));
    let c = client();
    up.set_mode(Mode::Error500);
    assert_eq!(fetch(c.get(up.url("f"))).await.status, StatusCode::INTERNAL_SERVER_ERROR);
    for code in [502, 503] {
        up.set_mode(Mode::HtmlError(code));
        let r = fetch(c.get(up.url("f"))).await;
        assert_eq!(r.status.as_u16(), code);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(r.text().contains("<html>"));
    }
    up.set_mode(Mode::Normal);
    assert_eq!(fetch(c.get(up.url("f"))).await.text(), "data");
    assert_eq!(up.count("/f"), 4);
}

#[tokio::test]
async fn down_refuses_connections_and_up_serves_again_on_the_same_port() {
    let up = Upstream::start().await;
    up.put("/f", File::new("data"));
    let c = client();
    assert_eq!(fetch(c.get(up.url("f"))).await.status, StatusCode::OK);
    up.down().await;
    // A fresh client: the old one's pooled connection was closed under it, which fails too but
    // not with the connection-refused error this checks.
    let err = client().get(up.url("f")).send().await.expect_err("upstream is down");
    assert!(err.is_connect(), "{err:?}");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", up.port())).await.is_err());
    up.up().await;
    assert_eq!(fetch(c.get(up.url("f"))).await.text(), "data");
    assert_eq!(up.count("/f"), 2);
}

#[tokio::test]
async fn header_delay_holds_the_response() {
    let up = Upstream::start().await;
    up.put("/f", File::new("data"));
    up.set_header_delay(Duration::from_secs(3));
    let err = client().get(up.url("f")).timeout(Duration::from_millis(200)).send().await.expect_err("delayed");
    assert!(err.is_timeout(), "{err:?}");
    up.set_header_delay(Duration::ZERO);
    assert_eq!(fetch(client().get(up.url("f"))).await.text(), "data");
}

#[tokio::test]
async fn basic_auth_is_required_when_configured() {
    let up = Upstream::start().await;
    up.put("/f", File::new("data"));
    up.require_basic_auth(Some(("alice", "s3cr3t")));
    let c = client();
    let r = fetch(c.get(up.url("f"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = fetch(c.get(up.url("f")).basic_auth("alice", Some("s3cr3t"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(up.requests("/f")[1].header("authorization"), Some(basic_auth("alice", "s3cr3t").as_str()));
}

#[tokio::test]
async fn load_dir_serves_a_static_tree_and_waiters_see_completion() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    std::fs::write(dir.path().join("a/b/c.txt"), "nested").unwrap();
    std::fs::write(dir.path().join("top"), "top").unwrap();
    let up = Upstream::start().await;
    assert_eq!(up.load_dir(dir.path()).unwrap(), 2);
    let url = up.url("a/b/c.txt");
    let getter = tokio::spawn(async move { fetch(client().get(url)).await });
    up.wait_completed("/a/b/c.txt", 1, Duration::from_secs(10)).await;
    assert_eq!(getter.await.unwrap().text(), "nested");
}

#[tokio::test]
async fn concurrent_gets_hash_every_body() {
    let up = Upstream::start().await;
    let body = pattern_bytes(1 << 20, 4);
    up.put("/big", File::new(body.clone()));
    let results = concurrent_gets(&client(), &up.url("big"), 20).await;
    for r in results {
        let r = r.unwrap();
        assert_eq!((r.status, r.len, r.sha256.as_str()), (StatusCode::OK, body.len(), sha256_hex(&body).as_str()));
    }
    assert_eq!(up.count("/big"), 20);
}

#[tokio::test]
async fn raw_requests_keep_the_target_unchanged() {
    let up = Upstream::start().await;
    up.put("/a/../b", File::new("x"));
    let r = raw::request(up.port(), "GET", "/a/%2e%2e/b").await;
    assert_eq!(r.status, 404);
    assert_eq!(up.requests("/a/%2e%2e/b").len(), 1, "the path arrived percent-encoded, not resolved");
    let r = raw::request(up.port(), "GET", "/a/../b").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1"));
}

#[tokio::test]
async fn s3s_fs_starts_and_checks_signatures() {
    let s3 = S3Server::start().await;
    // An unsigned request must be refused: proof that it is a real S3 server with auth on.
    let r = raw::request(s3.port, "GET", "/").await;
    assert_eq!(r.status, 403, "{} {}", r.head, r.rest_text());
    assert!(r.rest_text().contains("<Error>"), "{}", r.rest_text());
    let env = s3.env("bucket-x");
    assert!(env.contains(&("MINIO_ENDPOINT".to_string(), format!("127.0.0.1:{}", s3.port))));
    let port = s3.port;
    drop(s3);
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "s3s-fs stopped on drop");
}

#[tokio::test]
async fn databases_are_created_and_dropped() {
    let db = Database::create().await;
    let server = DbServer::from_env();
    assert!(Database::exists(&server, &db.name).await);
    let client = server.connect(&db.name).await;
    client.batch_execute("CREATE TABLE t (x int)").await.unwrap();
    drop(client);
    let name = db.name.clone();
    drop(db);
    assert!(!Database::exists(&server, &name).await);
}

#[tokio::test]
async fn redis_namespaces_are_swept_on_drop() {
    use redis::AsyncCommands;
    let ns = Namespace::new();
    let client = redis::Client::open(ns.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    conn.set::<_, _, ()>(format!("{}:a", ns.prefix), 1).await.unwrap();
    conn.set::<_, _, ()>(format!("{}:b:c", ns.prefix), 2).await.unwrap();
    assert_eq!(ns.keys().await.unwrap().len(), 2);
    let probe = Namespace { url: ns.url.clone(), prefix: ns.prefix.clone() };
    drop(ns);
    assert!(probe.keys().await.unwrap().is_empty());
}

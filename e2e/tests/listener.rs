//! The listener against hostile clients, over raw TCP sockets: a request head sent byte by byte
//! (slowloris) is cut off with 408 after `CLIENT_HEADER_TIMEOUT`; oversize heads (one huge
//! header, too many headers) get 431; a body announced larger than a write route takes gets
//! 413 on every write route (docker blob uploads included), long before it could have been sent, without the server's memory
//! growing with it; an idle keep-alive connection is closed after `CLIENT_IDLE_TIMEOUT`. After
//! each, the server still answers.

use std::time::Duration;

use artifactapi_e2e::raw::{self, Paced};
use artifactapi_e2e::{fetch, Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn opts() -> Options {
    Options::new(Storage::Fs, false)
}

async fn still_serves(s: &Server) {
    let r = raw::request(s.port(), "GET", "/api/v2/health/live").await;
    assert_eq!(r.status, 200, "the server answers after the hostile client: {}", r.head);
}

fn head_of(method: &str, target: &str, port: u16, extra: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_byte_by_byte_is_cut_off_with_408() {
    let s = Server::start(opts().env("CLIENT_HEADER_TIMEOUT", 1)).await;
    // A head that would take a minute to arrive at one byte every 300 ms.
    let pad = "x".repeat(200);
    let head = head_of("GET", "/api/v2/health/live", s.port(), &format!("X-Pad: {pad}\r\n"));
    let len = head.len();
    let pieces = head.into_iter().map(|b| vec![b]);
    let Paced { sent, response, closed } =
        raw::send_paced(s.port(), pieces, Duration::from_millis(300), Duration::from_secs(30)).await;
    let response = response.expect("an answer to the slow head");
    assert_eq!(response.status, 408, "{}", response.head);
    assert!(closed, "the connection is closed after the 408");
    assert!(sent < len, "cut off before the head was complete ({sent} of {len} bytes)");
    still_serves(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_heads_get_431() {
    let s = Server::start(opts()).await;
    let huge = format!("X-Huge: {}\r\n", "h".repeat(200 << 10));
    let many: String = (0..120).map(|i| format!("X-Many-{i}: {i}\r\n")).collect();
    let long_target = format!("/api/v1/remote/none/{}", "p".repeat(200 << 10));
    for (what, head) in [
        ("a 200 KiB header", head_of("GET", "/api/v2/health/live", s.port(), &huge)),
        ("120 headers", head_of("GET", "/api/v2/health/live", s.port(), &many)),
        ("a 200 KiB request line", head_of("GET", &long_target, s.port(), "")),
    ] {
        let pieces = head.chunks(16 << 10).map(<[u8]>::to_vec).collect::<Vec<_>>().into_iter();
        let r = raw::send_paced(s.port(), pieces, Duration::ZERO, Duration::from_secs(10)).await;
        let response = r.response.unwrap_or_else(|| panic!("{what}: no answer (sent {} bytes)", r.sent));
        assert_eq!(response.status, 431, "{what}: {}", response.head);
    }
    still_serves(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let s = Server::start(opts().env("CLIENT_IDLE_TIMEOUT", 1)).await;
    let mut conn = TcpStream::connect(("127.0.0.1", s.port())).await.expect("connect");
    let request = head_of("GET", "/api/v2/health/live", s.port(), "");
    // Two requests on the one connection: it is kept alive.
    for n in 1..=2 {
        conn.write_all(&request).await.expect("write request");
        let status = read_one_response(&mut conn).await;
        assert_eq!(status, 200, "request {n} on the kept-alive connection");
    }
    // Then silence: the server closes the connection.
    let mut byte = [0u8; 1];
    let end = tokio::time::timeout(Duration::from_secs(20), conn.read(&mut byte)).await;
    assert!(matches!(end, Ok(Ok(0)) | Ok(Err(_))), "an idle connection stays open: {end:?}");
    still_serves(&s).await;
}

/// Reads one response with a `Content-Length` body from `conn`; returns its status.
async fn read_one_response(conn: &mut TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk))
            .await
            .expect("a response")
            .expect("read response");
        assert!(n > 0, "closed before the response was complete");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("a Content-Length");
        if buf.len() >= end + len {
            return head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
        }
    }
}

/// The server's peak resident memory so far (`VmHWM`), in bytes.
fn peak_rss(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).expect("/proc status of the server");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb << 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_get_413_on_every_write_route() {
    // Far beyond every limit: a server that reads up to its limit before refusing would read
    // a whole LIMIT of it first.
    const ANNOUNCED: usize = 4 << 30;
    const LIMIT: usize = 1 << 30;
    const PIECE: usize = 64 << 10;
    let s = Server::start(opts().env("LOCAL_MAX_UPLOAD", LIMIT)).await;
    for t in ["generic", "npm", "pypi", "helm", "goproxy", "rpm", "puppet", "terraform", "docker"] {
        let r = s.send_json(Method::POST, "/api/v2/locals", &json!({ "name": t, "package_type": t })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{t}: {}", r.describe());
    }
    // A docker blob upload to continue (PATCH) and to close (PUT).
    let started = fetch(s.client().post(s.url("/v2/docker/big/blobs/uploads/"))).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.describe());
    let upload = started.header("location").expect("an upload location").to_string();
    let zero_digest = format!("sha256:{}", "0".repeat(64));
    let blob_routes = [
        ("POST", format!("/v2/docker/big/blobs/uploads/?digest={zero_digest}"), "application/octet-stream"),
        ("PATCH", upload.clone(), "application/octet-stream"),
        ("PUT", format!("{upload}?digest={zero_digest}"), "application/octet-stream"),
    ];
    let before = peak_rss(&s);
    let routes: &[(&str, &str, &str)] = &[
        ("PUT", "/api/v1/local/generic/big.bin", "application/octet-stream"),
        ("PUT", "/api/v1/local/npm/big", "application/json"),
        ("POST", "/api/v1/local/pypi/", "multipart/form-data; boundary=b"),
        ("POST", "/api/v1/local/helm/api/charts", "application/octet-stream"),
        ("PUT", "/api/v1/local/helm/charts/big-1.0.0.tgz", "application/octet-stream"),
        ("PUT", "/api/v1/local/goproxy/example.com/big/@v/v1.0.0.zip", "application/zip"),
        ("PUT", "/api/v1/local/rpm/Packages/big-1.0-1.x86_64.rpm", "application/x-rpm"),
        ("POST", "/api/v1/local/puppet/v3/releases", "application/octet-stream"),
        ("PUT", "/api/v1/local/terraform/big/terraform-provider-big_1.0.0_linux_amd64.zip", "application/zip"),
        ("PUT", "/v2/docker/big/manifests/latest", "application/vnd.oci.image.manifest.v1+json"),
        ("POST", "/api/v2/remotes", "application/json"),
        ("PUT", "/api/v2/remotes/big", "application/json"),
        ("POST", "/api/v2/virtuals", "application/json"),
        ("POST", "/api/v2/locals", "application/json"),
        ("POST", "/api/v2/tokens", "application/json"),
        ("POST", "/api/v2/probe", "application/json"),
    ];
    let blob_routes = blob_routes.iter().map(|(m, t, c)| (*m, t.as_str(), *c));
    for (method, target, content_type) in routes.iter().copied().chain(blob_routes) {
        let extra = format!("Content-Type: {content_type}\r\nContent-Length: {ANNOUNCED}\r\n");
        let head = head_of(method, target, s.port(), &extra);
        let pieces = std::iter::once(head).chain(std::iter::repeat_n(vec![0u8; PIECE], ANNOUNCED / PIECE));
        let r = raw::send_paced(s.port(), pieces, Duration::ZERO, Duration::from_secs(60)).await;
        let what = format!("{method} {target}");
        let response = r.response.unwrap_or_else(|| panic!("{what}: no answer after {} bytes", r.sent));
        assert_eq!(response.status, 413, "{what}: {}\n{}", response.head, response.rest_text());
        assert!(r.sent < LIMIT, "{what}: {} bytes of the {ANNOUNCED}-byte body were read before the 413", r.sent);
        eprintln!("{what}: 413 after {} body bytes", r.sent);
    }
    let growth = peak_rss(&s).saturating_sub(before);
    eprintln!("peak RSS before {before} bytes, growth {growth} bytes");
    assert!(growth < 64 << 20, "the server's peak memory grew by {growth} bytes: bodies were buffered");
    for path in ["/api/v1/local/generic/big.bin", "/api/v1/local/helm/charts/big-1.0.0.tgz", "/api/v2/remotes/big"] {
        assert_eq!(s.get(path).await.status, StatusCode::NOT_FOUND, "{path}: nothing was stored");
    }
    still_serves(&s).await;
}

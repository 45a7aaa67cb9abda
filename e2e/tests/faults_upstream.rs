//! The upstream rows of the fault matrix, each against a test-owned misbehaving upstream: down,
//! stalled mid-body past the read timeout, a body shorter than its `Content-Length` (then a
//! clean close), a body longer than its `Content-Length` (the excess shaped as an answer to the
//! next request on the connection), and an HTML error page with `200` where a package document
//! (npm packument, PyPI JSON page, helm index) is expected.
//!
//! In every row: no wrong or partial byte is served as complete (a broken transfer reaches the
//! client as a broken transfer), nothing is cached, the next request after the upstream
//! recovers succeeds without a restart, and the operator sees the fault in `/api/v2/health`,
//! `/metrics` and on the event feed. Resets mid-body, 5xx answers and silence before the
//! headers are in `faults.rs`.

use std::time::Duration;

use artifactapi::formats::fixtures::{helm_index, npm_packument, pypi_project};
use artifactapi_e2e::client::assert_failed_transfer;
use artifactapi_e2e::prom::Scrape;
use artifactapi_e2e::sse::EventStream;
use artifactapi_e2e::upstream::raw::{RawAnswer, RawUpstream};
use artifactapi_e2e::{
    generic_remote, pattern_bytes, poll_until, try_fetch, File, Mode, Options, Server, Storage, Upstream,
};
use reqwest::StatusCode;
use serde_json::json;

const POLL: Duration = Duration::from_millis(100);

fn opts() -> Options {
    Options::new(Storage::Fs, true).env("BREAKER_THRESHOLD", 100)
}

/// The fault shows where an operator looks: a `fetch_failed` event of `remote` on the feed,
/// the remote's last failure in `/api/v2/health` (whose status stays `ok`: the service itself
/// is fine), and its count in `artifactapi_upstream_errors_total`.
async fn assert_fault_visible(s: &Server, events: &mut EventStream, remote: &str) {
    let what = format!("a fetch_failed event of {remote}");
    let (event, _) = events
        .until(&what, Duration::from_secs(20), |e, j| e.event == "fetch_failed" && j["repository"] == remote)
        .await;
    eprintln!("{remote}: {event}");
    let health = s.get("/api/v2/health").await;
    let health = health.json();
    assert_eq!(health["status"], "ok", "an upstream fault does not make the service unhealthy: {health}");
    assert!(health["upstreams"][remote]["last_failure"]["type"] == "fetch_failed", "health: {health}");
    let metrics = Scrape::parse(&s.get("/metrics").await.text()).expect("a valid scrape");
    let errors = metrics.sum("artifactapi_upstream_errors_total", &[("repo", remote)]);
    assert!(errors >= 1.0, "artifactapi_upstream_errors_total{{repo={remote:?}}} is {errors}");
}

async fn events(s: &Server) -> EventStream {
    EventStream::open(s, "").await.unwrap_or_else(|r| panic!("event stream: {}", r.describe()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_down_is_a_502_and_recovers() {
    let up = Upstream::start().await;
    let s = Server::start(opts()).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let mut feed = events(&s).await;
    up.put("/files/a.bin", File::new(pattern_bytes(300_000, 40)));
    up.down().await;
    let r = try_fetch(s.client().get(s.proxy_url("gen", "files/a.bin"))).await.expect("an error answer");
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    assert_fault_visible(&s, &mut feed, "gen").await;
    up.up().await;
    let r = s.proxy_get("gen", "files/a.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "{}", r.describe());
    assert_eq!(r.body.to_vec(), pattern_bytes(300_000, 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_mid_body_past_the_read_timeout_is_a_broken_transfer() {
    let up = Upstream::start().await;
    let s = Server::start(opts().env("UPSTREAM_READ_TIMEOUT", 1)).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let mut feed = events(&s).await;
    let body = pattern_bytes(2 << 20, 41);
    up.put("/files/stall.bin", File::new(body.clone()));
    up.set_mode(Mode::StallMidBody);
    let url = s.proxy_url("gen", "files/stall.bin");
    assert_failed_transfer(try_fetch(s.client().get(&url)).await, body.len());
    assert_fault_visible(&s, &mut feed, "gen").await;
    let before = up.count("/files/stall.bin");
    up.set_mode(Mode::Normal);
    let r = try_fetch(s.client().get(&url)).await.expect("a complete transfer once the upstream is healthy");
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "nothing was cached from the stalled transfer");
    assert_eq!(r.body, body);
    assert!(up.count("/files/stall.bin") > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_shorter_than_its_length_is_a_broken_transfer() {
    let up = RawUpstream::start().await;
    let s = Server::start(opts()).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let mut feed = events(&s).await;
    let body = pattern_bytes(1 << 20, 42);
    // Every byte of the body, a Content-Length 1000 bytes longer, then a clean close (FIN).
    up.put("/files/short.bin", RawAnswer::with_length(body.len() + 1000, &body, true));
    let url = s.proxy_url("gen", "files/short.bin");
    assert_failed_transfer(try_fetch(s.client().get(&url)).await, body.len() + 1000);
    assert_fault_visible(&s, &mut feed, "gen").await;
    up.put("/files/short.bin", RawAnswer::ok(&body));
    let r = try_fetch(s.client().get(&url)).await.expect("a complete transfer once the upstream is healthy");
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "nothing was cached from the short transfer");
    assert_eq!(r.body, body);
    assert_eq!(up.count("/files/short.bin"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_longer_than_its_length_poisons_no_other_answer() {
    let up = RawUpstream::start().await;
    let s = Server::start(opts()).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    // The excess after the announced 5 bytes is a whole HTTP answer: read from a reused
    // connection, it would pass for the answer to the next request.
    let mut long = b"hello".to_vec();
    long.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nEVIL");
    up.put("/files/long.bin", RawAnswer::with_length(5, &long, false));
    up.put("/files/next.bin", RawAnswer::ok(b"good"));
    let first = try_fetch(s.client().get(s.proxy_url("gen", "files/long.bin"))).await;
    if let Ok(r) = &first {
        assert!(
            r.status.is_server_error() || r.body.as_ref() == b"hello",
            "the announced length is all a client may get: {}",
            r.describe()
        );
    }
    for n in 1..=3 {
        let r = try_fetch(s.client().get(s.proxy_url("gen", "files/next.bin"))).await.expect("an answer");
        assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "good"), "request {n} for another path");
    }
}

/// A document remote of `package_type` whose upstream serves `doc` at `upstream_path`, cached
/// once; then the upstream answers every request with an HTML page and `200`. The cached copy
/// is served `STALE` once it expires, a document never cached is a 502 and stays uncached, and
/// both are served fresh once the upstream recovers.
async fn html_200_where_a_document_is_expected(
    package_type: &str,
    upstream_path: &str,
    path: &str,
    uncached: (&str, &str, Vec<u8>),
    accept: &str,
    doc: Vec<u8>,
) {
    let up = Upstream::start().await;
    let s = Server::start(opts()).await;
    let spec = json!({ "name": "docs", "package_type": package_type, "base_url": up.base_url(), "mutable_ttl": 1 });
    s.create_remote(spec).await;
    let mut feed = events(&s).await;
    up.put(upstream_path, File::new(doc.clone()));
    up.put(uncached.0, File::new(uncached.2));
    let get = |p: &str| s.client().get(s.proxy_url("docs", p)).header("accept", accept);
    let first = try_fetch(get(path)).await.expect("the document");
    assert_eq!((first.status, first.x_cache()), (StatusCode::OK, "MISS"), "{}", first.describe());

    up.set_mode(Mode::HtmlError(200));
    let stale = poll_until("the cached copy served STALE", Duration::from_secs(20), POLL, || async {
        let r = try_fetch(get(path)).await.expect("an answer");
        assert_eq!(r.status, StatusCode::OK, "{package_type}: {}", r.describe());
        (r.x_cache() == "STALE").then_some(r)
    })
    .await;
    assert_eq!(stale.body, first.body, "{package_type}: the stale copy is the cached document");
    let r = try_fetch(get(uncached.1)).await.expect("an answer");
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{package_type}: an HTML page is no document: {}", r.describe());
    assert!(!String::from_utf8_lossy(&r.body).contains("<html>"), "{package_type}: the HTML page was passed on");
    assert_fault_visible(&s, &mut feed, "docs").await;

    up.set_mode(Mode::Normal);
    let r = try_fetch(get(uncached.1)).await.expect("the document");
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "{package_type}: {}", r.describe());
    let fresh = poll_until("a fresh copy after the recovery", Duration::from_secs(20), POLL, || async {
        let r = try_fetch(get(path)).await.expect("the document");
        assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
        (r.x_cache() != "STALE").then_some(r)
    })
    .await;
    assert_eq!(fresh.body, first.body, "{package_type}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_with_200_is_no_npm_packument() {
    let doc = npm_packument("left-pad", 300, "http://registry.test/");
    let other = ("/right-pad", "right-pad", npm_packument("right-pad", 3, "http://registry.test/"));
    html_200_where_a_document_is_expected("npm", "/left-pad", "left-pad", other, "application/json", doc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_with_200_is_no_pypi_page() {
    let doc = pypi_project("requests", 1000, "http://files.test/").json;
    html_200_where_a_document_is_expected(
        "pypi",
        "/simple/requests/",
        "simple/requests/",
        ("/simple/urllib3/", "simple/urllib3/", pypi_project("urllib3", 4, "http://files.test/").json),
        "application/vnd.pypi.simple.v1+json",
        doc,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_with_200_is_no_helm_index() {
    let doc = helm_index(50, 20);
    html_200_where_a_document_is_expected(
        "helm",
        "/index.yaml",
        "index.yaml",
        ("/other/index.yaml", "other/index.yaml", helm_index(2, 2)),
        "*/*",
        doc,
    )
    .await;
}

//! `POST /api/v2/probe`: what an upstream answers, measured, without caching anything and
//! without touching the circuit breaker; classification and access as the remote would apply
//! them; unsaved configurations; refusal of private addresses that are not a configured
//! remote's host; hostile bodies.

use artifactapi_e2e::{generic_remote, pattern_bytes, Fetched, File, Mode, Options, Server, Storage, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn opts() -> Options {
    Options::new(Storage::Fs, false)
}

async fn probe(s: &Server, body: Value) -> Fetched {
    s.send_json(Method::POST, "/api/v2/probe", &body).await
}

async fn probe_ok(s: &Server, body: Value) -> Value {
    let r = probe(s, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "probe {body}: {}", r.describe());
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reports_without_caching() {
    let up = Upstream::start().await;
    let body = pattern_bytes(123_456, 61);
    up.put("/files/p.bin", File::new(body.clone()).etag("p1").content_type("application/x-probe"));
    up.put("/files/secret.bin", File::new("s"));
    let s = Server::start(opts()).await;
    let mut spec = generic_remote("gen", &up.base_url());
    spec["blocklist"] = json!(["secret"]);
    spec["mutable_patterns"] = json!(["\\.json$"]);
    s.create_remote(spec).await;

    let report = probe_ok(&s, json!({ "remote": "gen", "path": "files/p.bin" })).await;
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(report["size"], body.len(), "{report}");
    assert_eq!(report["complete"], true);
    assert_eq!(report["error"], Value::Null);
    assert_eq!(report["upstream_url"], up.url("/files/p.bin"));
    let h = &report["headers"];
    assert_eq!(h["content-type"], "application/x-probe");
    assert_eq!(h["content-length"], body.len().to_string());
    assert_eq!(h["etag"], "\"p1\"");
    assert_eq!((&h["location"], &h["cache-control"]), (&Value::Null, &Value::Null));
    let (ttfb, total) = (report["ttfb_ms"].as_f64().unwrap(), report["total_ms"].as_f64().unwrap());
    assert!(ttfb >= 0.0 && total >= ttfb, "{report}");
    assert_eq!(report["classification"], json!({ "class": "immutable", "rule": "type" }));
    assert_eq!(report["access"], json!({ "allowed": true, "reason": null }));

    // A leading slash is fine; every probe reaches the upstream, and nothing is cached.
    probe_ok(&s, json!({ "remote": "gen", "path": "/files/p.bin" })).await;
    assert_eq!(up.count("/files/p.bin"), 2);
    let listed = s.get("/api/v2/remotes/gen/objects").await.json();
    assert_eq!(listed["total"], 0, "{listed}");
    let r = s.proxy_get("gen", "files/p.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "a probe never caches");
    assert_eq!(up.count("/files/p.bin"), 3);

    let missing = probe_ok(&s, json!({ "remote": "gen", "path": "meta/none.json" })).await;
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["classification"], json!({ "class": "mutable", "rule": "mutable_patterns" }));
    let blocked = probe_ok(&s, json!({ "remote": "gen", "path": "files/secret.bin" })).await;
    assert_eq!(blocked["access"]["allowed"], false);
    assert!(blocked["access"]["reason"].as_str().is_some_and(|r| r.contains("blocklist")), "{blocked}");

    // An unsaved configuration, on a configured remote's host.
    let mut config = generic_remote("unsaved", &up.base_url());
    config["immutable_patterns"] = json!(["\\.bin$"]);
    config["patterns"] = json!(["^other/"]);
    let r = probe_ok(&s, json!({ "config": config, "path": "files/p.bin" })).await;
    assert_eq!((r["status"].as_u64(), r["size"].as_u64()), (Some(200), Some(body.len() as u64)));
    assert_eq!(r["classification"], json!({ "class": "immutable", "rule": "immutable_patterns" }));
    assert_eq!(r["access"]["allowed"], false, "{r}");
    assert_eq!(s.get("/api/v2/remotes/unsaved").await.status, StatusCode::NOT_FOUND, "nothing was saved");

    // The body is bounded by the probe's time limit.
    up.set_mode(Mode::Slow { bytes_per_sec: 40_000 });
    let slow = probe_ok(&s, json!({ "remote": "gen", "path": "files/p.bin", "timeout_seconds": 1 })).await;
    assert_eq!((slow["status"].as_u64(), slow["complete"].as_bool()), (Some(200), Some(false)), "{slow}");
    assert!(slow["error"].as_str().is_some_and(|e| e.contains("within 1s")), "{slow}");
    assert!(slow["size"].as_u64().is_some_and(|n| n > 0 && n < body.len() as u64), "{slow}");
    assert!(slow["total_ms"].as_f64().is_some_and(|t| (900.0..5000.0).contains(&t)), "{slow}");
    up.set_mode(Mode::Normal);
    up.down().await;
    let down = probe_ok(&s, json!({ "remote": "gen", "path": "files/p.bin" })).await;
    assert_eq!(down["status"], Value::Null);
    assert!(down["error"].as_str().is_some_and(|e| e.contains("connect")), "{down}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_never_opens_the_breaker() {
    let up = Upstream::start().await;
    up.put("/files/ok.bin", File::new("ok"));
    let s = Server::start(opts().env("BREAKER_THRESHOLD", 2).env("BREAKER_OPEN", 60)).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    up.set_mode(Mode::Error500);
    for i in 0..5 {
        let r = probe_ok(&s, json!({ "remote": "gen", "path": format!("fail/{i}") })).await;
        assert_eq!(r["status"], 500, "{r}");
    }
    assert_eq!(up.total(), 5, "every probe reached the upstream");
    up.set_mode(Mode::Normal);
    let r = s.proxy_get("gen", "files/ok.bin").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok"), "the breaker stayed closed: {}", r.describe());
    assert_eq!(up.count("/files/ok.bin"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_unless_configured_or_allowed() {
    let up = Upstream::start().await;
    up.put("/files/x.bin", File::new("x"));
    let port = up.port();
    let s = Server::start(opts()).await;
    let targets = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::1]:{port}/"),
        "http://169.254.169.254/latest/".to_string(),
        "http://10.0.0.1/".to_string(),
    ];
    for base in &targets {
        let r = probe(&s, json!({ "config": generic_remote("tmp", base), "path": "files/x.bin" })).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{base}: {}", r.describe());
        let msg = r.error_message();
        assert!(msg.contains("private") && msg.contains("PROBE_ALLOW_PRIVATE"), "{base}: {msg}");
    }
    assert_eq!(up.total(), 0, "no refused probe reached the address");

    // Once a remote is configured on that host, its host may be probed (any port).
    s.create_remote(generic_remote("local", "http://127.0.0.1:9/")).await;
    let r = probe_ok(&s, json!({ "config": generic_remote("tmp", &targets[0]), "path": "files/x.bin" })).await;
    assert_eq!((r["status"].as_u64(), r["size"].as_u64()), (Some(200), Some(1)), "{r}");
    let r = probe(&s, json!({ "config": generic_remote("tmp", &targets[1]), "path": "files/x.bin" })).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "localhost is another host name: {}", r.describe());

    let open = Server::start(opts().env("PROBE_ALLOW_PRIVATE", "true")).await;
    for base in &targets[..2] {
        let r = probe_ok(&open, json!({ "config": generic_remote("tmp", base), "path": "files/x.bin" })).await;
        assert_eq!(r["status"], 200, "{base}: {r}");
    }
    assert_eq!(up.count("/files/x.bin"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_probe_requests_are_refused() {
    let token = "probe-token";
    let up = Upstream::start().await;
    let s = Server::start(opts().admin_token(token)).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let mut bad_config = generic_remote("tmp", &up.base_url());
    bad_config["patterns"] = json!(["("]);
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "remote": "gen" }), "path"),
        (json!({ "path": "a" }), "either"),
        (json!({ "remote": "gen", "config": generic_remote("tmp", &up.base_url()), "path": "a" }), "either"),
        (json!({ "remote": "gen", "path": "../etc/passwd" }), "path: invalid path"),
        (json!({ "remote": "gen", "path": "a/%2e%2e/b" }), "path: invalid path"),
        (json!({ "remote": "gen", "path": "a%2fb" }), "path: invalid path"),
        (json!({ "remote": "gen", "path": "" }), "path: invalid path"),
        (json!({ "remote": "gen", "path": "a", "timeout_seconds": 0 }), "timeout_seconds"),
        (json!({ "remote": "gen", "path": "a", "timeout_seconds": 301 }), "timeout_seconds"),
        (json!({ "remote": "gen", "path": "a", "timeout_seconds": -1 }), "timeout_seconds"),
        (json!({ "remote": "gen", "path": "a", "colour": "red" }), "colour"),
        (json!({ "config": bad_config, "path": "a" }), "config.patterns[0]"),
        (json!({ "config": { "name": "tmp" }, "path": "a" }), "config"),
        (json!({ "remote": 5, "path": "a" }), "remote"),
    ];
    for (body, named) in cases {
        let r = probe(&s, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.describe());
        assert!(r.error_message().contains(named), "{body}: the error does not name {named}: {}", r.describe());
    }
    let r = probe(&s, json!({ "remote": "nope", "path": "a" })).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error_message().contains("\"nope\""), "{}", r.describe());
    let r = artifactapi_e2e::fetch(s.admin(Method::POST, "/api/v2/probe").body("{not json")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r =
        artifactapi_e2e::fetch(s.client().post(s.url("/api/v2/probe")).body(r#"{"remote":"gen","path":"a"}"#)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "probing needs the admin token");
    let r = artifactapi_e2e::fetch(s.admin(Method::GET, "/api/v2/probe")).await;
    assert_eq!((r.status, r.header("allow")), (StatusCode::METHOD_NOT_ALLOWED, Some("POST")));
    assert_eq!(up.total(), 0, "no refused probe reached the upstream");
}

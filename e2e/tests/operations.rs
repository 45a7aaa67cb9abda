//! Operating settings: scheduled garbage collection (`GC_INTERVAL`) reaping an evicted blob
//! without any request asking for it, and `ADMIN_TOKEN_READS` guarding the management API's
//! reads (but not liveness or the proxy).

use std::time::Duration;

use artifactapi_e2e::server::command;
use artifactapi_e2e::{fetch, pattern_bytes, poll_until, sha256_hex, File, Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn scheduled_gc_reaps_an_evicted_blob(storage: Storage) {
    let opts = Options::new(storage, false).env("GC_INTERVAL", 1).env("GC_GRACE", 2);
    let (s, up) = artifactapi_e2e::with_generic_remote(opts, json!({})).await;
    let body = pattern_bytes(40_000, 88);
    let sha = sha256_hex(&body);
    up.put("/files/g.bin", File::new(body.clone()));
    s.proxy_get("gen", "files/g.bin").await;
    s.wait_cached("gen", "files/g.bin").await;
    poll_until("two scheduled GC runs", Duration::from_secs(15), Duration::from_millis(200), || async {
        (s.log().matches("gc finished").count() >= 2).then_some(())
    })
    .await;
    assert!(s.blob_path(&sha).is_file(), "a referenced blob survives scheduled GC");
    assert_eq!(s.proxy_get("gen", "files/g.bin").await.x_cache(), "HIT");

    let r = fetch(s.admin(Method::DELETE, "/api/v2/remotes/gen/objects/files/g.bin")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    poll_until("scheduled GC to delete the evicted blob", Duration::from_secs(20), Duration::from_millis(200), || {
        let gone = !s.blob_path(&sha).exists();
        async move { gone.then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_gc_reaps_an_evicted_blob_fs() {
    scheduled_gc_reaps_an_evicted_blob(Storage::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_gc_reaps_an_evicted_blob_s3() {
    scheduled_gc_reaps_an_evicted_blob(Storage::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_interval_zero_turns_the_schedule_off() {
    let s = Server::start(Options::new(Storage::Fs, false).env("GC_INTERVAL", 0)).await;
    poll_until("the start-up log line", Duration::from_secs(5), Duration::from_millis(100), || async {
        s.log().contains("scheduled garbage collection is off").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!s.log().contains("gc finished"), "no GC ran:\n{}", s.log_tail(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_token_reads_guards_every_management_read() {
    let token = "reads-token";
    let opts = Options::new(Storage::Fs, false).admin_token(token).env("ADMIN_TOKEN_READS", "true");
    let (s, up) = artifactapi_e2e::with_generic_remote(opts, json!({})).await;
    up.put("/files/a.bin", File::new("a"));
    let reads = ["/api/v2/remotes", "/api/v2/remotes/gen", "/api/v2/remotes/gen/objects", "/api/v2/health"];
    for path in reads {
        for method in [Method::GET, Method::HEAD] {
            let r = fetch(s.client().request(method.clone(), s.url(path))).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} without the token");
        }
        let r = fetch(s.client().get(s.url(path)).bearer_auth("wrong")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path} with a wrong token");
        let r = fetch(s.admin(Method::GET, path)).await;
        assert_eq!(r.status, StatusCode::OK, "{path} with the token: {}", r.describe());
    }
    assert_eq!(s.get("/api/v2/health/live").await.status, StatusCode::OK, "liveness stays open");
    let r = s.get("/api/v2/remotes/nope/objects").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the token is checked before anything else");
    let r = s.proxy_get("gen", "files/a.bin").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "a"), "the proxy is not the management API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_admin_token_reads_reads_stay_open_and_writes_do_not() {
    let token = "writes-token";
    let (s, _up) =
        artifactapi_e2e::with_generic_remote(Options::new(Storage::Fs, false).admin_token(token), json!({})).await;
    for path in ["/api/v2/remotes", "/api/v2/remotes/gen/objects", "/api/v2/health"] {
        assert_eq!(s.get(path).await.status, StatusCode::OK, "{path}");
    }
    let writes = [
        (Method::DELETE, "/api/v2/remotes/gen/objects"),
        (Method::DELETE, "/api/v2/remotes/gen/objects/files/a.bin"),
        (Method::POST, "/api/v2/probe"),
    ];
    for (method, path) in writes {
        let body = serde_json::to_vec(&json!({ "remote": "gen", "path": "files/a.bin" })).unwrap();
        let r = fetch(s.client().request(method.clone(), s.url(path)).body(body)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn admin_token_reads_without_a_token_stops_the_server() {
    let mut cmd = tokio::process::Command::from(command());
    cmd.env("ADMIN_TOKEN_READS", "true").kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the process exits at once")
        .expect("run artifactapi");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim(), "artifactapi: ADMIN_TOKEN_READS=true needs ADMIN_TOKEN to be set");
}

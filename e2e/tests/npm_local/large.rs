//! Real sizes and figures. A package with 400 published versions: its packument is generated
//! from the stored versions, `npm view` lists them all and `npm install` picks from them. A
//! 64 MiB tarball (an 85 MiB publish body) is published while the server's peak resident memory
//! grows by far less than the body, and installs byte for byte. Then
//! the figures the README quotes: `npm publish` and `npm install` (fresh cache) of the same
//! package against an npm local and against verdaccio, the upstream the remote tests use,
//! printed side by side (single runs on a shared machine: an indication, not a benchmark).

use std::time::{Duration, Instant};

use artifactapi_e2e::{fetch, Options, Server, Storage};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use super::bodies::{publish_body, sri512, tarball, tarball_with};
use super::tools::{write_package, Verdaccio};
use super::{create_local, get, home_with_token, install, node, npm_ok, registry, token, ADMIN, INSTALL_ACCEPT, LOCAL};

const VERSIONS: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_of_hundreds_of_versions_and_the_figures_beside_verdaccio() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await;
    create_local(&s, LOCAL).await;
    let secret = token(&s, "ci", LOCAL, "write").await;
    let reg = registry(&s, LOCAL);

    let started = Instant::now();
    let puts = futures_util::stream::iter(0..VERSIONS)
        .map(|i| {
            let version = format!("1.{i}.0");
            let tgz = tarball("big-x", &version, &format!("module.exports = () => '{version}';\n"));
            let body = serde_json::to_vec(&publish_body("big-x", &version, &tgz, None)).unwrap();
            let req = s.client().put(s.url(&format!("/api/v1/local/{LOCAL}/big-x"))).bearer_auth(&secret).body(body);
            async move { fetch(req).await }
        })
        .buffer_unordered(4);
    let statuses: Vec<StatusCode> = puts.map(|r| r.status).collect().await;
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
    let publish_all = started.elapsed();

    let started = Instant::now();
    let full = get(&s, LOCAL, "big-x", "application/json").await;
    let first_render = started.elapsed();
    assert_eq!(full.status, StatusCode::OK, "{}", full.describe());
    let doc = full.json();
    assert_eq!(doc["versions"].as_object().map(|m| m.len()), Some(VERSIONS));
    assert_eq!(doc["time"].as_object().map(|m| m.len()), Some(VERSIONS + 2));
    let short = get(&s, LOCAL, "big-x", INSTALL_ACCEPT).await;
    assert_eq!(short.json()["versions"].as_object().map(|m| m.len()), Some(VERSIONS));

    let home = home_with_token(root, "dev", &reg, &secret);
    let view = npm_ok(&s, &home, root, &reg, &["view", "big-x", "versions", "--json"]).await;
    let listed: Value = serde_json::from_str(&view.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(VERSIONS));
    let app = install(&s, &root.join("pin"), &reg, &["big-x@~1.150.0"]).await;
    assert_eq!(node(&app, "big-x", ""), "1.150.0");
    eprintln!(
        "npm local, {VERSIONS} versions: published by PUT (4 at a time) in {publish_all:?}; full packument of {} KB \
         (abbreviated {} KB) generated in {first_render:?}",
        full.body.len() / 1024,
        short.body.len() / 1024
    );

    // The same publish and install with npm against the local and against verdaccio, three
    // rounds taking turns; the medians.
    let v = Verdaccio::start().await;
    let vreg = v.url();
    let mut rounds: Vec<[Duration; 4]> = Vec::new();
    for (i, version) in ["1.0.0", "1.0.1", "1.0.2"].into_iter().enumerate() {
        let dir = write_package(
            &root.join(format!("local-{i}")),
            "timed-x",
            version,
            &[],
            "module.exports = () => 'timed';\n",
        );
        let t = Instant::now();
        npm_ok(&s, &home, &dir, &reg, &["publish"]).await;
        let local_publish = t.elapsed();
        let local_install = timed_install(&s, &root.join(format!("local-install-{i}")), &reg, version).await;
        let dir =
            write_package(&root.join(format!("v-{i}")), "timed-x", version, &[], "module.exports = () => 'timed';\n");
        let t = Instant::now();
        v.publish(&dir).await;
        let v_publish = t.elapsed();
        let v_install = timed_install(&s, &root.join(format!("v-install-{i}")), &vreg, version).await;
        rounds.push([local_publish, v_publish, local_install, v_install]);
    }
    let median = |k: usize| {
        let mut d: Vec<Duration> = rounds.iter().map(|r| r[k]).collect();
        d.sort();
        d[d.len() / 2]
    };
    eprintln!(
        "npm publish (median of 3): local {:?}, verdaccio {:?}; npm install with a fresh cache: local {:?}, verdaccio {:?}",
        median(0),
        median(1),
        median(2),
        median(3)
    );
}

/// `npm install timed-x@version` with a fresh cache from `reg`; how long it took.
async fn timed_install(s: &Server, home: &std::path::Path, reg: &str, version: &str) -> Duration {
    let t = Instant::now();
    let app = install(s, home, reg, &[&format!("timed-x@{version}")]).await;
    let took = t.elapsed();
    assert_eq!(node(&app, "timed-x", ""), "timed");
    took
}

/// The peak resident memory of process `pid`, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kb.unwrap_or(0) * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_tarball_publishes_in_flat_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await;
    create_local(&s, LOCAL).await;
    let secret = token(&s, "ci", LOCAL, "write").await;
    let tgz = tarball_with(
        "huge-x",
        "1.0.0",
        "module.exports = () => 'huge';\n",
        &artifactapi_e2e::pattern_bytes(64 << 20, 5),
    );
    let body = serde_json::to_vec(&publish_body("huge-x", "1.0.0", &tgz, None)).unwrap();
    // A warm-up publish of a small package, so the baseline includes the publish path itself.
    let small = serde_json::to_vec(&publish_body("small-x", "1.0.0", &tarball("small-x", "1.0.0", ""), None)).unwrap();
    let put = |name: &str, body: Vec<u8>| {
        s.client().put(s.url(&format!("/api/v1/local/{LOCAL}/{name}"))).bearer_auth(&secret).body(body)
    };
    assert_eq!(fetch(put("small-x", small)).await.status, StatusCode::CREATED);
    let before = peak_rss(s.pid());
    let started = Instant::now();
    let r = fetch(put("huge-x", body.clone())).await;
    let took = started.elapsed();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let grew = peak_rss(s.pid()).saturating_sub(before);
    eprintln!(
        "npm local: a {} MiB publish body ({} MiB tarball) stored in {took:?}; peak RSS grew by {} MiB",
        body.len() >> 20,
        tgz.len() >> 20,
        grew >> 20
    );
    assert!(grew < (body.len() as u64) / 3, "peak RSS grew by {grew} bytes for a body of {}", body.len());

    let reg = registry(&s, LOCAL);
    let app = install(&s, &tmp.path().join("client"), &reg, &["huge-x"]).await;
    assert_eq!(std::fs::read(app.join("node_modules/huge-x/data.bin")).unwrap().len(), 64 << 20);
    let doc = get(&s, LOCAL, "huge-x", INSTALL_ACCEPT).await.json();
    assert_eq!(doc["versions"]["1.0.0"]["dist"]["integrity"], sri512(&tgz));
}

//! Upstream TLS trust, against a real HTTPS upstream whose certificate comes from a CA the test
//! makes (as behind a TLS-inspecting gateway or with an internal CA):
//!
//! - without that CA the upstream is refused: 502 naming the TLS failure (`invalid peer
//!   certificate: UnknownIssuer`) and the remote, the upstream sees no request, nothing is
//!   cached, and a probe reports the same failure;
//! - a remote's own `tls_ca` trusts it, so does `tls_insecure_skip_verify` (shown in the
//!   remote's JSON, logged, and listed under `warnings` by `/api/v2/health`, which stays 200);
//! - changing a running remote's TLS fields takes effect at once, both ways;
//! - `UPSTREAM_CA_FILE` trusts it for every remote, and so does the operating system's store
//!   when `SSL_CERT_FILE` names the CA (the path curl and OpenSSL use);
//! - a bad `tls_ca` is a 400 naming the field.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use artifactapi_e2e::tls::TestCa;
use artifactapi_e2e::{generic_remote, pattern_bytes, Fetched, File, Options, Server, Storage, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// An HTTPS upstream on 127.0.0.1 with a certificate from `ca`, serving `files/*.bin`.
async fn https_upstream(ca: &TestCa) -> Upstream {
    let up = Upstream::start_with(Ipv4Addr::LOCALHOST, Some(ca.server_config(&["127.0.0.1", "localhost"]))).await;
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        up.put(&format!("files/{name}.bin"), File::new(pattern_bytes(70_000, i as u64)));
    }
    up
}

fn bytes(name: &str) -> Vec<u8> {
    let stem = name.trim_end_matches(".bin");
    let i = ["a", "b", "c", "d"].iter().position(|n| *n == stem).expect("a known file");
    pattern_bytes(70_000, i as u64)
}

/// Cached objects of `remote` under `prefix`.
async fn cached_objects(s: &Server, remote: &str, prefix: &str) -> u64 {
    let r = s.get(&format!("/api/v2/remotes/{remote}/objects?prefix={prefix}")).await;
    r.json()["total"].as_u64().unwrap_or_else(|| panic!("{}", r.describe()))
}

/// The upstream's certificate is not trusted: 502 naming TLS and the remote, nothing cached.
async fn assert_untrusted(s: &Server, up: &Upstream, remote: &str, file: &str) {
    let (seen, failures) = (up.total(), up.tls_failures());
    let r = s.proxy_get(remote, &format!("files/{file}")).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    let message = r.error_message();
    assert!(message.contains("invalid peer certificate: UnknownIssuer"), "{message}");
    assert!(message.contains(&format!("remote {remote}")), "{message}");
    assert_eq!(up.total(), seen, "no request went through the refused handshake");
    up.wait_for("the refused handshake", Duration::from_secs(10), |u| u.tls_failures() > failures).await;
    assert_eq!(cached_objects(s, remote, &format!("files/{file}")).await, 0, "nothing cached");
}

async fn assert_served(s: &Server, remote: &str, file: &str) -> Fetched {
    let r = s.proxy_get(remote, &format!("files/{file}")).await;
    assert_eq!(r.status, StatusCode::OK, "{remote}/{file}: {}\n{}", r.describe(), s.log_tail(20));
    assert_eq!(r.body.as_ref(), bytes(file).as_slice(), "{remote}/{file}: the upstream's bytes");
    r
}

async fn probe(s: &Server, remote: &str, path: &str) -> Value {
    let r = s.send_json(Method::POST, "/api/v2/probe", &json!({ "remote": remote, "path": path })).await;
    assert_eq!(r.status, StatusCode::OK, "probe {remote}: {}", r.describe());
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_without_the_ca_then_trusted_by_tls_ca_or_skip_verify() {
    let ca = TestCa::new("artifactapi e2e internal CA");
    let up = https_upstream(&ca).await;
    let s = Server::start(Options::new(Storage::Fs, false)).await;

    s.create_remote(generic_remote("plain", &up.base_url())).await;
    assert_untrusted(&s, &up, "plain", "a.bin").await;
    assert_untrusted(&s, &up, "plain", "a.bin").await;
    let report = probe(&s, "plain", "files/a.bin").await;
    assert_eq!(report["status"], Value::Null, "{report}");
    assert!(report["error"].as_str().unwrap_or("").contains("UnknownIssuer"), "{report}");

    // The remote's own CA.
    let mut own = generic_remote("own-ca", &up.base_url());
    own["tls_ca"] = ca.pem().into();
    let created = s.create_remote(own).await;
    assert_eq!(created["tls_ca"], ca.pem());
    assert_eq!(created["tls_insecure_skip_verify"], false);
    assert_eq!(assert_served(&s, "own-ca", "a.bin").await.x_cache(), "MISS");
    s.wait_cached("own-ca", "files/a.bin").await;
    assert_eq!(probe(&s, "own-ca", "files/b.bin").await["status"], 200);

    // No verification at all: works, and says so everywhere.
    let mut skip = generic_remote("skip", &up.base_url());
    skip["tls_insecure_skip_verify"] = true.into();
    s.create_remote(skip).await;
    assert_served(&s, "skip", "b.bin").await;
    assert_eq!(s.get("/api/v2/remotes/skip").await.json()["tls_insecure_skip_verify"], true);
    let health = s.get("/api/v2/health").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.describe());
    let warnings = health.json()["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!((&warnings[0]["remote"], &warnings[0]["setting"]), (&json!("skip"), &json!("tls_insecure_skip_verify")));
    let log = s.log();
    assert!(
        log.lines().any(|l| l.contains("WARN") && l.contains("tls_insecure_skip_verify") && l.contains("skip")),
        "no warning in the log:\n{}",
        s.log_tail(30)
    );

    // Reconfiguring a running remote's TLS takes effect at once, both ways.
    let mut trusted = generic_remote("plain", &up.base_url());
    trusted["tls_ca"] = ca.pem().into();
    s.update_remote("plain", trusted).await;
    assert_served(&s, "plain", "c.bin").await;
    s.wait_cached("plain", "files/c.bin").await;
    s.update_remote("plain", generic_remote("plain", &up.base_url())).await;
    assert_untrusted(&s, &up, "plain", "d.bin").await;
    assert_eq!(cached_objects(&s, "plain", "files/").await, 1, "only c.bin, fetched while the CA was trusted");

    // A bad tls_ca is refused by name, and nothing changes.
    for bad in ["", "not a certificate", "-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n"] {
        let mut spec = generic_remote("plain", &up.base_url());
        spec["tls_ca"] = bad.into();
        let r = s.send_json(Method::PUT, "/api/v2/remotes/plain", &spec).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", r.describe());
        assert!(r.error_message().starts_with("tls_ca: "), "{bad:?}: {}", r.describe());
    }
    assert!(s.get("/api/v2/remotes/plain").await.json().get("tls_ca").is_none());
}

/// A server whose environment trusts `ca` through `var`, with one remote and no `tls_ca`.
async fn trusted_through(var: &str, ca_file: &Path, up: &Upstream) {
    let s = Server::start(Options::new(Storage::Fs, false).env(var, ca_file.display())).await;
    s.create_remote(generic_remote("plain", &up.base_url())).await;
    assert_eq!(assert_served(&s, "plain", "a.bin").await.x_cache(), "MISS", "{var}");
    s.wait_cached("plain", "files/a.bin").await;
    let health = s.get("/api/v2/health").await.json();
    assert_eq!(health["warnings"], json!([]), "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_ca_file_trusts_it_for_every_remote() {
    let ca = TestCa::new("artifactapi e2e gateway CA");
    let up = https_upstream(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    trusted_through("UPSTREAM_CA_FILE", &ca.write_pem(dir.path(), "gateway.pem"), &up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operating_system_store_is_trusted_through_ssl_cert_file() {
    let ca = TestCa::new("artifactapi e2e system CA");
    let up = https_upstream(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    trusted_through("SSL_CERT_FILE", &ca.write_pem(dir.path(), "system-bundle.pem"), &up).await;
}

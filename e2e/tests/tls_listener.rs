//! The HTTPS listener of the real binary (`TLS_CERT`, `TLS_KEY`, `TLS_LISTEN_ADDR`), with a
//! certificate from a CA the test makes:
//!
//! - `LISTEN_ADDR` serves HTTPS: curl negotiates HTTP/2 by ALPN (and HTTP/1.1 when it asks for
//!   it), a proxied file comes through whole over both, plain HTTP on that port gets no answer;
//! - with `TLS_LISTEN_ADDR`, HTTPS there and plain HTTP on `LISTEN_ADDR` serve the same
//!   repositories;
//! - a certificate or key that does not load stops the start with exit status 2 and one line
//!   naming the variable.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use artifactapi_e2e::server::{command, free_port};
use artifactapi_e2e::tls::TestCa;
use artifactapi_e2e::{generic_remote, pattern_bytes, File, Options, Server, Storage, Upstream};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

/// curl over HTTPS trusting `ca`: (HTTP version curl reports, SHA-256 of the body, status).
fn curl(ca: &Path, url: &str, version_flag: &str) -> (String, String, u16) {
    let body = tempfile::NamedTempFile::new().expect("temp file");
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--cacert"])
        .arg(ca)
        .arg(version_flag)
        .arg("-o")
        .arg(body.path())
        .args(["-w", "%{http_version} %{http_code}", url])
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (version, code) = text.split_once(' ').expect("version and status");
    let digest = hex::encode(Sha256::digest(std::fs::read(body.path()).expect("read the body")));
    (version.to_string(), digest, code.parse().expect("status"))
}

async fn upstream_with_file(len: usize) -> (Upstream, Vec<u8>) {
    let up = Upstream::start().await;
    let bytes = pattern_bytes(len, 7);
    up.put("files/big.bin", File::new(bytes.clone()));
    (up, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_on_listen_addr_offers_http2_by_alpn() {
    let ca = TestCa::new("artifactapi e2e listener CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let (up, bytes) = upstream_with_file(5 << 20).await;
    let s = Server::start(Options::new(Storage::Fs, false).tls(&ca)).await;
    assert!(s.url("/").starts_with("https://127.0.0.1:"), "{}", s.url("/"));
    s.create_remote(generic_remote("files", &up.base_url())).await;
    let want = hex::encode(Sha256::digest(&bytes));

    // reqwest (rustls, HTTP/1.1) trusting the test CA: a miss streamed over TLS, then a hit.
    let miss = s.proxy_get("files", "files/big.bin").await;
    assert_eq!((miss.status, miss.x_cache()), (StatusCode::OK, "MISS"), "{}", miss.describe());
    assert_eq!(hex::encode(Sha256::digest(&miss.body)), want);
    let hit = s.wait_cached("files", "files/big.bin").await;
    assert_eq!(hex::encode(Sha256::digest(&hit.body)), want);
    // curl offers h2 and http/1.1 by ALPN: HTTP/2 is chosen; asked for 1.1 only, it gets 1.1.
    let url = s.proxy_url("files", "files/big.bin");
    assert_eq!(curl(&ca_file, &url, "--http2"), ("2".into(), want.clone(), 200));
    assert_eq!(curl(&ca_file, &url, "--http1.1"), ("1.1".into(), want.clone(), 200));
    let (version, _, status) = curl(&ca_file, &s.url("/api/v2/health/live"), "--http2");
    assert_eq!((version.as_str(), status), ("2", 200));

    // Plain HTTP on the HTTPS port is not served.
    let plain = format!("http://127.0.0.1:{}/api/v2/health/live", s.port());
    let r = reqwest::Client::new().get(&plain).timeout(Duration::from_secs(10)).send().await;
    assert!(r.as_ref().map_or(true, |r| r.status() != StatusCode::OK), "plain HTTP answered: {r:?}");
    // A client that does not trust the CA is refused by its own TLS check.
    let untrusted = Command::new("curl").args(["-sS", "--noproxy", "*", &s.url("/api/v2/health/live")]).output();
    let untrusted = untrusted.expect("run curl");
    assert!(!untrusted.status.success(), "curl without the CA must fail the handshake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listen_addr_serves_https_beside_plain_http() {
    let ca = TestCa::new("artifactapi e2e listener CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let (up, bytes) = upstream_with_file(300_000).await;
    let s = Server::start(Options::new(Storage::Fs, false).tls_beside(&ca)).await;
    s.create_remote(generic_remote("files", &up.base_url())).await;
    let want = hex::encode(Sha256::digest(&bytes));

    let plain = s.proxy_get("files", "files/big.bin").await;
    assert!(s.url("/").starts_with("http://"), "{}", s.url("/"));
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.describe());
    assert_eq!(hex::encode(Sha256::digest(&plain.body)), want);
    let https = s.https_url("/api/v1/remote/files/files/big.bin");
    assert_ne!(s.url("/"), s.https_url("/"), "two listeners");
    assert_eq!(curl(&ca_file, &https, "--http2"), ("2".into(), want, 200));
}

/// Runs the binary with `env` and returns (exit code, stderr lines).
async fn start_failure(env: &[(&str, &str)]) -> (Option<i32>, Vec<String>) {
    let mut cmd = tokio::process::Command::from(command());
    cmd.env("LISTEN_ADDR", format!("127.0.0.1:{}", free_port())).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{env:?}: the process did not exit within 30 s"))
        .expect("run artifactapi");
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code(), stderr.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
}

#[tokio::test]
async fn a_certificate_or_key_that_does_not_load_stops_the_start_naming_the_variable() {
    let ca = TestCa::new("artifactapi e2e listener CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = ca.write_server_pem(dir.path(), &["127.0.0.1"]);
    let other = tempfile::tempdir().expect("temp dir");
    let (other_cert, _) = ca.write_server_pem(other.path(), &["127.0.0.1"]);
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let (cert, key, other_cert) =
        (cert.display().to_string(), key.display().to_string(), other_cert.display().to_string());
    let ca_file = ca_file.display().to_string();
    let cases: [(&str, &str, &str); 5] = [
        ("/nonexistent/server.crt", &key, "TLS_CERT"),
        ("/etc/hostname", &key, "TLS_CERT"),
        (&cert, "/nonexistent/server.key", "TLS_KEY"),
        (&cert, &ca_file, "TLS_KEY"),
        (&other_cert, &key, "TLS_KEY"),
    ];
    for (c, k, var) in cases {
        let (code, lines) = start_failure(&[("TLS_CERT", c), ("TLS_KEY", k)]).await;
        assert_eq!(code, Some(2), "TLS_CERT={c} TLS_KEY={k}: {lines:?}");
        assert_eq!(lines.len(), 1, "TLS_CERT={c} TLS_KEY={k}: expected one line: {lines:?}");
        assert!(lines[0].contains(&format!("invalid {var}=")), "{var}: {}", lines[0]);
    }
    let (code, lines) = start_failure(&[("TLS_CERT", &cert)]).await;
    assert_eq!((code, lines.len()), (Some(2), 1), "{lines:?}");
    assert!(lines[0].contains("TLS_CERT needs TLS_KEY"), "{}", lines[0]);
}

//! Puppet locals: releases published with the Forge API (`POST v3/releases`, multipart field
//! `file`) and installed from the local with the real `puppet module install` (the dependency
//! resolved from the local's generated listings) and `r10k`. The same version twice is a 409; archives
//! with traversal paths, or whose metadata.json disagrees with their layout, are refused.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{installed, metadata, module_tarball, puppet_install, r10k_install, PUPPETFILE};
use artifactapi_e2e::{fetch, sha256_hex, Options, Server, Storage};

const ADMIN: &str = "e2e-admin-token";
const LOCAL: &str = "forgelocal";
const BOUNDARY: &str = "----e2ePuppetBoundary";

fn form(file: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.tar.gz\"\r\nContent-Type: application/gzip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn publish(s: &Server, token: Option<&str>, archive: &[u8]) -> artifactapi_e2e::Fetched {
    let mut req = s
        .client()
        .post(s.url(&format!("/api/v1/local/{LOCAL}/v3/releases")))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(form(archive));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    fetch(req).await
}

/// A gzipped tar written member by member, so hostile paths can be written as they are.
fn raw_tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut raw = Vec::new();
    for (name, body) in files {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        raw.extend_from_slice(h.as_bytes());
        raw.extend_from_slice(body);
        raw.resize(raw.len().div_ceil(512) * 512, 0);
    }
    raw.extend_from_slice(&[0; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_with_the_forge_api_and_install_with_puppet() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await;
    let r = s.send_json(Method::POST, "/api/v2/locals", &json!({"name": LOCAL, "package_type": "puppet"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let scopes = json!([{ "repository": LOCAL, "access": "write" }]);
    let r = s.send_json(Method::POST, "/api/v2/tokens", &json!({ "name": "publisher", "scopes": scopes })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let token = r.json()["token"].as_str().unwrap().to_string();

    let (_, base) = module_tarball(&metadata("acme-base", "1.0.0", &[]), 11);
    let (_, app) = module_tarball(&metadata("acme-app", "2.0.0", &[("acme-base", ">= 1.0.0 < 2.0.0")]), 12);
    let r = publish(&s, None, &base).await;
    assert!(r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::FORBIDDEN, "{}", r.describe());
    for archive in [&base, &app] {
        let r = publish(&s, Some(&token), archive).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}\n{}", r.describe(), s.log_tail(20));
    }
    let r = publish(&s, Some(&token), &base).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "the same version twice: {}", r.describe());

    // Refused before anything is published.
    let meta = serde_json::to_vec(&metadata("acme-evil", "1.0.0", &[])).unwrap();
    let hostile: [(&str, Vec<u8>); 3] = [
        (
            "traversal",
            raw_tgz(&[("acme-evil-1.0.0/metadata.json", &meta), ("acme-evil-1.0.0/../../../etc/cron.d/x", b"x")]),
        ),
        ("absolute path", raw_tgz(&[("acme-evil-1.0.0/metadata.json", &meta), ("/etc/passwd", b"x")])),
        ("metadata.json disagrees with the layout", raw_tgz(&[("acme-other-9.9.9/metadata.json", &meta)])),
    ];
    for (what, archive) in hostile {
        let r = publish(&s, Some(&token), &archive).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.describe());
    }
    let r = s.get(&format!("/api/v1/local/{LOCAL}/v3/modules/acme-evil")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());

    // The Forge endpoints, generated.
    let r = s.get(&format!("/api/v1/local/{LOCAL}/v3/releases?module=acme-base")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    let list: Value = r.json();
    assert_eq!(list["results"][0]["file_sha256"].as_str(), Some(sha256_hex(&base).as_str()));
    let r = s.get(&format!("/api/v1/local/{LOCAL}/v3/releases/acme-base-9.9.9")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a version the local lacks: {}", r.describe());
    let r = s.get(&format!("/api/v1/local/{LOCAL}/v3/files/acme-base-1.0.0.tar.gz")).await;
    assert!(r.status == StatusCode::OK && r.body == base, "{}", r.describe());

    // puppet installs from the local, resolving the dependency there.
    let repo = s.url(&format!("/api/v1/local/{LOCAL}"));
    let (_h, dir, took) = puppet_install(&repo, "acme-app").await.unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(30)));
    assert_eq!((installed(&dir, "app"), installed(&dir, "base")), ("2.0.0".into(), "1.0.0".into()));
    eprintln!("puppet module install acme-app from a local: {took:?}");
    let (_r, r10k_dir, _) =
        r10k_install(&repo, PUPPETFILE).await.unwrap_or_else(|e| panic!("r10k: {e}\n{}", s.log_tail(30)));
    assert_eq!((installed(&r10k_dir, "app"), installed(&r10k_dir, "base")), ("2.0.0".into(), "1.0.0".into()));
}

/// A virtual of a local and a remote: puppet installs the local's module (the remote's module
/// of the same name is never offered) and its dependency from the remote, following the
/// remote's pagination through the virtual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_merges_a_local_and_a_remote_and_the_local_owns_its_modules() {
    let forge = super::Forge::start(
        &[
            metadata("acme-base", "1.0.0", &[]),
            metadata("acme-base", "1.1.0", &[]),
            // Dependency confusion: the same module name, a higher version, on the remote.
            metadata("acme-app", "9.0.0", &[]),
        ],
        1,
    )
    .await;
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await;
    let r = s.send_json(Method::POST, "/api/v2/locals", &json!({"name": LOCAL, "package_type": "puppet"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let remote = json!({ "name": "forge", "package_type": "puppet", "base_url": forge.url() });
    let r = s.send_json(Method::POST, "/api/v2/remotes", &remote).await;
    assert!(r.status.is_success(), "{}", r.describe());
    let virt = json!({"name": "forge-all", "package_type": "puppet", "members": [LOCAL, "forge"]});
    let r = s.send_json(Method::POST, "/api/v2/virtuals", &virt).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let r = s
        .send_json(
            Method::POST,
            "/api/v2/tokens",
            &json!({ "name": "p", "scopes": [{ "repository": LOCAL, "access": "write" }] }),
        )
        .await;
    let token = r.json()["token"].as_str().unwrap().to_string();
    let (_, app) = module_tarball(&metadata("acme-app", "2.0.0", &[("acme-base", ">= 1.0.0 < 2.0.0")]), 21);
    let r = publish(&s, Some(&token), &app).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());

    let r = s.get("/api/v1/virtual/forge-all/v3/releases?module=acme-app").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    let versions: Vec<String> =
        r.json()["results"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap().to_string()).collect();
    assert_eq!(versions, ["2.0.0"], "the local owns acme-app");

    let repo = s.url("/api/v1/virtual/forge-all");
    let (_h, dir, _) = puppet_install(&repo, "acme-app").await.unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(30)));
    assert_eq!((installed(&dir, "app"), installed(&dir, "base")), ("2.0.0".into(), "1.1.0".into()));
    assert_eq!(forge.count("/v3/files/acme-app-9.0.0.tar.gz"), 0);
}

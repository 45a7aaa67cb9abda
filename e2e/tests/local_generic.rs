//! Generic local repositories and scoped tokens, with curl-like requests against the real
//! binary: uploads streamed at size and checked against the SHA-256 the client names, overwrite
//! refused unless allowed, reads with ETag and ranges, folder listings, deletes; hostile paths,
//! oversize and broken uploads, and two uploads racing for one path; tokens with scopes, their
//! 401/403 answers, revocation on every replica; a virtual where a local shadows a remote.

use std::time::Duration;

use artifactapi_e2e::{fetch, matrix, pattern_bytes, poll_until, raw, sha256_hex, File, Options, Server, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ADMIN: &str = "e2e-admin-token";

async fn local(s: &Server, name: &str, extra: Value) {
    let mut spec = json!({ "name": name, "package_type": "generic" });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let r = s.send_json(Method::POST, "/api/v2/locals", &spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
}

/// A token with `grants` (`[(repository, access)]`); returns its id and secret.
async fn token(s: &Server, name: &str, grants: &[(&str, &str)]) -> (String, String) {
    let v = s.token_info(name, grants).await;
    (v["id"].as_str().unwrap_or_default().to_string(), v["token"].as_str().unwrap_or_default().to_string())
}

fn put(s: &Server, path: &str, secret: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    s.client().put(s.url(&format!("/api/v1/local/{path}"))).bearer_auth(secret).body(body)
}

async fn uploads_reads_and_refusals(opts: Options) {
    let s = Server::start(opts.admin_token(ADMIN).env("LOCAL_MAX_UPLOAD", 80 << 20)).await;
    local(&s, "files", json!({})).await;
    local(&s, "scratch", json!({ "allow_overwrite": true })).await;
    let (_, writer) = token(&s, "ci", &[("files", "write"), ("scratch", "write")]).await;
    let (_, reader) = token(&s, "reader", &[("*", "read")]).await;

    // No credential: 401 with a basic challenge; a read-only token: 403 naming the scope.
    let body = pattern_bytes(64 << 20, 7);
    let anon = fetch(s.client().put(s.url("/api/v1/local/files/a/big.bin")).body(b"x".to_vec())).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{}", anon.describe());
    assert_eq!(anon.header("www-authenticate"), Some("Basic realm=\"artifactapi\""));
    let r = fetch(put(&s, "files/a/big.bin", &reader, b"x".to_vec())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.describe());
    assert!(r.error_message().contains("write scope"), "{}", r.describe());

    // A 64 MiB upload with its SHA-256, then read back whole, by range and by HEAD.
    let sha = sha256_hex(&body);
    let r = fetch(put(&s, "files/a/big.bin", &writer, body.clone()).header("X-Checksum-Sha256", &sha)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    assert_eq!(r.json()["sha256"], sha);
    assert_eq!(r.json()["size"], body.len());
    let got = fetch(s.client().get(s.url("/api/v1/local/files/a/big.bin"))).await;
    assert_eq!((got.status, sha256_hex(&got.body)), (StatusCode::OK, sha.clone()));
    assert_eq!(got.header("etag"), Some(format!("\"{sha}\"").as_str()));
    let part = fetch(s.client().get(s.url("/api/v1/local/files/a/big.bin")).header("Range", "bytes=10-19")).await;
    assert_eq!((part.status, part.body.as_ref()), (StatusCode::PARTIAL_CONTENT, &body[10..20]));
    let head = fetch(s.client().head(s.url("/api/v1/local/files/a/big.bin"))).await;
    assert_eq!(head.header("content-length"), Some(body.len().to_string().as_str()));

    // The same path again: 409 here, replaced where overwriting is allowed.
    let r = fetch(put(&s, "files/a/big.bin", &writer, b"other".to_vec())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());
    for content in [b"one".to_vec(), b"two".to_vec()] {
        let r = fetch(put(&s, "scratch/latest.txt", &writer, content.clone())).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
        assert_eq!(fetch(s.client().get(s.url("/api/v1/local/scratch/latest.txt"))).await.body, content);
    }

    // A digest that does not match: 400, nothing stored; `?sha256=` works like the header.
    let r =
        fetch(put(&s, "files/bad.txt", &writer, b"abc".to_vec()).header("X-Checksum-Sha256", sha256_hex(b"abd"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    assert_eq!(fetch(s.client().get(s.url("/api/v1/local/files/bad.txt"))).await.status, StatusCode::NOT_FOUND);
    let q = format!("files/q.txt?sha256={}", sha256_hex(b"abc"));
    assert_eq!(fetch(put(&s, &q, &writer, b"abc".to_vec())).await.status, StatusCode::CREATED);

    // Over LOCAL_MAX_UPLOAD: 413, nothing stored.
    let r = fetch(put(&s, "files/huge.bin", &writer, pattern_bytes((80 << 20) + 1, 3))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.describe());
    assert_eq!(fetch(s.client().get(s.url("/api/v1/local/files/huge.bin"))).await.status, StatusCode::NOT_FOUND);

    // Hostile paths never reach storage.
    for path in ["../x", "a/%2e%2e/x", "a%2fb", "a%5cb", "a\\b", "a%00b", "a//b", "dir/"] {
        let target = format!("/api/v1/local/files/{path}");
        let auth = format!("Authorization: Bearer {writer}");
        let r = raw::request_with_headers(s.port(), "PUT", &target, &[&auth, "Content-Length: 0"]).await;
        assert_eq!(r.status, 400, "PUT {path}: {}", r.head);
    }

    // The folder listing.
    let list = fetch(s.client().get(s.url("/api/v1/local/files/"))).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.describe());
    assert_eq!(list.json()["folders"], json!(["a"]));
    let json = list.json();
    let paths: Vec<&str> = json["files"].as_array().into_iter().flatten().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(paths, ["q.txt"], "{}", list.text());
    assert_eq!(fetch(s.client().get(s.url("/api/v1/local/files/a/"))).await.json()["files"][0]["sha256"], sha);

    // Delete.
    let del = |path: &str| s.client().delete(s.url(&format!("/api/v1/local/{path}"))).bearer_auth(&writer);
    assert_eq!(fetch(del("files/q.txt")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(fetch(s.client().get(s.url("/api/v1/local/files/q.txt"))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(fetch(del("files/q.txt")).await.status, StatusCode::NOT_FOUND);
}

matrix!(uploads_reads_and_refusals);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_racing_uploads_publish_nothing_partial() {
    let s = Server::start(Options::new(artifactapi_e2e::Storage::Fs, false).admin_token(ADMIN)).await;
    local(&s, "files", json!({})).await;
    // A body cut off after 10 of 1000 announced bytes.
    let headers = [format!("Authorization: Bearer {ADMIN}"), "Content-Length: 1000".to_string()];
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let _ = raw::request_cut_off(s.port(), "PUT", "/api/v1/local/files/cut.bin", &headers, b"0123456789").await;
    let r = fetch(s.client().get(s.url("/api/v1/local/files/cut.bin"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a cut-off upload left something: {}", r.describe());
    // Eight uploads of one new path at once: exactly one wins, the others get 409.
    let mut racing = Vec::new();
    for i in 0..8u8 {
        let req = s.client().put(s.url("/api/v1/local/files/race.bin")).bearer_auth(ADMIN).body(vec![i; 100_000]);
        racing.push(tokio::spawn(async move { fetch(req).await.status }));
    }
    let mut statuses = Vec::new();
    for r in racing {
        statuses.push(r.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 7, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_work_on_every_replica_and_are_revoked_everywhere() {
    let a = Server::start(
        Options::new(artifactapi_e2e::Storage::Fs, true).admin_token(ADMIN).env("ANONYMOUS_READS", "false"),
    )
    .await;
    let b = Server::start(
        Options::new(artifactapi_e2e::Storage::Fs, true)
            .admin_token(ADMIN)
            .env("ANONYMOUS_READS", "false")
            .shared_with(&a),
    )
    .await;
    local(&a, "files", json!({})).await;
    let (id, writer) = token(&a, "ci", &[("files", "write")]).await;
    let listed = fetch(a.admin(Method::GET, "/api/v2/tokens")).await;
    assert!(!listed.text().contains(&writer), "secrets are never listed again");
    assert_eq!(listed.json()[0]["scopes"], json!([{ "repository": "files", "access": "write" }]));

    // Published on one replica, read from the other (reads need a token: ANONYMOUS_READS=false).
    poll_until("the token on replica b", Duration::from_secs(5), Duration::from_millis(100), || async {
        let r = fetch(put(&b, "files/x.txt", &writer, b"hello".to_vec())).await;
        (r.status == StatusCode::CREATED).then_some(())
    })
    .await;
    let anon = fetch(a.client().get(a.url("/api/v1/local/files/x.txt"))).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{}", anon.describe());
    let got = fetch(a.client().get(a.url("/api/v1/local/files/x.txt")).basic_auth("anyone", Some(&writer))).await;
    assert_eq!((got.status, got.body.as_ref()), (StatusCode::OK, b"hello".as_ref()));

    // Revoked on replica a: refused on replica b within a second.
    assert_eq!(fetch(a.admin(Method::DELETE, &format!("/api/v2/tokens/{id}"))).await.status, StatusCode::NO_CONTENT);
    poll_until("the revocation on replica b", Duration::from_secs(1), Duration::from_millis(50), || async {
        let r = fetch(b.client().get(b.url("/api/v1/local/files/x.txt")).bearer_auth(&writer)).await;
        (r.status == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    assert_eq!(fetch(a.admin(Method::DELETE, &format!("/api/v2/tokens/{id}"))).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_listed_first_shadows_a_remote() {
    let up = Upstream::start().await;
    up.put("tools/app.txt", File::new(b"from the remote".to_vec()));
    up.put("tools/only-remote.txt", File::new(b"remote only".to_vec()));
    let s = Server::start(Options::new(artifactapi_e2e::Storage::Fs, false).admin_token(ADMIN)).await;
    local(&s, "mine", json!({})).await;
    s.create_remote(json!({ "name": "theirs", "package_type": "generic", "base_url": up.base_url() })).await;
    let v = json!({ "name": "all", "package_type": "generic", "members": ["mine", "theirs"] });
    assert_eq!(s.send_json(Method::POST, "/api/v2/virtuals", &v).await.status, StatusCode::CREATED);
    assert_eq!(
        fetch(put(&s, "mine/tools/app.txt", ADMIN, b"from the local".to_vec())).await.status,
        StatusCode::CREATED
    );
    let got = fetch(s.client().get(s.url("/api/v1/virtual/all/tools/app.txt"))).await;
    assert_eq!(got.body.as_ref(), b"from the local", "{}", got.describe());
    let got = fetch(s.client().get(s.url("/api/v1/virtual/all/tools/only-remote.txt"))).await;
    assert_eq!(got.body.as_ref(), b"remote only", "{}", got.describe());
    assert_eq!(up.count("tools/app.txt"), 0, "the shadowed remote file was never fetched");
}

//! What an npm local refuses, each with npm's JSON error and nothing stored: traversal in
//! package names, a tarball whose package.json differs from the body, integrity and shasum
//! mismatches, malformed JSON, a body over LOCAL_MAX_UPLOAD, a publish cut off mid-body, racing
//! publishes of one version (exactly one wins, the others get npm's 403), publishing without a
//! token (401, also from the real npm client) and with a read-only one (403 naming the
//! scope); the real `npm login` with a token as the password (then `npm whoami`), and with
//! anything else (401); with `ANONYMOUS_READS=false`, `npm install` with a read token, and a
//! 401 without one.

use std::time::Duration;

use artifactapi_e2e::{fetch, raw, Fetched, Options, Server, Storage};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::bodies::{publish_body, sri512, tarball};
use super::tools::{npm, write_package};
use super::{create_local, get, home_with_token, registry, token, ADMIN, INSTALL_ACCEPT, LOCAL};

async fn put(s: &Server, path: &str, secret: Option<&str>, body: Vec<u8>) -> Fetched {
    let mut req = s.client().put(s.url(&format!("/api/v1/local/{LOCAL}/{path}"))).body(body);
    req = req.header("content-type", "application/json");
    if let Some(secret) = secret {
        req = req.bearer_auth(secret);
    }
    fetch(req).await
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// The package `name` has no version visible in the local.
async fn nothing_of(s: &Server, name: &str) {
    let r = get(s, LOCAL, name, INSTALL_ACCEPT).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{name} is visible: {}", r.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_publishes_are_refused_and_leave_nothing() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).env("LOCAL_MAX_UPLOAD", 2 << 20)).await;
    create_local(&s, LOCAL).await;
    let w = token(&s, "ci", LOCAL, "write").await;
    let tgz = tarball("victim", "1.0.0", "module.exports = 1;\n");

    // Traversal and malformed names never reach storage.
    for path in ["..%2f..%2fetc", "%2e%2e/x", "@acme%2f..%2f..%2fx", "a%5cb", "a%00b", ".hidden", "@acme/util/../../x"]
    {
        let target = format!("/api/v1/local/{LOCAL}/{path}");
        let auth = format!("Authorization: Bearer {w}");
        let r = raw::request_with_headers(s.port(), "PUT", &target, &[&auth, "Content-Length: 2"]).await;
        assert_eq!(r.status, 400, "PUT {path}: {}", r.head);
    }

    // Refused bodies: (body, status, part of the message).
    let other = tarball("other-pkg", "1.0.0", "module.exports = 2;\n");
    let wrong_version = tarball("victim", "2.0.0", "");
    let mut bad_tag = publish_body("victim", "1.0.0", &tgz, None);
    bad_tag["dist-tags"] = json!({ "../x": "1.0.0" });
    let mut two = publish_body("victim", "1.0.0", &tgz, None);
    two["versions"]["1.0.1"] = two["versions"]["1.0.0"].clone();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (bytes(&publish_body("victim", "1.0.0", &other, None)), 400, "the tarball's package.json is \"other-pkg\""),
        (bytes(&publish_body("victim", "1.0.0", &wrong_version, None)), 400, "package.json is \"victim\"@\"2.0.0\""),
        (
            bytes(&publish_body(
                "victim",
                "1.0.0",
                &tgz,
                Some(json!({ "integrity": sri512(b"other"), "tarball": "x" })),
            )),
            400,
            "integrity mismatch",
        ),
        (
            bytes(&publish_body("victim", "1.0.0", &tgz, Some(json!({ "shasum": "00".repeat(20), "tarball": "x" })))),
            400,
            "dist.shasum",
        ),
        (bytes(&publish_body("victim", "1.0.0", &tgz, Some(json!({ "tarball": "x" })))), 400, "neither integrity"),
        (bytes(&publish_body("other", "1.0.0", &tgz, None)), 400, "names the package \"other\""),
        (bytes(&two), 400, "one version"),
        (bytes(&bad_tag), 400, "dist-tags: npm version or tag \"../x\" is malformed"),
        (b"{\"name\": \"victim\", \"versions\": {".to_vec(), 400, "ends in the middle"),
        (b"{\"name\": \"victim\", \"versions\": [}]}".to_vec(), 400, "not valid JSON"),
        (b"{\"name\": [\"victim\"]}".to_vec(), 400, "name: invalid type"),
        (bytes(&publish_body("victim", "1.0.0", &vec![7u8; 3 << 20], None)), 413, "larger than"),
    ];
    for (body, status, want) in cases {
        let r = put(&s, "victim", Some(&w), body).await;
        assert_eq!(r.status.as_u16(), status, "{want}: {}", r.describe());
        assert!(r.error_message().contains(want), "{want}: {}", r.describe());
        nothing_of(&s, "victim").await;
    }

    // A publish cut off mid-body: nothing visible after.
    let body = bytes(&publish_body("victim", "1.0.0", &tgz, None));
    let headers = [format!("Authorization: Bearer {w}"), format!("Content-Length: {}", body.len())];
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let target = format!("/api/v1/local/{LOCAL}/victim");
    let _ = raw::request_cut_off(s.port(), "PUT", &target, &headers, &body[..body.len() / 2]).await;
    nothing_of(&s, "victim").await;
    // Neither the refused bodies nor the cut-off one left a staged file behind.
    artifactapi_e2e::poll_until(
        "an empty staging folder",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || async { s.staged_files().is_empty().then_some(()) },
    )
    .await;

    // Eight publishes of one version at once: exactly one wins, the others get npm's 403.
    let mut racing = Vec::new();
    for i in 0..8 {
        let tgz = tarball("victim", "1.0.0", &format!("module.exports = {i};\n"));
        let req = s
            .client()
            .put(s.url(&format!("/api/v1/local/{LOCAL}/victim")))
            .bearer_auth(&w)
            .header("content-type", "application/json")
            .body(bytes(&publish_body("victim", "1.0.0", &tgz, None)));
        racing.push(tokio::spawn(async move { fetch(req).await }));
    }
    let mut statuses = Vec::new();
    for r in racing {
        let r = r.await.unwrap();
        if r.status == StatusCode::FORBIDDEN {
            assert!(r.error_message().contains("previously published"), "{}", r.describe());
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::FORBIDDEN).count(), 7, "{statuses:?}");
    let doc = get(&s, LOCAL, "victim", "application/json").await.json();
    let served = fetch(s.client().get(doc["versions"]["1.0.0"]["dist"]["tarball"].as_str().unwrap())).await;
    assert_eq!(sri512(&served.body), doc["versions"]["1.0.0"]["dist"]["integrity"], "the winner's tarball is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_whoami_and_login() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await;
    create_local(&s, LOCAL).await;
    let reader = token(&s, "reader", LOCAL, "read").await;
    let writer = token(&s, "writer", LOCAL, "write").await;
    let reg = registry(&s, LOCAL);
    let tgz = tarball("pkg-a", "1.0.0", "module.exports = 1;\n");
    let body = bytes(&publish_body("pkg-a", "1.0.0", &tgz, None));

    // No credential: 401 in npm's JSON shape; a read-only token: 403 naming the scope.
    let r = put(&s, "pkg-a", None, body.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.describe());
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("needs a token")), "{}", r.describe());
    let r = put(&s, "pkg-a", Some(&reader), body.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.describe());
    assert!(r.error_message().contains("lacks the write scope"), "{}", r.describe());
    nothing_of(&s, "pkg-a").await;

    // The real client: without a token npm says it needs one; with a read-only token, 403.
    let pkg = write_package(tmp.path(), "pkg-a", "1.0.0", &[], "module.exports = 1;\n");
    let anon_home = tmp.path().join("anon");
    let run = npm(&anon_home, &pkg, &["publish", "--registry", &reg]).await;
    assert!(!run.ok && (run.text.contains("ENEEDAUTH") || run.text.contains("401")), "{}", run.text);
    let run = npm(&anon_home, tmp.path(), &["whoami", "--registry", &reg]).await;
    assert!(!run.ok && (run.text.contains("ENEEDAUTH") || run.text.contains("401")), "{}", run.text);
    let read_home = home_with_token(tmp.path(), "reader", &reg, &reader);
    let run = npm(&read_home, &pkg, &["publish", "--registry", &reg]).await;
    assert!(!run.ok && run.text.contains("403") && run.text.contains("write scope"), "{}", run.text);
    let who = npm(&read_home, tmp.path(), &["whoami", "--registry", &reg]).await;
    assert_eq!(who.stdout.trim(), "reader", "{}", who.text);

    // npm login's couch request: a token as the password is handed back; anything else is a 401.
    let login = |pw: &str| json!({ "_id": "org.couchdb.user:bob", "name": "bob", "password": pw, "type": "user" });
    let r = put(&s, "-/user/org.couchdb.user:bob", None, bytes(&login(&writer))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    assert_eq!(r.json()["token"], writer.as_str());
    let r = put(&s, "-/user/org.couchdb.user:bob", None, bytes(&login("hunter2"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.describe());
    assert!(r.error_message().contains("POST /api/v2/tokens"), "{}", r.describe());
    let web = fetch(s.client().post(s.url(&format!("/api/v1/local/{LOCAL}/-/v1/login")))).await;
    assert_eq!(web.status, StatusCode::NOT_FOUND, "npm falls back to the couch login: {}", web.describe());

    // The real `npm login`: the web login is refused, npm asks for a user name and password,
    // and stores the token it is handed; `npm whoami` then names the token.
    let login_home = tmp.path().join("login");
    let (ok, text) = npm_login(&login_home, &reg, "bob", &writer).await;
    assert!(ok, "npm login: {text}\n{}", s.log_tail(20));
    let npmrc = std::fs::read_to_string(login_home.join("npmrc")).unwrap_or_default();
    assert!(npmrc.contains(&writer), "npm stored the token: {npmrc}");
    let who = npm(&login_home, tmp.path(), &["whoami", "--registry", &reg]).await;
    assert_eq!(who.stdout.trim(), "writer", "{}", who.text);
    let (ok, text) = npm_login(&tmp.path().join("login2"), &reg, "bob", "hunter2").await;
    // npm prints its own text for a 401 here; the reason is in the body checked above.
    assert!(!ok && text.contains("E401"), "npm login with a password: {text}");

    // The writer publishes; the base64 of the body is what npm sent.
    let r = put(&s, "pkg-a", Some(&writer), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let doc = get(&s, LOCAL, "pkg-a", "application/json").await.json();
    let served = fetch(s.client().get(doc["versions"]["1.0.0"]["dist"]["tarball"].as_str().unwrap())).await;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&served.body),
        base64::engine::general_purpose::STANDARD.encode(&tgz)
    );
}

/// `npm login` typing `user` and `password` at its prompts; whether it succeeded and what it said.
async fn npm_login(home: &std::path::Path, reg: &str, user: &str, password: &str) -> (bool, String) {
    use tokio::io::AsyncWriteExt;
    std::fs::create_dir_all(home).unwrap();
    std::fs::write(home.join("npmrc"), "").unwrap();
    let mut child = tokio::process::Command::new("npm")
        .args(["login", "--registry", reg])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("npm_config_userconfig", home.join("npmrc"))
        .env("npm_config_cache", home.join("cache"))
        .env("npm_config_update_notifier", "false")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("npm");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in [user, password] {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("npm login finishes")
        .expect("npm login output");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_anonymous_reads_off_npm_installs_with_a_read_token() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).env("ANONYMOUS_READS", "false")).await;
    create_local(&s, LOCAL).await;
    let writer = token(&s, "writer", LOCAL, "write").await;
    let reader = token(&s, "reader", LOCAL, "read").await;
    let tgz = tarball("pkg-r", "1.0.0", "module.exports = () => 'read';\n");
    assert_eq!(
        put(&s, "pkg-r", Some(&writer), bytes(&publish_body("pkg-r", "1.0.0", &tgz, None))).await.status,
        StatusCode::CREATED
    );
    let reg = registry(&s, LOCAL);

    let anon = get(&s, LOCAL, "pkg-r", INSTALL_ACCEPT).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{}", anon.describe());
    assert!(anon.json()["error"].as_str().is_some_and(|e| e.contains("read access")), "{}", anon.describe());
    let home = tmp.path().join("anon");
    let app = home.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let run = npm(&home, &app, &["install", "--registry", &reg, "--prefix", app.to_str().unwrap(), "pkg-r"]).await;
    assert!(!run.ok && run.text.contains("401"), "npm install without a token: {}", run.text);

    let home = home_with_token(tmp.path(), "reader", &reg, &reader);
    let app = super::install(&s, &home, &reg, &["pkg-r"]).await;
    assert_eq!(super::node(&app, "pkg-r", ""), "read");
}

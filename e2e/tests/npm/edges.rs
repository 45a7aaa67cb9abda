//! What a static upstream (the harness's [`Upstream`], whose packuments the test writes) shows
//! better than verdaccio: a tarball on another host and one with only a SHA-1 `shasum`, both
//! installed by npm and fetched upstream once; a tarball whose bytes do not match
//! `dist.integrity` (never cached, npm fails); malformed packuments (502 naming the remote and
//! the problem, shown by npm, nothing cached, a good older copy kept); hostile names and
//! writes (400/404/405 before the upstream is asked).

use std::path::Path;
use std::time::Duration;

use artifactapi_e2e::{raw, File, Options, Server, Storage, Upstream};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest as _;

use super::tools::{npm, write_package};
use super::{get, registry, INSTALL_ACCEPT, REMOTE};

async fn server_with_remote(up: &Upstream) -> Server {
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    // Tarballs "on another host" are on another loopback port: private, so the remote allows it.
    let spec = json!({ "name": REMOTE, "package_type": "npm", "base_url": up.base_url(), "mutable_ttl": 1,
        "allow_private_upstreams": true });
    s.create_remote(spec).await;
    s
}

fn sri512(body: &[u8]) -> String {
    format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(body)))
}

/// A packument of one version 1.0.0 whose `dist` is `dist`.
fn packument(name: &str, dist: Value) -> File {
    let doc = json!({
        "name": name, "dist-tags": { "latest": "1.0.0" },
        "versions": { "1.0.0": { "name": name, "version": "1.0.0", "main": "index.js", "dist": dist } },
    });
    File::new(doc.to_string()).content_type("application/json")
}

/// A real tarball of `name@1.0.0` made by `npm pack`.
async fn pack(root: &Path, name: &str) -> Vec<u8> {
    let dir = write_package(root, name, "1.0.0", &[], &format!("module.exports = (s) => '{name}:' + s;\n"));
    let run = npm(&root.join("packer"), &dir, &["pack", "--pack-destination", root.to_str().unwrap()]).await;
    assert!(run.ok, "npm pack: {}", run.text);
    std::fs::read(root.join(format!("{name}-1.0.0.tgz"))).unwrap()
}

async fn cached_under(s: &Server, prefix: &str) -> u64 {
    let r = s.get(&format!("/api/v2/remotes/{REMOTE}/objects?prefix={prefix}")).await;
    r.json()["total"].as_u64().unwrap_or_else(|| panic!("{}", r.describe()))
}

/// `npm install pkg` with a fresh cache, expected to fail; returns what npm said.
async fn install_fails(s: &Server, home: &Path, pkg: &str) -> String {
    let app = home.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let reg = registry(s, &format!("remote/{REMOTE}"));
    let args = ["install", "--registry", &reg, "--prefix", app.to_str().unwrap(), "--fetch-retries=0", pkg];
    let run = npm(home, &app, &args).await;
    assert!(!run.ok, "npm install {pkg} should fail:\n{}", run.text);
    run.text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tarballs_elsewhere_and_integrity_mismatches() {
    let tmp = tempfile::tempdir().unwrap();
    let (hostx, shaonly) = (pack(tmp.path(), "hostx").await, pack(tmp.path(), "shaonly").await);
    let (index, files) = (Upstream::start().await, Upstream::start().await);
    let sha1 = hex::encode(sha1_of(&shaonly));
    index.put(
        "hostx",
        packument("hostx", json!({ "tarball": files.url("dl/hostx-1.0.0.tgz"), "integrity": sri512(&hostx) })),
    );
    files.put("dl/hostx-1.0.0.tgz", File::new(hostx.clone()));
    index.put("shaonly", packument("shaonly", json!({ "tarball": "shaonly/-/shaonly-1.0.0.tgz", "shasum": sha1 })));
    index.put("shaonly/-/shaonly-1.0.0.tgz", File::new(shaonly.clone()));
    let wrong = json!({ "tarball": files.url("dl/badsum-1.0.0.tgz"), "integrity": sri512(b"other bytes") });
    index.put("badsum", packument("badsum", wrong));
    files.put("dl/badsum-1.0.0.tgz", File::new(hostx.clone()));
    let s = server_with_remote(&index).await;
    let repo = format!("remote/{REMOTE}");

    let home = tmp.path().join("client");
    let app = home.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let reg = registry(&s, &repo);
    let run =
        npm(&home, &app, &["install", "--registry", &reg, "--prefix", app.to_str().unwrap(), "hostx", "shaonly"]).await;
    assert!(run.ok, "npm install: {}\n{}", run.text, s.log_tail(30));
    for (name, bytes) in [("hostx", &hostx), ("shaonly", &shaonly)] {
        let r = s.wait_cached(REMOTE, &format!("{name}/-/{name}-1.0.0.tgz")).await;
        assert!(r.body == bytes[..], "{name}: bytes differ");
    }
    assert_eq!(files.count("/dl/hostx-1.0.0.tgz"), 1, "fetched from the host the packument names, once");
    assert_eq!(index.count("/shaonly/-/shaonly-1.0.0.tgz"), 1);
    let missing = get(&s, &repo, "hostx/-/hostx-9.9.9.tgz", "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.describe());
    assert!(missing.error_message().contains("not listed"), "{}", missing.describe());

    let said = install_fails(&s, &tmp.path().join("bad"), "badsum").await;
    assert!(said.contains("ECONNRESET") || said.contains("EINTEGRITY"), "npm refuses the tarball:\n{said}");
    let r = artifactapi_e2e::try_fetch(s.client().get(s.proxy_url(REMOTE, "badsum/-/badsum-1.0.0.tgz"))).await;
    assert!(!matches!(&r, Ok(f) if f.status == StatusCode::OK), "a mismatching tarball is never served whole: {r:?}");
    assert_eq!(cached_under(&s, "badsum/-/").await, 0, "a mismatching tarball is never cached");
    assert!(files.count("/dl/badsum-1.0.0.tgz") >= 2, "nothing cached, so fetched again");
}

fn sha1_of(bytes: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(bytes).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packuments_and_hostile_names() {
    let tmp = tempfile::tempdir().unwrap();
    let up = Upstream::start().await;
    up.put("broken", File::new(r#"{"name": "broken", "versions": {"#).content_type("application/json"));
    up.put("html", File::new("<html><body>Bad gateway</body></html>").content_type("text/html"));
    up.put("wrongname", packument("other", json!({ "tarball": up.url("other/-/other-1.0.0.tgz") })));
    up.put("notarball", packument("notarball", json!({ "shasum": "00" })));
    up.put("flip", packument("flip", json!({ "tarball": up.url("flip/-/flip-1.0.0.tgz") })));
    let s = server_with_remote(&up).await;
    let repo = format!("remote/{REMOTE}");

    let cases = [
        ("broken", "not valid JSON"),
        ("html", "not valid JSON"),
        ("wrongname", "names the package"),
        ("notarball", "has no dist.tarball"),
    ];
    for (name, fragment) in cases {
        for accept in [INSTALL_ACCEPT, "application/json"] {
            let r = get(&s, &repo, name, accept).await;
            assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{name}: {}", r.describe());
            let message = r.error_message();
            assert!(message.contains(&format!("remote {REMOTE}")) && message.contains(fragment), "{name}: {message}");
        }
        assert_eq!(cached_under(&s, name).await, 0, "{name}: nothing cached");
    }
    let said = install_fails(&s, &tmp.path().join("broken"), "broken").await;
    assert!(said.contains("502") && said.contains("not valid JSON"), "npm shows the reason:\n{said}");
    let said = install_fails(&s, &tmp.path().join("absent"), "absent-pkg").await;
    assert!(said.contains("404") && said.contains("not found upstream"), "npm shows the reason:\n{said}");

    // A good packument is not replaced by a broken one: the refresh is refused and the good
    // copy is served stale, with the upstream up and once it is gone.
    let good = get(&s, &repo, "flip", INSTALL_ACCEPT).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.describe());
    up.put("flip", File::new("{ not json").content_type("application/json"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let kept = get(&s, &repo, "flip", INSTALL_ACCEPT).await;
    assert_eq!((kept.status, kept.x_cache()), (StatusCode::OK, "STALE"), "{}", kept.describe());
    assert_eq!(kept.body, good.body);
    up.down().await;
    let stale = get(&s, &repo, "flip", INSTALL_ACCEPT).await;
    assert_eq!((stale.status, stale.x_cache()), (StatusCode::OK, "STALE"), "{}", stale.describe());
    assert_eq!(stale.body, good.body);
    up.up().await;

    let seen = up.total();
    let long = "a".repeat(215);
    let hostile: &[(&str, u16)] = &[
        ("%2e%2e/%2e%2e/etc/passwd", 400),
        ("@acme%2f..%2f..%2fetc", 400),
        ("@acme%2futil%2f..", 400),
        ("leftpad%2f..%2fx", 400),
        ("@acme/util/-/..%2f..%2fx.tgz", 400),
        ("@acme/util/-/a%5cb.tgz", 400),
        ("left%00pad", 400),
        (".bin", 400),
        ("_private", 400),
        ("@acme", 400),
        ("@acme/util/1.0.0:x", 400),
        (&long, 400),
        ("-/v1/search", 404),
        ("-/whoami", 404),
        ("-/user/org.couchdb.user:bob", 404),
        ("leftpad/-/", 404),
        ("leftpad/1.0.0/extra", 404),
    ];
    for (path, status) in hostile {
        let r = raw::request(s.port(), "GET", &format!("/api/v1/{repo}/{path}")).await;
        assert_eq!(r.status, *status, "{path}: {}", r.rest_text());
        assert!(r.rest_text().contains("\"error\""), "{path}: an npm error body: {}", r.rest_text());
    }
    for method in ["PUT", "DELETE"] {
        let r = raw::request(s.port(), method, &format!("/api/v1/{repo}/@acme%2futil")).await;
        assert_eq!(r.status, 405, "{method}: {}", r.rest_text());
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    assert_eq!(up.total(), seen, "no hostile request reached the upstream");
}

//! npm remotes and virtuals proven with the real npm client against the real verdaccio (no
//! uplinks), behind the harness's counting proxy: `leftpad-x` depending on the scoped
//! `@acme/util` installs through a remote, then again with the upstream down and a fresh npm
//! cache (packuments STALE, tarballs HIT); `npm view`, `npm ping` and `npm dist-tag ls` answer;
//! `npm publish` is refused with a message npm shows. Through a virtual of two remotes, a third
//! package needing one version of `@acme/util` from each member installs from the merged
//! packument. Each tarball reaches its upstream exactly once and comes back byte-identical;
//! every tarball URL is on PUBLIC_URL. `edges` covers what a static upstream shows better.

mod edges;
mod large;
mod tools;

use std::path::Path;
use std::time::Duration;

use artifactapi_e2e::{fetch, matrix, Fetched, Options, Server, Storage};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tools::{npm, write_package, NpmRun, Verdaccio};

const REMOTE: &str = "npmjs";
/// What npm sends for the packuments it installs from.
pub const INSTALL_ACCEPT: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
const UTIL_TGZ: &str = "/@acme/util/-/util-1.0.0.tgz";
const LEFTPAD_TGZ: &str = "/leftpad-x/-/leftpad-x-1.0.0.tgz";

/// The registry URL of a repository (`remote/NAME` or `virtual/NAME`), as in an `.npmrc`.
pub fn registry(s: &Server, repo: &str) -> String {
    s.url(&format!("/api/v1/{repo}/"))
}

/// GET `path` of a repository with an `Accept` header (none when empty).
pub async fn get(s: &Server, repo: &str, path: &str, accept: &str) -> Fetched {
    let mut req = s.client().get(s.url(&format!("/api/v1/{repo}/{path}")));
    if !accept.is_empty() {
        req = req.header("accept", accept);
    }
    fetch(req).await
}

/// `npm install pkg` into `{home}/app` with a fresh cache under `home`; panics on failure.
async fn install(s: &Server, repo: &str, home: &Path, pkg: &str) -> NpmRun {
    let app = home.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let cache = home.join("fresh-cache");
    let (prefix, cache) = (app.to_str().unwrap(), cache.to_str().unwrap());
    let reg = registry(s, repo);
    let args = ["install", "--registry", &reg, "--prefix", prefix, "--cache", cache, "--no-audit", "--no-fund", pkg];
    let run = npm(home, &app, &args).await;
    assert!(run.ok, "npm install {pkg} through {repo} failed:\n{}\nserver log:\n{}", run.text, s.log_tail(40));
    run
}

/// What `require(pkg)(arg)` prints in the installed app.
fn node(home: &Path, pkg: &str, arg: &str) -> String {
    let script = format!("process.stdout.write(String(require({pkg:?})({arg:?})))");
    let out = std::process::Command::new("node").arg("-e").arg(script).current_dir(home.join("app")).output().unwrap();
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lockfile entry of an installed package (`node_modules/...`).
fn locked(home: &Path, at: &str) -> Value {
    let lock: Value = serde_json::from_slice(&std::fs::read(home.join("app/package-lock.json")).unwrap()).unwrap();
    lock["packages"][at].clone()
}

/// Publishes `@acme/util@1.0.0` and `leftpad-x@1.0.0` (depending on it) to `v`.
async fn publish_acme(v: &Verdaccio, root: &Path) {
    let util =
        write_package(root, "@acme/util", "1.0.0", &[], "module.exports = (s, n) => String(s).padStart(n, '*');\n");
    v.publish(&util).await;
    let js = "const pad = require('@acme/util');\nmodule.exports = (s) => pad(s, 6);\n";
    v.publish(&write_package(root, "leftpad-x", "1.0.0", &[("@acme/util", "^1.0.0")], js)).await;
}

/// The tarball URLs of a packument: all of them on `public`.
fn assert_tarballs_on(doc: &Value, public: &str) {
    let versions = doc["versions"].as_object().unwrap_or_else(|| panic!("no versions in {doc}"));
    for (version, manifest) in versions {
        let url = manifest["dist"]["tarball"].as_str().unwrap_or_default();
        assert!(url.starts_with(public), "{version}: tarball {url:?} is not on {public}");
    }
}

async fn npm_installs_through_a_remote_and_from_cache_alone(opts: Options) {
    let tmp = tempfile::tempdir().unwrap();
    let v = Verdaccio::start().await;
    publish_acme(&v, tmp.path()).await;
    let s = Server::start(opts).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "npm", "base_url": v.base_url(), "mutable_ttl": 1 })).await;
    let repo = format!("remote/{REMOTE}");
    let public = registry(&s, &repo);

    let first = tmp.path().join("first");
    install(&s, &repo, &first, "leftpad-x").await;
    assert_eq!(node(&first, "leftpad-x", "ab"), "****ab");
    let util = locked(&first, "node_modules/@acme/util");
    assert_eq!(util["resolved"], format!("{public}@acme/util/-/util-1.0.0.tgz"), "{util}");
    let direct: Value = fetch(s.client().get(format!("{}@acme%2futil", v.url()))).await.json();
    assert_eq!(util["integrity"], direct["versions"]["1.0.0"]["dist"]["integrity"], "{util}");
    assert_eq!(
        locked(&first, "node_modules/leftpad-x")["resolved"],
        format!("{public}leftpad-x/-/leftpad-x-1.0.0.tgz")
    );
    for path in [UTIL_TGZ, LEFTPAD_TGZ] {
        let r = s.wait_cached(REMOTE, &path[1..]).await;
        let want = fetch(s.client().get(format!("{}{}", v.url(), &path[1..]))).await;
        assert!(r.body == want.body, "{path}: bytes differ from verdaccio's");
    }

    // Every spelling of a scoped name is the same packument; both variants, tarballs on PUBLIC_URL.
    let abbreviated = get(&s, &repo, "@acme/util", INSTALL_ACCEPT).await;
    for spelling in ["@acme%2futil", "@acme%2Futil", "%40acme%2futil", "%40acme/util"] {
        let r = get(&s, &repo, spelling, INSTALL_ACCEPT).await;
        assert_eq!(r.status, StatusCode::OK, "{spelling}: {}", r.describe());
        assert_eq!(r.header("content-type"), Some("application/vnd.npm.install-v1+json"), "{spelling}");
        assert_eq!(r.header("vary"), Some("Accept"), "{spelling}");
        assert_eq!(r.body, abbreviated.body, "{spelling}");
    }
    let full = get(&s, &repo, "@acme%2futil", "application/json").await;
    assert_eq!(full.header("content-type"), Some("application/json"));
    assert!(full.json().get("readme").is_some() && abbreviated.json().get("readme").is_none(), "two variants");
    assert_tarballs_on(&full.json(), &public);
    assert_tarballs_on(&abbreviated.json(), &public);
    assert!(v.proxy.count("GET", "/@acme%2futil") >= 2, "{:?}", v.proxy.all());
    assert_eq!(v.proxy.count("GET", "/@acme/util"), 0, "packuments go upstream as @scope%2fname");

    let home = tmp.path().join("client");
    let reg = public.as_str();
    let view = npm(&home, tmp.path(), &["view", "@acme/util", "--json", "--registry", reg]).await;
    assert!(view.ok, "npm view: {}", view.text);
    let view: Value = serde_json::from_str(&view.stdout).unwrap_or_else(|e| panic!("{e}: {}", view.stdout));
    assert_eq!((view["name"].as_str(), view["dist-tags"]["latest"].as_str()), (Some("@acme/util"), Some("1.0.0")));
    assert_eq!(view["dist"]["tarball"], format!("{public}@acme/util/-/util-1.0.0.tgz"));
    let ping = npm(&home, tmp.path(), &["ping", "--registry", reg]).await;
    assert!(ping.ok && ping.text.contains("PONG"), "npm ping: {}", ping.text);
    let tags = npm(&home, tmp.path(), &["dist-tag", "ls", "@acme/util", "--registry", reg]).await;
    assert!(tags.ok && tags.stdout.trim() == "latest: 1.0.0", "npm dist-tag ls: {}", tags.text);
    let auth = format!("--{}:_authToken=not-needed", reg.trim_start_matches("http:"));
    let util_dir = write_package(tmp.path(), "@acme/util", "1.0.1", &[], "module.exports = () => '';\n");
    let publish = npm(&home, &util_dir, &["publish", "--registry", reg, &auth]).await;
    assert!(!publish.ok && publish.text.contains("405"), "npm publish: {}", publish.text);
    assert!(publish.text.contains("method PUT not allowed"), "npm shows the reason: {}", publish.text);

    v.proxy.down().await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // past mutable_ttl: packuments go stale
    let second = tmp.path().join("second");
    install(&s, &repo, &second, "leftpad-x").await;
    assert_eq!(node(&second, "leftpad-x", "ab"), "****ab");
    let stale = get(&s, &repo, "leftpad-x", INSTALL_ACCEPT).await;
    assert_eq!((stale.status, stale.x_cache()), (StatusCode::OK, "STALE"), "{}", stale.describe());
    for path in [UTIL_TGZ, LEFTPAD_TGZ] {
        let r = get(&s, &repo, &path[1..], "").await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{path}: {}", r.describe());
        assert_eq!(v.proxy.count("GET", path), 1, "{path}: verdaccio saw it exactly once: {:?}", v.proxy.all());
    }
}
matrix!(npm_installs_through_a_remote_and_from_cache_alone);

/// Two registries, two remotes, one virtual: `shout-x` (member b) needs `leftpad-x` and
/// `@acme/util@^1` (member a) and `@acme/util@^2` (member b). The merged packument of
/// `@acme/util` has both versions with each tarball on the member holding it, `latest` from
/// the first member; the install works, and works again with both upstreams down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_installs_through_a_virtual_of_two_remotes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = tokio::join!(Verdaccio::start(), Verdaccio::start());
    publish_acme(&a, tmp.path()).await;
    let util2 =
        write_package(tmp.path(), "@acme/util", "2.0.0", &[], "module.exports = (s, n) => String(s).padEnd(n, '!');\n");
    b.publish(&util2).await;
    let js = "const l = require('leftpad-x');\nconst u = require('@acme/util');\nmodule.exports = (s) => u(l(s).toUpperCase(), 8);\n";
    b.publish(&write_package(tmp.path(), "shout-x", "1.0.0", &[("leftpad-x", "^1.0.0"), ("@acme/util", "^2.0.0")], js))
        .await;
    let s = Server::start(Options::new(Storage::Fs, true)).await;
    for (name, v) in [("a", &a), ("b", &b)] {
        s.create_remote(json!({ "name": name, "package_type": "npm", "base_url": v.base_url(), "mutable_ttl": 1 }))
            .await;
    }
    let created = s
        .send_json(
            reqwest::Method::POST,
            "/api/v2/virtuals",
            &json!({
                "name": "npmall", "package_type": "npm", "members": ["a", "b"]
            }),
        )
        .await;
    assert!(created.status.is_success(), "{}", created.describe());

    let merged = get(&s, "virtual/npmall", "@acme%2futil", INSTALL_ACCEPT).await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.describe());
    assert_eq!(merged.header("content-type"), Some("application/vnd.npm.install-v1+json"));
    let doc = merged.json();
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0", "the first member's tag wins: {doc}");
    let tarball = |v: &str| doc["versions"][v]["dist"]["tarball"].as_str().map(str::to_string);
    assert_eq!(tarball("1.0.0"), Some(format!("{}@acme/util/-/util-1.0.0.tgz", registry(&s, "remote/a"))));
    assert_eq!(tarball("2.0.0"), Some(format!("{}@acme/util/-/util-2.0.0.tgz", registry(&s, "remote/b"))));

    let first = tmp.path().join("first");
    install(&s, "virtual/npmall", &first, "shout-x").await;
    assert_eq!(node(&first, "shout-x", "ab"), "****AB!!");
    let resolved = |home: &Path, at: &str| locked(home, at)["resolved"].as_str().unwrap_or_default().to_string();
    assert!(resolved(&first, "node_modules/shout-x").starts_with(&registry(&s, "remote/b")));
    assert!(resolved(&first, "node_modules/leftpad-x").starts_with(&registry(&s, "remote/a")));

    a.proxy.down().await;
    b.proxy.down().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = tmp.path().join("second");
    install(&s, "virtual/npmall", &second, "shout-x").await;
    assert_eq!(node(&second, "shout-x", "ab"), "****AB!!");
    for path in [UTIL_TGZ, LEFTPAD_TGZ] {
        assert_eq!(a.proxy.count("GET", path), 1, "{path}: {:?}", a.proxy.all());
    }
    for path in ["/@acme/util/-/util-2.0.0.tgz", "/shout-x/-/shout-x-1.0.0.tgz"] {
        assert_eq!(b.proxy.count("GET", path), 1, "{path}: {:?}", b.proxy.all());
    }
}

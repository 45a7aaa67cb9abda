//! A goproxy remote proven with the real `go` command, on every storage/coordination
//! configuration: a static GOPROXY tree of two modules (one depending on the other, one with a
//! mixed-case path in the `!x` encoding) served by a real upstream; `go mod download` and
//! `go build` through artifactapi; then the same build with the upstream stopped and a fresh
//! module cache, served from the cache alone (`@v/list` STALE). The upstream must see each
//! immutable file exactly once, and `.info/.mod/.zip` must come back byte-identical. Also the
//! protocol's edges: hostile module paths and versions, `sumdb` answered 404 without asking the
//! upstream, and an upstream 410 passed on as 410.

use std::path::Path;
use std::time::Duration;

use artifactapi_e2e::gomod::{self, zip_stored};
use artifactapi_e2e::{matrix, File, Options, Server, Upstream};
use reqwest::StatusCode;
use serde_json::json;

const REMOTE: &str = "gomods";
const LIB: &str = "example.com/Org/Lib";
const LIB_ENC: &str = "example.com/!org/!lib";
const GREET: &str = "example.com/app/greet";
const VERSION: &str = "v1.0.0";
const INFO: &str = r#"{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}"#;

/// Writes one module version of the GOPROXY tree under `root`; `files` are the module's files.
fn write_module(root: &Path, module: &str, encoded: &str, go_mod: &str, files: &[(&str, &str)]) {
    let dir = root.join(encoded).join("@v");
    std::fs::create_dir_all(&dir).unwrap();
    let mut entries = vec![(format!("{module}@{VERSION}/go.mod"), go_mod.as_bytes().to_vec())];
    entries.extend(files.iter().map(|(name, body)| (format!("{module}@{VERSION}/{name}"), body.as_bytes().to_vec())));
    std::fs::write(dir.join("list"), format!("{VERSION}\n")).unwrap();
    std::fs::write(dir.join(format!("{VERSION}.info")), INFO).unwrap();
    std::fs::write(dir.join(format!("{VERSION}.mod")), go_mod).unwrap();
    std::fs::write(dir.join(format!("{VERSION}.zip")), zip_stored(&entries)).unwrap();
    std::fs::write(root.join(encoded).join("@latest"), INFO).unwrap();
}

fn goproxy_tree(root: &Path) {
    let lib_mod = format!("module {LIB}\n\ngo 1.19\n");
    let lib_go = "package lib\n\n// Hello says who answered.\nfunc Hello() string { return \"hello from Lib\" }\n";
    write_module(root, LIB, LIB_ENC, &lib_mod, &[("lib.go", lib_go)]);
    let greet_mod = format!("module {GREET}\n\ngo 1.19\n\nrequire {LIB} {VERSION}\n");
    let greet_go = format!(
        "package greet\n\nimport \"{LIB}\"\n\n// Greet greets through Lib.\nfunc Greet() string {{ return \"greet: \" + lib.Hello() }}\n"
    );
    write_module(root, GREET, GREET, &greet_mod, &[("greet.go", &greet_go)]);
}

/// The immutable files of the tree, as upstream paths.
fn immutable_paths() -> Vec<String> {
    let mut out = Vec::new();
    for module in [LIB_ENC, GREET] {
        for ext in ["info", "mod", "zip"] {
            out.push(format!("{module}/@v/{VERSION}.{ext}"));
        }
    }
    out
}

/// Runs `go` through the remote with everything it writes under `home`; panics with its
/// output (and the server's log) on failure.
async fn go(s: &Server, dir: &Path, home: &Path, gocache: &Path, args: &[&str]) -> String {
    let proxy = format!("http://127.0.0.1:{}/api/v1/remote/{REMOTE}", s.port());
    gomod::go(&proxy, dir, home, gocache, args).await.unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", s.log_tail(40)))
}

/// A main module using `greet` (and through it the mixed-case `Lib`), built and run.
async fn build_and_run(s: &Server, app: &Path, home: &Path, gocache: &Path) {
    go(s, app, home, gocache, &["mod", "download"]).await;
    go(s, app, home, gocache, &["build", "-o", "app", "."]).await;
    let out = std::process::Command::new(app.join("app")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "greet: hello from Lib");
    let versions = go(s, app, home, gocache, &["list", "-m", "-versions", LIB]).await;
    assert_eq!(versions.trim(), format!("{LIB} {VERSION}"));
}

async fn go_builds_through_the_proxy_and_from_cache_alone(opts: Options) {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    goproxy_tree(&tree);
    let up = Upstream::start().await;
    assert_eq!(up.load_dir(&tree).unwrap(), 10);
    let s = Server::start(opts).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "goproxy", "base_url": up.base_url(), "mutable_ttl": 1 }))
        .await;
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("go.mod"), format!("module example.com/main\n\ngo 1.19\n\nrequire {GREET} {VERSION}\n"))
        .unwrap();
    std::fs::write(
        app.join("main.go"),
        format!(
            "package main\n\nimport (\n\t\"fmt\"\n\n\t\"{GREET}\"\n)\n\nfunc main() {{ fmt.Println(greet.Greet()) }}\n"
        ),
    )
    .unwrap();
    // Compiled packages only; modules always come through the proxy (fresh GOMODCACHE per phase).
    let gocache = std::env::temp_dir().join("artifactapi-e2e-gocache");

    build_and_run(&s, &app, &tmp.path().join("home1"), &gocache).await;
    let sum = std::fs::read_to_string(app.join("go.sum")).unwrap();
    assert!(sum.contains(&format!("{LIB} {VERSION} h1:")), "go.sum records the mixed-case module:\n{sum}");
    for path in immutable_paths() {
        let r = s.proxy_get(REMOTE, &path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.describe());
        s.wait_cached(REMOTE, &path).await;
    }
    let latest = s.proxy_get(REMOTE, &format!("{LIB_ENC}/@latest")).await;
    assert_eq!((latest.status, latest.text()), (StatusCode::OK, INFO.to_string()), "{}", latest.describe());

    up.down().await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // past mutable_ttl: lists go stale
    build_and_run(&s, &app, &tmp.path().join("home2"), &gocache).await;
    for path in immutable_paths() {
        let r = s.proxy_get(REMOTE, &path).await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{path}: {}", r.describe());
        let want = std::fs::read(tree.join(&path)).unwrap();
        assert!(r.body == want, "{path}: bytes differ from the upstream's");
        assert_eq!(up.count(&format!("/{path}")), 1, "{path}: the upstream saw it exactly once");
    }
    let list = s.proxy_get(REMOTE, &format!("{LIB_ENC}/@v/list")).await;
    assert_eq!((list.status, list.x_cache()), (StatusCode::OK, "STALE"), "{}", list.describe());
    assert_eq!(list.text(), format!("{VERSION}\n"));
}
matrix!(go_builds_through_the_proxy_and_from_cache_alone);

async fn protocol_edges_and_hostile_paths(opts: Options) {
    let up = Upstream::start().await;
    let s = Server::start(opts).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "goproxy", "base_url": up.base_url() })).await;
    up.put("/sumdb/sum.golang.org/supported", File::new("yes"));
    up.put("/example.com/gone/@v/list", File::new("removed").status(410));

    let gone = s.proxy_get(REMOTE, "example.com/gone/@v/list").await;
    assert_eq!(gone.status, StatusCode::GONE, "{}", gone.describe());
    let missing = s.proxy_get(REMOTE, "example.com/nothing/@v/v1.0.0.mod").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.describe());

    let not_proxied = ["sumdb/sum.golang.org/supported", "sumdb/sum.golang.org/lookup/example.com/m@v1.0.0"];
    for path in not_proxied {
        let r = s.proxy_get(REMOTE, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.describe());
        assert!(r.error_message().contains("sum.golang.org"), "{path}: {}", r.describe());
    }
    assert_eq!(up.count("/sumdb/sum.golang.org/supported"), 0, "sumdb is answered without the upstream");

    let long_module = format!("example.com/{}/@v/list", "a".repeat(600));
    let long_version = format!("example.com/m/@v/v{}.zip", "1".repeat(300));
    let bad_request: &[(&str, &str)] = &[
        ("example.com/Org/Lib/@v/list", "upper-case"),
        ("example.com/m/@v/v1.0.0-RC1.info", "upper-case"),
        ("example.com/!O/@v/list", "'!'"),
        ("example.com/a%2fb/@v/list", "encoded slash"),
        ("example.com/m/@v/v1%2f..%2fx.zip", "encoded slash"),
        ("example.com/m@v1/@v/list", "not allowed"),
        ("example.com/m/@v/%25.zip", "not allowed"),
        (&long_module, "longer than"),
        (&long_version, "longer than"),
    ];
    for (path, fragment) in bad_request {
        let r = s.proxy_get(REMOTE, path).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.describe());
        assert!(r.error_message().contains(fragment), "{path}: {}", r.describe());
    }
    for path in ["example.com/m", "example.com/m/@v/v1.0.0.ziphash", "index.html"] {
        let r = s.proxy_get(REMOTE, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.describe());
        assert!(r.error_message().contains("GOPROXY endpoint"), "{path}: {}", r.describe());
    }
    let r = s.proxy_get("no-such-goproxy", "example.com/m/@v/list").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error_message().contains("no-such-goproxy"), "{}", r.describe());
    let seen = up.total();
    assert_eq!(seen, 2, "only the 410 and the missing module reached the upstream");
}
matrix!(protocol_edges_and_hostile_paths);

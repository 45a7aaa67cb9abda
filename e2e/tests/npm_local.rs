//! npm local repositories with the real npm 11 client against the real binary: `npm whoami`,
//! `npm ping`, `npm publish` (scoped and not, with `--tag`), `npm view`, `npm install`,
//! `npm dist-tag add|rm|ls`, `npm deprecate`, `npm unpublish` of a version and of a package, a
//! republished version refused with npm's 403; two replicas sharing the database and the
//! storage (published through one, installed from the other); every spelling of a scoped name.
//! `hostile` covers what the real client cannot send (bad bodies, races, limits, credentials)
//! and `npm login`, `virtuals` a local shadowing a remote, `large` hundreds of versions, a
//! 64 MiB tarball and the figures beside verdaccio.

#[path = "npm/tools.rs"]
mod tools;

#[path = "npm_local/bodies.rs"]
mod bodies;
#[path = "npm_local/hostile.rs"]
mod hostile;
#[path = "npm_local/large.rs"]
mod large;
#[path = "npm_local/virtuals.rs"]
mod virtuals;

use std::path::{Path, PathBuf};

use artifactapi_e2e::{fetch, matrix, Fetched, Options, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tools::{npm, write_package, NpmRun};

pub const ADMIN: &str = "e2e-npm-admin";
pub const LOCAL: &str = "npmloc";
/// What npm sends for the packuments it installs from.
pub const INSTALL_ACCEPT: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// The registry URL of local `name`, as in an `.npmrc`.
pub fn registry(s: &Server, name: &str) -> String {
    s.url(&format!("/api/v1/local/{name}/"))
}

/// Creates npm local `name`.
pub async fn create_local(s: &Server, name: &str) {
    let r = s.send_json(Method::POST, "/api/v2/locals", &json!({ "name": name, "package_type": "npm" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
}

/// A token with `access` on `repo`; its secret.
pub async fn token(s: &Server, name: &str, repo: &str, access: &str) -> String {
    s.token(name, &[(repo, access)]).await
}

/// An npm home whose user config holds `secret` as the `_authToken` of `registry`.
pub fn home_with_token(root: &Path, who: &str, registry: &str, secret: &str) -> PathBuf {
    let home = root.join(who);
    std::fs::create_dir_all(&home).unwrap();
    let key = registry.trim_start_matches("http:");
    std::fs::write(home.join("npmrc"), format!("{key}:_authToken={secret}\n")).unwrap();
    home
}

/// Runs npm in `cwd` with `--registry reg`; panics with the server log when it fails.
pub async fn npm_ok(s: &Server, home: &Path, cwd: &Path, reg: &str, args: &[&str]) -> NpmRun {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--registry", reg]);
    let run = npm(home, cwd, &all).await;
    assert!(run.ok, "npm {args:?} failed:\n{}\nserver log:\n{}", run.text, s.log_tail(30));
    run
}

/// `npm install pkgs` into a fresh app under `home` with a fresh cache; the app folder.
pub async fn install(s: &Server, home: &Path, reg: &str, pkgs: &[&str]) -> PathBuf {
    let app = home.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let cache = home.join("fresh-cache");
    let mut args = vec!["install", "--prefix", app.to_str().unwrap(), "--cache", cache.to_str().unwrap()];
    args.extend(pkgs);
    npm_ok(s, home, &app, reg, &args).await;
    app
}

/// What `require(pkg)(arg)` gives in `app`.
pub fn node(app: &Path, pkg: &str, arg: &str) -> String {
    let script = format!("process.stdout.write(String(require({pkg:?})({arg:?})))");
    let out = std::process::Command::new("node").arg("-e").arg(script).current_dir(app).output().unwrap();
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GET `path` of local `name` with `accept`.
pub async fn get(s: &Server, name: &str, path: &str, accept: &str) -> Fetched {
    fetch(s.client().get(s.url(&format!("/api/v1/local/{name}/{path}"))).header("accept", accept)).await
}

async fn npm_publishes_and_installs_from_a_local(opts: Options) {
    let tmp = tempfile::tempdir().unwrap();
    let a = Server::start(opts.admin_token(ADMIN)).await;
    create_local(&a, LOCAL).await;
    let secret = token(&a, "ci-publisher", LOCAL, "write").await;
    // The second replica shares the database, the storage and (where configured) Redis.
    let b = Server::start(Options::new(artifactapi_e2e::Storage::Fs, false).admin_token(ADMIN).shared_with(&a)).await;
    let (reg_a, reg_b) = (registry(&a, LOCAL), registry(&b, LOCAL));
    let home = home_with_token(tmp.path(), "dev", &reg_a, &secret);
    let root = tmp.path();

    let who = npm_ok(&a, &home, root, &reg_a, &["whoami"]).await;
    assert_eq!(who.stdout.trim(), "ci-publisher");
    let ping = npm_ok(&a, &home, root, &reg_a, &["ping"]).await;
    assert!(ping.text.contains("PONG"), "{}", ping.text);

    let util =
        write_package(root, "@acme/util", "1.0.0", &[], "module.exports = (s, n) => String(s).padStart(n, '*');\n");
    npm_ok(&a, &home, &util, &reg_a, &["publish"]).await;
    let js = "const pad = require('@acme/util');\nmodule.exports = (s) => pad(s, 6);\n";
    let leftpad = write_package(root, "leftpad-x", "1.0.0", &[("@acme/util", "^1.0.0")], js);
    npm_ok(&a, &home, &leftpad, &reg_a, &["publish"]).await;
    let util11 = root.join("util11");
    std::fs::create_dir_all(&util11).unwrap();
    let util11 =
        write_package(&util11, "@acme/util", "1.1.0", &[], "module.exports = (s, n) => String(s).padStart(n, '#');\n");
    npm_ok(&a, &home, &util11, &reg_a, &["publish", "--tag", "beta"]).await;

    // npm view: both versions, the tags, tarballs on the local.
    let view = npm_ok(&a, &home, root, &reg_a, &["view", "@acme/util", "--json"]).await;
    let view: Value = serde_json::from_str(&view.stdout).unwrap_or_else(|e| panic!("{e}: {}", view.stdout));
    assert_eq!(view["dist-tags"], json!({ "latest": "1.0.0", "beta": "1.1.0" }), "{view}");
    assert_eq!(view["versions"], json!(["1.0.0", "1.1.0"]), "{view}");
    assert_eq!(view["dist"]["tarball"], format!("{reg_a}@acme/util/-/util-1.0.0.tgz"));
    assert!(view["_npmUser"].to_string().contains("ci-publisher"), "{view}");

    // Installed from the other replica: latest is 1.0.0, the tarball checked by npm's integrity.
    let app = install(&b, &tmp.path().join("from-b"), &reg_b, &["leftpad-x"]).await;
    assert_eq!(node(&app, "leftpad-x", "ab"), "****ab");
    let lock: Value = serde_json::from_slice(&std::fs::read(app.join("package-lock.json")).unwrap()).unwrap();
    // Replicas of one deployment share PUBLIC_URL; here each has its own, and the packument
    // names the one that rendered it first (renderings are shared through the catalog).
    let resolved = lock["packages"]["node_modules/@acme/util"]["resolved"].as_str().unwrap_or_default().to_string();
    assert!(resolved.ends_with("/api/v1/local/npmloc/@acme/util/-/util-1.0.0.tgz"), "{resolved}");
    let from_b = get(&b, LOCAL, "@acme/util/-/util-1.0.0.tgz", "*/*").await;
    assert_eq!(from_b.body, fetch(a.client().get(&resolved)).await.body, "both replicas serve the tarball");

    // Every spelling of a scoped name, both forms of the packument.
    let short = get(&a, LOCAL, "@acme/util", INSTALL_ACCEPT).await;
    assert_eq!(short.header("content-type"), Some("application/vnd.npm.install-v1+json"));
    for spelling in ["@acme%2futil", "@acme%2Futil", "%40acme%2futil", "%40acme/util"] {
        let r = get(&a, LOCAL, spelling, INSTALL_ACCEPT).await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &short.body), "{spelling}: {}", r.describe());
    }
    let full = get(&a, LOCAL, "@acme%2futil", "application/json").await.json();
    assert!(full["time"]["1.1.0"].is_string() && short.json().get("time").is_none(), "{full}");

    // A version published before: npm 11 sees it in the packument and refuses by itself (the
    // server's own 403 shows below, after an unpublish, and in `hostile`).
    let again = npm(&home, &util, &["publish", "--registry", &reg_a]).await;
    assert!(!again.ok, "republish: {}", again.text);
    assert!(again.text.contains("cannot publish over the previously published versions"), "{}", again.text);

    // dist-tags.
    npm_ok(&a, &home, root, &reg_a, &["dist-tag", "add", "@acme/util@1.1.0", "latest"]).await;
    npm_ok(&a, &home, root, &reg_a, &["dist-tag", "rm", "@acme/util", "beta"]).await;
    let tags = npm_ok(&b, &home, root, &reg_b, &["dist-tag", "ls", "@acme/util"]).await;
    assert_eq!(tags.stdout.trim(), "latest: 1.1.0", "{}", tags.text);

    // deprecate, then un-deprecate.
    npm_ok(&a, &home, root, &reg_a, &["deprecate", "@acme/util@1.0.0", "use 1.1 or later"]).await;
    let dep = npm_ok(&b, &home, root, &reg_b, &["view", "@acme/util@1.0.0", "deprecated"]).await;
    assert_eq!(dep.stdout.trim(), "use 1.1 or later");
    let short = get(&b, LOCAL, "@acme/util", INSTALL_ACCEPT).await.json();
    assert_eq!(short["versions"]["1.0.0"]["deprecated"], "use 1.1 or later", "{short}");
    assert!(short["versions"]["1.1.0"].get("deprecated").is_none(), "{short}");
    npm_ok(&a, &home, root, &reg_a, &["deprecate", "@acme/util@1.0.0", ""]).await;
    let dep = npm_ok(&a, &home, root, &reg_a, &["view", "@acme/util@1.0.0", "deprecated"]).await;
    assert_eq!(dep.stdout.trim(), "");

    // unpublish one version: gone from the packument, its tarball gone, never again publishable.
    npm_ok(&a, &home, root, &reg_a, &["unpublish", "@acme/util@1.0.0"]).await;
    let view = npm_ok(&b, &home, root, &reg_b, &["view", "@acme/util", "versions", "--json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&view.stdout).unwrap(), json!(["1.1.0"]), "{}", view.stdout);
    let gone = get(&a, LOCAL, "@acme/util/-/util-1.0.0.tgz", "*/*").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.describe());
    let again = npm(&home, &util, &["publish", "--tag", "old", "--registry", &reg_a]).await;
    assert!(!again.ok && again.text.contains("403"), "republish after unpublish: {}", again.text);
    assert!(again.text.contains("cannot publish over the previously published versions"), "{}", again.text);

    // unpublish a whole package.
    npm_ok(&a, &home, root, &reg_a, &["unpublish", "leftpad-x", "--force"]).await;
    let view = npm(&home, root, &["view", "leftpad-x", "--registry", &reg_b]).await;
    assert!(!view.ok, "a package unpublished whole: {}", view.text);
    let r = get(&a, LOCAL, "leftpad-x/-/leftpad-x-1.0.0.tgz", "*/*").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
matrix!(npm_publishes_and_installs_from_a_local);

//! The real npm client and a real npm registry (verdaccio) for the npm tests.
//!
//! [`Verdaccio`] runs verdaccio (`$VERDACCIO`, else the copy `.ci/install` puts under
//! `/var/cache/artifactapi/tools/npm`) with its storage in a temp dir and no uplinks, so it never
//! reaches the internet, behind a [`CountingProxy`]: artifactapi talks to the proxy, and
//! verdaccio writes the proxy's address into every `dist.tarball` (`VERDACCIO_PUBLIC_URL`), so
//! tarball downloads are counted too. [`npm`] runs the `npm` command with everything it
//! reads or writes (user config, cache, HOME) in directories the test owns. Missing tools fail
//! the test loudly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use artifactapi_e2e::counting::CountingProxy;

const INSTALLED: &str = "/var/cache/artifactapi/tools/npm/node_modules/.bin/verdaccio";
const USER: &str = "tester";

/// The verdaccio binary, or a panic saying how to install it.
pub fn verdaccio_binary() -> PathBuf {
    let bin = std::env::var_os("VERDACCIO").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(INSTALLED));
    assert!(bin.is_file(), "verdaccio not found at {} (set $VERDACCIO or run `bash .ci/install`)", bin.display());
    bin
}

/// The output of one `npm` run.
#[derive(Debug)]
pub struct NpmRun {
    pub ok: bool,
    /// stdout and stderr together.
    pub text: String,
    pub stdout: String,
}

/// Runs `npm args` in `cwd` with HOME, the user config and the cache under `home`.
pub async fn npm(home: &Path, cwd: &Path, args: &[&str]) -> NpmRun {
    std::fs::create_dir_all(home).expect("npm home");
    let userconfig = home.join("npmrc");
    if !userconfig.exists() {
        std::fs::write(&userconfig, "").expect("npmrc");
    }
    let out: Output = tokio::process::Command::new("npm")
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
        .env("HOME", home)
        .env("npm_config_userconfig", &userconfig)
        .env("npm_config_cache", home.join("cache"))
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run `npm` ({e}): install Node.js and npm (the machine image has them)"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    NpmRun { ok: out.status.success(), text: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)), stdout }
}

/// A running verdaccio behind a counting proxy; killed on drop.
pub struct Verdaccio {
    child: Child,
    port: u16,
    token: String,
    dir: TempDir,
    pub proxy: CountingProxy,
}

impl Verdaccio {
    /// Starts verdaccio, waits until it answers, and registers a user to publish as.
    pub async fn start() -> Verdaccio {
        let bin = verdaccio_binary();
        let dir = tempfile::Builder::new().prefix("aa-e2e-verdaccio-").tempdir().expect("temp dir for verdaccio");
        let config = dir.path().join("config.yaml");
        let config_text = format!(
            "storage: {storage}\nauth:\n  htpasswd:\n    file: {htpasswd}\n    max_users: 100\nuplinks: {{}}\n\
             packages:\n  '**':\n    access: $all\n    publish: $authenticated\n\
             log: {{ type: stdout, format: pretty, level: warn }}\n",
            storage = dir.path().join("storage").display(),
            htpasswd = dir.path().join("htpasswd").display(),
        );
        std::fs::write(&config, config_text).expect("verdaccio config");
        let port = artifactapi_e2e::server::free_port();
        let proxy = CountingProxy::start(&format!("http://127.0.0.1:{port}")).await;
        let log = std::fs::File::create(dir.path().join("verdaccio.log")).expect("verdaccio log");
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("VERDACCIO_PUBLIC_URL", proxy.base_url())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let mut v = Verdaccio { child, port, token: String::new(), dir, proxy };
        v.wait_up().await;
        v.token = v.register().await;
        v
    }

    async fn wait_up(&mut self) {
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("verdaccio exited ({status}):\n{}", self.log());
            }
            if let Ok(r) = client.get(format!("{}-/ping", self.url())).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("verdaccio did not answer within 60 s:\n{}", self.log());
    }

    async fn register(&self) -> String {
        let body = serde_json::json!({ "name": USER, "password": "e2e-password-1" });
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .put(format!("{}-/user/org.couchdb.user:{USER}", self.url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("register with verdaccio");
        let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.expect("register body")).expect("JSON");
        v["token"].as_str().unwrap_or_else(|| panic!("no token from verdaccio: {v}")).to_string()
    }

    /// Verdaccio itself (not through the counting proxy), ending with `/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Where artifactapi should point a remote: the counting proxy.
    pub fn base_url(&self) -> String {
        self.proxy.base_url()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("verdaccio.log")).unwrap_or_default()
    }

    /// Publishes the package in `dir` straight to verdaccio with the real npm client.
    pub async fn publish(&self, dir: &Path) {
        let home = self.dir.path().join("publisher");
        std::fs::create_dir_all(&home).expect("publisher home");
        let auth = format!("//127.0.0.1:{}/:_authToken={}\n", self.port, self.token);
        std::fs::write(home.join("npmrc"), auth).expect("publisher npmrc");
        let run = npm(&home, dir, &["publish", "--registry", &self.url()]).await;
        assert!(run.ok, "npm publish {} failed:\n{}\nverdaccio:\n{}", dir.display(), run.text, self.log());
    }
}

impl Drop for Verdaccio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a package (`package.json` with `deps`, and an `index.js` of `main_js`) under `root`.
pub fn write_package(root: &Path, name: &str, version: &str, deps: &[(&str, &str)], main_js: &str) -> PathBuf {
    let dir = root.join(format!("{}-{version}", name.replace('/', "_")));
    std::fs::create_dir_all(&dir).expect("package dir");
    let deps: serde_json::Map<String, serde_json::Value> =
        deps.iter().map(|(n, v)| (n.to_string(), serde_json::Value::String(v.to_string()))).collect();
    let manifest = serde_json::json!({
        "name": name, "version": version, "main": "index.js", "license": "MIT",
        "description": format!("{name} for the artifactapi e2e tests"), "dependencies": deps,
    });
    std::fs::write(dir.join("package.json"), manifest.to_string()).expect("package.json");
    std::fs::write(dir.join("index.js"), main_js).expect("index.js");
    dir
}

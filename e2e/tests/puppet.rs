//! Puppet remotes proven with the real `puppet module install` and `r10k` against a small
//! Forge v3 server the test owns (`puppet/forge.py`, serving module tarballs the test builds,
//! releases listed one per page so every listing paginates). On every storage/coordination
//! configuration: puppet installs a module and resolves its dependency through the remote
//! (following `pagination.next`, each page fetched upstream with its own query), r10k installs
//! a Puppetfile with `forge: baseurl:` pointing at the remote; then both again with the Forge
//! stopped and fresh client state, from the cache alone. Each archive is fetched upstream once.
//! Then: an archive on another host (an absolute `file_uri`) fetched through the remote, and
//! the hostile cases: an archive that does not match its release's `file_sha256` or
//! `file_md5` (never cached, puppet refuses it), and paths and queries that are no Forge
//! request (400). Locals and virtuals: `puppet/local.rs`. A Forge of real size (hundreds of
//! releases, real-size listing pages): `puppet/real_size.rs`.

#[path = "puppet/local.rs"]
mod local;
#[path = "puppet/real_size.rs"]
mod real_size;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use artifactapi_e2e::{matrix, pattern_bytes, sha256_hex, try_fetch, Options, Server, Storage};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

const REMOTE: &str = "forge";
/// Bytes of data in each module, so archives have a real size (~512 KiB, incompressible).
const MODULE_DATA: usize = 512 * 1024;

/// The Forge v3 server of a test: a python process serving the tarballs of its directory.
struct Forge {
    dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
    port: u16,
}

impl Forge {
    /// Starts a Forge serving `modules` (metadata.json documents), `page` releases per page.
    async fn start(modules: &[Value], page: usize) -> Forge {
        Forge::start_sized(modules, page, MODULE_DATA, 0).await
    }

    /// [`Forge::start`] with `data` bytes of data in each module and `notes` bytes of readme
    /// and changelog in each release.
    async fn start_sized(modules: &[Value], page: usize, data: usize, notes: usize) -> Forge {
        let dir = tempfile::tempdir().unwrap();
        for (i, meta) in modules.iter().enumerate() {
            let (file, body) = module_tarball_sized(meta, i as u64, data);
            std::fs::write(dir.path().join(file), body).unwrap();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/puppet/forge.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .arg(page.to_string())
            .arg(notes.to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the Forge");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let port = first.expect("the Forge starts").unwrap().expect("a port").trim().parse().unwrap();
        Forge { dir, child: Some(child), port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).unwrap()
    }

    /// The requests the Forge answered, path and query as they arrived.
    fn requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.path().join("requests.log")).unwrap_or_default();
        log.lines().map(str::to_string).collect()
    }

    fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.as_str() == path).count()
    }

    /// Overrides release fields: `{slug: {field: value}}`.
    fn override_releases(&self, overrides: Value) {
        std::fs::write(self.dir.path().join("overrides.json"), overrides.to_string()).unwrap();
    }

    async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }
}

/// A module's metadata.json.
fn metadata(name: &str, version: &str, deps: &[(&str, &str)]) -> Value {
    let deps: Vec<Value> = deps.iter().map(|(n, r)| json!({"name": n, "version_requirement": r})).collect();
    json!({
        "name": name, "version": version, "author": name.split('-').next().unwrap(),
        "summary": format!("{name} {version}"), "license": "Apache-2.0", "source": "https://example.invalid",
        "dependencies": deps,
    })
}

/// `{name}-{version}.tar.gz` as `puppet module build` lays it out: one top directory holding
/// metadata.json, a manifest and a data file.
fn module_tarball(meta: &Value, seed: u64) -> (String, Vec<u8>) {
    module_tarball_sized(meta, seed, MODULE_DATA)
}

/// [`module_tarball`] with `data` bytes in `files/data.bin`.
fn module_tarball_sized(meta: &Value, seed: u64, data: usize) -> (String, Vec<u8>) {
    let (name, version) = (meta["name"].as_str().unwrap(), meta["version"].as_str().unwrap());
    let top = format!("{name}-{version}");
    let short = name.split_once('-').unwrap().1;
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{top}/metadata.json"), serde_json::to_vec_pretty(meta).unwrap()),
        (format!("{top}/manifests/init.pp"), format!("class {short} {{\n  notice('{top}')\n}}\n").into_bytes()),
        (format!("{top}/files/data.bin"), pattern_bytes(data, seed)),
    ];
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, body) in &files {
        // ustar with an explicit regular-file type: minitar (puppet) skips typeflag NUL entries.
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, path, body.as_slice()).unwrap();
    }
    let mut gz = tar.into_inner().unwrap();
    gz.flush().unwrap();
    (format!("{top}.tar.gz"), gz.finish().unwrap())
}

fn modules() -> Vec<Value> {
    vec![
        metadata("acme-base", "1.0.0", &[]),
        metadata("acme-base", "1.1.0", &[]),
        metadata("acme-app", "2.0.0", &[("acme-base", ">= 1.0.0 < 2.0.0")]),
    ]
}

fn repo_url(s: &Server) -> String {
    s.url(&format!("/api/v1/remote/{REMOTE}"))
}

/// Runs a client command to completion; its combined output, or the failure with it.
async fn run(cmd: &mut tokio::process::Command) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().await.map_err(|e| format!("cannot run: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{:?}: {}\n{text}", cmd.as_std().get_program(), out.status))
    }
}

/// `puppet module install {module}` from `repo` into a fresh directory, with puppet state of
/// its own; the directory and the time it took.
async fn puppet_install(repo: &str, module: &str) -> Result<(tempfile::TempDir, PathBuf, Duration), String> {
    let home = tempfile::tempdir().unwrap();
    let target = home.path().join("modules");
    let mut cmd = tokio::process::Command::new("puppet");
    cmd.args(["module", "install", module, "--module_repository", repo, "--target-dir"]).arg(&target);
    for (flag, sub) in [("--confdir", "conf"), ("--vardir", "var"), ("--codedir", "code"), ("--logdir", "log")] {
        cmd.arg(flag).arg(home.path().join(sub));
    }
    cmd.env("HOME", home.path());
    let start = Instant::now();
    run(&mut cmd).await?;
    Ok((home, target, start.elapsed()))
}

/// `r10k puppetfile install` of `puppetfile` with `forge: baseurl: {repo}`, fresh cache.
async fn r10k_install(repo: &str, puppetfile: &str) -> Result<(tempfile::TempDir, PathBuf, Duration), String> {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("r10k.yaml");
    let cache = home.path().join("cache");
    std::fs::write(&cfg, format!("cachedir: '{}'\nforge:\n  baseurl: '{repo}'\n", cache.display())).unwrap();
    std::fs::write(home.path().join("Puppetfile"), puppetfile).unwrap();
    let target = home.path().join("modules");
    let mut cmd = tokio::process::Command::new("r10k");
    cmd.args(["puppetfile", "install", "--config"])
        .arg(&cfg)
        .arg("--puppetfile")
        .arg(home.path().join("Puppetfile"))
        .arg("--moduledir")
        .arg(&target)
        .env("HOME", home.path())
        .current_dir(home.path());
    let start = Instant::now();
    run(&mut cmd).await?;
    Ok((home, target, start.elapsed()))
}

/// The version of the module installed in `dir/{short}`.
fn installed(dir: &Path, short: &str) -> String {
    let meta = std::fs::read(dir.join(short).join("metadata.json")).unwrap_or_else(|e| panic!("{short}: {e}"));
    let meta: Value = serde_json::from_slice(&meta).unwrap();
    meta["version"].as_str().unwrap().to_string()
}

const PUPPETFILE: &str = "mod 'acme-app', '2.0.0'\nmod 'acme-base', '1.0.0'\n";
/// The archives, with how often the direct puppet run fetched each.
const ARCHIVES: [(&str, usize); 3] =
    [("acme-app-2.0.0.tar.gz", 1), ("acme-base-1.0.0.tar.gz", 0), ("acme-base-1.1.0.tar.gz", 1)];

async fn puppet_and_r10k_through_a_remote_and_from_cache_alone(opts: Options) {
    let mut forge = Forge::start(&modules(), 1).await;
    let s = Server::start(opts).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "puppet", "base_url": forge.url(), "mutable_ttl": 1 }))
        .await;
    let repo = repo_url(&s);

    // Direct, for the timing note.
    let (_d, direct_dir, direct) = puppet_install(&forge.url(), "acme-app").await.expect("puppet direct");
    assert_eq!(installed(&direct_dir, "base"), "1.1.0");
    let before = forge.requests().len();

    let (_h, dir, proxied) =
        puppet_install(&repo, "acme-app").await.unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(40)));
    assert_eq!(installed(&dir, "app"), "2.0.0");
    assert_eq!(installed(&dir, "base"), "1.1.0", "the dependency resolved to its newest release");
    assert!(dir.join("base/files/data.bin").metadata().unwrap().len() == MODULE_DATA as u64);
    // Every page of the releases listing reached the Forge with its own query.
    let seen = &forge.requests()[before..];
    let pages: Vec<&String> =
        seen.iter().filter(|r| r.starts_with("/v3/releases?") && r.contains("module=acme-base")).collect();
    assert!(pages.iter().any(|r| r.contains("offset=1")), "the second page was asked for: {seen:?}");
    assert!(pages.len() >= 2 && pages.len() <= 4, "no pagination loop: {seen:?}");
    eprintln!("puppet module install acme-app: direct {direct:?}, through the proxy (cold) {proxied:?}");

    let (_r, r10k_dir, r10k_time) =
        r10k_install(&repo, PUPPETFILE).await.unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(40)));
    assert_eq!(installed(&r10k_dir, "app"), "2.0.0");
    assert_eq!(installed(&r10k_dir, "base"), "1.0.0");
    eprintln!("r10k puppetfile install through the proxy: {r10k_time:?}");
    // Each archive reached the Forge once through the proxy (plus once for the direct puppet
    // run, which installed app 2.0.0 and base 1.1.0).
    for (file, direct) in ARCHIVES {
        let r = s.wait_cached(REMOTE, &format!("v3/files/{file}")).await;
        assert_eq!(sha256_hex(&r.body), sha256_hex(&forge.file(file)), "{file}");
        assert_eq!(forge.count(&format!("/v3/files/{file}")), direct + 1, "{file}: once through the proxy");
    }

    // The Forge stopped, every listing past its TTL, fresh client state: the cache alone.
    forge.stop().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_h2, dir2, cached) =
        puppet_install(&repo, "acme-app").await.unwrap_or_else(|e| panic!("from the cache: {e}\n{}", s.log_tail(40)));
    assert_eq!((installed(&dir2, "app"), installed(&dir2, "base")), ("2.0.0".into(), "1.1.0".into()));
    let (_r2, r10k_dir2, _) =
        r10k_install(&repo, PUPPETFILE).await.unwrap_or_else(|e| panic!("from the cache: {e}\n{}", s.log_tail(40)));
    assert_eq!((installed(&r10k_dir2, "app"), installed(&r10k_dir2, "base")), ("2.0.0".into(), "1.0.0".into()));
    eprintln!("puppet module install acme-app from the cache, Forge stopped: {cached:?}");
    let r = s.proxy_get(REMOTE, "v3/releases/acme-app-2.0.0").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "STALE"), "{}", r.describe());
}
matrix!(puppet_and_r10k_through_a_remote_and_from_cache_alone);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_are_cached_per_query_and_links_pass_unchanged() {
    let forge = Forge::start(&modules(), 1).await;
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "puppet", "base_url": forge.url(), "mutable_ttl": 60 }))
        .await;
    let page = |offset: u32| format!("v3/releases?module=acme-base&limit=1&offset={offset}");
    let first = s.proxy_get(REMOTE, &page(0)).await;
    let second = s.proxy_get(REMOTE, &page(1)).await;
    assert_eq!((first.status, second.status), (StatusCode::OK, StatusCode::OK), "{}", second.describe());
    let (a, b) = (first.json(), second.json());
    assert_eq!(a["results"][0]["version"], "1.0.0");
    assert_eq!(b["results"][0]["version"], "1.1.0", "the second page, not the first again");
    // The Forge was asked the canonical query and its root-relative link passes as it is.
    assert_eq!(a["pagination"]["next"], "/v3/releases?limit=1&module=acme-base&offset=1", "passed as it is");
    assert_eq!(b["pagination"]["next"], Value::Null);
    assert_eq!(a["results"][0]["file_uri"], "/v3/files/acme-base-1.0.0.tar.gz");
    // The same question in another order is the same cached answer.
    let again = s.proxy_get(REMOTE, "v3/releases?offset=1&limit=1&module=acme-base").await;
    assert_eq!((again.status, again.x_cache()), (StatusCode::OK, "HIT"), "{}", again.describe());
    assert_eq!(again.body, second.body);
    let upstream: Vec<String> = forge.requests().into_iter().filter(|r| r.starts_with("/v3/releases?")).collect();
    assert_eq!(upstream.len(), 2, "{upstream:?}");
    let m = s.proxy_get(REMOTE, "v3/modules/acme-base").await;
    assert_eq!(m.json()["current_release"]["version"], "1.1.0", "{}", m.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_that_fails_its_checksum_is_never_cached() {
    let forge = Forge::start(
        &[
            metadata("acme-bad", "1.0.0", &[]),
            metadata("acme-md5", "1.0.0", &[]),
            metadata("acme-md5bad", "1.0.0", &[]),
        ],
        20,
    )
    .await;
    forge.override_releases(json!({
        "acme-bad-1.0.0": { "file_sha256": "0".repeat(64) },
        "acme-md5-1.0.0": { "file_sha256": null },
        "acme-md5bad-1.0.0": { "file_sha256": null, "file_md5": "0".repeat(32) },
    }));
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "puppet", "base_url": forge.url(), "mutable_ttl": 60 }))
        .await;
    let path = "v3/files/acme-bad-1.0.0.tar.gz";
    for n in 1..=2 {
        // The bytes stream as they arrive; the mismatch shows at the end: a 502 when it is known
        // before the answer starts, else a download cut short. Never a complete 200.
        let r = try_fetch(s.client().get(s.proxy_url(REMOTE, path))).await;
        assert!(
            r.as_ref().map_or(true, |r| r.status != StatusCode::OK),
            "a complete 200: {:?}",
            r.map(|r| r.describe())
        );
        assert_eq!(forge.count(&format!("/{path}")), n, "asked upstream again: nothing was cached");
    }
    let err = puppet_install(&repo_url(&s), "acme-bad").await.expect_err("puppet must not install it");
    assert!(err.contains("Error"), "{err}");
    // A release with only file_md5: checked against it.
    let md5bad = "v3/files/acme-md5bad-1.0.0.tar.gz";
    for n in 1..=2 {
        let r = try_fetch(s.client().get(s.proxy_url(REMOTE, md5bad))).await;
        assert!(r.as_ref().map_or(true, |r| r.status != StatusCode::OK), "md5 mismatch served");
        assert_eq!(forge.count(&format!("/{md5bad}")), n, "an md5 mismatch is never cached");
    }
    let md5 = "v3/files/acme-md5-1.0.0.tar.gz";
    let r = s.proxy_get(REMOTE, md5).await;
    assert!(r.status == StatusCode::OK && r.body == forge.file("acme-md5-1.0.0.tar.gz"), "{}", r.describe());
    s.wait_cached(REMOTE, md5).await;
    assert_eq!(forge.count(&format!("/{md5}")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_forge_requests_are_refused() {
    let forge = Forge::start(&modules(), 20).await;
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "puppet", "base_url": forge.url() })).await;
    let long_query = format!("v3/releases?module={}", "a".repeat(3000));
    for path in [
        "v3/releases/acme-base-1.0;rm",
        "v3/files/acme-base-%2e%2e.tar.gz",
        "v3/releases?module=%00",
        long_query.as_str(),
    ] {
        let r = s.proxy_get(REMOTE, path).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.describe());
    }
    for raw in [
        "/api/v1/remote/forge/v3/%2e%2e/%2e%2e/secret",
        "/api/v1/remote/forge/v3/files/..%2Fx.tar.gz",
        "/api/v1/remote/forge/v3/modules/acme-base/../../etc",
    ] {
        let r = artifactapi_e2e::raw::request(s.port(), "GET", raw).await;
        assert!(r.status == 400 || r.status == 404, "{raw}: {}", r.status);
    }
    assert!(forge.requests().is_empty(), "nothing reached the Forge: {:?}", forge.requests());
}

/// A release whose `file_uri` is an absolute URL on another host (a CDN): served as
/// `/v3/files/{file}` of the remote, fetched from that host and checked there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_on_another_host_are_fetched_through_the_remote() {
    let forge = Forge::start(&[metadata("acme-base", "1.0.0", &[])], 20).await;
    let cdn = artifactapi_e2e::Upstream::start().await;
    let file = "acme-base-1.0.0.tar.gz";
    cdn.put(&format!("/cdn/{file}"), artifactapi_e2e::File::new(forge.file(file)));
    forge.override_releases(json!({ "acme-base-1.0.0": { "file_uri": cdn.url(&format!("cdn/{file}")) } }));
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    // The CDN is another port on loopback: a private address, so the remote must allow it.
    let spec =
        json!({ "name": REMOTE, "package_type": "puppet", "base_url": forge.url(), "allow_private_upstreams": true });
    s.create_remote(spec).await;
    let r = s.proxy_get(REMOTE, "v3/releases/acme-base-1.0.0").await;
    assert_eq!(r.json()["file_uri"], format!("/v3/files/{file}"), "{}", r.describe());
    let r = s.proxy_get(REMOTE, "v3/releases?module=acme-base").await;
    assert_eq!(r.json()["results"][0]["file_uri"], format!("/v3/files/{file}"), "{}", r.describe());
    let (_h, dir, _) =
        puppet_install(&repo_url(&s), "acme-base").await.unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(30)));
    assert_eq!(installed(&dir, "base"), "1.0.0");
    assert_eq!(cdn.count(&format!("/cdn/{file}")), 1, "fetched from the host the release names");
    assert_eq!(forge.count(&format!("/v3/files/{file}")), 0);
}

//! A Forge of real size: a module with 300 releases (puppetlabs-stdlib has well over 100)
//! at the bottom of a dependency chain of four modules, listed in pages of 20 as the real Forge
//! does, each release with metadata, readme and changelog of real size (a page of releases is
//! about half a megabyte) and archives of 128 KiB. `puppet module install` resolves the chain
//! through a remote and through a virtual (every listing page of every module followed), r10k
//! installs a Puppetfile of the chain, and both work again from the cache alone with the Forge
//! stopped. The install times (direct, through the remote cold and warm, through the virtual)
//! are printed.

use std::time::Duration;

use artifactapi_e2e::{Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{installed, metadata, puppet_install, r10k_install, repo_url, Forge, REMOTE};

/// Releases listed per page (the Forge's own limit).
const PAGE: usize = 20;
/// Bytes of readme and changelog in each release.
const NOTES: usize = 24 << 10;
/// Bytes of data in each archive.
const DATA: usize = 128 << 10;

/// A module of the chain: its name, how many releases it has, what it depends on (module,
/// version requirement).
type Link = (&'static str, usize, &'static [(&'static str, &'static str)]);

/// The chain, from the bottom up.
const CHAIN: [Link; 4] = [
    ("acme-stdlib", 300, &[]),
    ("acme-config", 60, &[("acme-stdlib", ">= 4.0.0 < 7.0.0")]),
    ("acme-web", 40, &[("acme-config", ">= 1.0.0 < 3.0.0"), ("acme-stdlib", ">= 5.0.0 < 7.0.0")]),
    ("acme-app", 25, &[("acme-web", ">= 1.0.0 < 2.0.0")]),
];

/// The `i`th release's version: 1.0.0, 1.0.1, ... 1.4.9, 2.0.0, ...
fn version(i: usize) -> String {
    format!("{}.{}.{}", 1 + i / 50, (i % 50) / 10, i % 10)
}

/// A metadata.json as `puppet module build` writes real ones: supported systems, requirements,
/// tags and links beside name, version and dependencies.
fn real_metadata(name: &str, version: &str, deps: &[(&str, &str)]) -> Value {
    let mut meta = metadata(name, version, deps);
    let systems: Vec<Value> = ["RedHat", "CentOS", "Rocky", "AlmaLinux", "Debian", "Ubuntu", "SLES", "windows"]
        .iter()
        .map(|os| json!({ "operatingsystem": os, "operatingsystemrelease": ["8", "9", "10", "11", "12", "20.04", "22.04"] }))
        .collect();
    meta["operatingsystem_support"] = Value::Array(systems);
    meta["requirements"] = json!([{ "name": "puppet", "version_requirement": ">= 7.0.0 < 9.0.0" }]);
    meta["tags"] = json!(["stdlib", "functions", "types", "facts", "templates", "validation"]);
    meta["project_page"] = json!(format!("https://example.invalid/{name}"));
    meta["issues_url"] = json!(format!("https://example.invalid/{name}/issues"));
    meta
}

fn modules() -> Vec<Value> {
    let mut out = Vec::new();
    for (name, releases, deps) in CHAIN {
        out.extend((0..releases).map(|i| real_metadata(name, &version(i), deps)));
    }
    out
}

/// The newest release of each module of the chain: what puppet resolves.
const NEWEST: [(&str, &str); 4] = [("app", "1.2.4"), ("web", "1.3.9"), ("config", "2.0.9"), ("stdlib", "6.4.9")];
const PUPPETFILE: &str =
    "mod 'acme-app', '1.2.4'\nmod 'acme-web', '1.3.9'\nmod 'acme-config', '2.0.9'\nmod 'acme-stdlib', '6.4.9'\n";

fn assert_chain(dir: &std::path::Path, how: &str) {
    for (short, want) in NEWEST {
        assert_eq!(installed(dir, short), want, "{how}: {short}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_size_forge_through_a_remote_and_a_virtual() {
    let mut forge = Forge::start_sized(&modules(), PAGE, DATA, NOTES).await;
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "puppet", "base_url": forge.url(), "mutable_ttl": 1 }))
        .await;
    let virt = json!({ "name": "forge-all", "package_type": "puppet", "members": [REMOTE] });
    let r = s.send_json(Method::POST, "/api/v2/virtuals", &virt).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());

    // A listing page as large as the real Forge's.
    let page = s.proxy_get(REMOTE, "v3/releases?module=acme-stdlib&limit=20&offset=280").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    let doc = page.json();
    assert_eq!((doc["pagination"]["total"].as_u64(), doc["results"].as_array().map(Vec::len)), (Some(300), Some(20)));
    assert!(page.body.len() > PAGE * NOTES, "a page of {} bytes", page.body.len());
    eprintln!("puppet: a releases page of acme-stdlib (20 of 300 releases) is {} KB", page.body.len() >> 10);

    let (_d, direct_dir, direct) = puppet_install(&forge.url(), "acme-app").await.expect("puppet direct");
    assert_chain(&direct_dir, "direct");
    let before = forge.requests().len();
    let (_c, cold_dir, cold) =
        puppet_install(&repo_url(&s), "acme-app").await.unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(40)));
    assert_chain(&cold_dir, "through the remote");
    let seen = &forge.requests()[before..];
    let stdlib_pages =
        seen.iter().filter(|r| r.starts_with("/v3/releases?") && r.contains("module=acme-stdlib")).count();
    assert!(stdlib_pages >= 300 / PAGE, "every page of acme-stdlib's releases was followed: {stdlib_pages}");
    let (_w, warm_dir, warm) =
        puppet_install(&repo_url(&s), "acme-app").await.unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(40)));
    assert_chain(&warm_dir, "through the remote, again");
    let (_v, virtual_dir, through_virtual) = puppet_install(&s.url("/api/v1/virtual/forge-all"), "acme-app")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(40)));
    assert_chain(&virtual_dir, "through the virtual");
    let (_r, r10k_dir, r10k) =
        r10k_install(&repo_url(&s), PUPPETFILE).await.unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(40)));
    assert_chain(&r10k_dir, "r10k through the remote");
    let (_rv, r10k_virtual_dir, _) = r10k_install(&s.url("/api/v1/virtual/forge-all"), PUPPETFILE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(40)));
    assert_chain(&r10k_virtual_dir, "r10k through the virtual");
    eprintln!(
        "puppet module install acme-app (a chain of 4 modules, 425 releases): direct {direct:?}, through the remote \
         cold {cold:?}, warm {warm:?}, through the virtual {through_virtual:?}; r10k through the remote {r10k:?}"
    );

    // The Forge stopped, every listing past its TTL: the cache alone.
    forge.stop().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_o, offline_dir, offline) = puppet_install(&repo_url(&s), "acme-app")
        .await
        .unwrap_or_else(|e| panic!("from the cache: {e}\n{}", s.log_tail(40)));
    assert_chain(&offline_dir, "from the cache");
    let (_ro, r10k_offline_dir, _) =
        r10k_install(&repo_url(&s), PUPPETFILE).await.unwrap_or_else(|e| panic!("from the cache: {e}"));
    assert_chain(&r10k_offline_dir, "r10k from the cache");
    eprintln!("puppet module install acme-app from the cache, Forge stopped: {offline:?}");
}

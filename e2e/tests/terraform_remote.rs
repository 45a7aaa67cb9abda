//! Terraform remotes with the real terraform CLI, over HTTPS to artifactapi (`SSL_CERT_FILE`
//! names the test CA), in front of a provider registry the test builds: 30 versions × 4
//! platforms of a provider signed with gpg, its download documents naming the zips on another
//! host (absolute), `SHA256SUMS` absolute and the signature root-relative.
//!
//! - `terraform init` straight from the upstream, then through the remote's registry proxy (a
//!   CLI configuration `host` block) and through its network mirror (`provider_installation`),
//!   then both again in fresh directories with the upstream stopped; the times are printed;
//! - a zip whose bytes differ from the download document's `shasum` is a 502 and never cached;
//! - a mirror path for another host name is a 404; hostile paths are 400; a zip on a private
//!   other host needs `allow_private_upstreams`.

use std::net::Ipv4Addr;
use std::time::Duration;

use artifactapi_e2e::raw;
use artifactapi_e2e::terraform::{terraform_bin, Provider, Workdir};
use artifactapi_e2e::tls::TestCa;
use artifactapi_e2e::{try_fetch, File, Options, Server, Storage, Upstream};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PLATFORMS: [(&str, &str); 4] =
    [("linux", "amd64"), ("linux", "arm64"), ("darwin", "arm64"), ("windows", "amd64")];

fn versions(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("1.{i}.0")).collect()
}

/// The registry proxy's CLI configuration: `host` for the upstream's host name, whose
/// `providers.v1` is the remote's.
fn host_block(host: &str, s: &Server, remote: &str) -> String {
    format!(
        "host \"{host}\" {{\n  services = {{\n    \"providers.v1\" = \"{}\"\n  }}\n}}\n",
        s.url(&format!("/api/v1/remote/{remote}/v1/providers/"))
    )
}

/// The network mirror's CLI configuration.
fn mirror_block(s: &Server, remote: &str) -> String {
    format!(
        "provider_installation {{\n  network_mirror {{\n    url = \"{}\"\n  }}\n}}\n",
        s.url(&format!("/api/v1/remote/{remote}/"))
    )
}

/// terraform said it installed `source` at `version`.
fn assert_installed(out: &str, source: &str, version: &str) {
    let line = format!("Installed {source} v{version}");
    assert!(out.contains(&line), "no {line:?} in:\n{out}");
}

fn zip_path(p: &Provider, version: &str, os: &str, arch: &str) -> String {
    let b = p.release(version).builds.iter().find(|b| b.os == os && b.arch == arch).expect("a build");
    format!("v1/providers/{}/{}/{version}/download/{os}/{arch}/{}", p.namespace, p.kind, b.filename)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_init_through_the_registry_proxy_and_the_mirror_then_with_the_upstream_stopped() {
    let Some(bin) = terraform_bin("terraform_remote") else { return };
    let ca = TestCa::new("artifactapi e2e terraform CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let tls = ca.server_config(&["127.0.0.1", "localhost"]);
    let registry = Upstream::start_with(Ipv4Addr::LOCALHOST, Some(tls.clone())).await;
    let files = Upstream::start_with(Ipv4Addr::LOCALHOST, Some(tls)).await;
    let registry_base = format!("https://localhost:{}/", registry.port());
    // Real size: 30 versions × 4 platforms; the builds installed are 24 MiB, the others small.
    let latest = "1.29.0";
    let provider = Provider::new("acme", "thing", &versions(30), &PLATFORMS, |v, os, arch| match (v, os, arch) {
        ("1.29.0" | "1.28.0", "linux", "amd64") => 24 << 20,
        _ => 96 << 10,
    });
    provider.publish(&registry, &registry_base, &files);

    let s = Server::start(Options::new(Storage::Fs, false).tls(&ca).env("UPSTREAM_CA_FILE", ca_file.display())).await;
    s.create_remote(json!({
        "name": "tf", "package_type": "terraform", "base_url": registry_base,
        "mutable_ttl": 1, "allow_private_upstreams": true,
    }))
    .await;
    let discovery = s.proxy_get("tf", ".well-known/terraform.json").await;
    assert_eq!(discovery.status, StatusCode::OK, "{}", discovery.describe());
    assert_eq!(discovery.json(), json!({ "providers.v1": s.url("/api/v1/remote/tf/v1/providers/") }));

    // Straight from the upstream registry (its own discovery, its host name with the port).
    let direct_source = format!("localhost:{}/acme/thing", registry.port());
    let direct = Workdir::new(&bin, &direct_source, latest, "", &ca_file);
    let (out, t_direct) = direct.init();
    assert_installed(&out, &direct_source, latest);

    // Through the registry proxy: the upstream's signature and key, verified by terraform.
    let on_files = format!("/releases/{latest}/terraform-provider-thing_{latest}_linux_amd64.zip");
    let gets = |up: &Upstream, path: &str| up.requests(path).iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets(&files, &on_files), 1, "the direct install");
    let proxy_cli = host_block("localhost", &s, "tf");
    let cold = Workdir::new(&bin, "localhost/acme/thing", latest, &proxy_cli, &ca_file);
    let (out, t_cold) = cold.init();
    assert_installed(&out, "localhost/acme/thing", latest);
    assert!(
        out.to_ascii_uppercase().contains(&format!("KEY ID {}", provider.signer.key_id.to_ascii_uppercase())),
        "terraform names the upstream's signing key:\n{out}"
    );
    let lock = cold.lock_file();
    for b in &provider.release(latest).builds {
        assert!(lock.contains(&format!("zh:{}", b.sha256)), "{} missing from the lock file:\n{lock}", b.filename);
    }
    let zip = zip_path(&provider, latest, "linux", "amd64");
    assert_eq!(gets(&files, &on_files), 2, "the remote fetched the zip from the other host once");
    let cached = s.wait_cached("tf", &zip).await;
    assert_eq!(hex::encode(Sha256::digest(&cached.body)), provider.release(latest).builds[0].sha256);

    let warm = Workdir::new(&bin, "localhost/acme/thing", latest, &proxy_cli, &ca_file);
    let (out, t_warm) = warm.init();
    assert_installed(&out, "localhost/acme/thing", latest);
    assert_eq!(gets(&files, &on_files), 2, "the second install is served from the cache");

    // Through the network mirror, another version (its zip not cached yet).
    let mirror_cli = mirror_block(&s, "tf");
    let mirrored = Workdir::new(&bin, "localhost/acme/thing", "1.28.0", &mirror_cli, &ca_file);
    let (out, t_mirror) = mirrored.init();
    assert_installed(&out, "localhost/acme/thing", "1.28.0");
    // terraform checked the zip against the mirror's zh: hash (it records only its own h1:).
    assert!(mirrored.lock_file().contains("h1:"), "{}", mirrored.lock_file());
    let sha = &provider.release("1.28.0").builds[0].sha256;
    let listed = s.proxy_get("tf", "localhost/acme/thing/1.28.0.json").await.json();
    assert_eq!(listed["archives"]["linux_amd64"]["hashes"], json!([format!("zh:{sha}")]), "{listed}");
    let index = s.proxy_get("tf", "localhost/acme/thing/index.json").await;
    assert_eq!(index.json()["versions"].as_object().map(|v| v.len()), Some(30), "{}", index.describe());

    // The upstream (registry and file host) stopped: both ways still install, in fresh
    // directories without a plugin cache, from what the remote holds (`versions` stale).
    registry.down().await;
    files.down().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let down = Workdir::new(&bin, "localhost/acme/thing", latest, &proxy_cli, &ca_file);
    let (out, t_down) = down.init();
    assert_installed(&out, "localhost/acme/thing", latest);
    let down_mirror = Workdir::new(&bin, "localhost/acme/thing", "1.28.0", &mirror_cli, &ca_file);
    let (out, t_down_mirror) = down_mirror.init();
    assert_installed(&out, "localhost/acme/thing", "1.28.0");
    let versions_doc = s.proxy_get("tf", "v1/providers/acme/thing/versions").await;
    assert_eq!((versions_doc.status, versions_doc.x_cache()), (StatusCode::OK, "STALE"), "{}", versions_doc.describe());

    eprintln!(
        "terraform init of acme/thing {latest} (24 MiB zip, 30 versions x 4 platforms): direct from the upstream \
         {t_direct:.2?}; through the remote: cold {t_cold:.2?}, warm {t_warm:.2?}, upstream stopped {t_down:.2?}; \
         network mirror (1.28.0, cold) {t_mirror:.2?}, upstream stopped {t_down_mirror:.2?}"
    );
}

/// A small provider (2 versions × 2 platforms) on plain-HTTP upstreams, for the checks no
/// terraform run is needed for.
async fn small_setup() -> (Server, Upstream, Upstream, Provider) {
    let registry = Upstream::start().await;
    let files = Upstream::start().await;
    let base = format!("http://localhost:{}/", registry.port());
    let provider = Provider::new("acme", "thing", &versions(2), &PLATFORMS[..2], |_, _, _| 40_000);
    provider.publish(&registry, &base, &files);
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    for (name, private) in [("tf", true), ("tf-strict", false)] {
        s.create_remote(json!({
            "name": name, "package_type": "terraform", "base_url": base, "allow_private_upstreams": private,
        }))
        .await;
    }
    (s, registry, files, provider)
}

async fn cached_objects(s: &Server, remote: &str, prefix: &str) -> u64 {
    let r = s.get(&format!("/api/v2/remotes/{remote}/objects?prefix={prefix}")).await;
    r.json()["total"].as_u64().unwrap_or_else(|| panic!("{}", r.describe()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_that_differs_from_its_shasum_is_never_cached() {
    let (s, _registry, files, provider) = small_setup().await;
    let zip = zip_path(&provider, "1.1.0", "linux", "amd64");
    let on_files = "/releases/1.1.0/terraform-provider-thing_1.1.0_linux_amd64.zip";
    let good = provider.release("1.1.0").builds[0].zip.clone();
    let mut tampered = good.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0xff;
    files.put(on_files, File::new(tampered));
    for attempt in 1..=2 {
        // A 502, or (streamed as a miss) a download cut short: never the whole body.
        match try_fetch(s.client().get(s.proxy_url("tf", &zip))).await {
            Ok(r) => assert_eq!(r.status, StatusCode::BAD_GATEWAY, "attempt {attempt}: {}", r.describe()),
            Err(e) => eprintln!("attempt {attempt}: the download was cut short: {e:?}"),
        }
        assert_eq!(files.count(on_files), attempt, "nothing cached: fetched again");
    }
    assert_eq!(cached_objects(&s, "tf", &zip).await, 0);
    files.put(on_files, File::new(good.clone()));
    let r = s.proxy_get("tf", &zip).await;
    assert_eq!((r.status, r.body.as_ref()), (StatusCode::OK, good.as_slice()), "{}", r.describe());
    s.wait_cached("tf", &zip).await;

    // SHA256SUMS and the signature are the upstream's bytes.
    let sums = s.proxy_get("tf", &zip.replace("terraform-provider-thing_1.1.0_linux_amd64.zip", "SHA256SUMS")).await;
    assert_eq!(sums.body.as_ref(), provider.release("1.1.0").sums.as_slice());
    let sig = s.proxy_get("tf", &zip.replace("terraform-provider-thing_1.1.0_linux_amd64.zip", "SHA256SUMS.sig")).await;
    assert_eq!(sig.body.as_ref(), provider.release("1.1.0").sig.as_slice());
    // The download document points at this remote and keeps the upstream's key.
    let doc = s.proxy_get("tf", "v1/providers/acme/thing/1.1.0/download/linux/amd64").await.json();
    assert_eq!(doc["download_url"], Value::String(s.proxy_url("tf", &zip)));
    assert_eq!(doc["signing_keys"]["gpg_public_keys"][0]["ascii_armor"], provider.signer.public_armor.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_host_names_hostile_paths_and_private_hosts() {
    let (s, _registry, files, provider) = small_setup().await;
    let index = s.proxy_get("tf", "localhost/acme/thing/index.json").await;
    assert_eq!(index.json(), json!({ "versions": { "1.0.0": {}, "1.1.0": {} } }), "{}", index.describe());
    let version = s.proxy_get("tf", "localhost/acme/thing/1.0.0.json").await.json();
    let b = &provider.release("1.0.0").builds[1];
    assert_eq!(
        version["archives"]["linux_arm64"],
        json!({ "url": s.proxy_url("tf", &zip_path(&provider, "1.0.0", "linux", "arm64")), "hashes": [format!("zh:{}", b.sha256)] })
    );
    for (path, status) in [
        ("registry.terraform.io/acme/thing/index.json", 404),
        ("127.0.0.1/acme/thing/index.json", 404),
        ("localhost:8443/acme/thing/index.json", 404),
        ("localhost/acme/thing/9.9.9.json", 404),
        ("localhost/acme/other/index.json", 404),
        ("v1/providers/acme/thing/9.9.9/download/linux/amd64", 404),
    ] {
        let r = s.proxy_get("tf", path).await;
        assert_eq!(r.status.as_u16(), status, "{path}: {}", r.describe());
    }
    let port = s.port();
    for path in [
        "v1/providers/acme/thing/1.0.0/download/linux/amd64/%2e%2e",
        "v1/providers/acme/thing/1.0.0/download/linux/amd64/..%2fSHA256SUMS",
        "v1/providers/acme/th%00ing/versions",
        "v1/providers/acme/thing/1.0.0/download/linux/amd64/a%5cb.zip",
        "v1/providers/acme/thing/1.0.0/download/linux/../amd64",
        "localhost/acme/thing/1.0.0;x.json",
    ] {
        let r = raw::request(port, "GET", &format!("/api/v1/remote/tf/{path}")).await;
        assert_eq!(r.status, 400, "{path}: {}", r.head);
    }
    // A zip on another host at a private address: only with allow_private_upstreams.
    let zip = zip_path(&provider, "1.0.0", "linux", "amd64");
    let before = files.total();
    let r = s.proxy_get("tf-strict", &zip).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    assert_eq!(files.total(), before, "the private host was not contacted");
    assert_eq!(s.proxy_get("tf", &zip).await.status, StatusCode::OK);
}

/// The upstream is a second artifactapi: its local terraform repository's provider registry
/// (documents generated, zips and `SHA256SUMS` under its `/api/v1/local/...`, signed by its own
/// key). terraform installs through the registry proxy and the network mirror, verifying that
/// server's signature, then again with it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_remote_and_the_mirror_in_front_of_another_artifactapis_local() {
    let Some(bin) = terraform_bin("terraform_remote") else { return };
    let mut upstream = Server::start(Options::new(Storage::Fs, false).admin_token("upstream-admin")).await;
    upstream.create("/api/v2/locals", json!({ "name": "acme", "package_type": "terraform" })).await;
    let writer = upstream.token("acme-ci", &[("acme", "write")]).await;
    let versions = versions(12);
    for v in &versions {
        for (i, (os, arch)) in PLATFORMS.iter().enumerate() {
            let size = if v == "1.11.0" && *os == "linux" && *arch == "amd64" { 8 << 20 } else { 64 << 10 };
            let body = artifactapi_e2e::terraform::provider_zip("thing", v, size, i as u64);
            let file = format!("terraform-provider-thing_{v}_{os}_{arch}.zip");
            let put = upstream.client().put(upstream.url(&format!("/api/v1/local/acme/thing/{file}")));
            let r = artifactapi_e2e::fetch(put.bearer_auth(&writer).body(body)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
        }
    }
    let download = upstream.get("/terraform/providers/v1/acme/thing/1.11.0/download/linux/amd64").await;
    assert_eq!(download.status, StatusCode::OK, "{}", download.describe());
    let key_id = download.json()["signing_keys"]["gpg_public_keys"][0]["key_id"].as_str().expect("key_id").to_string();

    let ca = TestCa::new("artifactapi e2e terraform CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let s = Server::start(Options::new(Storage::Fs, false).tls(&ca)).await;
    let base = format!("http://localhost:{}/", upstream.port());
    s.create_remote(json!({
        "name": "tf", "package_type": "terraform", "base_url": base,
        "mutable_ttl": 1, "allow_private_upstreams": true,
    }))
    .await;

    let proxy_cli = host_block("localhost", &s, "tf");
    let mirror_cli = mirror_block(&s, "tf");
    let through = Workdir::new(&bin, "localhost/acme/thing", "1.11.0", &proxy_cli, &ca_file);
    let (out, t_proxy) = through.init();
    assert_installed(&out, "localhost/acme/thing", "1.11.0");
    assert!(
        out.to_ascii_uppercase().contains(&key_id.to_ascii_uppercase()),
        "terraform names the upstream artifactapi's key {key_id}:\n{out}"
    );
    let mirrored = Workdir::new(&bin, "localhost/acme/thing", "1.10.0", &mirror_cli, &ca_file);
    let (out, t_mirror) = mirrored.init();
    assert_installed(&out, "localhost/acme/thing", "1.10.0");
    let index = s.proxy_get("tf", "localhost/acme/thing/index.json").await;
    assert_eq!(index.json()["versions"].as_object().map(|v| v.len()), Some(12), "{}", index.describe());

    upstream.terminate().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let down = Workdir::new(&bin, "localhost/acme/thing", "1.11.0", &proxy_cli, &ca_file);
    let (out, t_down) = down.init();
    assert_installed(&out, "localhost/acme/thing", "1.11.0");
    let down_mirror = Workdir::new(&bin, "localhost/acme/thing", "1.10.0", &mirror_cli, &ca_file);
    let (out, _) = down_mirror.init();
    assert_installed(&out, "localhost/acme/thing", "1.10.0");
    eprintln!(
        "terraform init through a remote in front of another artifactapi's local (12 versions x 4 platforms, \
         8 MiB zip): registry proxy {t_proxy:.2?}, network mirror {t_mirror:.2?}, upstream stopped {t_down:.2?}"
    );
}

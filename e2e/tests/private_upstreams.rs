//! The private-address rule: a remote fetches from its base URL's host always (on any port), and
//! from any other host that an index, a redirect or a token realm names only when that host is
//! public, unless the remote sets `allow_private_upstreams`.
//!
//! The base URL is on 127.0.0.1; "another host" is a real server on 127.0.0.2 (loopback, so
//! private). Refused: a helm chart, an npm tarball and a PyPI file the index places there, a
//! redirect there, a token realm there: each a 502 naming the host, its address and the setting,
//! with no request reaching 127.0.0.2, nothing cached, and the circuit breaker untouched (a
//! refusal is configuration, not an upstream fault). Allowed, the same requests are served.

use std::net::Ipv4Addr;

use artifactapi_e2e::{generic_remote, pattern_bytes, sha256_hex, Fetched, File, Options, Server, Storage, Upstream};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest as _;

const HELM_INDEX: &str = "helm/index.yaml";
const NPM_PACKUMENT: &str = "npm/farpkg";
const PYPI_PAGE: &str = "pypi/simple/far-lib/";
const PYPI_JSON: &str = "application/vnd.pypi.simple.v1+json";
const WHEEL: &str = "far_lib-1.0-py3-none-any.whl";

/// The file bytes each package type's index places on the other host.
fn file_bytes(kind: &str) -> Vec<u8> {
    pattern_bytes(30_000, kind.len() as u64)
}

/// Puts a helm index, an npm packument and a PyPI page on `index` whose files are on `other`.
fn publish(index: &Upstream, other: &Upstream) {
    let chart = file_bytes("helm");
    other.put("charts/far-1.0.0.tgz", File::new(chart.clone()).content_type("application/gzip"));
    let yaml = format!(
        "apiVersion: v1\nentries:\n  far:\n  - apiVersion: v2\n    created: \"2024-01-02T03:04:05Z\"\n    digest: {}\n    \
         name: far\n    urls:\n    - {}\n    version: 1.0.0\ngenerated: \"2024-01-02T03:04:05Z\"\n",
        sha256_hex(&chart),
        other.url("charts/far-1.0.0.tgz")
    );
    index.put(HELM_INDEX, File::new(yaml).content_type("application/x-yaml"));

    let tarball = file_bytes("npm");
    other.put("dl/farpkg-1.0.0.tgz", File::new(tarball.clone()));
    let integrity =
        format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball)));
    let dist = json!({ "tarball": other.url("dl/farpkg-1.0.0.tgz"), "integrity": integrity });
    let packument = json!({
        "name": "farpkg", "dist-tags": { "latest": "1.0.0" },
        "versions": { "1.0.0": { "name": "farpkg", "version": "1.0.0", "dist": dist } },
    });
    index.put(NPM_PACKUMENT, File::new(packument.to_string()).content_type("application/json"));

    let wheel = file_bytes("pypi");
    other.put(&format!("files/{WHEEL}"), File::new(wheel.clone()));
    let page = json!({
        "meta": { "api-version": "1.0" }, "name": "far-lib",
        "files": [{ "filename": WHEEL, "url": other.url(&format!("files/{WHEEL}")),
                    "hashes": { "sha256": sha256_hex(&wheel) } }],
    });
    index.put(PYPI_PAGE, File::new(page.to_string()).content_type(PYPI_JSON));
}

/// Each package type's remote: (name, type, base path, the index to read, Accept).
const REMOTES: [(&str, &str, &str, &str, &str); 3] = [
    ("charts", "helm", "helm/", "index.yaml", "*/*"),
    ("npm", "npm", "npm/", "farpkg", "application/json"),
    ("pypi", "pypi", "pypi/", "simple/far-lib/", PYPI_JSON),
];

/// The URL of the file on the other host, as this server's index names it.
fn served_file_url(kind: &str, index: &Fetched) -> String {
    match kind {
        "helm" => {
            let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&index.body).expect("index.yaml");
            yaml["entries"]["far"][0]["urls"][0].as_str().expect("a chart URL").to_string()
        }
        "npm" => index.json()["versions"]["1.0.0"]["dist"]["tarball"].as_str().expect("tarball").to_string(),
        _ => index.json()["files"][0]["url"].as_str().expect("file url").split('#').next().unwrap_or("").to_string(),
    }
}

async fn get(s: &Server, url: &str, accept: &str) -> Fetched {
    artifactapi_e2e::fetch(s.client().get(url).header("accept", accept)).await
}

/// The remote's circuit breaker, as `/api/v2/stats` reports it.
async fn breaker(s: &Server, remote: &str) -> String {
    let stats = s.get("/api/v2/stats").await.json();
    let repos = stats["repositories"].as_array().cloned().unwrap_or_default();
    let entry = repos.iter().find(|r| r["name"] == remote).unwrap_or_else(|| panic!("no {remote} in {stats}"));
    entry["breaker"].as_str().unwrap_or("?").to_string()
}

/// Cached objects of `remote` under `prefix`.
async fn cached(s: &Server, remote: &str, prefix: &str) -> u64 {
    let query = if prefix.is_empty() { String::new() } else { format!("?prefix={prefix}") };
    let r = s.get(&format!("/api/v2/remotes/{remote}/objects{query}")).await;
    r.json()["total"].as_u64().unwrap_or_else(|| panic!("{}", r.describe()))
}

fn remote_spec(name: &str, kind: &str, base_url: &str, allow: bool) -> Value {
    json!({ "name": name, "package_type": kind, "base_url": base_url, "allow_private_upstreams": allow })
}

/// A 502 that names the refused host, its address and the remote's setting.
fn assert_refused(r: &Fetched, remote: &str, what: &str) {
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{what}: {}", r.describe());
    let text = r.text();
    assert!(text.contains("127.0.0.2 resolves to 127.0.0.2, a private"), "{what}: {text}");
    assert!(text.contains(&format!("set allow_private_upstreams on remote {remote}")), "{what}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_an_index_places_on_a_private_host() {
    let index = Upstream::start().await;
    let other = Upstream::start_with(Ipv4Addr::new(127, 0, 0, 2), None).await;
    publish(&index, &other);
    // One refusal would open a breaker that counted it.
    let s = Server::start(Options::new(Storage::Fs, false).env("BREAKER_THRESHOLD", 1)).await;

    for (name, kind, base, doc, accept) in REMOTES {
        s.create_remote(remote_spec(name, kind, &index.url(base), false)).await;
        let served = get(&s, &s.proxy_url(name, doc), accept).await;
        assert_eq!(served.status, StatusCode::OK, "{name}: the index is on the base host: {}", served.describe());
        let file = served_file_url(kind, &served);
        assert!(file.starts_with(&s.proxy_url(name, "")), "{name}: {file}");
        for _ in 0..2 {
            assert_refused(&get(&s, &file, "*/*").await, name, name);
        }
        let on_other = format!("/{}", file_path(kind));
        assert_eq!(other.count(&on_other), 0, "{name}: no request reached 127.0.0.2");
        assert_eq!(breaker(&s, name).await, "closed", "{name}: refusals are not upstream faults");
        let path = file.strip_prefix(&s.proxy_url(name, "")).unwrap_or(&file).to_string();
        assert_eq!(cached(&s, name, &path).await, 0, "{name}: {path} is not cached");

        s.update_remote(name, remote_spec(name, kind, &index.url(base), true)).await;
        let r = get(&s, &file, "*/*").await;
        assert_eq!(r.status, StatusCode::OK, "{name}: allowed: {}\n{}", r.describe(), s.log_tail(20));
        assert_eq!(r.body.as_ref(), file_bytes(kind).as_slice(), "{name}");
        assert_eq!(other.count(&on_other), 1, "{name}: fetched from 127.0.0.2 once");
    }
}

fn file_path(kind: &str) -> String {
    match kind {
        "helm" => "charts/far-1.0.0.tgz".into(),
        "npm" => "dl/farpkg-1.0.0.tgz".into(),
        _ => format!("files/{WHEEL}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_and_token_realms_to_a_private_host() {
    let up = Upstream::start().await;
    let other = Upstream::start_with(Ipv4Addr::new(127, 0, 0, 2), None).await;
    let moved = pattern_bytes(20_000, 7);
    other.put("x.bin", File::new(moved.clone()));
    other.put("token", File::new(r#"{"token":"t0k3n","expires_in":60}"#).content_type("application/json"));
    up.put("go/x.bin", File::redirect(302, &other.url("x.bin")));
    up.put("here/y.bin", File::redirect(307, &up.url("y.bin")));
    up.put("y.bin", File::new(pattern_bytes(1000, 8)));
    let challenge = format!("Bearer realm=\"{}\",service=\"files\"", other.url("token"));
    up.put("auth/z.bin", File::new("authentication required").status(401).header("www-authenticate", &challenge));
    let s = Server::start(Options::new(Storage::Fs, false).env("BREAKER_THRESHOLD", 1)).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;

    // A redirect to the base host is followed; one to a private host is refused.
    assert_eq!(s.proxy_get("gen", "here/y.bin").await.status, StatusCode::OK);
    assert_refused(&s.proxy_get("gen", "go/x.bin").await, "gen", "redirect");
    assert_refused(&s.proxy_get("gen", "auth/z.bin").await, "gen", "token realm");
    assert_eq!(other.total(), 0, "no request reached 127.0.0.2");
    assert_eq!(up.count("/go/x.bin"), 1);
    assert_eq!(s.proxy_get("gen", "y.bin").await.status, StatusCode::OK, "the breaker stayed closed");
    assert_eq!(breaker(&s, "gen").await, "closed");
    s.wait_cached("gen", "y.bin").await;
    s.wait_cached("gen", "here/y.bin").await;
    assert_eq!(cached(&s, "gen", "").await, 2, "here/y.bin and y.bin only");

    let mut allowed = generic_remote("gen", &up.base_url());
    allowed["allow_private_upstreams"] = true.into();
    s.update_remote("gen", allowed).await;
    let r = s.proxy_get("gen", "go/x.bin").await;
    assert_eq!((r.status, r.body.as_ref()), (StatusCode::OK, moved.as_slice()), "{}", r.describe());
    let r = s.proxy_get("gen", "auth/z.bin").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "the upstream still says 401: {}", r.describe());
    assert!(r.text().contains("401"), "{}", r.describe());
    assert_eq!(other.count("/token"), 1, "the realm on 127.0.0.2 was asked for a token");
}

//! Helm remotes proven with the real helm client (helm-sdkpy, Helm v4) against static chart
//! repositories served by real upstreams. The main scenario, on every storage/coordination
//! configuration: an index naming its charts by a relative URL, a root-relative one, an
//! absolute one on the same host and one on another host (a second upstream); `helm repo add`,
//! `helm repo update` and `helm show chart` through artifactapi, each chart's bytes checked
//! against the index `digest`; then the same with both upstreams stopped and a fresh Helm home,
//! from the cache alone; each chart seen upstream exactly once. Then: a virtual of two helm
//! remotes (and a third that is down) merging both indexes for helm; a chart whose bytes do not
//! match its digest, a broken index (502 naming the remote, nothing cached), and hostile paths.

use std::time::Duration;

#[path = "helm/large.rs"]
mod large;

use artifactapi_e2e::helm::{ChartSource, HelmClient};
use artifactapi_e2e::{fetch, matrix, raw, sha256_hex, try_fetch, File, Options, Server, Storage, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::json;
use serde_yaml_ng::Value;

const REMOTE: &str = "charts";
const V1: &str = "1.0.0";
const GENERATED: &str = "2024-01-02T03:04:05Z";

/// One chart version as an upstream's index lists it.
struct Entry {
    name: String,
    version: String,
    digest: String,
    url: String,
}

impl Entry {
    fn new(name: &str, version: &str, body: &[u8], url: impl Into<String>) -> Entry {
        Entry { name: name.into(), version: version.into(), digest: sha256_hex(body), url: url.into() }
    }
}

/// An index as `helm repo index` writes it (block style, fields sorted).
fn index_yaml(entries: &[Entry]) -> String {
    let mut s = String::from("apiVersion: v1\nentries:\n");
    let mut last = "";
    for e in entries {
        if e.name != last {
            s.push_str(&format!("  {}:\n", e.name));
            last = &e.name;
        }
        s.push_str(&format!(
            "  - apiVersion: v2\n    created: \"{GENERATED}\"\n    description: chart {name}\n    digest: {digest}\n    name: {name}\n    type: application\n    urls:\n    - {url}\n    version: {version}\n",
            name = e.name,
            digest = e.digest,
            url = e.url,
            version = e.version
        ));
    }
    s.push_str(&format!("generated: \"{GENERATED}\"\n"));
    s
}

fn yaml(body: &[u8]) -> Value {
    serde_yaml_ng::from_slice(body)
        .unwrap_or_else(|e| panic!("index is not YAML ({e}):\n{}", String::from_utf8_lossy(body)))
}

/// The served entry of `name` `version`.
fn entry<'a>(index: &'a Value, name: &str, version: &str) -> &'a Value {
    let list = index["entries"][name].as_sequence().unwrap_or_else(|| panic!("{name} is not in the index:\n{index:?}"));
    list.iter().find(|e| e["version"].as_str() == Some(version)).unwrap_or_else(|| panic!("{name} {version} missing"))
}

fn every_url(index: &Value) -> Vec<String> {
    let charts = index["entries"].as_mapping().expect("entries");
    charts
        .values()
        .flat_map(|list| list.as_sequence().expect("versions").iter())
        .flat_map(|e| e["urls"].as_sequence().expect("urls").iter())
        .map(|u| u.as_str().expect("a URL").to_string())
        .collect()
}

/// The repository URL a helm user adds for remote `name`.
fn repo_url(s: &Server, name: &str) -> String {
    s.url(&format!("/api/v1/remote/{name}"))
}

const NAMES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

async fn helm_through_a_remote_and_from_cache_alone(opts: Options) {
    let helm = HelmClient::new();
    let sources: Vec<ChartSource> = NAMES.iter().map(|n| ChartSource::new(n, V1, &format!("{n} chart"))).collect();
    let charts = helm.package(&sources).await;
    let (up, other) = (Upstream::start().await, Upstream::start().await);
    // Where each chart lives, and how the index names it.
    let layout: [(&str, &Upstream, &str, String); 4] = [
        ("alpha", &up, "/repo/alpha-1.0.0.tgz", "alpha-1.0.0.tgz".into()),
        ("beta", &up, "/pool/beta-1.0.0.tgz", "/pool/beta-1.0.0.tgz".into()),
        ("gamma", &up, "/repo/sub/gamma-1.0.0.tgz", up.url("repo/sub/gamma-1.0.0.tgz")),
        ("delta", &other, "/files/delta-1.0.0.tgz", other.url("files/delta-1.0.0.tgz")),
    ];
    let bytes = |name: &str| charts[&(name.to_string(), V1.to_string())].clone();
    let mut entries = Vec::new();
    for (name, host, path, url) in &layout {
        host.put(path, File::new(bytes(name)).content_type("application/gzip"));
        entries.push(Entry::new(name, V1, &bytes(name), url.clone()));
    }
    up.put("/repo/index.yaml", File::new(index_yaml(&entries)).content_type("application/x-yaml"));
    // The repository needs credentials; the other host must never see them.
    up.require_basic_auth(Some(("helm", "s3cret")));
    let s = Server::start(opts).await;
    // The other host is another port on loopback: a private address, so the remote allows it.
    let spec = json!({ "name": REMOTE, "package_type": "helm", "base_url": up.url("repo/"), "mutable_ttl": 1,
        "username": "helm", "password": "s3cret", "allow_private_upstreams": true });
    s.create_remote(spec).await;

    // The served index: the upstream's entries, every chart URL on this server.
    let r = s.proxy_get(REMOTE, "index.yaml").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert!(r.header("content-type").is_some_and(|c| c.contains("yaml")), "{}", r.describe());
    let index = yaml(&r.body);
    let public = s.proxy_url(REMOTE, "");
    for (name, ..) in &layout {
        let e = entry(&index, name, V1);
        let want = format!("{public}charts/{name}/{V1}/{name}-{V1}.tgz");
        assert_eq!(e["urls"].as_sequence().map(Vec::len), Some(1), "{name}");
        assert_eq!(e["urls"][0].as_str(), Some(want.as_str()), "{name}");
        assert_eq!(e["digest"].as_str(), Some(sha256_hex(&bytes(name)).as_str()), "{name}: digest kept");
        assert_eq!(e["description"].as_str(), Some(format!("chart {name}").as_str()), "{name}: fields kept");
    }
    assert!(every_url(&index).iter().all(|u| u.starts_with(&public)), "{index:?}");

    // The helm client: repo add, repo update, show chart (which downloads each chart).
    let shown = helm.show("proxy", &repo_url(&s, REMOTE), &NAMES).await.unwrap_or_else(|e| {
        panic!("{e}\nserver log:\n{}", s.log_tail(40));
    });
    for name in NAMES {
        assert!(shown[name].contains(&format!("name: {name}")), "{name}: {}", shown[name]);
        assert!(shown[name].contains(&format!("version: {V1}")), "{name}: {}", shown[name]);
    }
    for (name, host, path, _) in &layout {
        assert_eq!(host.count(path), 1, "{name}: helm downloaded it through the proxy");
    }
    let to_other = other.requests("/files/delta-1.0.0.tgz");
    assert!(to_other.iter().all(|r| r.header("authorization").is_none()), "credentials sent to another host");
    for (name, host, path, _) in &layout {
        let url = entry(&index, name, V1)["urls"][0].as_str().unwrap().to_string();
        let r = fetch(s.client().get(&url)).await;
        assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.describe());
        assert_eq!(
            sha256_hex(&r.body),
            entry(&index, name, V1)["digest"].as_str().unwrap(),
            "{name}: the index digest"
        );
        s.wait_cached(REMOTE, url.strip_prefix(&public).unwrap()).await;
        assert_eq!(host.count(path), 1, "{name}: fetched upstream once");
    }

    // Both upstreams down, the index past its TTL, a fresh Helm home: all from the cache.
    up.down().await;
    other.down().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = HelmClient::new().show("proxy", &repo_url(&s, REMOTE), &NAMES).await;
    assert_eq!(again.as_ref(), Ok(&shown), "the same charts from the cache alone\n{}", s.log_tail(40));
    let r = s.proxy_get(REMOTE, "index.yaml").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "STALE"), "{}", r.describe());
    for (name, host, path, _) in &layout {
        let r = s.proxy_get(REMOTE, &format!("charts/{name}/{V1}/{name}-{V1}.tgz")).await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{name}: {}", r.describe());
        assert!(r.body == bytes(name), "{name}: bytes differ from the upstream's");
        assert_eq!(host.count(path), 1, "{name}: still fetched upstream exactly once");
    }
}
matrix!(helm_through_a_remote_and_from_cache_alone);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_merges_two_helm_remotes() {
    let helm = HelmClient::new();
    let from_a =
        helm.package(&[ChartSource::new("alpha", V1, "from a"), ChartSource::new("shared", V1, "from a")]).await;
    let from_b = helm
        .package(&[
            ChartSource::new("delta", V1, "from b"),
            ChartSource::new("shared", V1, "from b"),
            ChartSource::new("shared", "2.0.0", "from b"),
        ])
        .await;
    let (ua, ub, dead) = (Upstream::start().await, Upstream::start().await, Upstream::start().await);
    dead.down().await;
    for (up, charts) in [(&ua, &from_a), (&ub, &from_b)] {
        let mut entries = Vec::new();
        // Newest first, as `helm repo index` writes them: shared, then the member's own chart.
        for ((name, version), body) in charts.iter().rev() {
            let file = format!("{name}-{version}.tgz");
            up.put(&file, File::new(body.clone()));
            entries.push(Entry::new(name, version, body, file));
        }
        up.put("index.yaml", File::new(index_yaml(&entries)));
    }
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    for (name, up) in [("ra", &ua), ("rb", &ub), ("rdead", &dead)] {
        s.create_remote(json!({ "name": name, "package_type": "helm", "base_url": up.base_url() })).await;
    }
    let spec = json!({ "name": "all", "package_type": "helm", "members": ["ra", "rb", "rdead"] });
    assert_eq!(s.send_json(Method::POST, "/api/v2/virtuals", &spec).await.status, StatusCode::CREATED);

    let r = fetch(s.client().get(s.url("/api/v1/virtual/all/index.yaml"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(r.header("x-artifactapi-unavailable"), Some("rdead"), "the down member is named");
    let index = yaml(&r.body);
    let charts: Vec<&str> = index["entries"].as_mapping().unwrap().keys().filter_map(Value::as_str).collect();
    assert_eq!(charts, ["shared", "alpha", "delta"], "charts in first-seen order");
    let url = |e: &Value| e["urls"][0].as_str().unwrap().to_string();
    assert_eq!(url(entry(&index, "shared", V1)), s.proxy_url("ra", "charts/shared/1.0.0/shared-1.0.0.tgz"));
    assert_eq!(url(entry(&index, "shared", "2.0.0")), s.proxy_url("rb", "charts/shared/2.0.0/shared-2.0.0.tgz"));
    assert_eq!(url(entry(&index, "delta", V1)), s.proxy_url("rb", "charts/delta/1.0.0/delta-1.0.0.tgz"));
    assert_ne!(index["generated"].as_str(), Some(GENERATED), "generated is the merge's own time");
    assert!(every_url(&index).iter().all(|u| u.starts_with(&s.url("/api/v1/remote/"))), "{index:?}");

    let shown = helm.show("all", &s.url("/api/v1/virtual/all"), &["alpha", "delta", "shared"]).await;
    let shown = shown.unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", s.log_tail(40)));
    assert!(shown["alpha"].contains("description: from a"), "{}", shown["alpha"]);
    assert!(shown["delta"].contains("description: from b"), "{}", shown["delta"]);
    assert!(shown["shared"].contains("version: 2.0.0"), "helm takes the newest version: {}", shown["shared"]);
    let first = fetch(s.client().get(url(entry(&index, "shared", V1)))).await;
    assert!(first.body == from_a[&("shared".to_string(), V1.to_string())], "shared 1.0.0 is the first member's");
    assert_eq!((ua.count("/shared-1.0.0.tgz"), ub.count("/shared-1.0.0.tgz")), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_digests_broken_indexes_and_hostile_paths() {
    let helm = HelmClient::new();
    let charts = helm.package(&[ChartSource::new("good", V1, "good"), ChartSource::new("bad", V1, "tampered")]).await;
    let good = charts[&("good".to_string(), V1.to_string())].clone();
    let up = Upstream::start().await;
    up.put("/repo/good-1.0.0.tgz", File::new(good.clone()));
    up.put("/repo/bad-1.0.0.tgz", File::new(charts[&("bad".to_string(), V1.to_string())].clone()));
    // `bad` is listed with the digest of `good`: its bytes cannot match.
    let entries = [Entry::new("bad", V1, &good, "bad-1.0.0.tgz"), Entry::new("good", V1, &good, "good-1.0.0.tgz")];
    up.put("/repo/index.yaml", File::new(index_yaml(&entries)));
    up.put("/broken/index.yaml", File::new("apiVersion: v1\nentries:\n  a: [{version: 1.0.0, urls: [a.tgz]\n"));
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "helm", "base_url": up.url("repo/") })).await;
    s.create_remote(json!({ "name": "broken", "package_type": "helm", "base_url": up.url("broken/") })).await;

    // A chart that does not match its digest: the client's body is cut, nothing is cached.
    let bad = "charts/bad/1.0.0/bad-1.0.0.tgz";
    for attempt in 1..=2 {
        let got = try_fetch(s.client().get(s.proxy_url(REMOTE, bad))).await;
        assert!(got.as_ref().map_or(true, |r| r.status != StatusCode::OK), "attempt {attempt}: served {got:?}");
        assert_eq!(up.count("/repo/bad-1.0.0.tgz"), attempt, "not cached: asked upstream again");
    }
    let r = s.proxy_get(REMOTE, "charts/good/1.0.0/good-1.0.0.tgz").await;
    assert_eq!((r.status, sha256_hex(&r.body)), (StatusCode::OK, sha256_hex(&good)), "{}", r.describe());

    // A broken index: 502 naming the remote and the problem; nothing cached.
    for _ in 0..2 {
        let r = s.proxy_get("broken", "index.yaml").await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
        let m = r.error_message();
        assert!(m.contains("broken") && m.contains("not valid YAML"), "{}", r.describe());
    }
    assert_eq!(up.count("/broken/index.yaml"), 2, "the broken index was not cached");
    let objects = s.get("/api/v2/remotes/broken/objects").await.json();
    assert_eq!(objects["total"].as_u64(), Some(0), "{objects}");

    // Hostile paths: refused before any upstream is asked; unlisted charts are 404.
    let seen = up.total();
    let long = format!("charts/{}/1.0.0/x-1.0.0.tgz", "n".repeat(200));
    let bad_request = [
        "charts/..%2f..%2fetc/1.0.0/x.tgz",
        "charts/a%2fb/1.0.0/a.tgz",
        "charts/good/1.0.0/%2e%2e.tgz",
        "charts/good/..%5c1.0.0/good-1.0.0.tgz",
        "charts/good/1.0.0/good%00.tgz",
        "charts/good/1.0.0/../../index.yaml",
        "charts/go od/1.0.0/good-1.0.0.tgz",
        "charts/good/1.0.0;x/good-1.0.0.tgz",
        long.as_str(),
    ];
    for path in bad_request {
        let r = raw::request(s.port(), "GET", &format!("/api/v1/remote/{REMOTE}/{path}")).await;
        assert_eq!(r.status, 400, "{path}: {}", r.head);
    }
    assert_eq!(up.total(), seen, "no hostile path reached the upstream");
    for path in ["charts/good/9.9.9/good-9.9.9.tgz", "charts/good/1.0.0/other.tgz", "charts/none/1.0.0/none-1.0.0.tgz"]
    {
        let r = s.proxy_get(REMOTE, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.describe());
        assert!(r.error_message().contains("not listed"), "{path}: {}", r.describe());
    }
    assert_eq!(up.count("/repo/good-1.0.0.tgz"), 1, "unlisted names never reach a chart");
}

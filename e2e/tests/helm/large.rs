//! Real sizes: an `index.yaml` of 50 MB (500 charts of 100 versions, the fields real indexes
//! carry; `artifactapi::formats::fixtures`), one version of one chart a real archive made by
//! helm. The real helm client adds the repository, updates it and shows that chart through a
//! remote, then through a virtual of that remote and another whose index lists ten more
//! charts; the chart is fetched upstream once and matches its digest, and every served chart
//! URL is on PUBLIC_URL.

use artifactapi::formats::fixtures::{helm_chart_file, helm_index, helm_index_with};
use artifactapi_e2e::helm::{ChartSource, HelmClient};
use artifactapi_e2e::{sha256_hex, File, Options, Server, Storage, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{entry, yaml};

const CHARTS: usize = 500;
const VERSIONS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_with_an_index_of_50_mb() {
    let helm = HelmClient::new();
    // The newest version of chart-7, the one `helm show chart` takes.
    let (chart, version) = ("chart-7", format!("1.{}.0", VERSIONS - 1));
    let archive = helm.package(&[ChartSource::new(chart, &version, "a real chart in a large index")]).await;
    let tgz = archive[&(chart.to_string(), version.clone())].clone();
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let index_a = helm_index_with(CHARTS, VERSIONS, &[(7, VERSIONS - 1, tgz.as_slice())]);
    assert!(index_a.len() > 45 << 20, "a real-size index: {} bytes", index_a.len());
    a.put("index.yaml", File::new(index_a).content_type("application/x-yaml"));
    let file = helm_chart_file(7, VERSIONS - 1);
    a.put(&file, File::new(tgz.clone()).content_type("application/gzip"));
    b.put("index.yaml", File::new(helm_index(CHARTS + 10, VERSIONS)).content_type("application/x-yaml"));
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    for (name, up) in [("big", &a), ("more", &b)] {
        s.create_remote(json!({ "name": name, "package_type": "helm", "base_url": up.base_url(), "mutable_ttl": 300 }))
            .await;
    }
    let spec = json!({ "name": "both", "package_type": "helm", "members": ["big", "more"] });
    assert_eq!(s.send_json(Method::POST, "/api/v2/virtuals", &spec).await.status, StatusCode::CREATED);

    let shown = helm.show("big", &s.url("/api/v1/remote/big"), &[chart]).await;
    let shown = shown.unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", s.log_tail(40)));
    assert!(shown[chart].contains(&format!("version: {version}")), "{}", shown[chart]);
    assert!(shown[chart].contains("a real chart in a large index"), "{}", shown[chart]);
    let served = format!("charts/{chart}/{version}/{file}");
    let cached = s.wait_cached("big", &served).await;
    assert_eq!(sha256_hex(&cached.body), sha256_hex(&tgz), "the chart is the upstream's bytes");
    assert_eq!(a.count(&format!("/{file}")), 1, "fetched upstream once");

    let r = s.proxy_get("big", "index.yaml").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{}", r.describe());
    let text = String::from_utf8_lossy(&r.body);
    let public = s.proxy_url("big", "charts/");
    assert_eq!(text.matches(public.as_str()).count(), CHARTS * VERSIONS, "every chart URL on PUBLIC_URL");
    assert!(!text.contains(&a.base_url()), "no URL of the upstream is served");
    let index = yaml(&r.body);
    let e = entry(&index, chart, &version);
    assert_eq!(e["digest"].as_str(), Some(sha256_hex(&tgz).as_str()));
    assert_eq!(e["urls"][0].as_str(), Some(s.proxy_url("big", &served).as_str()));
    assert_eq!(index["entries"].as_mapping().map(|m| m.len()), Some(CHARTS));

    // The virtual: the first member's charts, and the ten only the second lists.
    let shown = HelmClient::new().show("both", &s.url("/api/v1/virtual/both"), &[chart]).await;
    let shown = shown.unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", s.log_tail(40)));
    assert!(shown[chart].contains("a real chart in a large index"), "{}", shown[chart]);
    let r = s.get("/api/v1/virtual/both/index.yaml").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    let merged = yaml(&r.body);
    assert_eq!(merged["entries"].as_mapping().map(|m| m.len()), Some(CHARTS + 10));
    let url = |c: &str, v: &str| entry(&merged, c, v)["urls"][0].as_str().unwrap_or_default().to_string();
    assert_eq!(url(chart, &version), s.proxy_url("big", &served));
    assert!(url(&format!("chart-{}", CHARTS + 3), "1.0.0").starts_with(&s.proxy_url("more", "charts/")));
    assert_eq!(a.count(&format!("/{file}")), 1, "the virtual serves the cached chart");
}

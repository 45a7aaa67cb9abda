//! pypi remotes and virtuals proven with the real pip and uv against the real pypiserver (an
//! HTML-only index, as PEP 503 has it), behind the harness's counting proxy: two wheels built
//! by the test (`beta-app` depending on `Alpha_Lib`) install through a remote, then again with
//! the upstream down and fresh clients (pages STALE, wheels HIT), and through a virtual of two
//! remotes each holding one of them. Each wheel reaches the upstream exactly once; pages come
//! in both forms (JSON even from an HTML-only upstream) with every file URL on PUBLIC_URL.
//! `edges` covers what a static upstream shows better: PEP 658 metadata and files on another
//! host, digest mismatches, malformed pages and hostile names.

mod edges;
mod large;
mod tools;

use std::time::Duration;

use artifactapi_e2e::counting::CountingProxy;
use artifactapi_e2e::{matrix, raw, Fetched, Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tools::{assert_installed, build_wheels, dist_dir, pip_install, uv_install, PypiServer, Wheel};

const REMOTE: &str = "py";
/// What pip 22.2 and later send.
pub const PIP_ACCEPT: &str =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

/// GET `path` of a repository (`remote/NAME` or `virtual/NAME`) with an `Accept` header.
pub async fn get_page(s: &Server, repo: &str, path: &str, accept: &str) -> Fetched {
    let url = s.url(&format!("/api/v1/{repo}/{path}"));
    artifactapi_e2e::fetch(s.client().get(url).header("accept", accept)).await
}

/// Every `href` of an HTML page.
pub fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_string).collect()
}

/// A project page in both forms: the right content types, `Vary: Accept`, the wheel's URL on
/// this server with its digest, and no URL anywhere else.
pub async fn check_project_page(s: &Server, repo: &str, file_repo: &str, w: &Wheel) {
    let public = s.url(&format!("/api/v1/{file_repo}/"));
    let page = get_page(s, repo, &format!("simple/{}/", w.project), PIP_ACCEPT).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    assert_eq!(page.header("content-type"), Some("application/vnd.pypi.simple.v1+json"));
    assert_eq!(page.header("vary"), Some("Accept"));
    let v = page.json();
    assert_eq!(v["meta"]["api-version"], "1.0");
    assert_eq!(v["name"], w.project);
    assert_eq!(v["files"][0]["url"], format!("{public}{}", w.served_at()), "{v}");
    assert_eq!(v["files"][0]["hashes"]["sha256"], w.sha256.as_str(), "{v}");
    assert_eq!(v["files"].as_array().map(Vec::len), Some(1), "{v}");

    let html = get_page(s, repo, &format!("simple/{}/", w.project), "text/html").await;
    assert_eq!(html.status, StatusCode::OK, "{}", html.describe());
    assert_eq!(html.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(html.header("vary"), Some("Accept"));
    assert_eq!(hrefs(&html.text()), [format!("{public}{}#sha256={}", w.served_at(), w.sha256)], "{}", html.text());
    let v1 = get_page(s, repo, &format!("simple/{}/", w.project), "application/vnd.pypi.simple.v1+html").await;
    assert_eq!(v1.header("content-type"), Some("application/vnd.pypi.simple.v1+html"));
    assert_eq!(v1.body, html.body, "one HTML form, two names");
}

/// The index in both forms lists both projects.
pub async fn check_index(s: &Server, repo: &str) {
    let index = get_page(s, repo, "simple/", PIP_ACCEPT).await;
    assert_eq!(index.status, StatusCode::OK, "{}", index.describe());
    let names: Vec<String> =
        index.json()["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["alpha-lib", "beta-app"], "{}", index.describe());
    let html = get_page(s, repo, "simple/", "text/html").await;
    assert_eq!(hrefs(&html.text()), ["alpha-lib/", "beta-app/"], "{}", html.text());
}

/// Non-normalised names and missing slashes are redirected the way pip expects.
pub async fn check_redirects(s: &Server, repo: &str) {
    let prefix = format!("/api/v1/{repo}/");
    for (path, to) in [
        ("simple", "simple/"),
        ("simple/Alpha_Lib/", "simple/alpha-lib/"),
        ("simple/alpha-lib", "simple/alpha-lib/"),
        ("simple/ALPHA.lib", "simple/alpha-lib/"),
        ("simple/Beta_App/beta_app-1.0.0-py3-none-any.whl", "simple/beta-app/beta_app-1.0.0-py3-none-any.whl"),
    ] {
        let r = raw::request(s.port(), "GET", &format!("{prefix}{path}")).await;
        assert_eq!(r.status, 301, "{path}: {}", r.head);
        assert_eq!(r.header("location"), Some(format!("{prefix}{to}").as_str()), "{path}");
    }
}

async fn pip_and_uv_install_through_a_remote_and_from_cache_alone(opts: Options) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let w = build_wheels(root).await;
    let pypi = PypiServer::start(&dist_dir(root, "dist", &[&w.alpha, &w.beta])).await;
    let up = CountingProxy::start(&pypi.url()).await;
    let s = Server::start(opts).await;
    let spec = json!({ "name": REMOTE, "package_type": "pypi", "base_url": up.base_url(), "mutable_ttl": 1 });
    s.create_remote(spec).await;
    let index = s.url(&format!("/api/v1/remote/{REMOTE}/simple/"));

    assert_installed(&pip_install(&index, root, "pip1", "beta-app").await).await;
    assert_installed(&uv_install(&index, root, "uv1", "beta-app").await).await;
    let remote = format!("remote/{REMOTE}");
    for wheel in [&w.alpha, &w.beta] {
        check_project_page(&s, &remote, &remote, wheel).await;
        let cached = s.wait_cached(REMOTE, &wheel.served_at()).await;
        assert!(cached.body == wheel.bytes, "{}: the bytes pypiserver has", wheel.file);
    }
    check_index(&s, &remote).await;
    check_redirects(&s, &remote).await;

    up.down().await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // past mutable_ttl: pages go stale
    assert_installed(&pip_install(&index, root, "pip2", "beta-app").await).await;
    assert_installed(&uv_install(&index, root, "uv2", "beta-app").await).await;
    let page = get_page(&s, &remote, "simple/beta-app/", PIP_ACCEPT).await;
    assert_eq!((page.status, page.x_cache()), (StatusCode::OK, "STALE"), "{}", page.describe());
    for wheel in [&w.alpha, &w.beta] {
        let seen = up.count("GET", &format!("/packages/{}", wheel.file));
        assert_eq!(seen, 1, "{}: the upstream saw it exactly once; all: {:?}", wheel.file, up.all());
    }
}
matrix!(pip_and_uv_install_through_a_remote_and_from_cache_alone);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_and_uv_install_through_a_virtual_of_two_remotes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let w = build_wheels(root).await;
    let pypi_a = PypiServer::start(&dist_dir(root, "dist-a", &[&w.alpha])).await;
    let pypi_b = PypiServer::start(&dist_dir(root, "dist-b", &[&w.beta])).await;
    let (up_a, up_b) = (CountingProxy::start(&pypi_a.url()).await, CountingProxy::start(&pypi_b.url()).await);
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({ "name": "py-a", "package_type": "pypi", "base_url": up_a.base_url() })).await;
    s.create_remote(json!({ "name": "py-b", "package_type": "pypi", "base_url": up_b.base_url() })).await;
    let spec = json!({ "name": "py-all", "package_type": "pypi", "members": ["py-b", "py-a"] });
    let r = s.send_json(Method::POST, "/api/v2/virtuals", &spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let index = s.url("/api/v1/virtual/py-all/simple/");

    assert_installed(&pip_install(&index, root, "pip", "beta-app").await).await;
    assert_installed(&uv_install(&index, root, "uv", "beta-app").await).await;
    check_index(&s, "virtual/py-all").await;
    check_project_page(&s, "virtual/py-all", "remote/py-a", &w.alpha).await;
    check_project_page(&s, "virtual/py-all", "remote/py-b", &w.beta).await;
    check_redirects(&s, "virtual/py-all").await;
    let seen = |up: &CountingProxy, wheel: &Wheel| up.count("GET", &format!("/packages/{}", wheel.file));
    assert_eq!((seen(&up_a, &w.alpha), seen(&up_b, &w.beta)), (1, 1), "{:?} {:?}", up_a.all(), up_b.all());
    // A file through the virtual itself comes from the member that lists it.
    let r = s.get(&format!("/api/v1/virtual/py-all/{}", w.alpha.served_at())).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{}", r.describe());

    // A member down: its cached pages still count; what it would have to be asked is a 502
    // naming it, not a 404 that could be wrong.
    up_a.down().await;
    let page = get_page(&s, "virtual/py-all", "simple/alpha-lib/", PIP_ACCEPT).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    assert_eq!(page.json()["files"][0]["filename"], w.alpha.file.as_str());
    let r = get_page(&s, "virtual/py-all", "simple/gamma/", PIP_ACCEPT).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    assert_eq!(r.header("x-artifactapi-unavailable"), Some("py-a"), "{}", r.describe());
    assert_eq!(up_b.count("GET", "/simple/gamma/"), 1);
}

//! Real sizes: a project page of 10,000 files (`artifactapi::formats::fixtures`), one of them
//! the real `alpha-lib` 1.0.0 wheel, served by two static upstreams, one in each form (PEP 503
//! HTML, PEP 691 JSON). pip and uv install that one file through a remote of each and through a
//! virtual of both; each wheel is fetched upstream once and cached as the upstream's bytes, and
//! every page lists all 10,000 files, each on PUBLIC_URL.

use artifactapi::formats::fixtures::{pypi_file, pypi_project_with};
use artifactapi_e2e::{File, Options, Server, Storage, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::tools::{build_wheels, output, pip_install, uv_install, venv};
use super::{get_page, hrefs, PIP_ACCEPT};

const PROJECT: &str = "alpha-lib";
const FILES: usize = 10_000;

/// `alpha_lib.hello()` from an install target.
async fn assert_alpha(target: &std::path::Path) {
    let out = output(
        &venv("python"),
        &["-c", "import alpha_lib; print(alpha_lib.hello())"],
        &[("PYTHONPATH", &target.display().to_string()), ("PYTHONDONTWRITEBYTECODE", "1")],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alpha", "{}", String::from_utf8_lossy(&out.stderr));
}

/// The page through `repo` in both forms: every file listed, each on `public`.
async fn check_pages(s: &Server, repo: &str, public: &str, sha256: &str) {
    let page = get_page(s, repo, &format!("simple/{PROJECT}/"), PIP_ACCEPT).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    let v = page.json();
    let files = v["files"].as_array().unwrap_or_else(|| panic!("no files: {}", page.describe()));
    assert_eq!(files.len(), FILES);
    for (i, f) in files.iter().enumerate() {
        let file = pypi_file(PROJECT, i);
        assert_eq!(f["filename"], file.as_str());
        assert_eq!(f["url"], format!("{public}simple/{PROJECT}/{file}"));
    }
    assert_eq!(files[0]["hashes"]["sha256"], sha256);
    let html = get_page(s, repo, &format!("simple/{PROJECT}/"), "text/html").await;
    assert_eq!(html.status, StatusCode::OK, "{}", html.describe());
    let links = hrefs(&html.text());
    assert_eq!(links.len(), FILES);
    assert!(links.iter().all(|l| l.starts_with(&format!("{public}simple/{PROJECT}/"))));
    assert_eq!(links[0], format!("{public}simple/{PROJECT}/{}#sha256={sha256}", pypi_file(PROJECT, 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_and_uv_install_one_file_of_a_project_of_10000_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let alpha = build_wheels(root).await.alpha;
    let file = pypi_file(PROJECT, 0);
    assert!(file.ends_with("-1.0.0-py3-none-any.whl"), "{file}");
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    for (up, json_form) in [(&a, false), (&b, true)] {
        let real = [(file.as_str(), alpha.bytes.as_slice(), alpha.metadata.as_slice())];
        let project = pypi_project_with(PROJECT, FILES, &up.url("packages/"), &real);
        let page = match json_form {
            false => File::new(project.html).content_type("text/html"),
            true => File::new(project.json).content_type("application/vnd.pypi.simple.v1+json"),
        };
        up.put(&format!("simple/{PROJECT}/"), page);
        up.put(&format!("packages/{file}"), File::new(alpha.bytes.clone()));
        up.put(&format!("packages/{file}.metadata"), File::new(alpha.metadata.clone()));
    }
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    for (name, up) in [("html", &a), ("json", &b)] {
        s.create_remote(json!({ "name": name, "package_type": "pypi", "base_url": up.base_url(), "mutable_ttl": 300 }))
            .await;
    }
    let spec = json!({ "name": "both", "package_type": "pypi", "members": ["html", "json"] });
    let r = s.send_json(Method::POST, "/api/v2/virtuals", &spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());

    let pin = format!("{PROJECT}==1.0.0");
    let index = |repo: &str| s.url(&format!("/api/v1/{repo}/simple/"));
    assert_alpha(&pip_install(&index("remote/html"), root, "pip-html", &pin).await).await;
    assert_alpha(&uv_install(&index("remote/json"), root, "uv-json", &pin).await).await;
    assert_alpha(&pip_install(&index("virtual/both"), root, "pip-both", &pin).await).await;
    assert_alpha(&uv_install(&index("virtual/both"), root, "uv-both", &pin).await).await;

    let served = format!("simple/{PROJECT}/{file}");
    for (name, up) in [("html", &a), ("json", &b)] {
        let cached = s.wait_cached(name, &served).await;
        assert!(cached.body == alpha.bytes, "{name}: the wheel is the upstream's bytes");
        assert_eq!(up.count(&format!("/packages/{file}")), 1, "{name}: fetched upstream once");
        let public = s.url(&format!("/api/v1/remote/{name}/"));
        check_pages(&s, &format!("remote/{name}"), &public, &alpha.sha256).await;
    }
    // The virtual lists each file once, from its first member.
    check_pages(&s, "virtual/both", &s.url("/api/v1/remote/html/"), &alpha.sha256).await;
}

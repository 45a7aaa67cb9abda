//! What a static upstream (the harness's [`Upstream`], whose pages the test writes) shows
//! better than pypiserver: a PEP 691 JSON index whose files and PEP 658 metadata live on
//! another host, installed by pip and uv (each file and metadata file fetched upstream once);
//! a wheel whose bytes do not match its page's `#sha256=` (never cached, pip fails); malformed
//! pages (502 naming the remote, nothing cached, a good older copy kept); hostile names (400 or
//! 404 before the upstream is asked).

use std::time::Duration;

use artifactapi_e2e::{raw, File, Options, Server, Storage, Upstream};
use reqwest::StatusCode;
use serde_json::json;

use super::tools::{assert_installed, build_wheels, pip_install, pip_install_fails, uv_install};
use super::{get_page, hrefs, PIP_ACCEPT, REMOTE};

const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";

async fn server_with_remote(up: &Upstream) -> Server {
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    // Files "on another host" are on another loopback port: private, so the remote allows it.
    let spec = json!({ "name": REMOTE, "package_type": "pypi", "base_url": up.base_url(), "mutable_ttl": 1,
        "allow_private_upstreams": true });
    s.create_remote(spec).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pep_658_metadata_and_files_on_another_host() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let w = build_wheels(root).await;
    let (index, files) = (Upstream::start().await, Upstream::start().await);
    let sha = artifactapi_e2e::sha256_hex;
    // alpha: a JSON page whose file and metadata are on the files host.
    let alpha_url = files.url(&format!("f/{}", w.alpha.file));
    let alpha_page = json!({
        "meta": { "api-version": "1.0" }, "name": "alpha-lib",
        "files": [{ "filename": w.alpha.file, "url": alpha_url, "hashes": { "sha256": w.alpha.sha256 },
                    "requires-python": ">=3.8", "core-metadata": { "sha256": sha(&w.alpha.metadata) } }],
    });
    index.put("simple/alpha-lib/", File::new(alpha_page.to_string()).content_type(JSON_TYPE));
    files.put(&format!("f/{}", w.alpha.file), File::new(w.alpha.bytes.clone()));
    files.put(&format!("f/{}.metadata", w.alpha.file), File::new(w.alpha.metadata.clone()));
    // beta: an HTML page with a relative link on the index host.
    let beta_page = format!(
        "<!DOCTYPE html><html><body><a href=\"../../packages/{0}#sha256={1}\" data-requires-python=\"&gt;=3.8\" \
         data-dist-info-metadata=\"sha256={2}\">{0}</a></body></html>",
        w.beta.file,
        w.beta.sha256,
        sha(&w.beta.metadata)
    );
    index.put("simple/beta-app/", File::new(beta_page).content_type("text/html"));
    index.put(&format!("packages/{}", w.beta.file), File::new(w.beta.bytes.clone()));
    index.put(&format!("packages/{}.metadata", w.beta.file), File::new(w.beta.metadata.clone()));
    let s = server_with_remote(&index).await;
    let simple = s.url(&format!("/api/v1/remote/{REMOTE}/simple/"));

    assert_installed(&pip_install(&simple, root, "pip", "beta-app").await).await;
    assert_installed(&uv_install(&simple, root, "uv", "beta-app").await).await;
    for (up, path) in [
        (&files, format!("/f/{}", w.alpha.file)),
        (&files, format!("/f/{}.metadata", w.alpha.file)),
        (&index, format!("/packages/{}", w.beta.file)),
        (&index, format!("/packages/{}.metadata", w.beta.file)),
    ] {
        assert_eq!(up.count(&path), 1, "{path}: fetched upstream exactly once (pip and uv read the metadata first)");
    }
    // The JSON upstream's page in HTML, and the HTML upstream's page in JSON.
    let public = s.url(&format!("/api/v1/remote/{REMOTE}/"));
    let html = get_page(&s, &format!("remote/{REMOTE}"), "simple/alpha-lib/", "text/html").await.text();
    let meta = format!("sha256={}", sha(&w.alpha.metadata));
    assert!(html.contains(&format!("data-core-metadata=\"{meta}\"")), "{html}");
    assert!(html.contains(&format!("data-dist-info-metadata=\"{meta}\"")), "{html}");
    assert!(html.contains("data-requires-python=\"&gt;=3.8\""), "{html}");
    assert_eq!(hrefs(&html), [format!("{public}{}#sha256={}", w.alpha.served_at(), w.alpha.sha256)]);
    let v = get_page(&s, &format!("remote/{REMOTE}"), "simple/beta-app/", PIP_ACCEPT).await.json();
    assert_eq!(v["files"][0]["core-metadata"]["sha256"], sha(&w.beta.metadata), "{v}");
    assert_eq!(v["files"][0]["url"], format!("{public}{}", w.beta.served_at()), "{v}");
    let md = s.proxy_get(REMOTE, &format!("{}.metadata", w.alpha.served_at())).await;
    assert!(md.status == StatusCode::OK && md.body == w.alpha.metadata, "{}", md.describe());
    // What the page does not list is no file of this remote, whatever host it names.
    // (The page itself may be asked again: it went stale.)
    let others = || index.total() + files.total() - index.count("/simple/alpha-lib/");
    let before = others();
    for path in ["simple/alpha-lib/Alpha_Lib-9.9-py3-none-any.whl", "simple/alpha-lib/other.tar.gz.metadata"] {
        let r = s.proxy_get(REMOTE, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.describe());
        assert!(r.error_message().contains("not listed"), "{path}: {}", r.describe());
    }
    assert_eq!(others(), before, "unlisted files are never asked for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_does_not_match_its_digest_is_never_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let w = build_wheels(root).await;
    let up = Upstream::start().await;
    let wrong = "0".repeat(64);
    let page = format!("<html><body><a href=\"/packages/{0}#sha256={wrong}\">{0}</a></body></html>", w.alpha.file);
    up.put("simple/alpha-lib/", File::new(page).content_type("text/html"));
    let file_path = format!("/packages/{}", w.alpha.file);
    up.put(&file_path, File::new(w.alpha.bytes.clone()));
    let s = server_with_remote(&up).await;

    let simple = s.url(&format!("/api/v1/remote/{REMOTE}/simple/"));
    pip_install_fails(&simple, root, "pip", "alpha-lib").await;
    let after_pip = up.count(&file_path);
    assert!(after_pip >= 1, "pip asked for the file");
    for n in 1..=2 {
        let got = artifactapi_e2e::try_fetch(s.client().get(s.proxy_url(REMOTE, &w.alpha.served_at()))).await;
        match got {
            Ok(r) => assert!(r.status != StatusCode::OK || r.body != w.alpha.bytes, "a whole 200: {}", r.describe()),
            Err(e) => eprintln!("cut as expected: {e}"),
        }
        assert_eq!(up.count(&file_path), after_pip + n, "not cached: every request goes upstream again");
    }
    let r = s.get(&format!("/api/v2/remotes/{REMOTE}/objects?prefix=simple/alpha-lib/")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    let paths: Vec<String> =
        r.json()["objects"].as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(paths, ["simple/alpha-lib/"], "only the page is cached, not the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_pages_are_502_and_never_cached() {
    let up = Upstream::start().await;
    let s = server_with_remote(&up).await;
    let cases: &[(&str, &[u8], &str, &str)] = &[
        ("broken-html", b"<html><body><a href=\"/packages/x-1.0.tar.gz", "text/html", "unterminated"),
        ("bad-digest", b"<html><a href=\"x-1.0.tar.gz#sha256=xyz\">x</a></html>", "text/html", "malformed sha256"),
        ("binary", b"\xff\xfe\x00<\x00a", "text/html", "UTF-8"),
        ("broken-json", br#"{"meta":{"api-version":"1.0"},"files":[{"url":3}]}"#, JSON_TYPE, "files[0]"),
        ("future-json", br#"{"meta":{"api-version":"2.0"},"files":[]}"#, JSON_TYPE, "api-version"),
        ("truncated-json", br#"{"meta":{"api-version":"1.0"},"files":["#, JSON_TYPE, "invalid JSON"),
    ];
    for (project, body, content_type, why) in cases {
        up.put(&format!("simple/{project}/"), File::new(body.to_vec()).content_type(content_type));
        let path = format!("simple/{project}/");
        for (n, accept) in [PIP_ACCEPT, "text/html", PIP_ACCEPT].into_iter().enumerate() {
            let r = get_page(&s, &format!("remote/{REMOTE}"), &path, accept).await;
            assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{project}: {}", r.describe());
            let msg = r.error_message();
            assert!(msg.contains(&format!("remote {REMOTE}")) && msg.contains(why), "{project}: {msg}");
            assert_eq!(up.count(&format!("/{path}")), n + 1, "{project}: nothing cached, asked again");
        }
    }
    // A good page stays cached when its next version is broken: the good copy is served
    // (STALE) while the upstream sends the broken one, and once the upstream is down.
    let good = "<html><a href=\"/packages/flaky-1.0.tar.gz\">flaky-1.0.tar.gz</a></html>";
    up.put("simple/flaky/", File::new(good).content_type("text/html"));
    let r = get_page(&s, &format!("remote/{REMOTE}"), "simple/flaky/", PIP_ACCEPT).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    up.put("simple/flaky/", File::new("<a href=\"").content_type("text/html"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get_page(&s, &format!("remote/{REMOTE}"), "simple/flaky/", PIP_ACCEPT).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "STALE"), "{}", r.describe());
    assert_eq!(r.json()["files"][0]["filename"], "flaky-1.0.tar.gz");
    up.down().await;
    let r = get_page(&s, &format!("remote/{REMOTE}"), "simple/flaky/", PIP_ACCEPT).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "STALE"), "{}", r.describe());
    assert_eq!(r.json()["files"][0]["filename"], "flaky-1.0.tar.gz");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_refused_and_links_only_lead_here() {
    let up = Upstream::start().await;
    let s = server_with_remote(&up).await;
    let spec = json!({ "name": "py-v", "package_type": "pypi", "members": [REMOTE] });
    let r = s.send_json(reqwest::Method::POST, "/api/v2/virtuals", &spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let long = "a".repeat(300);
    let bad_request = [
        "simple/%2e%2e/".to_string(),
        "simple/..%2f..%2fetc/".into(),
        "simple/a%00b/".into(),
        "simple/a%5cb/".into(),
        format!("simple/{long}/"),
        "simple/-x-/".into(),
        "simple/x%20y/".into(),
        "simple/x@1/".into(),
        "simple/foo/%2e%2e".into(),
        "simple/foo/a%2fb.whl".into(),
        "simple/foo/%3Cx%3E.whl".into(),
        "simple/foo/.hidden.whl".into(),
        format!("simple/foo/{long}.whl"),
    ];
    for repo in [format!("remote/{REMOTE}"), "virtual/py-v".into()] {
        for path in &bad_request {
            let r = raw::request(s.port(), "GET", &format!("/api/v1/{repo}/{path}")).await;
            assert_eq!(r.status, 400, "{repo}/{path}: {}", r.rest_text());
        }
        let r = raw::request(s.port(), "GET", &format!("/api/v1/{repo}/simple/foo/a/b.whl")).await;
        assert_eq!(r.status, 404, "{}", r.rest_text());
    }
    assert_eq!(up.total(), 0, "nothing hostile reached the upstream");

    // Links to other hosts are fetched through this server, never handed to the client;
    // links that are no http(s) are dropped.
    let page = "<html><a href=\"https://evil.example/x-1.0.tar.gz\">x</a><a href=\"javascript:alert(1)\">y.whl</a>\
                <a href=\"//cdn.example/z-1.0.zip\">z</a></html>";
    up.put("simple/foo/", File::new(page).content_type("text/html"));
    let public = s.url(&format!("/api/v1/remote/{REMOTE}/"));
    let html = get_page(&s, &format!("remote/{REMOTE}"), "simple/foo/", "text/html").await.text();
    assert_eq!(hrefs(&html), [format!("{public}simple/foo/x-1.0.tar.gz"), format!("{public}simple/foo/z-1.0.zip")]);
    let v = get_page(&s, &format!("remote/{REMOTE}"), "simple/foo/", PIP_ACCEPT).await.json();
    for f in v["files"].as_array().unwrap() {
        assert!(f["url"].as_str().unwrap().starts_with(&public), "{f}");
    }
}

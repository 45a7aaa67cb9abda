//! The web dashboard (`/ui/`) against the real binary with real upstreams, a local and a
//! virtual: a browser test in headless Chromium (`e2e/ui/dashboard.cjs`, playwright-core) that
//! logs in, loads every page, sees proxied requests arrive live in the counters, the chart and
//! the events table, evicts from the object browser and sees the next request MISS, sees the
//! breaker of a remote whose upstream stopped turn open, and saves a screenshot of each page
//! (to `docs/screenshots/`, shown in the README); and the guards, with plain HTTP: pages and
//! live feeds behind the login, write forms refused without the session's CSRF token, from
//! another origin, without admin, or with hostile paths.
//!
//! One configuration (fs storage with Redis): the pages read the same services in every
//! configuration, and a browser run costs far more than the matrix would add.

use std::path::{Path, PathBuf};
use std::time::Duration;

use artifactapi_e2e::{fetch, generic_remote, File, Options, Server, Storage, Upstream};
use reqwest::{header, Method, StatusCode};
use serde_json::json;

const ADMIN: &str = "e2e-dashboard-admin";
const TOOLS: &str = "/var/cache/artifactapi/tools/ui/node_modules/playwright-core";

/// A server with remotes `pkgs` (up) and `flaky` (its upstream stopped after one file was
/// cached), a generic local `uploads` with one file, and a virtual `all` of both; reads guarded.
async fn deployment() -> (Server, Upstream) {
    let up = Upstream::start().await;
    up.put("/files/a.bin", File::new(vec![7u8; 300_000]));
    up.put("/files/b.bin", File::new(vec![8u8; 5_000]));
    let flaky_up = Upstream::start().await;
    flaky_up.put("/files/x.bin", File::new(vec![9u8; 1_000]));
    let opts = Options::new(Storage::Fs, true)
        .admin_token(ADMIN)
        .env("ADMIN_TOKEN_READS", "true")
        .env("BREAKER_THRESHOLD", 1)
        .env("BREAKER_OPEN", 300);
    let s = Server::start(opts).await;
    s.create_remote(generic_remote("pkgs", &up.base_url())).await;
    s.create_remote(generic_remote("flaky", &flaky_up.base_url())).await;
    let r = s.send_json(Method::POST, "/api/v2/locals", &json!({"name": "uploads", "package_type": "generic"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let put = s.admin(Method::PUT, "/api/v1/local/uploads/docs/readme.txt").body("read me\n");
    assert_eq!(fetch(put).await.status, StatusCode::CREATED);
    let v = json!({"name": "all", "package_type": "generic", "members": ["uploads", "pkgs"]});
    assert_eq!(s.send_json(Method::POST, "/api/v2/virtuals", &v).await.status, StatusCode::CREATED);
    assert_eq!(s.proxy_get("flaky", "files/x.bin").await.x_cache(), "MISS");
    drop(flaky_up);
    (s, up)
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("docs").join("screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium() {
    assert!(
        Path::new("/usr/bin/chromium").is_file() && Path::new(TOOLS).is_dir(),
        "the browser test needs Debian's chromium and playwright-core under {TOOLS}: run .ci/install"
    );
    let (mut s, _up) = deployment().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui").join("dashboard.cjs");
    let shots = screenshots();
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let base = s.url("");
    // The script asks for a server restart by creating `restart`; the test answers with `restarted`.
    let ctl = tempfile::Builder::new().prefix("aa-e2e-ui-").tempdir().expect("control directory");
    let output = ctl.path().join("output.txt");
    let log = std::fs::File::create(&output).expect("output file");
    let mut node = tokio::process::Command::new("node")
        .arg(script)
        .env("BASE", base.trim_end_matches('/'))
        .env("TOKEN", ADMIN)
        .env("SHOTS", shots)
        .env("PLAYWRIGHT", TOOLS)
        .env("CTL", ctl.path())
        .stdout(log.try_clone().expect("clone"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let mut restarted = false;
    let status = loop {
        if let Some(status) = node.try_wait().expect("node status") {
            break status;
        }
        if !restarted && ctl.path().join("restart").exists() {
            s.restart().await;
            std::fs::write(ctl.path().join("restarted"), b"").expect("answer the script");
            restarted = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = std::fs::read_to_string(&output).unwrap_or_default();
    assert!(status.success(), "browser test failed\n{text}\nserver log:\n{}", s.log_tail(40));
    assert!(restarted, "the script asked for the restart");
    assert!(text.contains("all steps passed"), "{text}");
}

/// Logs in with `token` over plain HTTP; returns the `Cookie` header value.
async fn login(s: &Server, token: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = client.post(s.url("/ui/login")).form(&[("token", token), ("next", "/ui/gc")]).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()), Some("/ui/gc"));
    let set = r.headers().get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/ui"), "{set}");
    set.split(';').next().unwrap_or_default().to_string()
}

/// The CSRF token of a page (the `csrf` field of its forms).
fn csrf(html: &str) -> String {
    let at = html.find("data-csrf=\"").expect("page carries a CSRF token") + "data-csrf=\"".len();
    html[at..].chars().take_while(|c| c.is_ascii_hexdigit()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_and_hostile_forms() {
    let (s, up) = deployment().await;
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let get = |path: &str, cookie: &str| {
        let mut r = plain.get(s.url(path));
        if !cookie.is_empty() {
            r = r.header(header::COOKIE, cookie);
        }
        r.send()
    };

    // Every page and both live feeds need the login; the API's own guard is unchanged.
    for path in ["/ui/", "/ui/remotes", "/ui/remotes/pkgs", "/ui/events", "/ui/live/events", "/ui/live/stats", "/ui/gc"]
    {
        let r = get(path, "").await.expect("get");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let to = r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        assert!(to.starts_with("/ui/login?next="), "{path} -> {to}");
    }
    let r = get("/ui/", "aa_ui_token=made-up").await.expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "an unknown token is no login");
    assert_eq!(fetch(plain.get(s.url("/api/v2/stats"))).await.status, StatusCode::UNAUTHORIZED);

    // A wrong token is refused; `next` never leaves the dashboard.
    let r = plain.post(s.url("/ui/login")).form(&[("token", "wrong"), ("next", "/ui/")]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    for next in ["https://evil.example/", "//evil.example/ui/", "/api/v2/tokens"] {
        let r = plain.post(s.url("/ui/login")).form(&[("token", ADMIN), ("next", next)]).send().await.expect("post");
        assert_eq!(r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()), Some("/ui/"), "{next}");
    }

    let r = plain
        .post(s.url("/ui/login"))
        .header(header::ORIGIN, "https://evil.example")
        .form(&[("token", ADMIN), ("next", "/ui/")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no login posted from another site");
    assert!(r.headers().get(header::SET_COOKIE).is_none());

    let cookie = login(&s, ADMIN).await;
    let page = get("/ui/remotes/pkgs", &cookie).await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    let token = csrf(&page.text().await.expect("body"));
    assert_eq!(token.len(), 32);
    assert!(s.proxy_get("pkgs", "files/a.bin").await.status.is_success());
    s.wait_cached("pkgs", "files/a.bin").await;
    let evict = |form: Vec<(&'static str, String)>, origin: Option<&'static str>| {
        let mut r = plain.post(s.url("/ui/remotes/pkgs/evict")).header(header::COOKIE, &cookie).form(&form);
        if let Some(o) = origin {
            r = r.header(header::ORIGIN, o);
        }
        r.send()
    };
    let one = |csrf: &str| vec![("csrf", csrf.to_string()), ("path", "files/a.bin".to_string())];

    // Without the token, with another session's, or posted from another site: refused, nothing evicted.
    for (form, origin) in
        [(one(""), None), (one("0123456789abcdef0123456789abcdef"), None), (one(&token), Some("https://evil.example"))]
    {
        let r = evict(form, origin).await.expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(s.proxy_get("pkgs", "files/a.bin").await.x_cache(), "HIT", "still cached");

    // Hostile targets get a 400 naming the field, and evict nothing.
    for path in ["../../etc/passwd", "files/../../x", "files\\..\\x", "a\0b", "./x"] {
        let form = vec![("csrf", token.clone()), ("path", path.to_string())];
        let r = evict(form, None).await.expect("post");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path:?}");
    }
    let r = evict(vec![("csrf", token.clone()), ("prefix", "../".into())], None).await.expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = get("/ui/remotes/pkgs?sort=size", &cookie).await.expect("get");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the browser's parameters are the API's");
    let r = get("/ui/locals/uploads?dir=../", &cookie).await.expect("get");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = get("/ui/remotes/nope", &cookie).await.expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get("/ui/access-log?status=abc", &cookie).await.expect("get");
    assert!(r.text().await.expect("body").contains("status: expected a status code"));

    // With the session's token, from this origin: evicted, and the next request misses.
    let r = evict(one(&token), Some("http://127.0.0.1")).await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "an origin of another port is another site");
    let r = evict(one(&token), None).await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(s.proxy_get("pkgs", "files/a.bin").await.x_cache(), "MISS");

    // The object browser pages by cursor: 60 objects in pages of 50, nothing twice or left out.
    for i in 0..60 {
        up.put(&format!("/many/f{i:02}.bin"), File::new(vec![1u8; 10]));
        assert!(s.proxy_get("pkgs", &format!("many/f{i:02}.bin")).await.status.is_success());
    }
    s.wait_cached("pkgs", "many/f59.bin").await;
    let mut seen = Vec::new();
    let mut next = Some("/ui/remotes/pkgs?prefix=many%2F".to_string());
    while let Some(page) = next.take() {
        let html = get(&page, &cookie).await.expect("get").text().await.expect("body");
        seen.extend(
            html.match_indices("data-path=\"")
                .map(|(at, m)| html[at + m.len()..].chars().take_while(|c| *c != '"').collect::<String>()),
        );
        next = html.find("rel=\"next\"").map(|at| {
            let href = &html[at..];
            let start = href.find("href=\"").map_or(0, |i| i + 6);
            href[start..].chars().take_while(|c| *c != '"').collect::<String>().replace("&amp;", "&")
        });
        assert!(seen.len() <= 60, "no endless paging");
    }
    let want: Vec<String> = (0..60).map(|i| format!("many/f{i:02}.bin")).collect();
    assert_eq!(seen, want, "two pages, in path order, complete");

    // With ADMIN_TOKEN_READS a read token may not even look: its login is refused, saying why.
    let created = s
        .send_json(
            Method::POST,
            "/api/v2/tokens",
            &json!({"name": "viewer", "scopes": [{"repository": "*", "access": "read"}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.describe());
    let viewer = created.json()["token"].as_str().unwrap_or_default().to_string();
    let r = plain
        .post(s.url("/ui/login"))
        .form(&[("token", viewer.as_str()), ("next", "/ui/gc")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    let r = get("/ui/", &format!("aa_ui_token={viewer}")).await.expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "nor with a cookie made by hand");
}

//! PyPI local repositories with the real clients against the real binary: wheels and an sdist
//! built by pip and `build`, published with twine (basic auth, the token as password),
//! installed with pip and uv from the local, from a second replica (with `ANONYMOUS_READS=false`,
//! the read token as basic auth in the index URL), and through a virtual whose
//! local member shadows a pypiserver remote's project of the same name; yank and unyank through
//! the management API; pages in both forms with hashes, requires-python and PEP 658 metadata.
//! At size: a project of 400 files and a 96 MiB file. `hostile` sends what twine never would:
//! broken, lying, oversized and racing uploads.

#[allow(dead_code)]
#[path = "pypi/tools.rs"]
mod tools;

#[path = "pypi_local/build.rs"]
mod build;
#[path = "pypi_local/hostile.rs"]
mod hostile;

use std::path::Path;
use std::time::Instant;

use artifactapi_e2e::{fetch, matrix, raw, Fetched, Options, Server, Storage};
use build::{build, twine, Dist, Project};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tools::{assert_installed, dist_dir, pip_install, pip_install_fails, uv_install, PypiServer};

pub const ADMIN: &str = "e2e-admin-token";
/// What pip 22.2 and later send.
pub const PIP_ACCEPT: &str =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

/// Creates PyPI local `name`.
pub async fn pypi_local(s: &Server, name: &str) {
    let r = s.send_json(Method::POST, "/api/v2/locals", &json!({ "name": name, "package_type": "pypi" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
}

/// A token with `grants` (`[(repository, access)]`); its secret.
pub async fn token(s: &Server, name: &str, grants: &[(&str, &str)]) -> String {
    s.token(name, grants).await
}

pub fn alpha(version: &str) -> Project<'_> {
    Project { name: "Alpha_Lib", version, module: "alpha_lib", deps: "", code: "def hello():\n    return \"alpha\"\n" }
}

pub fn beta() -> Project<'static> {
    let code = "import alpha_lib\n\n\ndef greet():\n    return \"beta+\" + alpha_lib.hello()\n";
    Project { name: "beta-app", version: "1.0.0", module: "beta_app", deps: "\"alpha-lib>=1.0\"", code }
}

/// GET a page of repository `repo` (`local/NAME`, `virtual/NAME`) with `accept`.
pub async fn page(s: &Server, repo: &str, path: &str, accept: &str) -> Fetched {
    fetch(s.client().get(s.url(&format!("/api/v1/{repo}/{path}"))).header("accept", accept)).await
}

/// The file names a JSON project page lists.
pub fn filenames(page: &Value) -> Vec<String> {
    page["files"].as_array().into_iter().flatten().filter_map(|f| f["filename"].as_str()).map(str::to_string).collect()
}

/// The version of `module` an install target holds (from its `.dist-info` folder).
fn installed_version(target: &Path, module: &str) -> String {
    let dirs: Vec<String> =
        std::fs::read_dir(target).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    let prefix = format!("{}-", module.to_ascii_lowercase());
    dirs.iter()
        .filter(|d| d.ends_with(".dist-info"))
        .find_map(|d| {
            d.to_ascii_lowercase().strip_prefix(&prefix).map(|v| v.trim_end_matches(".dist-info").to_string())
        })
        .unwrap_or_else(|| panic!("no {module} in {dirs:?}"))
}

async fn yank(s: &Server, secret: &str, action: &str, body: Value) -> Fetched {
    let url = s.url(&format!("/api/v2/locals/pyl/pypi/{action}"));
    fetch(s.client().post(url).bearer_auth(secret).header("content-type", "application/json").body(body.to_string()))
        .await
}

/// The checks of a project page of the local `pyl` holding `dists`, in both forms.
async fn check_pages(s: &Server, dists: &[&Dist]) {
    let project = &dists[0].project;
    let public = s.url("/api/v1/local/pyl/");
    let r = page(s, "local/pyl", &format!("simple/{project}/"), PIP_ACCEPT).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(r.header("content-type"), Some("application/vnd.pypi.simple.v1+json"));
    let v = r.json();
    assert_eq!(filenames(&v), dists.iter().map(|d| d.file.clone()).collect::<Vec<_>>(), "{v}");
    for (f, d) in v["files"].as_array().unwrap().iter().zip(dists) {
        assert_eq!(f["url"], format!("{public}{}", d.served_at()));
        assert_eq!(f["hashes"]["sha256"], d.sha256.as_str());
        assert_eq!(f["requires-python"], ">=3.8");
        assert_eq!(f["size"], d.bytes.len());
        if d.file.ends_with(".whl") {
            // PEP 658: the wheel's own METADATA, with the digest the page gives.
            let meta = fetch(s.client().get(format!("{public}{}.metadata", d.served_at()))).await;
            assert_eq!(meta.status, StatusCode::OK, "{}", meta.describe());
            assert_eq!(f["core-metadata"]["sha256"], artifactapi_e2e::sha256_hex(&meta.body), "{v}");
            let text = meta.text();
            assert!(
                text.starts_with("Metadata-Version") && text.contains(&format!("\nVersion: {}\n", d.version)),
                "{text}"
            );
        } else {
            assert!(f.get("core-metadata").is_none(), "{v}");
        }
        let got = fetch(s.client().get(format!("{public}{}", d.served_at()))).await;
        assert!(got.status == StatusCode::OK && got.body == d.bytes, "{}", got.describe());
    }
    let html = page(s, "local/pyl", &format!("simple/{project}/"), "text/html").await;
    assert_eq!(html.header("content-type"), Some("text/html; charset=utf-8"));
    let text = html.text();
    for d in dists {
        assert!(text.contains(&format!("{public}{}#sha256={}", d.served_at(), d.sha256)), "{text}");
    }
    assert!(text.contains("data-requires-python=\"&gt;=3.8\""), "{text}");
}

async fn twine_pip_and_uv_with_a_local_and_a_virtual(opts: Options) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = Server::start(opts.admin_token(ADMIN)).await;
    pypi_local(&s, "pyl").await;
    let writer = token(&s, "ci", &[("pyl", "write")]).await;
    let reader = token(&s, "reader", &[("*", "read")]).await;
    let alpha1 = build(root, &alpha("1.0.0"), true).await;
    let beta = build(root, &beta(), false).await;
    let upload = s.url("/api/v1/local/pyl/");
    let files: Vec<&Path> = alpha1.iter().chain(&beta).map(|d| d.path.as_path()).collect();

    // No credential: 401 with a basic challenge (twine prompts on it); read-only: 403.
    let r = raw::request_with_headers(s.port(), "POST", "/api/v1/local/pyl/", &["Content-Length: 0"]).await;
    assert_eq!(r.status, 401, "{}", r.head);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"artifactapi\""));
    let (ok, out) = twine(&upload, Some(&reader), &files, &[]).await;
    assert!(!ok && out.contains("403"), "{out}");

    let started = Instant::now();
    let (ok, out) = twine(&upload, Some(&writer), &files, &[]).await;
    assert!(ok, "{out}");
    eprintln!("twine upload of 3 files to the local: {:?}", started.elapsed());
    let (ok, out) = twine(&upload, Some(&writer), &files[..1], &[]).await;
    assert!(!ok && out.contains("File already exists"), "the same file twice: {out}");

    let index = s.url("/api/v1/local/pyl/simple/");
    let started = Instant::now();
    assert_installed(&pip_install(&index, root, "pip", "beta-app").await).await;
    eprintln!("pip install beta-app from the local: {:?}", started.elapsed());
    assert_installed(&uv_install(&index, root, "uv", "beta-app").await).await;
    check_pages(&s, &[&alpha1[0], &alpha1[1]]).await;
    check_pages(&s, &[&beta[0]]).await;
    let v = page(&s, "local/pyl", "simple/", PIP_ACCEPT).await.json();
    assert_eq!(v["projects"], json!([{ "name": "alpha-lib" }, { "name": "beta-app" }]), "{v}");
    for (path, to) in
        [("simple", "simple/"), ("simple/Alpha_Lib/", "simple/alpha-lib/"), ("simple/beta-app", "simple/beta-app/")]
    {
        let r = raw::request(s.port(), "GET", &format!("/api/v1/local/pyl/{path}")).await;
        assert_eq!(r.status, 301, "{path}: {}", r.head);
        assert_eq!(r.header("location"), Some(format!("/api/v1/local/pyl/{to}").as_str()), "{path}");
    }

    // Yank 1.1.0: pip skips it unless pinned; unyanked, it is the newest again.
    let alpha11 = build(root, &alpha("1.1.0"), false).await;
    assert!(twine(&upload, Some(&writer), &[alpha11[0].path.as_path()], &[]).await.0);
    let body = json!({ "project": "Alpha.Lib", "version": "1.1.0", "reason": "broken <build>" });
    assert_eq!(yank(&s, &reader, "yank", body.clone()).await.status, StatusCode::FORBIDDEN);
    let r = yank(&s, &writer, "yank", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(r.json()["files"], json!([alpha11[0].file]));
    let v = page(&s, "local/pyl", "simple/alpha-lib/", PIP_ACCEPT).await.json();
    assert_eq!(v["files"][2]["yanked"], "broken <build>", "{v}");
    assert_eq!(v["files"][0]["yanked"], json!(null), "{v}");
    let html = page(&s, "local/pyl", "simple/alpha-lib/", "text/html").await.text();
    assert!(html.contains("data-yanked=\"broken &lt;build&gt;\""), "{html}");
    assert_eq!(installed_version(&pip_install(&index, root, "y1", "alpha-lib").await, "alpha_lib"), "1.0.0");
    assert_eq!(installed_version(&pip_install(&index, root, "y2", "alpha-lib==1.1.0").await, "alpha_lib"), "1.1.0");
    let r = yank(&s, &writer, "unyank", json!({ "project": "alpha-lib", "version": "1.1.0" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(installed_version(&pip_install(&index, root, "y3", "alpha-lib").await, "alpha_lib"), "1.1.0");
    let r = yank(&s, &writer, "yank", json!({ "project": "alpha-lib", "version": "7.0" })).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());

    // A virtual listing the local before a pypiserver remote: the remote's alpha-lib 9.0.0 (an
    // impostor) is shadowed, its gamma-tool merged in.
    let impostor = Project {
        name: "alpha-lib",
        version: "9.0.0",
        module: "alpha_lib",
        deps: "",
        code: "def hello():\n    return \"evil\"\n",
    };
    let impostor = build(&root.join("impostor"), &impostor, false).await;
    let gamma = Project { name: "gamma-tool", version: "1.0.0", module: "gamma_tool", deps: "", code: "" };
    let gamma = build(root, &gamma, false).await;
    let pypi = PypiServer::start(&dist_dir(root, "public", &[])).await;
    for d in impostor.iter().chain(&gamma) {
        std::fs::write(root.join("public").join(&d.file), &d.bytes).unwrap();
    }
    s.create_remote(json!({ "name": "pub", "package_type": "pypi", "base_url": pypi.url() })).await;
    let spec = json!({ "name": "all", "package_type": "pypi", "members": ["pyl", "pub"] });
    assert_eq!(s.send_json(Method::POST, "/api/v2/virtuals", &spec).await.status, StatusCode::CREATED);
    let vindex = s.url("/api/v1/virtual/all/simple/");
    let target = pip_install(&vindex, root, "v-pip", "beta-app").await;
    assert_installed(&target).await;
    assert_eq!(installed_version(&target, "alpha_lib"), "1.1.0");
    assert_installed(&uv_install(&vindex, root, "v-uv", "beta-app").await).await;
    pip_install(&vindex, root, "v-gamma", "gamma-tool").await;
    let v = page(&s, "virtual/all", "simple/alpha-lib/", PIP_ACCEPT).await.json();
    let files = filenames(&v);
    assert!(!files.contains(&impostor[0].file) && files.len() == 3, "{v}");
    let v = page(&s, "virtual/all", "simple/", PIP_ACCEPT).await.json();
    assert_eq!(v["projects"].as_array().map(Vec::len), Some(3), "{v}");
    let out = pip_install_fails(&vindex, root, "v-evil", "alpha-lib==9.0.0").await;
    assert!(out.contains("9.0.0"), "{out}");
    // Asked of the virtual by its path, the impostor's file is not served either, and the remote
    // is not asked: the project is the local's.
    let path = format!("/api/v1/virtual/all/simple/alpha-lib/{}", impostor[0].file);
    let r = artifactapi_e2e::fetch(s.client().get(s.url(&path))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    assert!(r.text().contains("belongs to local"), "{}", r.describe());
    let r = artifactapi_e2e::fetch(
        s.client().get(s.url(&format!("/api/v1/remote/pub/simple/alpha-lib/{}", impostor[0].file))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "the remote alone serves it: {}", r.describe());
}
matrix!(twine_pip_and_uv_with_a_local_and_a_virtual);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_on_one_replica_installed_from_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Reads need a token here: pip and uv send it as basic auth, from the index URL.
    let opts = || Options::new(Storage::S3, true).admin_token(ADMIN).env("ANONYMOUS_READS", "false");
    let a = Server::start(opts()).await;
    let b = Server::start(opts().shared_with(&a)).await;
    pypi_local(&a, "pyl").await;
    let writer = token(&a, "ci", &[("pyl", "write")]).await;
    let reader = token(&a, "reader", &[("pyl", "read")]).await;
    let dists: Vec<Dist> = [build(root, &alpha("1.0.0"), true).await, build(root, &beta(), false).await].concat();
    let files: Vec<&Path> = dists.iter().map(|d| d.path.as_path()).collect();
    // The local and the token reach replica b through the coordinator.
    let index = b.url("/api/v1/local/pyl/simple/");
    artifactapi_e2e::poll_until(
        "the local and the token on replica b",
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(100),
        || async {
            let r = fetch(b.client().get(&index).basic_auth("pip", Some(&reader))).await;
            (r.status == StatusCode::OK).then_some(())
        },
    )
    .await;
    let (ok, out) = twine(&a.url("/api/v1/local/pyl/"), Some(&writer), &files, &[]).await;
    assert!(ok, "{out}");
    let anonymous = fetch(b.client().get(format!("{index}beta-app/"))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{}", anonymous.describe());
    let with_token = index.replacen("http://", &format!("http://pip:{reader}@"), 1);
    assert_installed(&pip_install(&with_token, root, "pip", "beta-app").await).await;
    assert_installed(&uv_install(&with_token, root, "uv", "beta-app").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_of_hundreds_of_files_generates_its_page() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await;
    pypi_local(&s, "pyl").await;
    const FILES: usize = 400;
    let started = Instant::now();
    for i in 0..FILES {
        let bytes = artifactapi_e2e::pattern_bytes(2000, i as u64);
        let d = hostile::sdist("big-project", &format!("1.{i}"), bytes);
        let r = hostile::upload(&s, ADMIN, &d.fields(), Some((&d.file, &d.bytes))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    }
    eprintln!("{FILES} uploads: {:?}", started.elapsed());
    let started = Instant::now();
    let r = page(&s, "local/pyl", "simple/big-project/", PIP_ACCEPT).await;
    eprintln!("its JSON page, first render: {:?}", started.elapsed());
    let v = r.json();
    assert_eq!(filenames(&v).len(), FILES, "{}", r.describe());
    assert_eq!(v["versions"].as_array().map(Vec::len), Some(FILES));
    assert_eq!(v["meta"]["api-version"], "1.1");
    let html = page(&s, "local/pyl", "simple/big-project/", "text/html").await.text();
    assert_eq!(html.matches("#sha256=").count(), FILES);
    // A file of real size streams through the form into storage and back.
    let big = hostile::sdist("big-project", "2.0", artifactapi_e2e::pattern_bytes(96 << 20, 9));
    let started = Instant::now();
    let r = hostile::upload(&s, ADMIN, &big.fields(), Some((&big.file, &big.bytes))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    eprintln!("a 96 MiB upload: {:?}", started.elapsed());
    let got = fetch(s.client().get(s.url(&format!("/api/v1/local/pyl/{}", big.served_at())))).await;
    assert_eq!(artifactapi_e2e::sha256_hex(&got.body), big.sha256);
    // pip finds the newest of them.
    let tmp = tempfile::tempdir().unwrap();
    let out = tools::output(
        &tools::venv("python"),
        &[
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-build-isolation",
            "--no-binary",
            ":all:",
            "--index-url",
            &s.url("/api/v1/local/pyl/simple/"),
            "-d",
            &tmp.path().display().to_string(),
            "--no-cache-dir",
            "big-project==1.399",
            "--no-build-isolation",
        ],
        &[("PIP_CONFIG_FILE", "/dev/null")],
    )
    .await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("big_project-1.399.tar.gz"), "{text}");
}

/// Figures for the README and the note, not a check: twine upload and pip install of the same
/// three files against a PyPI local and against pypiserver (the upstream the remote tests
/// use), each five times. Run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures, not a check (five timed rounds of twine and pip against both servers): run with --ignored --nocapture"]
async fn measure_against_pypiserver() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await;
    let pypi_dir = dist_dir(root, "pypiserver", &[]);
    let port = artifactapi_e2e::server::free_port();
    /// Stops the pypiserver however the measurement ends.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _pypi = Stop(
        std::process::Command::new(tools::venv("pypi-server"))
            .args(["run", "-i", "127.0.0.1", "-p", &port.to_string(), "-a", ".", "-P", ".", "--log-stream", "none"])
            .arg(&pypi_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let dists: Vec<Dist> = [build(root, &alpha("1.0.0"), true).await, build(root, &beta(), false).await].concat();
    let files: Vec<&Path> = dists.iter().map(|d| d.path.as_path()).collect();
    let targets = [
        ("artifactapi local", "local", s.url("/api/v1/local/pyl/"), s.url("/api/v1/local/pyl/simple/")),
        ("pypiserver", "pypiserver", format!("http://127.0.0.1:{port}/"), format!("http://127.0.0.1:{port}/simple/")),
    ];
    for (label, tag, upload, index) in &targets {
        let (mut up, mut install) = (Vec::new(), Vec::new());
        for round in 0..5 {
            if *tag == "local" {
                let _ = fetch(s.admin(Method::DELETE, "/api/v2/locals/pyl")).await;
                pypi_local(&s, "pyl").await;
            } else {
                for d in &dists {
                    let _ = std::fs::remove_file(pypi_dir.join(&d.file));
                }
            }
            let started = Instant::now();
            let (ok, out) = twine(upload, Some(ADMIN), &files, &[]).await;
            assert!(ok, "{out}");
            up.push(started.elapsed().as_secs_f64());
            let started = Instant::now();
            assert_installed(&pip_install(index, root, &format!("{tag}-{round}"), "beta-app").await).await;
            install.push(started.elapsed().as_secs_f64());
        }
        // What each request costs once published: the project page pip reads, and a wheel.
        let wheel = match *tag {
            "local" => format!("{index}{}/{}", dists[0].project, dists[0].file),
            _ => format!("http://127.0.0.1:{port}/packages/{}", dists[0].file),
        };
        let project_page = format!("{index}{}/", dists[0].project);
        for (what, url) in [("JSON page", &project_page), ("wheel", &wheel)] {
            let started = Instant::now();
            for _ in 0..50 {
                let r = fetch(s.client().get(url.as_str()).header("accept", PIP_ACCEPT)).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
            }
            eprintln!("{label}: GET {what} {:.2} ms each", started.elapsed().as_secs_f64() * 1000.0 / 50.0);
        }
        up.sort_by(f64::total_cmp);
        install.sort_by(f64::total_cmp);
        eprintln!("{label}: twine upload of 3 files median {:.3}s (min {:.3}s); pip install beta-app median {:.3}s (min {:.3}s)", up[2], up[0], install[2], install[0]);
    }
}

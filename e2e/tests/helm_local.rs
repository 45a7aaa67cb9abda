//! Helm locals proven with the real helm client (helm-sdkpy, Helm v4) on every
//! storage/coordination configuration: charts packaged by helm, uploaded with curl-like `PUT`
//! and through ChartMuseum's API (`POST api/charts`, multipart with a provenance file and as a
//! raw body), answered as ChartMuseum answers; `helm repo add`, `helm repo update` and `helm show
//! chart` from the generated `index.yaml` (digest, created, urls), anonymously and with basic
//! auth when reads need a token; a virtual where the local shadows a remote's chart of the same
//! name; ChartMuseum's delete. Then hostile uploads (a chart whose name traverses, a tar member
//! leaving the chart, a file name that is not the chart's, no version, oversize, racing and
//! cut-off uploads), tokens (none: 401, read-only: 403), and a chart pushed by helm as an OCI
//! artifact to a docker local pulled back byte-identical. Prints publish and `helm repo
//! update`+`show` times beside the static chart server the remote tests use.

use std::collections::BTreeMap;
use std::time::Instant;

use artifactapi_e2e::helm::{ChartSource, HelmClient};
use artifactapi_e2e::oci_client::Registry;
use artifactapi_e2e::{fetch, matrix, raw, sha256_hex, Options, Server, Storage, Upstream};
use reqwest::StatusCode;
use serde_json::json;
use serde_yaml_ng::Value as Yaml;

const ADMIN: &str = "e2e-admin-token";
const LOCAL: &str = "helmlocal";
const BOUNDARY: &str = "----e2eBoundary7MA4YWxk";

/// A token with `grants` (`[(repository, access)]`); its secret.
async fn token(s: &Server, name: &str, grants: &[(&str, &str)]) -> String {
    s.token(name, grants).await
}

/// A multipart body as `curl -F chart=@FILE -F prov=@FILE.prov` sends it.
fn form(parts: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, file, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn post_form(s: &Server, secret: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    s.client()
        .post(s.url(&format!("/api/v1/local/{LOCAL}/api/charts")))
        .basic_auth("helm", Some(secret))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
}

fn put_chart(s: &Server, secret: &str, file: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    s.client().put(s.url(&format!("/api/v1/local/{LOCAL}/charts/{file}"))).bearer_auth(secret).body(body)
}

fn yaml(body: &[u8]) -> Yaml {
    serde_yaml_ng::from_slice(body).unwrap_or_else(|e| panic!("not YAML ({e}):\n{}", String::from_utf8_lossy(body)))
}

fn versions(index: &Yaml, chart: &str) -> Vec<String> {
    let list = index["entries"][chart].as_sequence().cloned().unwrap_or_default();
    list.iter().filter_map(|e| e["version"].as_str().map(str::to_string)).collect()
}

/// Packages `charts` with helm: bytes by (name, version).
async fn package(helm: &HelmClient, charts: &[(&str, &str, &str)]) -> BTreeMap<(String, String), Vec<u8>> {
    let sources: Vec<ChartSource> = charts.iter().map(|(n, v, note)| ChartSource::new(n, v, note)).collect();
    helm.package(&sources).await
}

fn bytes<'a>(p: &'a BTreeMap<(String, String), Vec<u8>>, name: &str, version: &str) -> &'a [u8] {
    p.get(&(name.to_string(), version.to_string())).expect("packaged")
}

async fn charts_published_and_installed_with_helm(opts: Options) {
    let s = Server::start(opts.admin_token(ADMIN)).await;
    s.create("/api/v2/locals", json!({ "name": LOCAL, "package_type": "helm" })).await;
    let writer = token(&s, "ci", &[(LOCAL, "write")]).await;
    let reader = token(&s, "reader", &[("*", "read")]).await;
    let helm = HelmClient::new();
    let p = package(
        &helm,
        &[("web", "1.0.0", "local web"), ("web", "1.1.0", "local web 1.1"), ("db", "0.1.0", "local db")],
    )
    .await;

    // Tokens: none is a 401 with a basic challenge, read-only a 403.
    let anon =
        fetch(s.client().put(s.url(&format!("/api/v1/local/{LOCAL}/charts/web-1.0.0.tgz"))).body(b"x".to_vec())).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{}", anon.describe());
    assert_eq!(anon.header("www-authenticate"), Some("Basic realm=\"artifactapi\""));
    let r = fetch(post_form(&s, &reader, form(&[("chart", "db-0.1.0.tgz", bytes(&p, "db", "0.1.0"))]))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.describe());

    // PUT, ChartMuseum's multipart with a provenance file, and its raw body; as ChartMuseum answers.
    let t = Instant::now();
    let r = fetch(put_chart(&s, &writer, "web-1.0.0.tgz", bytes(&p, "web", "1.0.0").to_vec())).await;
    let publish = t.elapsed();
    assert_eq!((r.status, r.json()), (StatusCode::CREATED, json!({ "saved": true })), "{}", r.describe());
    let prov = b"-----BEGIN PGP SIGNED MESSAGE-----\nfake provenance for the test\n".to_vec();
    let web11 = bytes(&p, "web", "1.1.0");
    let r = fetch(post_form(
        &s,
        &writer,
        form(&[("chart", "web-1.1.0.tgz", web11), ("prov", "web-1.1.0.tgz.prov", &prov)]),
    ))
    .await;
    assert_eq!((r.status, r.json()), (StatusCode::CREATED, json!({ "saved": true })), "{}", r.describe());
    let raw_post =
        s.client().post(s.url(&format!("/api/v1/local/{LOCAL}/api/charts"))).basic_auth("helm", Some(&writer));
    let r = fetch(raw_post.body(bytes(&p, "db", "0.1.0").to_vec())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let r = fetch(post_form(&s, &writer, form(&[("chart", "web-1.0.0.tgz", bytes(&p, "web", "1.0.0"))]))).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::CONFLICT, json!({ "error": "file already exists" })),
        "{}",
        r.describe()
    );

    // The generated index: digests, created, urls that serve the uploaded bytes.
    let index_url = s.url(&format!("/api/v1/local/{LOCAL}/index.yaml"));
    let index = fetch(s.client().get(&index_url)).await;
    assert_eq!(index.status, StatusCode::OK, "{}", index.describe());
    let doc = yaml(&index.body);
    assert_eq!(doc["apiVersion"], "v1");
    assert_eq!(versions(&doc, "web"), ["1.1.0", "1.0.0"]);
    for ((name, version), archive) in &p {
        let e = doc["entries"][name.as_str()]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["version"].as_str() == Some(version))
            .unwrap();
        assert_eq!(e["digest"].as_str(), Some(sha256_hex(archive).as_str()), "{name} {version}");
        assert!(e["created"].as_str().is_some_and(|c| c.starts_with("20")), "{e:?}");
        let url = e["urls"][0].as_str().unwrap();
        assert_eq!(url, s.url(&format!("/api/v1/local/{LOCAL}/charts/{name}-{version}.tgz")));
        let got = fetch(s.client().get(url)).await;
        assert!(got.status == StatusCode::OK && got.body == *archive, "{url}: {}", got.describe());
    }
    let got = fetch(s.client().get(s.url(&format!("/api/v1/local/{LOCAL}/charts/web-1.1.0.tgz.prov")))).await;
    assert_eq!(got.body, prov);
    // ChartMuseum's read API.
    let listed = fetch(s.client().get(s.url(&format!("/api/v1/local/{LOCAL}/api/charts")))).await;
    assert_eq!(listed.json()["web"][0]["version"], "1.1.0", "{}", listed.describe());
    assert_eq!(listed.json()["db"][0]["digest"], sha256_hex(bytes(&p, "db", "0.1.0")));
    let web = fetch(s.client().get(s.url(&format!("/api/v1/local/{LOCAL}/api/charts/web")))).await;
    assert_eq!(web.json().as_array().map(Vec::len), Some(2), "{}", web.describe());
    let none = fetch(s.client().get(s.url(&format!("/api/v1/local/{LOCAL}/api/charts/nothing")))).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.describe());

    // helm repo add, update, show.
    let t = Instant::now();
    let shown = helm
        .show("loc", &s.url(&format!("/api/v1/local/{LOCAL}")), &["web", "db"])
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(30)));
    let show_local = t.elapsed();
    assert!(shown["web"].contains("version: 1.1.0") && shown["web"].contains("local web 1.1"), "{}", shown["web"]);
    assert!(shown["db"].contains("version: 0.1.0"), "{}", shown["db"]);

    // A remote listing `web` too (a higher version: dependency confusion) and `other`; the
    // virtual lists the local first: its `web` shadows the remote's, `other` comes through.
    let up = Upstream::start().await;
    let theirs = package(&helm, &[("web", "9.9.9", "hijacked"), ("other", "1.0.0", "remote other")]).await;
    let mut remote_index = String::from("apiVersion: v1\nentries:\n");
    for ((name, version), archive) in &theirs {
        up.put_bytes(&format!("/{name}-{version}.tgz"), archive.clone());
        remote_index.push_str(&format!("  {name}:\n  - apiVersion: v2\n    name: {name}\n    version: {version}\n    digest: {}\n    urls: [{name}-{version}.tgz]\n", sha256_hex(archive)));
    }
    remote_index.push_str("generated: \"2024-01-02T03:04:05Z\"\n");
    up.put_bytes("/index.yaml", remote_index.into_bytes());
    s.create_remote(json!({ "name": "helmpublic", "package_type": "helm", "base_url": up.base_url() })).await;
    s.create(
        "/api/v2/virtuals",
        json!({ "name": "helmall", "package_type": "helm", "members": [LOCAL, "helmpublic"] }),
    )
    .await;
    let merged = fetch(s.client().get(s.url("/api/v1/virtual/helmall/index.yaml"))).await;
    let doc = yaml(&merged.body);
    assert_eq!(versions(&doc, "web"), ["1.1.0", "1.0.0"], "the local shadows the remote's web:\n{}", merged.text());
    assert_eq!(versions(&doc, "other"), ["1.0.0"]);
    let shown = HelmClient::new().show("all", &s.url("/api/v1/virtual/helmall"), &["web", "other"]).await.unwrap();
    assert!(shown["web"].contains("local web 1.1"), "{}", shown["web"]);
    assert!(shown["other"].contains("remote other"), "{}", shown["other"]);
    assert_eq!(up.count("/web-9.9.9.tgz"), 0, "the shadowed chart was never fetched");

    // The same client steps against the static chart server the remote tests use.
    let t = Instant::now();
    HelmClient::new().show("up", &up.base_url(), &["web", "other"]).await.unwrap();
    let show_upstream = t.elapsed();
    println!(
        "helm local ({:?}): publish (PUT) {publish:?}; helm repo add+update+show of 2 charts from the local {show_local:?}, of 2 charts from the static upstream {show_upstream:?}",
        s.storage()
    );

    // ChartMuseum's delete: gone from the index, and the version can never come back.
    let del = |path: &str| s.client().delete(s.url(&format!("/api/v1/local/{LOCAL}/{path}"))).bearer_auth(&writer);
    let r = fetch(del("api/charts/db/0.1.0")).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({ "deleted": true })), "{}", r.describe());
    assert!(versions(&yaml(&fetch(s.client().get(&index_url)).await.body), "db").is_empty());
    assert_eq!(
        fetch(s.client().get(s.url(&format!("/api/v1/local/{LOCAL}/charts/db-0.1.0.tgz")))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(fetch(del("api/charts/db/0.1.0")).await.status, StatusCode::NOT_FOUND);
    let r = fetch(put_chart(&s, &writer, "db-0.1.0.tgz", bytes(&p, "db", "0.1.0").to_vec())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());
}
matrix!(charts_published_and_installed_with_helm);

/// A gzipped tar of `files`, member names written raw (as a hostile client would).
fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        tar.append(&header, *body).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_charts_are_refused_and_leave_nothing() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).env("LOCAL_MAX_UPLOAD", 1 << 20)).await;
    s.create("/api/v2/locals", json!({ "name": LOCAL, "package_type": "helm" })).await;
    let chart = |name: &str, version: &str| format!("apiVersion: v2\nname: {name}\nversion: {version}\n").into_bytes();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("evil-1.0.0.tgz", tgz(&[("evil/Chart.yaml", &chart("../evil", "1.0.0"))]), "only letters"),
        ("x-1.0.0.tgz", tgz(&[("x/Chart.yaml", &chart("x/../../y", "1.0.0"))]), "only letters"),
        (
            "x-1.0.0.tgz",
            tgz(&[("x/Chart.yaml", &chart("x", "1.0.0")), ("../../../tmp/owned", b"x")]),
            "leaves the chart",
        ),
        ("x-1.0.0.tgz", tgz(&[("x/Chart.yaml", &chart("x", "1.0.0")), ("y/z", b"x")]), "outside the chart"),
        ("x-1.0.0.tgz", tgz(&[("x/Chart.yaml", b"apiVersion: v2\nname: x\n")]), "version is missing"),
        ("x-1.0.0.tgz", tgz(&[("x/Chart.yaml", &chart("x", "../1"))]), "only letters"),
        ("y-1.0.0.tgz", tgz(&[("x/Chart.yaml", &chart("x", "1.0.0"))]), "upload it as x-1.0.0.tgz"),
        ("x-1.0.0.tgz", b"not a tarball".to_vec(), "not a gzipped tar"),
    ];
    for (file, body, fragment) in cases {
        let r = fetch(put_chart(&s, ADMIN, file, body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{fragment}: {}", r.describe());
        assert!(r.error_message().contains(fragment), "{fragment}: {}", r.describe());
    }
    // Traversal in the URL.
    for path in ["charts/..%2f..%2fx.tgz", "charts/%2e%2e/x.tgz", "api/charts/..%2fx/1.0.0", "charts/a%00.tgz"] {
        let auth = format!("Authorization: Bearer {ADMIN}");
        let r = raw::request_with_headers(
            s.port(),
            "PUT",
            &format!("/api/v1/local/{LOCAL}/{path}"),
            &[&auth, "Content-Length: 0"],
        )
        .await;
        assert_eq!(r.status, 400, "PUT {path}: {}", r.head);
    }
    // Over LOCAL_MAX_UPLOAD: 413.
    // (rejected while it streams in, before it is read as a chart)
    let big = vec![0x1f; (1 << 20) + 1];
    let r = fetch(put_chart(&s, ADMIN, "x-1.0.0.tgz", big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.describe());
    // A cut-off upload leaves nothing.
    let headers = [format!("Authorization: Bearer {ADMIN}"), "Content-Length: 100000".to_string()];
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let cut = format!("/api/v1/local/{LOCAL}/api/charts");
    let _ =
        raw::request_cut_off(s.port(), "POST", &cut, &headers, &tgz(&[("x/Chart.yaml", &chart("x", "1.0.0"))])).await;
    let index = yaml(&fetch(s.client().get(s.url(&format!("/api/v1/local/{LOCAL}/index.yaml")))).await.body);
    assert!(index["entries"].as_mapping().is_some_and(|m| m.is_empty()), "{index:?}");
    // Eight uploads of one new version at once: exactly one wins, the others get ChartMuseum's 409.
    let mut racing = Vec::new();
    for i in 0..8 {
        let body = tgz(&[("x/Chart.yaml", &chart("x", "2.0.0")), ("x/values.yaml", format!("n: {i}\n").as_bytes())]);
        let req = post_form(&s, ADMIN, form(&[("chart", "x-2.0.0.tgz", &body)]));
        racing.push(tokio::spawn(async move { fetch(req).await.status }));
    }
    let mut statuses = Vec::new();
    for r in racing {
        statuses.push(r.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 7, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_reads_with_basic_auth_when_reads_need_a_token() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).env("ANONYMOUS_READS", "false")).await;
    s.create("/api/v2/locals", json!({ "name": LOCAL, "package_type": "helm" })).await;
    let writer = token(&s, "ci", &[(LOCAL, "write")]).await;
    let reader = token(&s, "reader", &[(LOCAL, "read")]).await;
    let helm = HelmClient::new();
    let p = package(&helm, &[("web", "1.0.0", "private web")]).await;
    let r = fetch(put_chart(&s, &writer, "web-1.0.0.tgz", bytes(&p, "web", "1.0.0").to_vec())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let url = s.url(&format!("/api/v1/local/{LOCAL}"));
    let shown = helm.show_with_auth("priv", &url, ("helm", &reader), &["web"]).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(shown["web"].contains("private web"), "{}", shown["web"]);
    let refused = HelmClient::new().show("anon", &url, &["web"]).await;
    assert!(refused.is_err_and(|e| e.contains("401")), "helm without credentials must be refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_push_to_a_docker_local_pulls_back_byte_identical() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await;
    s.create("/api/v2/locals", json!({ "name": "oci", "package_type": "docker" })).await;
    let writer = token(&s, "ci", &[("oci", "write")]).await;
    let helm = HelmClient::new();
    let p = package(&helm, &[("web", "1.2.3", "pushed as OCI")]).await;
    let archive = bytes(&p, "web", "1.2.3").to_vec();
    let host = format!("127.0.0.1:{}", s.port());
    let file = helm.packages_dir().join("web-1.2.3.tgz");
    helm.push(&file, &format!("oci://{host}/oci/charts"), &host, Some(("helm", &writer)))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", s.log_tail(30)));
    // Pulled through the registry API (helm-sdkpy's Pull crashes): the manifest names the chart
    // layer, whose bytes are the archive's.
    let reg = Registry::with_token(&s, &writer);
    let m = reg.get("/v2/oci/charts/web/manifests/1.2.3").await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.describe());
    let manifest = m.json();
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.cncf.helm.config.v1+json");
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.cncf.helm.chart.content.v1.tar+gzip");
    assert_eq!(layer["digest"].as_str(), Some(format!("sha256:{}", sha256_hex(&archive)).as_str()));
    let blob = reg.get(&format!("/v2/oci/charts/web/blobs/{}", layer["digest"].as_str().unwrap())).await;
    assert!(blob.status == StatusCode::OK && blob.body == archive, "{}", blob.describe());
}

//! Docker remotes proven with skopeo and podman against Debian's docker-registry, on every
//! storage/coordination configuration.
//!
//! Images built with umoci are pushed to the registry as OCI manifests, Docker schema 2
//! manifests, an OCI index and a Docker manifest list; a counting front sits between artifactapi
//! and the registry. Pulled through a remote, every manifest comes back byte-identical with its
//! exact Content-Type and digest, every blob is fetched upstream exactly once, a second round of
//! pulls (skopeo and podman, both platforms) costs the upstream nothing, a banned tag is refused
//! while its digest pulls, and pushes are refused. A remote with a short TTL revalidates a tag
//! with a HEAD (a GET only once the tag moved) and serves the cached tag STALE when the upstream
//! is down.

use std::collections::HashMap;
use std::time::Duration;

use artifactapi_e2e::docker::ACCEPT_MANIFESTS;
use artifactapi_e2e::docker::{podman, push, skopeo, skopeo_unchecked, Front, FrontAuth, Layout, Registry};
use artifactapi_e2e::{fetch, matrix, sha256_hex, Fetched, Options, Server};
use reqwest::StatusCode;
use serde_json::json;

/// Pushes the test images: `app:1.0` (OCI), `app:v2s2` (Docker schema 2), `app:latest` (the
/// arm image, a tag the remote bans), `multi:oci` (OCI index) and `multi:list` (Docker list).
fn push_images(layout: &Layout, reg: &Registry) {
    let host = reg.host();
    push(layout, "amd", &format!("{host}/app:1.0"), &[]);
    push(layout, "amd", &format!("{host}/app:v2s2"), &["--format", "v2s2"]);
    push(layout, "arm", &format!("{host}/app:latest"), &[]);
    push(layout, "multi", &format!("{host}/multi:oci"), &["--all"]);
    push(layout, "multi", &format!("{host}/multi:list"), &["--all", "--format", "v2s2"]);
}

async fn get_manifest(s: &Server, url: &str, method: reqwest::Method) -> Fetched {
    fetch(s.client().request(method, url).header("accept", ACCEPT_MANIFESTS)).await
}

/// skopeo copies `image` (with `--all`) from `src` to a new `dir:` and returns its files.
fn copy_to_dir(layout: &Layout, src: &str, image: &str, label: &str) -> HashMap<String, Vec<u8>> {
    let dir = layout.scratch(label);
    let dest = format!("dir:{}", dir.display());
    skopeo(&["copy", "--all", "--src-tls-verify=false", &format!("docker://{src}/{image}"), &dest]);
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

const IMAGES: [&str; 4] = ["app:1.0", "app:v2s2", "multi:oci", "multi:list"];

async fn pulls_through_the_cache(opts: Options) {
    let layout = Layout::build(1, 200_000);
    let reg = Registry::start().await;
    push_images(&layout, &reg);
    let front = Front::start(&reg.url(), FrontAuth::None).await;
    let s = Server::start(opts).await;
    s.create_remote(json!({ "name": "hub", "package_type": "docker", "base_url": front.url(), "mutable_ttl": 3600,
                            "ban_tags_enabled": true, "ban_tags": ["latest"] }))
        .await;
    let proxy = format!("127.0.0.1:{}/hub", s.port());

    let base = s.get("/v2/").await;
    assert_eq!(base.status, StatusCode::OK);
    assert_eq!(base.header("docker-distribution-api-version"), Some("registry/2.0"));

    // Every manifest media type comes back byte-identical, with its type and digest.
    for image in IMAGES {
        let (name, tag) = image.split_once(':').unwrap();
        let direct = get_manifest(&s, &format!("{}/v2/{name}/manifests/{tag}", reg.url()), reqwest::Method::GET).await;
        let url = s.url(&format!("/v2/hub/{name}/manifests/{tag}"));
        let ours = get_manifest(&s, &url, reqwest::Method::GET).await;
        assert_eq!(ours.status, StatusCode::OK, "{image}: {}", ours.describe());
        assert_eq!(ours.body, direct.body, "{image}: manifest bytes");
        assert_eq!(ours.header("content-type"), direct.header("content-type"), "{image}");
        let digest = format!("sha256:{}", sha256_hex(&ours.body));
        assert_eq!(ours.header("docker-content-digest"), Some(digest.as_str()), "{image}");
        assert_eq!(direct.header("docker-content-digest"), Some(digest.as_str()), "{image}");
    }

    // Cold pulls: skopeo copies everything (all platforms), byte for byte as from the registry.
    for image in IMAGES {
        let direct = copy_to_dir(&layout, &reg.host(), image, "direct");
        let ours = copy_to_dir(&layout, &proxy, image, "ours");
        assert_eq!(ours, direct, "{image}: skopeo copy through the remote differs from the registry's");
    }
    let root = layout.scratch("podman");
    podman(&root, &["pull", "--tls-verify=false", &format!("{proxy}/multi:oci")]);
    podman(&root, &["pull", "--tls-verify=false", "--arch", "arm64", &format!("{proxy}/multi:list")]);
    podman(&root, &["pull", "--tls-verify=false", &format!("{proxy}/app:v2s2")]);

    // Each blob was fetched upstream once (per image name: the cache keys by upstream path).
    let mut blob_gets: HashMap<String, usize> = HashMap::new();
    for seen in front.seen().iter().filter(|r| r.method == "GET" && r.path.contains("/blobs/")) {
        *blob_gets.entry(seen.path.clone()).or_default() += 1;
    }
    for (name, tag) in [("app", "amd"), ("multi", "multi")] {
        for blob in layout.blobs(tag) {
            let path = format!("/v2/{name}/blobs/{blob}");
            assert_eq!(blob_gets.get(&path), Some(&1), "{path} fetched upstream {:?} times", blob_gets.get(&path));
        }
    }
    assert!(blob_gets.values().all(|n| *n == 1), "a blob was fetched twice: {blob_gets:?}");

    // Second round, with the upstream watched: all from the cache, not one upstream request.
    front.clear();
    for image in IMAGES {
        copy_to_dir(&layout, &proxy, image, "warm");
    }
    let warm = layout.scratch("podman-warm");
    podman(&warm, &["pull", "--tls-verify=false", &format!("{proxy}/multi:oci")]);
    podman(&warm, &["pull", "--tls-verify=false", "--arch", "arm64", &format!("{proxy}/multi:oci")]);
    podman(&warm, &["pull", "--tls-verify=false", &format!("{proxy}/app:1.0")]);
    let inspect = podman(&warm, &["image", "inspect", "--format", "{{.RepoDigests}}", &format!("{proxy}/app:1.0")]);
    let repo_digests = String::from_utf8_lossy(&inspect.stdout).into_owned();
    assert!(repo_digests.contains(&format!("{proxy}/app@{}", layout.digest("amd"))), "{repo_digests}");
    let url = s.url("/v2/hub/app/manifests/1.0");
    for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
        let r = get_manifest(&s, &url, method.clone()).await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{method} of a fresh tag");
        assert_eq!(r.header("docker-content-digest"), Some(layout.digest("amd").as_str()));
    }
    assert!(front.seen().is_empty(), "warm pulls reached the upstream: {:?}", front.seen());

    // Tag lists come from the upstream, as it wrote them.
    let direct = fetch(s.client().get(format!("{}/v2/app/tags/list", reg.url()))).await;
    let ours = s.get("/v2/hub/app/tags/list").await;
    assert_eq!((ours.status, ours.json()), (StatusCode::OK, direct.json()));

    // A banned tag is refused with DENIED naming the ban; its digest still pulls.
    let banned = skopeo_unchecked(&["inspect", "--tls-verify=false", &format!("docker://{proxy}/app:latest")]);
    assert!(!banned.status.success());
    assert!(String::from_utf8_lossy(&banned.stderr).contains("banned"), "{}", String::from_utf8_lossy(&banned.stderr));
    let r = get_manifest(&s, &s.url("/v2/hub/app/manifests/latest"), reqwest::Method::GET).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["errors"][0]["code"], "DENIED");
    assert!(r.json()["errors"][0]["message"].as_str().unwrap().contains("ban_tags"), "{}", r.describe());
    let by_digest = format!("docker://{proxy}/app@{}", layout.digest("arm"));
    skopeo(&["inspect", "--tls-verify=false", &by_digest]);
    assert_eq!(front.count("GET", "/manifests/latest") + front.count("HEAD", "/manifests/latest"), 0);

    // A remote is pulled from, never pushed to.
    let pushed = skopeo_unchecked(&[
        "copy",
        "--dest-tls-verify=false",
        &layout.reference("amd"),
        &format!("docker://{proxy}/pushed:1"),
    ]);
    assert!(!pushed.status.success(), "a push to a remote succeeded");
    let r = fetch(s.client().post(s.url("/v2/hub/pushed/blobs/uploads/"))).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["errors"][0]["code"], "UNSUPPORTED");
    let r = fetch(s.client().delete(s.url(&format!("/v2/hub/app/manifests/{}", layout.digest("amd"))))).await;
    assert_eq!(
        (r.status, r.json()["errors"][0]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("UNSUPPORTED"))
    );
    assert_eq!(
        front.count("POST", "") + front.count("PUT", "") + front.count("DELETE", "") + front.count("PATCH", ""),
        0
    );
}

matrix!(pulls_through_the_cache);

async fn tags_revalidate_by_digest_and_outlive_the_upstream(opts: Options) {
    let layout = Layout::build(2, 100_000);
    let reg = Registry::start().await;
    push(&layout, "amd", &format!("{}/app:1.0", reg.host()), &[]);
    let front = Front::start(&reg.url(), FrontAuth::None).await;
    let s = Server::start(opts).await;
    s.create_remote(json!({ "name": "short", "package_type": "docker", "base_url": front.url(), "mutable_ttl": 1 }))
        .await;
    let proxy = format!("127.0.0.1:{}/short", s.port());
    let url = s.url("/v2/short/app/manifests/1.0");
    copy_to_dir(&layout, &proxy, "app:1.0", "cold");

    // Expired and unchanged upstream: a HEAD, no GET, and the cached copy renewed.
    front.clear();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = get_manifest(&s, &url, reqwest::Method::GET).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "REVALIDATED"), "{}", r.describe());
    assert_eq!((front.count("HEAD", "/manifests/1.0"), front.count("GET", "/manifests/1.0")), (1, 0));
    let r = get_manifest(&s, &url, reqwest::Method::HEAD).await;
    assert_eq!(r.x_cache(), "HIT", "renewed for another TTL");

    // The tag moves upstream: the HEAD sees a new digest, one GET fetches it.
    push(&layout, "arm", &format!("{}/app:1.0", reg.host()), &[]);
    front.clear();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = get_manifest(&s, &url, reqwest::Method::GET).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("docker-content-digest"), Some(layout.digest("arm").as_str()));
    assert_eq!((front.count("HEAD", "/manifests/1.0"), front.count("GET", "/manifests/1.0")), (1, 1));
    copy_to_dir(&layout, &proxy, "app:1.0", "moved");

    // Upstream down: the expired tag is served STALE, its blobs from the cache, and skopeo and
    // podman still pull.
    front.down().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = get_manifest(&s, &url, reqwest::Method::GET).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "STALE"), "{}", r.describe());
    assert_eq!(r.header("docker-content-digest"), Some(layout.digest("arm").as_str()));
    for blob in layout.blobs("arm") {
        let b = fetch(s.client().get(s.url(&format!("/v2/short/app/blobs/{blob}")))).await;
        assert_eq!((b.status, b.x_cache()), (StatusCode::OK, "HIT"), "{blob}");
        assert_eq!(format!("sha256:{}", sha256_hex(&b.body)), blob);
    }
    let offline = copy_to_dir(&layout, &proxy, "app:1.0", "offline");
    assert!(offline.contains_key("manifest.json"));
    let root = layout.scratch("podman-offline");
    podman(&root, &["pull", "--tls-verify=false", &format!("{proxy}/app:1.0")]);
    front.up().await;
}

matrix!(tags_revalidate_by_digest_and_outlive_the_upstream);

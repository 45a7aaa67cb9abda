//! The rest of the OCI distribution spec against the real binary: `sha512:` digests, docker
//! virtual repositories, `/v2/_catalog`, tag list paging through a remote.
//!
//! - sha512: no client here pushes by `sha512:` (skopeo 1.9 and podman 4.3 always write
//!   sha256), so blobs and manifests are pushed by raw Registry API requests (monolithic,
//!   chunked, manifest by digest) and pulled back by both digests; a remote pulls a blob by
//!   `sha512:` from a real upstream server that has it under that name, and a body that does not
//!   match is refused and never cached.
//! - virtuals: skopeo pulls through a virtual of a local and a remote (Debian's
//!   `docker-registry`), each image from the member that has it; the tag list is merged and
//!   paged; pushes are refused with 405 `UNSUPPORTED`.
//! - the catalog lists the docker locals' repositories, paged with `Link`, with the read rules
//!   of the caller's token.
//! - an upstream image of 1,200 tags is paged through a remote with `n`/`last` and `Link`, and
//!   listed whole by skopeo.
//! - hostile digests get 400 `DIGEST_INVALID` on every kind of repository.

use artifactapi_e2e::docker::{push, skopeo, Layout, Registry as Upstream};
use artifactapi_e2e::oci_client::{assert_oci_error, digest, image_manifest, Registry, OCI_MANIFEST};
use artifactapi_e2e::{
    fetch, pattern_bytes, try_fetch, Fetched, File, Options, Server, Storage, Upstream as HttpUpstream,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest as _;

fn sha512(bytes: &[u8]) -> String {
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes)))
}

async fn create(s: &Server, path: &str, spec: Value) {
    let r = s.send_json(Method::POST, path, &spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path} {spec}: {}", r.describe());
}

/// The `rel="next"` target of a `Link` header.
fn next_of(r: &Fetched) -> Option<String> {
    let link = r.header("link")?;
    let start = link.find('<')? + 1;
    let end = link.find('>')?;
    assert!(link.contains("rel=\"next\""), "{link}");
    Some(link[start..end].to_string())
}

/// Every page of a listing from `first`, following `Link`; each page's `field` array.
async fn all_pages(reg: &Registry<'_>, first: &str, field: &str) -> (Vec<String>, usize) {
    let (mut all, mut pages, mut next) = (Vec::new(), 0, Some(first.to_string()));
    while let Some(path) = next {
        let r = reg.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.describe());
        let items = r.json()[field].as_array().cloned().unwrap_or_default();
        all.extend(items.iter().map(|t| t.as_str().unwrap().to_string()));
        pages += 1;
        assert!(pages < 1000, "runaway paging at {path}");
        next = next_of(&r);
    }
    (all, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha512_blobs_and_manifests_on_a_local() {
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    create(&s, "/api/v2/locals", json!({"name": "loc", "package_type": "docker"})).await;
    let reg = Registry::new(&s);

    // Monolithic upload by sha512: answered with that digest, pulled back by both.
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
    let layer = pattern_bytes(3 << 20, 7);
    let (c512, l512) = (sha512(&config), sha512(&layer));
    for (bytes, d) in [(&config, &c512)] {
        let r = fetch(reg.request(Method::POST, &format!("/v2/loc/app/blobs/uploads/?digest={d}")).body(bytes.clone()))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
        assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
        assert_eq!(r.header("location"), Some(format!("/v2/loc/app/blobs/{d}").as_str()));
    }
    // Chunked upload closed by sha512: two PATCHes and the PUT.
    let loc = reg.start_upload("loc/app").await;
    let half = layer.len() / 2;
    let r = reg.patch(&loc, Some((0, half as u64 - 1)), &layer[..half]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.describe());
    let loc = r.header("location").unwrap().to_string();
    let r = reg.patch(&loc, Some((half as u64, layer.len() as u64 - 1)), &layer[half..]).await;
    let loc = r.header("location").unwrap().to_string();
    let r = reg.close(&loc, &l512, b"").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    assert_eq!(r.header("docker-content-digest"), Some(l512.as_str()));
    for (bytes, d512) in [(&config, &c512), (&layer, &l512)] {
        for d in [d512.clone(), digest(bytes)] {
            let r = reg.get(&format!("/v2/loc/app/blobs/{d}")).await;
            assert_eq!(r.status, StatusCode::OK, "{d}: {}", r.describe());
            assert!(r.body.as_ref() == bytes.as_slice(), "{d}: the same bytes");
            assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
            let h = reg.send(Method::HEAD, &format!("/v2/loc/app/blobs/{d}")).await;
            assert_eq!(h.header("content-length"), Some(bytes.len().to_string().as_str()));
        }
    }
    // Stored once, under the sha256.
    assert!(s.blob_path(&digest(&layer)["sha256:".len()..]).exists());

    // A wrong sha512 publishes nothing.
    let other = pattern_bytes(100_000, 8);
    let wrong = sha512(b"something else");
    let r = fetch(reg.request(Method::POST, &format!("/v2/loc/app/blobs/uploads/?digest={wrong}")).body(other.clone()))
        .await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID", "wrong sha512");
    assert!(!s.blob_path(&digest(&other)["sha256:".len()..]).exists(), "nothing published");
    assert_oci_error(&reg.get(&format!("/v2/loc/app/blobs/{wrong}")).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "");

    // A manifest pushed by its sha512 (referencing its blobs by sha256, as manifests do).
    let m = image_manifest(&config, &[&layer]);
    let m512 = sha512(&m);
    let r = reg.put_manifest("loc/app", &m512, OCI_MANIFEST, &m).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    assert_eq!(r.header("docker-content-digest"), Some(m512.as_str()));
    assert_eq!(r.header("location"), Some(format!("/v2/loc/app/manifests/{m512}").as_str()));
    for d in [m512.clone(), digest(&m)] {
        let r = reg.get(&format!("/v2/loc/app/manifests/{d}")).await;
        assert_eq!(r.status, StatusCode::OK, "{d}: {}", r.describe());
        assert_eq!((r.body.as_ref(), r.header("docker-content-digest")), (m.as_slice(), Some(d.as_str())));
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
    }
    let r = reg.put_manifest("loc/app", &sha512(b"not the manifest"), OCI_MANIFEST, &m).await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID", "manifest under a wrong sha512");

    // skopeo reads the manifest by its sha512 reference.
    let host = format!("127.0.0.1:{}", s.port());
    let out = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/loc/app@{m512}")]);
    assert_eq!(out.stdout, m, "skopeo inspect by sha512");

    // Deleting by sha512 deletes the one manifest.
    let r = reg.send(Method::DELETE, &format!("/v2/loc/app/manifests/{m512}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.describe());
    assert_eq!(reg.get(&format!("/v2/loc/app/manifests/{}", digest(&m))).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha512_blobs_through_a_remote() {
    let up = HttpUpstream::start().await;
    let good = pattern_bytes(2 << 20, 11);
    let bad = pattern_bytes(2 << 20, 12);
    let (g512, b512) = (sha512(&good), sha512(&bad));
    up.put(&format!("/v2/app/blobs/{g512}"), File::new(good.clone()).content_type("application/octet-stream"));
    // An upstream that answers other bytes than the digest names.
    up.put(&format!("/v2/app/blobs/{b512}"), File::new(good.clone()).content_type("application/octet-stream"));
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({"name": "hub", "package_type": "docker", "base_url": up.url("/")})).await;
    let reg = Registry::new(&s);

    let path = format!("/v2/hub/app/blobs/{g512}");
    let first = reg.get(&path).await;
    assert_eq!((first.status, first.header("x-cache")), (StatusCode::OK, Some("MISS")), "{}", first.describe());
    // The fill commits just after the last byte went out: wait for the cached copy.
    let mut hit = None;
    for _ in 0..100 {
        let r = reg.get(&path).await;
        if r.header("x-cache") == Some("HIT") {
            hit = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let hit = hit.expect("the blob is cached");
    for r in [&first, &hit] {
        assert!(r.body.as_ref() == good.as_slice(), "bytes: {}", r.describe());
        assert_eq!(r.header("docker-content-digest"), Some(g512.as_str()));
    }
    assert_eq!(up.count(&format!("/v2/app/blobs/{g512}")), 1, "fetched upstream once");
    assert!(s.blob_path(&digest(&good)["sha256:".len()..]).exists(), "stored under its sha256");

    // The bytes stream to the client while they are hashed: the transfer is cut off before its
    // end (or refused, on a HEAD), never completed as a whole wrong blob.
    let path = format!("/v2/hub/app/blobs/{b512}");
    if let Ok(r) = try_fetch(reg.request(Method::GET, &path)).await {
        assert!(r.status != StatusCode::OK || r.body.len() < good.len(), "a mismatch: {}", r.describe());
    }
    let head = reg.send(Method::HEAD, &path).await;
    assert_eq!(head.status, StatusCode::BAD_GATEWAY, "{}", head.describe());
    assert!(up.count(&format!("/v2/app/blobs/{b512}")) >= 2, "asked again: nothing was cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_digests_are_digest_invalid_everywhere() {
    let up = HttpUpstream::start().await;
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    create(&s, "/api/v2/locals", json!({"name": "loc", "package_type": "docker"})).await;
    s.create_remote(json!({"name": "hub", "package_type": "docker", "base_url": up.url("/")})).await;
    create(&s, "/api/v2/virtuals", json!({"name": "all", "package_type": "docker", "members": ["loc", "hub"]})).await;
    let reg = Registry::new(&s);
    let h = "ab".repeat(64);
    let hostile = [
        format!("sha512:{}", &h[..127]),
        format!("sha512:{h}0"),
        format!("sha512:{}", h.to_uppercase()),
        format!("SHA512:{h}"),
        format!("sha384:{}", "a".repeat(96)),
        format!("sha256:{h}"),
        "sha256:..".to_string(),
        "sha512:%2e%2e%2fx".to_string(),
        "sha256%3A..%5C..".to_string(),
        format!("sha512:{}%00", &h[..127]),
    ];
    for repo in ["loc", "hub", "all"] {
        for d in &hostile {
            for op in ["blobs", "manifests"] {
                let path = format!("/v2/{repo}/app/{op}/{d}");
                assert_oci_error(&reg.get(&path).await, StatusCode::BAD_REQUEST, "DIGEST_INVALID", &path);
            }
        }
    }
    for d in &hostile {
        let path = format!("/v2/loc/app/blobs/uploads/?digest={d}");
        let r = fetch(reg.request(Method::POST, &path).body(b"bytes".to_vec())).await;
        assert_oci_error(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID", &path);
    }
    assert_eq!(up.total(), 0, "no hostile digest reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_of_a_local_and_a_remote() {
    let layout = Layout::build(3, 300_000);
    let upstream = Upstream::start().await;
    push(&layout, "amd", &format!("{}/app:1.0", upstream.host()), &[]);
    push(&layout, "amd", &format!("{}/app:shared", upstream.host()), &[]);
    push(&layout, "multi", &format!("{}/multi:oci", upstream.host()), &["--all"]);
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    create(&s, "/api/v2/locals", json!({"name": "loc", "package_type": "docker"})).await;
    s.create_remote(json!({"name": "hub", "package_type": "docker", "base_url": upstream.url(), "mutable_ttl": 3600}))
        .await;
    create(&s, "/api/v2/virtuals", json!({"name": "all", "package_type": "docker", "members": ["loc", "hub"]})).await;
    let host = format!("127.0.0.1:{}", s.port());
    // The local has app:2.0 and its own app:shared (the arm image), which shadows the remote's.
    skopeo(&["copy", "--dest-tls-verify=false", &layout.reference("arm"), &format!("docker://{host}/loc/app:2.0")]);
    skopeo(&["copy", "--dest-tls-verify=false", &layout.reference("arm"), &format!("docker://{host}/loc/app:shared")]);

    let raw = |reference: &str| {
        let out = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/all/{reference}")]);
        format!("sha256:{}", artifactapi_e2e::sha256_hex(&out.stdout))
    };
    assert_eq!(raw("app:1.0"), layout.digest("amd"), "from the remote");
    assert_eq!(raw("app:2.0"), layout.digest("arm"), "from the local");
    assert_eq!(raw("app:shared"), layout.digest("arm"), "the first member wins");
    assert_eq!(raw("multi:oci"), layout.digest("multi"), "an index from the remote");
    // Whole pulls, every blob from the member that has it.
    for (reference, want) in [("app:1.0", "amd"), ("app:2.0", "arm"), ("multi:oci", "multi")] {
        let dir = layout.scratch(&format!("pull-{}", reference.replace(':', "-")));
        let dest = format!("oci:{}:x", dir.display());
        skopeo(&["copy", "--all", "--src-tls-verify=false", &format!("docker://{host}/all/{reference}"), &dest]);
        let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], layout.digest(want), "{reference}");
    }

    // Tags: merged, sorted, deduplicated, paged.
    let reg = Registry::new(&s);
    let r = reg.get("/v2/all/app/tags/list").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(r.json(), json!({"name": "all/app", "tags": ["1.0", "2.0", "shared"]}));
    assert_eq!(next_of(&r), None);
    let r = reg.get("/v2/all/app/tags/list?n=2").await;
    assert_eq!(r.json()["tags"], json!(["1.0", "2.0"]));
    assert_eq!(next_of(&r).as_deref(), Some("/v2/all/app/tags/list?n=2&last=2.0"));
    let r = reg.get("/v2/all/app/tags/list?n=2&last=2.0").await;
    assert_eq!((r.json()["tags"].clone(), next_of(&r)), (json!(["shared"]), None));
    let r = reg.get("/v2/all/nothing/tags/list").await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "NAME_UNKNOWN", "no member has the image");
    let r = reg.get(&format!("/v2/all/app/manifests/{}", digest(b"nowhere"))).await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "no member has the manifest");

    // Pushes are refused, with the registry's error format.
    let r = reg.send(Method::POST, "/v2/all/app/blobs/uploads/").await;
    assert_oci_error(&r, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "upload to a virtual");
    let m = image_manifest(b"{}", &[]);
    let r = reg.put_manifest("all/app", "v9", OCI_MANIFEST, &m).await;
    assert_oci_error(&r, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "manifest push to a virtual");
    let r = reg.send(Method::DELETE, "/v2/all/app/manifests/2.0").await;
    assert_oci_error(&r, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "delete on a virtual");
    let out = artifactapi_e2e::docker::skopeo_unchecked(&[
        "copy",
        "--dest-tls-verify=false",
        &layout.reference("amd"),
        &format!("docker://{host}/all/app:pushed"),
    ]);
    assert!(!out.status.success(), "skopeo push to a virtual must fail");

    // A member that is down is named; the others still answer.
    drop(upstream);
    let r = reg.get("/v2/all/app/manifests/2.0").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    let r = reg.get("/v2/all/other/manifests/1.0").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    assert_eq!(r.header("x-artifactapi-unavailable"), Some("hub"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_pages_with_the_token_rules() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token("admin").env("ANONYMOUS_READS", "false")).await;
    for name in ["loc", "secret"] {
        create(&s, "/api/v2/locals", json!({"name": name, "package_type": "docker"})).await;
    }
    let admin = Registry::with_token(&s, "admin");
    let mut want = Vec::new();
    for i in 0..25 {
        let name = format!("loc/team/app{i:02}");
        admin.push_image(&name, "v1", format!("{{\"n\":{i}}}").as_bytes(), &[&pattern_bytes(1000, i)]).await;
        want.push(name);
    }
    for i in 0..3 {
        admin.push_image(&format!("secret/img{i}"), "v1", b"{}", &[]).await;
    }
    // Blobs alone make no repository.
    admin.push_blob("loc/blobs-only", b"lonely").await;

    let reader = s.token("reader", &[("loc", "read")]).await;
    let reader = Registry::with_token(&s, &reader);
    let (listed, pages) = all_pages(&reader, "/v2/_catalog?n=10", "repositories").await;
    assert_eq!((listed.clone(), pages), (want.clone(), 3), "loc only, three pages");
    let r = reader.get("/v2/_catalog?n=10").await;
    assert_eq!(next_of(&r).as_deref(), Some("/v2/_catalog?n=10&last=loc%2Fteam%2Fapp09"));

    let (everything, _) = all_pages(&admin, "/v2/_catalog", "repositories").await;
    let mut all = want.clone();
    all.extend((0..3).map(|i| format!("secret/img{i}")));
    assert_eq!(everything, all);

    let anonymous = Registry::new(&s);
    let r = anonymous.get("/v2/_catalog").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(r.json()["repositories"], json!([]), "anonymous reads are off: nothing listed");
    for bad in ["n=x", "n=100000", "last=..", "last=loc%2F..%2Fx", "last=loc"] {
        let r = admin.get(&format!("/v2/_catalog?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.describe());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_of_1200_tags_pages_through_a_remote() {
    let upstream = Upstream::start().await;
    // One image, 1,200 tags: pushed once, tagged by raw manifest PUTs (skopeo would take minutes).
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
    let layer = pattern_bytes(50_000, 5);
    for blob in [&config, &layer] {
        // distribution takes a POST, then the bytes on the closing PUT.
        let r = client.post(format!("{}/v2/app/blobs/uploads/", upstream.url())).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let url = if location.starts_with("http") { location } else { format!("{}{location}", upstream.url()) };
        let sep = if url.contains('?') { '&' } else { '?' };
        let r = client.put(format!("{url}{sep}digest={}", digest(blob))).body(blob.clone()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let m = image_manifest(&config, &[&layer]);
    let mut tags: Vec<String> = (0..1200).map(|i| format!("v{i}")).collect();
    for chunk in tags.chunks(50) {
        let puts = chunk.iter().map(|t| {
            let url = format!("{}/v2/app/manifests/{t}", upstream.url());
            client.put(url).header("content-type", OCI_MANIFEST).body(m.clone()).send()
        });
        for r in futures_util::future::join_all(puts).await {
            assert_eq!(r.unwrap().status(), StatusCode::CREATED);
        }
    }
    tags.sort();
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({"name": "hub", "package_type": "docker", "base_url": upstream.url(), "mutable_ttl": 3600}))
        .await;
    let reg = Registry::new(&s);

    let (paged, pages) = all_pages(&reg, "/v2/hub/app/tags/list?n=100", "tags").await;
    assert_eq!(paged, tags, "every tag once, in order");
    assert_eq!(pages, 13, "12 full pages and the empty one after the last full page");
    let whole = reg.get("/v2/hub/app/tags/list").await;
    assert_eq!(whole.json()["tags"].as_array().map(Vec::len), Some(1200));
    assert_eq!(next_of(&whole), None);

    let out = skopeo(&["list-tags", "--tls-verify=false", &format!("docker://127.0.0.1:{}/hub/app", s.port())]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["Tags"].as_array().map(Vec::len), Some(1200), "skopeo list-tags");

    // A virtual merges them with a local's.
    create(&s, "/api/v2/locals", json!({"name": "loc", "package_type": "docker"})).await;
    create(&s, "/api/v2/virtuals", json!({"name": "all", "package_type": "docker", "members": ["loc", "hub"]})).await;
    Registry::new(&s).push_image("loc/app", "zz-local", &config, &[&layer]).await;
    let (merged, _) = all_pages(&reg, "/v2/all/app/tags/list?n=500", "tags").await;
    let mut want = tags.clone();
    want.push("zz-local".into());
    assert_eq!(merged, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_rate_limits_show_in_metrics() {
    let up = HttpUpstream::start().await;
    let m = image_manifest(b"{}", &[]);
    let manifest = |remaining: &str| {
        File::new(m.clone())
            .content_type(OCI_MANIFEST)
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", &format!("{remaining};w=21600"))
    };
    up.put("/v2/library/alpine/manifests/3.19", manifest("76"));
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({"name": "hub", "package_type": "docker", "base_url": up.url("/"), "mutable_ttl": 1})).await;
    s.create_remote(json!({"name": "quiet", "package_type": "docker", "base_url": up.url("/")})).await;
    let reg = Registry::new(&s);
    let gauge = |text: &str, name: &str, repo: &str| {
        let prefix = format!("{name}{{repo=\"{repo}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
    };

    assert_eq!(reg.get("/v2/hub/library/alpine/manifests/3.19").await.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&s.get("/metrics").await.body).into_owned();
    assert_eq!(gauge(&text, "artifactapi_upstream_ratelimit_limit", "hub").as_deref(), Some("100"), "{text}");
    assert_eq!(gauge(&text, "artifactapi_upstream_ratelimit_remaining", "hub").as_deref(), Some("76"));
    assert_eq!(gauge(&text, "artifactapi_upstream_ratelimit_remaining", "quiet"), None, "no quota announced");

    // The next answer's figure replaces it (once the tag expired and is revalidated upstream).
    up.put("/v2/library/alpine/manifests/3.19", manifest("75"));
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(reg.get("/v2/hub/library/alpine/manifests/3.19").await.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&s.get("/metrics").await.body).into_owned();
    assert_eq!(gauge(&text, "artifactapi_upstream_ratelimit_remaining", "hub").as_deref(), Some("75"), "{text}");
}

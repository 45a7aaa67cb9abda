//! Local docker repositories against the real binary, driven by raw Registry API requests.
//!
//! The OCI distribution-spec conformance categories (pull, push, content discovery, content
//! management) restated as our own tests with the edge cases that matter: chunked uploads with
//! `Content-Range`, out-of-order chunks (416), wrong digests, mounts, manifests that reference
//! what the repository lacks, a manifest of more than 4 MiB and one over the limit, tag paging,
//! referrers, deletes and GC. Every scenario runs in every configuration (`fs`, `fs_redis`, `s3`,
//! `s3_redis`). The clients' own view (skopeo, podman) is in `docker_local.rs`.

use artifactapi_e2e::oci_client::{
    assert_oci_error, descriptor, digest, image_manifest, Registry, OCI_INDEX, OCI_MANIFEST,
};
use artifactapi_e2e::{matrix, pattern_bytes, Options, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A server with the local docker repository `loc` (and a generic local `gen`).
async fn setup(opts: Options) -> Server {
    let s = Server::start(opts).await;
    for (name, t) in [("loc", "docker"), ("gen", "generic")] {
        let r = s.send_json(Method::POST, "/api/v2/locals", &json!({"name": name, "package_type": t})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    }
    s
}

/// Files in the store's blob directory.
fn stored_blobs(s: &Server) -> usize {
    let dir = s.blob_path("x").parent().expect("blob dir").to_path_buf();
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Parts of uploads in progress in the store (`uploads/{upload}/{part}`).
fn stored_parts(s: &Server) -> usize {
    let root = s.bucket_dir().unwrap_or_else(|| s.data_dir().to_path_buf()).join("uploads");
    let Ok(uploads) = std::fs::read_dir(root) else { return 0 };
    uploads.flatten().map(|u| std::fs::read_dir(u.path()).map(|d| d.count()).unwrap_or(0)).sum()
}

async fn pull(opts: Options) {
    let s = setup(opts).await;
    let reg = Registry::new(&s);
    let (config, layer) = (b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec(), pattern_bytes(300_000, 1));
    let m = reg.push_image("loc/team/app", "v1", &config, &[&layer]).await;
    let md = digest(&m);

    for path in ["/v2/loc/team/app/manifests/v1".to_string(), format!("/v2/loc/team/app/manifests/{md}")] {
        let r = reg.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.describe());
        assert_eq!(r.body.as_ref(), m.as_slice(), "exact bytes");
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
        assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
        let h = reg.send(Method::HEAD, &path).await;
        assert_eq!((h.status, h.body.len()), (StatusCode::OK, 0));
        assert_eq!(h.header("content-length"), Some(m.len().to_string().as_str()));
        assert_eq!(h.header("docker-content-digest"), Some(md.as_str()));
    }

    let ld = digest(&layer);
    let blob = format!("/v2/loc/team/app/blobs/{ld}");
    let r = reg.get(&blob).await;
    assert_eq!((r.status, r.body.as_ref()), (StatusCode::OK, layer.as_slice()));
    assert_eq!(r.header("docker-content-digest"), Some(ld.as_str()));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let h = reg.send(Method::HEAD, &blob).await;
    assert_eq!(h.header("content-length"), Some("300000"));
    let part = artifactapi_e2e::fetch(reg.request(Method::GET, &blob).header("range", "bytes=1000-1999")).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body.as_ref(), &layer[1000..2000]);
    assert_eq!(part.header("content-range"), Some("bytes 1000-1999/300000"));
    let past = artifactapi_e2e::fetch(reg.request(Method::GET, &blob).header("range", "bytes=300000-")).await;
    assert_oci_error(&past, StatusCode::RANGE_NOT_SATISFIABLE, "SIZE_INVALID", "range past the end");
    assert_eq!(past.header("content-range"), Some("bytes */300000"));

    // Unknown things, each with its code.
    let other = digest(b"never pushed");
    let r = reg.get(&format!("/v2/loc/team/app/blobs/{other}")).await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "unknown blob");
    let r = reg.get(&format!("/v2/loc/elsewhere/blobs/{ld}")).await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "a blob of another repository");
    let r = reg.get("/v2/loc/team/app/manifests/v2").await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "unknown tag");
    let r = reg.get(&format!("/v2/loc/team/app/manifests/{other}")).await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "unknown digest");
    let r = reg.get("/v2/nope/app/manifests/v1").await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "NAME_UNKNOWN", "unknown repository");
    let r = reg.get("/v2/gen/app/manifests/v1").await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "NAME_UNKNOWN", "a generic local");

    // A Docker schema 2 manifest keeps its own media type.
    let v2 = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": ld, "size": layer.len()}]});
    let v2 = serde_json::to_vec_pretty(&v2).unwrap();
    let r = reg.put_manifest("loc/team/app", "docker", DOCKER_MANIFEST, &v2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let r = reg.get("/v2/loc/team/app/manifests/docker").await;
    assert_eq!((r.header("content-type"), r.body.as_ref()), (Some(DOCKER_MANIFEST), v2.as_slice()));
}
matrix!(pull);

async fn push(opts: Options) {
    let s = setup(opts).await;
    let reg = Registry::new(&s);
    let name = "loc/app";

    // POST, then PUT with the whole blob.
    let whole = pattern_bytes(5000, 2);
    let r = reg.send(Method::POST, &format!("/v2/{name}/blobs/uploads/")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.describe());
    let loc = r.header("location").expect("Location").to_string();
    let uuid = r.header("docker-upload-uuid").expect("Docker-Upload-UUID");
    assert!(loc.starts_with(&format!("/v2/{name}/blobs/uploads/")) && loc.ends_with(uuid), "{loc}");
    assert_eq!(r.header("range"), Some("0-0"));
    assert!(r.header("oci-chunk-min-length").and_then(|v| v.parse::<u64>().ok()).is_some());
    let r = reg.close(&loc, &digest(&whole), &whole).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    assert_eq!(r.header("location"), Some(format!("/v2/{name}/blobs/{}", digest(&whole)).as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(digest(&whole).as_str()));
    assert_eq!(reg.get(&format!("/v2/{name}/blobs/{}", digest(&whole))).await.body.as_ref(), whole.as_slice());

    // Chunks with Content-Range, the status in between, one out of order, the last on the PUT.
    let big = pattern_bytes(2_500_000, 3);
    let loc = reg.start_upload(name).await;
    for (start, end) in [(0u64, 999_999u64), (1_000_000, 1_999_999)] {
        let r = reg.patch(&loc, Some((start, end)), &big[start as usize..=end as usize]).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "chunk {start}-{end}: {}", r.describe());
        assert_eq!(r.header("range"), Some(format!("0-{end}").as_str()));
        assert!(r.header("location").is_some() && r.header("docker-upload-uuid").is_some());
    }
    let st = reg.get(&loc).await;
    assert_eq!((st.status, st.header("range")), (StatusCode::NO_CONTENT, Some("0-1999999")));
    for (start, end) in [(2_100_000u64, 2_199_999u64), (0, 999_999)] {
        let r = reg.patch(&loc, Some((start, end)), &big[start as usize..=end as usize]).await;
        assert_oci_error(&r, StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID", "out of order");
        assert_eq!(r.header("range"), Some("0-1999999"), "the 416 says where the upload stands");
    }
    let r = reg.close(&loc, &digest(&big), &big[2_000_000..]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    assert_eq!(reg.get(&format!("/v2/{name}/blobs/{}", digest(&big))).await.body.as_ref(), big.as_slice());
    let r = reg.get(&loc).await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "a finished upload");

    // Streamed PATCHes without a range, then an empty PUT.
    let loc = reg.start_upload(name).await;
    for piece in big.chunks(1_300_000) {
        assert_eq!(reg.patch(&loc, None, piece).await.status, StatusCode::ACCEPTED);
    }
    assert_eq!(reg.close(&loc, &digest(&big), b"").await.status, StatusCode::CREATED);

    // A wrong digest publishes nothing and ends the upload.
    let loc = reg.start_upload(name).await;
    reg.patch(&loc, None, b"these bytes").await;
    let r = reg.close(&loc, &digest(b"other bytes"), b"").await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID", "wrong digest on PUT");
    assert_oci_error(&reg.get(&loc).await, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "after a wrong digest");
    let r = reg.get(&format!("/v2/{name}/blobs/{}", digest(b"these bytes"))).await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "nothing published");
    let url = format!("/v2/{name}/blobs/uploads/?digest={}", digest(b"other"));
    let r = artifactapi_e2e::fetch(reg.request(Method::POST, &url).body(b"mono".to_vec())).await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID", "wrong digest on a monolithic upload");
    let r = reg.close(&reg.start_upload(name).await, "sha256:nothex", b"").await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID", "a malformed digest");

    // Ranges that do not match their body, or no byte count at all, are refused.
    let loc = reg.start_upload(name).await;
    for (range, what) in [((0, u64::MAX), "an absurd range"), ((0, 99), "a range longer than the body")] {
        let r = reg.patch(&loc, Some(range), b"ten bytes!").await;
        assert_oci_error(&r, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", what);
    }
    let r =
        artifactapi_e2e::fetch(reg.request(Method::PATCH, &loc).header("content-range", "bytes=a-b").body("x")).await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", "a malformed range");
    assert_eq!(reg.get(&loc).await.header("range"), Some("0-0"), "nothing was appended");

    // DELETE cancels.
    let loc = reg.start_upload(name).await;
    reg.patch(&loc, None, b"abandoned").await;
    assert_eq!(reg.send(Method::DELETE, &loc).await.status, StatusCode::NO_CONTENT);
    assert_oci_error(&reg.patch(&loc, None, b"more").await, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "cancelled");

    // Cross-repository mount: 201 when the source has the blob, an upload (202) when not.
    let wd = digest(&whole);
    let r = reg.send(Method::POST, &format!("/v2/loc/other/blobs/uploads/?mount={wd}&from={name}")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    assert_eq!(r.header("location"), Some(format!("/v2/loc/other/blobs/{wd}").as_str()));
    assert_eq!(reg.get(&format!("/v2/loc/other/blobs/{wd}")).await.body.as_ref(), whole.as_slice());
    let unknown = digest(b"not anywhere");
    let r = reg.send(Method::POST, &format!("/v2/loc/other/blobs/uploads/?mount={unknown}&from={name}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.describe());
    assert!(r.header("location").is_some_and(|l| l.contains("/blobs/uploads/")));
    let r = reg.send(Method::POST, &format!("/v2/loc/third/blobs/uploads/?mount={wd}&from=nope/x")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "unknown source repository: {}", r.describe());

    // Manifests: by tag and by digest, with references checked against the repository.
    let config = b"{}".to_vec();
    reg.push_blob(name, &config).await;
    let m = image_manifest(&config, &[&whole, &big]);
    let md = digest(&m);
    let r = reg.put_manifest(name, &md, OCI_MANIFEST, &m).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    assert_eq!(r.header("location"), Some(format!("/v2/{name}/manifests/{md}").as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
    assert!(r.header("oci-subject").is_none());
    let r = reg.put_manifest(name, &digest(b"other"), OCI_MANIFEST, &m).await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID", "manifest under another digest");
    let missing = image_manifest(&config, &[&whole, b"never pushed layer"]);
    let r = reg.put_manifest(name, "missing", OCI_MANIFEST, &missing).await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", "unknown layer");
    let r = reg.put_manifest("loc/other", "v1", OCI_MANIFEST, &m).await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", "layers of another repository");
    let r = reg.put_manifest(name, "bad", OCI_MANIFEST, b"{\"schemaVersion\": 2, \"config\": ").await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "invalid JSON");
    let r = reg.put_manifest(name, "bad", OCI_INDEX, &m).await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "Content-Type and mediaType differ");
    let index = |children: Vec<Value>| {
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})).unwrap()
    };
    let bad_index = index(vec![descriptor(OCI_MANIFEST, &m), descriptor(OCI_MANIFEST, &missing)]);
    let r = reg.put_manifest(name, "multi", OCI_INDEX, &bad_index).await;
    assert_oci_error(&r, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", "index of an unknown manifest");
    let good_index = index(vec![descriptor(OCI_MANIFEST, &m)]);
    assert_eq!(reg.put_manifest(name, "multi", OCI_INDEX, &good_index).await.status, StatusCode::CREATED);
    assert_eq!(reg.get(&format!("/v2/{name}/manifests/multi")).await.header("content-type"), Some(OCI_INDEX));

    // A subject is answered with OCI-Subject.
    let mut sig: Value = serde_json::from_slice(&image_manifest(&config, &[])).unwrap();
    sig["artifactType"] = json!("application/vnd.example.signature");
    sig["subject"] = descriptor(OCI_MANIFEST, &m);
    let sig = serde_json::to_vec(&sig).unwrap();
    let r = reg.put_manifest(name, &digest(&sig), OCI_MANIFEST, &sig).await;
    assert_eq!((r.status, r.header("oci-subject")), (StatusCode::CREATED, Some(md.as_str())), "{}", r.describe());

    // A manifest of more than 4 MiB is taken whole; one over the limit (8 MiB) is refused.
    let mut large: Value = serde_json::from_slice(&m).unwrap();
    large["annotations"] = json!({ "org.example.padding": "x".repeat(4 << 20) });
    let large = serde_json::to_vec(&large).unwrap();
    assert!(large.len() > 4 << 20);
    let r = reg.put_manifest(name, "large", OCI_MANIFEST, &large).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let back = reg.get(&format!("/v2/{name}/manifests/large")).await;
    assert_eq!((back.body.len(), back.header("docker-content-digest")), (large.len(), Some(digest(&large).as_str())));
    let mut huge: Value = serde_json::from_slice(&m).unwrap();
    huge["annotations"] = json!({ "org.example.padding": "x".repeat(9 << 20) });
    let r = reg.put_manifest(name, "huge", OCI_MANIFEST, &serde_json::to_vec(&huge).unwrap()).await;
    assert_oci_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", "manifest over the limit");
    assert_oci_error(
        &reg.get(&format!("/v2/{name}/manifests/huge")).await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        "not stored",
    );

    // The same layer pushed to two repositories is one blob in the store.
    let shared = pattern_bytes(70_000, 9);
    let before = stored_blobs(&s);
    reg.push_blob("loc/x", &shared).await;
    assert_eq!(stored_blobs(&s), before + 1);
    reg.push_blob("loc/y", &shared).await;
    assert_eq!(stored_blobs(&s), before + 1, "the second repository links the same blob");
    assert!(s.blob_path(digest(&shared).trim_start_matches("sha256:")).is_file());
    assert_eq!(stored_parts(&s), 0, "finished uploads leave no parts behind");
}
matrix!(push);

async fn content_discovery(opts: Options) {
    let s = setup(opts).await;
    let reg = Registry::new(&s);
    let name = "loc/team/app";
    let config = b"{}".to_vec();
    let m = reg.push_image(name, "first", &config, &[b"layer"]).await;
    for tag in ["b", "a", "B", "a.1", "10", "9"] {
        assert_eq!(reg.put_manifest(name, tag, OCI_MANIFEST, &m).await.status, StatusCode::CREATED);
    }
    let all = reg.get(&format!("/v2/{name}/tags/list")).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.json(), json!({"name": name, "tags": ["10", "9", "B", "a", "a.1", "b", "first"]}));
    assert!(all.header("link").is_none());

    // Paging by n, following the Link header.
    let mut seen = Vec::new();
    let mut next = format!("/v2/{name}/tags/list?n=3");
    loop {
        let page = reg.get(&next).await;
        assert_eq!(page.status, StatusCode::OK, "{next}: {}", page.describe());
        let tags: Vec<String> = serde_json::from_value(page.json()["tags"].clone()).unwrap();
        assert!(tags.len() <= 3);
        seen.extend(tags);
        match page.header("link") {
            Some(link) => {
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                next = link.trim_start_matches('<').split('>').next().unwrap().to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["10", "9", "B", "a", "a.1", "b", "first"]);
    let after = reg.get(&format!("/v2/{name}/tags/list?last=a.1")).await.json();
    assert_eq!(after["tags"], json!(["b", "first"]));
    let r = reg.get(&format!("/v2/{name}/tags/list?n=x")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    let r = reg.get("/v2/loc/empty/tags/list").await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "NAME_UNKNOWN", "a repository with nothing");

    // Referrers: every manifest whose subject is the image, filtered by artifactType.
    let md = digest(&m);
    let mut pushed = Vec::new();
    for (kind, layer) in [("signature", &b"sig"[..]), ("sbom", &b"sbom"[..])] {
        reg.push_blob(name, layer).await;
        let mut a: Value = serde_json::from_slice(&image_manifest(&config, &[layer])).unwrap();
        a["artifactType"] = json!(format!("application/vnd.example.{kind}"));
        a["subject"] = descriptor(OCI_MANIFEST, &m);
        a["annotations"] = json!({"org.example.kind": kind});
        let a = serde_json::to_vec(&a).unwrap();
        assert_eq!(reg.put_manifest(name, &digest(&a), OCI_MANIFEST, &a).await.status, StatusCode::CREATED);
        pushed.push(a);
    }
    let r = reg.get(&format!("/v2/{name}/referrers/{md}")).await;
    assert_eq!((r.status, r.header("content-type")), (StatusCode::OK, Some(OCI_INDEX)), "{}", r.describe());
    let index = r.json();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["digest"], digest(&pushed[0]));
    assert_eq!(entries[0]["artifactType"], "application/vnd.example.signature");
    assert_eq!(entries[0]["size"], pushed[0].len());
    assert_eq!(entries[1]["annotations"]["org.example.kind"], "sbom");
    let r = reg.get(&format!("/v2/{name}/referrers/{md}?artifactType=application/vnd.example.sbom")).await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let only: Vec<Value> = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["digest"], digest(&pushed[1]));
    let none = reg.get(&format!("/v2/{name}/referrers/{}", digest(b"nothing refers to this"))).await;
    assert_eq!((none.status, none.json()["manifests"].clone()), (StatusCode::OK, json!([])));
}
matrix!(content_discovery);

async fn content_management(opts: Options) {
    let s = setup(opts).await;
    let reg = Registry::new(&s);
    let name = "loc/app";
    let (config, la, lb) = (b"{}".to_vec(), pattern_bytes(40_000, 4), pattern_bytes(50_000, 5));
    let ma = reg.push_image(name, "v1", &config, &[&la]).await;
    let mb = reg.push_image(name, "v1", &config, &[&lb]).await;
    assert_eq!(reg.get(&format!("/v2/{name}/manifests/v1")).await.body.as_ref(), mb.as_slice(), "the tag moved");
    assert_eq!(reg.put_manifest(name, "keep", OCI_MANIFEST, &mb).await.status, StatusCode::CREATED);

    // DELETE by tag removes the tag; the manifest stays by digest.
    assert_eq!(reg.send(Method::DELETE, &format!("/v2/{name}/manifests/keep")).await.status, StatusCode::ACCEPTED);
    assert_oci_error(
        &reg.get(&format!("/v2/{name}/manifests/keep")).await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        "deleted tag",
    );
    assert_eq!(reg.get(&format!("/v2/{name}/manifests/{}", digest(&mb))).await.status, StatusCode::OK);

    // DELETE by digest removes the manifest and the tags naming it.
    let by_digest = format!("/v2/{name}/manifests/{}", digest(&ma));
    assert_eq!(reg.put_manifest(name, "old", OCI_MANIFEST, &ma).await.status, StatusCode::CREATED);
    assert_eq!(reg.send(Method::DELETE, &by_digest).await.status, StatusCode::ACCEPTED);
    assert_oci_error(&reg.get(&by_digest).await, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "deleted manifest");
    assert_oci_error(
        &reg.get(&format!("/v2/{name}/manifests/old")).await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        "its tag",
    );
    assert_oci_error(&reg.send(Method::DELETE, &by_digest).await, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "again");
    let tags = reg.get(&format!("/v2/{name}/tags/list")).await.json();
    assert_eq!(tags["tags"], json!(["v1"]));

    // DELETE of a blob: 404 right after.
    let extra = reg.push_blob(name, b"an unreferenced blob").await;
    let blob = format!("/v2/{name}/blobs/{extra}");
    assert_eq!(reg.send(Method::DELETE, &blob).await.status, StatusCode::ACCEPTED);
    assert_oci_error(&reg.get(&blob).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "deleted blob");
    assert_oci_error(&reg.send(Method::DELETE, &blob).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "deleted twice");

    // GC keeps what a tag or manifest references and reaps the rest.
    let report = s.gc(false, Some(0)).await;
    assert!(report["deleted"].as_u64().unwrap() >= 3, "{report}");
    let path = |bytes: &[u8]| s.blob_path(digest(bytes).trim_start_matches("sha256:"));
    for (what, bytes) in
        [("deleted manifest", &ma[..]), ("its layer", &la[..]), ("deleted blob", &b"an unreferenced blob"[..])]
    {
        assert!(!path(bytes).exists(), "{what} reaped");
    }
    for (what, bytes) in [("tagged manifest", &mb[..]), ("its layer", &lb[..]), ("its config", &config[..])] {
        assert!(path(bytes).is_file(), "{what} kept");
    }
    assert_eq!(reg.get(&format!("/v2/{name}/blobs/{}", digest(&lb))).await.body.as_ref(), lb.as_slice());
    let r = reg.get(&format!("/v2/{name}/blobs/{}", digest(&la))).await;
    assert_oci_error(&r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "a reaped layer");
    // Pushing it again brings it back.
    reg.push_blob(name, &la).await;
    assert_eq!(reg.get(&format!("/v2/{name}/blobs/{}", digest(&la))).await.body.as_ref(), la.as_slice());
}
matrix!(content_management);

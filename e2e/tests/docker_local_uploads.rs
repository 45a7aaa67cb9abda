//! Blob uploads of local docker repositories that outlive a process: a chunked upload continued
//! after a restart and by another replica (same database and storage), abandoned uploads
//! purged with their stored parts, and hostile names, ids and digests refused with OCI errors
//! while nothing is stored.

use std::time::Duration;

use artifactapi_e2e::oci_client::{assert_oci_error, digest, Registry};
use artifactapi_e2e::raw::request_with_headers;
use artifactapi_e2e::{matrix, pattern_bytes, poll_until, Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn create_local(s: &Server) {
    let r = s.send_json(Method::POST, "/api/v2/locals", &json!({"name": "loc", "package_type": "docker"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
}

/// Files under the store's `uploads/` (the parts of uploads in progress).
fn stored_parts(s: &Server) -> usize {
    let root = s.bucket_dir().unwrap_or_else(|| s.data_dir().to_path_buf()).join("uploads");
    let Ok(uploads) = std::fs::read_dir(root) else { return 0 };
    uploads.flatten().map(|u| std::fs::read_dir(u.path()).map(|d| d.count()).unwrap_or(0)).sum()
}

async fn resumed_after_restart_and_on_another_replica(opts: Options) {
    let mut first = Server::start(opts).await;
    create_local(&first).await;
    let blob = pattern_bytes(3_000_000, 11);
    let d = digest(&blob);
    let loc = Registry::new(&first).start_upload("loc/app").await;
    let r = Registry::new(&first).patch(&loc, Some((0, 999_999)), &blob[..1_000_000]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.describe());
    assert_eq!(stored_parts(&first), 1, "the chunk is in the shared store, not in the process");
    first.terminate().await;

    // A new process on the same database and storage continues where the upload stood.
    let second = Server::start(Options::new(Storage::Fs, false).shared_with(&first)).await;
    let reg = Registry::new(&second);
    let st = reg.get(&loc).await;
    assert_eq!((st.status, st.header("range")), (StatusCode::NO_CONTENT, Some("0-999999")), "{}", st.describe());
    let r = reg.patch(&loc, Some((1_000_000, 1_999_999)), &blob[1_000_000..2_000_000]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.describe());

    // A second replica, running at the same time, takes the next chunk and the closing PUT.
    let third = Server::start(Options::new(Storage::Fs, false).shared_with(&second)).await;
    let other = Registry::new(&third);
    let r = other.patch(&loc, Some((1_000_000, 1_999_999)), &blob[1_000_000..2_000_000]).await;
    assert_oci_error(&r, StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID", "a chunk already taken");
    let r = other.close(&loc, &d, &blob[2_000_000..]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    for s in [&second, &third] {
        let got = Registry::new(s).get(&format!("/v2/loc/app/blobs/{d}")).await;
        assert_eq!((got.status, got.body.len()), (StatusCode::OK, blob.len()));
        assert!(got.body.as_ref() == blob.as_slice(), "the assembled blob has the pushed bytes");
    }
    assert_eq!(stored_parts(&second), 0, "the parts went with the finished upload");
    assert_oci_error(&reg.get(&loc).await, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "finished elsewhere");
}
matrix!(resumed_after_restart_and_on_another_replica);

async fn abandoned_uploads_are_purged(opts: Options) {
    let s = Server::start(opts.env("DOCKER_UPLOAD_MAX_AGE", 2)).await;
    create_local(&s).await;
    let reg = Registry::new(&s);
    let idle = reg.start_upload("loc/app").await;
    assert_eq!(reg.patch(&idle, None, b"never finished").await.status, StatusCode::ACCEPTED);
    assert_eq!(stored_parts(&s), 1);
    // Watch the store, not the upload: asking for its status would keep it alive.
    poll_until("the idle upload's parts to be purged", Duration::from_secs(20), Duration::from_millis(250), || async {
        (stored_parts(&s) == 0).then_some(())
    })
    .await;
    assert_oci_error(&reg.get(&idle).await, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "purged");
    assert_oci_error(&reg.patch(&idle, None, b"late").await, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "purged");

    // An upload whose client keeps asking for its status stays.
    let watched = reg.start_upload("loc/app").await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(reg.get(&watched).await.status, StatusCode::NO_CONTENT, "an upload in use is kept");
    }
}
matrix!(abandoned_uploads_are_purged);

/// Hostile paths go out byte for byte (no URL parser in between).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_ids_and_digests_are_refused_and_store_nothing() {
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    create_local(&s).await;
    let long = "a".repeat(3000);
    let hex = "0".repeat(64);
    let cases: Vec<(&str, String, &[u16])> = vec![
        ("POST", "/v2/loc/../etc/blobs/uploads/".into(), &[400, 404]),
        ("POST", "/v2/loc/%2e%2e/blobs/uploads/".into(), &[400, 404]),
        ("POST", "/v2/loc/a%2fb/blobs/uploads/".into(), &[400, 404]),
        ("POST", "/v2/loc/a\\b/blobs/uploads/".into(), &[400, 404]),
        ("POST", "/v2/loc/a%00b/blobs/uploads/".into(), &[400, 404]),
        ("POST", format!("/v2/loc/{long}/blobs/uploads/"), &[400, 404, 414]),
        ("POST", "/v2/%2e%2e/app/blobs/uploads/".into(), &[400, 404]),
        ("PUT", "/v2/loc/app/manifests/..".into(), &[400, 404]),
        ("PUT", "/v2/loc/app/manifests/a%2f..".into(), &[400, 404]),
        ("PUT", format!("/v2/loc/app/manifests/sha256:../../{hex}"), &[400, 404]),
        ("GET", "/v2/loc/app/blobs/sha256:..%2f..%2fetc%2fpasswd".into(), &[400, 404]),
        ("GET", format!("/v2/loc/app/blobs/sha512:{hex}"), &[400, 404]),
        ("PATCH", "/v2/loc/app/blobs/uploads/..%2f..%2fx".into(), &[400, 404]),
        ("PATCH", "/v2/loc/app/blobs/uploads/not-a-uuid".into(), &[404]),
        ("PUT", format!("/v2/loc/app/blobs/uploads/00000000-0000-0000-0000-000000000000?digest=sha256:{hex}"), &[404]),
        ("POST", "/v2/loc/app/blobs/uploads/?digest=sha256:../../x".into(), &[400]),
        ("POST", "/v2/loc/app/blobs/uploads/?mount=sha256:..%2f..&from=loc/app".into(), &[400]),
        ("GET", "/v2/loc/app/tags/list?last=..%2f..".into(), &[400]),
        ("GET", "/v2/loc/app/tags/list?last=a%00b".into(), &[400]),
        ("GET", format!("/v2/loc/app/referrers/sha256:{hex}?artifactType=..%2f.."), &[400]),
    ];
    for (method, target, allowed) in &cases {
        let headers: &[&str] = if *method == "GET" { &[] } else { &["Content-Length: 0"] };
        let r = request_with_headers(s.port(), method, target, headers).await;
        assert!(allowed.contains(&r.status), "{method} {target}: {}\n{}", r.status, r.head);
        if r.status != 414 {
            let body = r.rest_text();
            assert!(
                body.contains("\"errors\"") && body.contains("\"code\""),
                "{method} {target}: OCI error body: {body}"
            );
        }
    }
    let blobs = s.data_dir().join("blobs").join("sha256");
    assert_eq!(std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0), 0, "nothing stored");
    assert_eq!(stored_parts(&s), 0);
}

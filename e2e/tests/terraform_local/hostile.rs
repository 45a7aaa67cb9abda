//! Uploads a terraform local must refuse, each with a clear error and nothing stored: paths
//! that leave the provider's folder in any spelling, file names that do not parse, a folder
//! that is not the zip's provider, a version that is not semver, a body that is no provider
//! zip, a wrong promised digest, an oversize zip, the same file twice, no or a read-only token,
//! and a write to a remote.

use artifactapi_e2e::{fetch, raw, Options, Server, Storage};
use reqwest::StatusCode;
use serde_json::json;

use super::tools::*;

const LOCAL: &str = "acme";

#[tokio::test]
async fn hostile_uploads_are_refused_and_store_nothing() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).env("LOCAL_MAX_UPLOAD", 1 << 20)).await;
    let writer = local_with_writer(&s, LOCAL).await;
    let zip = provider_zip("thing", "1.0.0", "linux", "amd64", 1024);
    let good = zip_name("thing", "1.0.0", "linux", "amd64");

    // Paths as a hostile client writes them, byte for byte.
    let auth = format!("Authorization: Bearer {writer}");
    for target in [
        format!("../thing/{good}"),
        format!("thing/../{good}"),
        format!("%2e%2e/thing/{good}"),
        format!("thing%2f{good}"),
        format!("thing%5c{good}"),
        format!("thing/{good}%00"),
        format!("thing\\{good}"),
        format!("thing/%2e%2e%2f{good}"),
    ] {
        let r = raw::request_with_headers(
            s.port(),
            "PUT",
            &format!("/api/v1/local/{LOCAL}/{target}"),
            &[&auth, "Content-Length: 0"],
        )
        .await;
        assert_eq!(r.status, 400, "{target}: {}{}", r.head, r.rest_text());
    }

    let cases: Vec<(String, Vec<u8>, StatusCode, &str)> = vec![
        (
            format!("thing/{}", zip_name("thing", "1.0", "linux", "amd64")),
            zip.clone(),
            StatusCode::BAD_REQUEST,
            "not a semantic version",
        ),
        (
            format!("thing/{}", zip_name("thing", "v1.0.0", "linux", "amd64")),
            zip.clone(),
            StatusCode::BAD_REQUEST,
            "not a semantic version",
        ),
        (format!("other/{good}"), zip.clone(), StatusCode::BAD_REQUEST, "upload it under \"thing\"/"),
        ("thing/thing-1.0.0.zip".into(), zip.clone(), StatusCode::BAD_REQUEST, "expected terraform-provider-"),
        (
            format!("thing/{}", zip_name("Thing", "1.0.0", "linux", "amd64")),
            zip.clone(),
            StatusCode::BAD_REQUEST,
            "provider type",
        ),
        (
            format!("thing/{good}"),
            b"#!/bin/sh\necho not a zip\n".to_vec(),
            StatusCode::BAD_REQUEST,
            "not a zip archive",
        ),
        (
            format!("thing/{good}"),
            provider_zip("other", "1.0.0", "linux", "amd64", 10),
            StatusCode::BAD_REQUEST,
            "no terraform-provider-thing* executable",
        ),
        (
            format!("thing/{good}"),
            provider_zip("thing", "1.0.0", "linux", "amd64", 2 << 20),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
    ];
    for (path, body, status, says) in cases {
        let r =
            upload(&s, LOCAL, &writer, path.split('/').next().unwrap(), path.split_once('/').unwrap().1, body).await;
        assert_eq!(r.status, status, "{path}: {}", r.describe());
        assert!(r.error_message().contains(says), "{path}: {}", r.describe());
    }

    // A promised digest the bytes do not have.
    let url = s.url(&format!("/api/v1/local/{LOCAL}/thing/{good}"));
    let r =
        fetch(s.client().put(&url).bearer_auth(&writer).header("X-Checksum-Sha256", "0".repeat(64)).body(zip.clone()))
            .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    assert!(r.error_message().contains("digest mismatch"), "{}", r.describe());

    // Credentials: none, read-only.
    let r = fetch(s.client().put(&url).body(zip.clone())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.describe());
    let reader = s.token("reader", &[(LOCAL, "read")]).await;
    let r = fetch(s.client().put(&url).bearer_auth(&reader).body(zip.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.describe());

    // Nothing of all that is listed.
    let versions = fetch(s.client().get(s.url(&format!("/terraform/providers/v1/{LOCAL}/thing/versions")))).await;
    assert_eq!(versions.status, StatusCode::NOT_FOUND, "{}", versions.describe());
    for name in ["thing", "other", "Thing"] {
        let r = fetch(s.client().get(s.url(&format!("/api/v1/local/{LOCAL}/{name}/{good}")))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    }

    // The real one, then the same file again.
    let r = fetch(s.client().put(&url).bearer_auth(&writer).body(zip.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let r = fetch(s.client().put(&url).bearer_auth(&writer).body(zip.clone())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());
    let versions =
        fetch(s.client().get(s.url(&format!("/terraform/providers/v1/{LOCAL}/thing/versions")))).await.json();
    assert_eq!(
        versions,
        json!({"versions": [{"version": "1.0.0", "protocols": ["5.0", "6.0"], "platforms": [{"os": "linux", "arch": "amd64"}]}]})
    );

    // Methods a terraform local does not take, and a write to a remote.
    let r = fetch(s.client().post(&url).bearer_auth(&writer).body(zip.clone())).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.describe());
    s.create_remote(json!({"name": "tfremote", "package_type": "terraform", "base_url": "https://registry.example/"}))
        .await;
    let admin =
        fetch(s.client().put(s.proxy_url("tfremote", &format!("thing/{good}"))).bearer_auth(ADMIN).body(zip)).await;
    assert_eq!(admin.status, StatusCode::METHOD_NOT_ALLOWED, "{}", admin.describe());
}

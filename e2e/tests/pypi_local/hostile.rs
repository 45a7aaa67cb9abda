//! What twine never sends, sent by hand to a PyPI local: every refusal is a clear 4xx and
//! leaves nothing visible (no page, no file).

use std::path::PathBuf;

use artifactapi_e2e::{fetch, pattern_bytes, raw, sha256_hex, Fetched, Options, Server, Storage};
use reqwest::StatusCode;

use super::build::{build, multipart, normalise, Dist, BOUNDARY};
use super::{alpha, page, pypi_local, ADMIN, PIP_ACCEPT};

/// An sdist of made-up bytes (the server does not read inside sdists).
pub fn sdist(name: &str, version: &str, bytes: Vec<u8>) -> Dist {
    let file = format!("{}-{version}.tar.gz", normalise(name).replace('-', "_"));
    Dist {
        project: normalise(name),
        name: name.into(),
        version: version.into(),
        sha256: sha256_hex(&bytes),
        path: PathBuf::from(&file),
        file,
        bytes,
    }
}

/// POSTs an upload form to the local `pyl`.
pub async fn upload(s: &Server, secret: &str, fields: &[(String, String)], content: Option<(&str, &[u8])>) -> Fetched {
    let body = multipart(fields, content);
    let req = s
        .client()
        .post(s.url("/api/v1/local/pyl/"))
        .basic_auth("anyone", Some(secret))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body);
    fetch(req).await
}

fn with(fields: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fields.iter().filter(|(k, _)| k != key).cloned().collect();
    out.push((key.to_string(), value.to_string()));
    out
}

fn without(fields: &[(String, String)], key: &str) -> Vec<(String, String)> {
    fields.iter().filter(|(k, _)| k != key).cloned().collect()
}

async fn assert_nothing_of(s: &Server, project: &str, file: &str) {
    let r = page(s, "local/pyl", &format!("simple/{project}/"), PIP_ACCEPT).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{project} has a page: {}", r.describe());
    let r = fetch(s.client().get(s.url(&format!("/api/v1/local/pyl/simple/{project}/{file}")))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{file} is there: {}", r.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_are_refused_and_store_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).env("LOCAL_MAX_UPLOAD", 1 << 20)).await;
    pypi_local(&s, "pyl").await;
    let wheel = build(tmp.path(), &alpha("1.0.0"), false).await.remove(0);
    let fields = wheel.fields();
    let content = Some((wheel.file.as_str(), wheel.bytes.as_slice()));

    // Each missing field is named.
    for field in [":action", "name", "version", "filetype", "sha256_digest"] {
        let r = upload(&s, ADMIN, &without(&fields, field), content).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.describe());
        assert!(r.error_message().starts_with(&format!("{field}:")), "{field}: {}", r.describe());
    }
    let r = upload(&s, ADMIN, &fields, None).await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.error_message().starts_with("content:"), "{}", r.describe());
    let r = upload(&s, ADMIN, &with(&fields, ":action", "doc_upload"), content).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());

    // Traversal and other hostile names, in the file name and in the project name.
    for file in [
        "../alpha_lib-1.0.0-py3-none-any.whl",
        "x/../../alpha_lib-1.0.0-py3-none-any.whl",
        "..\\alpha_lib-1.0.0.tar.gz",
        "%2e%2e%2falpha_lib-1.0.0.tar.gz",
        ".alpha_lib-1.0.0.tar.gz",
        "alpha_lib-1.0.0.exe",
    ] {
        let r = upload(&s, ADMIN, &fields, Some((file, &wheel.bytes))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{file}: {}", r.describe());
    }
    for name in ["../alpha-lib", "alpha/lib", "alpha lib", ""] {
        let r = upload(&s, ADMIN, &with(&fields, "name", name), content).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name:?}: {}", r.describe());
    }

    // A wheel whose name or version differs from the form, or whose METADATA does.
    let r = upload(&s, ADMIN, &with(&fields, "name", "beta-app"), content).await;
    assert!(
        r.status == StatusCode::BAD_REQUEST && r.error_message().contains("not a file of project"),
        "{}",
        r.describe()
    );
    let r = upload(&s, ADMIN, &with(&fields, "version", "2.0.0"), content).await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.error_message().contains("is not version"), "{}", r.describe());
    let renamed = "evil_pkg-1.0.0-py3-none-any.whl";
    let lying = with(&with(&fields, "name", "evil-pkg"), "filetype", "bdist_wheel");
    let r = upload(&s, ADMIN, &lying, Some((renamed, &wheel.bytes))).await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.error_message().contains("METADATA"), "{}", r.describe());
    assert_nothing_of(&s, "evil-pkg", renamed).await;
    let r = upload(&s, ADMIN, &with(&fields, "filetype", "sdist"), content).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());

    // A digest that does not match: 400, nothing stored.
    let r = upload(&s, ADMIN, &with(&fields, "sha256_digest", &sha256_hex(b"other")), content).await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.error_message().contains("digest"), "{}", r.describe());
    assert_nothing_of(&s, "alpha-lib", &wheel.file).await;

    // Over LOCAL_MAX_UPLOAD: 413, nothing stored.
    let big = sdist("huge", "1.0", pattern_bytes((1 << 20) + 1, 5));
    let r = upload(&s, ADMIN, &big.fields(), Some((&big.file, &big.bytes))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.describe());
    assert_nothing_of(&s, "huge", &big.file).await;

    // A body cut off inside the file part, and one that ends without its closing boundary.
    let body = multipart(&fields, content);
    let auth = format!("Authorization: Bearer {ADMIN}");
    let ct = format!("Content-Type: multipart/form-data; boundary={BOUNDARY}");
    let len = format!("Content-Length: {}", body.len());
    let _ =
        raw::request_cut_off(s.port(), "POST", "/api/v1/local/pyl/", &[&auth, &ct, &len], &body[..body.len() - 100])
            .await;
    assert_nothing_of(&s, "alpha-lib", &wheel.file).await;
    let short = &body[..body.len() - format!("--{BOUNDARY}--\r\n").len()];
    let r = fetch(
        s.client()
            .post(s.url("/api/v1/local/pyl/"))
            .bearer_auth(ADMIN)
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(short.to_vec()),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    assert_nothing_of(&s, "alpha-lib", &wheel.file).await;
    let r = fetch(s.client().post(s.url("/api/v1/local/pyl/")).bearer_auth(ADMIN).body("name=x")).await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.error_message().contains("multipart"), "{}", r.describe());

    // Eight uploads of one file at once: exactly one wins, the others are told it exists.
    let mut racing = Vec::new();
    for _ in 0..8 {
        let (s_url, fields, file, bytes) =
            (s.url("/api/v1/local/pyl/"), fields.clone(), wheel.file.clone(), wheel.bytes.clone());
        let client = s.client().clone();
        racing.push(tokio::spawn(async move {
            let req = client
                .post(s_url)
                .bearer_auth(ADMIN)
                .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
                .body(multipart(&fields, Some((&file, &bytes))));
            let r = fetch(req).await;
            (r.status, r.text())
        }));
    }
    let mut answers = Vec::new();
    for r in racing {
        answers.push(r.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|(s, _)| *s == StatusCode::OK).count(), 1, "{answers:?}");
    let lost = answers.iter().filter(|(s, m)| *s == StatusCode::BAD_REQUEST && m.contains("File already exists"));
    assert_eq!(lost.count(), 7, "{answers:?}");
    let v = page(&s, "local/pyl", "simple/alpha-lib/", PIP_ACCEPT).await.json();
    assert_eq!(super::filenames(&v), std::slice::from_ref(&wheel.file), "{v}");
}

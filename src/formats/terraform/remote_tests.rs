//! Tests of the registry proxy's documents: discovery, download documents rewritten and their
//! files located, what is refused before it is cached.

use serde_json::{json, Value};

use super::*;
use crate::formats::terraform::endpoint::Provider;

const SHASUM: &str = "5f1c2ed6bca3b5b0e4a5a12d4ad9f42c62b2c0d07e4f0b3a50f6a4a7f1e5d3c2";

fn urls(document: &str) -> Urls {
    Urls {
        public: "https://proxy.example/api/v1/remote/tf/".into(),
        base: "https://registry.example/".into(),
        document: document.into(),
    }
}

fn build() -> Build {
    Build {
        provider: Provider { namespace: "acme".into(), ty: "thing".into() },
        version: "1.2.3".into(),
        os: "linux".into(),
        arch: "amd64".into(),
    }
}

fn download(download_url: &str) -> Value {
    json!({
        "protocols": ["5.0"], "os": "linux", "arch": "amd64",
        "filename": "terraform-provider-thing_1.2.3_linux_amd64.zip",
        "download_url": download_url,
        "shasums_url": "https://releases.example/thing/1.2.3/SHA256SUMS",
        "shasums_signature_url": "SHA256SUMS.sig",
        "shasum": SHASUM,
        "signing_keys": {"gpg_public_keys": [{"key_id": "ABCDEF", "ascii_armor": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n..."}]}
    })
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn discovery_names_this_remote_and_locates_the_upstream_api() {
    let ours: Value = serde_json::from_slice(&discovery(&urls("")).unwrap().body).unwrap();
    assert_eq!(ours, json!({"providers.v1": "https://proxy.example/api/v1/remote/tf/v1/providers/"}));
    let at = "https://registry.example/.well-known/terraform.json";
    let cases: &[(&str, &str)] = &[
        ("/v1/providers/", "https://registry.example/v1/providers/acme/thing/versions"),
        ("/v1/providers", "https://registry.example/v1/providers/acme/thing/versions"),
        ("api/providers/", "https://registry.example/.well-known/api/providers/acme/thing/versions"),
        ("https://api.example:8443/tf/v1/?x=1", "https://api.example:8443/tf/v1/acme/thing/versions"),
    ];
    for (v1, want) in cases {
        let doc = bytes(&json!({ "providers.v1": v1, "modules.v1": "/v1/modules/" }));
        check_discovery(&doc).unwrap();
        let located = locate_service(&doc, &urls(at), "acme/thing/versions").unwrap();
        assert_eq!((located.url.as_str(), located.integrity), (*want, None), "{v1}");
    }
    for bad in [json!({}), json!({"providers.v1": 3}), json!(["x"]), json!({"providers.v1": " "})] {
        assert!(check_discovery(&bytes(&bad)).is_err(), "{bad}");
    }
    assert!(check_discovery(b"<html>").is_err());
    let ftp = bytes(&json!({"providers.v1": "ftp://x/"}));
    assert!(locate_service(&ftp, &urls(at), "a/b/versions").is_err());
}

#[test]
fn download_documents_point_every_file_at_this_remote_and_keep_the_keys() {
    let dir = "https://proxy.example/api/v1/remote/tf/v1/providers/acme/thing/1.2.3/download/linux/amd64/";
    let upstream = download("https://cdn.example/thing/terraform-provider-thing_1.2.3_linux_amd64.zip");
    let out = rewrite_download(&bytes(&upstream), &build(), &urls("https://registry.example/x")).unwrap();
    let out: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(out["download_url"], format!("{dir}terraform-provider-thing_1.2.3_linux_amd64.zip"));
    assert_eq!(out["shasums_url"], format!("{dir}SHA256SUMS"));
    assert_eq!(out["shasums_signature_url"], format!("{dir}SHA256SUMS.sig"));
    for same in ["signing_keys", "shasum", "filename", "protocols", "os", "arch"] {
        assert_eq!(out[same], upstream[same], "{same} passes through");
    }
}

#[test]
fn files_are_found_where_the_download_document_says_the_zip_with_its_shasum() {
    let at = "https://registry.example/v1/providers/acme/thing/1.2.3/download/linux/amd64";
    let doc = bytes(&download("../../../files/terraform-provider-thing_1.2.3_linux_amd64.zip"));
    let zip = BuildFile::Zip("terraform-provider-thing_1.2.3_linux_amd64.zip".into());
    let located = locate_file(&doc, &build(), &zip, &urls(at)).unwrap().unwrap();
    assert_eq!(
        located.url,
        "https://registry.example/v1/providers/acme/thing/files/terraform-provider-thing_1.2.3_linux_amd64.zip"
    );
    assert_eq!(located.integrity, Some(Integrity::Sha256(Digest::from_hex(SHASUM).unwrap())));
    let sums = locate_file(&doc, &build(), &BuildFile::Sums, &urls(at)).unwrap().unwrap();
    assert_eq!((sums.url.as_str(), sums.integrity), ("https://releases.example/thing/1.2.3/SHA256SUMS", None));
    let sig = locate_file(&doc, &build(), &BuildFile::Signature, &urls(at)).unwrap().unwrap();
    assert_eq!(sig.url, "https://registry.example/v1/providers/acme/thing/1.2.3/download/linux/SHA256SUMS.sig");
    let other = BuildFile::Zip("terraform-provider-thing_1.2.3_linux_arm64.zip".into());
    assert_eq!(locate_file(&doc, &build(), &other, &urls(at)), Ok(None), "another zip is not listed");
}

#[test]
fn download_documents_that_do_not_answer_the_request_are_refused() {
    let good = download("x.zip");
    let mut cases = Vec::new();
    for (field, value) in [
        ("os", json!("darwin")),
        ("arch", json!("arm64")),
        ("shasum", json!("abc")),
        ("shasum", json!(SHASUM.replace('5', "g"))),
        ("filename", json!("../x.zip")),
        ("filename", json!("a/b.zip")),
        ("filename", json!("SHA256SUMS")),
        ("download_url", json!(null)),
        ("shasums_signature_url", json!(7)),
    ] {
        let mut doc = good.clone();
        doc[field] = value.clone();
        cases.push((format!("{field}={value}"), bytes(&doc)));
    }
    cases.push(("an array".into(), b"[]".to_vec()));
    cases.push(("too large".into(), vec![b' '; MAX_DOCUMENT + 1]));
    for (what, body) in cases {
        assert!(check_download(&body, &build()).is_err(), "{what}");
    }
    check_download(&bytes(&good), &build()).unwrap();
}

#[test]
fn versions_documents_list_versions() {
    check_versions(&bytes(&json!({"versions": [{"version": "1.0.0", "platforms": []}]}))).unwrap();
    check_versions(&bytes(&json!({"versions": []}))).unwrap();
    for bad in
        [json!({}), json!({"versions": {}}), json!({"versions": [{"v": 1}]}), json!({"versions": [{"version": 1}]})]
    {
        assert!(check_versions(&bytes(&bad)).is_err(), "{bad}");
    }
}

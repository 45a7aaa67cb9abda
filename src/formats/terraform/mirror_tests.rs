//! Tests of the network mirror documents made from registry documents, at a real size.

use serde_json::{json, Value};

use super::*;

fn urls() -> Urls {
    Urls { public: "https://proxy.example/api/v1/remote/tf/".into(), base: String::new(), document: String::new() }
}

fn provider() -> Provider {
    Provider { namespace: "acme".into(), ty: "thing".into() }
}

const PLATFORMS: [(&str, &str); 4] =
    [("linux", "amd64"), ("linux", "arm64"), ("darwin", "arm64"), ("windows", "amd64")];

/// A `versions` document of `n` versions with four platforms each.
fn versions(n: usize) -> Vec<u8> {
    let versions: Vec<Value> = (0..n)
        .map(|i| {
            let platforms: Vec<Value> = PLATFORMS.iter().map(|(os, arch)| json!({"os": os, "arch": arch})).collect();
            json!({"version": format!("{}.{}.0", i / 10, i % 10), "protocols": ["5.0"], "platforms": platforms})
        })
        .collect();
    serde_json::to_vec(&json!({ "versions": versions })).unwrap()
}

#[test]
fn host_names_lose_their_port() {
    assert_eq!(host_of("https://Registry.Example:8443/x/").as_deref(), Some("registry.example"));
    assert_eq!(host_of("http://127.0.0.1:9000/").as_deref(), Some("127.0.0.1"));
    assert_eq!(host_of("http://[::1]:9000/").as_deref(), Some("::1"));
    assert_eq!(host_of("not a url"), None);
}

#[test]
fn index_lists_every_version() {
    let index: Value = serde_json::from_slice(&index(&versions(300)).unwrap().body).unwrap();
    let listed = index["versions"].as_object().unwrap();
    assert_eq!(listed.len(), 300);
    assert_eq!(listed["29.9.0"], json!({}));
    assert!(super::index(b"{}").is_err());
}

#[test]
fn a_version_has_one_archive_per_platform_with_its_zh_hash() {
    let doc = versions(300);
    let builds = builds(&doc, &provider(), "12.3.0").unwrap().unwrap();
    assert_eq!(builds.len(), 4);
    assert_eq!(builds[2].path(), "v1/providers/acme/thing/12.3.0/download/darwin/arm64");
    assert_eq!(super::builds(&doc, &provider(), "99.0.0"), Ok(None));
    let downloads: Vec<(Build, Vec<u8>)> = builds
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let filename = format!("terraform-provider-thing_12.3.0_{}_{}.zip", b.os, b.arch);
            let body = json!({"filename": filename, "shasum": format!("{i:0>64}"), "os": b.os, "arch": b.arch});
            (b.clone(), serde_json::to_vec(&body).unwrap())
        })
        .collect();
    let out: Value = serde_json::from_slice(&version(&downloads, &urls()).unwrap().body).unwrap();
    let archives = out["archives"].as_object().unwrap();
    assert_eq!(archives.len(), 4);
    assert_eq!(
        archives["darwin_arm64"],
        json!({
            "url": "https://proxy.example/api/v1/remote/tf/v1/providers/acme/thing/12.3.0/download/darwin/arm64/terraform-provider-thing_12.3.0_darwin_arm64.zip",
            "hashes": [format!("zh:{:0>64}", 2)]
        })
    );
}

#[test]
fn platforms_that_are_no_plain_names_are_refused() {
    let doc = serde_json::to_vec(
        &json!({"versions": [{"version": "1.0.0", "platforms": [{"os": "../x", "arch": "amd64"}]}]}),
    );
    assert!(builds(&doc.unwrap(), &provider(), "1.0.0").is_err());
    let doc = serde_json::to_vec(&json!({"versions": [{"version": "1.0.0", "platforms": [{"os": "linux"}]}]}));
    assert!(builds(&doc.unwrap(), &provider(), "1.0.0").is_err());
}

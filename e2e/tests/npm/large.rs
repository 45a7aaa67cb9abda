//! Real sizes: a packument of 3,000 versions (about 20 MB, `artifactapi::formats::fixtures`)
//! served by a static upstream, its latest version a real tarball made by `npm pack`. The real
//! npm installs it through a remote (the tarball fetched once, checked against the packument's
//! integrity by the server and by npm) and `npm view` reads it; then through a virtual of two
//! remotes whose second member lists 300 more versions, merged into one packument.

use artifactapi::formats::fixtures::{npm_packument, npm_packument_with, npm_tarball_file, npm_version};
use artifactapi_e2e::{File, Options, Server, Storage, Upstream};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest as _;

use super::tools::{npm, write_package};
use super::{get, install, locked, node, registry, INSTALL_ACCEPT};

const NAME: &str = "manyver";
const VERSIONS: usize = 3_000;

/// `npm pack` of `NAME@version`.
async fn pack(root: &std::path::Path, version: &str) -> Vec<u8> {
    let dir = write_package(root, NAME, version, &[], "module.exports = (s) => 'many:' + s;\n");
    let run = npm(&root.join("packer"), &dir, &["pack", "--pack-destination", root.to_str().unwrap()]).await;
    assert!(run.ok, "npm pack: {}", run.text);
    std::fs::read(root.join(npm_tarball_file(NAME, version))).unwrap()
}

fn sri512(body: &[u8]) -> String {
    format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(body)))
}

/// Every version of a served packument has its tarball on `public`, and nothing else changed
/// from what the upstream sent.
fn assert_rewritten(served: &Value, upstream: &Value, public: &str) {
    let (Some(versions), Some(theirs)) = (served["versions"].as_object(), upstream["versions"].as_object()) else {
        panic!("no versions")
    };
    assert_eq!(versions.len(), theirs.len());
    for (version, manifest) in versions {
        let mut want = theirs[version].clone();
        let file = npm_tarball_file(NAME, version);
        want["dist"]["tarball"] = json!(format!("{public}{NAME}/-/{file}"));
        assert_eq!(manifest, &want, "{version}");
    }
    for field in ["readme", "time", "dist-tags", "maintainers", "_rev"] {
        assert_eq!(served[field], upstream[field], "{field}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_installs_from_a_packument_of_3000_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let latest = npm_version(VERSIONS - 1);
    let tgz = pack(tmp.path(), &latest).await;
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let doc_a = npm_packument_with(NAME, VERSIONS, &a.base_url(), &[(latest.as_str(), tgz.as_slice())]);
    assert!(doc_a.len() > 15 << 20, "a real-size packument: {} bytes", doc_a.len());
    let tarball = format!("{NAME}/-/{}", npm_tarball_file(NAME, &latest));
    a.put(NAME, File::new(doc_a.clone()).content_type("application/json"));
    a.put(&tarball, File::new(tgz.clone()));
    let doc_b = npm_packument(NAME, VERSIONS + 300, &b.base_url());
    b.put(NAME, File::new(doc_b.clone()).content_type("application/json"));
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    for (name, up) in [("a", &a), ("b", &b)] {
        s.create_remote(json!({ "name": name, "package_type": "npm", "base_url": up.base_url(), "mutable_ttl": 300 }))
            .await;
    }

    // A remote: npm installs the latest version, its tarball checked and cached once.
    let public = registry(&s, "remote/a");
    let home = tmp.path().join("remote");
    install(&s, "remote/a", &home, NAME).await;
    assert_eq!(node(&home, NAME, "x"), "many:x");
    let lock = locked(&home, &format!("node_modules/{NAME}"));
    assert_eq!(lock["version"], latest.as_str(), "{lock}");
    assert_eq!(lock["resolved"], format!("{public}{tarball}"), "{lock}");
    assert_eq!(lock["integrity"], sri512(&tgz), "{lock}");
    let cached = s.wait_cached("a", &tarball).await;
    assert!(cached.body == tgz, "the tarball is the upstream's bytes");
    assert_eq!(a.count(&format!("/{tarball}")), 1, "fetched upstream once");

    let upstream: Value = serde_json::from_slice(&doc_a).unwrap();
    for accept in [INSTALL_ACCEPT, "application/json"] {
        let r = get(&s, "remote/a", NAME, accept).await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{accept}: {}", r.describe());
        assert_rewritten(&r.json(), &upstream, &public);
    }
    let view = npm(&home, tmp.path(), &["view", NAME, "--json", "--registry", &public]).await;
    assert!(view.ok, "npm view: {}", view.text);
    let view: Value = serde_json::from_str(&view.stdout).unwrap_or_else(|e| panic!("{e}: {}", view.stdout));
    assert_eq!(view["version"], latest.as_str());
    assert_eq!(view["versions"].as_array().map(Vec::len), Some(VERSIONS));
    assert_eq!(view["dist"]["tarball"], format!("{public}{tarball}"));
    assert_eq!(view["dist"]["integrity"], sri512(&tgz));

    // A virtual of both: every version of either, the first member's where both have one.
    let spec = json!({ "name": "both", "package_type": "npm", "members": ["a", "b"] });
    let created = s.send_json(Method::POST, "/api/v2/virtuals", &spec).await;
    assert!(created.status.is_success(), "{}", created.describe());
    let merged = get(&s, "virtual/both", NAME, INSTALL_ACCEPT).await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.describe());
    let doc = merged.json();
    assert_eq!(doc["versions"].as_object().map(|v| v.len()), Some(VERSIONS + 300));
    assert_eq!(doc["dist-tags"]["latest"], latest.as_str(), "the first member's tags win");
    let tarball_of = |v: &str| doc["versions"][v]["dist"]["tarball"].as_str().unwrap_or_default().to_string();
    assert!(tarball_of(&npm_version(0)).starts_with(&public));
    assert!(tarball_of(&npm_version(VERSIONS + 10)).starts_with(&registry(&s, "remote/b")));
    let home = tmp.path().join("virtual");
    install(&s, "virtual/both", &home, &format!("{NAME}@{latest}")).await;
    assert_eq!(locked(&home, &format!("node_modules/{NAME}"))["resolved"], format!("{public}{tarball}"));
    assert_eq!(a.count(&format!("/{tarball}")), 1, "the virtual serves the cached tarball");
}

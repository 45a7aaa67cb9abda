//! An npm virtual with a local and a remote (verdaccio): listed first, the local shadows a name
//! both have entirely (the remote's packument is never even fetched: dependency confusion), and
//! names only the remote has merge as before; listed after the remote, the local's versions merge
//! into the remote's (dist-tags likewise). npm installs through the virtual, each tarball from
//! the member holding it; a tarball asked of the virtual comes from the first member having it,
//! except that a local listed first owns its package names: their files never come from later
//! members.

use artifactapi_e2e::{Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::tools::{write_package, Verdaccio};
use super::{create_local, get, home_with_token, install, node, npm_ok, registry, token, ADMIN, INSTALL_ACCEPT, LOCAL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_listed_first_shadows_a_remote_package() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let v = Verdaccio::start().await;
    let theirs = root.join("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    v.publish(&write_package(&theirs, "@acme/util", "9.0.0", &[], "module.exports = () => 'hijacked';\n")).await;
    v.publish(&write_package(
        &theirs,
        "shared-x",
        "1.0.0",
        &[("@acme/util", "*")],
        "module.exports = (s) => require('@acme/util')(s, 5);\n",
    ))
    .await;

    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await;
    create_local(&s, LOCAL).await;
    s.create_remote(json!({ "name": "npmjs", "package_type": "npm", "base_url": v.base_url() })).await;
    for (name, members) in [("first", json!([LOCAL, "npmjs"])), ("last", json!(["npmjs", LOCAL]))] {
        let spec = json!({ "name": name, "package_type": "npm", "members": members });
        let r = s.send_json(Method::POST, "/api/v2/virtuals", &spec).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    }
    let secret = token(&s, "ci", LOCAL, "write").await;
    let reg = registry(&s, LOCAL);
    let home = home_with_token(root, "dev", &reg, &secret);
    let util =
        write_package(root, "@acme/util", "1.0.0", &[], "module.exports = (s, n) => String(s).padStart(n, '*');\n");
    npm_ok(&s, &home, &util, &reg, &["publish"]).await;

    let virtual_first = s.url("/api/v1/virtual/first/");
    let doc = fetch_doc(&s, "first", "@acme%2futil").await;
    assert_eq!(doc["versions"].as_object().map(|m| m.len()), Some(1), "the local shadows the remote: {doc}");
    assert_eq!(doc["versions"]["1.0.0"]["dist"]["tarball"], format!("{reg}@acme/util/-/util-1.0.0.tgz"));
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    assert_eq!(
        v.proxy.count("GET", "/@acme%2futil"),
        0,
        "the shadowed packument is never fetched: {:?}",
        v.proxy.all()
    );
    let remote_only = fetch_doc(&s, "first", "shared-x").await;
    assert_eq!(remote_only["dist-tags"]["latest"], "1.0.0", "{remote_only}");

    let app = install(&s, &root.join("client"), &virtual_first, &["shared-x"]).await;
    assert_eq!(node(&app, "shared-x", "ab"), "***ab", "@acme/util came from the local");

    // Listed after the remote, the local's versions are merged in.
    let merged = fetch_doc(&s, "last", "@acme%2futil").await;
    let versions: Vec<&String> = merged["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1.0.0", "9.0.0"], "{merged}");
    assert_eq!(merged["dist-tags"]["latest"], "9.0.0", "the first member's tag wins");
    let local_tgz = get(&s, LOCAL, "@acme/util/-/util-1.0.0.tgz", "*/*").await;
    assert_eq!(local_tgz.status, StatusCode::OK);

    // A tarball asked of the virtual comes from the first member that has it; dist-tags merge
    // by the same rule as packuments.
    for virt in ["first", "last"] {
        let url = s.url(&format!("/api/v1/virtual/{virt}/@acme/util/-/util-1.0.0.tgz"));
        let r = artifactapi_e2e::fetch(s.client().get(url)).await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &local_tgz.body), "{virt}: {}", r.describe());
    }
    // A file of a package the local owns is never taken from a member after it, even asked of
    // the virtual by its path; listed before the local, the remote still serves it.
    let theirs_path = "@acme/util/-/util-9.0.0.tgz";
    let r = artifactapi_e2e::fetch(s.client().get(s.url(&format!("/api/v1/virtual/first/{theirs_path}")))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    assert!(r.text().contains("belongs to local"), "{}", r.describe());
    assert_eq!(v.proxy.count("GET", &format!("/{theirs_path}")), 0, "{:?}", v.proxy.all());
    let r = artifactapi_e2e::fetch(s.client().get(s.url(&format!("/api/v1/virtual/last/{theirs_path}")))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    let tags = fetch_doc(&s, "first", "-/package/@acme%2futil/dist-tags").await;
    assert_eq!(tags, json!({ "latest": "1.0.0" }));
    let tags = fetch_doc(&s, "last", "-/package/@acme%2futil/dist-tags").await;
    assert_eq!(tags, json!({ "latest": "9.0.0" }));
}

async fn fetch_doc(s: &Server, name: &str, path: &str) -> serde_json::Value {
    let r = artifactapi_e2e::fetch(
        s.client().get(s.url(&format!("/api/v1/virtual/{name}/{path}"))).header("accept", INSTALL_ACCEPT),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    r.json()
}

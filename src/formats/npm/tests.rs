//! Tables for the npm format: classification, plans, document checks, rewriting, locating
//! tarballs and merging members' packuments.

use artifactapi_actors::integrity::Integrity;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::Digest as _;

use super::super::tests::{check, get};
use super::super::Method;
use super::*;
use Class::*;

const REPO: Repo<'static> = Repo { name: "npm", base_url: "http://up:4873/", ban_tags: &[] };

/// `path` parsed as a GET without `Accept`.
fn req(path: &str) -> NpmRequest {
    Npm.parse(&get(path)).unwrap()
}

/// What a plan does, in short: which document form, or which index a listed file is found in.
#[derive(Debug, PartialEq)]
enum Shape {
    Document(Doc),
    Listed(String, bool),
    Bytes,
}

fn urls() -> Urls {
    Urls {
        public: "http://proxy:8080/api/v1/remote/npm/".into(),
        base: "http://up:4873/".into(),
        document: "http://up:4873/@acme%2futil".into(),
    }
}

fn sri512(body: &[u8]) -> String {
    format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(body)))
}

fn packument() -> Value {
    json!({
        "name": "@acme/util",
        "dist-tags": { "latest": "1.1.0", "beta": "2.0.0-b.1" },
        "time": { "1.0.0": "2024-01-01T00:00:00Z", "modified": "2024-02-01T00:00:00Z" },
        "versions": {
            "1.0.0": { "name": "@acme/util", "version": "1.0.0", "dist": {
                "tarball": "http://up:4873/@acme/util/-/util-1.0.0.tgz",
                "integrity": sri512(b"one"), "shasum": hex::encode(sha1::Sha1::digest(b"one")) } },
            "1.1.0": { "name": "@acme/util", "version": "1.1.0", "dist": {
                "tarball": "https://files.example/t/util-1.1.0.tgz#frag",
                "shasum": hex::encode(sha1::Sha1::digest(b"two")) } },
            "2.0.0-b.1": { "name": "@acme/util", "version": "2.0.0-b.1", "dist": {
                "tarball": "../@acme/util/-/util-2.0.0-b.1.tgz" } },
            "0.0.1": { "name": "@acme/util", "version": "0.0.1", "dist": { "tarball": "ftp://old.example/util-0.0.1.tgz" } }
        }
    })
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn packuments_are_mutable_tarballs_are_not() {
    check(
        &Npm,
        &[
            ("lodash", Mutable),
            ("@types/node", Mutable),
            ("lodash/4.17.21", Mutable),
            ("lodash/-/lodash-4.17.21.tgz", Immutable),
            ("@types/node/-/node-20.1.0.tgz", Immutable),
            // A package literally named like a tarball is still a packument.
            ("foo.tgz", Mutable),
            ("@scope/foo.tgz", Mutable),
            ("-/foo.tgz", Mutable),
            ("foo/-/.tgz", Mutable),
            ("-/v1/search", Mutable),
            ("-/ping", Mutable),
        ],
    );
}

#[test]
fn plans_follow_the_endpoint_and_accept() {
    let install = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
    let cases: &[(&str, Option<&str>, Shape)] = &[
        ("lodash", None, Shape::Document(FULL)),
        ("lodash", Some("application/json"), Shape::Document(FULL)),
        ("lodash", Some(install), Shape::Document(ABBREVIATED)),
        ("@acme/util", Some("Application/Vnd.Npm.Install-V1+Json"), Shape::Document(ABBREVIATED)),
        ("lodash", Some("application/vnd.npm.install-v1+json;q=0, application/json"), Shape::Document(FULL)),
        ("lodash/1.0.0", Some(install), Shape::Document(FULL)),
        ("-/package/@acme/util/dist-tags", None, Shape::Document(FULL)),
        ("@acme/util/-/util-1.0.0.tgz", None, Shape::Listed("@acme/util".into(), true)),
        ("-/ping", None, Shape::Bytes),
    ];
    for (path, accept, want) in cases {
        let accept: Vec<&str> = accept.iter().copied().collect();
        let e = Npm.parse(&Request { repo: "npm", method: Method::Get, path, query: "", accept: &accept }).unwrap();
        let got = match Npm.plan(&e, &REPO).unwrap() {
            Plan::Document(target, doc) => {
                assert_eq!(target.accept.as_deref(), Some(doc.accept), "{path}");
                Shape::Document(doc)
            }
            Plan::Listed { index, .. } => Shape::Listed(index.path.as_str().into(), index.abbreviated),
            Plan::Bytes(_) => Shape::Bytes,
            Plan::Redirect(to) => panic!("{path}: redirect to {to}"),
        };
        assert_eq!(got, *want, "{path} {accept:?}");
    }
    let scoped = Npm.plan(&req("@acme%2futil/1.0.0"), &REPO).unwrap();
    assert!(
        matches!(scoped, Plan::Document(t, _) if t.upstream == "@acme%2futil/1.0.0" && t.path == "@acme/util/1.0.0")
    );
    assert_ne!(FULL.variant, ABBREVIATED.variant);
}

#[test]
fn paths_are_refused_as_bad_or_absent() {
    let status = |path: &str| Npm.parse(&get(path)).map(|_| ()).map_err(|e| e.status());
    assert_eq!(status("@acme/util"), Ok(()));
    assert_eq!(status("@acme%2Futil"), Ok(()));
    assert_eq!(status(".bin"), Err(400));
    assert_eq!(status(&"a".repeat(215)), Err(400));
    assert_eq!(status("-/v1/search"), Err(404));
    assert_eq!(status("a/%2e%2e/b"), Err(400));
}

#[test]
fn broken_documents_are_refused_naming_the_problem() {
    let mut no_dist = packument();
    no_dist["versions"]["1.0.0"].as_object_mut().unwrap().remove("dist");
    let mut no_tarball = packument();
    no_tarball["versions"]["1.0.0"]["dist"].as_object_mut().unwrap().remove("tarball");
    let mut bad_sri = packument();
    bad_sri["versions"]["1.0.0"]["dist"]["integrity"] = json!("sha512-!!!");
    let mut short_sri = packument();
    short_sri["versions"]["1.0.0"]["dist"]["integrity"] = json!("sha512-AAAA");
    let mut bad_shasum = packument();
    bad_shasum["versions"]["1.1.0"]["dist"]["shasum"] = json!("xyz");
    let mut bad_tag = packument();
    bad_tag["dist-tags"]["latest"] = json!(1);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("@acme/util", b"{\"name\": \"@acme/util\", \"versions\": {".to_vec(), "not valid JSON"),
        ("@acme/util", b"<html>502</html>".to_vec(), "not valid JSON"),
        ("@acme/util", b"[1]".to_vec(), "not a JSON object"),
        ("@acme/util", bytes(&json!({"versions": {}})), "has no name"),
        ("@acme/other", bytes(&packument()), "names the package \"@acme/util\""),
        ("@acme/util", bytes(&json!({"name": "@acme/util"})), "has no versions"),
        ("@acme/util", bytes(&json!({"name": "@acme/util", "versions": []})), "versions is not an object"),
        ("@acme/util", bytes(&json!({"name": "@acme/util", "versions": {"1.0.0": 3}})), "is not an object"),
        ("@acme/util", bytes(&no_dist), "@acme/util@1.0.0 has no dist object"),
        ("@acme/util", bytes(&no_tarball), "has no dist.tarball"),
        ("@acme/util", bytes(&bad_sri), "not base64"),
        ("@acme/util", bytes(&short_sri), "sha512 digest is 3 bytes"),
        ("@acme/util", bytes(&bad_shasum), "dist.shasum is not hex"),
        ("@acme/util", bytes(&bad_tag), "dist-tag \"latest\""),
        ("@acme/util/1.0.0", bytes(&json!({"name": "@acme/util"})), "has no dist object"),
        ("-/package/@acme/util/dist-tags", bytes(&json!({"latest": null})), "dist-tag \"latest\""),
    ];
    for (path, body, fragment) in cases {
        let err = Npm.check_document(&req(path), &body).expect_err(path);
        assert!(err.contains(fragment), "{path}: {err:?} should say {fragment:?}");
    }
    let stub = json!({"name": "gone", "time": {"unpublished": {"time": "2024-01-01T00:00:00Z"}}});
    assert_eq!(Npm.check_document(&req("gone"), &bytes(&stub)), Ok(()));
    assert_eq!(Npm.check_document(&req("@acme/util"), &bytes(&packument())), Ok(()));
    assert_eq!(Npm.check_document(&req("-/ping"), b"not json"), Ok(()));
}

#[test]
fn tarball_urls_point_at_this_remote() {
    for (doc, ct) in [(FULL, "application/json"), (ABBREVIATED, "application/vnd.npm.install-v1+json")] {
        let out = Npm.rewrite(&req("@acme/util"), &doc, &bytes(&packument()), &urls()).unwrap();
        assert_eq!(out.content_type, ct);
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        let tarball = |ver: &str| v["versions"][ver]["dist"].get("tarball").and_then(Value::as_str).map(str::to_string);
        let public = "http://proxy:8080/api/v1/remote/npm/@acme/util/-/";
        assert_eq!(tarball("1.0.0"), Some(format!("{public}util-1.0.0.tgz")));
        assert_eq!(tarball("1.1.0"), Some(format!("{public}util-1.1.0.tgz")));
        assert_eq!(tarball("2.0.0-b.1"), Some(format!("{public}util-2.0.0-b.1.tgz")));
        assert_eq!(tarball("0.0.1"), None, "a tarball that cannot come through here is dropped");
        assert_eq!(v["versions"]["1.0.0"]["dist"]["integrity"], json!(sri512(b"one")));
        assert_eq!(v["dist-tags"], packument()["dist-tags"]);
        assert!(!String::from_utf8_lossy(&out.body).contains("up:4873"));
        assert!(!String::from_utf8_lossy(&out.body).contains("files.example"));
    }
    let manifest = json!({"name": "leftpad-x", "version": "1.0.0", "dist": {"tarball": "http://up:4873/leftpad-x/-/leftpad-x-1.0.0.tgz"}});
    let out = Npm.rewrite(&req("leftpad-x/1.0.0"), &FULL, &bytes(&manifest), &urls()).unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["dist"]["tarball"], json!("http://proxy:8080/api/v1/remote/npm/leftpad-x/-/leftpad-x-1.0.0.tgz"));
    let odd = json!({"name": "x", "versions": {"1.0.0": {"dist": {"tarball": "http://up:4873/x/-/x%20y%3F.tgz"}}}});
    let out = Npm.rewrite(&req("x"), &FULL, &bytes(&odd), &urls()).unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(
        v["versions"]["1.0.0"]["dist"]["tarball"],
        json!("http://proxy:8080/api/v1/remote/npm/x/-/x%20y%3F.tgz")
    );
    assert!(Npm.rewrite(&req("@acme/util"), &FULL, b"{", &urls()).is_err());
}

#[test]
fn tarballs_are_located_with_their_integrity() {
    let body = bytes(&packument());
    let locate = |path: &str| Npm.locate(&req(path), &body, &urls());
    let one = locate("@acme/util/-/util-1.0.0.tgz").unwrap().unwrap();
    assert_eq!(one.url, "http://up:4873/@acme/util/-/util-1.0.0.tgz");
    assert_eq!(one.integrity, Some(Integrity::Sha512(Box::new(sha2::Sha512::digest(b"one").into()))));
    let two = locate("@acme/util/-/util-1.1.0.tgz").unwrap().unwrap();
    assert_eq!(two.url, "https://files.example/t/util-1.1.0.tgz", "another host, as the packument says");
    assert_eq!(two.integrity, Some(Integrity::Sha1(sha1::Sha1::digest(b"two").into())));
    let beta = locate("@acme/util/-/util-2.0.0-b.1.tgz").unwrap().unwrap();
    assert_eq!((beta.url.as_str(), beta.integrity), ("http://up:4873/@acme/util/-/util-2.0.0-b.1.tgz", None));
    assert_eq!(locate("@acme/util/-/util-9.9.9.tgz"), Ok(None));
    assert_eq!(locate("@acme/util/-/util-0.0.1.tgz"), Ok(None), "non-http tarballs are never fetched");
    assert!(locate("@acme/other/-/util-1.0.0.tgz").is_err(), "a packument of another name is refused");
    let sha1_sri = format!("sha1-{}", base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"x")));
    let mut both = packument();
    both["versions"]["1.0.0"]["dist"]["integrity"] = json!(format!("{sha1_sri} {}", sri512(b"x")));
    let found = Npm.locate(&req("@acme/util/-/util-1.0.0.tgz"), &bytes(&both), &urls()).unwrap().unwrap();
    assert_eq!(found.integrity, Some(Integrity::Sha512(Box::new(sha2::Sha512::digest(b"x").into()))));
}

#[test]
fn virtual_packuments_merge_first_member_winning() {
    let first = json!({
        "name": "p", "description": "first",
        "dist-tags": {"latest": "1.0.0"},
        "time": {"1.0.0": "t1", "modified": "m1"},
        "versions": {"1.0.0": {"version": "1.0.0", "dist": {"tarball": "http://proxy/api/v1/remote/a/p/-/p-1.0.0.tgz"}}}
    });
    let second = json!({
        "name": "p", "description": "second",
        "dist-tags": {"latest": "2.0.0", "next": "2.0.0"},
        "time": {"1.0.0": "t1-other", "2.0.0": "t2", "modified": "m2"},
        "versions": {
            "1.0.0": {"version": "1.0.0", "dist": {"tarball": "http://proxy/api/v1/remote/b/p/-/p-1.0.0.tgz"}},
            "2.0.0": {"version": "2.0.0", "dist": {"tarball": "http://proxy/api/v1/remote/b/p/-/p-2.0.0.tgz"}}
        }
    });
    let members = vec![Rendered::new(bytes(&first), ABBREVIATED_TYPE), Rendered::new(bytes(&second), JSON)];
    let out = Npm.merge(&req("p"), &ABBREVIATED, members).unwrap();
    assert_eq!(out.content_type, ABBREVIATED_TYPE);
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["description"], json!("first"));
    assert_eq!(v["dist-tags"], json!({"latest": "1.0.0", "next": "2.0.0"}));
    assert_eq!(v["time"], json!({"1.0.0": "t1", "2.0.0": "t2", "modified": "m1"}));
    assert_eq!(v["versions"]["1.0.0"]["dist"]["tarball"], json!("http://proxy/api/v1/remote/a/p/-/p-1.0.0.tgz"));
    assert_eq!(v["versions"]["2.0.0"]["dist"]["tarball"], json!("http://proxy/api/v1/remote/b/p/-/p-2.0.0.tgz"));

    let stub = json!({"name": "p", "time": {"unpublished": {}}});
    let members = vec![Rendered::new(bytes(&stub), JSON), Rendered::new(bytes(&second), JSON)];
    let v: Value = serde_json::from_slice(&Npm.merge(&req("p"), &FULL, members).unwrap().body).unwrap();
    assert_eq!(v["versions"].as_object().map(|m| m.len()), Some(2));

    let tags = vec![
        Rendered::new(bytes(&json!({"latest": "1.0.0"})), JSON),
        Rendered::new(bytes(&json!({"latest": "2.0.0", "next": "3.0.0"})), JSON),
    ];
    let v: Value =
        serde_json::from_slice(&Npm.merge(&req("-/package/p/dist-tags"), &FULL, tags).unwrap().body).unwrap();
    assert_eq!(v, json!({"latest": "1.0.0", "next": "3.0.0"}));
    assert!(Npm.merge(&req("p"), &FULL, Vec::new()).is_err());
}

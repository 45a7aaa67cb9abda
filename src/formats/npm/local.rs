//! npm local repositories, the read side: packuments generated from the versions a local holds.
//!
//! A published version is stored as the version manifest the client sent (`npm publish`), its
//! `dist` recording the SHA-512 `integrity`, the SHA-1 `shasum` and the tarball's path in the
//! local (`{name}/-/{base}-{version}.tgz`). From those rows this module writes the documents npm
//! reads: the full packument (`npm view`, `npm deprecate`, `npm unpublish`), the abbreviated one
//! (`npm install`) and the dist-tags (`npm dist-tag ls`). Every `dist.tarball` is an absolute URL
//! on `PUBLIC_URL` under the local (`urls.public`), so a virtual that merges the local's copy
//! sends clients to the local for its tarballs. `time` has `created`, `modified` and each
//! version's publish time; `latest` falls back to the most recently published version when no
//! tag names it (after its version was unpublished). A package whose every version was
//! unpublished keeps a packument without `versions` and with `time.unpublished`, as the public
//! registry shows one, so npm reports it unpublished.
//!
//! A few hundred versions make a packument of a few hundred KB: generated once per generation of
//! the local ([`crate::serve`]), so building it as a `serde_json` map costs nothing that matters.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::{Kind, NpmRequest, PackageName, ABBREVIATED, FULL};
use crate::formats::{Doc, LocalPackages, LocalPlan, LocalVersion, Urls};

/// The fields of a version manifest the abbreviated packument keeps (npm's registry docs).
const ABBREVIATED_FIELDS: [&str; 21] = [
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "funding",
    "_hasShrinkwrap",
    "hasInstallScript",
    "os",
    "cpu",
    "libc",
];

/// The lifecycle scripts that make a package one with an install script, as registries derive
/// `hasInstallScript` for the abbreviated packument.
const INSTALL_SCRIPTS: [&str; 3] = ["preinstall", "install", "postinstall"];

/// The path of a version's tarball in the local: where `npm publish` stores it and where the
/// packument's `dist.tarball` points. `name` is `name` or `@scope/name`; the file is named like
/// the public registry names it (`base-version.tgz`, without the scope).
pub fn tarball_path(name: &str, version: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    format!("{name}/-/{base}-{version}.tgz")
}

fn time(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// How a local answers `e`: a generated document, or a stored tarball.
pub fn plan(e: &NpmRequest) -> Option<LocalPlan> {
    let document = |name: &PackageName, doc: Doc| Some(LocalPlan::Document { package: Some(name.full.clone()), doc });
    match &e.kind {
        Kind::Packument(name) if e.abbreviated => document(name, ABBREVIATED),
        Kind::Packument(name) | Kind::DistTags(name) => document(name, FULL),
        Kind::Tarball(name, file) => Some(LocalPlan::File(format!("{}/-/{file}", name.full))),
        Kind::Version(..) | Kind::Ping => None,
    }
}

/// The dist-tags of `name`: the stored ones, and `latest` on the most recent published version
/// when no tag is called that.
fn dist_tags(name: &str, packages: &LocalPackages) -> Map<String, Value> {
    let mut tags: Map<String, Value> = packages
        .tags
        .iter()
        .filter(|t| t.package == name)
        .map(|t| (t.tag.clone(), Value::String(t.version.clone())))
        .collect();
    if !tags.contains_key("latest") {
        if let Some(last) = packages.published().filter(|v| v.package == name).max_by_key(|v| v.created_at) {
            tags.insert("latest".into(), Value::String(last.version.clone()));
        }
    }
    tags
}

/// A stored version's manifest as clients get it: `dist.tarball` on PUBLIC_URL.
fn manifest(v: &LocalVersion, urls: &Urls, abbreviated: bool) -> Value {
    let mut m = match &v.metadata {
        Value::Object(m) if abbreviated => {
            let mut short: Map<String, Value> = m
                .iter()
                .filter(|(k, _)| ABBREVIATED_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let scripts = m.get("scripts").and_then(Value::as_object);
            if scripts.is_some_and(|s| INSTALL_SCRIPTS.iter().any(|k| s.contains_key(*k))) {
                short.insert("hasInstallScript".into(), Value::Bool(true));
            }
            short
        }
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    m.insert("name".into(), Value::String(v.package.clone()));
    m.insert("version".into(), Value::String(v.version.clone()));
    let mut dist = match m.remove("dist") {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    let url = urls.public_url(&tarball_path(&v.package, &v.version));
    dist.insert("tarball".into(), Value::String(url));
    m.insert("dist".into(), Value::Object(dist));
    Value::Object(m)
}

/// The packument of `name` (full or abbreviated) from what the local holds of it.
pub fn packument(name: &str, packages: &LocalPackages, urls: &Urls, abbreviated: bool) -> Value {
    let all: Vec<&LocalVersion> = packages.versions.iter().filter(|v| v.package == name).collect();
    let published: Vec<&LocalVersion> = all.iter().copied().filter(|v| v.published).collect();
    let created = all.iter().map(|v| v.created_at).min().unwrap_or_else(Utc::now);
    let modified = all.iter().map(|v| v.updated_at.max(v.created_at)).max().unwrap_or(created);
    let mut doc = Map::new();
    if !abbreviated {
        doc.insert("_id".into(), Value::String(name.to_string()));
    }
    doc.insert("name".into(), Value::String(name.to_string()));
    if published.is_empty() {
        let versions: Vec<Value> = all.iter().map(|v| Value::String(v.version.clone())).collect();
        let unpublished = serde_json::json!({ "time": time(modified), "versions": versions });
        let mut t = Map::new();
        t.insert("created".into(), time(created));
        t.insert("modified".into(), time(modified));
        t.insert("unpublished".into(), unpublished);
        doc.insert("time".into(), Value::Object(t));
        return Value::Object(doc);
    }
    doc.insert("dist-tags".into(), Value::Object(dist_tags(name, packages)));
    let versions: Map<String, Value> =
        published.iter().map(|v| (v.version.clone(), manifest(v, urls, abbreviated))).collect();
    doc.insert("versions".into(), Value::Object(versions));
    if abbreviated {
        doc.insert("modified".into(), time(modified));
        return Value::Object(doc);
    }
    let mut t = Map::new();
    t.insert("created".into(), time(created));
    t.insert("modified".into(), time(modified));
    for v in &published {
        t.insert(v.version.clone(), time(v.created_at));
    }
    doc.insert("time".into(), Value::Object(t));
    // The description and readme of the version `latest` names, as the public registry shows.
    let latest = dist_tags(name, packages).get("latest").and_then(Value::as_str).map(str::to_string);
    if let Some(v) = published.iter().find(|v| Some(&v.version) == latest.as_ref()) {
        for field in ["description", "readme", "license", "homepage", "repository", "keywords"] {
            if let Some(value) = v.metadata.get(field) {
                doc.insert(field.into(), value.clone());
            }
        }
    }
    Value::Object(doc)
}

/// The document `e` of a local, as [`crate::formats::Format::local_document`] asks for it.
pub fn document(e: &NpmRequest, doc: &Doc, packages: &LocalPackages, urls: &Urls) -> Result<Vec<u8>, String> {
    let value = match &e.kind {
        Kind::Packument(name) => packument(&name.full, packages, urls, doc.variant == ABBREVIATED.variant),
        Kind::DistTags(name) => Value::Object(dist_tags(&name.full, packages)),
        other => return Err(format!("{other:?} is no document of an npm local")),
    };
    serde_json::to_vec(&value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{LocalTag, Request};

    const SRI: &str = "sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

    fn version(name: &str, v: &str, published: bool, at: i64) -> LocalVersion {
        let t = DateTime::from_timestamp(1_700_000_000 + at, 0).unwrap();
        LocalVersion {
            package: name.into(),
            version: v.into(),
            metadata: serde_json::json!({
                "name": name, "version": v, "description": format!("d{v}"), "readme": "# r", "scripts": {"x": "y"},
                "dependencies": {"a": "^1"}, "dist": {"integrity": SRI, "shasum": "00".repeat(20), "tarball": "ignored"}
            }),
            published,
            created_at: t,
            updated_at: t,
        }
    }

    fn urls() -> Urls {
        Urls { public: "http://p/api/v1/local/l/".into(), base: String::new(), document: String::new() }
    }

    fn parse(path: &str, accept: &str) -> NpmRequest {
        use crate::formats::Format;
        let accept = [accept];
        let req = Request { repo: "l", method: crate::formats::Method::Get, path, query: "", accept: &accept };
        super::super::Npm.parse(&req).unwrap()
    }

    #[test]
    fn plans_of_a_local() {
        let cases: &[(&str, &str, Option<LocalPlan>)] = &[
            ("@a%2fb", "application/json", Some(LocalPlan::Document { package: Some("@a/b".into()), doc: FULL })),
            (
                "@a/b",
                super::super::ABBREVIATED_TYPE,
                Some(LocalPlan::Document { package: Some("@a/b".into()), doc: ABBREVIATED }),
            ),
            ("-/package/x/dist-tags", "", Some(LocalPlan::Document { package: Some("x".into()), doc: FULL })),
            ("@a/b/-/b-1.0.0.tgz", "", Some(LocalPlan::File("@a/b/-/b-1.0.0.tgz".into()))),
            ("x/1.0.0", "", None),
            ("-/ping", "", None),
        ];
        for (path, accept, want) in cases {
            assert_eq!(&plan(&parse(path, accept)), want, "{path}");
        }
        assert_eq!(tarball_path("@a/b", "1.0.0"), "@a/b/-/b-1.0.0.tgz");
        assert_eq!(tarball_path("x", "2.0.0-rc.1"), "x/-/x-2.0.0-rc.1.tgz");
    }

    #[test]
    fn packuments_from_stored_versions() {
        let packages = LocalPackages {
            versions: vec![
                version("x", "1.0.0", true, 0),
                version("x", "1.1.0", false, 10),
                version("x", "2.0.0", true, 20),
            ],
            tags: vec![LocalTag { package: "x".into(), tag: "beta".into(), version: "2.0.0".into() }],
        };
        let full = packument("x", &packages, &urls(), false);
        assert_eq!(full["dist-tags"], serde_json::json!({"beta": "2.0.0", "latest": "2.0.0"}));
        let versions: Vec<&String> = full["versions"].as_object().unwrap().keys().collect();
        assert_eq!(versions, ["1.0.0", "2.0.0"], "unpublished versions are not listed");
        assert_eq!(full["versions"]["1.0.0"]["dist"]["tarball"], "http://p/api/v1/local/l/x/-/x-1.0.0.tgz");
        assert_eq!(full["versions"]["1.0.0"]["dist"]["integrity"], SRI);
        assert_eq!(full["time"]["1.0.0"], "2023-11-14T22:13:20.000Z");
        assert_eq!(full["time"]["created"], "2023-11-14T22:13:20.000Z");
        assert_eq!((full["description"].as_str(), full["readme"].as_str()), (Some("d2.0.0"), Some("# r")));
        assert_eq!(full["_id"], "x");

        let short = packument("x", &packages, &urls(), true);
        assert!(short.get("time").is_none() && short.get("readme").is_none() && short.get("_id").is_none());
        assert!(
            short["versions"]["2.0.0"].get("scripts").is_none() && short["versions"]["2.0.0"].get("readme").is_none()
        );
        assert_eq!(short["versions"]["2.0.0"]["dependencies"], serde_json::json!({"a": "^1"}));
        assert!(short["versions"]["2.0.0"].get("hasInstallScript").is_none(), "a script named x is none");
        let mut scripted = packages.clone();
        scripted.versions[0].metadata["scripts"] = serde_json::json!({"postinstall": "node build.js"});
        let scripted = packument("x", &scripted, &urls(), true);
        assert_eq!(scripted["versions"]["1.0.0"]["hasInstallScript"], true);
        assert_eq!(short["modified"], "2023-11-14T22:13:40.000Z");

        // The merge of virtuals accepts the generated documents.
        let body = serde_json::to_vec(&full).unwrap();
        assert!(super::super::merge::packuments("x", &[&body]).is_ok());
        assert!(super::super::documents::packument("x", &body).is_ok());
    }

    #[test]
    fn a_package_without_published_versions_is_shown_unpublished() {
        let packages = LocalPackages { versions: vec![version("x", "1.0.0", false, 0)], tags: vec![] };
        let doc = packument("x", &packages, &urls(), false);
        assert!(doc.get("versions").is_none(), "{doc}");
        assert_eq!(doc["time"]["unpublished"]["versions"], serde_json::json!(["1.0.0"]));
        let body = serde_json::to_vec(&doc).unwrap();
        assert!(super::super::merge::packuments("x", &[&body]).is_ok());
        assert!(super::super::documents::packument("x", &body).is_ok());
    }
}

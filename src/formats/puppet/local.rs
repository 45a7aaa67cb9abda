//! The read side of a puppet local: the Forge v3 documents generated from its releases.
//!
//! A release's stored record is `{metadata, file_sha256, file_size}` (the archive's own
//! `metadata.json` and what the upload hashed); the documents are built from it as the Forge
//! shapes them, with root-relative `file_uri` (`/v3/files/{slug}.tar.gz`), which puppet and
//! r10k append to the repository URL. A releases listing is one page of every release of the
//! module, oldest first (`pagination.next` null).

use serde_json::{json, Value};

use super::endpoint::{Endpoint, Release};
use super::PuppetRequest;
use crate::formats::{LocalPackages, LocalVersion};

/// The module a local document of `e` is generated from (`None`: every module).
pub fn package(e: &PuppetRequest) -> Option<String> {
    match &e.endpoint {
        Endpoint::Module { slug } => Some(slug.clone()),
        Endpoint::Release(r) | Endpoint::File(r) => Some(format!("{}-{}", r.author, r.name)),
        Endpoint::Releases => url::form_urlencoded::parse(e.query.as_bytes())
            .find(|(k, _)| k == "module")
            .map(|(_, v)| v.replace('/', "-")),
        _ => None,
    }
}

/// The document `e` from the local's releases.
pub fn document(e: &PuppetRequest, packages: &LocalPackages) -> Result<Vec<u8>, String> {
    let mut releases: Vec<&LocalVersion> = packages.published().collect();
    releases.sort_by_key(|v| version_key(&v.version));
    let doc = match &e.endpoint {
        Endpoint::Release(r) => {
            let v =
                releases.iter().find(|v| v.version == r.version).ok_or(format!("release {} not found", r.slug()))?;
            release(v)
        }
        Endpoint::Module { slug } => {
            let latest = releases.last().ok_or(format!("module {slug} not found"))?;
            let mut m = module(latest);
            m["current_release"] = release(latest);
            m["releases"] = releases
                .iter()
                .rev()
                .map(|v| json!({"version": v.version, "slug": slug_of(v), "file_uri": file_uri(v)}))
                .collect();
            m
        }
        Endpoint::Releases => {
            let results: Vec<Value> = releases.iter().map(|v| release(v)).collect();
            let current = format!("/v3/releases?{}", e.query);
            json!({
                "pagination": {"limit": results.len(), "offset": 0, "first": current, "previous": null,
                               "current": current, "next": null, "total": results.len()},
                "results": results,
            })
        }
        other => return Err(format!("{other:?} is no document of a puppet local")),
    };
    serde_json::to_vec(&doc).map_err(|e| e.to_string())
}

fn slug_of(v: &LocalVersion) -> String {
    format!("{}-{}", v.package, v.version)
}

fn file_uri(v: &LocalVersion) -> String {
    format!("/v3/files/{}.tar.gz", slug_of(v))
}

fn module(v: &LocalVersion) -> Value {
    let (author, name) = v.package.split_once('-').unwrap_or((v.package.as_str(), ""));
    json!({
        "slug": v.package, "name": name, "uri": format!("/v3/modules/{}", v.package), "deprecated_at": null,
        "owner": {"slug": author, "username": author},
    })
}

fn release(v: &LocalVersion) -> Value {
    json!({
        "slug": slug_of(v),
        "version": v.version,
        "uri": format!("/v3/releases/{}", slug_of(v)),
        "module": module(v),
        "metadata": v.metadata.get("metadata").cloned().unwrap_or(Value::Null),
        "file_uri": file_uri(v),
        "file_sha256": v.metadata.get("file_sha256").cloned().unwrap_or(Value::Null),
        "file_size": v.metadata.get("file_size").cloned().unwrap_or(Value::Null),
        "created_at": v.created_at.to_rfc3339(),
        "deleted_at": null,
    })
}

/// Orders versions numerically by their dotted numeric prefix, then by the text.
fn version_key(v: &str) -> (Vec<u64>, String) {
    let core = v.split(['-', '+']).next().unwrap_or(v);
    (core.split('.').map(|p| p.parse().unwrap_or(0)).collect(), v.to_string())
}

/// Whether `e`'s release exists for the file plan (the release's own archive).
pub fn file_of(r: &Release) -> String {
    format!("v3/files/{}", r.file_name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::tests::get;
    use crate::formats::{Format, Request};

    fn v(version: &str) -> LocalVersion {
        let now = chrono::Utc::now();
        LocalVersion {
            package: "acme-base".into(),
            version: version.into(),
            metadata: json!({"metadata": {"name": "acme-base", "version": version}, "file_sha256": "ab", "file_size": 3}),
            published: true,
            created_at: now,
            updated_at: now,
        }
    }

    fn req(path: &str, query: &str) -> PuppetRequest {
        super::super::Puppet.parse(&Request { query, ..get(path) }).unwrap()
    }

    #[test]
    fn generates_the_forge_documents() {
        let packages = LocalPackages { versions: vec![v("1.10.0"), v("1.2.0")], tags: vec![] };
        let e = req("v3/releases", "module=acme-base&limit=20");
        assert_eq!(package(&e).as_deref(), Some("acme-base"));
        let list: Value = serde_json::from_slice(&document(&e, &packages).unwrap()).unwrap();
        let versions: Vec<&str> =
            list["results"].as_array().unwrap().iter().map(|r| r["version"].as_str().unwrap()).collect();
        assert_eq!(versions, ["1.2.0", "1.10.0"]);
        assert_eq!(list["pagination"]["next"], Value::Null);
        assert_eq!(list["results"][0]["file_uri"], "/v3/files/acme-base-1.2.0.tar.gz");
        let m: Value = serde_json::from_slice(&document(&req("v3/modules/acme-base", ""), &packages).unwrap()).unwrap();
        assert_eq!(m["current_release"]["version"], "1.10.0");
        let r: Value =
            serde_json::from_slice(&document(&req("v3/releases/acme-base-1.2.0", ""), &packages).unwrap()).unwrap();
        assert_eq!((r["file_sha256"].as_str(), r["metadata"]["version"].as_str()), (Some("ab"), Some("1.2.0")));
        assert!(document(&req("v3/releases/acme-base-9.9.9", ""), &packages).is_err());
    }
}

//! The Forge v3 JSON documents: checked before they are cached, their links rewritten on the
//! way out, release archives located in them, listings merged for virtuals.
//!
//! puppet and r10k append `file_uri` and `pagination.next` to the repository URL they were
//! configured with, so the usual root-relative values (`/v3/files/...`, `/v3/releases?...`)
//! already point at this remote and pass unchanged; rewriting them to a full public URL would
//! double the prefix. Only absolute URLs are rewritten: a `file_uri` on any host becomes
//! `/v3/files/{file}` (served as the archive the release document lists, fetched from where
//! that document says), a pagination link becomes its `/v3/...` path and query.

use serde_json::{Map, Value};

use super::endpoint::Release;
use crate::formats::{Located, Rendered, Urls};
use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;

pub const CONTENT_TYPE: &str = "application/json";
/// The largest document accepted from an upstream (a releases page with readmes is ~1 MiB).
pub const MAX_DOCUMENT: usize = 16 << 20;

const PAGINATION_LINKS: [&str; 4] = ["first", "previous", "current", "next"];

/// A document is a JSON object of bounded size.
pub fn check(body: &[u8]) -> Result<(), String> {
    parse(body).map(|_| ())
}

fn parse(body: &[u8]) -> Result<Map<String, Value>, String> {
    if body.len() > MAX_DOCUMENT {
        return Err(format!("Forge document larger than {MAX_DOCUMENT} bytes"));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("Forge document is no JSON object".into()),
        Err(e) => Err(format!("Forge document is no JSON: {e}")),
    }
}

/// The document as clients get it: absolute links rewritten, everything else unchanged (the
/// upstream's bytes when nothing needed rewriting).
pub fn rewrite(body: &[u8]) -> Result<Rendered, String> {
    let mut doc = Value::Object(parse(body)?);
    if !rewrite_links(&mut doc) {
        return Ok(Rendered::new(body.to_vec(), CONTENT_TYPE));
    }
    let out = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
    Ok(Rendered::new(out, CONTENT_TYPE))
}

/// Rewrites every absolute `file_uri` and pagination link in `v`; whether anything changed.
fn rewrite_links(v: &mut Value) -> bool {
    let mut changed = false;
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match (k.as_str(), child) {
                    ("file_uri", Value::String(s)) => changed |= replace(s, file_path),
                    ("pagination", Value::Object(p)) => {
                        for link in PAGINATION_LINKS {
                            if let Some(Value::String(s)) = p.get_mut(link) {
                                changed |= replace(s, page_path);
                            }
                        }
                    }
                    (_, child) => changed |= rewrite_links(child),
                }
            }
        }
        Value::Array(a) => {
            for child in a {
                changed |= rewrite_links(child);
            }
        }
        _ => {}
    }
    changed
}

fn replace(s: &mut String, f: fn(&url::Url) -> Option<String>) -> bool {
    let Some(new) = url::Url::parse(s).ok().filter(|u| matches!(u.scheme(), "http" | "https")).and_then(|u| f(&u))
    else {
        return false;
    };
    *s = new;
    true
}

/// `/v3/files/{file}` for an absolute archive URL whose file name is a release archive.
fn file_path(u: &url::Url) -> Option<String> {
    let name = u.path_segments()?.next_back()?;
    let slug = name.strip_suffix(".tar.gz")?;
    Release::parse(slug).ok().map(|r| format!("/v3/files/{}", r.file_name()))
}

/// The `/v3/...` path and query of an absolute pagination link.
fn page_path(u: &url::Url) -> Option<String> {
    let path = u.path();
    let at = path.find("/v3/")?;
    Some(match u.query() {
        Some(q) => format!("{}?{q}", &path[at..]),
        None => path[at..].to_string(),
    })
}

/// Where the archive of `release` is and its digest, from the release document `body`.
pub fn locate(release: &Release, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
    let doc = parse(body)?;
    let Some(Value::String(uri)) = doc.get("file_uri") else {
        return Ok(None);
    };
    let url = if uri.starts_with('/') {
        // Relative to the repository URL, as puppet and r10k read it.
        url::Url::parse(&format!("{}{uri}", urls.base.trim_end_matches('/'))).ok()
    } else {
        urls.resolve(uri)
    };
    let Some(url) = url else {
        return Err(format!("release {}: unusable file_uri {uri:?}", release.slug()));
    };
    let file = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or("");
    if file != release.file_name() {
        return Err(format!("release {}: file_uri names {file:?}", release.slug()));
    }
    let bad = |field: &str| format!("release {}: {field} is no hex digest", release.slug());
    let integrity = match (doc.get("file_sha256"), doc.get("file_md5")) {
        (Some(Value::String(hex)), _) => {
            Some(Integrity::Sha256(Digest::from_hex(hex).map_err(|_| bad("file_sha256"))?))
        }
        (_, Some(Value::String(hex))) => {
            let b = hex::decode(hex).ok().and_then(|b| <[u8; 16]>::try_from(b).ok()).ok_or_else(|| bad("file_md5"))?;
            Some(Integrity::Md5(b))
        }
        _ => None,
    };
    Ok(Some(Located { url: url.to_string(), integrity }))
}

/// Merges member documents in member order. Listings (`results`) are united by `slug`, the
/// first member winning; a module name a local member lists is taken from the locals only
/// (a remote listed after it cannot add releases of that name). Single documents: the first.
pub fn merge(members: Vec<Rendered>) -> Result<Rendered, String> {
    let mut it = members.into_iter();
    let first = it.next().ok_or("no member document")?;
    let mut base = parse(&first.body)?;
    let Some(Value::Array(_)) = base.get("results") else {
        return Ok(Rendered::new(first.body, CONTENT_TYPE));
    };
    let mut seen = std::collections::HashSet::new();
    let mut owned = std::collections::HashSet::new();
    let mut results = Vec::new();
    let mut add = |items: Vec<Value>, local: bool, results: &mut Vec<Value>| {
        for item in items {
            let slug = item.get("slug").and_then(Value::as_str).unwrap_or("").to_string();
            let module = module_of(&item);
            if !local && owned.contains(&module) {
                continue;
            }
            if local {
                owned.insert(module);
            }
            if seen.insert(slug) {
                results.push(item);
            }
        }
    };
    if let Some(Value::Array(items)) = base.remove("results") {
        add(items, first.from_local, &mut results);
    }
    for m in it {
        let Ok(mut doc) = parse(&m.body) else { continue };
        if let Some(Value::Array(items)) = doc.remove("results") {
            add(items, m.from_local, &mut results);
        }
    }
    if let Some(Value::Object(p)) = base.get_mut("pagination") {
        p.insert("total".into(), Value::from(results.len()));
    }
    base.insert("results".into(), Value::Array(results));
    let out = serde_json::to_vec(&Value::Object(base)).map_err(|e| e.to_string())?;
    Ok(Rendered::new(out, CONTENT_TYPE))
}

/// The module a listed item belongs to: `module.slug` of a release, `slug` of a module.
fn module_of(item: &Value) -> String {
    item.pointer("/module/slug").or_else(|| item.get("slug")).and_then(Value::as_str).unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn urls() -> Urls {
        Urls {
            public: "http://proxy/api/v1/remote/forge/".into(),
            base: "http://up:8140/forge/".into(),
            document: "http://up:8140/forge/v3/releases/a-b-1.0.0".into(),
        }
    }

    fn release() -> Release {
        Release::parse("a-b-1.0.0").unwrap()
    }

    #[test]
    fn root_relative_links_pass_unchanged() {
        let body = br#"{"pagination":{"next":"/v3/releases?module=a-b&offset=20"},"results":[{"file_uri":"/v3/files/a-b-1.0.0.tar.gz"}]}"#;
        assert_eq!(rewrite(body).unwrap().body, body.to_vec());
    }

    #[test]
    fn absolute_links_become_paths_of_this_remote() {
        let body = json!({
            "pagination": {"next": "https://forgeapi.example/v3/releases?module=a-b&offset=20", "previous": null},
            "results": [{"file_uri": "https://cdn.example/x/a-b-1.0.0.tar.gz", "module": {"slug": "a-b"}}],
        });
        let out: Value = serde_json::from_slice(&rewrite(&serde_json::to_vec(&body).unwrap()).unwrap().body).unwrap();
        assert_eq!(out["pagination"]["next"], "/v3/releases?module=a-b&offset=20");
        assert_eq!(out["pagination"]["previous"], Value::Null);
        assert_eq!(out["results"][0]["file_uri"], "/v3/files/a-b-1.0.0.tar.gz");
    }

    #[test]
    fn refuses_what_is_no_document() {
        for body in [&b"[]"[..], b"<html>", b"", b"\"x\""] {
            assert!(check(body).is_err(), "{body:?}");
        }
        assert!(check(b"{}").is_ok());
        let mut oversize = br#"{"x":""#.to_vec();
        oversize.resize(MAX_DOCUMENT + 1, b'a');
        oversize.extend_from_slice(br#""}"#);
        assert!(check(&oversize).is_err_and(|e| e.contains("larger than")));
    }

    #[test]
    fn locates_the_archive_and_its_digest() {
        let sha = "ab".repeat(32);
        let cases: &[(&str, Option<&str>)] = &[
            ("/v3/files/a-b-1.0.0.tar.gz", Some("http://up:8140/forge/v3/files/a-b-1.0.0.tar.gz")),
            ("https://cdn.example/f/a-b-1.0.0.tar.gz", Some("https://cdn.example/f/a-b-1.0.0.tar.gz")),
        ];
        for (uri, want) in cases {
            let body = serde_json::to_vec(&json!({"file_uri": uri, "file_sha256": sha})).unwrap();
            let got = locate(&release(), &body, &urls()).unwrap();
            assert_eq!(got.as_ref().map(|l| l.url.as_str()), *want, "{uri}");
            assert_eq!(got.and_then(|l| l.integrity), Some(Integrity::Sha256(Digest::from_hex(&sha).unwrap())));
        }
        let other = serde_json::to_vec(&json!({"file_uri": "/v3/files/a-b-2.0.0.tar.gz"})).unwrap();
        assert!(locate(&release(), &other, &urls()).is_err(), "another release's archive");
        let bad = serde_json::to_vec(&json!({"file_uri": "/v3/files/a-b-1.0.0.tar.gz", "file_sha256": "zz"})).unwrap();
        assert!(locate(&release(), &bad, &urls()).is_err());
        assert_eq!(locate(&release(), b"{}", &urls()), Ok(None));
        let md5 = serde_json::to_vec(&json!({"file_uri": "/v3/files/a-b-1.0.0.tar.gz", "file_md5": "0f".repeat(16)}))
            .unwrap();
        let got = locate(&release(), &md5, &urls()).unwrap().and_then(|l| l.integrity);
        assert_eq!(got, Some(Integrity::Md5([0x0f; 16])), "file_md5 when there is no file_sha256");
    }

    fn listing(slugs: &[&str], local: bool) -> Rendered {
        let results: Vec<Value> =
            slugs.iter().map(|s| json!({"slug": s, "module": {"slug": s.rsplit_once('-').unwrap().0}})).collect();
        let body = serde_json::to_vec(&json!({"pagination": {"total": slugs.len()}, "results": results})).unwrap();
        Rendered { body, content_type: CONTENT_TYPE.into(), from_local: local }
    }

    #[test]
    fn virtuals_merge_listings_first_member_and_locals_winning() {
        let merged = merge(vec![
            listing(&["a-x-1.0.0"], true),
            listing(&["a-y-1.0.0", "a-x-2.0.0"], false),
            listing(&["a-y-1.0.0", "a-y-2.0.0"], false),
        ])
        .unwrap();
        let v: Value = serde_json::from_slice(&merged.body).unwrap();
        let slugs: Vec<&str> = v["results"].as_array().unwrap().iter().map(|r| r["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["a-x-1.0.0", "a-y-1.0.0", "a-y-2.0.0"]);
        assert_eq!(v["pagination"]["total"], 3);
    }
}

//! npm's JSON documents: packuments (full and abbreviated), version manifests and dist-tags.
//!
//! Each is checked whole before it is cached (valid JSON, an object, naming the package asked
//! for, every version with a `dist.tarball` and a readable integrity), regenerated from the
//! parsed value with each `dist.tarball` pointing at this remote (`{public}{name}/-/{file}`, a
//! path planned as a listed file), and merged for virtual repositories with the first member
//! winning: `versions`, `dist-tags` and `time` are unions key by key. A tarball is found again
//! in its packument by its file name, which gives the upstream URL it really has (possibly on
//! another host) and the digest it must match: `dist.integrity` (SRI, SHA-512 preferred) or
//! else the SHA-1 `shasum`.

use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

use super::endpoint::{Name, MAX_FILE_BYTES};
use crate::formats::{Located, Urls};

pub type Object = Map<String, Value>;

/// What is kept verbatim in a tarball file name in a rewritten URL.
const FILE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn parse_object(body: &[u8], what: &str) -> Result<Object, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(format!("{what} is not a JSON object")),
        Err(e) => Err(format!("{what} is not valid JSON: {e}")),
    }
}

fn check_name(doc: &Object, name: &str, what: &str) -> Result<(), String> {
    match doc.get("name").and_then(Value::as_str) {
        Some(n) if n == name => Ok(()),
        Some(n) => Err(format!("{what} names the package {n:?}")),
        None => Err(format!("{what} has no name")),
    }
}

/// A fully unpublished package keeps a packument without versions.
fn unpublished(doc: &Object) -> bool {
    doc.get("time").and_then(|t| t.get("unpublished")).is_some()
}

/// A packument of `name`, checked: every version has a tarball URL and a readable integrity.
pub fn packument(name: &str, body: &[u8]) -> Result<Object, String> {
    let what = format!("packument of {name}");
    let doc = parse_object(body, &what)?;
    check_name(&doc, name, &what)?;
    match doc.get("versions") {
        Some(Value::Object(versions)) => {
            for (version, manifest) in versions {
                let what = format!("{name}@{version}");
                check_dist(manifest.as_object().ok_or_else(|| format!("{what} is not an object"))?, &what)?;
            }
        }
        Some(_) => return Err(format!("{what}: versions is not an object")),
        None if unpublished(&doc) => {}
        None => return Err(format!("{what} has no versions")),
    }
    match doc.get("dist-tags") {
        None => {}
        Some(Value::Object(tags)) => check_tags(tags, &what)?,
        Some(_) => return Err(format!("{what}: dist-tags is not an object")),
    }
    Ok(doc)
}

/// One version's manifest (`{name}/{version}`), checked like a packument's versions.
pub fn manifest(name: &str, version: &str, body: &[u8]) -> Result<Object, String> {
    let what = format!("manifest of {name}@{version}");
    let doc = parse_object(body, &what)?;
    check_name(&doc, name, &what)?;
    check_dist(&doc, &what)?;
    Ok(doc)
}

/// A dist-tags document: tag → version.
pub fn dist_tags(name: &str, body: &[u8]) -> Result<Object, String> {
    let what = format!("dist-tags of {name}");
    let doc = parse_object(body, &what)?;
    check_tags(&doc, &what)?;
    Ok(doc)
}

fn check_tags(tags: &Object, what: &str) -> Result<(), String> {
    match tags.iter().find(|(_, v)| !v.is_string()) {
        Some((tag, _)) => Err(format!("{what}: dist-tag {tag:?} is not a version string")),
        None => Ok(()),
    }
}

fn check_dist(manifest: &Object, what: &str) -> Result<(), String> {
    let dist = manifest.get("dist").and_then(Value::as_object).ok_or_else(|| format!("{what} has no dist object"))?;
    if !dist.get("tarball").is_some_and(Value::is_string) {
        return Err(format!("{what} has no dist.tarball"));
    }
    integrity(dist, what).map(|_| ())
}

fn decode(b64: &str, what: &str, field: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| format!("{what}: {field} is not base64: {e}"))
}

/// The digest a tarball must match: the strongest of `dist.integrity` (SRI: SHA-512, SHA-256,
/// SHA-1), else the SHA-1 hex `dist.shasum`; `None` when the packument records neither.
pub fn integrity(dist: &Object, what: &str) -> Result<Option<Integrity>, String> {
    let (mut sha256, mut sha1) = (None, None);
    match dist.get("integrity") {
        None | Some(Value::Null) => {}
        Some(Value::String(sri)) => {
            for token in sri.split_whitespace() {
                let Some((alg, rest)) = token.split_once('-') else {
                    return Err(format!("{what}: dist.integrity {token:?} is no SRI digest"));
                };
                let b64 = rest.split('?').next().unwrap_or(rest);
                let wrong = |n: usize| format!("{what}: dist.integrity {alg} digest is {n} bytes");
                match alg {
                    "sha512" => {
                        let bytes = decode(b64, what, "dist.integrity")?;
                        let n = bytes.len();
                        return <[u8; 64]>::try_from(bytes)
                            .map(|d| Some(Integrity::Sha512(Box::new(d))))
                            .map_err(|_| wrong(n));
                    }
                    "sha256" => {
                        let bytes = decode(b64, what, "dist.integrity")?;
                        let n = bytes.len();
                        sha256 = Some(<[u8; 32]>::try_from(bytes).map_err(|_| wrong(n))?);
                    }
                    "sha1" => {
                        let bytes = decode(b64, what, "dist.integrity")?;
                        let n = bytes.len();
                        sha1 = Some(<[u8; 20]>::try_from(bytes).map_err(|_| wrong(n))?);
                    }
                    _ => {}
                }
            }
        }
        Some(_) => return Err(format!("{what}: dist.integrity is not a string")),
    }
    if let Some(d) = sha256 {
        return Ok(Some(Integrity::Sha256(Digest::from_bytes(d))));
    }
    if sha1.is_none() {
        match dist.get("shasum") {
            None | Some(Value::Null) => {}
            Some(Value::String(hex_sum)) => {
                let bytes = hex::decode(hex_sum).map_err(|e| format!("{what}: dist.shasum is not hex: {e}"))?;
                let n = bytes.len();
                sha1 = Some(<[u8; 20]>::try_from(bytes).map_err(|_| format!("{what}: dist.shasum is {n} bytes"))?);
            }
            Some(_) => return Err(format!("{what}: dist.shasum is not a string")),
        }
    }
    Ok(sha1.map(Integrity::Sha1))
}

/// The decoded last path segment of a tarball URL, if it can be a path segment here.
pub fn tarball_file(url: &url::Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let file = percent_encoding::percent_decode_str(last).decode_utf8().ok()?;
    let usable = !file.is_empty()
        && file != "."
        && file != ".."
        && file.len() <= MAX_FILE_BYTES
        && !file.contains(['/', '\\'])
        && !file.chars().any(char::is_control);
    usable.then(|| file.into_owned())
}

/// Points a manifest's `dist.tarball` at this remote; a tarball URL that cannot be served from
/// here (not http(s), no usable file name) is dropped rather than passed on.
fn rewrite_dist(name: &Name, manifest: &mut Value, urls: &Urls) {
    let Some(dist) = manifest.get_mut("dist").and_then(Value::as_object_mut) else { return };
    let file = dist.get("tarball").and_then(Value::as_str).and_then(|t| urls.resolve(t)).and_then(|u| tarball_file(&u));
    match file {
        Some(file) => {
            let path = format!("{}/-/{}", name.full, percent_encoding::utf8_percent_encode(&file, FILE));
            dist.insert("tarball".into(), Value::String(urls.public_url(&path)));
        }
        None => {
            dist.remove("tarball");
        }
    }
}

/// A packument with every tarball URL through this remote.
pub fn rewrite_packument(name: &Name, mut doc: Object, urls: &Urls) -> Object {
    if let Some(Value::Object(versions)) = doc.get_mut("versions") {
        for manifest in versions.values_mut() {
            rewrite_dist(name, manifest, urls);
        }
    }
    doc
}

/// A version manifest with its tarball URL through this remote.
pub fn rewrite_manifest(name: &Name, doc: Object, urls: &Urls) -> Object {
    let mut v = Value::Object(doc);
    rewrite_dist(name, &mut v, urls);
    match v {
        Value::Object(o) => o,
        _ => Object::new(),
    }
}

/// The version whose tarball is named `file`: its upstream URL (fragment dropped) and digest.
pub fn locate(name: &str, file: &str, doc: &Object, urls: &Urls) -> Result<Option<Located>, String> {
    let Some(Value::Object(versions)) = doc.get("versions") else { return Ok(None) };
    for (version, manifest) in versions {
        let Some(dist) = manifest.get("dist").and_then(Value::as_object) else { continue };
        let Some(mut url) = dist.get("tarball").and_then(Value::as_str).and_then(|t| urls.resolve(t)) else {
            continue;
        };
        if tarball_file(&url).as_deref() != Some(file) {
            continue;
        }
        url.set_fragment(None);
        let integrity = integrity(dist, &format!("{name}@{version}"))?;
        return Ok(Some(Located { url: url.into(), integrity }));
    }
    Ok(None)
}

/// Adds the entries of `from` whose keys `into` lacks.
fn union_into(into: &mut Object, from: Object) {
    for (k, v) in from {
        into.entry(k).or_insert(v);
    }
}

/// Members' packuments merged, first member winning: `versions`, `dist-tags` (tag by tag) and
/// `time` are unions; every other field is the first member's.
pub fn merge_packuments(members: Vec<Object>) -> Option<Object> {
    let mut members = members.into_iter();
    let mut merged = members.next()?;
    for mut other in members {
        for field in ["versions", "dist-tags", "time"] {
            let Some(Value::Object(theirs)) = other.remove(field) else { continue };
            match merged.entry(field).or_insert_with(|| Value::Object(Object::new())) {
                Value::Object(ours) => union_into(ours, theirs),
                slot => *slot = Value::Object(theirs),
            }
        }
    }
    Some(merged)
}

/// Members' dist-tags merged tag by tag, first member winning.
pub fn merge_tags(members: Vec<Object>) -> Option<Object> {
    let mut members = members.into_iter();
    let mut merged = members.next()?;
    for other in members {
        union_into(&mut merged, other);
    }
    Some(merged)
}

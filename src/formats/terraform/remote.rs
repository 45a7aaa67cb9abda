//! The documents of a terraform remote's registry proxy: the upstream's service discovery, its
//! `versions` and download documents, checked before they are cached and rewritten on the way
//! out.
//!
//! terraform finds a registry's provider API through `/.well-known/terraform.json`
//! (`providers.v1`, relative to that document or absolute), so the remote fetches the
//! upstream's discovery document to learn where `versions` and the download documents are
//! ([`locate_service`]), and answers its own discovery document naming itself ([`discovery`]).
//! A download document names three files, each possibly relative or on another host (a CDN,
//! GitHub releases): the zip, `SHA256SUMS` and its signature. All three are rewritten to paths
//! of this remote below the build's download path ([`rewrite_download`]) and served as files
//! the document lists ([`locate_file`]): fetched from where the upstream's document says, the
//! zip checked against its `shasum` before it is cached. The signing keys and the signature
//! pass through untouched, so terraform verifies the provider author's signature, not ours.

use serde_json::{Map, Value};

use super::endpoint::{Build, BuildFile};
use crate::formats::{Located, Rendered, Urls};
use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;

pub const CONTENT_TYPE: &str = "application/json";
/// The largest registry document accepted from an upstream (hashicorp/aws's `versions`, with
/// about 1,000 versions of 10 platforms each, is about 2 MB).
pub const MAX_DOCUMENT: usize = 16 << 20;

/// The three URL fields of a download document, and the file of this remote each becomes.
const FILE_FIELDS: [(&str, BuildFile); 2] =
    [("shasums_url", BuildFile::Sums), ("shasums_signature_url", BuildFile::Signature)];

fn object(body: &[u8], what: &str) -> Result<Map<String, Value>, String> {
    if body.len() > MAX_DOCUMENT {
        return Err(format!("{what} larger than {MAX_DOCUMENT} bytes"));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!("{what} is no JSON object")),
        Err(e) => Err(format!("{what} is no JSON: {e}")),
    }
}

fn string<'m>(doc: &'m Map<String, Value>, field: &str, what: &str) -> Result<&'m str, String> {
    match doc.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        _ => Err(format!("{what} has no {field}")),
    }
}

/// The upstream's service discovery names a provider registry (`providers.v1`).
pub fn check_discovery(body: &[u8]) -> Result<(), String> {
    string(&object(body, "service discovery")?, "providers.v1", "service discovery").map(|_| ())
}

/// This remote's own service discovery: its provider registry API, absolute from `PUBLIC_URL`.
pub fn discovery(urls: &Urls) -> Result<Rendered, String> {
    let doc = serde_json::json!({ "providers.v1": urls.public_url("v1/providers/") });
    Ok(Rendered::new(serde_json::to_vec(&doc).map_err(|e| e.to_string())?, CONTENT_TYPE))
}

/// Where `rest` (a percent-encoded path below the provider API, `hashicorp/aws/versions`) is
/// upstream, by the discovery document `body` fetched from `urls.document`.
pub fn locate_service(body: &[u8], urls: &Urls, rest: &str) -> Result<Located, String> {
    let doc = object(body, "service discovery")?;
    let v1 = string(&doc, "providers.v1", "service discovery")?;
    let mut base = urls.resolve(v1).ok_or_else(|| format!("service discovery: unusable providers.v1 {v1:?}"))?;
    base.set_query(None);
    base.set_fragment(None);
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let url = base.join(rest).map_err(|e| format!("providers.v1 {v1:?} + {rest:?}: {e}"))?;
    Ok(Located { url: url.to_string(), integrity: None })
}

/// A `versions` document is an object with a `versions` array of objects naming a version.
pub fn check_versions(body: &[u8]) -> Result<(), String> {
    let doc = object(body, "versions document")?;
    let Some(Value::Array(versions)) = doc.get("versions") else {
        return Err("versions document has no versions array".into());
    };
    match versions.iter().position(|v| !matches!(v.get("version"), Some(Value::String(_)))) {
        Some(i) => Err(format!("versions document: entry {i} has no version")),
        None => Ok(()),
    }
}

/// A download document answers for `build`: its `os` and `arch`, a `filename` that is a plain
/// file name, a `shasum` of 64 hex digits and the three file URLs.
pub fn check_download(body: &[u8], build: &Build) -> Result<(), String> {
    parse_download(body, build).map(|_| ())
}

fn parse_download(body: &[u8], build: &Build) -> Result<Map<String, Value>, String> {
    let what = "download document";
    let doc = object(body, what)?;
    for (field, want) in [("os", build.os.as_str()), ("arch", build.arch.as_str())] {
        let got = string(&doc, field, what)?;
        if got != want {
            return Err(format!("{what} for {want:?} says {field} {got:?}"));
        }
    }
    let filename = string(&doc, "filename", what)?;
    if BuildFile::parse(filename) != Some(BuildFile::Zip(filename.to_string())) {
        return Err(format!("{what}: filename {filename:?} is no plain file name"));
    }
    let shasum = string(&doc, "shasum", what)?;
    if shasum.len() != 64 || Digest::from_hex(shasum).is_err() {
        return Err(format!("{what}: shasum {shasum:?} is no SHA-256 hex digest"));
    }
    for field in ["download_url", "shasums_url", "shasums_signature_url"] {
        string(&doc, field, what)?;
    }
    Ok(doc)
}

/// The download document as clients get it: the zip, `SHA256SUMS` and signature URLs point at
/// this remote (`{public}{build path}/{file}`), everything else is the upstream's.
pub fn rewrite_download(body: &[u8], build: &Build, urls: &Urls) -> Result<Rendered, String> {
    let mut doc = parse_download(body, build)?;
    let filename = string(&doc, "filename", "download document")?.to_string();
    let mut set = |field: &str, file: &BuildFile| {
        doc.insert(field.into(), Value::String(urls.public_url(&build.file_path(file))));
    };
    set("download_url", &BuildFile::Zip(filename));
    for (field, file) in &FILE_FIELDS {
        set(field, file);
    }
    let out = serde_json::to_vec(&Value::Object(doc)).map_err(|e| e.to_string())?;
    Ok(Rendered::new(out, CONTENT_TYPE))
}

/// Where `file` of `build` is upstream, by its download document `body` (fetched from
/// `urls.document`); the zip with the SHA-256 it must have. `None`: the document names
/// another zip.
pub fn locate_file(body: &[u8], build: &Build, file: &BuildFile, urls: &Urls) -> Result<Option<Located>, String> {
    let doc = parse_download(body, build)?;
    let what = "download document";
    let (field, integrity) = match file {
        BuildFile::Zip(name) => {
            if string(&doc, "filename", what)? != name {
                return Ok(None);
            }
            let digest = Digest::from_hex(string(&doc, "shasum", what)?).map_err(|e| e.to_string())?;
            ("download_url", Some(Integrity::Sha256(digest)))
        }
        BuildFile::Sums => ("shasums_url", None),
        BuildFile::Signature => ("shasums_signature_url", None),
    };
    let href = string(&doc, field, what)?;
    let url = urls.resolve(href).ok_or_else(|| format!("{what}: unusable {field} {href:?}"))?;
    Ok(Some(Located { url: url.to_string(), integrity }))
}

#[cfg(test)]
#[path = "remote_tests.rs"]
mod tests;

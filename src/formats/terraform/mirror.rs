//! The provider network mirror protocol, generated from the upstream registry's documents.
//!
//! terraform's `provider_installation { network_mirror { url = ... } }` asks
//! `{hostname}/{ns}/{type}/index.json` for a provider's versions and
//! `{hostname}/{ns}/{type}/{version}.json` for its archives, each with a URL and a `zh:`
//! hash (the SHA-256 of the zip, which is the registry's `shasum`). A terraform remote answers
//! both from the upstream's `versions` document and the download document of each platform of
//! the version, so the same cached documents serve both protocols, and the archive URLs point
//! at the registry proxy's zip paths, where each zip is checked against that same `shasum`
//! before it is cached. `{hostname}` is the upstream base URL's host without its port
//! (terraform refuses a port there): a mirror of one upstream answers for that host only.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::endpoint::{Build, BuildFile, Provider};
use super::remote::{CONTENT_TYPE, MAX_DOCUMENT};
use crate::formats::{Rendered, Urls};

/// The host name a mirror of the upstream `base_url` answers for: its host, lower case, no
/// port.
pub fn host_of(base_url: &str) -> Option<String> {
    let u = url::Url::parse(base_url).ok()?;
    Some(u.host_str()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
}

fn versions_of(versions_doc: &[u8]) -> Result<Vec<Value>, String> {
    if versions_doc.len() > MAX_DOCUMENT {
        return Err(format!("versions document larger than {MAX_DOCUMENT} bytes"));
    }
    let doc: Value = serde_json::from_slice(versions_doc).map_err(|e| format!("versions document: {e}"))?;
    match doc.get("versions") {
        Some(Value::Array(v)) => Ok(v.clone()),
        _ => Err("versions document has no versions array".into()),
    }
}

#[derive(Serialize)]
struct Index {
    versions: BTreeMap<String, Empty>,
}

#[derive(Serialize)]
struct Empty {}

/// `index.json`: every version the upstream's `versions` document lists.
pub fn index(versions_doc: &[u8]) -> Result<Rendered, String> {
    let versions = versions_of(versions_doc)?
        .iter()
        .filter_map(|v| v.get("version").and_then(Value::as_str))
        .map(|v| (v.to_string(), Empty {}))
        .collect();
    let out = serde_json::to_vec(&Index { versions }).map_err(|e| e.to_string())?;
    Ok(Rendered::new(out, CONTENT_TYPE))
}

/// The builds of `version` the `versions` document lists (one per platform); `None`: it does
/// not list the version.
pub fn builds(versions_doc: &[u8], provider: &Provider, version: &str) -> Result<Option<Vec<Build>>, String> {
    let versions = versions_of(versions_doc)?;
    let Some(entry) = versions.iter().find(|v| v.get("version").and_then(Value::as_str) == Some(version)) else {
        return Ok(None);
    };
    let mut builds = Vec::new();
    for p in entry.get("platforms").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let (Some(os), Some(arch)) = (p.get("os").and_then(Value::as_str), p.get("arch").and_then(Value::as_str))
        else {
            return Err(format!("versions document: a platform of {version} has no os or arch"));
        };
        // The same checks as a request's path: these become paths of this remote.
        let path = format!("v1/providers/{}/{}/{version}/download/{os}/{arch}", provider.namespace, provider.ty);
        match super::endpoint::Endpoint::parse(&path) {
            Ok(super::endpoint::Endpoint::Download(b)) => builds.push(b),
            _ => return Err(format!("versions document: unusable platform {os:?}/{arch:?} of {version}")),
        }
    }
    Ok(Some(builds))
}

#[derive(Serialize)]
struct Archive {
    url: String,
    hashes: Vec<String>,
}

#[derive(Serialize)]
struct Archives {
    archives: BTreeMap<String, Archive>,
}

/// `{version}.json`: each build's zip, as the registry proxy serves it, with its `zh:` hash,
/// from the download documents (`(build, upstream document)`, checked already).
pub fn version(downloads: &[(Build, Vec<u8>)], urls: &Urls) -> Result<Rendered, String> {
    let mut archives = BTreeMap::new();
    for (build, body) in downloads {
        let doc: Value = serde_json::from_slice(body).map_err(|e| format!("download document: {e}"))?;
        let field = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_string);
        let (Some(filename), Some(shasum)) = (field("filename"), field("shasum")) else {
            return Err(format!("download document of {} has no filename or shasum", build.path()));
        };
        let url = urls.public_url(&build.file_path(&BuildFile::Zip(filename)));
        let hashes = vec![format!("zh:{}", shasum.to_ascii_lowercase())];
        archives.insert(format!("{}_{}", build.os, build.arch), Archive { url, hashes });
    }
    let out = serde_json::to_vec(&Archives { archives }).map_err(|e| e.to_string())?;
    Ok(Rendered::new(out, CONTENT_TYPE))
}

#[cfg(test)]
#[path = "mirror_tests.rs"]
mod tests;

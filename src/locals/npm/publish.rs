//! Publishing to an npm local and changing what it holds: versions, deprecations, tags.
//!
//! A publish is accepted only whole and only once: the body names the package of the URL and
//! carries exactly one version and its tarball; the tarball hashes to the version's
//! `dist.integrity` (SHA-512 or SHA-1) and `dist.shasum`; its own `package/package.json` names
//! the same package and version (read from the staged tarball, gzip and tar streamed, on a
//! blocking thread). Then the tarball is committed and the version recorded with its file and
//! tags in one transaction ([`crate::db::Db::publish_local_version`]): of two publishes of one
//! version exactly one wins, and a version published before (even if unpublished since) is a
//! 403, as the public registry answers. A packument `PUT` without a tarball is a change of what
//! is published ([`super::changes`]).

use std::io::Read;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::body::{self, Attachment};
use super::{changes, ok};
use crate::db::local_packages::{LocalTag, LocalVersion};
use crate::db::DbError;
use crate::formats::npm::local::tarball_path;
use crate::formats::npm::{check_version, MAX_NAME_BYTES};
use crate::locals::files::LocalFiles;
use crate::locals::{LocalError, LocalSpec, UploadBody, WriteReply, WriteRequest};

/// Most bytes of a publish body outside its tarball: the packument `npm deprecate` sends back
/// has every version in it.
pub const MAX_METADATA: usize = 64 << 20;
/// Most bytes of a tarball's `package.json`.
const MAX_PACKAGE_JSON: u64 = 4 << 20;

/// What a publish or packument `PUT` body must have.
#[derive(Debug, Deserialize)]
struct Body {
    name: String,
    versions: Option<Map<String, Value>>,
    #[serde(rename = "dist-tags", default)]
    dist_tags: Map<String, Value>,
    #[serde(rename = "_attachments", default)]
    attachments: Map<String, Value>,
}

fn invalid(m: impl Into<String>) -> LocalError {
    LocalError::Invalid(m.into())
}

/// Whether `v` is a semantic version (`1.2.3`, `1.2.3-rc.1+build`).
pub(super) fn is_semver(v: &str) -> bool {
    let (core, build) = v.split_once('+').map_or((v, None), |(c, b)| (c, Some(b)));
    let (core, pre) = core.split_once('-').map_or((core, None), |(c, p)| (c, Some(p)));
    let numbers: Vec<&str> = core.split('.').collect();
    let number =
        |n: &&str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n.len() == 1 || !n.starts_with('0'));
    let ident = |s: Option<&str>| {
        s.is_none_or(|s| {
            s.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        })
    };
    v.len() <= 256 && numbers.len() == 3 && numbers.iter().all(number) && ident(pre) && ident(build)
}

/// `PUT {name}`: a publish when the body has an attachment, otherwise a change of the
/// packument (deprecations, versions dropped by `npm unpublish pkg@version`).
pub async fn put(
    files: &LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    name: &str,
    upload: UploadBody,
) -> Result<WriteReply, LocalError> {
    let split = body::split(&files.staging, upload, files.max_upload, MAX_METADATA).await?;
    let parsed = parse_body(&split.metadata, name);
    match (parsed, split.attachment) {
        (Err(e), Some(a)) => {
            a.staged.discard().await;
            Err(e)
        }
        (Err(e), None) => Err(e),
        (Ok(b), Some(a)) => {
            let principal = req.principal.name().to_string();
            match check_publish(&b, name, &a).await {
                Ok((version, manifest)) => record(files, spec, &b, name, version, manifest, a, &principal).await,
                Err(e) => {
                    a.staged.discard().await;
                    Err(e)
                }
            }
        }
        (Ok(b), None) => changes::update(files, spec, b.versions.as_ref(), name).await,
    }
}

fn parse_body(metadata: &[u8], name: &str) -> Result<Body, LocalError> {
    let value: Value =
        serde_json::from_slice(metadata).map_err(|e| invalid(format!("the body is not valid JSON: {e}")))?;
    let body: Body = serde_path_to_error::deserialize(value)
        .map_err(|e| invalid(format!("the body is no npm packument: {}: {}", e.path(), e.inner())))?;
    if body.name != name {
        return Err(invalid(format!("the body names the package {:?}, the URL {name:?}", body.name)));
    }
    for (file, a) in &body.attachments {
        if a.get("data").and_then(Value::as_str).is_some_and(|d| !d.is_empty()) {
            return Err(invalid(format!("_attachments[{file:?}] is not where a publish body has it")));
        }
    }
    Ok(body)
}

/// The SRI form of a SHA-512.
fn sri512(d: &[u8; 64]) -> String {
    format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(d))
}

/// Checks a publish body against its staged tarball; the version and its manifest.
async fn check_publish(b: &Body, name: &str, a: &Attachment) -> Result<(String, Map<String, Value>), LocalError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(invalid(format!("package name longer than {MAX_NAME_BYTES} bytes")));
    }
    let versions = b.versions.as_ref().ok_or_else(|| invalid("the body has no versions"))?;
    let mut only = versions.iter();
    let (version, manifest) = match (only.next(), only.next()) {
        (Some(v), None) => v,
        _ => return Err(invalid(format!("a publish carries one version; the body has {}", versions.len()))),
    };
    if !is_semver(version) {
        return Err(invalid(format!("version {version:?} is not a semantic version")));
    }
    let manifest = manifest.as_object().ok_or_else(|| invalid(format!("versions[{version:?}] is not an object")))?;
    let field = |f: &str| manifest.get(f).and_then(Value::as_str);
    if field("name") != Some(name) || field("version") != Some(version) {
        return Err(invalid(format!(
            "versions[{version:?}] names {:?}@{:?}, the body {name}@{version}",
            field("name").unwrap_or(""),
            field("version").unwrap_or("")
        )));
    }
    if b.attachments.len() != 1 {
        return Err(invalid(format!("a publish carries one attachment; the body has {}", b.attachments.len())));
    }
    if let Some(length) = b.attachments.get(&a.file).and_then(|x| x.get("length")).and_then(Value::as_u64) {
        if length != a.staged.size {
            return Err(invalid(format!("the tarball is {} bytes, its length says {length}", a.staged.size)));
        }
    }
    for (tag, v) in &b.dist_tags {
        check_version(tag).map_err(|e| invalid(format!("dist-tags: {e}")))?;
        if is_semver(tag) || !v.is_string() {
            return Err(invalid(format!("dist-tags: {tag:?} must be a name, not a version, naming a version")));
        }
    }
    check_digests(manifest, version, a)?;
    let path = a.staged.path.clone();
    let contents = tokio::task::spawn_blocking(move || tarball_manifest(&path))
        .await
        .map_err(|e| LocalError::Internal(format!("reading the tarball: {e}")))??;
    let tar_name = contents.get("name").and_then(Value::as_str).unwrap_or("");
    let tar_version = contents.get("version").and_then(Value::as_str).unwrap_or("");
    if tar_name != name || tar_version != version {
        return Err(invalid(format!(
            "the tarball's package.json is {tar_name:?}@{tar_version:?}, the publish body {name}@{version}"
        )));
    }
    Ok((version.clone(), manifest.clone()))
}

/// The tarball must match every digest the version records, and it must record one.
fn check_digests(manifest: &Map<String, Value>, version: &str, a: &Attachment) -> Result<(), LocalError> {
    let dist = manifest.get("dist").and_then(Value::as_object);
    let text = |f: &str| dist.and_then(|d| d.get(f)).and_then(Value::as_str);
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let mut checked = false;
    let mismatch = |field: &str, said: &str, is: &str| {
        invalid(format!("integrity mismatch for {version}: dist.{field} is {said}, the tarball's is {is}"))
    };
    if let Some(sri) = text("integrity") {
        for token in sri.split_whitespace() {
            let digest = token.split('?').next().unwrap_or(token);
            let (want, is) = match digest.split_once('-') {
                Some(("sha512", d)) => (d, b64(&a.sha512)),
                Some(("sha1", d)) => (d, b64(&a.sha1)),
                Some(("sha256", d)) => (d, b64(a.staged.digest.as_bytes())),
                _ => continue,
            };
            if want != is {
                return Err(mismatch("integrity", token, &is));
            }
            checked = true;
        }
    }
    if let Some(sum) = text("shasum") {
        let is = hex::encode(a.sha1);
        if !sum.eq_ignore_ascii_case(&is) {
            return Err(mismatch("shasum", sum, &is));
        }
        checked = true;
    }
    if !checked {
        return Err(invalid(format!("versions[{version:?}].dist has neither integrity nor shasum")));
    }
    Ok(())
}

/// The `package.json` at the top folder of a gzipped tarball (`package/package.json` as npm
/// packs it), read as the archive streams.
fn tarball_manifest(path: &std::path::Path) -> Result<Value, LocalError> {
    let bad = |e: std::io::Error| invalid(format!("the tarball is no gzipped tar archive: {e}"));
    let file = std::fs::File::open(path).map_err(|e| LocalError::Unavailable(format!("reading the tarball: {e}")))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let entry_path = entry.path().map_err(bad)?.into_owned();
        let parts: Vec<_> = entry_path.components().collect();
        if parts.len() != 2 || parts[1].as_os_str() != "package.json" {
            continue;
        }
        if entry.header().size().map_err(bad)? > MAX_PACKAGE_JSON {
            return Err(invalid(format!("the tarball's package.json is larger than {MAX_PACKAGE_JSON} bytes")));
        }
        let mut text = Vec::new();
        entry.take(MAX_PACKAGE_JSON).read_to_end(&mut text).map_err(bad)?;
        return serde_json::from_slice(&text)
            .map_err(|e| invalid(format!("the tarball's {} is not valid JSON: {e}", entry_path.display())));
    }
    Err(invalid("the tarball has no package/package.json"))
}

/// Commits the tarball and records the version.
#[allow(clippy::too_many_arguments)]
async fn record(
    files: &LocalFiles,
    spec: &LocalSpec,
    b: &Body,
    name: &str,
    version: String,
    mut manifest: Map<String, Value>,
    a: Attachment,
    principal: &str,
) -> Result<WriteReply, LocalError> {
    // Whether the version was published before is the catalog's decision, in the transaction
    // that records it. A refused tarball's blob is referenced by nothing (or is the same bytes
    // as the published one): garbage collection removes it.
    let repo = spec.name.as_str();
    let (sha512, sha1) = (a.sha512, a.sha1);
    let committed = files.commit(a.staged, None).await?;
    let path = tarball_path(name, &version);
    let mut dist = match manifest.remove("dist") {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    dist.insert("integrity".into(), Value::String(sri512(&sha512)));
    dist.insert("shasum".into(), Value::String(hex::encode(sha1)));
    dist.insert("tarball".into(), Value::String(path.clone()));
    manifest.insert("dist".into(), Value::Object(dist));
    manifest.insert("_npmUser".into(), serde_json::json!({ "name": principal }));
    let mut tags: Vec<LocalTag> = b
        .dist_tags
        .iter()
        .filter(|(_, v)| v.as_str() == Some(version.as_str()))
        .map(|(tag, _)| LocalTag { package: name.into(), tag: tag.clone(), version: version.clone() })
        .collect();
    if tags.is_empty() {
        tags.push(LocalTag { package: name.into(), tag: "latest".into(), version: version.clone() });
    }
    let v = LocalVersion::published_now(name.into(), version.clone(), Value::Object(manifest));
    let file = LocalFiles::file(&path, &committed, Some("application/octet-stream"));
    files.db.publish_local_version(repo, &v, &[file], &tags).await.map_err(|e| match e {
        DbError::Conflict(_) => republish(name, &version),
        other => other.into(),
    })?;
    Ok(ok(201, name, Some(format!("published {name}@{version}"))))
}

/// The public registry's answer to a version published before.
fn republish(name: &str, version: &str) -> LocalError {
    LocalError::Forbidden(format!(
        "You cannot publish over the previously published versions: {version}. ({name}@{version} was published to this \
         local before; a version that was unpublished cannot be published again)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_versions() {
        for v in ["1.0.0", "0.0.1", "10.20.30", "1.0.0-rc.1", "1.0.0-x-y.2+build.5", "1.0.0+b"] {
            assert!(is_semver(v), "{v}");
        }
        for v in ["1.0", "1.0.0.0", "01.0.0", "1.0.0-", "1.0.0-a..b", "v1.0.0", "latest", "1.0.0+", "1.x.0", ""] {
            assert!(!is_semver(v), "{v}");
        }
    }

    #[test]
    fn bodies_are_checked_and_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            (r#"{"name": "x", "versions": {}"#, "not valid JSON"),
            (r#"["x"]"#, "no npm packument"),
            (r#"{"name": 3}"#, "name: invalid type"),
            (r#"{"name": "y", "versions": {}}"#, "names the package \"y\""),
            (r#"{"name": "x", "_attachments": {"x.tgz": {"data": "AAAA"}}}"#, "not where"),
        ];
        for (body, want) in cases {
            let e = parse_body(body.as_bytes(), "x").unwrap_err().to_string();
            assert!(e.contains(want), "{body}: {e}");
        }
        assert!(parse_body(br#"{"name": "x", "versions": {}, "extra": 1}"#, "x").is_ok());
    }
}

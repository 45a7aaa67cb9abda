//! The provider registry of local terraform repositories: what an upload is called, what a
//! version records, and the documents the registry protocol reads (`versions`, the download
//! JSON, `SHA256SUMS`). Pure: the write side (`crate::locals::terraform`) and the serving path
//! call it.
//!
//! A provider zip is uploaded as `{type}/terraform-provider-{type}_{version}_{os}_{arch}.zip`
//! (a [`PackageFile`], parsed by [`super::protocol`] like every other name of the protocol);
//! the Terraform namespace is the local's name. Each version is one `local_packages` row
//! (package = type) whose metadata is a [`VersionRecord`]: its platforms with their SHA-256,
//! the protocols it speaks, and the `SHA256SUMS` file and signature made for exactly those
//! platforms. Those two are stored under a path named by the digest of the `SHA256SUMS` bytes
//! ([`sums_paths`]) and never replaced: a new platform makes a new pair at a new path and a new
//! record in one transaction, so a client that read the download JSON of one state fetches the
//! pair of that state, never a `SHA256SUMS` of one and a signature of another.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::protocol::render_shasums;
pub use super::protocol::PackageFile;
use crate::formats::LocalPackages;

const PREFIX: &str = "terraform-provider-";

impl PackageFile {
    /// Where the zip is stored in the local (the path it was uploaded to).
    pub fn path(&self) -> String {
        format!("{}/{}", self.ty, self.file_name())
    }
}

/// One platform's zip of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformRecord {
    pub os: String,
    pub arch: String,
    pub filename: String,
    /// SHA-256 of the zip, hex.
    pub shasum: String,
    pub size: u64,
}

/// What a local records of one version of a provider (`local_packages.metadata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Plugin protocol versions (`5.0`, `6.0`).
    pub protocols: Vec<String>,
    /// Sorted by file name, as `SHA256SUMS` lists them.
    pub platforms: Vec<PlatformRecord>,
    /// Paths in the local of the `SHA256SUMS` of exactly these platforms and of its signature.
    pub shasums: String,
    pub shasums_signature: String,
    /// The key that made the signature: its ID and armored public key.
    pub key_id: String,
    pub public_key: String,
}

impl VersionRecord {
    pub fn from_json(v: &serde_json::Value) -> Result<VersionRecord, String> {
        VersionRecord::deserialize(v).map_err(|e| format!("stored provider version record: {e}"))
    }

    pub fn platform(&self, os: &str, arch: &str) -> Option<&PlatformRecord> {
        self.platforms.iter().find(|p| p.os == os && p.arch == arch)
    }
}

/// `platforms` with `added`, sorted by file name; `Err` naming it when it is there already.
pub fn with_platform(platforms: &[PlatformRecord], added: PlatformRecord) -> Result<Vec<PlatformRecord>, String> {
    if platforms.iter().any(|p| p.os == added.os && p.arch == added.arch) {
        return Err(format!("{} was uploaded before (delete it first to replace it)", added.filename));
    }
    let mut out = platforms.to_vec();
    out.push(added);
    out.sort_by(|a, b| a.filename.cmp(&b.filename));
    Ok(out)
}

/// The `SHA256SUMS` of `platforms`: `{hex}  {file name}\n` per zip, sorted by file name.
pub fn sha256sums(platforms: &[PlatformRecord]) -> String {
    render_shasums(platforms.iter().map(|p| (p.shasum.as_str(), p.filename.as_str())))
}

/// Where the `SHA256SUMS` whose bytes hash to `sums_hex` and its signature are stored.
pub fn sums_paths(provider: &str, version: &str, sums_hex: &str) -> (String, String) {
    let sums = format!("{provider}/{version}/{sums_hex}/{PREFIX}{provider}_{version}_SHA256SUMS");
    let sig = format!("{sums}.sig");
    (sums, sig)
}

/// The `versions` document of a provider: every published version with its protocols and
/// platforms, in semantic-version order.
pub fn versions_document(packages: &LocalPackages) -> Result<Vec<u8>, String> {
    let mut versions = Vec::new();
    for v in packages.published() {
        let record = VersionRecord::from_json(&v.metadata)?;
        let parsed = semver::Version::parse(&v.version).map_err(|e| format!("stored version {:?}: {e}", v.version))?;
        let platforms: Vec<_> = record.platforms.iter().map(|p| json!({"os": p.os, "arch": p.arch})).collect();
        versions.push((parsed, json!({"version": v.version, "protocols": record.protocols, "platforms": platforms})));
    }
    versions.sort_by(|a, b| a.0.cmp(&b.0));
    let versions: Vec<_> = versions.into_iter().map(|(_, v)| v).collect();
    serde_json::to_vec(&json!({ "versions": versions })).map_err(|e| e.to_string())
}

/// The download document of `os`/`arch` of version `version` (`None`: the version or the
/// platform is not there). `public` is where the local's files are served, ending with `/`.
pub fn download_document(
    packages: &LocalPackages,
    version: &str,
    os: &str,
    arch: &str,
    public: &str,
) -> Result<Option<Vec<u8>>, String> {
    let Some(v) = packages.published().find(|v| v.version == version) else { return Ok(None) };
    let record = VersionRecord::from_json(&v.metadata)?;
    let Some(p) = record.platform(os, arch) else { return Ok(None) };
    let url = |path: &str| format!("{public}{}", encode_path(path));
    let provider = &v.package;
    let doc = json!({
        "protocols": record.protocols,
        "os": os,
        "arch": arch,
        "filename": p.filename,
        "download_url": url(&format!("{provider}/{}", p.filename)),
        "shasums_url": url(&record.shasums),
        "shasums_signature_url": url(&record.shasums_signature),
        "shasum": p.shasum,
        "signing_keys": {
            "gpg_public_keys": [{
                "key_id": record.key_id,
                "ascii_armor": record.public_key,
                "trust_signature": "",
                "source": "artifactapi",
                "source_url": null,
            }]
        }
    });
    serde_json::to_vec(&doc).map(Some).map_err(|e| e.to_string())
}

/// Whether `packages` lack `version` or its `os`/`arch` (the download JSON is a 404 then).
pub fn download_absent(packages: &LocalPackages, version: &str, os: &str, arch: &str) -> bool {
    let found = packages.published().find(|v| v.version == version);
    !found.is_some_and(|v| VersionRecord::from_json(&v.metadata).is_ok_and(|r| r.platform(os, arch).is_some()))
}

/// A stored path as a URL path (every segment percent-encoded).
fn encode_path(path: &str) -> String {
    crate::paths::RepoPath::from_decoded(path).map(|p| p.upstream_suffix()).unwrap_or_else(|_| path.to_string())
}

/// The service discovery document served at `/.well-known/terraform.json`.
pub fn discovery_document(providers_v1: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "providers.v1": providers_v1 })).unwrap_or_default()
}

/// An error in the registry protocol's form: `{"errors":["..."]}`.
pub fn error_document(message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "errors": [message] })).unwrap_or_default()
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;

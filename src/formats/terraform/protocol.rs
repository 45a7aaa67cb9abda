//! The Terraform provider registry and provider network mirror protocols: their paths and
//! documents, shared by the local registry (which generates them) and terraform remotes (which
//! read an upstream's and rewrite them).
//!
//! Paths below a `providers.v1` base are parsed once into a [`ProviderPath`]; mirror paths below
//! a mirror base into a [`MirrorPath`]. Every segment is checked against the character set the
//! protocol allows, so nothing parsed here can carry `/`, `..`, `\` or NUL into a file path or an
//! upstream URL. The document types keep the fields a document has beyond the ones artifactapi
//! reads (`extra`), so a rewritten upstream document loses nothing.
//!
//! References: <https://developer.hashicorp.com/terraform/internals/provider-registry-protocol>
//! and <https://developer.hashicorp.com/terraform/internals/provider-network-mirror-protocol>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A request below a `providers.v1` base URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProviderPath {
    /// `{namespace}/{type}/versions`: every published version, mutable.
    Versions(Provider),
    /// `{namespace}/{type}/{version}/download/{os}/{arch}`: one build, immutable.
    Download(Provider, String, Platform),
}

/// A provider: `{namespace}/{type}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Provider {
    pub namespace: String,
    pub ty: String,
}

/// An operating system and architecture, e.g. `linux` / `amd64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    /// `{os}_{arch}`, as mirror documents and file names write it.
    pub fn joined(&self) -> String {
        format!("{}_{}", self.os, self.arch)
    }
}

/// A request below a network mirror base URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MirrorPath {
    /// `{hostname}/{namespace}/{type}/index.json`: the versions the mirror has.
    Index { hostname: String, provider: Provider },
    /// `{hostname}/{namespace}/{type}/{version}.json`: the archives of one version.
    Version { hostname: String, provider: Provider, version: String },
}

/// Why a protocol path or file name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A segment of the right place with characters (or a length) the protocol does not allow.
    #[error("{what} {value:?} is not {rule}")]
    Segment { what: &'static str, value: String, rule: &'static str },
    /// No path of the protocol has this shape.
    #[error("not a provider registry path: {0:?}")]
    Shape(String),
    /// A provider package's file name of another shape.
    #[error("file name {name:?}: expected terraform-provider-{{type}}_{{version}}_{{os}}_{{arch}}.zip{why}")]
    FileName { name: String, why: &'static str },
}

fn check<'a>(
    what: &'static str,
    value: &'a str,
    ok: fn(&str) -> bool,
    rule: &'static str,
) -> Result<&'a str, PathError> {
    if ok(value) {
        Ok(value)
    } else {
        Err(PathError::Segment { what, value: value.to_string(), rule })
    }
}

/// A namespace or type: ASCII letters, digits, `-` and `_`, starting with a letter or digit,
/// at most 64 characters.
fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// A provider type as it appears in `terraform-provider-{type}_...` and in a source address:
/// lower-case letters, digits and inner dashes, at most 64 characters.
fn is_type(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && !s.ends_with('-')
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A semantic version (`1.2.3`, `1.2.3-rc.1`, `1.2.3+build`) in its canonical spelling, no
/// leading `v`.
pub fn is_version(s: &str) -> bool {
    s.len() <= 128 && semver::Version::parse(s).is_ok_and(|v| v.to_string() == s)
}

/// An operating system or architecture: lower-case letters and digits.
fn is_platform_part(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// A host name as mirror paths carry it: DNS characters, no port.
fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with(['.', '-'])
        && !s.contains("..")
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
}

const NAME_RULE: &str = "1-64 letters, digits, '-' and '_', starting with a letter or digit";
const TYPE_RULE: &str = "1-64 lower-case letters, digits and inner dashes";
const VERSION_RULE: &str = "a semantic version (MAJOR.MINOR.PATCH, canonical)";
const PLATFORM_RULE: &str = "1-32 lower-case letters and digits (linux, darwin, amd64, arm64, ...)";

impl Provider {
    pub fn new(namespace: &str, ty: &str) -> Result<Provider, PathError> {
        Ok(Provider {
            namespace: check("namespace", namespace, is_name, NAME_RULE)?.to_string(),
            ty: check("type", ty, is_name, NAME_RULE)?.to_string(),
        })
    }
}

impl Platform {
    pub fn new(os: &str, arch: &str) -> Result<Platform, PathError> {
        Ok(Platform {
            os: check("os", os, is_platform_part, PLATFORM_RULE)?.to_string(),
            arch: check("arch", arch, is_platform_part, PLATFORM_RULE)?.to_string(),
        })
    }
}

fn version(v: &str) -> Result<String, PathError> {
    Ok(check("version", v, is_version, VERSION_RULE)?.to_string())
}

impl ProviderPath {
    /// Parses `path`, relative to the `providers.v1` base (decoded, no leading slash).
    pub fn parse(path: &str) -> Result<ProviderPath, PathError> {
        let segs: Vec<&str> = path.split('/').collect();
        match segs.as_slice() {
            [ns, ty, "versions"] => Ok(ProviderPath::Versions(Provider::new(ns, ty)?)),
            [ns, ty, v, "download", os, arch] => {
                Ok(ProviderPath::Download(Provider::new(ns, ty)?, version(v)?, Platform::new(os, arch)?))
            }
            _ => Err(PathError::Shape(path.to_string())),
        }
    }

    pub fn provider(&self) -> &Provider {
        match self {
            ProviderPath::Versions(p) | ProviderPath::Download(p, _, _) => p,
        }
    }
}

impl MirrorPath {
    /// Parses `path`, relative to the mirror base (decoded, no leading slash).
    pub fn parse(path: &str) -> Result<MirrorPath, PathError> {
        let segs: Vec<&str> = path.split('/').collect();
        // The shape first: a path of four segments that names no JSON document is no mirror
        // path at all (a local's stored files have four segments too).
        let [host, ns, ty, file] = segs.as_slice() else {
            return Err(PathError::Shape(path.to_string()));
        };
        if !file.ends_with(".json") {
            return Err(PathError::Shape(path.to_string()));
        }
        let hostname = check("hostname", host, is_hostname, "a host name without a port")?.to_ascii_lowercase();
        let provider = Provider::new(ns, ty)?;
        if *file == "index.json" {
            return Ok(MirrorPath::Index { hostname, provider });
        }
        match file.strip_suffix(".json") {
            Some(v) => Ok(MirrorPath::Version { hostname, provider, version: version(v)? }),
            None => Err(PathError::Shape(path.to_string())),
        }
    }
}

/// A provider package's file name, `terraform-provider-{type}_{version}_{os}_{arch}.zip`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageFile {
    pub ty: String,
    pub version: String,
    pub platform: Platform,
}

impl PackageFile {
    /// Parses a file name (no directory), naming what is wrong.
    pub fn parse(name: &str) -> Result<PackageFile, PathError> {
        let shape = |why| PathError::FileName { name: name.to_string(), why };
        let stem =
            name.strip_prefix("terraform-provider-").and_then(|s| s.strip_suffix(".zip")).ok_or_else(|| shape(""))?;
        let parts: Vec<&str> = stem.split('_').collect();
        let [ty, v, os, arch] = parts.as_slice() else {
            return Err(shape(" (four parts separated by '_')"));
        };
        Ok(PackageFile {
            ty: check("provider type", ty, is_type, TYPE_RULE)?.to_string(),
            version: version(v)?,
            platform: Platform::new(os, arch)?,
        })
    }

    /// The file name this names.
    pub fn file_name(&self) -> String {
        format!("terraform-provider-{}_{}_{}.zip", self.ty, self.version, self.platform.joined())
    }
}

/// Renders a `SHA256SUMS` file: one `{hex}  {file name}` line per file, sorted by file name.
pub fn render_shasums<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut lines: Vec<(&str, &str)> = files.into_iter().collect();
    lines.sort_by(|a, b| a.1.cmp(b.1));
    lines.iter().map(|(hex, name)| format!("{hex}  {name}\n")).collect()
}

/// Parses a `SHA256SUMS` file into (lower-case hex, file name) pairs; `None` if a line is not
/// `{64 hex}  {name}` (a single space or `*` for binary mode is accepted too).
pub fn parse_shasums(text: &str) -> Option<Vec<(String, String)>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (hex, rest) = line.split_at_checked(64)?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let name =
                rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *")).or_else(|| rest.strip_prefix(' '))?;
            (!name.is_empty()).then(|| (hex.to_ascii_lowercase(), name.to_string()))
        })
        .collect()
}

/// `/.well-known/terraform.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    #[serde(rename = "providers.v1", default, skip_serializing_if = "Option::is_none")]
    pub providers_v1: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{namespace}/{type}/versions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    pub versions: Vec<VersionEntry>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One version in [`Versions`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionEntry {
    pub version: String,
    #[serde(default)]
    pub protocols: Vec<String>,
    #[serde(default)]
    pub platforms: Vec<Platform>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{namespace}/{type}/{version}/download/{os}/{arch}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Download {
    #[serde(default)]
    pub protocols: Vec<String>,
    pub os: String,
    pub arch: String,
    pub filename: String,
    pub download_url: String,
    pub shasums_url: String,
    pub shasums_signature_url: String,
    pub shasum: String,
    pub signing_keys: SigningKeys,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The keys that may have signed a version's `SHA256SUMS`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SigningKeys {
    #[serde(default)]
    pub gpg_public_keys: Vec<GpgPublicKey>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One armored OpenPGP public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpgPublicKey {
    pub key_id: String,
    pub ascii_armor: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The registry protocol's error document, `{"errors": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Errors {
    pub errors: Vec<String>,
}

/// A mirror's `index.json`: the versions it has (each maps to an empty object).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MirrorIndex {
    pub versions: BTreeMap<String, Map<String, Value>>,
}

/// A mirror's `{version}.json`: one archive per `{os}_{arch}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MirrorVersion {
    pub archives: BTreeMap<String, MirrorArchive>,
}

/// One archive in [`MirrorVersion`]: where to get it and its hashes (`zh:{sha256 hex}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorArchive {
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<String>,
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;

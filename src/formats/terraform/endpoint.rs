//! The endpoints a terraform remote serves, parsed once from the decoded path.
//!
//! The registry proxy answers the provider registry protocol below the remote:
//! `.well-known/terraform.json`, `v1/providers/{ns}/{type}/versions`,
//! `v1/providers/{ns}/{type}/{version}/download/{os}/{arch}` and, below that download path,
//! the three files a download document names (the zip by its file name, `SHA256SUMS`,
//! `SHA256SUMS.sig`). The network mirror answers `{hostname}/{ns}/{type}/index.json` and
//! `{hostname}/{ns}/{type}/{version}.json`. The shapes differ in their number of segments, so
//! no path is both. Every name is checked against the characters the protocol allows, so what
//! reaches an upstream URL or a cache key is plain.

/// The longest namespace, type, version, platform part or host name accepted.
pub const MAX_PART_BYTES: usize = 128;

/// A provider: `{namespace}/{type}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Provider {
    pub namespace: String,
    pub kind: String,
}

impl Provider {
    pub fn parse(namespace: &str, kind: &str) -> Result<Provider, String> {
        check_name(namespace, "namespace")?;
        check_name(kind, "provider type")?;
        Ok(Provider { namespace: namespace.into(), kind: kind.into() })
    }

    /// `{ns}/{type}/versions`, below the provider API.
    pub fn versions_rest(&self) -> String {
        format!("{}/{}/versions", self.namespace, self.kind)
    }
}

/// One build of a provider: a version for an `os` and `arch`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Build {
    pub provider: Provider,
    pub version: String,
    pub os: String,
    pub arch: String,
}

impl Build {
    /// `{ns}/{type}/{version}/download/{os}/{arch}`, below the provider API.
    pub fn rest(&self) -> String {
        let p = &self.provider;
        format!("{}/{}/{}/download/{}/{}", p.namespace, p.kind, self.version, self.os, self.arch)
    }

    /// The download document's path in the remote, `v1/providers/{rest}`.
    pub fn path(&self) -> String {
        format!("v1/providers/{}", self.rest())
    }

    /// The path in the remote of `file` of this build.
    pub fn file_path(&self, file: &BuildFile) -> String {
        format!("{}/{}", self.path(), file.name())
    }
}

/// A file a download document names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BuildFile {
    /// The provider zip, by its `filename`.
    Zip(String),
    /// `SHA256SUMS` of the version.
    Sums,
    /// `SHA256SUMS.sig`, the binary detached signature of `SHA256SUMS`.
    Signature,
}

impl BuildFile {
    /// `SHA256SUMS`, `SHA256SUMS.sig`, or a plain file name (letters, digits, `.`, `_`, `-`,
    /// `+`; not starting with `.`) taken for the zip.
    pub fn parse(name: &str) -> Option<BuildFile> {
        match name {
            "SHA256SUMS" => Some(BuildFile::Sums),
            "SHA256SUMS.sig" => Some(BuildFile::Signature),
            _ => {
                let plain = !name.is_empty()
                    && name.len() <= 2 * MAX_PART_BYTES
                    && !name.starts_with('.')
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
                plain.then(|| BuildFile::Zip(name.to_string()))
            }
        }
    }

    pub fn name(&self) -> &str {
        match self {
            BuildFile::Zip(name) => name,
            BuildFile::Sums => "SHA256SUMS",
            BuildFile::Signature => "SHA256SUMS.sig",
        }
    }
}

/// Why a path is no terraform endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A name (namespace, type, version, platform, file, host) with characters the protocol
    /// does not allow.
    Invalid(String),
    /// No endpoint of either protocol has this shape.
    Unknown(String),
}

/// What a request to a terraform remote asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `.well-known/terraform.json`.
    Discovery,
    /// `v1/providers/{ns}/{type}/versions`.
    Versions(Provider),
    /// `v1/providers/{ns}/{type}/{version}/download/{os}/{arch}`.
    Download(Build),
    /// `v1/providers/.../download/{os}/{arch}/{file}`: a file the download document names.
    File(Build, BuildFile),
    /// `{hostname}/{ns}/{type}/index.json` (network mirror).
    MirrorIndex { host: String, provider: Provider },
    /// `{hostname}/{ns}/{type}/{version}.json` (network mirror).
    MirrorVersion { host: String, provider: Provider, version: String },
    /// Any other path: a stored file of a local (a remote answers 404).
    Other,
}

impl Endpoint {
    /// Parses a decoded path relative to the repository.
    pub fn parse(path: &str) -> Result<Endpoint, ParseError> {
        use ParseError::Invalid;
        let segs: Vec<&str> = path.split('/').collect();
        let unknown = || ParseError::Unknown(format!("no provider registry or network mirror endpoint at {path:?}"));
        Ok(match segs.as_slice() {
            [".well-known", "terraform.json"] => Endpoint::Discovery,
            ["v1", "providers", ns, kind, "versions"] => {
                Endpoint::Versions(Provider::parse(ns, kind).map_err(Invalid)?)
            }
            ["v1", "providers", ns, kind, version, "download", os, arch] => {
                Endpoint::Download(build(ns, kind, version, os, arch).map_err(Invalid)?)
            }
            ["v1", "providers", ns, kind, version, "download", os, arch, file] => {
                let file = BuildFile::parse(file).ok_or_else(|| Invalid(format!("invalid file name {file:?}")))?;
                Endpoint::File(build(ns, kind, version, os, arch).map_err(Invalid)?, file)
            }
            [host, ns, kind, doc] if *host != "v1" => {
                if host.contains(':') {
                    return Err(ParseError::Unknown(format!(
                        "no network mirror for {host:?}: terraform names a mirror's host without a port"
                    )));
                }
                let version = match doc.strip_suffix(".json") {
                    Some("index") => None,
                    Some(version) => Some(version),
                    None => return Err(unknown()),
                };
                mirror(host, ns, kind, version).map_err(Invalid)?
            }
            _ => return Err(unknown()),
        })
    }

    /// Whether this is a network mirror document.
    pub fn is_mirror(&self) -> bool {
        matches!(self, Endpoint::MirrorIndex { .. } | Endpoint::MirrorVersion { .. })
    }
}

fn mirror(host: &str, ns: &str, kind: &str, version: Option<&str>) -> Result<Endpoint, String> {
    check_host(host)?;
    let provider = Provider::parse(ns, kind)?;
    let host = host.to_ascii_lowercase();
    Ok(match version {
        None => Endpoint::MirrorIndex { host, provider },
        Some(version) => {
            check_version(version)?;
            Endpoint::MirrorVersion { host, provider, version: version.to_string() }
        }
    })
}

fn build(ns: &str, kind: &str, version: &str, os: &str, arch: &str) -> Result<Build, String> {
    let provider = Provider::parse(ns, kind)?;
    check_version(version)?;
    check_platform(os, "os")?;
    check_platform(arch, "arch")?;
    Ok(Build { provider, version: version.into(), os: os.into(), arch: arch.into() })
}

/// A namespace or provider type: letters, digits, `-`, `_`, starting with a letter or digit.
fn check_name(s: &str, what: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_PART_BYTES
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    ok.then_some(()).ok_or_else(|| format!("invalid {what} {s:?}"))
}

/// A semantic version: starts with a digit; letters, digits, `.`, `-`, `+`.
pub fn check_version(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= MAX_PART_BYTES
        && v.as_bytes()[0].is_ascii_digit()
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'));
    ok.then_some(()).ok_or_else(|| format!("invalid version {v:?}"))
}

/// `linux`, `amd64`, `arm64`, `freebsd`, ...: lower-case letters, digits, `_`.
fn check_platform(s: &str, what: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_PART_BYTES
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then_some(()).ok_or_else(|| format!("invalid {what} {s:?}"))
}

/// A host name without a port: letters, digits, `.`, `-`.
fn check_host(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && !s.starts_with(['.', '-'])
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    ok.then_some(()).ok_or_else(|| format!("invalid host name {s:?} (terraform names a mirror's host without a port)"))
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;

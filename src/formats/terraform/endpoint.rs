//! The endpoints a terraform remote serves, parsed once from the decoded path.
//!
//! The registry proxy answers the provider registry protocol below the remote:
//! `.well-known/terraform.json`, `v1/providers/{ns}/{type}/versions`,
//! `v1/providers/{ns}/{type}/{version}/download/{os}/{arch}` and, below that download path,
//! the three files a download document names (the zip by its file name, `SHA256SUMS`,
//! `SHA256SUMS.sig`). The network mirror answers `{hostname}/{ns}/{type}/index.json` and
//! `{hostname}/{ns}/{type}/{version}.json`. The shapes differ in their number of segments, so
//! no path is both. The paths of both protocols are parsed by [`super::protocol`] (the one
//! parser of them, shared with the local registry), which checks every name against the
//! characters the protocol allows, so what reaches an upstream URL or a cache key is plain.

use super::protocol::{MirrorPath, PathError, Platform, ProviderPath};

pub use super::protocol::Provider;

/// The longest namespace, type, version, platform part or host name accepted; a zip's file
/// name may be twice as long.
pub const MAX_PART_BYTES: usize = 128;

impl Provider {
    /// `{ns}/{type}/versions`, below the provider API.
    pub fn versions_rest(&self) -> String {
        format!("{}/{}/versions", self.namespace, self.ty)
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
        format!("{}/{}/{}/download/{}/{}", p.namespace, p.ty, self.version, self.os, self.arch)
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
    /// Parses a decoded path relative to the repository: the provider registry's paths below
    /// `v1/providers/` by [`ProviderPath`], the network mirror's by [`MirrorPath`].
    pub fn parse(path: &str) -> Result<Endpoint, ParseError> {
        let segs: Vec<&str> = path.split('/').collect();
        let unknown = || ParseError::Unknown(format!("no provider registry or network mirror endpoint at {path:?}"));
        Ok(match segs.as_slice() {
            [".well-known", "terraform.json"] => Endpoint::Discovery,
            ["v1", "providers", rest @ .., "download", os, arch, file] => {
                let file =
                    BuildFile::parse(file).ok_or_else(|| ParseError::Invalid(format!("invalid file name {file:?}")))?;
                let api = format!("{}/download/{os}/{arch}", rest.join("/"));
                match ProviderPath::parse(&api).map_err(ParseError::from)? {
                    ProviderPath::Download(provider, version, platform) => {
                        Endpoint::File(Build::new(provider, version, platform), file)
                    }
                    ProviderPath::Versions(_) => return Err(unknown()),
                }
            }
            ["v1", "providers", rest @ ..] => match ProviderPath::parse(&rest.join("/")).map_err(ParseError::from)? {
                ProviderPath::Versions(provider) => Endpoint::Versions(provider),
                ProviderPath::Download(provider, version, platform) => {
                    Endpoint::Download(Build::new(provider, version, platform))
                }
            },
            [host, _, _, _] if *host != "v1" => {
                if host.contains(':') {
                    return Err(ParseError::Unknown(format!(
                        "no network mirror for {host:?}: terraform names a mirror's host without a port"
                    )));
                }
                match MirrorPath::parse(path).map_err(ParseError::from)? {
                    MirrorPath::Index { hostname, provider } => Endpoint::MirrorIndex { host: hostname, provider },
                    MirrorPath::Version { hostname, provider, version } => {
                        Endpoint::MirrorVersion { host: hostname, provider, version }
                    }
                }
            }
            _ => return Err(unknown()),
        })
    }

    /// Whether this is a network mirror document.
    pub fn is_mirror(&self) -> bool {
        matches!(self, Endpoint::MirrorIndex { .. } | Endpoint::MirrorVersion { .. })
    }
}

impl Build {
    fn new(provider: Provider, version: String, platform: Platform) -> Build {
        Build { provider, version, os: platform.os, arch: platform.arch }
    }
}

impl From<PathError> for ParseError {
    fn from(e: PathError) -> ParseError {
        match e {
            PathError::Segment { .. } => ParseError::Invalid(e.to_string()),
            PathError::Shape(_) | PathError::FileName { .. } => ParseError::Unknown(e.to_string()),
        }
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;

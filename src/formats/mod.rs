//! Package types: what a path means for each kind of repository.
//!
//! One module per package type behind the [`Format`] trait. A format is pure: no I/O and no
//! HTTP types, so its decisions are unit-tested with tables of cases. This layer decides
//! whether an upstream path is mutable (cached for `mutable_ttl`, then revalidated) or
//! immutable (cached for `immutable_ttl`, 0 meaning forever): [`classify`] applies a remote's
//! override patterns and otherwise asks the type's own rules (each type module holds its table of cases).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use plan::{Ask, Doc, Located, Plan, Rendered, Urls};

pub mod alpine;
pub mod docker;
#[cfg(any(test, feature = "testing"))]
pub mod fixtures;
pub mod generic;
pub mod goproxy;
pub mod helm;
pub mod npm;
pub mod plan;
pub mod puppet;
pub mod pypi;
pub mod rpm;
pub mod terraform;

#[cfg(test)]
mod tests;

/// How long a cached object may be served without asking upstream again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Changes upstream over time (indexes, tag manifests): fresh for `mutable_ttl`, then
    /// revalidated.
    Mutable,
    /// Never changes once published (versioned files, content-addressed blobs): fresh for
    /// `immutable_ttl` (0: forever).
    Immutable,
}

impl Class {
    /// `Immutable` when `cond` holds, else `Mutable` (the safe side).
    pub fn immutable_if(cond: bool) -> Class {
        if cond {
            Class::Immutable
        } else {
            Class::Mutable
        }
    }
}

/// One package type's knowledge of its protocol. Pure: no I/O, no HTTP types.
pub trait Format: Send + Sync + 'static {
    fn package_type(&self) -> PackageType;
    /// The class of `path`, relative to the remote's base URL and without a leading slash (the
    /// decoded form, [`crate::paths::RepoPath::as_str`]). Paths the type does not recognise
    /// are [`Class::Mutable`]: revalidating too often is safe, serving a changed file forever
    /// is not.
    fn classify(&self, path: &str) -> Class;
    /// Refuses paths that are no request of this type's protocol before anything is looked up
    /// or fetched (a type with a fixed set of endpoints knows them; the default accepts all).
    /// `path` is the decoded form, as for [`Format::classify`]. Must not allocate on success:
    /// it runs on the cache-hit path.
    fn check_path(&self, _path: &str) -> Result<(), PathRefusal> {
        Ok(())
    }

    /// The raw (still percent-encoded) request path in the form [`crate::paths::RepoPath`]
    /// parses, for protocols whose clients encode a `/` that is part of a name (npm's
    /// `@scope%2fname`). The default changes nothing.
    fn canonical_raw<'a>(&self, raw: &'a str) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Borrowed(raw)
    }

    /// How `path` is served (see [`Plan`]); the default serves the upstream's bytes.
    fn plan(&self, _path: &str, _ask: &Ask) -> Plan {
        Plan::Bytes
    }

    /// The upstream path (percent-encoded, relative to the base URL) of the document at `path`;
    /// `encoded` is [`crate::paths::RepoPath::upstream_suffix`], which the default returns.
    fn upstream_suffix(&self, _path: &str, encoded: String) -> String {
        encoded
    }

    /// Whether `body` is a well-formed document of this type (run before it is cached).
    fn check_document(&self, _path: &str, _doc: &Doc, _body: &[u8]) -> Result<(), String> {
        Ok(())
    }

    /// The document as clients get it: every file URL rewritten to download through
    /// `urls.public`. Only types that plan documents are asked.
    fn rewrite(&self, _path: &str, _doc: &Doc, body: &[u8], _urls: &Urls) -> Result<Rendered, String> {
        Ok(Rendered::new(body.to_vec(), "application/octet-stream"))
    }

    /// Finds the listed file at `path` in its index `body` (the upstream's bytes, fetched from
    /// `urls.document`). `Ok(None)`: the index does not list it.
    fn locate(&self, _path: &str, _doc: &Doc, _body: &[u8], _urls: &Urls) -> Result<Option<Located>, String> {
        Ok(None)
    }

    /// Merges the rendered documents of a virtual repository's members (in member order, the
    /// first one winning on conflicts).
    fn merge(&self, _path: &str, _doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        members.into_iter().next().ok_or_else(|| "no member document".to_string())
    }
}

/// Why a format refused a request path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    /// Malformed for the type's protocol (a 400).
    #[error("{0}")]
    Invalid(String),
    /// Well-formed, but nothing this remote serves (a 404, without asking the upstream).
    #[error("{0}")]
    NotFound(String),
}

/// The format of a package type.
pub fn format_for(t: PackageType) -> &'static dyn Format {
    match t {
        PackageType::Generic => &generic::Generic,
        PackageType::Docker => &docker::Docker,
        PackageType::Helm => &helm::Helm,
        PackageType::Pypi => &pypi::Pypi,
        PackageType::Npm => &npm::Npm,
        PackageType::Rpm => &rpm::Rpm,
        PackageType::Alpine => &alpine::Alpine,
        PackageType::Puppet => &puppet::Puppet,
        PackageType::Terraform => &terraform::Terraform,
        PackageType::Goproxy => &goproxy::Goproxy,
    }
}

/// The class of `path` in a remote of type `t`, with the remote's override patterns applied
/// first: `rules_override` is [`crate::remotes::Rules::override_class`] (`Some(true)`:
/// mutable, `Some(false)`: immutable, `None`: the type decides).
pub fn classify(t: PackageType, rules_override: Option<bool>, path: &str) -> Class {
    match rules_override {
        Some(true) => Class::Mutable,
        Some(false) => Class::Immutable,
        None => format_for(t).classify(path),
    }
}

/// The `/`-separated segments of a path (a trailing slash gives a last, empty segment).
pub(crate) fn segments(path: &str) -> Vec<&str> {
    path.split('/').collect()
}

/// The last segment of a path (empty for a path ending in `/`).
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether `name` ends with `suffix` and has something before it (`.apk` alone is no package).
pub(crate) fn has_suffix(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len() && name.ends_with(suffix)
}

/// The ten package types of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageType {
    Generic,
    Docker,
    Helm,
    Pypi,
    Npm,
    Rpm,
    Alpine,
    Puppet,
    Terraform,
    Goproxy,
}

impl PackageType {
    pub const ALL: [PackageType; 10] = [
        PackageType::Generic,
        PackageType::Docker,
        PackageType::Helm,
        PackageType::Pypi,
        PackageType::Npm,
        PackageType::Rpm,
        PackageType::Alpine,
        PackageType::Puppet,
        PackageType::Terraform,
        PackageType::Goproxy,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PackageType::Generic => "generic",
            PackageType::Docker => "docker",
            PackageType::Helm => "helm",
            PackageType::Pypi => "pypi",
            PackageType::Npm => "npm",
            PackageType::Rpm => "rpm",
            PackageType::Alpine => "alpine",
            PackageType::Puppet => "puppet",
            PackageType::Terraform => "terraform",
            PackageType::Goproxy => "goproxy",
        }
    }
}

impl fmt::Display for PackageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PackageType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown package type {s:?} (expected one of generic, docker, helm, pypi, npm, rpm, alpine, puppet, terraform, goproxy)"))
    }
}

//! Package types: what a request means for each kind of repository.
//!
//! One module per package type behind the [`Format`] trait. A format is pure: no I/O and no
//! HTTP types, so its decisions are unit-tested with tables of cases. It parses a request once
//! into its own typed endpoint ([`Format::parse`]); every later decision takes that endpoint,
//! never a path string again:
//!
//! - [`Format::subject`]: what a remote's `patterns` and `blocklist` are matched against;
//! - [`Format::classify`]: mutable (cached for `mutable_ttl`, then revalidated) or immutable
//!   (cached for `immutable_ttl`, 0 meaning forever); a remote's override patterns win
//!   ([`classify`]);
//! - [`Format::plan`]: how the request is served ([`Plan`]): the upstream's bytes, a redirect,
//!   a document rewritten on the way out, or a file its index lists;
//! - [`Format::check_document`], [`Format::rewrite`], [`Format::locate`], [`Format::merge`],
//!   [`Format::document_via`]: the document operations.
//!
//! Errors are each format's own typed enum with a stable code ([`ProtocolError`]), rendered in
//! the protocol's error format at the HTTP edge. The serving path (`crate::serve`) reaches a
//! format through [`with_format!`], the one place that maps a [`PackageType`] to its module:
//! adding a type is its folder here and one line there.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use local::{LocalPackages, LocalPlan, LocalTag, LocalVersion};
pub use plan::{Doc, Located, ParsedIndex, Plan, Rendered, Target, Urls};

pub mod alpine;
pub mod docker;
pub mod files;
#[cfg(any(test, feature = "testing"))]
pub mod fixtures;
pub mod generic;
pub mod goproxy;
pub mod helm;
pub mod local;
pub mod npm;
pub mod plan;
pub mod puppet;
pub mod pypi;
pub mod rpm;
pub mod terraform;

#[cfg(test)]
mod properties;
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

/// The request method, as far as a format or the serving path cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Patch,
    Delete,
    Other,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Other => "this method",
        })
    }
}

impl Method {
    /// GET or HEAD: a read.
    pub fn is_read(self) -> bool {
        matches!(self, Method::Get | Method::Head)
    }
}

/// What a client asked, as the HTTP edge hands it to a format: no HTTP types.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The repository the request addressed.
    pub repo: &'a str,
    pub method: Method,
    /// The path below the repository, exactly as it arrived (still percent-encoded), so no
    /// decoding step can hide a `..` from the parser.
    pub path: &'a str,
    /// The query string, without `?` (empty when none).
    pub query: &'a str,
    /// Every `Accept` header value, in order.
    pub accept: &'a [&'a str],
}

impl Request<'_> {
    /// The `Accept` values joined as one header value.
    pub fn accept_joined(&self) -> Option<String> {
        (!self.accept.is_empty()).then(|| self.accept.join(", "))
    }
}

/// What a format may need to know about the repository a request is served from.
#[derive(Debug, Clone, Copy)]
pub struct Repo<'a> {
    pub name: &'a str,
    /// The remote's base URL, ending with `/` (empty for a virtual or a local).
    pub base_url: &'a str,
    /// Tags a docker remote refuses to serve by tag (empty unless `ban_tags_enabled`).
    pub ban_tags: &'a [String],
}

/// An error of a format, with a stable code and the status it answers with.
pub trait ProtocolError: std::error::Error + Send + Sync + 'static {
    /// A stable machine-readable code (`PATH_INVALID`, `NAME_INVALID`, `NOT_SERVED`, the OCI
    /// codes for docker, ...).
    fn code(&self) -> &'static str;
    /// 400 (malformed), 403 (refused by a rule), 404 (no such endpoint here) or 405.
    fn status(&self) -> u16;
}

/// One package type's knowledge of its protocol. Pure: no I/O, no HTTP types.
pub trait Format: Send + Sync + 'static {
    const TYPE: PackageType;
    /// The request, parsed once.
    type Endpoint: fmt::Debug + Clone + Send + Sync + 'static;
    type Error: ProtocolError;

    /// Parses a request. Refuses what is no request of this type's protocol before anything is
    /// looked up or fetched; runs on the cache-hit path, so it stays cheap.
    fn parse(&self, req: &Request<'_>) -> Result<Self::Endpoint, Self::Error>;

    /// What the repository's `patterns` and `blocklist` are matched against: the decoded path
    /// for most types, the upstream image name for docker.
    fn subject<'e>(&self, e: &'e Self::Endpoint, repo: &Repo<'_>) -> Cow<'e, str>;

    /// The type's own class of the endpoint. Endpoints a type does not recognise are
    /// [`Class::Mutable`]: revalidating too often is safe, serving a changed file forever is not.
    fn classify(&self, e: &Self::Endpoint) -> Class;

    /// How the endpoint is served from the repository `repo`.
    fn plan(&self, e: &Self::Endpoint, repo: &Repo<'_>) -> Result<Plan<Self::Endpoint>, Self::Error>;

    /// Whether `body` is a well-formed answer for the held target of `e` (a document, a docker
    /// manifest), run before it is cached.
    fn check_document(&self, _e: &Self::Endpoint, _body: &[u8]) -> Result<(), String> {
        Ok(())
    }

    /// The document as clients get it: every file URL rewritten to download through
    /// `urls.public`. Only types that plan documents are asked.
    fn rewrite(&self, _e: &Self::Endpoint, _doc: &Doc, body: &[u8], _urls: &Urls) -> Result<Rendered, String> {
        Ok(Rendered::new(body.to_vec(), "application/octet-stream"))
    }

    /// The document that names where the document `e` is upstream (terraform's service
    /// discovery names its provider API); `None`: at the target's own path below the base URL.
    /// [`Format::locate`] finds `e` in that document, which itself is found at its own path.
    fn document_via(&self, _e: &Self::Endpoint) -> Option<Self::Endpoint> {
        None
    }

    /// Finds the listed file `file` in its index `body` (the upstream's bytes, fetched from
    /// `urls.document`). `Ok(None)`: the index does not list it.
    fn locate(&self, _file: &Self::Endpoint, _body: &[u8], _urls: &Urls) -> Result<Option<Located>, String> {
        Ok(None)
    }

    /// The index `body` (the upstream's bytes of the document `index`) parsed once, for types
    /// whose indexes are large and read on every request for a file they list: kept per cached
    /// copy of the index and asked with [`Format::locate_parsed`]. `None`: the type looks files
    /// up with [`Format::locate`], reading the index each time.
    fn parse_index(&self, _index: &Self::Endpoint, _body: &[u8]) -> Option<Result<ParsedIndex, String>> {
        None
    }

    /// Finds the listed file `file` in an index [`Format::parse_index`] made.
    fn locate_parsed(
        &self,
        _file: &Self::Endpoint,
        _index: &ParsedIndex,
        _urls: &Urls,
    ) -> Result<Option<Located>, String> {
        Ok(None)
    }

    /// Merges the rendered documents of a virtual repository's members (in member order, the
    /// first one winning on conflicts).
    fn merge(&self, _e: &Self::Endpoint, _doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        members.into_iter().next().ok_or_else(|| "no member document".to_string())
    }

    /// The package a file endpoint `e` belongs to, named as locals record it (an npm tarball's
    /// package, a PyPI file's project, a Go module). In a virtual, a local member that has that
    /// package owns the name: a file of it the local lacks is not looked for in later members.
    fn local_owner(&self, _e: &Self::Endpoint) -> Option<String> {
        None
    }

    /// How a local repository of this type answers `e` (its read side); `None`: locals of this
    /// type serve nothing there (a 404).
    fn local_plan(&self, _e: &Self::Endpoint) -> Option<LocalPlan> {
        None
    }

    /// Whether a local's `packages` (those of the package [`Format::local_plan`] named) lack
    /// what `e` asks for, e.g. a version of a package that has other versions: a 404.
    fn local_absent(&self, _e: &Self::Endpoint, _packages: &LocalPackages) -> bool {
        false
    }

    /// The document `e` of a local repository, generated from what it holds, every file URL
    /// pointing at `urls.public`. Only asked for endpoints whose [`Format::local_plan`] is a
    /// document.
    fn local_document(
        &self,
        _e: &Self::Endpoint,
        _doc: &Doc,
        _packages: &LocalPackages,
        _urls: &Urls,
    ) -> Result<Rendered, String> {
        Err(format!("local {} repositories generate no documents", Self::TYPE))
    }
}

/// Runs `$body` with `$f` bound to the format of package type `$t` (a `&'static` unit struct).
/// The one registration point of the package types: a new type adds its line here.
#[macro_export]
macro_rules! with_format {
    ($t:expr, $f:ident => $body:expr) => {{
        use $crate::formats::PackageType as T;
        match $t {
            T::Generic => {
                let $f = &$crate::formats::generic::Generic;
                $body
            }
            T::Docker => {
                let $f = &$crate::formats::docker::Docker;
                $body
            }
            T::Helm => {
                let $f = &$crate::formats::helm::Helm;
                $body
            }
            T::Pypi => {
                let $f = &$crate::formats::pypi::Pypi;
                $body
            }
            T::Npm => {
                let $f = &$crate::formats::npm::Npm;
                $body
            }
            T::Rpm => {
                let $f = &$crate::formats::rpm::Rpm;
                $body
            }
            T::Alpine => {
                let $f = &$crate::formats::alpine::Alpine;
                $body
            }
            T::Puppet => {
                let $f = &$crate::formats::puppet::Puppet;
                $body
            }
            T::Terraform => {
                let $f = &$crate::formats::terraform::Terraform;
                $body
            }
            T::Goproxy => {
                let $f = &$crate::formats::goproxy::Goproxy;
                $body
            }
        }
    }};
}

/// The class of `e` in a remote, with the remote's override patterns applied first:
/// `rules_override` is [`crate::remotes::Rules::override_class`] of the target's catalog path
/// (`Some(true)`: mutable, `Some(false)`: immutable, `None`: the type decides).
pub fn classify<F: Format>(f: &F, rules_override: Option<bool>, e: &F::Endpoint) -> Class {
    match rules_override {
        Some(true) => Class::Mutable,
        Some(false) => Class::Immutable,
        None => f.classify(e),
    }
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

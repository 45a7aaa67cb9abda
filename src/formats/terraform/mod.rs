//! Terraform: the provider registry protocol and the provider network mirror protocol.
//!
//! A terraform remote proxies an upstream provider registry ([`remote`]): its own service
//! discovery names this remote; `v1/providers/{ns}/{type}/versions` changes with each release
//! (mutable); the download document of a build (`.../{version}/download/{os}/{arch}`) never
//! changes (immutable), and is found where the upstream's discovery document says
//! ([`Format::document_via`]). The zip, `SHA256SUMS` and signature a download document names
//! are files it lists ([`Plan::Listed`]), fetched wherever the document says and, for the zip,
//! checked against its `shasum`. The same remote answers the network mirror protocol
//! ([`mirror`]) from those documents, for the upstream's host name only.
//!
//! A local terraform repository is a registry of its own ([`registry`]): the namespace is the
//! local's name, `versions` and download documents are generated from the versions it holds,
//! and every other path ([`Endpoint::Other`]) is one of its stored files.

mod endpoint;
pub mod mirror;
pub mod protocol;
pub mod registry;
mod remote;

pub use endpoint::{Build, BuildFile, Endpoint, ParseError, Provider};

use std::borrow::Cow;

use super::files::FileError;
use super::{
    Class, Doc, Format, LocalPackages, LocalPlan, Located, PackageType, Plan, ProtocolError, Rendered, Repo, Request,
    Target, Urls,
};
use crate::paths::{PathError, RepoPath};

pub struct Terraform;

/// The one form of a registry document.
pub const DOC: Doc = Doc { variant: "", accept: "application/json" };

/// A parsed request to a terraform repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerraformRequest {
    pub path: RepoPath,
    pub endpoint: Endpoint,
}

impl TerraformRequest {
    /// The request for `endpoint` at `path` (decoded, relative to the repository).
    pub fn new(path: &str, endpoint: Endpoint) -> Result<TerraformRequest, TerraformError> {
        Ok(TerraformRequest { path: RepoPath::from_decoded(path)?, endpoint })
    }
}

/// Why a terraform request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerraformError {
    #[error(transparent)]
    Path(#[from] FileError),
    /// A name the protocol does not allow.
    #[error("{0}")]
    Invalid(String),
    /// No endpoint of this repository: the registry's 404.
    #[error("{0}")]
    NotFound(String),
}

impl From<PathError> for TerraformError {
    fn from(e: PathError) -> Self {
        TerraformError::Path(FileError(e))
    }
}

impl From<ParseError> for TerraformError {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Invalid(why) => TerraformError::Invalid(why),
            ParseError::Unknown(why) => TerraformError::NotFound(why),
        }
    }
}

impl ProtocolError for TerraformError {
    fn code(&self) -> &'static str {
        match self {
            TerraformError::Path(e) => e.code(),
            TerraformError::Invalid(_) => "TERRAFORM_INVALID",
            TerraformError::NotFound(_) => "NOT_FOUND",
        }
    }
    fn status(&self) -> u16 {
        match self {
            TerraformError::NotFound(_) => 404,
            _ => 400,
        }
    }
}

/// What a network mirror document of a remote is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorPlan {
    /// The upstream's `versions` document of the provider.
    pub versions: TerraformRequest,
    /// `{version}.json`: the version (its builds' download documents are read too);
    /// `None`: `index.json`.
    pub version: Option<String>,
}

/// The documents a network mirror request `e` of the remote `repo` is made from; a host name
/// other than the upstream's is a 404.
pub fn mirror_plan(e: &TerraformRequest, repo: &Repo<'_>) -> Result<MirrorPlan, TerraformError> {
    let (host, provider, version) = match &e.endpoint {
        Endpoint::MirrorIndex { host, provider } => (host, provider, None),
        Endpoint::MirrorVersion { host, provider, version } => (host, provider, Some(version.clone())),
        _ => return Err(TerraformError::NotFound(format!("{:?} is no network mirror document", e.path.as_str()))),
    };
    let upstream = mirror::host_of(repo.base_url);
    if upstream.as_deref() != Some(host.as_str()) {
        return Err(TerraformError::NotFound(format!(
            "this network mirror serves the providers of {}, not of {host:?}",
            upstream.as_deref().unwrap_or("its upstream")
        )));
    }
    let path = format!("v1/providers/{}", provider.versions_rest());
    let versions = TerraformRequest::new(&path, Endpoint::Versions(provider.clone()))?;
    Ok(MirrorPlan { versions, version })
}

/// The service discovery request, where the provider API's documents are named.
fn discovery() -> Option<TerraformRequest> {
    TerraformRequest::new(".well-known/terraform.json", Endpoint::Discovery).ok()
}

impl Format for Terraform {
    const TYPE: PackageType = PackageType::Terraform;
    type Endpoint = TerraformRequest;
    type Error = TerraformError;

    fn parse(&self, req: &Request<'_>) -> Result<TerraformRequest, TerraformError> {
        let path = RepoPath::parse(req.path)?;
        let endpoint = match Endpoint::parse(path.as_str()) {
            // Not a protocol endpoint: a local's stored file, or a 404 from a remote.
            Err(ParseError::Unknown(_)) => Endpoint::Other,
            other => other?,
        };
        Ok(TerraformRequest { path, endpoint })
    }

    fn subject<'e>(&self, e: &'e TerraformRequest, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.path.as_str())
    }

    fn classify(&self, e: &TerraformRequest) -> Class {
        Class::immutable_if(matches!(e.endpoint, Endpoint::Download(_) | Endpoint::File(..)))
    }

    fn plan(&self, e: &TerraformRequest, _repo: &Repo<'_>) -> Result<Plan<TerraformRequest>, TerraformError> {
        let path = e.path.as_str();
        Ok(match &e.endpoint {
            Endpoint::Discovery | Endpoint::Versions(_) | Endpoint::Download(_) => {
                Plan::Document(Target::new(path, e.path.upstream_suffix()).document(&DOC), DOC)
            }
            Endpoint::File(build, _) => {
                let index = TerraformRequest::new(&build.path(), Endpoint::Download(build.clone()))?;
                Plan::Listed { path: path.to_string(), index }
            }
            Endpoint::Other => {
                return Err(TerraformError::NotFound(format!(
                    "no provider registry or network mirror endpoint at {path:?}"
                )))
            }
            Endpoint::MirrorIndex { .. } | Endpoint::MirrorVersion { .. } => {
                return Err(TerraformError::NotFound(format!(
                    "{path:?}: network mirror documents are served by terraform remotes only"
                )))
            }
        })
    }

    /// `versions` and download documents are where the upstream's discovery document says.
    fn document_via(&self, e: &TerraformRequest) -> Option<TerraformRequest> {
        matches!(e.endpoint, Endpoint::Versions(_) | Endpoint::Download(_)).then(discovery).flatten()
    }

    fn check_document(&self, e: &TerraformRequest, body: &[u8]) -> Result<(), String> {
        match &e.endpoint {
            Endpoint::Discovery => remote::check_discovery(body),
            Endpoint::Versions(_) => remote::check_versions(body),
            Endpoint::Download(build) => remote::check_download(body, build),
            _ => Ok(()),
        }
    }

    fn rewrite(&self, e: &TerraformRequest, _doc: &Doc, body: &[u8], urls: &Urls) -> Result<Rendered, String> {
        match &e.endpoint {
            Endpoint::Discovery => remote::discovery(urls),
            Endpoint::Download(build) => remote::rewrite_download(body, build, urls),
            // No URLs in it: the upstream's bytes.
            _ => Ok(Rendered::new(body.to_vec(), remote::CONTENT_TYPE)),
        }
    }

    /// A file in its download document; a `versions` or download document in the discovery
    /// document.
    fn locate(&self, e: &TerraformRequest, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
        match &e.endpoint {
            Endpoint::File(build, file) => remote::locate_file(body, build, file, urls),
            Endpoint::Versions(p) => remote::locate_service(body, urls, &p.versions_rest()).map(Some),
            Endpoint::Download(build) => remote::locate_service(body, urls, &build.rest()).map(Some),
            _ => Ok(None),
        }
    }
    /// A local's namespace is its name: the documents of its providers are generated, every
    /// other path is a stored file (zips, `SHA256SUMS` and its signature).
    fn local_plan(&self, e: &TerraformRequest) -> Option<LocalPlan> {
        let package = match &e.endpoint {
            Endpoint::Versions(p) => p.ty.clone(),
            Endpoint::Download(b) => b.provider.ty.clone(),
            _ => return Some(LocalPlan::File(e.path.as_str().to_string())),
        };
        Some(LocalPlan::Document { package: Some(package), doc: DOC })
    }

    fn local_absent(&self, e: &TerraformRequest, packages: &LocalPackages) -> bool {
        match &e.endpoint {
            Endpoint::Versions(_) => packages.published().next().is_none(),
            Endpoint::Download(b) => registry::download_absent(packages, &b.version, &b.os, &b.arch),
            _ => false,
        }
    }

    fn local_document(
        &self,
        e: &TerraformRequest,
        _doc: &Doc,
        packages: &LocalPackages,
        urls: &Urls,
    ) -> Result<Rendered, String> {
        let body = match &e.endpoint {
            Endpoint::Versions(_) => registry::versions_document(packages)?,
            Endpoint::Download(b) => registry::download_document(packages, &b.version, &b.os, &b.arch, &urls.public)?
                .ok_or_else(|| format!("{} {}_{} is not there", b.version, b.os, b.arch))?,
            _ => return Err(format!("{:?} is a file, not a document", e.path.as_str())),
        };
        Ok(Rendered::new(body, "application/json"))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

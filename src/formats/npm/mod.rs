//! npm registries: packuments (package metadata documents) and tarballs.
//!
//! Every path is parsed once into an [`Endpoint`] ([`endpoint`]): scoped names arrive in any
//! of their spellings and go upstream as `@scope%2fname`. A packument changes with every
//! publish and dist-tag move; it is a [`Plan::Document`] in two variants, the full one
//! (`application/json`, what `npm view` reads) and the abbreviated one
//! (`application/vnd.npm.install-v1+json`, what `npm install` reads), cached separately and
//! rewritten so `dist.tarball` downloads through this remote ([`documents`]). Tarballs live at
//! `{name}/-/{file}` and are immutable (a registry refuses to republish a version): each is a
//! [`Plan::Listed`] file of the abbreviated packument, fetched from the URL the packument gives
//! and checked against its `dist.integrity` before it is cached; never recompressed. Package
//! names may end in `.tgz` themselves, so only the tarball form with its `-` segment counts.
//! `-/ping` is passed through; the dist-tags endpoint and version manifests are documents too.
//! Anything else under `-/` (search, login, audit) is no business of a caching proxy: 404.

mod documents;
mod endpoint;
pub mod local;
mod merge;
mod raw;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use endpoint::{canonical_raw, check_version, split_name, Endpoint, EndpointError, Name, MAX_NAME_BYTES};

use super::{
    Class, Doc, Format, LocalPackages, LocalPlan, Located, PackageType, Plan, ProtocolError, Rendered, Repo, Request,
    Target, Urls,
};
use crate::paths::{PathError, RepoPath};

pub struct Npm;

/// The full packument, as `npm view` and `npm publish` read it.
pub const FULL: Doc = Doc { variant: "", accept: "application/json" };
/// The abbreviated packument npm installs from; registries that do not have it answer with
/// the full one, which npm reads just as well.
pub const ABBREVIATED: Doc =
    Doc { variant: "abbreviated", accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*" };
const ABBREVIATED_TYPE: &str = "application/vnd.npm.install-v1+json";
const JSON: &str = "application/json";

/// Whether `accept` lists the abbreviated packument type (with a non-zero quality).
fn wants_abbreviated(accept: &[&str]) -> bool {
    accept.iter().flat_map(|a| a.split(',')).any(|item| {
        let mut params = item.split(';').map(str::trim);
        let kind = params.next().unwrap_or("");
        let zero = params.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
        kind.eq_ignore_ascii_case(ABBREVIATED_TYPE) && !zero
    })
}

fn content_type(doc: &Doc) -> &'static str {
    if doc.variant == ABBREVIATED.variant {
        ABBREVIATED_TYPE
    } else {
        JSON
    }
}

/// A package name: `name` or `@scope/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageName {
    full: String,
    /// Where the unscoped part starts in `full`.
    base_at: usize,
}

impl PackageName {
    fn of(name: Name<'_>) -> PackageName {
        PackageName { full: name.full.to_string(), base_at: name.full.len() - name.base.len() }
    }

    pub fn full(&self) -> &str {
        &self.full
    }

    /// The name as [`documents`] takes it.
    fn name(&self) -> Name<'_> {
        Name { full: &self.full, base: &self.full[self.base_at..] }
    }
}

/// What an npm request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Ping,
    DistTags(PackageName),
    Packument(PackageName),
    Version(PackageName, String),
    Tarball(PackageName, String),
}

/// A parsed npm request: the path, what it asks for, and whether the client asked for the
/// abbreviated packument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmRequest {
    pub path: RepoPath,
    pub kind: Kind,
    abbreviated: bool,
}

/// Why a request is no npm registry request this proxy serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NpmError {
    #[error("invalid path: {0}")]
    Path(#[from] PathError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

impl ProtocolError for NpmError {
    fn code(&self) -> &'static str {
        match self {
            NpmError::Path(_) => "PATH_INVALID",
            NpmError::Endpoint(EndpointError::Invalid(_)) => "NAME_INVALID",
            NpmError::Endpoint(EndpointError::Unknown(_)) => "NOT_SERVED",
        }
    }
    fn status(&self) -> u16 {
        match self {
            NpmError::Endpoint(EndpointError::Unknown(_)) => 404,
            _ => 400,
        }
    }
}

impl NpmRequest {
    /// The upstream target of this request: a scoped name goes upstream as `@scope%2fname`.
    fn target(&self) -> Target {
        let encoded = self.path.upstream_suffix();
        let upstream = match &self.kind {
            Kind::Ping => encoded,
            Kind::DistTags(n) => endpoint::upstream_suffix(n.full(), true, encoded),
            Kind::Packument(n) | Kind::Version(n, _) | Kind::Tarball(n, _) => {
                endpoint::upstream_suffix(n.full(), false, encoded)
            }
        };
        Target::new(self.path.as_str(), upstream)
    }
}

impl Format for Npm {
    const TYPE: PackageType = PackageType::Npm;
    type Endpoint = NpmRequest;
    type Error = NpmError;

    fn parse(&self, req: &Request<'_>) -> Result<NpmRequest, NpmError> {
        let path = RepoPath::parse(&endpoint::canonical_raw(req.path))?;
        let kind = match Endpoint::parse(path.as_str())? {
            Endpoint::Ping => Kind::Ping,
            Endpoint::DistTags(n) => Kind::DistTags(PackageName::of(n)),
            Endpoint::Packument(n) => Kind::Packument(PackageName::of(n)),
            Endpoint::Version(n, v) => Kind::Version(PackageName::of(n), v.to_string()),
            Endpoint::Tarball(n, f) => Kind::Tarball(PackageName::of(n), f.to_string()),
        };
        Ok(NpmRequest { path, kind, abbreviated: wants_abbreviated(req.accept) })
    }

    fn subject<'e>(&self, e: &'e NpmRequest, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.path.as_str())
    }

    fn classify(&self, e: &NpmRequest) -> Class {
        Class::immutable_if(matches!(&e.kind, Kind::Tarball(_, file) if super::has_suffix(file, ".tgz")))
    }

    fn plan(&self, e: &NpmRequest, _repo: &Repo<'_>) -> Result<Plan<NpmRequest>, NpmError> {
        let document = |doc: Doc| Plan::Document(e.target().document(&doc), doc);
        Ok(match &e.kind {
            Kind::Packument(_) if e.abbreviated => document(ABBREVIATED),
            Kind::Packument(_) | Kind::Version(..) | Kind::DistTags(_) => document(FULL),
            Kind::Tarball(name, _) => {
                let path = RepoPath::from_decoded(name.full())?;
                let index = NpmRequest { path, kind: Kind::Packument(name.clone()), abbreviated: true };
                Plan::Listed { path: e.path.as_str().to_string(), index }
            }
            Kind::Ping => Plan::Bytes(e.target()),
        })
    }

    fn check_document(&self, e: &NpmRequest, body: &[u8]) -> Result<(), String> {
        match &e.kind {
            Kind::Packument(name) => documents::packument(name.full(), body),
            Kind::Version(name, v) => documents::manifest(name.full(), v, body),
            Kind::DistTags(name) => documents::dist_tags(name.full(), body),
            _ => Ok(()),
        }
    }

    fn rewrite(&self, e: &NpmRequest, doc: &Doc, body: &[u8], urls: &Urls) -> Result<Rendered, String> {
        match &e.kind {
            Kind::Packument(name) => {
                Ok(Rendered::new(documents::rewrite_packument(&name.name(), body, urls)?, content_type(doc)))
            }
            Kind::Version(name, v) => {
                Ok(Rendered::new(documents::rewrite_manifest(&name.name(), v, body, urls)?, JSON))
            }
            Kind::DistTags(name) => {
                documents::dist_tags(name.full(), body).map(|()| Rendered::new(body.to_vec(), JSON))
            }
            other => Err(format!("{other:?} is no npm document")),
        }
    }

    fn locate(&self, file: &NpmRequest, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
        let Kind::Tarball(name, file) = &file.kind else { return Ok(None) };
        documents::locate(name.full(), file, body, urls)
    }

    fn merge(&self, e: &NpmRequest, doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        let bodies: Vec<&[u8]> = members.iter().map(|m| m.body.as_slice()).collect();
        match &e.kind {
            Kind::Packument(name) => Ok(Rendered::new(merge::packuments(name.full(), &bodies)?, content_type(doc))),
            Kind::DistTags(name) => Ok(Rendered::new(merge::tags(name.full(), &bodies)?, JSON)),
            _ => members.into_iter().next().ok_or_else(|| "no member document".to_string()),
        }
    }

    fn local_plan(&self, e: &NpmRequest) -> Option<LocalPlan> {
        local::plan(e)
    }

    fn local_owner(&self, e: &NpmRequest) -> Option<String> {
        match &e.kind {
            Kind::Tarball(name, _) => Some(name.full.clone()),
            _ => None,
        }
    }

    fn local_document(
        &self,
        e: &NpmRequest,
        doc: &Doc,
        packages: &LocalPackages,
        urls: &Urls,
    ) -> Result<Rendered, String> {
        let ty = match &e.kind {
            Kind::Packument(_) => content_type(doc),
            _ => JSON,
        };
        Ok(Rendered::new(local::document(e, doc, packages, urls)?, ty))
    }
}

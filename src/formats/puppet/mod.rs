//! Puppet Forge (API v3): module and release documents, and release archives.
//!
//! `v3/modules[/{slug}]` and `v3/releases[/{slug}]` describe the current state of the Forge
//! (latest release, deprecation, download counts) and change: they are mutable JSON
//! [`Plan::Document`]s, cached and fetched with their query string ([`endpoint`]), checked
//! before they are cached and rewritten on the way out ([`doc`]). A release archive
//! `v3/files/{author}-{name}-{version}.tar.gz` is never replaced: it is a [`Plan::Listed`] file
//! of its release document `v3/releases/{author}-{name}-{version}`, which says where it really
//! is (`file_uri`, on this upstream or another host) and the digest its bytes must have
//! (`file_sha256`, else `file_md5`), so an archive that does not match is never cached. A
//! virtual merges its members' listings release by release, the first member winning.
//!
//! A puppet local ([`local`]) serves the releases published to it through the same endpoints;
//! the write side (`POST v3/releases`) is `crate::locals::puppet`.

mod doc;
mod endpoint;
mod local;

pub use endpoint::{canonical_query, check_module, check_version, Endpoint, Release, MAX_QUERY_BYTES};

use std::borrow::Cow;

use super::files::{file_target, FileError};
use super::{
    Class, Doc, Format, LocalPackages, LocalPlan, Located, PackageType, Plan, ProtocolError, Rendered, Repo, Request,
    Target, Urls,
};
use crate::paths::{PathError, RepoPath};

pub struct Puppet;

/// The one form of a Forge document.
const DOC: Doc = Doc { variant: "", accept: "application/json" };

/// A parsed request to a puppet repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PuppetRequest {
    pub path: RepoPath,
    pub endpoint: Endpoint,
    /// The canonical query of a document (empty for files).
    pub query: String,
}

/// Why a puppet request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PuppetError {
    #[error(transparent)]
    Path(#[from] FileError),
    /// A module, release or query this server does not route.
    #[error("{0}")]
    Endpoint(String),
}

impl From<PathError> for PuppetError {
    fn from(e: PathError) -> Self {
        PuppetError::Path(FileError(e))
    }
}

impl ProtocolError for PuppetError {
    fn code(&self) -> &'static str {
        match self {
            PuppetError::Path(e) => e.code(),
            PuppetError::Endpoint(_) => "FORGE_INVALID",
        }
    }
    fn status(&self) -> u16 {
        400
    }
}

impl Format for Puppet {
    const TYPE: PackageType = PackageType::Puppet;
    type Endpoint = PuppetRequest;
    type Error = PuppetError;

    fn parse(&self, req: &Request<'_>) -> Result<PuppetRequest, PuppetError> {
        let path = RepoPath::parse(req.path)?;
        let endpoint = Endpoint::parse(path.as_str()).map_err(PuppetError::Endpoint)?;
        let query = if endpoint.is_document() {
            canonical_query(req.query).map_err(PuppetError::Endpoint)?
        } else {
            String::new()
        };
        Ok(PuppetRequest { path, endpoint, query })
    }

    fn subject<'e>(&self, e: &'e PuppetRequest, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.path.as_str())
    }

    fn classify(&self, e: &PuppetRequest) -> Class {
        Class::immutable_if(matches!(e.endpoint, Endpoint::File(_) | Endpoint::Other { immutable: true }))
    }

    fn plan(&self, e: &PuppetRequest, _repo: &Repo<'_>) -> Result<Plan<PuppetRequest>, PuppetError> {
        Ok(match &e.endpoint {
            Endpoint::File(r) => {
                let path = RepoPath::from_decoded(&format!("v3/releases/{}", r.slug()))?;
                let index = PuppetRequest { path, endpoint: Endpoint::Release(r.clone()), query: String::new() };
                Plan::Listed { path: e.path.as_str().to_string(), index }
            }
            d if d.is_document() => {
                // One cached copy per query: the query is the variant.
                let target =
                    Target { variant: e.query.clone(), query: e.query.clone(), ..file_target(&e.path).document(&DOC) };
                Plan::Document(target, DOC)
            }
            _ => Plan::Bytes(file_target(&e.path)),
        })
    }

    fn check_document(&self, _e: &PuppetRequest, body: &[u8]) -> Result<(), String> {
        doc::check(body)
    }

    fn rewrite(&self, _e: &PuppetRequest, _doc: &Doc, body: &[u8], _urls: &Urls) -> Result<Rendered, String> {
        doc::rewrite(body)
    }

    fn locate(&self, file: &PuppetRequest, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
        match &file.endpoint {
            Endpoint::File(r) => doc::locate(r, body, urls),
            _ => Ok(None),
        }
    }

    fn merge(&self, _e: &PuppetRequest, _doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        doc::merge(members)
    }

    /// An archive belongs to its module: a local that has the module owns its archives.
    fn local_owner(&self, e: &PuppetRequest) -> Option<String> {
        matches!(e.endpoint, Endpoint::File(_)).then(|| local::package(e)).flatten()
    }

    /// Archives are the stored files; module and release documents are generated.
    fn local_plan(&self, e: &PuppetRequest) -> Option<LocalPlan> {
        match &e.endpoint {
            Endpoint::File(r) => Some(LocalPlan::File(local::file_of(r))),
            Endpoint::Module { .. } | Endpoint::Release(_) => {
                Some(LocalPlan::Document { package: local::package(e), doc: DOC })
            }
            Endpoint::Releases => local::package(e).map(|p| LocalPlan::Document { package: Some(p), doc: DOC }),
            _ => None,
        }
    }

    /// A release the local does not have, of a module it has.
    fn local_absent(&self, e: &PuppetRequest, packages: &LocalPackages) -> bool {
        matches!(&e.endpoint, Endpoint::Release(r) if !packages.published().any(|v| v.version == r.version))
    }

    fn local_document(
        &self,
        e: &PuppetRequest,
        _doc: &Doc,
        packages: &LocalPackages,
        _urls: &Urls,
    ) -> Result<Rendered, String> {
        Ok(Rendered::new(local::document(e, packages)?, doc::CONTENT_TYPE))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, get};
    use super::*;
    use Class::*;

    #[test]
    fn metadata_is_mutable_archives_are_not() {
        check(
            &Puppet,
            &[
                ("v3/modules/puppetlabs-stdlib", Mutable),
                ("v3/modules", Mutable),
                ("v3/releases", Mutable),
                ("v3/releases/puppetlabs-stdlib-9.4.1", Mutable),
                ("v3/files/puppetlabs-stdlib-9.4.1.tar.gz", Immutable),
                ("files/puppetlabs-stdlib-9.4.1.tar.gz", Immutable),
                ("v3/releasesx", Mutable),
                ("v3/files/.tar.gz", Mutable),
                ("v3/users/puppetlabs", Mutable),
            ],
        );
    }

    const REPO: Repo<'static> = Repo { name: "forge", base_url: "http://up/", ban_tags: &[] };

    fn parse(path: &str, query: &str) -> Result<PuppetRequest, PuppetError> {
        Puppet.parse(&Request { query, ..get(path) })
    }

    #[test]
    fn documents_are_keyed_and_fetched_with_their_query() {
        let e = parse("v3/releases", "module=a-b&limit=20&offset=20").unwrap();
        let Ok(Plan::Document(t, _)) = Puppet.plan(&e, &REPO) else { panic!("a document") };
        assert_eq!((t.path.as_str(), t.upstream.as_str()), ("v3/releases", "v3/releases"));
        assert_eq!(t.query, "limit=20&module=a-b&offset=20");
        assert_eq!(t.variant, t.query, "each page its own cached copy");
        assert!(t.held);
        let other = parse("v3/releases", "module=a-b&limit=20&offset=40").unwrap();
        let Ok(Plan::Document(t2, _)) = Puppet.plan(&other, &REPO) else { panic!("a document") };
        assert_ne!(t.variant, t2.variant);
    }

    #[test]
    fn archives_are_listed_in_their_release() {
        let e = parse("v3/files/a-b-1.0.0.tar.gz", "x=1").unwrap();
        let Ok(Plan::Listed { path, index }) = Puppet.plan(&e, &REPO) else { panic!("listed") };
        assert_eq!(path, "v3/files/a-b-1.0.0.tar.gz");
        assert_eq!(index, parse("v3/releases/a-b-1.0.0", "").unwrap());
        assert_eq!(
            Puppet.plan(&parse("other/x.txt", "").unwrap(), &REPO),
            Ok(Plan::Bytes(Target::new("other/x.txt", "other/x.txt")))
        );
    }

    #[test]
    fn refuses_hostile_requests_as_bad_requests() {
        for (path, query) in [
            ("v3/releases/a-b-1.0;x", ""),
            ("v3/modules/..", ""),
            ("v3/files/a-b-%2e%2e.tar.gz", ""),
            ("v3/%2e%2e/secret", ""),
            ("v3/releases", "module=%00"),
        ] {
            assert!(parse(path, query).is_err_and(|e| e.status() == 400), "{path}?{query}");
        }
    }
}

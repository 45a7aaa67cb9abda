//! Package types whose requests are plain files below the base URL, told apart by their path
//! alone: generic remotes (until a type learns its own protocol, it lives here).
//!
//! Each such type states its classification rules ([`PathRules`]); the [`Format`] follows:
//! the endpoint is the checked, decoded [`RepoPath`], the access rules match that path, and the
//! answer is the upstream's bytes at the same path below the base URL.

use std::borrow::Cow;

use super::{Class, Format, LocalPlan, PackageType, Plan, ProtocolError, Repo, Request, Target};
use crate::paths::{PathError, RepoPath};

/// The classification of a path-based type.
pub trait PathRules: Send + Sync + 'static {
    const TYPE: PackageType;
    /// The class of `path` (decoded, relative to the repository, no leading slash).
    fn classify_path(path: &str) -> Class;
}

/// Why a request path was refused: the path itself is malformed or hostile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path: {0}")]
pub struct FileError(#[from] pub PathError);

impl ProtocolError for FileError {
    fn code(&self) -> &'static str {
        "PATH_INVALID"
    }
    fn status(&self) -> u16 {
        400
    }
}

/// The target of a file at `path`: the same path below the base URL.
pub fn file_target(path: &RepoPath) -> Target {
    Target::new(path.as_str(), path.upstream_suffix())
}

impl<T: PathRules> Format for T {
    const TYPE: PackageType = T::TYPE;
    type Endpoint = RepoPath;
    type Error = FileError;

    fn parse(&self, req: &Request<'_>) -> Result<RepoPath, FileError> {
        Ok(RepoPath::parse(req.path)?)
    }

    fn subject<'e>(&self, e: &'e RepoPath, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.as_str())
    }

    fn classify(&self, e: &RepoPath) -> Class {
        T::classify_path(e.as_str())
    }

    fn plan(&self, e: &RepoPath, _repo: &Repo<'_>) -> Result<Plan<RepoPath>, FileError> {
        Ok(Plan::Bytes(file_target(e)))
    }

    /// A local serves the file stored at the path.
    fn local_plan(&self, e: &RepoPath) -> Option<LocalPlan> {
        Some(LocalPlan::File(e.as_str().to_string()))
    }
}

//! What local repositories hold, as the package types read it to answer requests: published
//! versions with their metadata, tags, and how an endpoint maps onto them ([`LocalPlan`]).
//!
//! The catalog stores these (`crate::db::local_packages`); a format turns them into the
//! documents its clients read ([`super::Format::local_document`]), every file URL pointing at
//! the local (or, merged into a virtual, at the local through which the virtual serves it).

use chrono::{DateTime, Utc};

use super::Doc;

/// One version of a package in a local.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalVersion {
    pub package: String,
    pub version: String,
    /// The type's own record of the version (an npm version manifest, a file's PyPI fields, a
    /// chart's index entry, a Go module's `.info`).
    pub metadata: serde_json::Value,
    /// False for an unpublished version (kept so it can never be published again).
    pub published: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl LocalVersion {
    /// `version` of `package` with `metadata`, published now.
    pub fn published_now(package: String, version: String, metadata: serde_json::Value) -> LocalVersion {
        let now = Utc::now();
        LocalVersion { package, version, metadata, published: true, created_at: now, updated_at: now }
    }
}

/// A tag of a package (npm's dist-tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTag {
    pub package: String,
    pub tag: String,
    pub version: String,
}

/// What a document of a local is generated from: the versions and tags of one package, or of
/// every package.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalPackages {
    pub versions: Vec<LocalVersion>,
    pub tags: Vec<LocalTag>,
}

impl LocalPackages {
    /// The published versions.
    pub fn published(&self) -> impl Iterator<Item = &LocalVersion> {
        self.versions.iter().filter(|v| v.published)
    }
}

/// How a local repository answers an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalPlan {
    /// The stored file at this path of the local.
    File(String),
    /// A document generated from the versions of `package` (every package: `None`), in the
    /// form `doc`.
    Document { package: Option<String>, doc: Doc },
    /// Send the client to this path of the same repository.
    Redirect(String),
}

//! Local docker repositories: a registry of its own on the Registry HTTP API V2 (the OCI
//! distribution spec), below HTTP.
//!
//! A local docker repository named `team` holds any number of images (`team/app`,
//! `team/base/alpine`); each (local, image) pair is one registry *repository*
//! ([`Repository`]). Everything pushed is a blob of the shared content-addressable store, so a
//! layer pushed to two repositories (or also cached by a remote) is stored once; the catalog
//! records what each repository links, its manifests and its tags
//! ([`crate::db::docker_local`]).
//!
//! - [`upload`]: blob uploads (monolithic, chunked, streamed, resumed on another replica or
//!   after a restart) and their parts in the store.
//! - [`purge`]: the schedule that deletes abandoned uploads and their parts.
//! - [`store`]: blobs and manifests: reads, mounts, manifest pushes, deletes, tags, referrers.
//! - [`manifest`]: reading a pushed manifest (pure).
//! - [`chunk`], [`tags`]: chunk ranges and tag pagination (pure).
//! - [`error`]: what can go wrong, with the spec's error codes.

pub mod chunk;
pub mod error;
pub mod manifest;
pub mod purge;
pub mod store;
pub mod tags;
pub mod upload;

use std::fmt;

pub use error::Error;

/// One repository of a local docker repository: `{local}/{image}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    /// The local docker repository (artifactapi's repository name).
    pub local: String,
    /// The image name below it (`app`, `team/app`).
    pub image: String,
}

impl Repository {
    pub fn new(local: impl Into<String>, image: impl Into<String>) -> Repository {
        Repository { local: local.into(), image: image.into() }
    }
}

impl fmt::Display for Repository {
    /// The registry name clients use: `local/image`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.local, self.image)
    }
}

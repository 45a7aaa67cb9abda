//! The one request path: from a parsed request to what the client gets, outside the HTTP layer.
//!
//! Handlers (`crate::http`) turn an HTTP request into a [`Request`] and the repository it
//! names, call [`Service::remote`] or [`Service::virtual_repo`] (the `/v2` adapter calls
//! [`Service::remote_request`] with the docker format), and turn the typed [`Outcome`] or
//! [`ServeError`] into a response in their protocol's format. Everything in between happens
//! here, in this order, for every package type:
//!
//! 1. the format parses the request once into its typed endpoint;
//! 2. the remote's access rules (`blocklist`, then `patterns`) are applied to the endpoint's
//!    subject ([`crate::formats::Format::subject`]);
//! 3. the format plans the request ([`Plan`]); its class comes from the format, overridden by
//!    the remote's `mutable_patterns`/`immutable_patterns` on the target's catalog path;
//! 4. a hot object (immutable, fresh forever) is served without asking anyone; otherwise the
//!    remote's actor is sent one [`Fetch`](artifactapi_actors::remote::Fetch) ([`fetch`], the
//!    only place object keys and fetch messages are built);
//! 5. documents are rendered once per upstream copy and form and served from the blob store
//!    ([`documents`], [`renders`]); listed files are found in their index first;
//! 6. virtual repositories walk their members through the same steps ([`virtuals`]) and decide
//!    "absent" or "down" from the typed errors, never from HTTP statuses.
//!
//! Local repositories are read through the same formats ([`locals`]): a stored file, or a
//! document generated from what the local holds, rendered once per state of the local.
//!
//! Docker remotes are served on `/v2` only: the generic routes refuse them
//! ([`ServeError::WrongRoute`]), so no second route reaches a registry upstream around the
//! docker rules or shares its cache keys.

mod documents;
mod error;
mod fetch;
mod kept;
mod locals;
pub mod renders;
#[cfg(test)]
mod renders_tests;
mod rpm;
mod rpm_mirrors;
mod rpm_rebase;
mod terraform;
mod virtuals;

use std::sync::Arc;

use artifactapi_actors::catalog::CachedObject;
use artifactapi_actors::digest::Digest;
use artifactapi_actors::remote::{CacheStatus, Download};
use artifactapi_actors::storage::BlobStore;

pub use error::ServeError;
pub use renders::{RenderedRef, Renders};

use crate::formats::{self, Format, PackageType, Plan, Repo, Request};
use crate::registry::{Registry, RemoteEntry};
use crate::virtuals::VirtualSpec;

/// Largest document read whole to be rendered, located in or merged.
pub const MAX_DOCUMENT: u64 = 128 << 20;
/// How many parsed indexes are kept for looking up listed files (an alpine mirror has a few
/// directories per release in use at once).
const PARSED_INDEXES_KEPT: usize = 8;

/// Bytes in the blob store, as a response serves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub digest: Digest,
    pub size: u64,
    pub content_type: Option<String>,
    pub last_modified: Option<String>,
}

impl From<&CachedObject> for Stored {
    fn from(o: &CachedObject) -> Self {
        Stored {
            digest: o.digest,
            size: o.size,
            content_type: o.content_type.clone(),
            last_modified: o.upstream_last_modified.clone(),
        }
    }
}

/// Where the bytes of an answer come from.
#[derive(Debug)]
pub enum Body {
    /// A cached object or a rendered document, read from the blob store (ranges, ETag).
    Stored(Stored),
    /// A miss streaming from a fill; `digest` is what the bytes were promised to hash to.
    Streaming { download: Download, digest: Option<Digest> },
}

/// What the service answers.
#[derive(Debug)]
pub enum Outcome {
    Served {
        body: Body,
        status: CacheStatus,
        /// A document rendered for the request's `Accept` (`Vary: Accept`).
        rendered: bool,
    },
    /// Send the client to this path of the same repository (decoded, relative to it).
    Redirect(String),
}

impl Outcome {
    fn stored(object: &CachedObject, status: CacheStatus) -> Outcome {
        Outcome::Served { body: Body::Stored(object.into()), status, rendered: false }
    }
}

/// The answer of a virtual repository, with the members skipped for being down.
#[derive(Debug)]
pub struct VirtualReply {
    pub result: Result<Outcome, ServeError>,
    pub unavailable: Vec<String>,
}

/// The serving service: one per process, shared by all HTTP workers.
pub struct Service {
    registry: Arc<Registry>,
    db: crate::db::Db,
    store: Arc<dyn BlobStore>,
    renders: Arc<Renders>,
    /// `PUBLIC_URL` without a trailing slash.
    public_base: String,
    rpm_indexes: rpm::PrimaryIndexes,
    /// Indexes parsed for looking up listed files, by the digest of their cached copy.
    parsed_indexes: kept::Kept<dyn std::any::Any + Send + Sync>,
}

/// The repository context a format plans with, for a remote.
fn repo_of(entry: &RemoteEntry) -> Repo<'_> {
    let spec = &entry.remote.spec;
    let ban_tags: &[String] = if spec.ban_tags_enabled { &spec.ban_tags } else { &[] };
    Repo { name: &spec.name, base_url: &entry.remote.base_url, ban_tags }
}

/// A format's refusal of a request, for the repository `repo`.
fn refused<E: formats::ProtocolError>(repo: &str, e: E) -> ServeError {
    ServeError::Refused { status: e.status(), code: e.code(), message: format!("{repo}: {e}") }
}

impl Service {
    pub fn new(
        registry: Arc<Registry>,
        db: crate::db::Db,
        store: Arc<dyn BlobStore>,
        renders: Arc<Renders>,
        public_base: String,
    ) -> Self {
        Service {
            registry,
            db,
            store,
            renders,
            public_base,
            rpm_indexes: rpm::primary_indexes(),
            parsed_indexes: kept::Kept::new(PARSED_INDEXES_KEPT),
        }
    }

    /// `GET|HEAD /api/v1/remote/{name}/{path}`.
    pub async fn remote(&self, entry: &RemoteEntry, req: &Request<'_>) -> Result<Outcome, ServeError> {
        let t = entry.remote.spec.package_type;
        if t == PackageType::Docker {
            return Err(ServeError::WrongRoute(format!(
                "{name} is a docker remote: pull through the registry API, /v2/{name}/{{image}}/...",
                name = entry.remote.spec.name
            )));
        }
        crate::with_format!(t, f => self.remote_request(f, entry, req).await)
    }

    /// The remote's access rules (`blocklist`, then `patterns`) applied to `e`'s subject.
    fn check_access<F: Format>(&self, f: &F, entry: &RemoteEntry, e: &F::Endpoint) -> Result<(), ServeError> {
        let repo = repo_of(entry);
        entry.remote.rules.check_access(&f.subject(e, &repo)).map_err(|rule| ServeError::Denied {
            repo: repo.name.to_string(),
            subject: f.subject(e, &repo).into_owned(),
            rule,
        })
    }

    /// One request to a remote of format `f` (the `/v2` adapter calls this for docker).
    pub async fn remote_request<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        req: &Request<'_>,
    ) -> Result<Outcome, ServeError> {
        if !req.method.is_read() {
            let repo = entry.remote.spec.name.clone();
            return Err(ServeError::MethodNotAllowed { repo, method: req.method, allow: "GET, HEAD" });
        }
        let e = f.parse(req).map_err(|e| refused(&entry.remote.spec.name, e))?;
        self.member(f, entry, &e).await
    }

    /// A request to a remote that its adapter parsed already (`/v2` parses once for remotes
    /// and locals alike).
    pub async fn remote_endpoint<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        method: formats::Method,
        e: &F::Endpoint,
    ) -> Result<Outcome, ServeError> {
        if !method.is_read() {
            let repo = entry.remote.spec.name.clone();
            return Err(ServeError::MethodNotAllowed { repo, method, allow: "GET, HEAD" });
        }
        self.member(f, entry, e).await
    }

    /// `GET|HEAD /api/v1/virtual/{name}/{path}`.
    pub async fn virtual_repo(&self, spec: &VirtualSpec, req: &Request<'_>) -> VirtualReply {
        let fail = |e| VirtualReply { result: Err(e), unavailable: Vec::new() };
        if spec.package_type == PackageType::Docker {
            return fail(ServeError::WrongRoute(format!(
                "{} is a docker virtual repository: docker repositories are served on /v2/",
                spec.name
            )));
        }
        if !req.method.is_read() {
            return fail(ServeError::MethodNotAllowed {
                repo: spec.name.clone(),
                method: req.method,
                allow: "GET, HEAD",
            });
        }
        crate::with_format!(spec.package_type, f => self.virtual_request(f, spec, req).await)
    }

    /// Serves the parsed request `e` from one remote: its access rules, its plan, its cache.
    async fn member<F: Format>(
        &self,
        f: &'static F,
        entry: &RemoteEntry,
        e: &F::Endpoint,
    ) -> Result<Outcome, ServeError> {
        self.check_access(f, entry, e)?;
        // rpm remotes serve consistent snapshots, for clients of the remote and of virtuals
        // alike ([`rpm`]).
        if let Some(e) = (e as &dyn std::any::Any).downcast_ref::<formats::rpm::Endpoint>() {
            return self.rpm(entry, e).await;
        }
        // A terraform remote's network mirror documents are made from several of its
        // registry documents ([`terraform`]).
        if let Some(e) = (e as &dyn std::any::Any).downcast_ref::<formats::terraform::TerraformRequest>() {
            if e.endpoint.is_mirror() {
                return self.terraform_mirror(entry, e).await;
            }
        }
        let repo = repo_of(entry);
        let name = repo.name;
        match f.plan(e, &repo).map_err(|err| refused(name, err))? {
            Plan::Bytes(target) => self.bytes(f, entry, e, target).await,
            Plan::Redirect(to) => Ok(Outcome::Redirect(to)),
            Plan::Document(target, doc) => {
                let (rendered, status) = self.document(f, entry, e, target, doc).await?;
                Ok(Outcome::Served { body: Body::Stored(rendered.stored()), status, rendered: true })
            }
            Plan::Listed { path, index } => self.listed(f, entry, e, path, index).await,
        }
    }
}

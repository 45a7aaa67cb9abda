//! One actor per remote: upstream client, circuit breaker, freshness and coalescing.
//!
//! The service crate turns a client request into a [`Fetch`] (which path, which variant,
//! mutable or not, the full upstream URL) and sends it to the remote's [`RemoteActor`]. The
//! actor answers with a [`FetchOutcome`]: a cached object to read from the blob store, a
//! [`Download`] streaming from a fill in progress, not-found, or an error. Bytes never travel
//! through the mailbox.
//!
//! - [`actor`]: the actor, its messages and its in-memory state (in-flight fills, hot objects,
//!   hit counts).
//! - [`fill`]: one upstream fetch, from breaker admission to commit; [`lease`]: the
//!   cross-replica fetch lease it takes first.
//! - [`replica`], [`follow`]: a fill streamed to the other replicas while it runs (the leading
//!   replica's side, and the following replicas').
//! - [`spool`]: how a fill feeds every waiting client from one staging file.
//! - [`hot`]: objects that never change, served by handlers without a mailbox round trip.
//! - [`breaker`]: the circuit breaker, shared between replicas through the coordinator.
//! - [`upstream`]: the awc client; `body`: the idle timeout and length check of its bodies.
//! - [`auth`]: registry token auth (Bearer challenges, token cache, which realms get credentials).
//! - [`probe`]: one measured upstream GET that caches nothing (`POST /api/v2/probe`).
//! - [`netguard`]: which addresses an upstream request may reach (the private-address rule).
//! - [`tls`]: which certificates upstream TLS trusts, and the shared rustls configurations.

pub mod actor;
pub mod auth;
mod body;
pub mod breaker;
pub mod fill;
pub mod follow;
pub mod hot;
pub mod lease;
pub mod netguard;
pub mod probe;
pub mod ratelimit;
pub mod replica;
pub mod spool;
pub mod tls;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::CachedObject;
use crate::digest::Digest;
use crate::integrity::{DocumentCheck, Integrity};
use crate::storage::ByteStream;

pub use actor::{FillDone, Forget, Reconfigure, RemoteActor, RemoteDeps, Shutdown};
pub use breaker::BreakerState;
pub use hot::HotObjects;
pub use upstream::{UpstreamError, UpstreamHead};

/// What a remote actor needs to know of its remote's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    pub name: String,
    /// Base URL, ending with `/`.
    pub base_url: String,
    /// `(username, password)` for upstream basic auth (and for token services that may have
    /// them).
    pub credentials: Option<(String, String)>,
    /// Token service hosts, besides the base URL's origin, that may receive the credentials
    /// (see [`auth::RealmPolicy`]).
    pub token_realm_hosts: Vec<String>,
    /// Hosts other than the base URL's may be private addresses (`allow_private_upstreams`).
    pub allow_private_upstreams: bool,
    /// How the upstream's TLS certificate is checked (`tls_ca`, `tls_insecure_skip_verify`).
    pub tls: tls::RemoteTls,
    /// How long immutable objects stay fresh; zero means forever.
    pub immutable_ttl: Duration,
    pub mutable_ttl: Duration,
    pub negative_ttl: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub breaker_threshold: u32,
    pub breaker_open: Duration,
}

/// Names the upstream URL an object was (or would be) fetched from, short and the same on
/// every replica. Not-found entries are recorded for it: a request built on a remote's new base
/// URL does not inherit what the previous upstream did not have, even when a request built on
/// the old configuration reached the remote's actor after the change.
pub fn upstream_id(url: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(url.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Ask a remote for an object.
#[derive(Debug, Clone, Default)]
pub struct Fetch {
    /// The object's path in the catalog (decoded, relative to the remote).
    pub path: String,
    /// Content-negotiation variant (empty for most objects).
    pub variant: String,
    /// Whether the object is mutable (freshness `mutable_ttl`, revalidated).
    pub mutable: bool,
    /// The full upstream URL.
    pub upstream_url: String,
    /// Request headers to forward upstream (e.g. `Accept`).
    pub forward_headers: Vec<(String, String)>,
    /// The digest the bytes must have, when the format knows it in advance.
    pub expected: Option<Digest>,
    /// What an index recorded for the file (npm `dist.integrity`, a helm chart `digest`, a PyPI
    /// `#sha256=`): a body that does not match is never cached.
    pub integrity: Option<Integrity>,
    /// For metadata documents: the package type's check that the whole body is well formed,
    /// run before it is cached.
    pub document: Option<DocumentCheck>,
    /// Revalidate an expired copy with a HEAD and compare the upstream's
    /// `Docker-Content-Digest` with the cached digest: only a moved digest costs a GET (registry
    /// tags, where a GET counts against pull limits and a HEAD does not).
    pub revalidate_by_digest: bool,
    /// The token scope of the request when the upstream uses Bearer token auth
    /// (`repository:library/alpine:pull`), so a cached token is sent straight away.
    pub token_scope: Option<String>,
}

impl actix::Message for Fetch {
    type Result = FetchOutcome;
}

/// How a cached object was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Stale,
    Revalidated,
}

impl CacheStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
            CacheStatus::Revalidated => "REVALIDATED",
        }
    }
}

/// Why a fetch failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("upstream circuit breaker is open; retry in {}s", retry_after.as_secs().max(1))]
    BreakerOpen { retry_after: Duration },
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("{0}")]
    Body(String),
    #[error("catalog unavailable: {0}")]
    CatalogUnavailable(String),
    #[error("catalog error: {0}")]
    Catalog(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("content does not match the index's {0}")]
    IntegrityMismatch(Integrity),
    #[error("invalid document: {0}")]
    InvalidDocument(String),
}

/// A response streaming from a fill in progress (a cache miss).
pub struct Download {
    pub head: Arc<UpstreamHead>,
    pub body: ByteStream,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("head", &self.head).finish_non_exhaustive()
    }
}

/// The answer to a [`Fetch`].
#[derive(Debug)]
pub enum FetchOutcome {
    /// Read `object` from the blob store.
    Cached {
        object: CachedObject,
        status: CacheStatus,
    },
    /// Stream from the upstream through the spool (`X-Cache: MISS`).
    Download(Download),
    /// The upstream has no such object (or said so recently).
    NotFound {
        status: u16,
    },
    Failed(FetchError),
}

/// The outcome of a fill that did not stream, shared by every waiter.
#[derive(Debug, Clone)]
pub enum Resolution {
    Cached { object: CachedObject, status: CacheStatus },
    NotFound { status: u16 },
    Failed(FetchError),
}

impl From<Resolution> for FetchOutcome {
    fn from(r: Resolution) -> Self {
        match r {
            Resolution::Cached { object, status } => FetchOutcome::Cached { object, status },
            Resolution::NotFound { status } => FetchOutcome::NotFound { status },
            Resolution::Failed(e) => FetchOutcome::Failed(e),
        }
    }
}

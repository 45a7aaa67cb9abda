//! The StorageActor: the only way bytes become visible in the store, and the garbage collector.
//!
//! One per process. A [`Commit`] turns a verified staging file into a blob plus its catalog rows,
//! a [`CommitPart`] does the same for an upload stored as one part ([`super::parts`]); a [`Gc`]
//! runs one mark-and-sweep ([`super::gc`]). Both answer with futures that run on the
//! actor's context, so the mailbox keeps flowing while an upload or a sweep is under way, and
//! they finish even when the sender stopped waiting (a commit never leaks its staging file
//! because a client disconnected).
//!
//! Ordering is kept by two async locks instead of by blocking the actor:
//! - the *write lock*, held by a whole commit and by each single GC deletion, so within this
//!   process commits run one at a time and never interleave with a deletion (across processes
//!   the blob row lock taken by `upsert_blob` and `gc_delete_blob` does the same);
//! - the *GC lock*, so only one sweep runs at a time (a second one is refused with
//!   [`GcError::Busy`]).

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, ResponseFuture};
use tokio::sync::Mutex;

use super::gc::{self, GcError, GcOptions, GcReport};
use super::{BlobStore, PartKey, Staged, StoreError};
use crate::catalog::{CachedObject, Catalog, CatalogError};
use crate::digest::Digest;
use crate::events::{Event, EventKind, EventSink};

/// Publishes a staged file: verify, record, publish, and optionally record the cached object.
#[derive(Debug, Message)]
#[rtype(result = "Result<Committed, CommitError>")]
pub struct Commit {
    pub staged: Staged,
    /// What the bytes must hash to (from the upstream, the client or the protocol); `None` when
    /// nothing was promised.
    pub expected: Option<Digest>,
    /// The cached object to point at the blob once it is published.
    pub object: Option<CachedObject>,
}

/// Publishes an upload stored as one part ([`super::parts`]) as the blob `digest`: the part's
/// bytes were hashed when they were staged, and `digest` is what that hash gave.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Committed, CommitError>")]
pub struct CommitPart {
    pub part: PartKey,
    pub digest: Digest,
    pub size: u64,
    /// What the client said the blob is.
    pub expected: Digest,
}

/// A blob that is now in the store and the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub digest: Digest,
    pub size: u64,
}

/// Why a commit published nothing (the staging file is gone in every case).
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("cached object {path:?} names {object}, but the staged bytes are {staged}")]
    ObjectMismatch { path: String, object: Digest, staged: Digest },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// Runs one garbage collection.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<GcReport, GcError>")]
pub struct Gc {
    pub dry_run: bool,
    /// Blobs written more recently than this are kept whatever the catalog says.
    pub grace: Duration,
}

/// The actor; start it once in `main` and hand its address to whoever commits.
pub struct StorageActor {
    store: Arc<dyn BlobStore>,
    catalog: Arc<dyn Catalog>,
    events: Arc<dyn EventSink>,
    write_lock: Arc<Mutex<()>>,
    gc_lock: Arc<Mutex<()>>,
}

impl StorageActor {
    pub fn new(store: Arc<dyn BlobStore>, catalog: Arc<dyn Catalog>, events: Arc<dyn EventSink>) -> Self {
        StorageActor { store, catalog, events, write_lock: Arc::new(Mutex::new(())), gc_lock: Arc::new(Mutex::new(())) }
    }
}

impl Actor for StorageActor {
    type Context = Context<Self>;
}

impl Handler<Commit> for StorageActor {
    type Result = ResponseFuture<Result<Committed, CommitError>>;

    fn handle(&mut self, msg: Commit, _ctx: &mut Context<Self>) -> Self::Result {
        let (store, catalog, lock) = (self.store.clone(), self.catalog.clone(), self.write_lock.clone());
        Box::pin(async move {
            let staged = msg.staged.clone();
            let result = {
                let _write = lock.lock().await;
                commit(&*store, &*catalog, msg).await
            };
            if result.is_err() {
                // Published files are gone already; this removes what a failure left behind.
                staged.discard().await;
            }
            result
        })
    }
}

/// The commit itself, run under the write lock.
async fn commit(store: &dyn BlobStore, catalog: &dyn Catalog, msg: Commit) -> Result<Committed, CommitError> {
    let Commit { staged, expected, object } = msg;
    if let Some(expected) = expected {
        if expected != staged.digest {
            return Err(CommitError::DigestMismatch { expected, actual: staged.digest });
        }
    }
    if let Some(obj) = &object {
        if obj.digest != staged.digest {
            return Err(CommitError::ObjectMismatch {
                path: obj.key.path.clone(),
                object: obj.digest,
                staged: staged.digest,
            });
        }
    }
    // The row first: from here on GC (in any process) sees the blob as just used.
    let created = catalog.upsert_blob(&staged.digest, staged.size).await?;
    if created || store.stat(&staged.digest).await?.is_none() {
        store.publish(&staged.path, &staged.digest, staged.size).await?;
    } else {
        staged.discard().await;
    }
    if let Some(obj) = &object {
        catalog.put_object(obj).await?;
    }
    Ok(Committed { digest: staged.digest, size: staged.size })
}

impl Handler<CommitPart> for StorageActor {
    type Result = ResponseFuture<Result<Committed, CommitError>>;

    /// A mismatch leaves the part where it is (the upload owns it, not this commit).
    fn handle(&mut self, msg: CommitPart, _ctx: &mut Context<Self>) -> Self::Result {
        let (store, catalog, lock) = (self.store.clone(), self.catalog.clone(), self.write_lock.clone());
        Box::pin(async move {
            if msg.expected != msg.digest {
                return Err(CommitError::DigestMismatch { expected: msg.expected, actual: msg.digest });
            }
            let _write = lock.lock().await;
            // The row first, as in `commit`: from here on GC sees the blob as just used.
            let created = catalog.upsert_blob(&msg.digest, msg.size).await?;
            if created || store.stat(&msg.digest).await?.is_none() {
                store.publish_part(&msg.part, &msg.digest, msg.size).await?;
            }
            Ok(Committed { digest: msg.digest, size: msg.size })
        })
    }
}

impl Handler<Gc> for StorageActor {
    type Result = ResponseFuture<Result<GcReport, GcError>>;

    fn handle(&mut self, msg: Gc, _ctx: &mut Context<Self>) -> Self::Result {
        let (store, catalog, events) = (self.store.clone(), self.catalog.clone(), self.events.clone());
        let (write_lock, gc_lock) = (self.write_lock.clone(), self.gc_lock.clone());
        Box::pin(async move {
            let Ok(_running) = gc_lock.try_lock() else {
                return Err(GcError::Busy);
            };
            let options = GcOptions { dry_run: msg.dry_run, grace: msg.grace };
            let report = gc::sweep(&*store, &*catalog, options, &write_lock).await?;
            tracing::info!(?report, "gc finished");
            let detail = serde_json::to_value(&report).unwrap_or_default();
            events.emit(
                Event::new(EventKind::GcRun)
                    .size(report.deleted_bytes)
                    .duration(Duration::from_millis(report.duration_ms))
                    .detail(detail),
            );
            Ok(report)
        })
    }
}

//! Rendered documents: made once per upstream copy and form, kept in the blob store, served
//! from there.
//!
//! Rendering a document (parse the upstream's JSON/HTML/YAML, rewrite every file URL, write it
//! out) costs time and memory in proportion to the document, and real ones are large (npm
//! packuments of 20 MB, helm indexes of 50 MB). The result only changes when the upstream copy
//! does, and the copy is named by its digest, so a rendering keyed by (repository, upstream
//! URL, form, source digest) can never be stale. Each is made once:
//!
//! - the first request for a key renders it in a task of its own (a client that goes away does
//!   not cancel it); concurrent requests for the same key wait for that one rendering;
//! - at most `RENDER_CONCURRENCY` renderings (and checks of fetched documents, which share the
//!   permits) run at once, so peak memory is bounded by configuration, not by how many large
//!   documents are asked for at the same moment;
//! - the rendered bytes are committed to the blob store like any other blob and served from
//!   there (streamed, ranges, strong ETag); this process remembers where (a small map bounded
//!   by bytes), and the catalog does too (`rendered_documents`), so other replicas and
//!   restarts reuse them;
//! - a rendering in use keeps its blob alive: its `last_seen` is renewed at least every quarter
//!   of the GC grace period, so garbage collection (which deletes unreferenced blobs not seen
//!   within the grace period, and their `rendered_documents` rows with them) only collects
//!   renderings nobody asked for.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Addr;
use artifactapi_actors::digest::Digest;
use artifactapi_actors::storage::{Commit, StagingArea, StorageActor};
use tokio::sync::{watch, Semaphore};

use super::{ServeError, Stored};
pub use crate::db::renders::{RenderKey, RenderedRef};
use crate::db::Db;
use crate::formats::Rendered;

impl RenderedRef {
    pub fn stored(&self) -> Stored {
        Stored {
            digest: self.digest,
            size: self.size,
            content_type: Some(self.content_type.clone()),
            last_modified: None,
        }
    }
}

fn key_bytes(key: &RenderKey) -> usize {
    key.repo.len() + key.url.len() + 160
}

/// How much of this process's memory the map of known renderings may take.
pub const INDEX_BYTES: usize = 4 << 20;

struct Known {
    rendered: RenderedRef,
    /// When its blob's `last_seen` was last renewed by this process.
    touched: Instant,
}

#[derive(Default)]
struct Index {
    map: HashMap<RenderKey, Known>,
    order: VecDeque<RenderKey>,
    bytes: usize,
}

type Shared = Result<RenderedRef, ServeError>;

/// The renderings of this process (one, in the serving service).
pub struct Renders {
    index: Mutex<Index>,
    inflight: Mutex<HashMap<RenderKey, watch::Receiver<Option<Shared>>>>,
    permits: Arc<Semaphore>,
    staging: StagingArea,
    storage: Addr<StorageActor>,
    db: Db,
    /// Renew a used rendering's blob at least this often (a quarter of the GC grace period).
    touch_every: Duration,
}

impl Renders {
    /// `permits`: whole-document work allowed at once (shared with the checks of fetched
    /// documents); `gc_grace`: the GC grace period.
    pub fn new(
        staging: StagingArea,
        storage: Addr<StorageActor>,
        db: Db,
        permits: Arc<Semaphore>,
        gc_grace: Duration,
    ) -> Self {
        Renders {
            index: Mutex::default(),
            inflight: Mutex::default(),
            permits,
            staging,
            storage,
            db,
            touch_every: gc_grace / 4,
        }
    }

    fn known(self: &Arc<Self>, key: &RenderKey) -> Option<RenderedRef> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let known = index.map.get_mut(key)?;
        if known.touched.elapsed() >= self.touch_every {
            known.touched = Instant::now();
            self.touch(key.clone(), known.rendered.digest);
        }
        Some(known.rendered.clone())
    }

    /// Renews the blob of a rendering in use; forgets the rendering if its blob is gone (it is
    /// rendered again at the next request).
    fn touch(self: &Arc<Self>, key: RenderKey, digest: Digest) {
        let renders = self.clone();
        actix_rt::spawn(async move {
            match renders.db.touch_blob(&digest).await {
                Ok(true) => {}
                Ok(false) => renders.forget(&key),
                Err(e) => tracing::debug!(error = %e, "could not renew a rendered document's blob"),
            }
        });
    }

    fn forget(&self, key: &RenderKey) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if index.map.remove(key).is_some() {
            index.bytes -= key_bytes(key);
            index.order.retain(|k| k != key);
        }
    }

    fn remember(&self, key: RenderKey, rendered: RenderedRef) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let size = key_bytes(&key);
        while index.bytes + size > INDEX_BYTES {
            let Some(old) = index.order.pop_front() else { break };
            if index.map.remove(&old).is_some() {
                index.bytes -= key_bytes(&old);
            }
        }
        if index.map.insert(key.clone(), Known { rendered, touched: Instant::now() }).is_none() {
            index.bytes += size;
            index.order.push_back(key);
        }
    }

    /// The rendering of `key`: known, found in the catalog, or made by `job` (once, however
    /// many requests ask at the same time).
    pub async fn get_or_render(
        self: &Arc<Self>,
        key: RenderKey,
        job: impl Future<Output = Result<Rendered, ServeError>> + 'static,
    ) -> Result<RenderedRef, ServeError> {
        if let Some(rendered) = self.known(&key) {
            return Ok(rendered);
        }
        let mut rx = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match inflight.get(&key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    inflight.insert(key.clone(), rx.clone());
                    let renders = self.clone();
                    actix_rt::spawn(async move {
                        let result = renders.make(&key, job).await;
                        if let Ok(rendered) = &result {
                            renders.remember(key.clone(), rendered.clone());
                        }
                        renders.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                        let _ = tx.send(Some(result));
                    });
                    rx
                }
            }
        };
        loop {
            if let Some(result) = rx.borrow_and_update().clone() {
                return result;
            }
            if rx.changed().await.is_err() {
                return Err(ServeError::Internal("document rendering ended without a result".into()));
            }
        }
    }

    /// A permit for other work on a whole document (finding a file in its index): it counts
    /// against the same bound as renderings.
    pub async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ServeError> {
        self.permits.acquire().await.map_err(|e| ServeError::Internal(format!("document permits: {e}")))
    }

    /// Finds `key` in the catalog or renders it, stores the bytes and records them.
    async fn make(
        &self,
        key: &RenderKey,
        job: impl Future<Output = Result<Rendered, ServeError>>,
    ) -> Result<RenderedRef, ServeError> {
        match self.db.find_render(key).await {
            Ok(Some(rendered)) => return Ok(rendered),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "looking up a rendered document in the catalog"),
        }
        let _permit = self.permits.acquire().await.map_err(|e| ServeError::Internal(format!("render permits: {e}")))?;
        let rendered = job.await?;
        let stored = self.store(&rendered).await;
        drop(rendered);
        artifactapi_actors::memory::release();
        let stored = stored?;
        if let Err(e) = self.db.put_render(key, &stored).await {
            tracing::warn!(repo = %key.repo, error = %e, "could not record a rendered document in the catalog");
        }
        Ok(stored)
    }

    /// Commits rendered bytes as a blob.
    pub(super) async fn store(&self, rendered: &Rendered) -> Result<RenderedRef, ServeError> {
        let storage = |e: std::io::Error| ServeError::Unavailable(format!("staging a rendered document: {e}"));
        let mut writer = self.staging.create().await.map_err(storage)?;
        for chunk in rendered.body.chunks(1 << 20) {
            if let Err(e) = writer.write(chunk).await {
                writer.abort().await;
                return Err(storage(e));
            }
        }
        let staged = writer.finish().await.map_err(storage)?;
        let committed = self
            .storage
            .send(Commit { staged, expected: None, object: None })
            .await
            .map_err(|e| ServeError::Unavailable(format!("storage actor: {e}")))?
            .map_err(|e| ServeError::Unavailable(format!("storing a rendered document: {e}")))?;
        Ok(RenderedRef { digest: committed.digest, size: committed.size, content_type: rendered.content_type.clone() })
    }
}

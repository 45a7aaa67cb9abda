//! One upstream fetch, from breaker admission to commit.
//!
//! A [`FillJob`] runs as its own task (not tied to any client's request), so a client that
//! disconnects never cancels it. Reading top to bottom: ask the breaker, take the cross-replica
//! fetch lease (or wait for the replica that holds it, taking over if it dies), send the request (conditional when a
//! cached copy is being revalidated), then either stream the body into the spool and commit it,
//! or resolve every waiter with the cached copy, a not-found, a stale copy or an error.
//!
//! A fetch with [`Fetch::revalidate_by_digest`] revalidates its cached copy with a HEAD first:
//! when the upstream's `Docker-Content-Digest` is the cached digest, the copy is renewed without
//! a GET; otherwise (moved, or no digest named) the GET follows as usual.

use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;

use super::breaker::{Admission, Breaker};
use super::spool::Spool;
use super::upstream::{Upstream, UpstreamError, UpstreamHead, Validators};
use super::{CacheStatus, Fetch, FetchError, RemoteDeps, Resolution};
use crate::catalog::{CachedObject, CatalogError, ObjectKey};
use crate::coord::{keys, Coordinator, LockToken};
use crate::events::{Event, EventKind};
use crate::integrity::{Checker, Integrity};
use crate::storage::{Commit, Staged};

/// The cross-replica fetch lock is a lease: it lives this long unless its holder renews it.
/// The holder renews it every [`LEASE_RENEWAL`] for as long as its fill runs (a fill ends: the
/// upstream client's connect and read timeouts bound every stall), so a fill of any length
/// keeps it, and a replica that dies mid-fetch (`kill -9`, a lost host) frees it within one
/// lease: the next replica waiting on it takes it over and fetches once.
const FETCH_LEASE: Duration = Duration::from_secs(6);
const LEASE_RENEWAL: Duration = Duration::from_secs(2);
/// How often a replica waiting on another's fetch looks for the result.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// Everything one fill needs.
pub struct FillJob {
    pub key: ObjectKey,
    pub fetch: Fetch,
    /// The cached copy being revalidated, if any.
    pub cached: Option<CachedObject>,
    /// Freshness to record after success (`None`: forever).
    pub ttl: Option<Duration>,
    pub negative_ttl: Duration,
    /// Which upstream URL a not-found is recorded for ([`super::upstream_id`]).
    pub upstream_id: String,
    pub upstream: Rc<Upstream>,
    pub breaker: Breaker,
    pub deps: RemoteDeps,
}

impl FillJob {
    fn emit(&self, event: Event) {
        self.deps.events.emit(event.repo(&self.key.repo).path(&self.key.path));
    }

    /// Runs the fill; returns the object now in the catalog when bytes were committed.
    pub async fn run(self, spool: &Spool) -> Option<CachedObject> {
        let started = Instant::now();
        let admission = match self.breaker.admit().await {
            Ok(a) => a,
            Err(open) => {
                self.fall_back(spool, FetchError::BreakerOpen { retry_after: open.retry_after });
                return None;
            }
        };
        let lock = match self.fetch_lock().await {
            Ok(lock) => lock,
            Err(outcome) => {
                // Another replica fetched it while we waited.
                self.breaker.success(admission).await;
                spool.resolve(outcome);
                return None;
            }
        };
        self.emit(Event::new(EventKind::FetchStarted));
        let Some(admission) = self.head_revalidation(spool, admission, started).await else {
            self.unlock(lock).await;
            return None;
        };
        let validators = self
            .cached
            .as_ref()
            .map(|o| Validators { etag: o.upstream_etag.clone(), last_modified: o.upstream_last_modified.clone() });
        let scope = self.fetch.token_scope.as_deref();
        let result =
            self.upstream.get(&self.fetch.upstream_url, &self.fetch.forward_headers, validators.as_ref(), scope).await;
        let committed = match result {
            Err(e) => {
                self.upstream_failed(spool, admission, e, started).await;
                None
            }
            Ok((head, body)) => match head.status {
                200 => self.stream(spool, admission, head, body, started).await,
                304 if self.cached.is_some() => {
                    self.breaker.success(admission).await;
                    self.revalidated(spool, head).await;
                    None
                }
                404 | 410 => {
                    self.not_found(spool, admission, head.status, started).await;
                    None
                }
                status => {
                    let e = UpstreamError::Status { status, message: describe_status(&head) };
                    self.upstream_failed(spool, admission, e, started).await;
                    None
                }
            },
        };
        self.unlock(lock).await;
        committed
    }

    async fn unlock(&self, lock: Option<Lease>) {
        if let Some(lease) = lock {
            lease.renewal.abort();
            let key = keys::fetch_lock(&self.key.repo, &self.key.coord_key());
            let _ = self.deps.coord.unlock(&key, &lease.token).await;
        }
    }

    /// The upstream has no such object: remember that for `negative_ttl`.
    async fn not_found(&self, spool: &Spool, admission: Admission, status: u16, started: Instant) {
        self.breaker.success(admission).await;
        let _ = self
            .deps
            .coord
            .set_negative(&self.key.repo, &self.key.coord_key(), &self.upstream_id, self.negative_ttl)
            .await;
        self.emit(Event::new(EventKind::FetchFailed).status(status).duration(started.elapsed()));
        spool.resolve(Resolution::NotFound { status });
    }

    /// For a fetch that revalidates by digest and has a cached copy: a HEAD upstream. Gives the
    /// admission back when the GET must follow; otherwise the spool is resolved (renewed, not
    /// found, stale or failed) and the admission used up.
    async fn head_revalidation(&self, spool: &Spool, admission: Admission, started: Instant) -> Option<Admission> {
        let Some(cached) = self.cached.as_ref().filter(|_| self.fetch.revalidate_by_digest) else {
            return Some(admission);
        };
        let scope = self.fetch.token_scope.as_deref();
        let head = match self.upstream.head(&self.fetch.upstream_url, &self.fetch.forward_headers, scope).await {
            Ok(head) => head,
            Err(e) => {
                self.upstream_failed(spool, admission, e, started).await;
                return None;
            }
        };
        match head.status {
            200 if head.digest.as_deref() == Some(cached.digest.to_string().as_str()) => {
                self.breaker.success(admission).await;
                self.revalidated(spool, head).await;
                None
            }
            // Moved, or no digest named: the GET decides (one admission per fill).
            200 => Some(admission),
            404 | 410 => {
                self.not_found(spool, admission, head.status, started).await;
                None
            }
            status => {
                let e = UpstreamError::Status { status, message: describe_status(&head) };
                self.upstream_failed(spool, admission, e, started).await;
                None
            }
        }
    }

    /// Takes the cross-replica fetch lease, or waits for the replica holding it to finish and
    /// returns what it cached. A holder that stops renewing (it died) loses the lease after
    /// [`FETCH_LEASE`], and one waiter takes it over. A coordinator that does not answer means
    /// fetching without a lock.
    async fn fetch_lock(&self) -> Result<Option<Lease>, Resolution> {
        let key = keys::fetch_lock(&self.key.repo, &self.key.coord_key());
        let mut waited = false;
        loop {
            match self.deps.coord.try_lock(&key, FETCH_LEASE).await {
                Ok(Some(token)) => {
                    let lease = Lease::hold(self.deps.coord.clone(), key, token);
                    // The holder may have committed between our last look and its release.
                    if waited {
                        if let Some(done) = self.fetched_meanwhile().await {
                            self.unlock(Some(lease)).await;
                            return Err(done);
                        }
                    }
                    return Ok(Some(lease));
                }
                Err(_) => return Ok(None),
                Ok(None) => tokio::time::sleep(LOCK_POLL).await,
            }
            waited = true;
            if let Some(done) = self.fetched_meanwhile().await {
                return Err(done);
            }
        }
    }

    /// The copy another replica cached while this one waited for its lease, if any.
    async fn fetched_meanwhile(&self) -> Option<Resolution> {
        let obj = self.deps.catalog.lookup(&self.key).await.ok()??;
        let renewed = self.cached.as_ref().is_none_or(|c| c.fetched_at < obj.fetched_at);
        renewed.then_some(Resolution::Cached { object: obj, status: CacheStatus::Hit })
    }

    /// Upstream failure: report it, count it (the event comes before any breaker change it
    /// causes), then serve the cached copy as stale or fail.
    async fn upstream_failed(&self, spool: &Spool, admission: Admission, e: UpstreamError, started: Instant) {
        tracing::warn!(repo = %self.key.repo, path = %self.key.path, error = %e, "upstream fetch failed");
        let mut event = Event::new(EventKind::FetchFailed).duration(started.elapsed()).detail(e.to_string().into());
        if let UpstreamError::Status { status, .. } = &e {
            event = event.status(*status);
        }
        self.emit(event);
        if e.is_upstream_fault() {
            self.breaker.failure(admission).await;
        } else {
            self.breaker.success(admission).await;
        }
        self.fall_back(spool, FetchError::Upstream(e));
    }

    /// Serves the cached copy (stale) when there is one, else the error. The `cache_stale`
    /// events are emitted by the service, one per response served stale.
    fn fall_back(&self, spool: &Spool, error: FetchError) {
        match &self.cached {
            Some(obj) => {
                tracing::debug!(repo = %self.key.repo, path = %self.key.path, error = %error, "serving a stale copy");
                spool.resolve(Resolution::Cached { object: obj.clone(), status: CacheStatus::Stale });
            }
            None => spool.resolve(Resolution::Failed(error)),
        }
    }

    /// A 304: the cached bytes are still right; renew their freshness and validators.
    async fn revalidated(&self, spool: &Spool, head: UpstreamHead) {
        let Some(mut obj) = self.cached.clone() else { return };
        if head.etag.is_some() {
            obj.upstream_etag = head.etag;
        }
        if head.last_modified.is_some() {
            obj.upstream_last_modified = head.last_modified;
        }
        let renewed = self
            .deps
            .catalog
            .renew_object(&self.key, obj.upstream_etag.as_deref(), obj.upstream_last_modified.as_deref())
            .await;
        if let Err(e) = renewed {
            tracing::warn!(repo = %self.key.repo, error = %e, "could not record revalidation");
        }
        let _ = self.deps.coord.set_fresh(&self.key.repo, &self.key.coord_key(), self.ttl).await;
        self.emit(Event::new(EventKind::Revalidated).status(304));
        spool.resolve(Resolution::Cached { object: obj, status: CacheStatus::Revalidated });
    }

    /// A 200: stream the body into the spool, verify it, commit it.
    async fn stream(
        &self,
        spool: &Spool,
        admission: Admission,
        head: UpstreamHead,
        mut body: super::upstream::UpstreamBody,
        started: Instant,
    ) -> Option<CachedObject> {
        let staging = async {
            let writer = self.deps.staging.create().await?;
            let reader = std::fs::File::open(writer.path())?;
            Ok::<_, std::io::Error>((writer, reader))
        };
        let (mut writer, reader) = match staging.await {
            Ok(pair) => pair,
            Err(e) => {
                self.breaker.success(admission).await;
                self.emit(Event::new(EventKind::FetchFailed).duration(started.elapsed()).detail(e.to_string().into()));
                self.fall_back(spool, FetchError::Storage(e.to_string()));
                return None;
            }
        };
        // A document is held until its parser accepted it: clients get it from the store once
        // committed, or the cached copy (stale) when the new one is refused or cut short.
        let held = self.fetch.document.is_some();
        if !held {
            spool.start_streaming(head.clone(), reader);
        }
        let mut checker = self.fetch.integrity.as_ref().and_then(Integrity::checker);
        while let Some(chunk) = body.next().await {
            let written = match chunk {
                Ok(bytes) => {
                    if let Some(c) = checker.as_mut() {
                        c.update(&bytes);
                    }
                    writer.write(&bytes).await.map_err(|e| FetchError::Storage(e.to_string()))
                }
                Err(e) => Err(FetchError::Upstream(e)),
            };
            if let Err(e) = written {
                writer.abort().await;
                tracing::warn!(repo = %self.key.repo, path = %self.key.path, error = %e, "fill failed mid-body");
                self.emit(Event::new(EventKind::FetchFailed).duration(started.elapsed()).detail(e.to_string().into()));
                if let FetchError::Upstream(_) = e {
                    self.breaker.failure(admission).await;
                } else {
                    self.breaker.success(admission).await;
                }
                self.refuse(spool, held, e);
                return None;
            }
            if !held {
                spool.progress(writer.written());
            }
        }
        self.breaker.success(admission).await;
        let staged = match writer.finish().await {
            Ok(staged) => staged,
            Err(e) => {
                self.emit(Event::new(EventKind::FetchFailed).duration(started.elapsed()).detail(e.to_string().into()));
                self.refuse(spool, held, FetchError::Storage(e.to_string()));
                return None;
            }
        };
        if let Err(e) = self.verify(&staged, checker).await {
            tracing::warn!(repo = %self.key.repo, path = %self.key.path, error = %e, "fetched body refused");
            staged.discard().await;
            self.emit(Event::new(EventKind::FetchFailed).duration(started.elapsed()).detail(e.to_string().into()));
            self.refuse(spool, held, e);
            return None;
        }
        if !held {
            spool.complete(staged.size);
            return self.commit(spool, staged, head, started).await;
        }
        let committed = self.commit(spool, staged, head, started).await;
        spool.resolve(match &committed {
            Some(object) => Resolution::Cached { object: object.clone(), status: CacheStatus::Miss },
            None => Resolution::Failed(FetchError::Storage("the document could not be cached".into())),
        });
        committed
    }

    /// A body that will not be cached: readers of a streaming body see their stream fail (a
    /// cut connection, never a short 200); for a held document the cached copy is served
    /// stale, or the error is the answer.
    fn refuse(&self, spool: &Spool, held: bool, e: FetchError) {
        if held {
            self.fall_back(spool, e);
        } else {
            spool.fail(e.to_string());
        }
    }

    /// Checks a complete body against everything the fetch knows it must be: the expected
    /// digest, the index's integrity record, and for documents the package type's parser.
    async fn verify(&self, staged: &Staged, checker: Option<Checker>) -> Result<(), FetchError> {
        if let Some(expected) = self.fetch.expected {
            if expected != staged.digest {
                return Err(FetchError::DigestMismatch { expected, actual: staged.digest });
            }
        }
        if let Some(integrity) = &self.fetch.integrity {
            if !integrity.matches(&staged.digest, checker) {
                return Err(FetchError::IntegrityMismatch(integrity.clone()));
            }
        }
        if let Some(check) = self.fetch.document.clone() {
            let path = staged.path.clone();
            let _permit = self.deps.documents.acquire().await;
            let checked = tokio::task::spawn_blocking(move || {
                let body = std::fs::read(&path).map_err(|e| format!("reading the staged document: {e}"))?;
                check.check(&body)
            })
            .await;
            crate::memory::release();
            match checked {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return Err(FetchError::InvalidDocument(why)),
                Err(e) => return Err(FetchError::InvalidDocument(format!("check did not finish: {e}"))),
            }
        }
        Ok(())
    }

    async fn commit(
        &self,
        spool: &Spool,
        staged: Staged,
        head: UpstreamHead,
        started: Instant,
    ) -> Option<CachedObject> {
        let object = CachedObject {
            key: self.key.clone(),
            digest: staged.digest,
            size: staged.size,
            content_type: head.content_type,
            upstream_etag: head.etag,
            upstream_last_modified: head.last_modified,
            mutable: self.fetch.mutable,
            fetched_at: Utc::now(),
        };
        let size = staged.size;
        let commit = Commit { staged, expected: self.fetch.expected, object: Some(object.clone()) };
        match self.deps.storage.send(commit).await {
            Ok(Ok(_)) => {
                if self.ttl.is_some() || self.fetch.mutable {
                    let _ = self.deps.coord.set_fresh(&self.key.repo, &self.key.coord_key(), self.ttl).await;
                }
                self.emit(
                    Event::new(EventKind::FetchCompleted)
                        .status(200)
                        .size(size)
                        .duration(started.elapsed())
                        .detail(serde_json::json!({ "waiters": spool.waiters() })),
                );
                Some(object)
            }
            Ok(Err(e)) => {
                tracing::error!(repo = %self.key.repo, path = %self.key.path, error = %e, "commit failed");
                self.not_cached(size, started, format!("commit failed: {e}"));
                None
            }
            Err(e) => {
                tracing::error!(repo = %self.key.repo, error = %e, "storage actor unavailable");
                self.not_cached(size, started, format!("storage actor unavailable: {e}"));
                None
            }
        }
    }

    /// The body reached the clients but could not be cached.
    fn not_cached(&self, size: u64, started: Instant, why: String) {
        let event = Event::new(EventKind::FetchFailed).status(200).size(size).duration(started.elapsed());
        self.emit(event.detail(format!("not cached: {why}").into()));
    }
}

fn describe_status(head: &UpstreamHead) -> String {
    let kind = head.content_type.as_deref().unwrap_or("no content type");
    format!("non-cacheable upstream answer ({kind})")
}

impl From<CatalogError> for FetchError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Unavailable(m) => FetchError::CatalogUnavailable(m),
            other => FetchError::Catalog(other.to_string()),
        }
    }
}

/// A held fetch lease and the task renewing it; [`FillJob::unlock`] ends both, and a fill
/// dropped on the way (its task cancelled) stops renewing, so the lease runs out.
struct Lease {
    token: LockToken,
    renewal: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Starts renewing `token`'s hold on `key` every [`LEASE_RENEWAL`] until aborted.
    fn hold(coord: std::sync::Arc<dyn Coordinator>, key: String, token: LockToken) -> Lease {
        let held = token.clone();
        let renewal = actix_rt::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_RENEWAL).await;
                match coord.renew(&key, &held, FETCH_LEASE).await {
                    Ok(true) => {}
                    // Lost (expired while the coordinator was unreachable, then taken): the fill
                    // goes on, and the other replica's fetch is a duplicate download, never a
                    // wrong byte.
                    Ok(false) => {
                        tracing::warn!(lock = %key, "fetch lease lost; another replica may fetch too");
                        return;
                    }
                    Err(e) => tracing::warn!(lock = %key, error = %e, "could not renew the fetch lease"),
                }
            }
        });
        Lease { token, renewal }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

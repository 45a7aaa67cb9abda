//! One upstream fetch, from breaker admission to commit.
//!
//! A [`FillJob`] runs as its own task (not tied to any client's request), so a client that
//! disconnects never cancels it. Reading top to bottom: ask the breaker, take the cross-replica
//! fetch lease (or wait for the replica that holds it, streaming its fill meanwhile and taking
//! over if it dies: [`super::follow`]), send the request (conditional when a cached copy is
//! being revalidated), then either stream the body into the spool (advertised to the other
//! replicas when `REPLICA_URL` is set: [`super::replica`]) and commit it, or resolve every
//! waiter with the cached copy, a not-found, a stale copy or an error.
//!
//! A fetch with [`Fetch::revalidate_by_digest`] revalidates its cached copy with a HEAD first:
//! when the upstream's `Docker-Content-Digest` is the cached digest, the copy is renewed without
//! a GET; otherwise (moved, or no digest named) the GET follows as usual.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;

use super::breaker::{Admission, Breaker};
use super::follow::{same_length, Prefix, Relay, Waited};
use super::lease::Lease;
use super::replica::Advertised;
use super::spool::Spool;
use super::upstream::{Upstream, UpstreamError, UpstreamHead, Validators};
use super::{CacheStatus, Fetch, FetchError, RemoteDeps, Resolution};
use crate::catalog::{CachedObject, CatalogError, ObjectKey};
use crate::coord::keys;
use crate::events::{Event, EventKind};
use crate::integrity::{Checker, Integrity};
use crate::storage::{Commit, Staged, StagingWriter};

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
    pub async fn run(self, spool: &Arc<Spool>) -> Option<CachedObject> {
        let started = Instant::now();
        let admission = match self.breaker.admit().await {
            Ok(a) => a,
            Err(open) => {
                self.fall_back(spool, FetchError::BreakerOpen { retry_after: open.retry_after });
                return None;
            }
        };
        let (lock, relay) = match self.wait_or_lead(spool).await {
            Waited::Lead(lock, relay) => (lock, relay.map(|r| *r)),
            Waited::Over(object) => {
                // Another replica fetched it while we waited.
                self.breaker.success(admission).await;
                return object;
            }
        };
        self.emit(Event::new(EventKind::FetchStarted));
        // Clients already reading a relay wait for the body: no revalidation by HEAD then.
        let admission =
            if relay.is_some() { Some(admission) } else { self.head_revalidation(spool, admission, started).await };
        let Some(admission) = admission else {
            self.unlock(lock).await;
            return None;
        };
        // Clients reading a relay need the whole body: no conditional request then.
        let validators = self
            .cached
            .as_ref()
            .filter(|_| relay.is_none())
            .map(|o| Validators { etag: o.upstream_etag.clone(), last_modified: o.upstream_last_modified.clone() });
        let scope = self.fetch.token_scope.as_deref();
        let result =
            self.upstream.get(&self.fetch.upstream_url, &self.fetch.forward_headers, validators.as_ref(), scope).await;
        let committed = match result {
            Err(e) => {
                self.upstream_failed(spool, admission, e, started).await;
                self.abandon(spool, relay, "the upstream request failed").await;
                None
            }
            Ok((head, body)) => match head.status {
                200 => self.stream(spool, admission, head, body, started, lock.as_ref(), relay).await,
                status if relay.is_some() => {
                    if status >= 500 {
                        self.breaker.failure(admission).await;
                    } else {
                        self.breaker.success(admission).await;
                    }
                    self.abandon(spool, relay, "the upstream no longer answers 200").await;
                    None
                }
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
            lease.release().await;
        }
    }

    /// Clients already reading a relay cannot be given anything else: their transfer is cut.
    async fn abandon(&self, spool: &Spool, relay: Option<Relay>, why: &str) {
        if let Some(relay) = relay {
            relay.writer.abort().await;
            spool.fail(why.to_string());
        }
    }

    /// A staging file for the body; unless the body is held, the clients start reading it.
    async fn stage(&self, spool: &Spool, head: &UpstreamHead) -> std::io::Result<StagingWriter> {
        let writer = self.deps.staging.create().await?;
        let reader = std::fs::File::open(writer.path())?;
        if self.fetch.document.is_none() {
            spool.start_streaming(head.clone(), reader);
        }
        Ok(writer)
    }

    /// Makes the streaming fill reachable by the other replicas while the lease is held.
    async fn advertise(&self, spool: &Arc<Spool>, head: &UpstreamHead, lease: Option<&Lease>) -> Option<Advertised> {
        let lease = lease?;
        let advertised = self.deps.replicas.register(spool.clone(), head)?;
        let key = keys::fill_advert(&self.key.repo, &self.key.coord_key());
        lease.advertise(key, advertised.value()).await;
        Some(advertised)
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
    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &self,
        spool: &Arc<Spool>,
        admission: Admission,
        head: UpstreamHead,
        mut body: super::upstream::UpstreamBody,
        started: Instant,
        lease: Option<&Lease>,
        relay: Option<Relay>,
    ) -> Option<CachedObject> {
        if relay.as_ref().is_some_and(|r| !same_length(&r.head, &head)) {
            self.breaker.success(admission).await;
            self.abandon(spool, relay, "the upstream's answer differs from the one being relayed").await;
            return None;
        }
        // Clients already reading a relay keep reading it; the upstream's first bytes must be
        // the ones they have.
        let (mut writer, mut prefix) = match relay {
            Some(relay) => {
                let prefix = Prefix::new(&relay);
                (relay.writer, Some(prefix))
            }
            None => match self.stage(spool, &head).await {
                Ok(writer) => (writer, None),
                Err(e) => {
                    self.breaker.success(admission).await;
                    self.emit(
                        Event::new(EventKind::FetchFailed).duration(started.elapsed()).detail(e.to_string().into()),
                    );
                    self.fall_back(spool, FetchError::Storage(e.to_string()));
                    return None;
                }
            },
        };
        // A document is held until its parser accepted it: clients get it from the store once
        // committed, or the cached copy (stale) when the new one is refused or cut short.
        let held = self.fetch.document.is_some();
        let advertised = if held { None } else { self.advertise(spool, &head, lease).await };
        let mut checker = self.fetch.integrity.as_ref().and_then(Integrity::checker);
        let mut covered = true;
        while let Some(chunk) = body.next().await {
            let written = match chunk {
                Ok(bytes) => {
                    if let Some(c) = checker.as_mut() {
                        c.update(&bytes);
                    }
                    let rest = match prefix.as_mut() {
                        Some(p) => p.beyond(bytes).await.map_err(FetchError::Body),
                        None => Ok(bytes),
                    };
                    match rest {
                        Ok(rest) if rest.is_empty() => Ok(()),
                        Ok(rest) => writer.write(&rest).await.map_err(|e| FetchError::Storage(e.to_string())),
                        Err(e) => Err(e),
                    }
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
        if let Some(p) = &prefix {
            covered = p.covered();
        }
        self.breaker.success(admission).await;
        let staged = match writer.finish().await {
            Ok(staged) if covered => staged,
            Ok(staged) => {
                staged.discard().await;
                self.refuse(
                    spool,
                    held,
                    FetchError::Body("the upstream's body is shorter than what was already sent".into()),
                );
                return None;
            }
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
            let committed = self.commit(spool, staged, head, started).await;
            if let Some(a) = advertised {
                a.finish(committed.is_some());
            }
            return committed;
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

//! The remote actor: one per configured remote, owning what must not be shared between remotes.
//!
//! It owns the upstream client, the in-flight map (one fill per object, however many clients
//! ask), a small map of hot immutable objects (so cache hits on objects that never change skip
//! the catalog round trip) and hit counters flushed to the catalog in batches. Every message
//! answers quickly: catalog and coordinator look-ups run as futures that do not block the
//! mailbox, and fills run as tasks of their own.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::breaker::Breaker;
use super::fill::FillJob;
use super::hot::HotObjects;
use super::netguard::ReachPolicy;
use super::spool::Spool;
use super::tls::TrustStore;
use super::upstream::{Upstream, UpstreamSettings};
use super::{CacheStatus, Fetch, FetchError, FetchOutcome, RemoteSettings};
use crate::catalog::{CachedObject, Catalog, HitBatch, ObjectKey};
use crate::coord::Coordinator;
use crate::events::{Event, EventKind, EventSink};
use crate::storage::{StagingArea, StorageActor};

/// How often hit counts go to the catalog.
const HIT_FLUSH: Duration = Duration::from_secs(5);

/// The shared services a remote actor uses.
#[derive(Clone)]
pub struct RemoteDeps {
    pub catalog: Arc<dyn Catalog>,
    pub coord: Arc<dyn Coordinator>,
    pub storage: Addr<StorageActor>,
    pub staging: StagingArea,
    pub events: Arc<dyn EventSink>,
    /// Permits for work on whole documents (checking a package index before it is cached),
    /// shared with the service's document renderings: at most that many large documents are
    /// held in memory at once, however many are fetched.
    pub documents: Arc<tokio::sync::Semaphore>,
    /// Upstream TLS trust and the client configurations built on it.
    pub trust: Arc<TrustStore>,
    /// The upstreams' announced quotas, per remote (for `/metrics`).
    pub rate_limits: Arc<super::ratelimit::RateLimits>,
    /// Where a replica waiting on another's fill reads the committed copy to finish a relay.
    pub store: Arc<dyn crate::storage::BlobStore>,
    /// Fills streamed to other replicas (`REPLICA_URL`), and counts of such streams.
    pub replicas: Arc<super::replica::ReplicaFills>,
}

pub struct RemoteActor {
    settings: RemoteSettings,
    deps: RemoteDeps,
    upstream: Option<Rc<Upstream>>,
    inflight: HashMap<ObjectKey, Arc<Spool>>,
    hot: Arc<HotObjects>,
    /// Hits on objects that are not hot (mutable, or with a finite TTL).
    hits: HashMap<ObjectKey, (u64, DateTime<Utc>)>,
    /// Bumped by every [`Forget`]: a catalog answer read before an eviction must not put the
    /// evicted object back into the hot map after it.
    generation: u64,
}

impl RemoteActor {
    /// A remote actor; `hot` is shared with the HTTP handlers (see [`HotObjects`]).
    pub fn new(settings: RemoteSettings, deps: RemoteDeps, hot: Arc<HotObjects>) -> Self {
        RemoteActor {
            settings,
            deps,
            upstream: None,
            inflight: HashMap::new(),
            hot,
            hits: HashMap::new(),
            generation: 0,
        }
    }

    fn upstream(&mut self) -> Rc<Upstream> {
        self.upstream
            .get_or_insert_with(|| {
                let s = &self.settings;
                Rc::new(Upstream::new(UpstreamSettings {
                    connect_timeout: s.connect_timeout,
                    read_timeout: s.read_timeout,
                    credentials: s.credentials.clone(),
                    realms: super::auth::RealmPolicy::new(&s.base_url, &s.token_realm_hosts),
                    reach: ReachPolicy::for_remote(&s.name, &s.base_url, s.allow_private_upstreams),
                    tls: self.deps.trust.client_config(&s.tls),
                    rate_limits: Some(super::ratelimit::RateLimitSink {
                        remote: s.name.clone(),
                        limits: self.deps.rate_limits.clone(),
                    }),
                }))
            })
            .clone()
    }

    /// Says loudly that this remote does not verify its upstream's certificate.
    fn warn_insecure(&self) {
        if self.settings.tls.skip_verify {
            tracing::warn!(
                remote = %self.settings.name,
                base_url = %self.settings.base_url,
                "tls_insecure_skip_verify is set: the upstream's TLS certificate is NOT verified; anyone between \
                 this server and the upstream can read and change what is cached"
            );
        }
    }

    fn breaker(&self) -> Breaker {
        Breaker {
            repo: self.settings.name.clone(),
            threshold: self.settings.breaker_threshold,
            open_for: self.settings.breaker_open,
            probe_timeout: self.settings.connect_timeout + self.settings.read_timeout,
            coord: self.deps.coord.clone(),
            events: self.deps.events.clone(),
        }
    }

    /// Freshness of a newly cached or revalidated object: `None` means forever.
    fn ttl(&self, mutable: bool) -> Option<Duration> {
        if mutable {
            Some(self.settings.mutable_ttl)
        } else if self.settings.immutable_ttl.is_zero() {
            None
        } else {
            Some(self.settings.immutable_ttl)
        }
    }

    /// Counts a hit for the catalog's `hits`/`last_access`. The `cache_hit` event is emitted
    /// by the service once the response has been sent (hot-object hits never reach the actor).
    fn count_hit(&mut self, key: &ObjectKey) {
        let entry = self.hits.entry(key.clone()).or_insert((0, Utc::now()));
        entry.0 += 1;
        entry.1 = Utc::now();
    }

    /// Joins `spool`, a fill in progress for `key`, announcing the coalesced request.
    fn coalesce(&self, key: &ObjectKey, spool: &Spool) {
        let waiters = spool.add_waiter();
        self.deps.events.emit(
            Event::new(EventKind::Coalesced)
                .repo(&key.repo)
                .path(&key.path)
                .detail(serde_json::json!({ "waiters": waiters })),
        );
    }

    fn flush_hits(&mut self) {
        let mut batch = self.hot.drain_hits();
        batch.extend(self.hits.drain().map(|(key, (hits, last_access))| HitBatch { key, hits, last_access }));
        if batch.is_empty() {
            return;
        }
        let catalog = self.deps.catalog.clone();
        actix_rt::spawn(async move {
            if let Err(e) = catalog.record_hits(&batch).await {
                tracing::warn!(error = %e, entries = batch.len(), "could not record hits");
            }
        });
    }

    /// Starts a fill for `key` and registers it as in flight.
    fn start_fill(
        &mut self,
        key: ObjectKey,
        fetch: Fetch,
        cached: Option<CachedObject>,
        ctx: &mut Context<Self>,
    ) -> Arc<Spool> {
        let spool = Spool::new();
        self.inflight.insert(key.clone(), spool.clone());
        let upstream_id = super::upstream_id(&fetch.upstream_url);
        let job = FillJob {
            key: key.clone(),
            ttl: self.ttl(fetch.mutable),
            fetch,
            cached,
            negative_ttl: self.settings.negative_ttl,
            upstream_id,
            upstream: self.upstream(),
            breaker: self.breaker(),
            deps: self.deps.clone(),
        };
        let addr = ctx.address();
        let fill = spool.clone();
        actix_rt::spawn(async move {
            let object = job.run(&fill).await;
            addr.do_send(FillDone { key, spool: fill, object });
        });
        spool
    }

    /// Whether cached objects of this class never need the coordinator to be fresh.
    fn fresh_forever(&self, mutable: bool) -> bool {
        !mutable && self.settings.immutable_ttl.is_zero()
    }
}

impl Actor for RemoteActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(HIT_FLUSH, |act, _| act.flush_hits());
        tracing::info!(remote = %self.settings.name, base_url = %self.settings.base_url, "remote started");
        self.warn_insecure();
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.flush_hits();
        tracing::info!(remote = %self.settings.name, "remote stopped");
    }
}

impl Handler<Fetch> for RemoteActor {
    type Result = ResponseActFuture<Self, FetchOutcome>;

    fn handle(&mut self, fetch: Fetch, _ctx: &mut Context<Self>) -> Self::Result {
        let key = ObjectKey::new(&self.settings.name, &fetch.path, &fetch.variant);
        if let Some(object) = self.hot.hit(&key) {
            return Box::pin(actix::fut::ready(FetchOutcome::Cached { object, status: CacheStatus::Hit }));
        }
        if let Some(spool) = self.inflight.get(&key).filter(|s| !s.is_settled()).cloned() {
            self.coalesce(&key, &spool);
            return Box::pin(async move { spool.join().await }.into_actor(self));
        }
        let catalog = self.deps.catalog.clone();
        let coord = self.deps.coord.clone();
        let forever = self.fresh_forever(fetch.mutable);
        let generation = self.generation;
        let upstream_id = super::upstream_id(&fetch.upstream_url);
        let lookup = async move {
            let cached = catalog.lookup(&key).await;
            let fresh = match &cached {
                Ok(Some(_)) if forever => true,
                // A coordinator that does not answer must not turn hits into upstream traffic.
                Ok(Some(_)) => coord.is_fresh(&key.repo, &key.coord_key()).await.unwrap_or(true),
                _ => false,
            };
            let negative = match &cached {
                Ok(None) => coord.is_negative(&key.repo, &key.coord_key(), &upstream_id).await.unwrap_or(false),
                _ => false,
            };
            (key, cached, fresh, negative)
        };
        Box::pin(lookup.into_actor(self).then(move |(key, cached, fresh, negative), act, ctx| {
            let outcome: std::pin::Pin<Box<dyn std::future::Future<Output = FetchOutcome>>> = match cached {
                Err(e) => Box::pin(std::future::ready(FetchOutcome::Failed(FetchError::from(e)))),
                Ok(Some(object)) if fresh => {
                    if forever && act.generation == generation {
                        act.hot.insert(object.clone());
                    }
                    act.count_hit(&key);
                    Box::pin(std::future::ready(FetchOutcome::Cached { object, status: CacheStatus::Hit }))
                }
                Ok(None) if negative => Box::pin(std::future::ready(FetchOutcome::NotFound { status: 404 })),
                Ok(cached) => {
                    let spool = match act.inflight.get(&key).filter(|s| !s.is_settled()).cloned() {
                        Some(spool) => {
                            // Another request started the fill while this one looked it up.
                            act.coalesce(&key, &spool);
                            spool
                        }
                        None => act.start_fill(key, fetch, cached, ctx),
                    };
                    Box::pin(async move { spool.join().await })
                }
            };
            outcome.into_actor(act)
        }))
    }
}

/// A fill ended: forget it and remember what it cached.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FillDone {
    pub key: ObjectKey,
    pub spool: Arc<Spool>,
    pub object: Option<CachedObject>,
}

impl Handler<FillDone> for RemoteActor {
    type Result = ();

    fn handle(&mut self, done: FillDone, _ctx: &mut Context<Self>) {
        if self.inflight.get(&done.key).is_some_and(|s| Arc::ptr_eq(s, &done.spool)) {
            self.inflight.remove(&done.key);
        }
        if let Some(object) = done.object {
            if self.fresh_forever(object.mutable) {
                self.hot.insert(object);
            } else {
                self.hot.remove(&done.key);
            }
        }
    }
}

/// Forget cached knowledge of objects under a path prefix (after eviction, or when a cached
/// blob turned out to be missing).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget {
    pub prefix: String,
}

impl Handler<Forget> for RemoteActor {
    type Result = ();

    fn handle(&mut self, msg: Forget, _ctx: &mut Context<Self>) {
        self.generation = self.generation.wrapping_add(1);
        self.hot.forget_prefix(&msg.prefix);
    }
}

/// New configuration for this remote, applied without a restart.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reconfigure(pub RemoteSettings);

impl Handler<Reconfigure> for RemoteActor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, _ctx: &mut Context<Self>) {
        if msg.0 != self.settings {
            tracing::info!(remote = %self.settings.name, "remote reconfigured");
            let was_insecure = self.settings.tls.skip_verify;
            self.settings = msg.0;
            self.upstream = None;
            self.hot.forget_prefix("");
            if !was_insecure {
                self.warn_insecure();
            }
        }
    }
}

/// Stop the actor (the remote was deleted).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for RemoteActor {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

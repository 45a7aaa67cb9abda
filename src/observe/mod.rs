//! Observing the proxy: one record per proxied request, and what is made of it.
//!
//! A proxy handler opens a [`Tap`] when a request arrives and closes it on its result (errors
//! included); the response body is wrapped so the [`Record`] (repository, path, method, status,
//! cache status, bytes actually sent, duration, client) is made once, when the body has been sent
//! or dropped. The [`Observer`] then feeds it, without blocking and without a database round trip,
//! to:
//! - the per-repository stats counters (atomics; flushed to `repo_stats` every few seconds by
//!   [`stats`], so `/api/v2/stats` is cluster-wide and survives restarts),
//! - the Prometheus metrics ([`metrics`], rendered at `/metrics` by [`scrape`]),
//! - the access-log queue ([`access_log`]; batched inserts, dropped and counted when full),
//! - the event bus, as `cache_hit` / `cache_stale` events.
//!
//! The actors' own events (upstream fetches, breakers, GC) reach the metrics and counters through
//! [`sink::ObservedSink`], the event sink the actors are given.
//!
//! Files: [`record`] (the record), [`tap`] and [`body`] (making it), [`repos`] (per-repository
//! counters and metric handles), [`metrics`], [`sink`], [`stats`], [`access_log`], [`scrape`],
//! [`query`] (the endpoints' query strings), [`recent`] (last failures and GC report, for the
//! dashboard), [`history`] (requests per 10 s over 15 minutes, for the dashboard's chart),
//! [`dependencies`] (PostgreSQL, storage and coordinator faults as events and metrics).

pub mod access_log;
pub mod body;
pub mod dependencies;
pub mod history;
pub mod metrics;
pub mod query;
pub mod recent;
pub mod record;
pub mod repos;
pub mod scrape;
pub mod sink;
pub mod stats;
pub mod tap;

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use artifactapi_actors::coord::Coordinator;
use artifactapi_actors::events::{Event, EventKind, EventSink};

pub use record::{CacheLabel, Record};
pub use tap::Tap;

use access_log::{AccessQueue, AccessWriter};
use metrics::{Metrics, MetricsError};
use repos::{RepoObs, Repos};
use stats::{Stats, StatsReport};
use tap::RecordSink;

use crate::db::{Db, DbError};
use crate::formats::PackageType;

/// How often this replica's stats counters are added to the database.
pub const STATS_FLUSH: Duration = Duration::from_secs(5);

pub struct Observer {
    metrics: Arc<Metrics>,
    repos: Arc<Repos>,
    recent: Arc<recent::Recent>,
    history: history::History,
    stats: Stats,
    access: AccessQueue,
    /// The event bus, for cache hit/stale events.
    events: Arc<dyn EventSink>,
    scraping: tokio::sync::Mutex<()>,
}

/// The background halves [`Observer::start`] runs.
pub struct Background {
    writer: AccessWriter,
}

impl Observer {
    /// An observer publishing cache events to `events` (the event bus).
    pub fn new(events: Arc<dyn EventSink>) -> Result<(Arc<Observer>, Background), MetricsError> {
        let metrics = Arc::new(Metrics::new()?);
        let repos = Arc::new(Repos::default());
        let (access, writer) = access_log::queue();
        let observer = Observer {
            stats: Stats::new(repos.clone()),
            metrics,
            repos,
            recent: Arc::default(),
            history: history::History::default(),
            access,
            events,
            scraping: tokio::sync::Mutex::new(()),
        };
        Ok((Arc::new(observer), Background { writer }))
    }

    /// Starts the access-log writer, its retention and the stats flusher on the current runtime.
    pub fn start(self: &Arc<Self>, background: Background, db: Db, retention_days: u32) {
        actix_rt::spawn(access_log::run_writer(background.writer, db.clone(), self.metrics.clone()));
        actix_rt::spawn(access_log::run_retention(db.clone(), retention_days));
        let this = self.clone();
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(STATS_FLUSH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = this.stats.flush(&db).await {
                    this.metrics.stats_flush_failures.inc();
                    tracing::warn!(error = %e, "stats not flushed; kept for the next try");
                }
            }
        });
    }

    /// Writes what is still in memory (at shutdown).
    pub async fn flush(&self, db: &Db) {
        if let Err(e) = self.stats.flush(db).await {
            tracing::warn!(error = %e, "stats not flushed at shutdown");
        }
        self.access.flush().await;
    }

    /// Wraps the actors' event sink so their events feed the metrics and counters.
    pub fn sink(&self, inner: Arc<dyn EventSink>) -> Arc<dyn EventSink> {
        Arc::new(sink::ObservedSink::new(inner, self.metrics.clone(), self.repos.clone(), self.recent.clone()))
    }

    /// Upstream failures and GC reports as this replica saw them (for the dashboard).
    pub fn recent(&self) -> &recent::Recent {
        &self.recent
    }

    /// Requests from cache and missed per 10 s over the last 15 minutes, on this replica.
    pub fn history(&self) -> Vec<(i64, u64, u64)> {
        self.history.snapshot(chrono::Utc::now().timestamp())
    }

    /// Opens the recording of a proxied request.
    pub fn tap(self: &Arc<Self>, req: &HttpRequest) -> Tap {
        Tap::new(self.clone(), req)
    }

    /// The counters of an existing repository, for [`Tap::known`].
    pub fn repo(&self, name: &str, package_type: PackageType) -> Arc<RepoObs> {
        self.repos.for_request(name, package_type)
    }

    /// `GET /api/v2/stats`: every repository, or only `only` (`None` when it does not exist).
    pub async fn stats(
        &self,
        db: &Db,
        coord: &Arc<dyn Coordinator>,
        remotes: Vec<String>,
        only: Option<&str>,
    ) -> Result<Option<StatsReport>, DbError> {
        let names: Vec<String> = match only {
            Some(name) => remotes.into_iter().filter(|r| r == name).collect(),
            None => remotes,
        };
        let breakers = scrape::breaker_states(coord, &names).await;
        self.stats.report(db, only, &breakers).await
    }

    /// `GET /metrics`: the text exposition.
    pub async fn render_metrics(&self, inputs: scrape::ScrapeInputs<'_>) -> Result<String, MetricsError> {
        let _one_at_a_time = self.scraping.lock().await;
        scrape::render(&self.metrics, inputs).await
    }
}

impl RecordSink for Observer {
    fn record(&self, r: Record) {
        if let Some(repo) = &r.known {
            repo.observe_request(&self.metrics, r.cache, r.status, r.bytes, r.duration);
            match r.cache {
                CacheLabel::Hit | CacheLabel::Stale | CacheLabel::Revalidated => {
                    self.history.record(chrono::Utc::now().timestamp(), true)
                }
                CacheLabel::Miss => self.history.record(chrono::Utc::now().timestamp(), false),
                CacheLabel::None => {}
            }
            let kind = match r.cache {
                CacheLabel::Hit => Some(EventKind::CacheHit),
                CacheLabel::Stale => Some(EventKind::CacheStale),
                _ => None,
            };
            if let Some(kind) = kind {
                let event = Event::new(kind).repo(&r.repo).path(&r.path).status(r.status).size(r.bytes);
                self.events.emit(event.duration(r.duration));
            }
        }
        if !self.access.push(r) {
            self.metrics.access_log_dropped.inc();
        }
    }
}

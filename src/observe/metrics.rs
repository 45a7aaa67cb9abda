//! The Prometheus metrics, in a registry of their own, rendered in the text format at `/metrics`.
//!
//! Request metrics are updated from each [`super::Record`] through handles cached per
//! repository ([`super::repos::RepoObs`]), so the request path does atomic increments and no label
//! look-ups; upstream, storage and GC metrics are updated from the actors' events
//! ([`super::sink`]); gauges that describe a state elsewhere (breakers in the coordinator, the
//! database pool, the event bus) are read when scraped ([`super::scrape`]).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Request latency buckets, in seconds: cache hits take well under a millisecond, misses as long
/// as the upstream.
const REQUEST_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Upstream fetch buckets, in seconds (whole transfers, so up to minutes).
const UPSTREAM_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Every metric artifactapi exports.
pub struct Metrics {
    registry: Registry,
    /// `repo`, `type`, `cache`, `status` (`2xx`, `4xx`, ...).
    pub requests: IntCounterVec,
    /// `repo`, `type`, `cache`.
    pub request_duration: HistogramVec,
    /// `repo`, `type`, `cache`.
    pub served_bytes: IntCounterVec,
    /// `repo`, `outcome` (`completed`, `failed`).
    pub upstream_duration: HistogramVec,
    /// `repo`, `outcome` (`completed`, `revalidated`, `not_found`, `failed`).
    pub upstream_fetches: IntCounterVec,
    /// `repo`.
    pub upstream_errors: IntCounterVec,
    /// `repo`.
    pub fetched_bytes: IntCounterVec,
    /// `repo`.
    pub inflight: IntGaugeVec,
    /// `repo`.
    pub coalesced: IntCounterVec,
    /// `repo`: 0 closed, 1 half-open, 2 open.
    pub breaker_state: IntGaugeVec,
    /// `repo`, `to` (`open`, `half_open`, `closed`).
    pub breaker_transitions: IntCounterVec,
    /// `repo`: the upstream's announced quota (`ratelimit-limit`), as last seen by this replica.
    pub upstream_ratelimit_limit: IntGaugeVec,
    /// `repo`: what is left of it (`ratelimit-remaining`).
    pub upstream_ratelimit_remaining: IntGaugeVec,
    pub commits: IntCounter,
    /// `dry_run` (`true`, `false`).
    pub gc_runs: IntCounterVec,
    pub gc_deleted_blobs: IntCounter,
    pub gc_deleted_bytes: IntCounter,
    /// `state` (`max`, `size`, `available`, `waiting`).
    pub db_pool: IntGaugeVec,
    pub events_dropped: IntCounter,
    /// `role`: `served` (to followers on other replicas), `followed` (from a leading replica),
    /// `resumed` (followed streams that carried on after the previous one broke).
    pub replica_streams: IntCounterVec,
    pub access_log_written: IntCounter,
    pub access_log_dropped: IntCounter,
    pub stats_flush_failures: IntCounter,
    /// `dependency` (`database`, `storage`, `coordinator`): 1 while it answers, 0 while not.
    pub dependency_up: IntGaugeVec,
    /// `dependency`: times it was found not answering after answering.
    pub dependency_failures: IntCounterVec,
    pub up: IntGauge,
}

/// A metric that failed to register: only possible with a duplicate or malformed name, a bug.
#[derive(Debug, thiserror::Error)]
#[error("metric registration: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, MetricsError> {
            let m = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let counter1 = |name: &str, help: &str| -> Result<IntCounter, MetricsError> {
            let m = IntCounter::new(name, help)?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, MetricsError> {
            let m = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let histogram =
            |name: &str, help: &str, labels: &[&str], buckets: &[f64]| -> Result<HistogramVec, MetricsError> {
                let m = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)?;
                registry.register(Box::new(m.clone()))?;
                Ok(m)
            };
        let up = IntGauge::new("artifactapi_up", "1 while this replica serves requests")?;
        registry.register(Box::new(up.clone()))?;
        up.set(1);
        let rtc = &["repo", "type", "cache"];
        let metrics = Metrics {
            requests: counter(
                "artifactapi_requests_total",
                "Proxied requests by repository, package type, cache status and status class",
                &["repo", "type", "cache", "status"],
            )?,
            request_duration: histogram(
                "artifactapi_request_duration_seconds",
                "Time from a proxied request's arrival to the end of its response body",
                rtc,
                REQUEST_BUCKETS,
            )?,
            served_bytes: counter("artifactapi_served_bytes_total", "Response body bytes sent to clients", rtc)?,
            upstream_duration: histogram(
                "artifactapi_upstream_fetch_duration_seconds",
                "Duration of upstream fetches (whole transfers), by outcome",
                &["repo", "outcome"],
                UPSTREAM_BUCKETS,
            )?,
            upstream_fetches: counter(
                "artifactapi_upstream_fetches_total",
                "Upstream fetches by outcome (completed, revalidated, not_found, failed)",
                &["repo", "outcome"],
            )?,
            upstream_errors: counter(
                "artifactapi_upstream_errors_total",
                "Upstream fetches that failed (errors, 5xx, timeouts, broken bodies; not 404/410)",
                &["repo"],
            )?,
            fetched_bytes: counter(
                "artifactapi_upstream_fetched_bytes_total",
                "Bytes fetched from upstreams and committed to storage",
                &["repo"],
            )?,
            inflight: gauge("artifactapi_upstream_inflight_fetches", "Upstream fetches in progress", &["repo"])?,
            coalesced: counter(
                "artifactapi_coalesced_waiters_total",
                "Requests that joined a fetch already in progress instead of starting one",
                &["repo"],
            )?,
            breaker_state: gauge(
                "artifactapi_breaker_state",
                "Circuit breaker state per remote: 0 closed, 1 half-open, 2 open",
                &["repo"],
            )?,
            breaker_transitions: counter(
                "artifactapi_breaker_transitions_total",
                "Circuit breaker transitions seen by this replica",
                &["repo", "to"],
            )?,
            upstream_ratelimit_limit: gauge(
                "artifactapi_upstream_ratelimit_limit",
                "Requests the upstream allows per window (its ratelimit-limit header), as last seen",
                &["repo"],
            )?,
            upstream_ratelimit_remaining: gauge(
                "artifactapi_upstream_ratelimit_remaining",
                "Requests the upstream has left for this client (its ratelimit-remaining header), as last seen",
                &["repo"],
            )?,
            commits: counter1("artifactapi_storage_commits_total", "Objects committed to storage")?,
            gc_runs: counter("artifactapi_gc_runs_total", "Garbage collection runs", &["dry_run"])?,
            gc_deleted_blobs: counter1("artifactapi_gc_deleted_blobs_total", "Blobs deleted by garbage collection")?,
            gc_deleted_bytes: counter1("artifactapi_gc_deleted_bytes_total", "Bytes deleted by garbage collection")?,
            db_pool: gauge(
                "artifactapi_db_pool_connections",
                "PostgreSQL pool: max (configured), size (open), available (idle), waiting (callers queued)",
                &["state"],
            )?,
            events_dropped: counter1(
                "artifactapi_events_dropped_total",
                "Events dropped because the event bus queue was full",
            )?,
            replica_streams: counter(
                "artifactapi_replica_streams_total",
                "Fills streamed between replicas while they ran: served to others, followed, resumed",
                &["role"],
            )?,
            access_log_written: counter1("artifactapi_access_log_written_total", "Access log rows written")?,
            access_log_dropped: counter1(
                "artifactapi_access_log_dropped_total",
                "Access log rows dropped (queue full, or the database refused them repeatedly)",
            )?,
            stats_flush_failures: counter1(
                "artifactapi_stats_flush_failures_total",
                "Failed attempts to write stats counters to the database (retried)",
            )?,
            dependency_up: gauge(
                "artifactapi_dependency_up",
                "1 while a service this replica depends on answers its checks, 0 while it does not",
                &["dependency"],
            )?,
            dependency_failures: counter(
                "artifactapi_dependency_failures_total",
                "Times a service this replica depends on stopped answering its checks",
                &["dependency"],
            )?,
            up,
            registry,
        };
        // The process starts only once every dependency answered.
        for name in super::dependencies::NAMES {
            metrics.dependency_up.with_label_values(&[name]).set(1);
        }
        Ok(metrics)
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut out = Vec::with_capacity(16 << 10);
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Sets a counter that mirrors a total kept elsewhere to `total` (never backwards).
    pub fn mirror(counter: &IntCounter, total: u64) {
        let now = counter.get();
        if total > now {
            counter.inc_by(total - now);
        }
    }
}

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_samples() {
        let m = Metrics::new().unwrap();
        m.requests.with_label_values(&["r", "generic", "HIT", "2xx"]).inc_by(3);
        m.request_duration.with_label_values(&["r", "generic", "HIT"]).observe(0.002);
        let text = m.render().unwrap();
        assert!(text.contains("# TYPE artifactapi_requests_total counter"), "{text}");
        assert!(text.contains("artifactapi_requests_total{cache=\"HIT\",repo=\"r\",status=\"2xx\",type=\"generic\"} 3"));
        assert!(text.contains(
            "artifactapi_request_duration_seconds_bucket{cache=\"HIT\",repo=\"r\",type=\"generic\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains("artifactapi_up 1"));
    }

    #[test]
    fn mirrored_counters_only_move_forward() {
        let m = Metrics::new().unwrap();
        Metrics::mirror(&m.events_dropped, 5);
        Metrics::mirror(&m.events_dropped, 3);
        assert_eq!(m.events_dropped.get(), 5);
        Metrics::mirror(&m.events_dropped, 9);
        assert_eq!(m.events_dropped.get(), 9);
    }
}

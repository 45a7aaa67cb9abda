//! State read when asked for: the breaker of every remote (from the coordinator, so every
//! replica reports the same), the upstream quotas this replica last saw, the database pool, the
//! event bus's drops. Used by `/metrics` and
//! `/api/v2/stats`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use artifactapi_actors::coord::Coordinator;
use artifactapi_actors::events::NoEvents;
use artifactapi_actors::remote::breaker::Breaker;
use artifactapi_actors::remote::ratelimit::RateLimit;
use artifactapi_actors::remote::BreakerState;

use super::metrics::{Metrics, MetricsError};
use crate::db::Db;

/// Longest wait for the coordinator's breaker records; past it the states are left out.
const BREAKER_DEADLINE: Duration = Duration::from_secs(3);

/// A breaker to read the shared state of `name`'s with (its settings play no part in reading).
fn reader(coord: &Arc<dyn Coordinator>, name: &str) -> Breaker {
    Breaker {
        repo: name.to_string(),
        threshold: 1,
        open_for: Duration::ZERO,
        probe_timeout: Duration::ZERO,
        coord: coord.clone(),
        events: Arc::new(NoEvents),
    }
}

/// One remote's breaker state and, when it opened, when it lets a probe through again
/// (milliseconds since the epoch); `None` when the coordinator does not answer in time.
pub async fn breaker_detail(coord: &Arc<dyn Coordinator>, name: &str) -> Option<(BreakerState, Option<u64>)> {
    let breaker = reader(coord, name);
    let read = async { (breaker.state().await, breaker.open_until().await) };
    tokio::time::timeout(BREAKER_DEADLINE, read).await.ok()
}

/// The breaker state of each named remote; empty when the coordinator does not answer in time.
pub async fn breaker_states(coord: &Arc<dyn Coordinator>, remotes: &[String]) -> HashMap<String, BreakerState> {
    let lookups = remotes.iter().map(|name| {
        let breaker = reader(coord, name);
        async move { (breaker.repo.clone(), breaker.state().await) }
    });
    match tokio::time::timeout(BREAKER_DEADLINE, futures_util::future::join_all(lookups)).await {
        Ok(states) => states.into_iter().collect(),
        Err(_) => {
            tracing::warn!("breaker states: the coordinator did not answer within {BREAKER_DEADLINE:?}");
            HashMap::new()
        }
    }
}

/// The `artifactapi_breaker_state` value.
pub fn breaker_value(s: BreakerState) -> i64 {
    match s {
        BreakerState::Closed => 0,
        BreakerState::HalfOpen => 1,
        BreakerState::Open => 2,
    }
}

/// What a scrape reads besides the metrics themselves.
pub struct ScrapeInputs<'a> {
    pub db: &'a Db,
    pub coord: &'a Arc<dyn Coordinator>,
    pub remotes: Vec<String>,
    /// The quota each remote's upstream last announced, for the remotes that announced one.
    pub rate_limits: Vec<(String, RateLimit)>,
    pub events_dropped: u64,
    /// Fills streamed between replicas since start.
    pub replica_streams: artifactapi_actors::remote::replica::StreamCounts,
}

/// Updates the read-when-asked gauges, then renders every metric.
pub async fn render(m: &Metrics, inputs: ScrapeInputs<'_>) -> Result<String, MetricsError> {
    let states = breaker_states(inputs.coord, &inputs.remotes).await;
    m.breaker_state.reset();
    for (name, state) in states {
        m.breaker_state.with_label_values(&[name.as_str()]).set(breaker_value(state));
    }
    m.upstream_ratelimit_limit.reset();
    m.upstream_ratelimit_remaining.reset();
    for (name, r) in &inputs.rate_limits {
        let as_gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        m.upstream_ratelimit_limit.with_label_values(&[name.as_str()]).set(as_gauge(r.limit));
        m.upstream_ratelimit_remaining.with_label_values(&[name.as_str()]).set(as_gauge(r.remaining));
    }
    let pool = inputs.db.status();
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    for (state, value) in
        [("max", pool.max_size), ("size", pool.size), ("available", pool.available), ("waiting", pool.waiting)]
    {
        m.db_pool.with_label_values(&[state]).set(as_i64(value));
    }
    Metrics::mirror(&m.events_dropped, inputs.events_dropped);
    let streams = inputs.replica_streams;
    for (role, total) in [("served", streams.served), ("followed", streams.followed), ("resumed", streams.resumed)] {
        Metrics::mirror(&m.replica_streams.with_label_values(&[role]), total);
    }
    m.render()
}

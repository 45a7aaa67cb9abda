//! The circuit breaker of one remote, with its state in the coordinator.
//!
//! Consecutive upstream failures are counted in the coordinator, so every replica contributes
//! to and obeys the same breaker: once it opens, all replicas fail fast (or serve stale copies)
//! instead of queueing clients behind a dead upstream. After the open period one request, the
//! holder of the probe lock, goes through; its success closes the breaker, its failure reopens it.
//!
//! A coordinator that does not answer never blocks traffic: the breaker then behaves as closed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::coord::{keys, Coordinator, LockToken};
use crate::events::{Event, EventKind, EventSink};

/// How long an opened breaker's record outlives its open period (so keys of deleted remotes go).
const RECORD_SLACK: Duration = Duration::from_secs(3600);

/// The breaker's state, as reported to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// Permission to call the upstream.
#[derive(Debug)]
pub enum Admission {
    /// The breaker is closed.
    Closed,
    /// The breaker is half-open and this call is the probe.
    Probe(LockToken),
}

/// The breaker refused the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub retry_after: Duration,
}

/// Breaker settings and handles.
#[derive(Clone)]
pub struct Breaker {
    pub repo: String,
    pub threshold: u32,
    pub open_for: Duration,
    /// How long a probe may take before another request may probe.
    pub probe_timeout: Duration,
    pub coord: Arc<dyn Coordinator>,
    pub events: Arc<dyn EventSink>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Breaker {
    /// When an opened breaker lets the next probe through, in milliseconds since the epoch
    /// (in the past while half-open); `None` while closed.
    pub async fn open_until(&self) -> Option<u64> {
        match self.coord.get(&keys::breaker_open_until(&self.repo)).await {
            Ok(v) => v.and_then(|v| v.parse().ok()),
            Err(e) => {
                tracing::warn!(repo = %self.repo, error = %e, "breaker state unavailable; treating as closed");
                None
            }
        }
    }

    /// The current state.
    pub async fn state(&self) -> BreakerState {
        match self.open_until().await {
            None => BreakerState::Closed,
            Some(t) if now_ms() < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Asks to call the upstream.
    pub async fn admit(&self) -> Result<Admission, Open> {
        let Some(until) = self.open_until().await else { return Ok(Admission::Closed) };
        let now = now_ms();
        if now < until {
            return Err(Open { retry_after: Duration::from_millis(until - now) });
        }
        match self.coord.try_lock(&keys::breaker_probe(&self.repo), self.probe_timeout).await {
            Ok(Some(token)) => {
                self.events.emit(Event::new(EventKind::BreakerHalfOpen).repo(&self.repo));
                Ok(Admission::Probe(token))
            }
            Ok(None) => Err(Open { retry_after: Duration::from_secs(1) }),
            Err(_) => Ok(Admission::Closed),
        }
    }

    /// The call succeeded: the failure count starts again and an open breaker closes.
    pub async fn success(&self, admission: Admission) {
        let _ = self.coord.del(&keys::breaker_failures(&self.repo)).await;
        if let Admission::Probe(token) = admission {
            let _ = self.coord.del(&keys::breaker_open_until(&self.repo)).await;
            let _ = self.coord.unlock(&keys::breaker_probe(&self.repo), &token).await;
            self.events.emit(Event::new(EventKind::BreakerClosed).repo(&self.repo));
            tracing::info!(repo = %self.repo, "circuit breaker closed");
        }
    }

    /// The call failed because of the upstream.
    pub async fn failure(&self, admission: Admission) {
        let open = match &admission {
            Admission::Probe(_) => true,
            Admission::Closed => {
                let window = self.open_for + RECORD_SLACK;
                match self.coord.incr(&keys::breaker_failures(&self.repo), window).await {
                    Ok(n) => n >= i64::from(self.threshold),
                    Err(_) => false,
                }
            }
        };
        if open {
            let until = now_ms() + self.open_for.as_millis() as u64;
            let key = keys::breaker_open_until(&self.repo);
            let _ = self.coord.set(&key, &until.to_string(), Some(self.open_for + RECORD_SLACK)).await;
            let _ = self.coord.del(&keys::breaker_failures(&self.repo)).await;
            let detail = serde_json::json!({
                "open_for_secs": self.open_for.as_secs(),
                "threshold": self.threshold,
                "probe_failed": matches!(admission, Admission::Probe(_)),
            });
            self.events.emit(Event::new(EventKind::BreakerOpened).repo(&self.repo).detail(detail));
            tracing::warn!(repo = %self.repo, open_for = ?self.open_for, "circuit breaker opened");
        }
        if let Admission::Probe(token) = admission {
            let _ = self.coord.unlock(&keys::breaker_probe(&self.repo), &token).await;
        }
    }

    /// Forgets the breaker's record (remote deleted or reconfigured).
    pub async fn reset(&self) {
        let _ = self.coord.del(&keys::breaker_failures(&self.repo)).await;
        let _ = self.coord.del(&keys::breaker_open_until(&self.repo)).await;
    }
}

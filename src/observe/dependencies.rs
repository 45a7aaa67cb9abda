//! Watching the services this replica depends on: PostgreSQL (the catalog), the blob store
//! (fs or S3) and the coordinator (Redis), so their faults show in `/metrics` and in the event
//! feed, not only when someone asks `/api/v2/health`.
//!
//! One task asks each of them for a round trip every [`INTERVAL`] (the same checks as the health
//! endpoint, each with a deadline) and compares the answer with the previous one. A change
//! becomes a `dependency_down` or `dependency_up` event (`detail`: which dependency, its backend
//! and, when down, the error), which the observing sink turns into the
//! `artifactapi_dependency_up` gauge and the `artifactapi_dependency_failures_total` counter.
//! When the coordinator itself is down the event bus cannot publish through it; it then hands
//! the events to this replica's own stream clients ([`crate::events`]), so the fault is still
//! seen where it happened.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use artifactapi_actors::coord::Coordinator;
use artifactapi_actors::events::{Event, EventKind, EventSink};
use artifactapi_actors::storage::BlobStore;
use serde_json::json;

use crate::db::Db;

/// How often every dependency is checked.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How long one check may take before the dependency counts as down.
const DEADLINE: Duration = Duration::from_secs(3);

/// The dependencies, by the name the metrics and events give them.
pub const NAMES: [&str; 3] = ["database", "storage", "coordinator"];

/// One round trip within [`DEADLINE`]; the error when it failed.
async fn check<F, E>(f: F) -> Result<(), String>
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {DEADLINE:?}")),
    }
}

/// What changed between two rounds: the event to emit, if any. `was` is `true` while the
/// dependency answered (every dependency answered at start, or the process would not have
/// started).
fn transition(name: &str, backend: &str, was: bool, now: &Result<(), String>) -> Option<Event> {
    match (was, now) {
        (true, Err(error)) => Some(
            Event::new(EventKind::DependencyDown)
                .detail(json!({"dependency": name, "backend": backend, "error": error})),
        ),
        (false, Ok(())) => {
            Some(Event::new(EventKind::DependencyUp).detail(json!({"dependency": name, "backend": backend})))
        }
        _ => None,
    }
}

/// Starts the watching task on the current runtime; events go to `events` (the observing sink).
pub fn start(db: Db, store: Arc<dyn BlobStore>, coord: Arc<dyn Coordinator>, events: Arc<dyn EventSink>) {
    actix_rt::spawn(async move {
        let mut up = [true; 3];
        let backends = ["postgresql", store.kind(), coord.kind()];
        loop {
            tokio::time::sleep(INTERVAL).await;
            let (database, storage, coordinator) =
                tokio::join!(check(async { db.ping().await.map(|_| ()) }), check(store.ping()), check(coord.ping()),);
            for (i, now) in [database, storage, coordinator].iter().enumerate() {
                if let Some(event) = transition(NAMES[i], backends[i], up[i], now) {
                    match now {
                        Err(error) => tracing::warn!(dependency = NAMES[i], %error, "dependency down"),
                        Ok(()) => tracing::info!(dependency = NAMES[i], "dependency answers again"),
                    }
                    events.emit(event);
                }
                up[i] = now.is_ok();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_become_events() {
        let down: Result<(), String> = Err("connection refused".into());
        assert_eq!(transition("database", "postgresql", true, &Ok(())), None);
        assert_eq!(transition("database", "postgresql", false, &down), None);
        let e = transition("database", "postgresql", true, &down).expect("down");
        assert_eq!(e.kind, EventKind::DependencyDown);
        assert_eq!(
            e.detail,
            Some(json!({"dependency": "database", "backend": "postgresql", "error": "connection refused"}))
        );
        let e = transition("coordinator", "redis", false, &Ok(())).expect("up");
        assert_eq!(e.kind, EventKind::DependencyUp);
        assert_eq!(e.detail, Some(json!({"dependency": "coordinator", "backend": "redis"})));
    }
}

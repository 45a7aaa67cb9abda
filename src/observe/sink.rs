//! [`ObservedSink`]: the event sink the actors are given. It reads the figures out of each
//! event (upstream fetches, their sizes, durations and failures, coalesced waiters, breaker
//! transitions, commits, GC runs) into the metrics and the per-repository counters, then passes
//! the event on to the event bus unchanged; upstream failures and GC reports are also kept for the
//! dashboard ([`super::recent`]). Counting costs atomic adds; it never blocks.

use std::sync::Arc;

use artifactapi_actors::events::{Event, EventKind, EventSink};

use super::metrics::Metrics;
use super::recent::Recent;
use super::repos::Repos;

pub struct ObservedSink {
    inner: Arc<dyn EventSink>,
    metrics: Arc<Metrics>,
    repos: Arc<Repos>,
    recent: Arc<Recent>,
}

impl ObservedSink {
    pub fn new(
        inner: Arc<dyn EventSink>,
        metrics: Arc<Metrics>,
        repos: Arc<Repos>,
        recent: Arc<Recent>,
    ) -> ObservedSink {
        ObservedSink { inner, metrics, repos, recent }
    }

    fn count(&self, e: &Event) {
        let m = &*self.metrics;
        let repo = e.repository.as_deref().unwrap_or("");
        let seconds = e.duration_ms.map(|ms| ms as f64 / 1000.0);
        let fetch_ended = |outcome: &str| {
            m.inflight.with_label_values(&[repo]).dec();
            m.upstream_fetches.with_label_values(&[repo, outcome]).inc();
            if let Some(s) = seconds {
                m.upstream_duration.with_label_values(&[repo, outcome]).observe(s);
            }
        };
        match e.kind {
            EventKind::FetchStarted => m.inflight.with_label_values(&[repo]).inc(),
            EventKind::FetchCompleted => {
                fetch_ended("completed");
                let size = e.size.unwrap_or(0);
                m.fetched_bytes.with_label_values(&[repo]).inc_by(size);
                m.commits.inc();
                self.repos.counters(repo).count_fetched(size);
            }
            EventKind::FetchFailed if matches!(e.status, Some(404 | 410)) => fetch_ended("not_found"),
            EventKind::FetchFailed => {
                fetch_ended("failed");
                m.upstream_errors.with_label_values(&[repo]).inc();
                self.repos.counters(repo).count_upstream_error();
            }
            EventKind::Revalidated => fetch_ended("revalidated"),
            EventKind::Coalesced => m.coalesced.with_label_values(&[repo]).inc(),
            EventKind::BreakerOpened => m.breaker_transitions.with_label_values(&[repo, "open"]).inc(),
            EventKind::BreakerHalfOpen => m.breaker_transitions.with_label_values(&[repo, "half_open"]).inc(),
            EventKind::BreakerClosed => m.breaker_transitions.with_label_values(&[repo, "closed"]).inc(),
            EventKind::PushCompleted => m.commits.inc(),
            EventKind::GcRun => {
                let detail = e.detail.as_ref();
                let field = |k: &str| detail.and_then(|d| d.get(k));
                let dry_run = field("dry_run").and_then(|v| v.as_bool()).unwrap_or(false);
                m.gc_runs.with_label_values(&[if dry_run { "true" } else { "false" }]).inc();
                if !dry_run {
                    m.gc_deleted_blobs.inc_by(field("deleted").and_then(|v| v.as_u64()).unwrap_or(0));
                    m.gc_deleted_bytes.inc_by(e.size.unwrap_or(0));
                }
            }
            EventKind::DependencyDown | EventKind::DependencyUp => {
                let dependency = e.detail.as_ref().and_then(|d| d.get("dependency")).and_then(|v| v.as_str());
                let dependency = dependency.unwrap_or("unknown");
                let up = e.kind == EventKind::DependencyUp;
                m.dependency_up.with_label_values(&[dependency]).set(i64::from(up));
                if !up {
                    m.dependency_failures.with_label_values(&[dependency]).inc();
                }
            }
            _ => {}
        }
    }
}

impl EventSink for ObservedSink {
    fn emit(&self, event: Event) {
        self.count(&event);
        self.recent.note(&event);
        self.inner.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<EventKind>>);

    impl EventSink for Collect {
        fn emit(&self, event: Event) {
            self.0.lock().unwrap().push(event.kind);
        }
    }

    #[test]
    fn events_become_figures_and_pass_on() {
        let inner = Arc::new(Collect::default());
        let (metrics, repos) = (Arc::new(Metrics::new().unwrap()), Arc::new(Repos::default()));
        let sink = ObservedSink::new(inner.clone(), metrics.clone(), repos.clone(), Default::default());
        let ev = |k| Event::new(k).repo("r").path("p");
        sink.emit(ev(EventKind::FetchStarted));
        sink.emit(ev(EventKind::FetchStarted));
        sink.emit(ev(EventKind::FetchStarted));
        assert_eq!(metrics.inflight.with_label_values(&["r"]).get(), 3);
        sink.emit(ev(EventKind::FetchCompleted).size(1000).duration(Duration::from_millis(20)));
        sink.emit(ev(EventKind::FetchFailed).status(404));
        sink.emit(ev(EventKind::FetchFailed).status(500).duration(Duration::from_millis(5)));
        sink.emit(ev(EventKind::Coalesced));
        sink.emit(Event::new(EventKind::GcRun).size(77).detail(serde_json::json!({"deleted": 2, "dry_run": false})));
        sink.emit(Event::new(EventKind::GcRun).size(99).detail(serde_json::json!({"deleted": 5, "dry_run": true})));

        assert_eq!(metrics.inflight.with_label_values(&["r"]).get(), 0);
        assert_eq!(metrics.fetched_bytes.with_label_values(&["r"]).get(), 1000);
        assert_eq!(metrics.upstream_errors.with_label_values(&["r"]).get(), 1);
        assert_eq!(metrics.upstream_fetches.with_label_values(&["r", "not_found"]).get(), 1);
        assert_eq!(metrics.upstream_duration.with_label_values(&["r", "completed"]).get_sample_count(), 1);
        assert_eq!(metrics.coalesced.with_label_values(&["r"]).get(), 1);
        assert_eq!(metrics.commits.get(), 1);
        assert_eq!((metrics.gc_deleted_blobs.get(), metrics.gc_deleted_bytes.get()), (2, 77));
        assert_eq!(metrics.gc_runs.with_label_values(&["true"]).get(), 1);
        let counts = repos.counters("r").peek();
        assert_eq!((counts.bytes_fetched, counts.upstream_errors, counts.requests), (1000, 1, 0));
        assert_eq!(inner.0.lock().unwrap().len(), 9, "every event passed on");

        let dep = |k| Event::new(k).detail(serde_json::json!({"dependency": "database"}));
        sink.emit(dep(EventKind::DependencyDown));
        assert_eq!(metrics.dependency_up.with_label_values(&["database"]).get(), 0);
        sink.emit(dep(EventKind::DependencyUp));
        assert_eq!(metrics.dependency_up.with_label_values(&["database"]).get(), 1);
        assert_eq!(metrics.dependency_failures.with_label_values(&["database"]).get(), 1);
    }
}

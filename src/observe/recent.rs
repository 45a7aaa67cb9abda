//! What the dashboard shows besides counters: each remote's last upstream failure and the last
//! garbage collection's report, as this replica's [`sink::ObservedSink`](super::sink) saw them
//! go by (upstream failures and GC runs are actor events; nothing else records their detail).
//!
//! Kept in memory, per replica: a replica that did not run the fetch or the sweep has nothing
//! to show until it does one itself, and a restart forgets. The figures that must be exact
//! (counters, breaker states) come from the catalog and the coordinator instead.

use std::collections::HashMap;
use std::sync::Mutex;

use artifactapi_actors::events::{Event, EventKind};

/// Most remotes whose last failure is kept (the oldest is forgotten first).
const MAX_REMOTES: usize = 1024;

#[derive(Default)]
pub struct Recent {
    failures: Mutex<HashMap<String, Event>>,
    gc: Mutex<Option<Event>>,
}

impl Recent {
    /// Keeps `e` when it is an upstream failure (not a 404/410: those are answers) or a GC run.
    pub fn note(&self, e: &Event) {
        match e.kind {
            EventKind::FetchFailed if !matches!(e.status, Some(404 | 410)) => {
                let Some(repo) = &e.repository else { return };
                if let Ok(mut failures) = self.failures.lock() {
                    if failures.len() >= MAX_REMOTES && !failures.contains_key(repo) {
                        let oldest = failures.iter().min_by_key(|(_, e)| e.time).map(|(k, _)| k.clone());
                        if let Some(k) = oldest {
                            failures.remove(&k);
                        }
                    }
                    failures.insert(repo.clone(), e.clone());
                }
            }
            EventKind::GcRun => {
                if let Ok(mut gc) = self.gc.lock() {
                    *gc = Some(e.clone());
                }
            }
            _ => {}
        }
    }

    /// The last upstream failure of `repo` this replica saw.
    pub fn last_failure(&self, repo: &str) -> Option<Event> {
        self.failures.lock().ok()?.get(repo).cloned()
    }

    /// The last GC run this replica made (its event: time, duration, the report as detail).
    pub fn last_gc(&self) -> Option<Event> {
        self.gc.lock().ok()?.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_failures_per_remote_and_the_last_gc() {
        let r = Recent::default();
        r.note(&Event::new(EventKind::FetchFailed).repo("a").detail("connection refused".into()));
        r.note(&Event::new(EventKind::FetchFailed).repo("a").status(404));
        r.note(&Event::new(EventKind::FetchCompleted).repo("a"));
        r.note(&Event::new(EventKind::FetchFailed).repo("b").status(502));
        assert_eq!(r.last_failure("a").and_then(|e| e.detail), Some("connection refused".into()), "404 is no failure");
        assert_eq!(r.last_failure("b").and_then(|e| e.status), Some(502));
        assert!(r.last_failure("c").is_none());
        assert!(r.last_gc().is_none());
        r.note(&Event::new(EventKind::GcRun).size(5));
        assert_eq!(r.last_gc().and_then(|e| e.size), Some(5));
    }

    #[test]
    fn forgets_the_oldest_remote_beyond_the_bound() {
        let r = Recent::default();
        for i in 0..=MAX_REMOTES {
            r.note(&Event::new(EventKind::FetchFailed).repo(&format!("r{i}")));
        }
        assert_eq!(r.failures.lock().unwrap().len(), MAX_REMOTES);
        assert!(r.last_failure(&format!("r{MAX_REMOTES}")).is_some());
    }
}

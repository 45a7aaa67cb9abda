//! Per-repository observation state: the stats counters and the cached metric handles.
//!
//! Each repository that served a request (or whose remote emitted an event) has one
//! [`RepoObs`]. Its counters are plain atomics, drained into the database by the stats flusher
//! ([`super::stats`]); its metric handles are resolved on first use, so recording a request costs
//! a map look-up (done once, when the handler finds the repository) and a few atomic adds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use prometheus::{Histogram, IntCounter};

use super::metrics::Metrics;
use super::record::CacheLabel;
use crate::db::stats::RepoCounts;
use crate::formats::PackageType;

/// Counters of one repository since the last flush.
#[derive(Debug, Default)]
pub struct RepoCounters {
    requests: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    revalidated: AtomicU64,
    bytes_served: AtomicU64,
    bytes_fetched: AtomicU64,
    upstream_errors: AtomicU64,
}

impl RepoCounters {
    fn fields(&self) -> [&AtomicU64; 8] {
        [
            &self.requests,
            &self.hits,
            &self.misses,
            &self.stale,
            &self.revalidated,
            &self.bytes_served,
            &self.bytes_fetched,
            &self.upstream_errors,
        ]
    }

    pub fn count_request(&self, cache: CacheLabel, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes_served.fetch_add(bytes, Ordering::Relaxed);
        let by_label = match cache {
            CacheLabel::Hit => &self.hits,
            CacheLabel::Miss => &self.misses,
            CacheLabel::Stale => &self.stale,
            CacheLabel::Revalidated => &self.revalidated,
            CacheLabel::None => return,
        };
        by_label.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_fetched(&self, bytes: u64) {
        self.bytes_fetched.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn count_upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn collect(&self, f: impl Fn(&AtomicU64) -> u64) -> RepoCounts {
        let [requests, hits, misses, stale, revalidated, bytes_served, bytes_fetched, upstream_errors] =
            self.fields().map(f);
        RepoCounts { requests, hits, misses, stale, revalidated, bytes_served, bytes_fetched, upstream_errors }
    }

    /// The counts so far, resetting them to zero.
    pub fn take(&self) -> RepoCounts {
        self.collect(|a| a.swap(0, Ordering::Relaxed))
    }

    /// The counts so far.
    pub fn peek(&self) -> RepoCounts {
        self.collect(|a| a.load(Ordering::Relaxed))
    }

    /// Adds taken counts back (their flush failed).
    pub fn restore(&self, c: &RepoCounts) {
        let values =
            [c.requests, c.hits, c.misses, c.stale, c.revalidated, c.bytes_served, c.bytes_fetched, c.upstream_errors];
        for (a, v) in self.fields().into_iter().zip(values) {
            a.fetch_add(v, Ordering::Relaxed);
        }
    }
}

/// Status classes of the `status` label: index `status / 100 - 1`.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn status_class(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// One repository's counters and request metric handles.
pub struct RepoObs {
    pub name: String,
    /// The package type of the metric labels; `None` until a request tells it.
    pub package_type: Option<PackageType>,
    pub counters: Arc<RepoCounters>,
    requests: [[OnceLock<IntCounter>; 5]; 5],
    durations: [OnceLock<Histogram>; 5],
    served: [OnceLock<IntCounter>; 5],
}

impl std::fmt::Debug for RepoObs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoObs").field("name", &self.name).field("package_type", &self.package_type).finish()
    }
}

impl RepoObs {
    fn new(name: &str, package_type: Option<PackageType>, counters: Arc<RepoCounters>) -> RepoObs {
        RepoObs {
            name: name.to_string(),
            package_type,
            counters,
            requests: Default::default(),
            durations: Default::default(),
            served: Default::default(),
        }
    }

    fn type_label(&self) -> &'static str {
        self.package_type.map_or("", |t| t.as_str())
    }

    /// Counts one request in the stats counters and the request metrics.
    pub fn observe_request(&self, m: &Metrics, cache: CacheLabel, status: u16, bytes: u64, took: Duration) {
        self.counters.count_request(cache, bytes);
        let (c, s) = (cache.index(), status_class(status));
        let labels = [self.name.as_str(), self.type_label(), cache.metric_label()];
        self.requests[c][s]
            .get_or_init(|| m.requests.with_label_values(&[labels[0], labels[1], labels[2], STATUS_CLASSES[s]]))
            .inc();
        self.durations[c].get_or_init(|| m.request_duration.with_label_values(&labels)).observe(took.as_secs_f64());
        if bytes > 0 {
            self.served[c].get_or_init(|| m.served_bytes.with_label_values(&labels)).inc_by(bytes);
        }
    }
}

/// Every repository's [`RepoObs`], by name.
#[derive(Default)]
pub struct Repos {
    map: RwLock<HashMap<String, Arc<RepoObs>>>,
}

impl Repos {
    /// The entry of a repository a request was served for. A changed package type (the remote
    /// was recreated with another one) gets fresh metric handles; the counters carry on.
    pub fn for_request(&self, name: &str, package_type: PackageType) -> Arc<RepoObs> {
        if let Ok(map) = self.map.read() {
            if let Some(obs) = map.get(name).filter(|o| o.package_type == Some(package_type)) {
                return obs.clone();
            }
        }
        self.replace_if(name, |o| o.package_type != Some(package_type), Some(package_type))
    }

    /// The counters of a repository an event was about.
    pub fn counters(&self, name: &str) -> Arc<RepoCounters> {
        if let Ok(map) = self.map.read() {
            if let Some(obs) = map.get(name) {
                return obs.counters.clone();
            }
        }
        self.replace_if(name, |_| false, None).counters.clone()
    }

    /// Inserts an entry for `name`, or replaces the existing one when `stale` says so.
    fn replace_if(&self, name: &str, stale: impl Fn(&RepoObs) -> bool, t: Option<PackageType>) -> Arc<RepoObs> {
        let mut map = match self.map.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let obs = match map.get(name) {
            Some(old) if !stale(old) => return old.clone(),
            Some(old) => RepoObs::new(name, t, old.counters.clone()),
            None => RepoObs::new(name, t, Arc::default()),
        };
        let obs = Arc::new(obs);
        map.insert(name.to_string(), obs.clone());
        obs
    }

    /// Every repository's counters.
    pub fn all(&self) -> Vec<(String, Arc<RepoCounters>)> {
        let map = match self.map.read() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.iter().map(|(k, v)| (k.clone(), v.counters.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_peek_and_restore() {
        let c = RepoCounters::default();
        c.count_request(CacheLabel::Hit, 10);
        c.count_request(CacheLabel::Miss, 5);
        c.count_request(CacheLabel::None, 7);
        c.count_fetched(100);
        c.count_upstream_error();
        let want = RepoCounts {
            requests: 3,
            hits: 1,
            misses: 1,
            stale: 0,
            revalidated: 0,
            bytes_served: 22,
            bytes_fetched: 100,
            upstream_errors: 1,
        };
        assert_eq!(c.peek(), want);
        assert_eq!(c.take(), want);
        assert_eq!(c.peek(), RepoCounts::default());
        c.count_request(CacheLabel::Stale, 1);
        c.restore(&want);
        assert_eq!(c.peek().requests, 4);
        assert_eq!(c.peek().stale, 1);
        assert_eq!(c.peek().bytes_served, 23);
    }

    #[test]
    fn status_classes() {
        let cases = [(100, "1xx"), (200, "2xx"), (206, "2xx"), (304, "3xx"), (404, "4xx"), (499, "4xx"), (503, "5xx")];
        for (status, class) in cases {
            assert_eq!(STATUS_CLASSES[status_class(status)], class, "{status}");
        }
        assert_eq!(STATUS_CLASSES[status_class(0)], "1xx");
        assert_eq!(STATUS_CLASSES[status_class(999)], "5xx");
    }

    #[test]
    fn a_new_package_type_keeps_the_counters() {
        let repos = Repos::default();
        let events_first = repos.counters("r");
        let a = repos.for_request("r", PackageType::Generic);
        assert!(Arc::ptr_eq(&events_first, &a.counters));
        assert!(Arc::ptr_eq(&a, &repos.for_request("r", PackageType::Generic)));
        let b = repos.for_request("r", PackageType::Npm);
        assert_eq!(b.package_type, Some(PackageType::Npm));
        assert!(Arc::ptr_eq(&a.counters, &b.counters));
        assert!(Arc::ptr_eq(&repos.counters("r"), &b.counters));
        assert_eq!(repos.all().len(), 1);
    }

    #[test]
    fn requests_feed_counters_and_metrics() {
        let m = Metrics::new().unwrap();
        let repos = Repos::default();
        let r = repos.for_request("r", PackageType::Generic);
        r.observe_request(&m, CacheLabel::Hit, 200, 10, Duration::from_millis(1));
        r.observe_request(&m, CacheLabel::Hit, 200, 5, Duration::from_millis(1));
        r.observe_request(&m, CacheLabel::None, 404, 0, Duration::from_millis(1));
        assert_eq!(m.requests.with_label_values(&["r", "generic", "HIT", "2xx"]).get(), 2);
        assert_eq!(m.requests.with_label_values(&["r", "generic", "none", "4xx"]).get(), 1);
        assert_eq!(m.served_bytes.with_label_values(&["r", "generic", "HIT"]).get(), 15);
        assert_eq!(r.counters.peek().requests, 3);
    }
}

//! Requests served from cache and missed, per 10-second bucket over the last 15 minutes, as
//! this replica counted them: the history the dashboard's chart starts from before the event
//! stream adds to it.
//!
//! A ring of 90 slots of atomics: recording a request costs two atomic operations, and reading
//! the history never touches the database (counting the access log's last 15 minutes costs a
//! scan of every request in them, which under load takes seconds). A slot is recycled by the
//! first request of its new bucket (a compare-and-swap on the bucket number); an increment that
//! races with that reset may be lost, which a chart can afford.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Seconds per bucket.
pub const STEP_SECS: i64 = 10;
/// Buckets kept: 15 minutes.
pub const BUCKETS: usize = 90;

#[derive(Default)]
struct Slot {
    bucket: AtomicI64,
    hits: AtomicU64,
    misses: AtomicU64,
}

pub struct History {
    slots: [Slot; BUCKETS],
}

impl Default for History {
    fn default() -> Self {
        History { slots: std::array::from_fn(|_| Slot::default()) }
    }
}

impl History {
    /// Counts one request at `now_secs` (seconds since the epoch): from cache or a miss.
    pub fn record(&self, now_secs: i64, cached: bool) {
        let bucket = now_secs.div_euclid(STEP_SECS);
        let slot = &self.slots[bucket.rem_euclid(BUCKETS as i64) as usize];
        let seen = slot.bucket.load(Ordering::Acquire);
        if seen != bucket && slot.bucket.compare_exchange(seen, bucket, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            slot.hits.store(0, Ordering::Relaxed);
            slot.misses.store(0, Ordering::Relaxed);
        }
        let counter = if cached { &slot.hits } else { &slot.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(bucket start in seconds since the epoch, from cache, missed)` of the buckets of the
    /// last 15 minutes before `now_secs` that saw requests, oldest first.
    pub fn snapshot(&self, now_secs: i64) -> Vec<(i64, u64, u64)> {
        let current = now_secs.div_euclid(STEP_SECS);
        let mut out: Vec<(i64, u64, u64)> = self
            .slots
            .iter()
            .filter_map(|s| {
                let b = s.bucket.load(Ordering::Acquire);
                let (h, m) = (s.hits.load(Ordering::Relaxed), s.misses.load(Ordering::Relaxed));
                (b > current - BUCKETS as i64 && b <= current && h + m > 0).then_some((b * STEP_SECS, h, m))
            })
            .collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_and_age_out() {
        let h = History::default();
        let t0 = 1_700_000_000;
        h.record(t0, true);
        h.record(t0 + 1, false);
        h.record(t0 + 10, true);
        let start = t0 - t0.rem_euclid(STEP_SECS);
        assert_eq!(h.snapshot(t0 + 10), vec![(start, 1, 1), (start + 10, 1, 0)]);
        // The slot of t0 is reused 15 minutes later and starts again from zero.
        h.record(t0 + 900, false);
        assert_eq!(h.snapshot(t0 + 900), vec![(start + 10, 1, 0), (start + 900, 0, 1)]);
        assert!(h.snapshot(t0 + 5000).is_empty(), "all too old");
    }
}

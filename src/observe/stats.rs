//! Cluster-wide request statistics: this replica's counters are flushed into `repo_stats` every
//! few seconds (added to what every replica wrote before, so the totals survive restarts), and a
//! report is the database's totals plus what this replica has not flushed yet.
//!
//! Flushing and reporting take one lock, so a report never sees counts twice (flushed and still
//! in memory) or not at all (taken from memory, not yet committed). The request path never takes
//! it: it only adds to atomics.

use std::collections::HashMap;
use std::sync::Arc;

use artifactapi_actors::remote::BreakerState;
use serde::Serialize;
use tokio::sync::Mutex;

use super::repos::Repos;
use crate::db::stats::{RepoCounts, RepoStatsRow, StorageTotals};
use crate::db::{Db, DbError};

/// One repository's figures (or the total's, without name, kind and breaker).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    #[serde(flatten)]
    pub counts: RepoCounts,
    /// Requests served from the cache (hits, revalidated and stale) over those that asked it
    /// (the same plus misses); `null` before the first such request.
    pub hit_ratio: Option<f64>,
    pub objects: u64,
    pub bytes_stored: u64,
}

impl Figures {
    fn new(counts: RepoCounts, objects: u64, bytes_stored: u64) -> Figures {
        let cached = counts.hits + counts.revalidated + counts.stale;
        let asked = cached + counts.misses;
        let hit_ratio = (asked > 0).then(|| cached as f64 / asked as f64);
        Figures { counts, hit_ratio, objects, bytes_stored }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoReport {
    pub name: String,
    pub kind: String,
    pub package_type: String,
    #[serde(flatten)]
    pub figures: Figures,
    /// Remotes only: `closed`, `half_open` or `open`.
    pub breaker: Option<BreakerState>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageReport {
    #[serde(flatten)]
    pub totals: StorageTotals,
    /// `logical_bytes - bytes`: what content addressing saves (negative while unreferenced
    /// blobs wait for GC).
    pub dedup_saving_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsReport {
    pub repositories: Vec<RepoReport>,
    pub total: Figures,
    pub storage: StorageReport,
}

pub struct Stats {
    repos: Arc<Repos>,
    lock: Mutex<()>,
}

impl Stats {
    pub fn new(repos: Arc<Repos>) -> Stats {
        Stats { repos, lock: Mutex::new(()) }
    }

    /// Adds this replica's counts to the database; on failure they stay in memory for the next try.
    pub async fn flush(&self, db: &Db) -> Result<(), DbError> {
        let _flushing = self.lock.lock().await;
        let taken: Vec<_> = self
            .repos
            .all()
            .into_iter()
            .map(|(name, counters)| {
                let counts = counters.take();
                (name, counters, counts)
            })
            .filter(|(_, _, c)| !c.is_zero())
            .collect();
        let deltas: Vec<(String, RepoCounts)> = taken.iter().map(|(n, _, c)| (n.clone(), *c)).collect();
        let result = db.add_repo_stats(&deltas).await;
        if result.is_err() {
            for (_, counters, counts) in &taken {
                counters.restore(counts);
            }
        }
        result
    }

    /// The figures of every repository (or only `only`): the database's plus this replica's
    /// unflushed counts. `None` when `only` names no repository.
    pub async fn report(
        &self,
        db: &Db,
        only: Option<&str>,
        breakers: &HashMap<String, BreakerState>,
    ) -> Result<Option<StatsReport>, DbError> {
        let (rows, storage) = {
            let _reading = self.lock.lock().await;
            let rows = db.repo_stats(only).await?;
            let unflushed: HashMap<String, RepoCounts> =
                self.repos.all().into_iter().map(|(name, c)| (name, c.peek())).collect();
            let rows: Vec<RepoStatsRow> = rows
                .into_iter()
                .map(|mut r| {
                    r.counts = r.counts + unflushed.get(&r.name).copied().unwrap_or_default();
                    r
                })
                .collect();
            (rows, db.storage_totals().await?)
        };
        if only.is_some() && rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(assemble(rows, storage, breakers)))
    }
}

fn assemble(rows: Vec<RepoStatsRow>, storage: StorageTotals, breakers: &HashMap<String, BreakerState>) -> StatsReport {
    let (mut total, mut objects, mut bytes) = (RepoCounts::default(), 0u64, 0u64);
    let repositories = rows
        .into_iter()
        .map(|r| {
            total = total + r.counts;
            objects += r.objects;
            bytes += r.bytes_stored;
            let breaker = if r.kind == "remote" {
                Some(breakers.get(&r.name).copied().unwrap_or(BreakerState::Closed))
            } else {
                None
            };
            RepoReport {
                figures: Figures::new(r.counts, r.objects, r.bytes_stored),
                name: r.name,
                kind: r.kind,
                package_type: r.package_type,
                breaker,
            }
        })
        .collect();
    let saving =
        i64::try_from(storage.logical_bytes).unwrap_or(i64::MAX) - i64::try_from(storage.bytes).unwrap_or(i64::MAX);
    StatsReport {
        repositories,
        total: Figures::new(total, objects, bytes),
        storage: StorageReport { totals: storage, dedup_saving_bytes: saving },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, kind: &str, requests: u64, hits: u64, misses: u64) -> RepoStatsRow {
        RepoStatsRow {
            name: name.into(),
            kind: kind.into(),
            package_type: "generic".into(),
            counts: RepoCounts { requests, hits, misses, bytes_served: 10 * requests, ..Default::default() },
            objects: 2,
            bytes_stored: 100,
        }
    }

    #[test]
    fn totals_add_up_and_ratios_follow() {
        let breakers = HashMap::from([("b".to_string(), BreakerState::Open)]);
        let storage = StorageTotals { blobs: 3, bytes: 150, logical_bytes: 200 };
        let r = assemble(
            vec![row("a", "remote", 4, 3, 1), row("b", "remote", 2, 0, 0), row("c", "local", 1, 0, 0)],
            storage,
            &breakers,
        );
        assert_eq!(r.total.counts.requests, 7);
        assert_eq!(r.total.counts.bytes_served, 70);
        assert_eq!((r.total.objects, r.total.bytes_stored), (6, 300));
        assert_eq!(r.total.hit_ratio, Some(0.75));
        assert_eq!(r.repositories[0].figures.hit_ratio, Some(0.75));
        assert_eq!(r.repositories[1].figures.hit_ratio, None, "no cache lookups yet");
        assert_eq!(r.repositories[0].breaker, Some(BreakerState::Closed));
        assert_eq!(r.repositories[1].breaker, Some(BreakerState::Open));
        assert_eq!(r.repositories[2].breaker, None);
        assert_eq!(r.storage.dedup_saving_bytes, 50);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["repositories"][1]["breaker"], "open");
        assert_eq!(json["total"]["requests"], 7);
        assert_eq!(json["storage"]["logical_bytes"], 200);
    }
}

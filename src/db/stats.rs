//! Request statistics in the catalog: per-repository counters (`repo_stats`, added to by every
//! replica's flusher) joined with what each repository stores, and the storage totals.

use serde::Serialize;

use super::{Db, DbError};

/// Request counters of one repository.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RepoCounts {
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub revalidated: u64,
    pub bytes_served: u64,
    pub bytes_fetched: u64,
    pub upstream_errors: u64,
}

impl RepoCounts {
    pub fn is_zero(&self) -> bool {
        *self == RepoCounts::default()
    }

    fn as_array(&self) -> [u64; 8] {
        [
            self.requests,
            self.hits,
            self.misses,
            self.stale,
            self.revalidated,
            self.bytes_served,
            self.bytes_fetched,
            self.upstream_errors,
        ]
    }

    fn from_array(a: [u64; 8]) -> RepoCounts {
        let [requests, hits, misses, stale, revalidated, bytes_served, bytes_fetched, upstream_errors] = a;
        RepoCounts { requests, hits, misses, stale, revalidated, bytes_served, bytes_fetched, upstream_errors }
    }
}

impl std::ops::Add for RepoCounts {
    type Output = RepoCounts;
    fn add(self, other: RepoCounts) -> RepoCounts {
        let (a, b) = (self.as_array(), other.as_array());
        RepoCounts::from_array(std::array::from_fn(|i| a[i].saturating_add(b[i])))
    }
}

/// A repository with its stored counters and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoStatsRow {
    pub name: String,
    /// `remote`, `virtual` or `local`.
    pub kind: String,
    pub package_type: String,
    pub counts: RepoCounts,
    /// Cached objects (remotes) and files (locals).
    pub objects: u64,
    /// Their total size (logical bytes; blobs may be shared).
    pub bytes_stored: u64,
}

/// What the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StorageTotals {
    pub blobs: u64,
    /// Sum of blob sizes: what the store really holds.
    pub bytes: u64,
    /// Sum of the sizes of every cached object and local file.
    pub logical_bytes: u64,
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const REPO_STATS: &str = "
WITH repos AS (
    SELECT name, 'remote' AS kind, package_type FROM remotes
    UNION ALL SELECT name, 'virtual', package_type FROM virtuals
    UNION ALL SELECT name, 'local', package_type FROM locals
)
SELECT r.name, r.kind, r.package_type,
       coalesce(s.requests, 0), coalesce(s.hits, 0), coalesce(s.misses, 0), coalesce(s.stale, 0),
       coalesce(s.revalidated, 0), coalesce(s.bytes_served, 0), coalesce(s.bytes_fetched, 0),
       coalesce(s.upstream_errors, 0),
       (SELECT count(*) FROM cached_objects o WHERE o.repo = r.name)
         + (SELECT count(*) FROM local_files f WHERE f.repo = r.name),
       (SELECT coalesce(sum(size), 0)::bigint FROM cached_objects o WHERE o.repo = r.name)
         + (SELECT coalesce(sum(size), 0)::bigint FROM local_files f WHERE f.repo = r.name)
FROM repos r LEFT JOIN repo_stats s ON s.repo = r.name
WHERE $1::text IS NULL OR r.name = $1
ORDER BY r.name";

const FLUSH: &str = "
INSERT INTO repo_stats (repo, requests, hits, misses, stale, revalidated, bytes_served, bytes_fetched, upstream_errors)
SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                     $8::int8[], $9::int8[])
ON CONFLICT (repo) DO UPDATE SET
    requests = repo_stats.requests + EXCLUDED.requests,
    hits = repo_stats.hits + EXCLUDED.hits,
    misses = repo_stats.misses + EXCLUDED.misses,
    stale = repo_stats.stale + EXCLUDED.stale,
    revalidated = repo_stats.revalidated + EXCLUDED.revalidated,
    bytes_served = repo_stats.bytes_served + EXCLUDED.bytes_served,
    bytes_fetched = repo_stats.bytes_fetched + EXCLUDED.bytes_fetched,
    upstream_errors = repo_stats.upstream_errors + EXCLUDED.upstream_errors,
    updated_at = now()";

impl Db {
    /// Every repository (or only `only`), by name, with its counters and stored objects.
    pub async fn repo_stats(&self, only: Option<&str>) -> Result<Vec<RepoStatsRow>, DbError> {
        let client = self.client().await?;
        let rows = client.query(REPO_STATS, &[&only]).await?;
        rows.iter()
            .map(|row| {
                let n = |i: usize| row.try_get::<_, i64>(i).map(u64_of);
                Ok(RepoStatsRow {
                    name: row.try_get(0)?,
                    kind: row.try_get(1)?,
                    package_type: row.try_get(2)?,
                    counts: RepoCounts::from_array([n(3)?, n(4)?, n(5)?, n(6)?, n(7)?, n(8)?, n(9)?, n(10)?]),
                    objects: n(11)?,
                    bytes_stored: n(12)?,
                })
            })
            .collect()
    }

    /// Blobs, their bytes, and the logical bytes of everything that references them.
    pub async fn storage_totals(&self) -> Result<StorageTotals, DbError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM blobs), (SELECT coalesce(sum(size), 0)::bigint FROM blobs),
                        (SELECT coalesce(sum(size), 0)::bigint FROM cached_objects)
                          + (SELECT coalesce(sum(size), 0)::bigint FROM local_files)",
                &[],
            )
            .await?;
        Ok(StorageTotals {
            blobs: u64_of(row.try_get(0)?),
            bytes: u64_of(row.try_get(1)?),
            logical_bytes: u64_of(row.try_get(2)?),
        })
    }

    /// Adds counts to the stored counters, in one statement.
    pub async fn add_repo_stats(&self, deltas: &[(String, RepoCounts)]) -> Result<(), DbError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let repos: Vec<&str> = deltas.iter().map(|(r, _)| r.as_str()).collect();
        let column = |i: usize| -> Vec<i64> { deltas.iter().map(|(_, c)| i64_of(c.as_array()[i])).collect() };
        let cols: [Vec<i64>; 8] = std::array::from_fn(column);
        let client = self.client().await?;
        client
            .execute(FLUSH, &[&repos, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6], &cols[7]])
            .await?;
        Ok(())
    }

    /// Whether a repository of any kind has this name.
    pub async fn repo_exists(&self, name: &str) -> Result<bool, DbError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM remotes WHERE name = $1)
                     OR EXISTS (SELECT 1 FROM virtuals WHERE name = $1)
                     OR EXISTS (SELECT 1 FROM locals WHERE name = $1)",
                &[&name],
            )
            .await?;
        Ok(row.try_get(0)?)
    }
}

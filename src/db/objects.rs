//! Browsing and evicting a remote's cached objects in the `cached_objects` table.
//!
//! Listing is keyset-paginated: a page starts strictly after the previous page's last sort key
//! (`(path, variant)`, or `(last access, path, variant)`), so pages stay stable while objects
//! are added or evicted, and a deep page costs no more than the first. The key always ends with
//! the primary key, so no two rows tie. Objects never served since they were fetched sort by
//! their fetch time (`COALESCE(last_access, fetched_at)`), so the sort key is never NULL.
//!
//! The prefix filter is `starts_with(path, prefix)`: a plain string comparison, so `%`, `_`
//! and `\` in a prefix are just characters (no LIKE escaping to get wrong).
//!
//! Eviction deletes rows in one statement and reports how many went, their total size and the
//! variants they had (the caller needs those to forget the matching coordinator keys).

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{Db, DbError};

/// What a listing is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Path, then variant.
    Path,
    /// Last access (the fetch time for objects not served since), then path and variant.
    LastAccess,
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Path => "path",
            Sort::LastAccess => "last_access",
        }
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// The position after which a page starts: the sort key of the previous page's last row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Path { path: String, variant: String },
    LastAccess { at: DateTime<Utc>, path: String, variant: String },
}

impl SortKey {
    /// The key of `row` under `sort`.
    pub fn of(row: &ObjectRow, sort: Sort) -> SortKey {
        match sort {
            Sort::Path => SortKey::Path { path: row.path.clone(), variant: row.variant.clone() },
            Sort::LastAccess => {
                SortKey::LastAccess { at: row.last_access, path: row.path.clone(), variant: row.variant.clone() }
            }
        }
    }

    pub fn sort(&self) -> Sort {
        match self {
            SortKey::Path { .. } => Sort::Path,
            SortKey::LastAccess { .. } => Sort::LastAccess,
        }
    }
}

/// One cached object row, as the browser shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    pub path: String,
    pub variant: String,
    pub digest: String,
    pub size: u64,
    pub content_type: Option<String>,
    pub mutable: bool,
    pub fetched_at: DateTime<Utc>,
    pub validated_at: DateTime<Utc>,
    pub hits: u64,
    /// The last access, or the fetch time when the object was not served since.
    pub last_access: DateTime<Utc>,
}

/// What an eviction removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evicted {
    pub count: u64,
    /// Sum of the evicted objects' sizes.
    pub bytes: u64,
    /// The distinct variants of the evicted objects.
    pub variants: Vec<String>,
}

/// Which objects of a remote to evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictTarget<'a> {
    /// Every object of the remote.
    All,
    /// Objects whose path starts with this.
    Prefix(&'a str),
    /// Every variant of exactly this path.
    Path(&'a str),
}

const COLUMNS: &str = "path, variant, digest, size, content_type, mutable, fetched_at, validated_at, hits, \
     COALESCE(last_access, fetched_at) AS last_access";

fn non_negative(what: &str, v: i64) -> Result<u64, DbError> {
    u64::try_from(v).map_err(|_| DbError::Query(format!("negative {what} {v}")))
}

fn row_from(row: &Row) -> Result<ObjectRow, DbError> {
    Ok(ObjectRow {
        path: row.try_get("path")?,
        variant: row.try_get("variant")?,
        digest: row.try_get("digest")?,
        size: non_negative("size", row.try_get("size")?)?,
        content_type: row.try_get("content_type")?,
        mutable: row.try_get("mutable")?,
        fetched_at: row.try_get("fetched_at")?,
        validated_at: row.try_get("validated_at")?,
        hits: non_negative("hits", row.try_get("hits")?)?,
        last_access: row.try_get("last_access")?,
    })
}

impl Db {
    /// Up to `limit` objects of `repo` under `prefix` (all when `None`), ordered by `sort` and
    /// `order`, starting after `after`.
    pub async fn list_objects(
        &self,
        repo: &str,
        prefix: Option<&str>,
        sort: Sort,
        order: Order,
        after: Option<&SortKey>,
        limit: u32,
    ) -> Result<Vec<ObjectRow>, DbError> {
        if after.is_some_and(|k| k.sort() != sort) {
            return Err(DbError::Query("cursor of another sort order".into()));
        }
        let (dir, cmp) = match order {
            Order::Asc => ("ASC", ">"),
            Order::Desc => ("DESC", "<"),
        };
        let columns: &[&str] = match sort {
            Sort::Path => &["path", "variant"],
            Sort::LastAccess => &["COALESCE(last_access, fetched_at)", "path", "variant"],
        };
        let key = columns.join(", ");
        let order_by = columns.iter().map(|k| format!("{k} {dir}")).collect::<Vec<_>>().join(", ");
        let limit = i64::from(limit);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&repo, &prefix, &limit];
        let keyset = match after {
            None => String::new(),
            Some(SortKey::Path { path, variant }) => {
                params.extend([path as &(dyn ToSql + Sync), variant]);
                format!("AND ({key}) {cmp} ($4, $5)")
            }
            Some(SortKey::LastAccess { at, path, variant }) => {
                params.extend([at as &(dyn ToSql + Sync), path, variant]);
                format!("AND ({key}) {cmp} ($4, $5, $6)")
            }
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM cached_objects \
             WHERE repo = $1 AND ($2::text IS NULL OR starts_with(path, $2)) {keyset} \
             ORDER BY {order_by} LIMIT $3"
        );
        let client = self.client().await?;
        let rows = client.query(&sql, &params).await?;
        rows.iter().map(row_from).collect()
    }

    /// How many objects `repo` has under `prefix` (all when `None`).
    pub async fn count_objects(&self, repo: &str, prefix: Option<&str>) -> Result<u64, DbError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM cached_objects WHERE repo = $1 AND ($2::text IS NULL OR starts_with(path, $2))",
                &[&repo, &prefix],
            )
            .await?;
        non_negative("count", row.try_get(0)?)
    }

    /// Deletes the catalog rows of `repo` that `target` names.
    pub async fn evict_objects(&self, repo: &str, target: EvictTarget<'_>) -> Result<Evicted, DbError> {
        let (condition, arg): (&str, Option<&str>) = match target {
            EvictTarget::All => ("TRUE", None),
            EvictTarget::Prefix(p) => ("starts_with(path, $2)", Some(p)),
            EvictTarget::Path(p) => ("path = $2", Some(p)),
        };
        let sql = format!(
            "WITH gone AS (DELETE FROM cached_objects WHERE repo = $1 AND ($2::text IS NULL OR {condition}) \
                 RETURNING variant, size) \
             SELECT count(*), COALESCE(sum(size), 0)::bigint, \
                 COALESCE(array_agg(DISTINCT variant), '{{}}'::text[]) FROM gone"
        );
        let client = self.client().await?;
        let row = client.query_one(&sql, &[&repo, &arg]).await?;
        Ok(Evicted {
            count: non_negative("count", row.try_get(0)?)?,
            bytes: non_negative("bytes", row.try_get(1)?)?,
            variants: row.try_get(2)?,
        })
    }
}

#[cfg(test)]
#[path = "objects_tests.rs"]
mod tests;

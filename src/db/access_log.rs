//! The access log in the catalog: batched inserts (binary `COPY`), filtered reads newest first with a keyset
//! cursor on `id`, and the retention delete.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{Db, DbError};

/// A row to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccess {
    pub at: DateTime<Utc>,
    pub repo: String,
    pub path: String,
    pub method: String,
    pub status: u16,
    pub cache_status: Option<&'static str>,
    pub bytes: u64,
    pub duration_ms: u64,
    pub client: Option<String>,
}

/// A row as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub repo: String,
    pub path: String,
    pub method: String,
    pub status: i32,
    pub cache_status: Option<String>,
    pub bytes: i64,
    pub duration_ms: i32,
    pub client: Option<String>,
}

/// Which statuses to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(u16),
    /// `4` for every `4xx`.
    Class(u16),
}

/// What to list; every field narrows the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFilter {
    pub repo: Option<String>,
    pub status: Option<StatusFilter>,
    /// `HIT`, `MISS`, `STALE` or `REVALIDATED`.
    pub cache: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub path_prefix: Option<String>,
    /// Only rows with a smaller id (the previous page's `next_cursor`).
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl Default for AccessFilter {
    fn default() -> Self {
        AccessFilter {
            repo: None,
            status: None,
            cache: None,
            since: None,
            until: None,
            path_prefix: None,
            before_id: None,
            limit: 100,
        }
    }
}

const COPY: &str = "COPY access_log (at, repo, path, method, status, cache_status, bytes, duration_ms, client) \
                    FROM STDIN (FORMAT binary)";
const COPY_TYPES: &[Type] = &[
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT4,
    Type::TEXT,
    Type::INT8,
    Type::INT4,
    Type::TEXT,
];

/// The statement and parameters of a filtered read.
fn select(f: &AccessFilter) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut push = |cond: &str, value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        conds.push(cond.replace('?', &format!("${}", params.len())));
    };
    if let Some(repo) = &f.repo {
        push("repo = ?", Box::new(repo.clone()));
    }
    match f.status {
        Some(StatusFilter::Exact(s)) => push("status = ?", Box::new(i32::from(s))),
        Some(StatusFilter::Class(c)) => push("status / 100 = ?", Box::new(i32::from(c))),
        None => {}
    }
    if let Some(cache) = &f.cache {
        push("cache_status = ?", Box::new(cache.clone()));
    }
    if let Some(since) = f.since {
        push("at >= ?", Box::new(since));
    }
    if let Some(until) = f.until {
        push("at < ?", Box::new(until));
    }
    if let Some(prefix) = &f.path_prefix {
        push("starts_with(path, ?)", Box::new(prefix.clone()));
    }
    if let Some(id) = f.before_id {
        push("id < ?", Box::new(id));
    }
    let filter = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
    params.push(Box::new(i64::from(f.limit)));
    let sql = format!(
        "SELECT id, at, repo, path, method, status, cache_status, bytes, duration_ms, client FROM access_log \
         {filter} ORDER BY id DESC LIMIT ${}",
        params.len()
    );
    (sql, params)
}

impl Db {
    /// Inserts rows with one binary `COPY` (cheaper for the server than an INSERT of the same
    /// rows); the number inserted.
    pub async fn insert_access_log(&self, rows: &[NewAccess]) -> Result<u64, DbError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let client = self.client().await?;
        let sink = client.copy_in(COPY).await?;
        let writer = BinaryCopyInWriter::new(sink, COPY_TYPES);
        let mut writer = std::pin::pin!(writer);
        for r in rows {
            let status = i32::from(r.status);
            let bytes = i64::try_from(r.bytes).unwrap_or(i64::MAX);
            let ms = i32::try_from(r.duration_ms).unwrap_or(i32::MAX);
            let values: [&(dyn ToSql + Sync); 9] =
                [&r.at, &r.repo, &r.path, &r.method, &status, &r.cache_status, &bytes, &ms, &r.client];
            writer.as_mut().write(&values).await?;
        }
        Ok(writer.as_mut().finish().await?)
    }

    /// Rows matching `f`, newest first.
    pub async fn query_access_log(&self, f: &AccessFilter) -> Result<Vec<AccessEntry>, DbError> {
        let (sql, params) = select(f);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        let client = self.client().await?;
        let rows = client.query(&sql, &refs).await?;
        rows.iter()
            .map(|row| {
                Ok(AccessEntry {
                    id: row.try_get(0)?,
                    at: row.try_get(1)?,
                    repo: row.try_get(2)?,
                    path: row.try_get(3)?,
                    method: row.try_get(4)?,
                    status: row.try_get(5)?,
                    cache_status: row.try_get(6)?,
                    bytes: row.try_get(7)?,
                    duration_ms: row.try_get(8)?,
                    client: row.try_get(9)?,
                })
            })
            .collect()
    }

    /// Deletes up to `batch` rows older than `before`; the number deleted. Called in a loop,
    /// so a large backlog never becomes one long transaction.
    pub async fn expire_access_log(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, DbError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM access_log WHERE id IN (SELECT id FROM access_log WHERE at < $1 LIMIT $2)",
                &[&before, &batch],
            )
            .await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_numbered_conditions() {
        let (sql, params) = select(&AccessFilter::default());
        assert!(sql.ends_with("FROM access_log  ORDER BY id DESC LIMIT $1"), "{sql}");
        assert_eq!(params.len(), 1);
        let f = AccessFilter {
            repo: Some("r".into()),
            status: Some(StatusFilter::Class(5)),
            cache: Some("HIT".into()),
            since: Some(Utc::now()),
            until: Some(Utc::now()),
            path_prefix: Some("a/".into()),
            before_id: Some(10),
            limit: 5,
        };
        let (sql, params) = select(&f);
        assert!(
            sql.contains(
                "WHERE repo = $1 AND status / 100 = $2 AND cache_status = $3 AND at >= $4 AND at < $5 \
                 AND starts_with(path, $6) AND id < $7 ORDER BY id DESC LIMIT $8"
            ),
            "{sql}"
        );
        assert_eq!(params.len(), 8);
    }
}

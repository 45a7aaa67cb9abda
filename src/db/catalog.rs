//! [`PgCatalog`]: the actors' [`Catalog`] on PostgreSQL.
//!
//! The delicate part is the blob life cycle shared by commits and GC. A commit records its blob
//! with [`Catalog::upsert_blob`] (an upsert that bumps `last_seen`); GC deletes a blob row and
//! its bytes in one transaction, holding the row lock while the bytes are deleted. A commit that
//! arrives meanwhile blocks on that row and, once GC commits, recreates the row and learns
//! (`true`) that it must publish the bytes again; if GC fails, it rolls back and the commit
//! finds the row still there. So bytes are never deleted under a row a commit has just seen.

use std::time::Duration;

use artifactapi_actors::catalog::{CachedObject, Catalog, CatalogError, DeleteBytes, HitBatch, ObjectKey};
use artifactapi_actors::digest::Digest;
use artifactapi_actors::storage::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::{Db, DbError};

/// The catalog, backed by the `cached_objects`, `blobs`, `local_files` and `upload_sessions`
/// tables.
#[derive(Debug, Clone)]
pub struct PgCatalog {
    db: Db,
}

impl PgCatalog {
    pub fn new(db: Db) -> Self {
        PgCatalog { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// The condition under which a blob is referenced: by a cached object, a local file, an
/// upload session still in progress, a manifest of a local docker repository (its own bytes)
/// or what such a manifest references (config, layers, the manifests of an index). A blob
/// that a docker repository merely links, with no manifest referencing it, is not kept: it
/// goes after the grace period, and its links with it. `$1` is the digest.
const REFERENCED: &str = "(EXISTS (SELECT 1 FROM cached_objects WHERE digest = $1) \
     OR EXISTS (SELECT 1 FROM local_files WHERE digest = $1) \
     OR EXISTS (SELECT 1 FROM upload_sessions WHERE digest = $1 AND state IN ('open', 'committing')) \
     OR EXISTS (SELECT 1 FROM oci_manifests WHERE digest = $1) \
     OR EXISTS (SELECT 1 FROM oci_manifest_refs WHERE digest = $1))";

fn to_i64(what: &str, v: u64) -> Result<i64, DbError> {
    i64::try_from(v).map_err(|_| DbError::Query(format!("{what} {v} out of range")))
}

fn object_from_row(key: &ObjectKey, row: &Row) -> Result<CachedObject, DbError> {
    let digest: String = row.try_get("digest")?;
    let size: i64 = row.try_get("size")?;
    Ok(CachedObject {
        key: key.clone(),
        digest: digest
            .parse::<Digest>()
            .map_err(|e| DbError::Query(format!("cached object {}/{}: digest {digest:?}: {e}", key.repo, key.path)))?,
        size: u64::try_from(size).map_err(|_| DbError::Query(format!("negative size {size}")))?,
        content_type: row.try_get("content_type")?,
        upstream_etag: row.try_get("upstream_etag")?,
        upstream_last_modified: row.try_get("upstream_last_modified")?,
        mutable: row.try_get("mutable")?,
        fetched_at: row.try_get("fetched_at")?,
    })
}

/// The queries, in terms of [`DbError`]; the [`Catalog`] impl below only converts errors.
impl PgCatalog {
    async fn lookup_row(&self, key: &ObjectKey) -> Result<Option<CachedObject>, DbError> {
        let client = self.db.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT digest, size, content_type, upstream_etag, upstream_last_modified, mutable, fetched_at \
                 FROM cached_objects WHERE repo = $1 AND path = $2 AND variant = $3",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&key.repo, &key.path, &key.variant]).await?;
        row.map(|r| object_from_row(key, &r)).transpose()
    }

    async fn put_row(&self, obj: &CachedObject) -> Result<(), DbError> {
        let client = self.db.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO cached_objects (repo, path, variant, digest, size, content_type, upstream_etag, \
                     upstream_last_modified, mutable, fetched_at, validated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                 ON CONFLICT (repo, path, variant) DO UPDATE SET digest = EXCLUDED.digest, size = EXCLUDED.size, \
                     content_type = EXCLUDED.content_type, upstream_etag = EXCLUDED.upstream_etag, \
                     upstream_last_modified = EXCLUDED.upstream_last_modified, mutable = EXCLUDED.mutable, \
                     fetched_at = EXCLUDED.fetched_at, validated_at = EXCLUDED.validated_at",
            )
            .await?;
        let k = &obj.key;
        client
            .execute(
                &stmt,
                &[
                    &k.repo,
                    &k.path,
                    &k.variant,
                    &obj.digest.to_string(),
                    &to_i64("size", obj.size)?,
                    &obj.content_type,
                    &obj.upstream_etag,
                    &obj.upstream_last_modified,
                    &obj.mutable,
                    &obj.fetched_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn renew_row(&self, key: &ObjectKey, etag: Option<&str>, last_modified: Option<&str>) -> Result<(), DbError> {
        let client = self.db.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE cached_objects SET upstream_etag = COALESCE($4, upstream_etag), \
                     upstream_last_modified = COALESCE($5, upstream_last_modified), validated_at = now() \
                 WHERE repo = $1 AND path = $2 AND variant = $3",
            )
            .await?;
        client.execute(&stmt, &[&key.repo, &key.path, &key.variant, &etag, &last_modified]).await?;
        Ok(())
    }

    async fn add_hits(&self, batch: &[HitBatch]) -> Result<(), DbError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (mut repos, mut paths, mut variants, mut hits, mut times) = (vec![], vec![], vec![], vec![], vec![]);
        for b in batch {
            repos.push(b.key.repo.as_str());
            paths.push(b.key.path.as_str());
            variants.push(b.key.variant.as_str());
            hits.push(i64::try_from(b.hits).unwrap_or(i64::MAX));
            times.push(b.last_access);
        }
        let client = self.db.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE cached_objects c SET hits = c.hits + b.hits, \
                     last_access = GREATEST(c.last_access, b.last_access) \
                 FROM (SELECT repo, path, variant, sum(hits)::bigint AS hits, max(last_access) AS last_access \
                       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[]) \
                           AS t(repo, path, variant, hits, last_access) \
                       GROUP BY repo, path, variant) b \
                 WHERE c.repo = b.repo AND c.path = b.path AND c.variant = b.variant",
            )
            .await?;
        let mut attempt = 0;
        loop {
            match client.execute(&stmt, &[&repos, &paths, &variants, &hits, &times]).await {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) && attempt < 3 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn upsert_blob_row(&self, digest: &Digest, size: u64) -> Result<bool, DbError> {
        let client = self.db.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO blobs (digest, size) VALUES ($1, $2) \
                 ON CONFLICT (digest) DO UPDATE SET last_seen = now() \
                 RETURNING (xmax = 0) AS inserted",
            )
            .await?;
        let row = client.query_one(&stmt, &[&digest.to_string(), &to_i64("size", size)?]).await?;
        Ok(row.try_get::<_, bool>(0)?)
    }

    /// The blob half of [`Catalog::gc_delete_blob`]; an `Err` from the store comes back as
    /// `Ok(Err(_))` after the rollback.
    async fn gc_delete(
        &self,
        digest: &Digest,
        size: u64,
        cutoff: DateTime<Utc>,
        delete_bytes: DeleteBytes<'_>,
    ) -> Result<Result<bool, StoreError>, DbError> {
        let digest_text = digest.to_string();
        let size = to_i64("size", size)?;
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        // A blob in the store without a row counts as last seen at the epoch.
        tx.execute(
            "INSERT INTO blobs (digest, size, created_at, last_seen) VALUES ($1, $2, 'epoch', 'epoch') \
             ON CONFLICT (digest) DO NOTHING",
            &[&digest_text, &size],
        )
        .await?;
        let deleted = tx
            .query_opt(
                &format!(
                    "DELETE FROM blobs WHERE digest = $1 AND last_seen < $2 AND NOT {REFERENCED} RETURNING digest"
                ),
                &[&digest_text, &cutoff],
            )
            .await?;
        if deleted.is_none() {
            // Referenced or recently seen: keep it, and do not leave an epoch row behind.
            tx.rollback().await?;
            return Ok(Ok(false));
        }
        // The row is deleted but not committed: commits of this digest wait on it meanwhile.
        if let Err(e) = delete_bytes.await {
            // The store error is the one to report; a failed rollback ends the transaction anyway.
            if let Err(rb) = tx.rollback().await {
                tracing::warn!(%digest, error = %super::error::render(&rb), "rollback after a failed blob delete");
            }
            return Ok(Err(e));
        }
        tx.commit().await?;
        Ok(Ok(true))
    }

    async fn referenced(&self, digest: &Digest) -> Result<bool, DbError> {
        let client = self.db.client().await?;
        let row = client.query_one(&format!("SELECT {REFERENCED}"), &[&digest.to_string()]).await?;
        Ok(row.try_get::<_, bool>(0)?)
    }
}

#[async_trait]
impl Catalog for PgCatalog {
    async fn lookup(&self, key: &ObjectKey) -> Result<Option<CachedObject>, CatalogError> {
        Ok(self.lookup_row(key).await?)
    }

    async fn put_object(&self, obj: &CachedObject) -> Result<(), CatalogError> {
        Ok(self.put_row(obj).await?)
    }

    /// Validators the 304 did not carry keep their previous value; `validated_at` becomes now.
    /// A missing object (evicted meanwhile) is not an error.
    async fn renew_object(
        &self,
        key: &ObjectKey,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<(), CatalogError> {
        Ok(self.renew_row(key, etag, last_modified).await?)
    }

    /// One statement for the whole batch; repeated keys are summed and the latest access wins.
    /// Objects evicted meanwhile are skipped. A deadlock with another replica's batch is retried.
    async fn record_hits(&self, batch: &[HitBatch]) -> Result<(), CatalogError> {
        Ok(self.add_hits(batch).await?)
    }

    async fn upsert_blob(&self, digest: &Digest, size: u64) -> Result<bool, CatalogError> {
        Ok(self.upsert_blob_row(digest, size).await?)
    }

    async fn gc_delete_blob(
        &self,
        digest: &Digest,
        size: u64,
        cutoff: DateTime<Utc>,
        delete_bytes: DeleteBytes<'_>,
    ) -> Result<bool, CatalogError> {
        Ok(self.gc_delete(digest, size, cutoff, delete_bytes).await??)
    }

    async fn blob_referenced(&self, digest: &Digest) -> Result<bool, CatalogError> {
        Ok(self.referenced(digest).await?)
    }
}

//! Blob uploads in progress: one row per upload, one per stored part.
//!
//! The upload row is the upload's lock: appending a part takes it `FOR UPDATE`, checks that
//! the part starts where the upload stands, and moves the size on, all in one transaction, so
//! two requests (on one replica or two) can never both append at the same offset. The part's
//! bytes are stored before that transaction; if it refuses the part, the caller removes them.

use std::collections::HashSet;

use artifactapi_actors::storage::PartKey;
use artifactapi_actors::Digest;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{digest_of, to_i64, to_u64, Repository};
use crate::db::{Db, DbError};

/// One stored part of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    pub offset: u64,
    pub key: PartKey,
    pub size: u64,
    pub digest: Digest,
}

/// An upload in progress: its size so far and its parts in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadState {
    pub size: u64,
    pub parts: Vec<StoredPart>,
}

/// The outcome of [`Db::docker_append_part`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Recorded; the upload's new size.
    Size(u64),
    /// No such upload in this repository (finished, cancelled, purged).
    Unknown,
    /// The upload does not stand at the part's offset (another chunk came first).
    OutOfOrder { size: u64 },
}

impl Db {
    /// Starts an upload into `repo`.
    pub async fn docker_create_upload(&self, repo: &Repository, id: Uuid) -> Result<(), DbError> {
        let client = self.client().await?;
        client
            .execute("INSERT INTO oci_uploads (id, local, image) VALUES ($1, $2, $3)", &[&id, &repo.local, &repo.image])
            .await?;
        Ok(())
    }

    /// The size of upload `id` of `repo`, marking it active (its age restarts); `None` when
    /// there is no such upload.
    pub async fn docker_touch_upload(&self, repo: &Repository, id: Uuid) -> Result<Option<u64>, DbError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE oci_uploads SET updated_at = now() WHERE id = $1 AND local = $2 AND image = $3 RETURNING size",
                &[&id, &repo.local, &repo.image],
            )
            .await?;
        row.map(|r| to_u64("size", r.try_get(0)?)).transpose()
    }

    /// Upload `id` of `repo` with its parts, or `None`.
    pub async fn docker_upload(&self, repo: &Repository, id: Uuid) -> Result<Option<UploadState>, DbError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                "SELECT size FROM oci_uploads WHERE id = $1 AND local = $2 AND image = $3",
                &[&id, &repo.local, &repo.image],
            )
            .await?
        else {
            return Ok(None);
        };
        let size = to_u64("size", row.try_get(0)?)?;
        let rows = client
            .query(
                "SELECT \"offset\", part, size, digest FROM oci_upload_parts WHERE upload = $1 ORDER BY \"offset\"",
                &[&id],
            )
            .await?;
        let parts = rows
            .iter()
            .map(|r| {
                Ok(StoredPart {
                    offset: to_u64("offset", r.try_get(0)?)?,
                    key: PartKey { upload: id, part: r.try_get(1)? },
                    size: to_u64("size", r.try_get(2)?)?,
                    digest: digest_of(r, "digest")?,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(Some(UploadState { size, parts }))
    }

    /// Records a stored part at `offset` if the upload stands there.
    pub async fn docker_append_part(
        &self,
        repo: &Repository,
        offset: u64,
        key: &PartKey,
        size: u64,
        digest: &Digest,
    ) -> Result<Appended, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT size FROM oci_uploads WHERE id = $1 AND local = $2 AND image = $3 FOR UPDATE",
                &[&key.upload, &repo.local, &repo.image],
            )
            .await?;
        let Some(row) = row else { return Ok(Appended::Unknown) };
        let current = to_u64("size", row.try_get(0)?)?;
        if current != offset {
            return Ok(Appended::OutOfOrder { size: current });
        }
        tx.execute(
            "INSERT INTO oci_upload_parts (upload, \"offset\", part, size, digest) VALUES ($1, $2, $3, $4, $5)",
            &[&key.upload, &to_i64("offset", offset)?, &key.part, &to_i64("size", size)?, &digest.to_string()],
        )
        .await?;
        let row = tx
            .query_one(
                "UPDATE oci_uploads SET size = size + $2, updated_at = now() WHERE id = $1 RETURNING size",
                &[&key.upload, &to_i64("size", size)?],
            )
            .await?;
        tx.commit().await?;
        Ok(Appended::Size(to_u64("size", row.try_get(0)?)?))
    }

    /// Ends upload `id` as blob `digest`: links the blob to the repository and deletes the
    /// upload's rows, in one transaction. The blob must have been committed.
    pub async fn docker_finish_upload(
        &self,
        repo: &Repository,
        id: Uuid,
        digest: &Digest,
        size: u64,
    ) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM oci_uploads WHERE id = $1 AND local = $2 AND image = $3",
            &[&id, &repo.local, &repo.image],
        )
        .await?;
        tx.execute(
            "INSERT INTO oci_blobs (local, image, digest, size) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (local, image, digest) DO NOTHING",
            &[&repo.local, &repo.image, &digest.to_string(), &to_i64("size", size)?],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes upload `id` of `repo` (cancelled); whether it existed.
    pub async fn docker_delete_upload(&self, repo: &Repository, id: Uuid) -> Result<bool, DbError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM oci_uploads WHERE id = $1 AND local = $2 AND image = $3",
                &[&id, &repo.local, &repo.image],
            )
            .await?;
        Ok(n > 0)
    }

    /// Deletes up to `limit` uploads idle since before `cutoff` and returns their ids (their
    /// parts are the caller's to delete). Rows another transaction holds are skipped.
    pub async fn docker_expire_uploads(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<Vec<Uuid>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "DELETE FROM oci_uploads WHERE id IN (SELECT id FROM oci_uploads WHERE updated_at < $1 \
                     ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id",
                &[&cutoff, &limit],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Which of `ids` are uploads in progress.
    pub async fn docker_live_uploads(&self, ids: &[Uuid]) -> Result<HashSet<Uuid>, DbError> {
        let client = self.client().await?;
        let rows = client.query("SELECT id FROM oci_uploads WHERE id = ANY($1)", &[&ids]).await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

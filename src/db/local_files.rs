//! Files of local repositories in `local_files`: one row per path, naming its blob.
//!
//! A file is written after its bytes were committed to the blob store, so a row always names
//! bytes that exist (GC keeps every blob a row names). Writing refuses an existing path unless
//! overwriting is allowed, in one statement, so two concurrent uploads of one path cannot both
//! win. Every write bumps the local's generation ([`super::local_packages`]).

use artifactapi_actors::digest::Digest;
use chrono::{DateTime, Utc};

use tokio_postgres::Transaction;

use super::{Db, DbError};

/// What inserting a file does when its path already has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnTaken {
    /// Leave the existing row; the insert reports that nothing was written.
    Keep,
    /// Point the path at the new blob.
    Replace,
}

/// Inserts `f` into local `repo` within `tx`. `Ok(false)`: the path has a file and `on_taken`
/// is [`OnTaken::Keep`], so nothing was written. One statement, so two concurrent inserts of
/// one path cannot both win. Does not bump the generation.
pub(super) async fn insert_file(
    tx: &Transaction<'_>,
    repo: &str,
    f: &LocalFile,
    on_taken: OnTaken,
) -> Result<bool, DbError> {
    let size = i64::try_from(f.size).map_err(|_| DbError::Query(format!("size {}", f.size)))?;
    let statement = match on_taken {
        OnTaken::Keep => {
            "INSERT INTO local_files (repo, path, digest, size, content_type) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (repo, path) DO NOTHING"
        }
        OnTaken::Replace => {
            "INSERT INTO local_files (repo, path, digest, size, content_type) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (repo, path) DO UPDATE SET digest = EXCLUDED.digest, size = EXCLUDED.size, \
             content_type = EXCLUDED.content_type, updated_at = now()"
        }
    };
    let n = tx.execute(statement, &[&repo, &f.path, &f.digest.to_string(), &size, &f.content_type]).await?;
    Ok(n > 0)
}

/// One file of a local.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub path: String,
    pub digest: Digest,
    pub size: u64,
    pub content_type: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// What a folder of a local holds directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folder {
    pub files: Vec<LocalFile>,
    /// Names of the folders below it (without a slash).
    pub folders: Vec<String>,
}

fn file(row: &tokio_postgres::Row) -> Result<LocalFile, DbError> {
    let digest: String = row.try_get("digest")?;
    let size: i64 = row.try_get("size")?;
    Ok(LocalFile {
        path: row.try_get("path")?,
        digest: digest.parse().map_err(|e| DbError::Query(format!("local_files.digest {digest:?}: {e}")))?,
        size: u64::try_from(size).map_err(|_| DbError::Query(format!("local_files.size {size}")))?,
        content_type: row.try_get("content_type")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "path, digest, size, content_type, updated_at";

impl Db {
    /// The file at `path` of local `repo`.
    pub async fn local_file(&self, repo: &str, path: &str) -> Result<Option<LocalFile>, DbError> {
        let client = self.client().await?;
        let stmt =
            client.prepare_cached(&format!("SELECT {COLUMNS} FROM local_files WHERE repo = $1 AND path = $2")).await?;
        client.query_opt(&stmt, &[&repo, &path]).await?.as_ref().map(file).transpose()
    }

    /// Records `f` in local `repo`; `Conflict` when the path has a file and `overwrite` is false.
    pub async fn put_local_file(&self, repo: &str, f: &LocalFile, overwrite: bool) -> Result<(), DbError> {
        let on_taken = if overwrite { OnTaken::Replace } else { OnTaken::Keep };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !insert_file(&tx, repo, f, on_taken).await? {
            return Err(DbError::Conflict(format!(
                "{:?} exists in {repo:?} and the local does not allow overwriting",
                f.path
            )));
        }
        super::local_packages::bump(&tx, repo).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the file at `path`; whether there was one.
    pub async fn delete_local_file(&self, repo: &str, path: &str) -> Result<bool, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx.execute("DELETE FROM local_files WHERE repo = $1 AND path = $2", &[&repo, &path]).await?;
        if n > 0 {
            super::local_packages::bump(&tx, repo).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// What the folder `dir` (empty, or ending with `/`) of local `repo` holds directly, at most
    /// `limit` files, in path order.
    pub async fn local_folder(&self, repo: &str, dir: &str, limit: i64) -> Result<Folder, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM local_files WHERE repo = $1 AND starts_with(path, $2) \
                     AND strpos(substr(path, length($2) + 1), '/') = 0 ORDER BY path COLLATE \"C\" LIMIT $3"
                ),
                &[&repo, &dir, &limit],
            )
            .await?;
        let files = rows.iter().map(file).collect::<Result<Vec<_>, _>>()?;
        let rows = client
            .query(
                "SELECT folder FROM (SELECT DISTINCT split_part(substr(path, length($2) + 1), '/', 1) AS folder \
                 FROM local_files WHERE repo = $1 AND starts_with(path, $2) \
                 AND strpos(substr(path, length($2) + 1), '/') > 0) f ORDER BY folder COLLATE \"C\" LIMIT $3",
                &[&repo, &dir, &limit],
            )
            .await?;
        let folders = rows.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>()?;
        Ok(Folder { files, folders })
    }

    /// Publishes a generated snapshot of local `repo` (an rpm local's `repodata/`) in one
    /// transaction, if the local is still at `generation` (the state it was generated from):
    /// writes `files` (replacing what their paths held) and deletes every other file below
    /// `dir` whose path is not in `keep`. Does not bump the generation (the snapshot is derived
    /// from the local's state, not a change of it). `Ok(false)`: the local changed meanwhile,
    /// nothing was written.
    pub async fn publish_local_snapshot(
        &self,
        repo: &str,
        generation: i64,
        dir: &str,
        files: &[LocalFile],
        keep: &[String],
    ) -> Result<bool, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx.query_opt("SELECT generation FROM locals WHERE name = $1 FOR UPDATE", &[&repo]).await?;
        let Some(row) = row else { return Err(DbError::NotFound(format!("local {repo:?}"))) };
        let current: i64 = row.try_get(0)?;
        if current != generation {
            return Ok(false);
        }
        for f in files {
            insert_file(&tx, repo, f, OnTaken::Replace).await?;
        }
        tx.execute(
            "DELETE FROM local_files WHERE repo = $1 AND starts_with(path, $2) AND NOT (path = ANY($3))",
            &[&repo, &dir, &keep],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

//! Storing what clients upload to local repositories: streamed into a staging file that hashes
//! it as it arrives (never held in memory, bounded by the configured limit), committed to the
//! blob store by the storage actor (published only if it hashes to what the client promised),
//! then recorded. A body that breaks off, exceeds the limit or fails its digest leaves nothing
//! behind.

use std::sync::Arc;

use actix::Addr;
use artifactapi_actors::digest::Digest;
use artifactapi_actors::storage::{BlobStore, Commit, Committed, Staged, StagingArea, StagingWriter, StorageActor};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use super::LocalError;
use crate::db::local_files::LocalFile;
use crate::db::{Db, DbError};
use crate::formats::LocalVersion;

/// Bytes gathered before each write to the staging file (request bodies arrive in small pieces).
const WRITE_BUFFER: usize = 256 * 1024;

/// Why a body could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("upload larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("reading the upload: {0}")]
    Body(String),
    #[error("staging the upload: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StageError> for LocalError {
    fn from(e: StageError) -> Self {
        match e {
            StageError::TooLarge { limit } => LocalError::TooLarge { limit },
            StageError::Body(m) => LocalError::Body(m),
            StageError::Io(e) => LocalError::Unavailable(format!("staging the upload: {e}")),
        }
    }
}

/// Streams `body` into a new staging file, refusing more than `limit` bytes.
pub async fn stage<S, E>(staging: &StagingArea, body: S, limit: u64) -> Result<Staged, StageError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    stage_into(staging.create().await?, body, limit).await
}

/// [`stage`] into the writer `w` (one that takes the SHA-512 too, say).
pub async fn stage_into<S, E>(mut w: StagingWriter, mut body: S, limit: u64) -> Result<Staged, StageError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut buf = BytesMut::new();
    let mut total = 0u64;
    loop {
        let chunk = match body.next().await {
            None => break,
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                w.abort().await;
                return Err(StageError::Body(e.to_string()));
            }
        };
        total += chunk.len() as u64;
        if total > limit {
            w.abort().await;
            return Err(StageError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
        if buf.len() >= WRITE_BUFFER {
            if let Err(e) = w.write(&buf).await {
                w.abort().await;
                return Err(e.into());
            }
            buf.clear();
        }
    }
    if !buf.is_empty() {
        if let Err(e) = w.write(&buf).await {
            w.abort().await;
            return Err(e.into());
        }
    }
    Ok(w.finish().await?)
}

/// The files of local repositories. Cheap to clone.
#[derive(Clone)]
pub struct LocalFiles {
    pub db: Db,
    pub store: Arc<dyn BlobStore>,
    pub storage: Addr<StorageActor>,
    pub staging: StagingArea,
    /// Largest upload accepted, in bytes.
    pub max_upload: u64,
    /// The deployment's key, for the signed indexes locals publish.
    pub signer: crate::signing::Signer,
    /// The plugin protocols recorded for a provider version uploaded to a terraform local
    /// (`TF_PROVIDER_PROTOCOLS`).
    pub terraform_protocols: Vec<String>,
}

impl LocalFiles {
    /// Streams an upload into staging (see [`stage`]).
    pub async fn stage<S, E>(&self, body: S) -> Result<Staged, LocalError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        Ok(stage(&self.staging, body, self.max_upload).await?)
    }

    /// Commits staged bytes as a blob, checked against `expected` when the client named a
    /// digest (a mismatch publishes nothing).
    pub async fn commit(&self, staged: Staged, expected: Option<Digest>) -> Result<Committed, LocalError> {
        let committed = self
            .storage
            .send(Commit { staged, expected, object: None })
            .await
            .map_err(|e| LocalError::Unavailable(format!("storage actor: {e}")))??;
        Ok(committed)
    }

    /// Stores `bytes` (a body already in memory, a generated file) as a blob.
    pub async fn commit_bytes(&self, bytes: &[u8]) -> Result<Committed, LocalError> {
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(bytes))]);
        let staged = self.stage(body).await?;
        self.commit(staged, None).await
    }

    /// Runs `inspect` on the staged upload on a blocking thread (reading an archive's manifest,
    /// a package's headers). If it fails, the staged bytes are discarded and its error is
    /// mapped by `refused`; nothing is stored.
    pub async fn inspect<T, E>(
        staged: &Staged,
        what: &str,
        inspect: impl FnOnce(&std::path::Path) -> Result<T, E> + Send + 'static,
        refused: impl FnOnce(E) -> LocalError,
    ) -> Result<T, LocalError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let path = staged.path.clone();
        match tokio::task::spawn_blocking(move || inspect(&path)).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => {
                staged.discard().await;
                Err(refused(e))
            }
            Err(e) => {
                staged.discard().await;
                Err(LocalError::Internal(format!("reading the {what}: {e}")))
            }
        }
    }

    /// Refuses an upload to `path` of local `repo` when a file is there already: `exists`,
    /// with the staged bytes discarded.
    pub async fn refuse_taken(
        &self,
        repo: &str,
        path: &str,
        staged: &Staged,
        exists: impl FnOnce() -> LocalError,
    ) -> Result<(), LocalError> {
        match self.db.local_file(repo, path).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => {
                staged.discard().await;
                Err(exists())
            }
            Err(e) => {
                staged.discard().await;
                Err(e.into())
            }
        }
    }

    /// Publishes version `v` with its `stored` files ([`crate::db::Db::publish_local_version`]);
    /// a version or path published before is `exists`.
    pub async fn publish_version(
        &self,
        repo: &str,
        v: &LocalVersion,
        stored: &[LocalFile],
        exists: impl FnOnce() -> LocalError,
    ) -> Result<(), LocalError> {
        self.db.publish_local_version(repo, v, stored, &[]).await.map_err(|e| match e {
            DbError::Conflict(_) => exists(),
            other => other.into(),
        })
    }

    /// The file record of committed bytes at `path`.
    pub fn file(path: &str, committed: &Committed, content_type: Option<&str>) -> LocalFile {
        LocalFile {
            path: path.to_string(),
            digest: committed.digest,
            size: committed.size,
            content_type: content_type.map(str::to_string),
            updated_at: chrono::Utc::now(),
        }
    }
}

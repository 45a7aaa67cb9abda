//! Blob uploads: monolithic, chunked and streamed, resumable on any replica.
//!
//! Every body is streamed into a local staging file that hashes it as it arrives (never held
//! in memory). What happens next depends on the request:
//! - a monolithic upload (`POST ?digest=`), or the closing `PUT` of an upload that has no
//!   bytes yet, commits the staging file at once through the storage actor, which publishes it
//!   only if it hashes to the digest the client named;
//! - a chunk (`PATCH`, or the body of a closing `PUT` after earlier chunks) is stored as a
//!   part of the upload in the shared blob store and recorded in the catalog at its offset
//!   ([`crate::db::docker_local::uploads`]), so the next chunk may go to another replica, or to
//!   this one after a restart;
//! - closing an upload of one part promotes that part to the blob in place (the catalog holds
//!   its digest, taken while it was staged); several parts are read back, in order, into a
//!   staging file that is hashed and committed like any other.
//!
//! A wrong digest cancels the upload (as the reference registry does) and publishes nothing.
//!
//! The client may name the blob by its `sha512:` digest: the staging writer then takes the
//! SHA-512 as the bytes arrive, the blob is published under its SHA-256 like any other, and the
//! SHA-512 is recorded as its alias ([`crate::db::Db::put_digest_alias`]) for pulls by that name.

use std::sync::Arc;

use actix::Addr;
use artifactapi_actors::storage::{
    parts::PROMOTE_MAX, BlobStore, Commit, CommitPart, Committed, PartKey, Staged, StagingArea, StagingWriter,
    StorageActor,
};
use artifactapi_actors::Digest;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use uuid::Uuid;

use super::chunk::{self, ChunkRange};
use super::{Error, Repository};
use crate::db::docker_local::uploads::{Appended, UploadState};
use crate::db::Db;
use crate::formats::docker::OciDigest;

/// What the registry operations of local docker repositories need. Cheap to clone.
#[derive(Clone)]
pub struct DockerLocal {
    pub db: Db,
    pub store: Arc<dyn BlobStore>,
    pub storage: Addr<StorageActor>,
    pub staging: StagingArea,
    /// Largest manifest accepted, in bytes.
    pub max_manifest: usize,
    /// Largest blob an upload may make (`LOCAL_MAX_UPLOAD`), in bytes.
    pub max_blob: u64,
}

/// A chunk of an upload: where it claims to go and how long its body says it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkHeaders {
    pub range: Option<ChunkRange>,
    pub content_length: Option<u64>,
}

/// The location of an upload: `/v2/{local}/{image}/blobs/uploads/{id}`.
pub fn upload_location(repo: &Repository, id: &Uuid) -> String {
    format!("/v2/{repo}/blobs/uploads/{id}")
}

/// The location of a blob: `/v2/{local}/{image}/blobs/{digest}`.
pub fn blob_location(repo: &Repository, digest: &impl std::fmt::Display) -> String {
    format!("/v2/{repo}/blobs/{digest}")
}

impl DockerLocal {
    fn too_large(&self) -> Error {
        Error::TooLarge { what: "blob", limit: usize::try_from(self.max_blob).unwrap_or(usize::MAX) }
    }

    /// Refuses a body announced longer than the `room` left below `max_blob`, before a byte
    /// of it is read (its bytes are counted against `room` as they stream too).
    fn check_room(&self, announced: Option<u64>, room: u64) -> Result<(), Error> {
        match announced {
            Some(n) if n > room => Err(self.too_large()),
            _ => Ok(()),
        }
    }

    /// Streams `body` (at most `room` bytes) into a new staging file.
    pub async fn stage<S, E>(&self, body: S, room: u64) -> Result<Staged, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.stage_into(self.staging.create().await, body, room).await
    }

    /// Streams `body` into a new staging file that also takes the hash `named` needs.
    async fn stage_for<S, E>(&self, named: &OciDigest, body: S, room: u64) -> Result<Staged, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.stage_into(self.writer_for(named).await, body, room).await
    }

    /// A staging writer that takes the hash `named` needs (the SHA-256 it always takes, or
    /// the SHA-512 too).
    async fn writer_for(&self, named: &OciDigest) -> std::io::Result<StagingWriter> {
        match named {
            OciDigest::Sha256(_) => self.staging.create().await,
            OciDigest::Sha512(_) => self.staging.create_sha512().await,
        }
    }

    async fn stage_into<S, E>(&self, w: std::io::Result<StagingWriter>, body: S, room: u64) -> Result<Staged, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let w = w.map_err(|e| Error::Store(e.into()))?;
        crate::locals::files::stage_into(w, body, room).await.map_err(|e| match e {
            crate::locals::files::StageError::Io(e) => Error::Store(e.into()),
            crate::locals::files::StageError::TooLarge { .. } => self.too_large(),
            other => Error::Body(other.to_string()),
        })
    }

    /// The blob `named` names: itself for a SHA-256, the recorded alias for a SHA-512.
    pub async fn resolve(&self, named: &OciDigest) -> Result<Option<Digest>, Error> {
        match named {
            OciDigest::Sha256(d) => Ok(Some(*d)),
            OciDigest::Sha512(_) => Ok(self.db.digest_alias(&named.to_string()).await?),
        }
    }

    /// Commits staged bytes the client named `named`: a SHA-256 is checked by the storage
    /// actor, a SHA-512 against what the staging writer took, then recorded as the blob's alias.
    pub(super) async fn commit_named(&self, staged: Staged, named: &OciDigest) -> Result<Committed, Error> {
        let want = match named {
            OciDigest::Sha256(d) => return self.commit_staged(staged, *d).await,
            OciDigest::Sha512(want) => want,
        };
        if staged.sha512.as_ref() != Some(want) {
            let actual = staged.sha512.map(|h| OciDigest::Sha512(h).to_string());
            staged.discard().await;
            return Err(Error::DigestInvalid(format!(
                "the uploaded bytes are {}, not {named}",
                actual.as_deref().unwrap_or("not hashed with sha512")
            )));
        }
        let digest = staged.digest;
        let committed = self.commit_staged(staged, digest).await?;
        self.db.put_digest_alias(&named.to_string(), &committed.digest).await?;
        Ok(committed)
    }

    /// `POST .../blobs/uploads/`: a new, empty upload.
    pub async fn start_upload(&self, repo: &Repository) -> Result<Uuid, Error> {
        let id = Uuid::new_v4();
        self.db.docker_create_upload(repo, id).await?;
        Ok(id)
    }

    /// `POST .../blobs/uploads/?digest=`: the whole blob in one request.
    pub async fn put_blob<S, E>(
        &self,
        repo: &Repository,
        expected: OciDigest,
        announced: Option<u64>,
        body: S,
    ) -> Result<Committed, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.check_room(announced, self.max_blob)?;
        let staged = self.stage_for(&expected, body, self.max_blob).await?;
        let committed = self.commit_named(staged, &expected).await?;
        self.db.docker_link_blob(repo, &committed.digest, committed.size).await?;
        Ok(committed)
    }

    async fn commit_staged(&self, staged: Staged, expected: Digest) -> Result<Committed, Error> {
        Ok(self.storage.send(Commit { staged, expected: Some(expected), object: None }).await??)
    }

    /// The size of upload `id` so far (`GET` on the upload URL); asking keeps it alive.
    pub async fn upload_size(&self, repo: &Repository, id: Uuid) -> Result<u64, Error> {
        self.db.docker_touch_upload(repo, id).await?.ok_or_else(|| Error::UploadUnknown(id.to_string()))
    }

    /// `PATCH`: appends a chunk; the upload's new size.
    pub async fn append<S, E>(&self, repo: &Repository, id: Uuid, chunk: ChunkHeaders, body: S) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let size = self.db.docker_touch_upload(repo, id).await?.ok_or_else(|| Error::UploadUnknown(id.to_string()))?;
        chunk::check(chunk.range, size, chunk.content_length)?;
        let room = self.max_blob.saturating_sub(size);
        self.check_room(chunk.content_length, room)?;
        let staged = self.stage(body, room).await?;
        self.store_chunk(repo, id, size, chunk.range, staged).await
    }

    /// Checks a staged chunk and stores it as the part at `size` (where the upload stood).
    async fn store_chunk(
        &self,
        repo: &Repository,
        id: Uuid,
        size: u64,
        range: Option<ChunkRange>,
        staged: Staged,
    ) -> Result<u64, Error> {
        if let Err(e) = chunk::check_received(range, staged.size) {
            staged.discard().await;
            return Err(e.into());
        }
        if staged.size == 0 {
            staged.discard().await;
            return Ok(size);
        }
        let key = PartKey::new(id);
        if let Err(e) = self.store.put_part(&staged.path, &key, staged.size).await {
            staged.discard().await;
            return Err(e.into());
        }
        match self.db.docker_append_part(repo, size, &key, staged.size, &staged.digest).await? {
            Appended::Size(n) => Ok(n),
            Appended::OutOfOrder { size: now } => {
                // Another chunk came first; this part stays unrecorded and goes with the upload.
                Err(Error::OutOfOrder { start: size, size: now })
            }
            Appended::Unknown => {
                // Cancelled or purged meanwhile: nothing of the upload is wanted any more.
                self.remove_parts(id).await;
                Err(Error::UploadUnknown(id.to_string()))
            }
        }
    }

    /// `PUT ?digest=`: appends the body (if any) as the last chunk and makes the blob.
    pub async fn finish<S, E>(
        &self,
        repo: &Repository,
        id: Uuid,
        expected: OciDigest,
        chunk: ChunkHeaders,
        body: S,
    ) -> Result<Committed, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let size = self.db.docker_touch_upload(repo, id).await?.ok_or_else(|| Error::UploadUnknown(id.to_string()))?;
        chunk::check(chunk.range, size, chunk.content_length)?;
        let room = self.max_blob.saturating_sub(size);
        self.check_room(chunk.content_length, room)?;
        let staged = self.stage_for(&expected, body, room).await?;
        let committed = if size == 0 && staged.size > 0 && chunk.range.is_none_or(|r| r.len() == staged.size) {
            // The whole blob in the closing request: no part needed.
            self.commit_or_cancel(repo, id, self.commit_named(staged, &expected)).await?
        } else {
            self.store_chunk(repo, id, size, chunk.range, staged).await?;
            let state = self.db.docker_upload(repo, id).await?.ok_or_else(|| Error::UploadUnknown(id.to_string()))?;
            self.commit_or_cancel(repo, id, self.commit_parts(state, expected)).await?
        };
        self.db.docker_finish_upload(repo, id, &committed.digest, committed.size).await?;
        self.remove_parts(id).await;
        Ok(committed)
    }

    /// Runs a commit; if the bytes are not what the client said, cancels the upload.
    async fn commit_or_cancel(
        &self,
        repo: &Repository,
        id: Uuid,
        commit: impl std::future::Future<Output = Result<Committed, Error>>,
    ) -> Result<Committed, Error> {
        let result = commit.await;
        if let Err(Error::DigestInvalid(_)) = &result {
            if let Err(e) = self.cancel(repo, id).await {
                tracing::warn!(upload = %id, error = %e, "could not cancel an upload with a wrong digest");
            }
        }
        result
    }

    /// Commits the recorded parts of an upload as one blob.
    async fn commit_parts(&self, state: UploadState, expected: OciDigest) -> Result<Committed, Error> {
        let contiguous = state.parts.iter().try_fold(0u64, |at, p| (p.offset == at).then_some(at + p.size));
        if contiguous != Some(state.size) {
            return Err(Error::UploadInvalid(format!("the upload's parts do not add up to its {} bytes", state.size)));
        }
        // A part's SHA-256 is known from its staging; a SHA-512 needs the bytes read back.
        if let ([part], OciDigest::Sha256(expected)) = (state.parts.as_slice(), expected) {
            if part.size <= PROMOTE_MAX {
                let msg = CommitPart { part: part.key, digest: part.digest, size: part.size, expected };
                return Ok(self.storage.send(msg).await??);
            }
        }
        let mut w = self.writer_for(&expected).await.map_err(|e| Error::Store(e.into()))?;
        for part in &state.parts {
            if let Err(e) = self.copy_part(&part.key, part.size, &mut w).await {
                w.abort().await;
                return Err(e);
            }
        }
        let staged = w.finish().await.map_err(|e| Error::Store(e.into()))?;
        self.commit_named(staged, &expected).await
    }

    async fn copy_part(&self, key: &PartKey, size: u64, w: &mut StagingWriter) -> Result<(), Error> {
        let start = w.written();
        let mut body = self.store.open_part(key).await?;
        while let Some(bytes) = body.next().await {
            w.write(&bytes.map_err(|e| Error::Store(e.into()))?).await.map_err(|e| Error::Store(e.into()))?;
        }
        if w.written() - start != size {
            return Err(Error::UploadInvalid(format!(
                "part {} has {} bytes, not {size}",
                key.part,
                w.written() - start
            )));
        }
        Ok(())
    }

    /// `DELETE` on the upload URL: forgets the upload and its parts.
    pub async fn cancel(&self, repo: &Repository, id: Uuid) -> Result<(), Error> {
        if !self.db.docker_delete_upload(repo, id).await? {
            return Err(Error::UploadUnknown(id.to_string()));
        }
        self.remove_parts(id).await;
        Ok(())
    }

    /// Deletes the stored parts of an upload that is over; a failure leaves them to the purge.
    async fn remove_parts(&self, id: Uuid) {
        if let Err(e) = self.store.delete_upload(&id).await {
            tracing::warn!(upload = %id, error = %e, "could not delete the parts of a finished upload; the purge will");
        }
    }
}

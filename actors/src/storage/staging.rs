//! Staging files: where bytes land before they are verified and published.
//!
//! Every write to the store starts here, on local disk under `DATA_DIR/staging`, whatever the
//! backend: the writer hashes as it writes, so when the last byte is in, the digest is known and
//! can be compared with what the upstream or the client promised (a writer made by
//! [`StagingArea::create_sha512`] also takes the SHA-512, for bytes a registry client names by
//! a `sha512:` digest). Only then does the
//! [`super::StorageActor`] publish the file. The staging directory lives beside the filesystem
//! store's blobs so publishing there is a rename on the same filesystem.

use std::io;
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use tokio::io::AsyncWriteExt;

use crate::digest::{Digest, Hasher};

/// The directory staging files are created in.
#[derive(Debug, Clone)]
pub struct StagingArea {
    dir: PathBuf,
}

impl StagingArea {
    /// Uses (and creates) `dir`. Leftovers of a previous process are removed: a staging file
    /// that was never published is by definition partial.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(StagingArea { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new, empty staging file.
    pub async fn create(&self) -> io::Result<StagingWriter> {
        let path = self.dir.join(format!("{}.part", uuid::Uuid::new_v4()));
        let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await?;
        Ok(StagingWriter { path, file, hasher: Hasher::new(), sha512: None })
    }

    /// A new, empty staging file whose SHA-512 is taken too ([`Staged::sha512`]).
    pub async fn create_sha512(&self) -> io::Result<StagingWriter> {
        let mut w = self.create().await?;
        w.sha512 = Some(Box::new(sha2::Sha512::new()));
        Ok(w)
    }
}

/// Writes one staging file, hashing as it goes.
#[derive(Debug)]
pub struct StagingWriter {
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Hasher,
    sha512: Option<Box<sha2::Sha512>>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher({} bytes)", self.len())
    }
}

impl StagingWriter {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.hasher.len()
    }

    /// Appends `bytes`. When this returns the bytes are in the file (tokio's file buffers
    /// internally, so it is flushed): readers of a growing spool may read up to [`Self::written`].
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes).await?;
        self.file.flush().await?;
        self.hasher.update(bytes);
        if let Some(h) = &mut self.sha512 {
            h.update(bytes);
        }
        Ok(())
    }

    /// Flushes and syncs the file and returns what was written and its digest.
    pub async fn finish(mut self) -> io::Result<Staged> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        let (digest, size) = self.hasher.finish();
        let sha512 = self.sha512.map(|h| h.finalize().into());
        Ok(Staged { path: self.path, digest, size, sha512 })
    }

    /// Deletes the file: nothing of it is ever published.
    pub async fn abort(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

/// A complete staging file with its digest, waiting to be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub path: PathBuf,
    pub digest: Digest,
    pub size: u64,
    /// The SHA-512, when the writer took it ([`StagingArea::create_sha512`]).
    pub sha512: Option<[u8; 64]>,
}

impl Staged {
    /// Deletes the staging file (after a failed check, or when the blob already exists).
    pub async fn discard(&self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn hashes_what_it_writes_and_cleans_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.part"), b"partial").unwrap();
        let area = StagingArea::new(dir.path()).unwrap();
        assert!(!dir.path().join("old.part").exists());
        let mut w = area.create().await.unwrap();
        w.write(b"hello ").await.unwrap();
        w.write(b"world").await.unwrap();
        assert_eq!(w.written(), 11);
        let staged = w.finish().await.unwrap();
        assert_eq!(staged.digest, Digest::of(b"hello world"));
        assert_eq!(staged.size, 11);
        assert_eq!(std::fs::read(&staged.path).unwrap(), b"hello world");
        assert_eq!(staged.sha512, None);
        let mut w = area.create_sha512().await.unwrap();
        w.write(b"hello ").await.unwrap();
        w.write(b"world").await.unwrap();
        let staged = w.finish().await.unwrap();
        let want: [u8; 64] = <sha2::Sha512 as sha2::Digest>::digest(b"hello world").into();
        assert_eq!((staged.digest, staged.sha512), (Digest::of(b"hello world"), Some(want)));
        let w = area.create().await.unwrap();
        let p = w.path().to_path_buf();
        w.abort().await;
        assert!(!p.exists());
    }
}

//! Staging files: where bytes land before they are verified and published.
//!
//! Every write to the store starts here, on local disk under `DATA_DIR/staging`, whatever the
//! backend: the writer hashes as it writes, so when the last byte is in, the digest is known and
//! can be compared with what the upstream or the client promised. Only then does the
//! [`super::StorageActor`] publish the file. The staging directory lives beside the filesystem
//! store's blobs so publishing there is a rename on the same filesystem.

use std::io;
use std::path::{Path, PathBuf};

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
        Ok(StagingWriter { path, file, hasher: Hasher::new() })
    }
}

/// Writes one staging file, hashing as it goes.
#[derive(Debug)]
pub struct StagingWriter {
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Hasher,
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
        Ok(())
    }

    /// Flushes and syncs the file and returns what was written and its digest.
    pub async fn finish(mut self) -> io::Result<Staged> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        let (digest, size) = self.hasher.finish();
        Ok(Staged { path: self.path, digest, size })
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
        let w = area.create().await.unwrap();
        let p = w.path().to_path_buf();
        w.abort().await;
        assert!(!p.exists());
    }
}

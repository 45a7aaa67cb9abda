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

/// The directory staging files are created in: this process's own folder below the staging
/// root, which replicas sharing one `DATA_DIR` share.
///
/// Each process stages in `{root}/{id}/` and holds an exclusive lock on `{root}/{id}.lock` for
/// as long as it lives (the lock is the open file's, so the kernel drops it when the process
/// dies, `kill -9` included). At start a process removes every folder whose lock it can take:
/// those are a dead process's, and a staging file that was never published is by definition
/// partial. A live replica's folder stays untouched, so a replica starting beside others never
/// pulls an in-flight fill's spool from under them.
#[derive(Debug, Clone)]
pub struct StagingArea {
    dir: PathBuf,
    /// Holds this process's lock; shared by every clone of the area.
    _owner: std::sync::Arc<std::fs::File>,
}

/// A folder without its lock file is a process that died between making the two, or one
/// starting right now: left alone for this long.
const UNOWNED_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

impl StagingArea {
    /// Uses (and creates) the staging root `root`, takes a folder of its own there, and removes
    /// what dead processes left (see the type's doc).
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let owner = std::fs::OpenOptions::new().write(true).create_new(true).open(root.join(format!("{id}.lock")))?;
        owner.try_lock().map_err(|e| io::Error::other(format!("locking the staging folder: {e}")))?;
        let dir = root.join(&id);
        std::fs::create_dir(&dir)?;
        sweep(&root, &id)?;
        Ok(StagingArea { dir, _owner: std::sync::Arc::new(owner) })
    }

    /// This process's staging folder.
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

/// Removes what dead processes left in the staging root `root` (all but `own`): folders whose
/// lock can be taken, their lock files, folders without a lock file past [`UNOWNED_GRACE`], and
/// loose files of the layout before per-process folders.
fn sweep(root: &Path, own: &str) -> io::Result<()> {
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        if name == own || name.strip_suffix(".lock") == Some(own) {
            continue;
        }
        if kind.is_dir() {
            let lock = root.join(format!("{name}.lock"));
            let stale = match std::fs::OpenOptions::new().write(true).open(&lock) {
                Ok(file) => file.try_lock().is_ok(),
                Err(_) => entry.metadata()?.modified()?.elapsed().is_ok_and(|age| age > UNOWNED_GRACE),
            };
            if stale {
                let _ = std::fs::remove_dir_all(&path);
                let _ = std::fs::remove_file(&lock);
            }
        } else if kind.is_file() {
            match name.strip_suffix(".lock") {
                // A lock file whose folder is gone: free once its process is.
                Some(id) if !root.join(id).exists() => {
                    if std::fs::OpenOptions::new().write(true).open(&path).is_ok_and(|f| f.try_lock().is_ok()) {
                        let _ = std::fs::remove_file(&path);
                    }
                }
                Some(_) => {}
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
    Ok(())
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

    #[test]
    fn a_process_keeps_its_own_folder_and_sweeps_only_the_dead() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("old.part"), b"partial, from the layout before folders").unwrap();
        let live = StagingArea::new(root.path()).unwrap();
        assert!(!root.path().join("old.part").exists());
        std::fs::write(live.dir().join("a.part"), b"in flight").unwrap();

        // A dead process: its folder and lock file are there, nobody holds the lock.
        let dead = root.path().join("dead");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("b.part"), b"partial").unwrap();
        std::fs::write(root.path().join("dead.lock"), b"").unwrap();
        // One starting right now, before its lock file: young, left alone.
        std::fs::create_dir(root.path().join("starting")).unwrap();

        let next = StagingArea::new(root.path()).unwrap();
        assert!(live.dir().join("a.part").exists(), "a live process's spool was swept");
        assert!(!dead.exists() && !root.path().join("dead.lock").exists(), "a dead process's folder stays");
        assert!(root.path().join("starting").exists());
        assert_ne!(live.dir(), next.dir());

        // Once a process is gone (its lock released), the next start sweeps its folder.
        let gone = live.dir().to_path_buf();
        drop(live);
        let _third = StagingArea::new(root.path()).unwrap();
        assert!(!gone.exists(), "the folder of a process that ended stays");
        assert!(next.dir().exists());
    }

    #[actix_rt::test]
    async fn hashes_what_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let area = StagingArea::new(dir.path()).unwrap();
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

//! The filesystem blob store: blobs as plain files under `DATA_DIR/blobs/sha256/{hex}`.
//!
//! Publishing is a rename of the verified staging file (which lives in `DATA_DIR/staging`, on
//! the same filesystem) followed by an fsync of the blob directory, so a blob is either
//! completely there or not there at all, also across a crash. Reads stream the file in 256 KiB
//! chunks, so serving a blob costs the same memory whatever its size. A file's mtime is its
//! write time, which the garbage collector's grace period relies on. Parts of uploads in
//! progress ([`super::parts`]) are files under `DATA_DIR/uploads/{upload}/{part}`, moved there
//! from staging and, when the upload finishes as one part, moved on into `blobs/` by rename.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::{stream, StreamExt};

use super::parts::{PartKey, PartMeta};
use super::{BlobMeta, BlobStore, ByteRange, ByteStream, StoreError};
use crate::digest::Digest;

/// Opens a blob, checks the range against its size and reads the first chunk. Returns the file,
/// the chunk, the offset after it and how many bytes of the range remain.
fn open_first_chunk(
    path: &Path,
    digest: &Digest,
    range: Option<ByteRange>,
) -> Result<(std::fs::File, Bytes, u64, u64), StoreError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound(*digest)),
        Err(e) => return Err(e.into()),
    };
    let size = file.metadata()?.len();
    let (start, remaining) = match range {
        None => (0, size),
        Some(r) if r.start <= r.end && r.end < size => (r.start, r.len()),
        Some(r) => return Err(StoreError::Range { start: r.start, end: r.end, size }),
    };
    let want = remaining.min(READ_CHUNK as u64);
    let first = read_exact_at(&file, start, want)?;
    Ok((file, first, start + want, remaining - want))
}

/// Reads exactly `len` bytes at `offset` (positioned read: no shared file cursor).
fn read_exact_at(file: &std::fs::File, offset: u64, len: u64) -> io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = BytesMut::zeroed(len as usize);
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64)? {
            0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob is shorter than it was")),
            n => filled += n,
        }
    }
    Ok(buf.freeze())
}

/// Size of the chunks [`FsStore::open`] yields.
pub const READ_CHUNK: usize = 256 * 1024;

/// Blobs as files under `{data_dir}/blobs/sha256/`.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
    blob_dir: PathBuf,
}

impl FsStore {
    /// Uses (and creates) `{data_dir}/blobs/sha256`.
    pub fn new(data_dir: impl Into<PathBuf>) -> io::Result<FsStore> {
        let root = data_dir.into();
        let blob_dir = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blob_dir)?;
        Ok(FsStore { root, blob_dir })
    }

    /// The directory blobs live in.
    pub fn blob_dir(&self) -> &Path {
        &self.blob_dir
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(digest.store_key())
    }

    /// Where a part of an upload lives (whether or not it exists).
    pub fn part_path(&self, key: &PartKey) -> PathBuf {
        self.root.join(key.store_key())
    }

    fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }
}

fn to_utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

/// Moves `staged` to `target` atomically and makes the new directory entry durable.
fn publish_blocking(staged: &Path, target: &Path, size: u64) -> io::Result<()> {
    if target.exists() {
        // Content-addressed: whatever is there already has exactly these bytes.
        let _ = std::fs::remove_file(staged);
        return Ok(());
    }
    move_blocking(staged, target, size)
}

/// Moves `from` to `target` (which must not exist yet) after checking its size, and makes the
/// new directory entry durable.
fn move_blocking(staged: &Path, target: &Path, size: u64) -> io::Result<()> {
    let actual = std::fs::metadata(staged)?.len();
    if actual != size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("staged file {} has {actual} bytes, expected {size}", staged.display()),
        ));
    }
    let dir = target.parent().ok_or_else(|| io::Error::other("blob path has no parent"))?;
    std::fs::create_dir_all(dir)?;
    match std::fs::rename(staged, target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            // Staging on another filesystem: copy beside the target, sync, then rename.
            let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
            let copied = std::fs::copy(staged, &tmp)
                .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|_| std::fs::rename(&tmp, target));
            if let Err(e) = copied {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            let _ = std::fs::remove_file(staged);
        }
        Err(e) => return Err(e),
    }
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait]
impl BlobStore for FsStore {
    fn kind(&self) -> &'static str {
        "fs"
    }

    async fn publish(&self, staged: &Path, digest: &Digest, size: u64) -> Result<(), StoreError> {
        let staged = staged.to_path_buf();
        let target = self.blob_path(digest);
        blocking(move || publish_blocking(&staged, &target, size)).await?;
        Ok(())
    }

    async fn open(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, StoreError> {
        // Opening, sizing and reading the first chunk happen in one blocking task: a small blob
        // (the common cache hit) costs one hop to the blocking pool, not one per syscall.
        let path = self.blob_path(digest);
        let digest = *digest;
        let opened = tokio::task::spawn_blocking(move || open_first_chunk(&path, &digest, range)).await;
        let (file, first, offset, remaining) = opened.map_err(|e| io::Error::other(e.to_string()))??;
        let head = stream::once(async move { Ok(first) });
        if remaining == 0 {
            return Ok(Box::pin(head));
        }
        // One read ahead: the next chunk is read on the blocking pool while the one before it
        // is written to the client, so the copy out of the page cache and the socket write
        // overlap instead of taking turns.
        let file = Arc::new(file);
        let read = |file: &Arc<std::fs::File>, offset: u64, remaining: u64| {
            let (f, want) = (file.clone(), remaining.min(READ_CHUNK as u64));
            (tokio::task::spawn_blocking(move || read_exact_at(&f, offset, want)), offset + want, remaining - want)
        };
        let first_read = read(&file, offset, remaining);
        let rest = stream::try_unfold(Some((file, first_read)), move |state| async move {
            let Some((file, (pending, offset, remaining))) = state else { return Ok(None) };
            let chunk = pending.await.map_err(|e| io::Error::other(e.to_string()))??;
            let next = (remaining > 0).then(|| (file.clone(), read(&file, offset, remaining)));
            Ok(Some((chunk, next)))
        });
        Ok(Box::pin(head.chain(rest)))
    }

    async fn stat(&self, digest: &Digest) -> Result<Option<BlobMeta>, StoreError> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(Some(BlobMeta { digest: *digest, size: m.len(), modified: to_utc(m.modified()?) })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.blob_path(digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<BlobMeta>, StoreError> {
        let dir = self.blob_dir.clone();
        let blobs = blocking(move || {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let Some(digest) = entry.file_name().to_str().and_then(|n| Digest::from_hex(n).ok()) else {
                    continue; // temporary files and anything else that is not a blob
                };
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // deleted meanwhile
                    Err(e) => return Err(e),
                };
                if meta.is_file() {
                    out.push(BlobMeta { digest, size: meta.len(), modified: to_utc(meta.modified()?) });
                }
            }
            Ok(out)
        })
        .await?;
        Ok(blobs)
    }

    async fn put_part(&self, staged: &Path, key: &PartKey, size: u64) -> Result<(), StoreError> {
        let (staged, target) = (staged.to_path_buf(), self.part_path(key));
        blocking(move || move_blocking(&staged, &target, size)).await?;
        Ok(())
    }

    async fn open_part(&self, key: &PartKey) -> Result<ByteStream, StoreError> {
        let file = match tokio::fs::File::open(self.part_path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("part {}", key.store_key()),
                )))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK)))
    }

    async fn publish_part(&self, key: &PartKey, digest: &Digest, size: u64) -> Result<(), StoreError> {
        let (part, target) = (self.part_path(key), self.blob_path(digest));
        blocking(move || publish_blocking(&part, &target, size)).await?;
        Ok(())
    }

    async fn delete_upload(&self, upload: &uuid::Uuid) -> Result<(), StoreError> {
        match tokio::fs::remove_dir_all(self.uploads_dir().join(upload.to_string())).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list_parts(&self) -> Result<Vec<PartMeta>, StoreError> {
        let (root, dir) = (self.root.clone(), self.uploads_dir());
        let parts = blocking(move || {
            let mut out = Vec::new();
            let uploads = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(e),
            };
            for upload in uploads {
                let upload = upload?;
                let Ok(files) = std::fs::read_dir(upload.path()) else { continue };
                for file in files {
                    let file = file?;
                    let Ok(relative) = file.path().strip_prefix(&root).map(Path::to_path_buf) else { continue };
                    let Some(key) = relative.to_str().and_then(PartKey::from_store_key) else { continue };
                    let Ok(meta) = file.metadata() else { continue }; // deleted meanwhile
                    if meta.is_file() {
                        out.push(PartMeta { key, size: meta.len(), modified: to_utc(meta.modified()?) });
                    }
                }
            }
            Ok(out)
        })
        .await?;
        Ok(parts)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let meta = tokio::fs::metadata(&self.blob_dir).await?;
        if !meta.is_dir() {
            return Err(StoreError::Io(io::Error::other(format!("{} is not a directory", self.blob_dir.display()))));
        }
        // A full (or read-only) disk fails every fill and upload while reads still work: only
        // a write tells. The probe is one page, written and removed.
        let probe = self.root.join(format!(".probe-{}", uuid::Uuid::new_v4().simple()));
        let written = tokio::fs::write(&probe, [0u8; 4096]).await;
        let _ = tokio::fs::remove_file(&probe).await;
        written.map_err(|e| {
            StoreError::Io(io::Error::new(e.kind(), format!("cannot write under {}: {e}", self.root.display())))
        })
    }
}

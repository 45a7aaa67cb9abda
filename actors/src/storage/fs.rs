//! The filesystem blob store: blobs as plain files under `DATA_DIR/blobs/sha256/{hex}`.
//!
//! Publishing is a rename of the verified staging file (which lives in `DATA_DIR/staging`, on
//! the same filesystem) followed by an fsync of the blob directory, so a blob is either
//! completely there or not there at all, also across a crash. Reads stream the file in 64 KiB
//! chunks, so serving a blob costs the same memory whatever its size. A file's mtime is its
//! write time, which the garbage collector's grace period relies on.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::BytesMut;
use chrono::{DateTime, Utc};
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{BlobMeta, BlobStore, ByteRange, ByteStream, StoreError};
use crate::digest::Digest;

/// Size of the chunks [`FsStore::open`] yields.
pub const READ_CHUNK: usize = 64 * 1024;

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
        let mut file = match tokio::fs::File::open(self.blob_path(digest)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound(*digest)),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        let (start, remaining) = match range {
            None => (0, size),
            Some(r) if r.start <= r.end && r.end < size => (r.start, r.len()),
            Some(r) => return Err(StoreError::Range { start: r.start, end: r.end, size }),
        };
        if start > 0 {
            file.seek(io::SeekFrom::Start(start)).await?;
        }
        let chunks = stream::try_unfold((file, remaining), |(mut file, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(READ_CHUNK as u64) as usize;
            let mut buf = BytesMut::with_capacity(want);
            while buf.len() < want {
                // `read_buf` fills at most the spare capacity, so it never reads past the range.
                if file.read_buf(&mut buf).await? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob is shorter than it was"));
                }
            }
            Ok(Some((buf.freeze(), (file, remaining - want as u64))))
        });
        Ok(Box::pin(chunks))
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

    async fn ping(&self) -> Result<(), StoreError> {
        let meta = tokio::fs::metadata(&self.blob_dir).await?;
        if meta.is_dir() {
            Ok(())
        } else {
            Err(StoreError::Io(io::Error::other(format!("{} is not a directory", self.blob_dir.display()))))
        }
    }
}

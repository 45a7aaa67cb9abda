//! A memory cache of small blobs in front of any [`BlobStore`].
//!
//! Most cache hits of a package proxy are small files (metadata, signatures, small packages).
//! Serving them from memory saves the blocking-pool hop and the file system (or S3) round trip
//! of every read. Blobs are named by their digest, so a cached copy can never be stale; the only
//! way one leaves the store is [`BlobStore::delete`], which this wrapper also applies to the
//! cache. Memory is bounded by `capacity` bytes; the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{stream, StreamExt};

use super::{BlobMeta, BlobStore, ByteRange, ByteStream, PartKey, PartMeta, StoreError};
use crate::digest::Digest;

/// Blobs up to this size are kept in memory (a package index page rendered for this server is
/// often a few hundred KiB).
pub const SMALL_BLOB: usize = 256 * 1024;

#[derive(Default)]
struct Entries {
    map: HashMap<Digest, Bytes>,
    order: VecDeque<Digest>,
    bytes: usize,
}

/// A store whose small blobs are also kept in memory.
pub struct MemoryCached {
    inner: Arc<dyn BlobStore>,
    capacity: usize,
    entries: Mutex<Entries>,
}

impl MemoryCached {
    pub fn new(inner: Arc<dyn BlobStore>, capacity: usize) -> Self {
        MemoryCached { inner, capacity, entries: Mutex::new(Entries::default()) }
    }

    fn get(&self, digest: &Digest) -> Option<Bytes> {
        self.entries.lock().ok()?.map.get(digest).cloned()
    }

    fn put(&self, digest: Digest, bytes: Bytes) {
        if bytes.len() > SMALL_BLOB || bytes.len() > self.capacity {
            return;
        }
        let Ok(mut e) = self.entries.lock() else { return };
        if e.map.contains_key(&digest) {
            return;
        }
        while e.bytes + bytes.len() > self.capacity {
            let Some(old) = e.order.pop_front() else { break };
            if let Some(b) = e.map.remove(&old) {
                e.bytes -= b.len();
            }
        }
        e.bytes += bytes.len();
        e.order.push_back(digest);
        e.map.insert(digest, bytes);
    }

    fn forget(&self, digest: &Digest) {
        if let Ok(mut e) = self.entries.lock() {
            if let Some(b) = e.map.remove(digest) {
                e.bytes -= b.len();
                e.order.retain(|d| d != digest);
            }
        }
    }
}

fn slice(bytes: &Bytes, range: Option<ByteRange>) -> Result<Bytes, StoreError> {
    match range {
        None => Ok(bytes.clone()),
        Some(r) if r.start <= r.end && r.end < bytes.len() as u64 => Ok(bytes.slice(r.start as usize..=r.end as usize)),
        Some(r) => Err(StoreError::Range { start: r.start, end: r.end, size: bytes.len() as u64 }),
    }
}

#[async_trait]
impl BlobStore for MemoryCached {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn publish(&self, staged: &Path, digest: &Digest, size: u64) -> Result<(), StoreError> {
        self.inner.publish(staged, digest, size).await
    }

    async fn open(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, StoreError> {
        if let Some(bytes) = self.get(digest) {
            let part = slice(&bytes, range)?;
            return Ok(Box::pin(stream::once(async move { Ok(part) })));
        }
        let mut body = self.inner.open(digest, range).await?;
        if range.is_some() {
            return Ok(body);
        }
        // Peek: a body that ends within SMALL_BLOB bytes is a small blob worth keeping.
        let mut head: Vec<Bytes> = Vec::new();
        let mut len = 0;
        loop {
            match body.next().await {
                None => {
                    let whole = match head.len() {
                        0 => Bytes::new(),
                        1 => head.remove(0),
                        _ => Bytes::from(head.concat()),
                    };
                    self.put(*digest, whole.clone());
                    return Ok(Box::pin(stream::once(async move { Ok(whole) })));
                }
                Some(Ok(chunk)) => {
                    len += chunk.len();
                    head.push(chunk);
                    if len > SMALL_BLOB {
                        return Ok(Box::pin(stream::iter(head.into_iter().map(Ok)).chain(body)));
                    }
                }
                Some(Err(e)) if head.is_empty() => return Err(e.into()),
                Some(Err(e)) => {
                    return Ok(Box::pin(
                        stream::iter(head.into_iter().map(Ok)).chain(stream::once(async move { Err(e) })),
                    ))
                }
            }
        }
    }

    async fn stat(&self, digest: &Digest) -> Result<Option<BlobMeta>, StoreError> {
        self.inner.stat(digest).await
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StoreError> {
        self.forget(digest);
        self.inner.delete(digest).await
    }

    async fn list(&self) -> Result<Vec<BlobMeta>, StoreError> {
        self.inner.list().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn put_part(&self, staged: &Path, key: &PartKey, size: u64) -> Result<(), StoreError> {
        self.inner.put_part(staged, key, size).await
    }

    async fn open_part(&self, key: &PartKey) -> Result<ByteStream, StoreError> {
        self.inner.open_part(key).await
    }

    async fn publish_part(&self, key: &PartKey, digest: &Digest, size: u64) -> Result<(), StoreError> {
        self.inner.publish_part(key, digest, size).await
    }

    async fn delete_upload(&self, upload: &uuid::Uuid) -> Result<(), StoreError> {
        self.inner.delete_upload(upload).await
    }

    async fn list_parts(&self) -> Result<Vec<PartMeta>, StoreError> {
        self.inner.list_parts().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn keeps_small_blobs_within_capacity_and_forgets_deleted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn BlobStore> = Arc::new(super::super::FsStore::new(dir.path()).unwrap());
        let cached = MemoryCached::new(fs.clone(), 3000);
        let mut digests = Vec::new();
        for i in 0..3u8 {
            let bytes = vec![i; 1000];
            let digest = Digest::of(&bytes);
            let staged = dir.path().join(format!("s{i}"));
            std::fs::write(&staged, &bytes).unwrap();
            fs.publish(&staged, &digest, 1000).await.unwrap();
            cached.open(&digest, None).await.unwrap().next().await.unwrap().unwrap();
            digests.push(digest);
        }
        assert_eq!(cached.entries.lock().unwrap().bytes, 3000);
        // A fourth blob pushes out the oldest.
        let bytes = vec![9u8; 1000];
        let digest = Digest::of(&bytes);
        let staged = dir.path().join("s9");
        std::fs::write(&staged, &bytes).unwrap();
        fs.publish(&staged, &digest, 1000).await.unwrap();
        cached.open(&digest, None).await.unwrap().next().await.unwrap().unwrap();
        assert!(cached.get(&digests[0]).is_none());
        assert!(cached.get(&digest).is_some());
        // A range comes out of memory; a delete removes the copy too.
        let part = cached.open(&digest, Some(ByteRange { start: 10, end: 19 })).await.unwrap().next().await;
        assert_eq!(part.unwrap().unwrap().len(), 10);
        cached.delete(&digest).await.unwrap();
        assert!(cached.get(&digest).is_none());
        assert!(matches!(cached.open(&digest, None).await, Err(StoreError::NotFound(_))));
    }

    /// Blobs the file system reads in several chunks are kept whole up to [`SMALL_BLOB`]; larger
    /// ones pass through, every byte in order.
    #[actix_rt::test]
    async fn keeps_blobs_read_in_several_chunks_and_passes_larger_ones() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn BlobStore> = Arc::new(super::super::FsStore::new(dir.path()).unwrap());
        let cached = MemoryCached::new(fs.clone(), 4 * SMALL_BLOB);
        for (i, len) in [(1u8, SMALL_BLOB - 1), (2u8, SMALL_BLOB + 1)] {
            let bytes: Vec<u8> = (0..len).map(|n| (n % 251) as u8 ^ i).collect();
            let digest = Digest::of(&bytes);
            let staged = dir.path().join(format!("s{i}"));
            std::fs::write(&staged, &bytes).unwrap();
            fs.publish(&staged, &digest, len as u64).await.unwrap();
            let mut body = cached.open(&digest, None).await.unwrap();
            let mut read = Vec::new();
            while let Some(chunk) = body.next().await {
                read.extend_from_slice(&chunk.unwrap());
            }
            assert_eq!(read, bytes, "{len} bytes");
            assert_eq!(cached.get(&digest).is_some(), len <= SMALL_BLOB, "{len} bytes");
        }
    }
}

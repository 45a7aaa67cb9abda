//! One conformance suite for every `BlobStore` backend.
//!
//! Each test body below is a plain async function over a [`Harness`]; the `conformance!` macro
//! runs every body against the filesystem store (a temp dir), the same behind the small-blob
//! memory cache, and the S3 store
//! (a real s3s-fs server started per test on a free port, with its own bucket), so both
//! backends are held to exactly the same behaviour.

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

use artifactapi_actors::digest::Hasher;
use artifactapi_actors::storage::testing::S3Server;
use artifactapi_actors::storage::{
    BlobStore, ByteRange, FsStore, MemoryCached, PartKey, S3Store, Staged, StagingArea, StoreError,
};
use artifactapi_actors::Digest;
use chrono::Utc;
use futures_util::StreamExt;
use uuid::Uuid;

struct Harness {
    store: Arc<dyn BlobStore>,
    staging: StagingArea,
    /// Where the backend keeps a blob's bytes on disk (checks the `blobs/sha256/{hex}` layout).
    layout_root: PathBuf,
    /// The largest chunk `open` may yield, where the backend promises one.
    max_chunk: Option<usize>,
    _guards: Vec<Box<dyn Any>>,
}

impl Harness {
    async fn fs() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path()).unwrap();
        let staging = StagingArea::new(dir.path().join("staging")).unwrap();
        Harness {
            store: Arc::new(store),
            staging,
            layout_root: dir.path().to_path_buf(),
            max_chunk: Some(artifactapi_actors::storage::fs::READ_CHUNK),
            _guards: vec![Box::new(dir)],
        }
    }

    /// The filesystem store behind the small-blob memory cache: the cache must not change
    /// what the store answers (ranges, deletes, missing blobs).
    async fn fs_memory() -> Harness {
        let mut h = Harness::fs().await;
        h.store = Arc::new(MemoryCached::new(h.store, 1 << 20));
        h
    }

    async fn s3() -> Harness {
        let server = S3Server::start().expect("start s3s-fs");
        let bucket = S3Server::unique_bucket();
        // Small pages so listing has to follow continuation tokens.
        let store = S3Store::new(server.settings(&bucket)).unwrap().with_list_page_size(2);
        store.ensure_bucket().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let staging = StagingArea::new(dir.path().join("staging")).unwrap();
        Harness {
            store: Arc::new(store),
            staging,
            layout_root: server.data_dir().join(&bucket),
            max_chunk: None,
            _guards: vec![Box::new(dir), Box::new(server)],
        }
    }

    async fn stage(&self, bytes: &[u8]) -> Staged {
        let mut w = self.staging.create().await.unwrap();
        w.write(bytes).await.unwrap();
        w.finish().await.unwrap()
    }

    async fn put(&self, bytes: &[u8]) -> Digest {
        let staged = self.stage(bytes).await;
        self.store.publish(&staged.path, &staged.digest, staged.size).await.unwrap();
        staged.digest
    }

    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<Vec<u8>, StoreError> {
        let mut stream = self.store.open(digest, range).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    fn layout_path(&self, digest: &Digest) -> PathBuf {
        self.layout_root.join("blobs").join("sha256").join(digest.hex())
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn range(start: u64, end: u64) -> Option<ByteRange> {
    Some(ByteRange { start, end })
}

async fn publish_open_stat_list_delete(h: &Harness) {
    let before = Utc::now() - chrono::Duration::seconds(2);
    let d = h.put(b"hello world").await;
    assert_eq!(d, Digest::of(b"hello world"));
    assert!(h.layout_path(&d).is_file(), "blob must live at blobs/sha256/{{hex}}");
    assert_eq!(h.read(&d, None).await.unwrap(), b"hello world");
    let meta = h.store.stat(&d).await.unwrap().expect("stat after publish");
    assert_eq!((meta.digest, meta.size), (d, 11));
    assert!(meta.modified >= before && meta.modified <= Utc::now() + chrono::Duration::seconds(2));
    let listed = h.store.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].digest, listed[0].size), (d, 11));
    h.store.delete(&d).await.unwrap();
    assert!(h.store.stat(&d).await.unwrap().is_none());
    assert!(matches!(h.read(&d, None).await, Err(StoreError::NotFound(x)) if x == d));
    assert!(h.store.list().await.unwrap().is_empty());
    h.store.delete(&d).await.unwrap(); // absent is fine
}

async fn ranges(h: &Harness) {
    let bytes = pattern(1000);
    let d = h.put(&bytes).await;
    for (start, end) in [(0, 0), (999, 999), (100, 199), (0, 999), (1, 998)] {
        let got = h.read(&d, range(start, end)).await.unwrap();
        assert_eq!(got, &bytes[start as usize..=end as usize], "range {start}-{end}");
    }
    for (start, end) in [(990, 1000), (1000, 1000), (5000, 6000), (0, u64::MAX - 1)] {
        match h.read(&d, range(start, end)).await {
            Err(StoreError::Range { start: s, end: e, size }) => assert_eq!((s, e, size), (start, end, 1000)),
            other => panic!("range {start}-{end}: expected a Range error, got {:?}", other.map(|b| b.len())),
        }
    }
}

async fn absent_blob(h: &Harness) {
    let d = Digest::of(b"never stored");
    assert!(matches!(h.read(&d, None).await, Err(StoreError::NotFound(x)) if x == d));
    assert!(matches!(h.read(&d, range(0, 0)).await, Err(StoreError::NotFound(x)) if x == d));
    assert!(h.store.stat(&d).await.unwrap().is_none());
    h.store.delete(&d).await.unwrap();
}

async fn publish_is_idempotent(h: &Harness) {
    let first = h.stage(b"same bytes").await;
    let second = h.stage(b"same bytes").await;
    assert_eq!(first.digest, second.digest);
    h.store.publish(&first.path, &first.digest, first.size).await.unwrap();
    h.store.publish(&second.path, &second.digest, second.size).await.unwrap();
    assert!(!first.path.exists() && !second.path.exists(), "publish consumes the staged file");
    let listed = h.store.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(h.read(&first.digest, None).await.unwrap(), b"same bytes");
}

async fn staged_file_is_invisible_until_published(h: &Harness) {
    let staged = h.stage(b"not yet").await;
    assert!(h.store.stat(&staged.digest).await.unwrap().is_none());
    assert!(matches!(h.read(&staged.digest, None).await, Err(StoreError::NotFound(_))));
    assert!(h.store.list().await.unwrap().is_empty());
    assert!(!h.layout_path(&staged.digest).exists());
    h.store.publish(&staged.path, &staged.digest, staged.size).await.unwrap();
    assert!(!staged.path.exists());
    assert_eq!(h.read(&staged.digest, None).await.unwrap(), b"not yet");
}

async fn empty_blob(h: &Harness) {
    let d = h.put(b"").await;
    assert_eq!(h.read(&d, None).await.unwrap(), b"");
    assert_eq!(h.store.stat(&d).await.unwrap().unwrap().size, 0);
    assert!(matches!(h.read(&d, range(0, 0)).await, Err(StoreError::Range { size: 0, .. })));
}

async fn list_pages_and_skips_foreign_names(h: &Harness) {
    let mut digests = Vec::new();
    for i in 0..5u8 {
        digests.push(h.put(&[i; 10]).await);
    }
    // Something in the blob directory that is not a blob.
    let junk = h.layout_root.join("blobs").join("sha256").join("not-a-digest");
    std::fs::write(&junk, b"junk").unwrap();
    let mut listed: Vec<_> = h.store.list().await.unwrap().into_iter().map(|m| (m.digest, m.size)).collect();
    listed.sort();
    digests.sort();
    assert_eq!(listed, digests.into_iter().map(|d| (d, 10)).collect::<Vec<_>>());
    h.store.ping().await.unwrap();
}

/// 64 MiB through publish and back, hashed while streaming (never held in memory whole).
async fn large_blob_streams(h: &Harness) {
    const SIZE: usize = 64 * 1024 * 1024;
    const MIB: usize = 1024 * 1024;
    let mut w = h.staging.create().await.unwrap();
    let mut gen = Xorshift::new();
    let mut chunk = vec![0u8; MIB];
    for _ in 0..SIZE / MIB {
        gen.fill(&mut chunk);
        w.write(&chunk).await.unwrap();
    }
    let staged = w.finish().await.unwrap();
    h.store.publish(&staged.path, &staged.digest, staged.size).await.unwrap();
    assert_eq!(h.store.stat(&staged.digest).await.unwrap().unwrap().size, SIZE as u64);

    let mut stream = h.store.open(&staged.digest, None).await.unwrap();
    let mut hasher = Hasher::new();
    let mut largest = 0;
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.unwrap();
        largest = largest.max(bytes.len());
        hasher.update(&bytes);
    }
    assert_eq!(hasher.finish(), (staged.digest, SIZE as u64));
    if let Some(max) = h.max_chunk {
        assert!(largest <= max, "chunk of {largest} bytes exceeds {max}");
    }
    // A range across part boundaries (8 MiB parts on S3, 64 KiB reads on fs).
    let start = 8 * MIB - 3;
    let part = h.read(&staged.digest, range(start as u64, (start + 200_000) as u64)).await.unwrap();
    let mut expected = vec![0u8; 9 * MIB];
    Xorshift::new().fill(&mut expected);
    assert!(part == expected[start..=start + 200_000], "ranged read of the large blob differs");
}

async fn read_part(h: &Harness, key: &PartKey) -> Result<Vec<u8>, StoreError> {
    let mut stream = h.store.open_part(key).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

async fn put_part(h: &Harness, key: &PartKey, bytes: &[u8]) {
    let staged = h.stage(bytes).await;
    h.store.put_part(&staged.path, key, staged.size).await.unwrap();
    assert!(!staged.path.exists(), "put_part consumes the staged file");
}

/// Parts of uploads: stored beside the blobs, invisible to `list` (so to GC), read back,
/// deleted per upload.
async fn upload_parts(h: &Harness) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (a1, a2, b1) = (PartKey::new(a), PartKey::new(a), PartKey::new(b));
    put_part(h, &a1, b"first ").await;
    put_part(h, &a2, &pattern(300_000)).await;
    put_part(h, &b1, b"other upload").await;
    assert_eq!(read_part(h, &a1).await.unwrap(), b"first ");
    assert_eq!(read_part(h, &a2).await.unwrap(), pattern(300_000));
    assert!(h.store.list().await.unwrap().is_empty(), "parts are not blobs");
    let mut listed: Vec<_> = h.store.list_parts().await.unwrap().into_iter().map(|p| (p.key, p.size)).collect();
    listed.sort();
    let mut want = vec![(a1, 6), (a2, 300_000), (b1, 12)];
    want.sort();
    assert_eq!(listed, want);
    let before = Utc::now() - chrono::Duration::seconds(5);
    assert!(h.store.list_parts().await.unwrap().iter().all(|p| p.modified >= before));

    h.store.delete_upload(&a).await.unwrap();
    assert!(read_part(h, &a1).await.is_err());
    let left: Vec<_> = h.store.list_parts().await.unwrap().into_iter().map(|p| p.key).collect();
    assert_eq!(left, vec![b1]);
    h.store.delete_upload(&a).await.unwrap(); // absent is fine
    h.store.delete_upload(&Uuid::new_v4()).await.unwrap();
    assert!(read_part(h, &PartKey::new(b)).await.is_err(), "an absent part is an error");
}

/// A one-part upload becomes a blob in place; onto an existing blob, the part just goes.
async fn publish_part_promotes_in_place(h: &Harness) {
    let upload = Uuid::new_v4();
    let bytes = pattern(70_000);
    let digest = Digest::of(&bytes);
    let key = PartKey::new(upload);
    put_part(h, &key, &bytes).await;
    assert!(h.store.stat(&digest).await.unwrap().is_none());
    h.store.publish_part(&key, &digest, bytes.len() as u64).await.unwrap();
    assert_eq!(h.read(&digest, None).await.unwrap(), bytes);
    assert!(h.layout_path(&digest).is_file());
    assert!(h.store.list_parts().await.unwrap().is_empty(), "the part is gone");

    let again = PartKey::new(upload);
    put_part(h, &again, &bytes).await;
    h.store.publish_part(&again, &digest, bytes.len() as u64).await.unwrap();
    assert!(h.store.list_parts().await.unwrap().is_empty());
    assert_eq!(h.read(&digest, None).await.unwrap(), bytes);
    assert_eq!(h.store.list().await.unwrap().len(), 1);
}

/// Deterministic filler that does not compress or repeat.
struct Xorshift(u64);

impl Xorshift {
    fn new() -> Self {
        Xorshift(0x9e37_79b9_7f4a_7c15)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for word in buf.chunks_exact_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            word.copy_from_slice(&self.0.to_le_bytes());
        }
    }
}

macro_rules! conformance {
    ($($body:ident),* $(,)?) => {
        mod fs {
            $(
                #[actix_rt::test]
                async fn $body() {
                    let h = super::Harness::fs().await;
                    super::$body(&h).await;
                }
            )*
        }
        mod fs_memory {
            $(
                #[actix_rt::test]
                async fn $body() {
                    let h = super::Harness::fs_memory().await;
                    super::$body(&h).await;
                }
            )*
        }
        mod s3 {
            $(
                #[actix_rt::test]
                async fn $body() {
                    let h = super::Harness::s3().await;
                    super::$body(&h).await;
                }
            )*
        }
    };
}

conformance!(
    publish_open_stat_list_delete,
    ranges,
    absent_blob,
    publish_is_idempotent,
    staged_file_is_invisible_until_published,
    empty_blob,
    list_pages_and_skips_foreign_names,
    large_blob_streams,
    upload_parts,
    publish_part_promotes_in_place,
);

/// What only the S3 backend has: bucket creation, signatures, an unreachable server.
mod s3_backend {
    use super::*;

    #[actix_rt::test]
    async fn ensure_bucket_creates_once_and_is_idempotent() {
        let server = S3Server::start().expect("start s3s-fs");
        let bucket = S3Server::unique_bucket();
        let store = S3Store::new(server.settings(&bucket)).unwrap();
        assert!(store.ping().await.is_err(), "the bucket does not exist yet");
        store.ensure_bucket().await.unwrap();
        assert!(server.data_dir().join(&bucket).is_dir());
        store.ensure_bucket().await.unwrap();
        // Another replica starting against the same bucket.
        S3Store::new(server.settings(&bucket)).unwrap().ensure_bucket().await.unwrap();
        store.ping().await.unwrap();
    }

    #[actix_rt::test]
    async fn wrong_credentials_are_refused() {
        let server = S3Server::start().expect("start s3s-fs");
        let bucket = S3Server::unique_bucket();
        S3Store::new(server.settings(&bucket)).unwrap().ensure_bucket().await.unwrap();
        let mut settings = server.settings(&bucket);
        settings.secret_key = "not-the-secret".into();
        let store = S3Store::new(settings).unwrap();
        assert!(matches!(store.ping().await, Err(StoreError::S3(_))));
        assert!(matches!(store.stat(&Digest::of(b"x")).await, Err(StoreError::S3(_))));
    }

    #[actix_rt::test]
    async fn an_unreachable_server_is_an_error() {
        let server = S3Server::start().expect("start s3s-fs");
        let store = S3Store::new(server.settings(&S3Server::unique_bucket())).unwrap();
        drop(server);
        assert!(store.ping().await.is_err());
        assert!(store.open(&Digest::of(b"x"), None).await.is_err());
    }
}

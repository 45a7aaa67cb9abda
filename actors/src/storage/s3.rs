//! The S3 blob store: blobs as objects `blobs/sha256/{hex}` in one bucket (MinIO, Ceph RGW,
//! AWS, Garage, s3s), through rust-s3 with path-style addressing.
//!
//! Atomicity comes from S3 itself: an object becomes visible only when its single PUT or its
//! multipart upload completes, so a reader never sees half a blob. Neither direction holds a
//! whole blob in memory: publishing reads the staging file in 8 MiB parts with a small number of
//! parts in flight, and reads (whole or ranged) hand the HTTP response body on as it arrives.
//! The ranged read goes through rust-s3's own `GetObjectRange` request so it is signed like any
//! other; the answer's `Content-Range` tells the object's size, against which the range is
//! re-checked without a second round trip. Parts of uploads in progress are objects
//! `uploads/{upload}/{part}` (see [`super::parts`] and `s3_parts.rs`).

use std::io;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use s3::command::Command;
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::request::tokio_backend::ReqwestRequest;
use s3::request::Request as _;
use s3::{Bucket, BucketConfiguration, Region};

use super::parts::{PartKey, PartMeta, UPLOAD_PREFIX};
use super::{BlobMeta, BlobStore, ByteRange, ByteStream, StoreError};
use crate::digest::Digest;

/// The prefix every blob key starts with.
const BLOB_PREFIX: &str = "blobs/sha256/";
/// Multipart parts (8 MiB each) one publish keeps in flight: bounds its memory to ~32 MiB.
const UPLOAD_PARTS_IN_FLIGHT: usize = 4;
/// Keys asked for per ListObjectsV2 page.
const LIST_PAGE: usize = 1000;
/// Timeout for every request except streaming reads (whose bodies may take as long as the
/// client reading them).
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest byte offset S3 servers accept in a Range header.
const MAX_OFFSET: u64 = i64::MAX as u64;

/// Where the bucket is and how to sign for it (the `MINIO_*` settings).
#[derive(Clone)]
pub struct S3Settings {
    /// `host:port` (an explicit `http://` or `https://` prefix is also accepted).
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub bucket: String,
    /// Use https.
    pub secure: bool,
    /// Region to sign for; empty means `us-east-1`.
    pub region: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("bucket", &self.bucket)
            .field("secure", &self.secure)
            .field("region", &self.region)
            .finish()
    }
}

/// Blobs as objects in one S3 bucket.
#[derive(Debug)]
pub struct S3Store {
    pub(super) bucket: Box<Bucket>,
    /// The same bucket without a total request timeout, for streaming reads.
    pub(super) streaming: Box<Bucket>,
    region_name: String,
    pub(super) list_page: usize,
}

pub(super) fn s3_error(e: S3Error) -> StoreError {
    StoreError::S3(e.to_string())
}

pub(super) fn http_status(e: &S3Error) -> Option<u16> {
    match e {
        S3Error::HttpFailWithBody(status, _) => Some(*status),
        _ => None,
    }
}

/// `bytes a-b/total` → `(a, b, total)`.
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?, total.parse().ok()?))
}

impl S3Store {
    /// A store for `settings.bucket`; nothing is sent until the first request (call
    /// [`S3Store::ensure_bucket`] at start).
    pub fn new(settings: S3Settings) -> Result<S3Store, StoreError> {
        let endpoint = if settings.endpoint.contains("://") {
            settings.endpoint.clone()
        } else {
            let scheme = if settings.secure { "https" } else { "http" };
            format!("{scheme}://{}", settings.endpoint)
        };
        let region_name = if settings.region.is_empty() { "us-east-1".to_string() } else { settings.region };
        let region = Region::Custom { region: region_name.clone(), endpoint };
        let credentials = Credentials::new(Some(&settings.access_key), Some(&settings.secret_key), None, None, None)
            .map_err(|e| StoreError::S3(format!("credentials: {e}")))?;
        let mut bucket = Bucket::new(&settings.bucket, region, credentials).map_err(s3_error)?.with_path_style();
        bucket.set_request_timeout(Some(REQUEST_TIMEOUT));
        let mut streaming = bucket.clone();
        streaming.set_request_timeout(None);
        Ok(S3Store { bucket, streaming, region_name, list_page: LIST_PAGE })
    }

    /// Sets how many keys one ListObjectsV2 page asks for (tests use small pages to exercise
    /// paging).
    pub fn with_list_page_size(mut self, keys: usize) -> Self {
        self.list_page = keys.max(1);
        self
    }

    pub fn bucket_name(&self) -> &str {
        &self.bucket.name
    }

    /// Creates the bucket if it does not exist yet (several replicas may race: losing is fine).
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        match self.bucket.list_page(BLOB_PREFIX.to_string(), None, None, None, Some(1)).await {
            Ok(_) => return Ok(()),
            Err(e) if http_status(&e) == Some(404) => {}
            Err(e) => return Err(s3_error(e)),
        }
        let mut config = BucketConfiguration::default();
        if self.region_name != "us-east-1" {
            // us-east-1 is the default location and must not be sent as a constraint.
            config.set_region(self.bucket.region.clone());
        }
        let request =
            ReqwestRequest::new(&self.bucket, "", Command::CreateBucket { config }).await.map_err(s3_error)?;
        match request.response_data(false).await {
            Ok(_) => Ok(()),
            Err(S3Error::HttpFailWithBody(409, body)) if body.contains("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }

    /// Uploads a local file as object `key` (one PUT below 8 MiB, a multipart upload above) and
    /// deletes the file. On failure the file is left for the caller to discard.
    pub(super) async fn upload_file(&self, staged: &Path, key: &str, size: u64) -> Result<(), StoreError> {
        let mut file = tokio::fs::File::open(staged).await?;
        let actual = file.metadata().await?.len();
        if actual != size {
            return Err(StoreError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("staged file {} has {actual} bytes, expected {size}", staged.display()),
            )));
        }
        let response = self
            .bucket
            .put_object_stream_builder(key)
            .with_content_type("application/octet-stream")
            .with_max_concurrent_chunks(UPLOAD_PARTS_IN_FLIGHT)
            .execute_stream(&mut file)
            .await
            .map_err(s3_error)?;
        if response.uploaded_bytes() as u64 != size {
            return Err(StoreError::S3(format!("uploaded {} bytes of {size}", response.uploaded_bytes())));
        }
        drop(file);
        let _ = tokio::fs::remove_file(staged).await;
        Ok(())
    }

    /// The size of an object from the store, for error reports.
    async fn size_of(&self, digest: &Digest) -> u64 {
        match self.stat(digest).await {
            Ok(Some(meta)) => meta.size,
            _ => 0,
        }
    }
}

#[async_trait]
impl BlobStore for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    /// Uploads the staged file (one PUT below 8 MiB, a multipart upload above) and deletes it.
    /// On failure the staged file is left for the caller to discard.
    async fn publish(&self, staged: &Path, digest: &Digest, size: u64) -> Result<(), StoreError> {
        if let Some(meta) = self.stat(digest).await? {
            if meta.size == size {
                let _ = tokio::fs::remove_file(staged).await;
                return Ok(());
            }
        }
        self.upload_file(staged, &digest.store_key(), size).await
    }

    async fn open(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, StoreError> {
        let key = digest.store_key();
        let command = match range {
            None => Command::GetObject,
            // Servers refuse offsets beyond i64; such an end is past any object anyway, so ask
            // for the rest of it and let Content-Range show the size.
            Some(r) if r.start <= r.end && r.start <= MAX_OFFSET => {
                Command::GetObjectRange { start: r.start, end: (r.end <= MAX_OFFSET).then_some(r.end) }
            }
            Some(r) => return Err(StoreError::Range { start: r.start, end: r.end, size: self.size_of(digest).await }),
        };
        let request = ReqwestRequest::new(&self.streaming, &key, command).await.map_err(s3_error)?;
        // The body may stream for as long as its reader takes; the answer itself must be quick.
        let answered = tokio::time::timeout(REQUEST_TIMEOUT, request.response()).await.map_err(|_| {
            StoreError::Io(io::Error::new(io::ErrorKind::TimedOut, format!("GET {key}: no answer in time")))
        })?;
        let response = match answered {
            Ok(response) => response,
            Err(e) => {
                return Err(match (http_status(&e), range) {
                    (Some(404), _) => StoreError::NotFound(*digest),
                    (Some(416), Some(r)) => {
                        StoreError::Range { start: r.start, end: r.end, size: self.size_of(digest).await }
                    }
                    _ => s3_error(e),
                })
            }
        };
        if let Some(r) = range {
            let content_range = response.headers().get("content-range").and_then(|v| v.to_str().ok());
            match content_range.and_then(parse_content_range) {
                Some((_, _, size)) if r.end >= size => {
                    return Err(StoreError::Range { start: r.start, end: r.end, size })
                }
                Some((a, b, _)) if response.status().as_u16() == 206 && (a, b) == (r.start, r.end) => {}
                other => {
                    return Err(StoreError::S3(format!(
                        "ranged GET of {key} answered {} with Content-Range {other:?}",
                        response.status()
                    )))
                }
            }
        }
        Ok(Box::pin(response.bytes_stream().map_err(io::Error::other)))
    }

    async fn stat(&self, digest: &Digest) -> Result<Option<BlobMeta>, StoreError> {
        let (head, _) = match self.bucket.head_object(digest.store_key()).await {
            Ok(found) => found,
            Err(e) if http_status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(s3_error(e)),
        };
        let size = head.content_length.and_then(|n| u64::try_from(n).ok());
        let modified = head.last_modified.as_deref().and_then(|v| DateTime::parse_from_rfc2822(v).ok());
        match (size, modified) {
            (Some(size), Some(modified)) => {
                Ok(Some(BlobMeta { digest: *digest, size, modified: modified.with_timezone(&Utc) }))
            }
            _ => Err(StoreError::S3(format!("HEAD {} lacks Content-Length or Last-Modified", digest.store_key()))),
        }
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StoreError> {
        match self.bucket.delete_object(digest.store_key()).await {
            Ok(_) => Ok(()),
            Err(e) if http_status(&e) == Some(404) => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn list(&self) -> Result<Vec<BlobMeta>, StoreError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let (page, _) = self
                .bucket
                .list_page(BLOB_PREFIX.to_string(), None, token, None, Some(self.list_page))
                .await
                .map_err(s3_error)?;
            for object in page.contents {
                let Some(digest) = object.key.strip_prefix(BLOB_PREFIX).and_then(|h| Digest::from_hex(h).ok()) else {
                    continue;
                };
                let modified = DateTime::parse_from_rfc3339(&object.last_modified)
                    .map_err(|e| StoreError::S3(format!("LastModified {:?}: {e}", object.last_modified)))?;
                out.push(BlobMeta { digest, size: object.size, modified: modified.with_timezone(&Utc) });
            }
            token = page.next_continuation_token;
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn put_part(&self, staged: &Path, key: &PartKey, size: u64) -> Result<(), StoreError> {
        self.upload_file(staged, &key.store_key(), size).await
    }

    async fn open_part(&self, key: &PartKey) -> Result<ByteStream, StoreError> {
        self.get_part(key).await
    }

    async fn publish_part(&self, key: &PartKey, digest: &Digest, size: u64) -> Result<(), StoreError> {
        self.promote_part(key, digest, size).await
    }

    async fn delete_upload(&self, upload: &uuid::Uuid) -> Result<(), StoreError> {
        let prefix = PartKey::upload_prefix(upload);
        for part in self.list_part_objects(&prefix).await? {
            self.delete_key(&part.key.store_key()).await?;
        }
        Ok(())
    }

    async fn list_parts(&self) -> Result<Vec<PartMeta>, StoreError> {
        self.list_part_objects(UPLOAD_PREFIX).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.bucket.list_page(BLOB_PREFIX.to_string(), None, None, None, Some(1)).await.map_err(s3_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn parses_content_range() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(parse_content_range("bytes 5-5/6"), Some((5, 5, 6)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("0-9/100"), None);
    }
}

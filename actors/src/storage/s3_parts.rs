//! Upload parts on S3: objects `uploads/{upload}/{part}` in the blob bucket (see
//! [`super::parts`]).
//!
//! A part is uploaded like a blob (one PUT, or a multipart upload for large parts), read back
//! as a stream, and promoted to a blob with a server-side copy (`CopyObject`), so finishing a
//! one-part upload costs no transfer through artifactapi. The copy is complete before the part
//! is deleted: a crash in between leaves a part that the purge of abandoned uploads removes.

use std::io;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use s3::command::Command;
use s3::request::tokio_backend::ReqwestRequest;
use s3::request::Request as _;

use super::parts::{PartKey, PartMeta, PROMOTE_MAX};
use super::s3::{http_status, s3_error, S3Store, REQUEST_TIMEOUT};
use super::{BlobStore, ByteStream, StoreError};
use crate::digest::Digest;

impl S3Store {
    /// Streams a part.
    pub(super) async fn get_part(&self, key: &PartKey) -> Result<ByteStream, StoreError> {
        let object = key.store_key();
        let request = ReqwestRequest::new(&self.streaming, &object, Command::GetObject).await.map_err(s3_error)?;
        let answered = tokio::time::timeout(REQUEST_TIMEOUT, request.response()).await.map_err(|_| {
            StoreError::Io(io::Error::new(io::ErrorKind::TimedOut, format!("GET {object}: no answer in time")))
        })?;
        match answered {
            Ok(response) => Ok(Box::pin(response.bytes_stream().map_err(io::Error::other))),
            Err(e) if http_status(&e) == Some(404) => {
                Err(StoreError::Io(io::Error::new(io::ErrorKind::NotFound, format!("part {object}"))))
            }
            Err(e) => Err(s3_error(e)),
        }
    }

    /// Copies a part to its blob key, then deletes the part.
    pub(super) async fn promote_part(&self, key: &PartKey, digest: &Digest, size: u64) -> Result<(), StoreError> {
        if size > PROMOTE_MAX {
            return Err(StoreError::S3(format!("a part of {size} bytes is too large for a server-side copy")));
        }
        let exists = matches!(self.stat(digest).await?, Some(meta) if meta.size == size);
        if !exists {
            self.bucket.copy_object_internal(key.store_key(), digest.store_key()).await.map_err(s3_error)?;
            match self.stat(digest).await? {
                Some(meta) if meta.size == size => {}
                other => {
                    return Err(StoreError::S3(format!(
                        "copy of {} to {digest} left {:?} bytes, expected {size}",
                        key.store_key(),
                        other.map(|m| m.size)
                    )))
                }
            }
        }
        self.delete_key(&key.store_key()).await
    }

    /// Deletes one object; an absent object is not an error.
    pub(super) async fn delete_key(&self, key: &str) -> Result<(), StoreError> {
        match self.bucket.delete_object(key).await {
            Ok(_) => Ok(()),
            Err(e) if http_status(&e) == Some(404) => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }

    /// Every part under `prefix` (all of `uploads/`, or one upload's).
    pub(super) async fn list_part_objects(&self, prefix: &str) -> Result<Vec<PartMeta>, StoreError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let (page, _) = self
                .bucket
                .list_page(prefix.to_string(), None, token, None, Some(self.list_page))
                .await
                .map_err(s3_error)?;
            for object in page.contents {
                let Some(key) = PartKey::from_store_key(&object.key) else { continue };
                let modified = DateTime::parse_from_rfc3339(&object.last_modified)
                    .map_err(|e| StoreError::S3(format!("LastModified {:?}: {e}", object.last_modified)))?;
                out.push(PartMeta { key, size: object.size, modified: modified.with_timezone(&Utc) });
            }
            token = page.next_continuation_token;
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

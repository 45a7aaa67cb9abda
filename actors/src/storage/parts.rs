//! Parts of uploads in progress, kept in the blob store beside the blobs.
//!
//! A docker client may push a blob in several requests (chunked uploads), and it may send them
//! to different replicas, or to a replica that restarted in between. So what a request received
//! cannot stay in one process's staging directory: each chunk, once staged and hashed locally,
//! is stored as a *part* under `uploads/{upload}/{part}` in the shared store (a directory under
//! `DATA_DIR` for the filesystem backend, objects in the bucket for S3), and the catalog records
//! the part's offset, size and digest. Finishing the upload turns the parts into one blob
//! through the [`super::StorageActor`]: a single part is promoted in place
//! ([`super::BlobStore::publish_part`]), several are read back into a staging file that is
//! hashed and committed like any other.
//!
//! Part keys are made of two UUIDs the service generates, never of client input, so they can
//! be turned into paths and object keys without further checks. Parts live outside `blobs/`,
//! so the garbage collector never sees them; abandoned uploads are purged by age instead.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The prefix of every part key.
pub const UPLOAD_PREFIX: &str = "uploads/";

/// The largest part [`super::BlobStore::publish_part`] promotes in place (S3's limit for a
/// single server-side copy); larger uploads are assembled through a staging file.
pub const PROMOTE_MAX: u64 = 5 << 30;

/// Names one stored part: the upload it belongs to and the part itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartKey {
    pub upload: Uuid,
    pub part: Uuid,
}

impl PartKey {
    /// A new part of `upload`.
    pub fn new(upload: Uuid) -> PartKey {
        PartKey { upload, part: Uuid::new_v4() }
    }

    /// `uploads/{upload}/{part}`: the object key on S3, the relative path on a filesystem.
    pub fn store_key(&self) -> String {
        format!("{UPLOAD_PREFIX}{}/{}", self.upload, self.part)
    }

    /// The upload directory (prefix) of an upload: `uploads/{upload}/`.
    pub fn upload_prefix(upload: &Uuid) -> String {
        format!("{UPLOAD_PREFIX}{upload}/")
    }

    /// Parses a key made by [`PartKey::store_key`]; anything else is `None`.
    pub fn from_store_key(key: &str) -> Option<PartKey> {
        let rest = key.strip_prefix(UPLOAD_PREFIX)?;
        let (upload, part) = rest.split_once('/')?;
        Some(PartKey { upload: parse_uuid(upload)?, part: parse_uuid(part)? })
    }
}

/// Only the hyphenated lower-case form [`PartKey::store_key`] writes.
fn parse_uuid(s: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(s).ok()?;
    (id.hyphenated().to_string() == s).then_some(id)
}

/// One stored part, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartMeta {
    pub key: PartKey,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_foreign_names_are_refused() {
        let key = PartKey::new(Uuid::new_v4());
        let text = key.store_key();
        assert!(text.starts_with("uploads/") && text.matches('/').count() == 2, "{text}");
        assert_eq!(PartKey::from_store_key(&text), Some(key));
        assert!(PartKey::upload_prefix(&key.upload).ends_with('/'));
        let u = key.upload;
        for bad in [
            "blobs/sha256/00".to_string(),
            format!("uploads/{u}"),
            format!("uploads/{u}/"),
            format!("uploads/{u}/../x"),
            format!("uploads/{u}/{}", key.part.simple()),
            format!("uploads/{u}/{}", key.part.to_string().to_uppercase()),
            format!("uploads/{u}/{}/x", key.part),
            format!("uploads/{}/{}", u.simple(), key.part),
        ] {
            assert_eq!(PartKey::from_store_key(&bad), None, "{bad}");
        }
    }
}

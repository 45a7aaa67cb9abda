//! The cached-object browser and eviction: what operators see of a remote's cache and how
//! they take things out of it.
//!
//! Listing is a keyset-paginated catalog query ([`query`] turns the query string into a typed
//! [`ListQuery`] and the opaque cursor into a [`SortKey`]); each row is shown as an
//! [`ObjectView`], with its expiry computed from the remote's current TTLs. Eviction
//! ([`evict`]) removes catalog rows, coordinator keys and every replica's hot-object entries
//! together; the blobs stay until GC finds nothing else referencing them.

pub mod evict;
pub mod query;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::objects::ObjectRow;
use crate::remotes::RemoteSpec;

pub use crate::db::objects::{Order, Sort, SortKey};
pub use query::{ListQuery, QueryError};

/// One cached object as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectView {
    pub path: String,
    pub variant: String,
    pub digest: String,
    pub size: u64,
    pub content_type: Option<String>,
    pub mutable: bool,
    pub fetched_at: DateTime<Utc>,
    /// Last time upstream confirmed the bytes (the fetch, or a 304 since).
    pub validated_at: DateTime<Utc>,
    /// When the object stops being fresh; `None` when it is fresh forever.
    pub expires_at: Option<DateTime<Utc>>,
    pub hits: u64,
    pub last_access: DateTime<Utc>,
}

/// When an object validated at `validated_at` stops being fresh under `spec`'s TTLs: mutable
/// objects after `mutable_ttl`, immutable ones after `immutable_ttl`, or never when that is 0.
pub fn expires_at(spec: &RemoteSpec, mutable: bool, validated_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let ttl = match (mutable, spec.immutable_ttl) {
        (true, _) => spec.mutable_ttl,
        (false, 0) => return None,
        (false, ttl) => ttl,
    };
    validated_at.checked_add_signed(chrono::Duration::seconds(i64::try_from(ttl).ok()?))
}

impl ObjectView {
    pub fn new(row: ObjectRow, spec: &RemoteSpec) -> ObjectView {
        ObjectView {
            expires_at: expires_at(spec, row.mutable, row.validated_at),
            path: row.path,
            variant: row.variant,
            digest: row.digest,
            size: row.size,
            content_type: row.content_type,
            mutable: row.mutable,
            fetched_at: row.fetched_at,
            validated_at: row.validated_at,
            hits: row.hits,
            last_access: row.last_access,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::PackageType;
    use chrono::TimeZone;

    #[test]
    fn expiry_follows_the_class_and_the_remote_ttls() {
        let spec = |immutable_ttl, mutable_ttl| RemoteSpec {
            immutable_ttl,
            mutable_ttl,
            ..RemoteSpec::new("r", PackageType::Generic, "http://x/")
        };
        let t = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let secs = chrono::Duration::seconds;
        assert_eq!(expires_at(&spec(0, 60), false, t), None, "immutable with TTL 0 is fresh forever");
        assert_eq!(expires_at(&spec(0, 60), true, t), Some(t + secs(60)));
        assert_eq!(expires_at(&spec(86400, 60), false, t), Some(t + secs(86400)));
        assert_eq!(expires_at(&spec(86400, 0), true, t), Some(t), "mutable with TTL 0 expires at once");
    }
}

//! Hot objects: cached objects a handler may serve without asking the actor or the catalog.
//!
//! Only objects that are fresh forever (immutable with `immutable_ttl` 0) go here: nothing
//! about them can change until they are evicted, so a handler can read the map directly and
//! stream the blob, with no mailbox round trip and no database query on the hot path. The
//! remote actor is the only writer (it inserts what fills commit and removes what is evicted or
//! reconfigured); handlers only read and count hits, which the actor flushes to the catalog.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::catalog::{CachedObject, HitBatch, ObjectKey};

/// Entries kept before the map is cleared (it refills from the catalog on demand).
const LIMIT: usize = 50_000;

struct Entry {
    object: CachedObject,
    hits: AtomicU64,
    last_access_ms: AtomicI64,
}

/// One remote's hot objects, shared between its actor and the HTTP handlers.
#[derive(Default)]
pub struct HotObjects {
    map: RwLock<HashMap<ObjectKey, Arc<Entry>>>,
}

impl HotObjects {
    pub fn new() -> Arc<HotObjects> {
        Arc::new(HotObjects::default())
    }

    /// The object at `key` if it is hot, counting a hit.
    pub fn hit(&self, key: &ObjectKey) -> Option<CachedObject> {
        let entry = self.map.read().ok()?.get(key).cloned()?;
        entry.hits.fetch_add(1, Ordering::Relaxed);
        entry.last_access_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
        Some(entry.object.clone())
    }

    pub(crate) fn insert(&self, object: CachedObject) {
        let Ok(mut map) = self.map.write() else { return };
        if map.len() >= LIMIT {
            map.clear();
        }
        let entry = Entry { object, hits: AtomicU64::new(0), last_access_ms: AtomicI64::new(0) };
        map.insert(entry.object.key.clone(), Arc::new(entry));
    }

    pub(crate) fn remove(&self, key: &ObjectKey) {
        if let Ok(mut map) = self.map.write() {
            map.remove(key);
        }
    }

    /// Forgets every object whose path starts with `prefix` (all of them for `""`).
    pub(crate) fn forget_prefix(&self, prefix: &str) {
        if let Ok(mut map) = self.map.write() {
            map.retain(|k, _| !k.path.starts_with(prefix));
        }
    }

    /// Takes the hits counted since the last call.
    pub(crate) fn drain_hits(&self) -> Vec<HitBatch> {
        let Ok(map) = self.map.read() else { return Vec::new() };
        map.values()
            .filter_map(|e| {
                let hits = e.hits.swap(0, Ordering::Relaxed);
                let at = DateTime::from_timestamp_millis(e.last_access_ms.load(Ordering::Relaxed))?;
                (hits > 0).then(|| HitBatch { key: e.object.key.clone(), hits, last_access: at })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn object(path: &str) -> CachedObject {
        CachedObject {
            key: ObjectKey::new("r", path, ""),
            digest: Digest::of(path.as_bytes()),
            size: 1,
            content_type: None,
            upstream_etag: None,
            upstream_last_modified: None,
            mutable: false,
            fetched_at: Utc::now(),
        }
    }

    #[test]
    fn counts_hits_and_forgets_by_prefix() {
        let hot = HotObjects::new();
        hot.insert(object("a/1"));
        hot.insert(object("b/1"));
        assert!(hot.hit(&ObjectKey::new("r", "a/1", "")).is_some());
        assert!(hot.hit(&ObjectKey::new("r", "a/1", "")).is_some());
        assert!(hot.hit(&ObjectKey::new("r", "c/1", "")).is_none());
        let hits = hot.drain_hits();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].hits, 2);
        assert!(hot.drain_hits().is_empty(), "drained hits are not counted twice");
        hot.forget_prefix("a/");
        assert!(hot.hit(&ObjectKey::new("r", "a/1", "")).is_none());
        assert!(hot.hit(&ObjectKey::new("r", "b/1", "")).is_some());
        hot.remove(&ObjectKey::new("r", "b/1", ""));
        assert!(hot.hit(&ObjectKey::new("r", "b/1", "")).is_none());
    }
}

//! Rendered documents kept in memory, so a cache hit on a package index costs no parse.
//!
//! Rewriting a document (parse the upstream's JSON/HTML/YAML, rewrite every file URL, serialise)
//! costs milliseconds for a large npm packument or helm index, on every request, while the
//! result only changes when the cached upstream bytes do. A rendering is a pure function of
//! (repository, the document's upstream URL, variant, upstream bytes), and the upstream bytes are named by their
//! digest, so an entry can never be stale: a new upstream copy has a new digest and misses.
//! Bounded by total bytes; the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use artifactapi_actors::digest::Digest;

use crate::formats::Rendered;

/// Total bytes of rendered documents kept.
pub const RENDER_CACHE_BYTES: usize = 32 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    repo: String,
    url: String,
    variant: &'static str,
    source: Digest,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Arc<Rendered>>,
    order: VecDeque<Key>,
    bytes: usize,
}

/// The cache (one per process, in the application state).
pub struct Renders {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

impl Default for Renders {
    fn default() -> Self {
        Renders::new(RENDER_CACHE_BYTES)
    }
}

impl Renders {
    pub fn new(max_bytes: usize) -> Self {
        Renders { inner: Mutex::default(), max_bytes }
    }

    fn key(repo: &str, url: &str, variant: &'static str, source: &Digest) -> Key {
        Key { repo: repo.to_string(), url: url.to_string(), variant, source: *source }
    }

    /// The rendering of the upstream copy `source` of the document at upstream `url`.
    pub fn get(&self, repo: &str, url: &str, variant: &'static str, source: &Digest) -> Option<Arc<Rendered>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.map.get(&Self::key(repo, url, variant, source)).cloned()
    }

    /// Keeps `rendered` unless it is larger than a quarter of the cache.
    pub fn put(&self, repo: &str, url: &str, variant: &'static str, source: &Digest, rendered: Arc<Rendered>) {
        let size = rendered.body.len();
        if size > self.max_bytes / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = Self::key(repo, url, variant, source);
        if inner.map.contains_key(&key) {
            return;
        }
        while inner.bytes + size > self.max_bytes {
            let Some(old) = inner.order.pop_front() else { break };
            if let Some(r) = inner.map.remove(&old) {
                inner.bytes -= r.body.len();
            }
        }
        inner.bytes += size;
        inner.order.push_back(key.clone());
        inner.map.insert(key, rendered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: usize) -> Arc<Rendered> {
        Arc::new(Rendered::new(vec![b'x'; n], "text/plain"))
    }

    #[test]
    fn keyed_by_source_digest_and_bounded() {
        let r = Renders::new(100);
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        r.put("py", "simple/x/", "html", &a, doc(20));
        assert!(r.get("py", "simple/x/", "html", &a).is_some());
        assert!(r.get("py", "simple/x/", "json", &a).is_none());
        assert!(r.get("py", "simple/x/", "html", &b).is_none());
        assert!(r.get("other", "simple/x/", "html", &a).is_none());
        r.put("py", "big", "", &a, doc(26));
        assert!(r.get("py", "big", "", &a).is_none(), "over a quarter of the cache");
        for i in 0..5u8 {
            r.put("py", &format!("p{i}"), "", &a, doc(25));
        }
        assert!(r.get("py", "simple/x/", "html", &a).is_none(), "oldest evicted first");
        assert!(r.get("py", "p4", "", &a).is_some());
        assert!(r.inner.lock().unwrap().bytes <= 100);
    }
}

//! Rendered documents kept in memory, so a cache hit on a package index costs no parse.
//!
//! Rewriting a document (parse the upstream's JSON/HTML/YAML, rewrite every file URL, serialise)
//! costs milliseconds for a large npm packument or helm index, on every request, while the
//! result only changes when the cached upstream bytes do. A rendering is a pure function of
//! (repository, the document's upstream URL, the requested form ([`Doc`]: variant and media
//! type), upstream bytes), and the upstream bytes are named by their
//! digest, so an entry can never be stale: a new upstream copy has a new digest and misses.
//! Bounded by total bytes; the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use artifactapi_actors::digest::Digest;

use crate::formats::{Doc, Rendered};

/// A rendered document ready to send: its body shared between responses and its ETag computed
/// once.
#[derive(Debug)]
pub struct Served {
    pub body: bytes::Bytes,
    pub content_type: String,
    /// The strong ETag (quoted SHA-256 of the body).
    pub etag: String,
}

impl Served {
    pub fn new(rendered: Rendered) -> Served {
        let etag = format!("\"{}\"", Digest::of(&rendered.body).hex());
        Served { body: rendered.body.into(), content_type: rendered.content_type, etag }
    }

    /// The document again, for a merge.
    pub fn to_rendered(&self) -> Rendered {
        Rendered::new(self.body.to_vec(), self.content_type.clone())
    }
}

/// Total bytes of rendered documents kept.
pub const RENDER_CACHE_BYTES: usize = 32 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    repo: String,
    url: String,
    doc: Doc,
    source: Digest,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Arc<Served>>,
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

    fn key(repo: &str, url: &str, doc: Doc, source: &Digest) -> Key {
        Key { repo: repo.to_string(), url: url.to_string(), doc, source: *source }
    }

    /// The rendering of the upstream copy `source` of the document at upstream `url`.
    pub fn get(&self, repo: &str, url: &str, doc: Doc, source: &Digest) -> Option<Arc<Served>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.map.get(&Self::key(repo, url, doc, source)).cloned()
    }

    /// Keeps `rendered` unless it is larger than a quarter of the cache.
    pub fn put(&self, repo: &str, url: &str, doc: Doc, source: &Digest, rendered: Arc<Served>) {
        let size = rendered.body.len();
        if size > self.max_bytes / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = Self::key(repo, url, doc, source);
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

    const HTML: Doc = Doc { variant: "html", accept: "text/html" };
    const HTML_V1: Doc = Doc { variant: "html", accept: "application/vnd.pypi.simple.v1+html" };
    const JSON: Doc = Doc { variant: "json", accept: "application/vnd.pypi.simple.v1+json" };
    const NONE: Doc = Doc { variant: "", accept: "" };

    fn doc(n: usize) -> Arc<Served> {
        Arc::new(Served::new(Rendered::new(vec![b'x'; n], "text/plain")))
    }

    #[test]
    fn keyed_by_source_digest_and_bounded() {
        let r = Renders::new(100);
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        r.put("py", "simple/x/", HTML, &a, doc(20));
        assert!(r.get("py", "simple/x/", HTML, &a).is_some());
        assert!(r.get("py", "simple/x/", HTML_V1, &a).is_none(), "same variant, other media type");
        assert!(r.get("py", "simple/x/", JSON, &a).is_none());
        assert!(r.get("py", "simple/x/", HTML, &b).is_none());
        assert!(r.get("other", "simple/x/", HTML, &a).is_none());
        r.put("py", "big", NONE, &a, doc(26));
        assert!(r.get("py", "big", NONE, &a).is_none(), "over a quarter of the cache");
        for i in 0..5u8 {
            r.put("py", &format!("p{i}"), NONE, &a, doc(25));
        }
        assert!(r.get("py", "simple/x/", HTML, &a).is_none(), "oldest evicted first");
        assert!(r.get("py", "p4", NONE, &a).is_some());
        assert!(r.inner.lock().unwrap().bytes <= 100);
    }
}

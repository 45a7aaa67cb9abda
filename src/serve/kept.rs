//! Parsed indexes kept in memory per cached copy, so the files they list are looked up without
//! reading and parsing the index again on every request (an rpm `primary.xml`, an alpine
//! `APKINDEX.tar.gz`).
//!
//! Entries are keyed by the digest of the index copy they were parsed from: a new upstream copy
//! has a new digest, so it is parsed afresh and an outdated parse is never used; the few most
//! recently used entries are kept, the rest dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use artifactapi_actors::digest::Digest;

/// The parsed indexes of the `capacity` index copies used last.
pub struct Kept<T: ?Sized> {
    capacity: usize,
    entries: Mutex<VecDeque<(Digest, Arc<T>)>>,
}

impl<T: ?Sized> Kept<T> {
    pub fn new(capacity: usize) -> Self {
        Kept { capacity, entries: Mutex::new(VecDeque::new()) }
    }

    /// The parse of the copy `digest`, if kept (it becomes the most recently used).
    pub fn get(&self, digest: &Digest) -> Option<Arc<T>> {
        let mut kept = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let at = kept.iter().position(|(d, _)| d == digest)?;
        let entry = kept.remove(at)?;
        let found = entry.1.clone();
        kept.push_front(entry);
        Some(found)
    }

    /// Keeps `parsed` as the parse of the copy `digest`.
    pub fn put(&self, digest: Digest, parsed: Arc<T>) -> Arc<T> {
        let mut kept = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|(d, _)| *d != digest);
        kept.push_front((digest, parsed.clone()));
        kept.truncate(self.capacity);
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::any::Any;

    #[test]
    fn keeps_the_latest_copies_by_digest() {
        let kept: Kept<String> = Kept::new(2);
        let (a, b, c) = (Digest::of(b"a"), Digest::of(b"b"), Digest::of(b"c"));
        assert!(kept.get(&a).is_none());
        kept.put(a, Arc::new("index a".into()));
        kept.put(b, Arc::new("index b".into()));
        assert_eq!(kept.get(&a).as_deref().map(String::as_str), Some("index a"), "a is now the latest used");
        kept.put(c, Arc::new("index c".into()));
        assert!(kept.get(&b).is_none(), "b was used least recently: dropped");
        assert_eq!(kept.get(&a).as_deref().map(String::as_str), Some("index a"));
        assert_eq!(kept.get(&c).as_deref().map(String::as_str), Some("index c"));
        // The same copy parsed again replaces its entry, never duplicates it.
        kept.put(c, Arc::new("index c again".into()));
        assert_eq!(kept.get(&c).as_deref().map(String::as_str), Some("index c again"));
        assert_eq!(kept.entries.lock().unwrap().len(), 2);
    }

    #[test]
    fn holds_any_parsed_index() {
        let kept: Kept<dyn Any + Send + Sync> = Kept::new(1);
        let d = Digest::of(b"index");
        kept.put(d, Arc::new(vec![1u32, 2, 3]));
        let got = kept.get(&d).expect("kept");
        assert_eq!(got.downcast_ref::<Vec<u32>>(), Some(&vec![1, 2, 3]));
        assert!(got.downcast_ref::<String>().is_none());
    }
}

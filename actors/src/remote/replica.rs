//! Streaming a fill in progress to other replicas: the leading replica's side.
//!
//! Replicas share one fetch lease per object (see [`super::fill`]): the replica that holds it
//! fetches, the others wait. So that clients of the waiting replicas need not wait for the
//! whole transfer, a replica with `REPLICA_URL` set advertises every fill it streams: beside the
//! lease, the coordinator holds an [`Advert`] naming that URL, a fill id and a random token, and
//! [`ReplicaFills`] keeps the fill's spool under that id. A waiting replica GETs
//! `{REPLICA_URL}/_replica/fills/{id}` with the token (and `Range: bytes=N-` to resume) and
//! reads the same spool the leader's own clients read ([`super::follow`] is that side).
//!
//! The body ends cleanly (chunked, with its terminating chunk) only once the fill was verified
//! and committed; on any failure it is cut, so a follower can never take a short body for a
//! whole one. The token is the only key to the route: 244 random bits, compared in constant
//! time; an unknown id and a wrong token get the same 404, and nothing under the route reaches a
//! repository, so it is no way around repository access rules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use super::spool::Spool;
use super::upstream::UpstreamHead;
use crate::storage::ByteStream;

/// The header that carries a fill's token.
pub const TOKEN_HEADER: &str = "x-artifactapi-fill-token";

/// What a leading replica tells the others about a fill it streams (the coordinator value
/// beside the fetch lease).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Advert {
    /// The leader's internal base URL (`REPLICA_URL`), without a trailing slash.
    pub url: String,
    pub id: String,
    pub token: String,
    /// The upstream's answer, which the followers' clients get as their response head.
    pub head: UpstreamHead,
}

impl Advert {
    /// Reads an advert from the coordinator; `None` for anything malformed.
    pub fn parse(value: &str) -> Option<Advert> {
        let advert: Advert = serde_json::from_str(value).ok()?;
        let url_ok = advert.url.starts_with("http://") || advert.url.starts_with("https://");
        (url_ok && parse_fill_id(&advert.id).is_some()).then_some(advert)
    }

    /// Where the fill is streamed.
    pub fn fill_url(&self) -> String {
        format!("{}/_replica/fills/{}", self.url, self.id)
    }
}

/// A fill id: 32 lower-case hex digits (anything else is refused before any look-up).
pub fn parse_fill_id(s: &str) -> Option<&str> {
    (s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then_some(s)
}

/// The offset a follower resumes from: no `Range` is 0, `bytes=N-` is N; anything else (other
/// units, closed or suffix ranges, several ranges) is refused.
pub fn parse_from(range: Option<&str>) -> Option<u64> {
    let Some(range) = range else { return Some(0) };
    let start = range.trim().strip_prefix("bytes=")?.strip_suffix('-')?;
    if start.is_empty() || !start.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    start.parse().ok()
}

/// Why a fill cannot be streamed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TailError {
    /// Unknown id, wrong token, or a fill already over: the same answer for all three.
    #[error("no such fill")]
    NotFound,
}

struct Entry {
    token: String,
    spool: Arc<Spool>,
    /// `Some(committed)` once the fill is over.
    done: watch::Receiver<Option<bool>>,
}

/// The fills this replica streams to others, and counts of the streams both ways.
#[derive(Default)]
pub struct ReplicaFills {
    /// `REPLICA_URL`; without it nothing is advertised.
    url: Option<String>,
    fills: Mutex<HashMap<String, Entry>>,
    served: AtomicU64,
    followed: AtomicU64,
    resumed: AtomicU64,
}

/// Counts of cross-replica streams since start (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounts {
    /// Streams this replica served to followers on other replicas.
    pub served: u64,
    /// Streams this replica followed from a leading replica.
    pub followed: u64,
    /// Of those, streams that resumed after the previous one broke.
    pub resumed: u64,
}

impl ReplicaFills {
    /// `url` is this replica's internal base URL; `None` disables advertising.
    pub fn new(url: Option<String>) -> Arc<ReplicaFills> {
        let url = url.map(|u| u.trim_end_matches('/').to_string());
        Arc::new(ReplicaFills { url, ..Default::default() })
    }

    pub fn counts(&self) -> StreamCounts {
        StreamCounts {
            served: self.served.load(Ordering::Relaxed),
            followed: self.followed.load(Ordering::Relaxed),
            resumed: self.resumed.load(Ordering::Relaxed),
        }
    }

    pub(super) fn count_followed(&self, resumed: bool) {
        self.followed.fetch_add(1, Ordering::Relaxed);
        if resumed {
            self.resumed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Every update is one insert or remove: a poisoned lock is still consistent.
        self.fills.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a fill that streams into `spool` under a new id and token; `None` when this
    /// replica has no `REPLICA_URL`. The fill stays reachable until the handle is dropped.
    pub(super) fn register(self: &Arc<Self>, spool: Arc<Spool>, head: &UpstreamHead) -> Option<Advertised> {
        let url = self.url.clone()?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let (done, rx) = watch::channel(None);
        self.entries().insert(id.clone(), Entry { token: token.clone(), spool, done: rx });
        let advert = Advert { url, id, token, head: head.clone() };
        Some(Advertised { fills: self.clone(), advert, done })
    }

    /// The bytes of fill `id` from offset `from`, for the holder of its token. The stream ends
    /// cleanly only once the fill is committed; it fails when the fill fails or is dropped.
    pub fn tail(&self, id: &str, token: &str, from: u64) -> Result<ByteStream, TailError> {
        let (body, mut done) = {
            let entries = self.entries();
            let entry = entries.get(id).ok_or(TailError::NotFound)?;
            if !bool::from(entry.token.as_bytes().ct_eq(token.as_bytes())) {
                return Err(TailError::NotFound);
            }
            (entry.spool.tail(from).ok_or(TailError::NotFound)?, entry.done.clone())
        };
        self.served.fetch_add(1, Ordering::Relaxed);
        let end = futures_util::stream::once(async move {
            let committed = loop {
                if let Some(c) = *done.borrow_and_update() {
                    break c;
                }
                if done.changed().await.is_err() {
                    break done.borrow().unwrap_or(false);
                }
            };
            (!committed).then(|| Err::<bytes::Bytes, _>(std::io::Error::other("the fill was not committed")))
        })
        .filter_map(std::future::ready);
        Ok(Box::pin(body.chain(end)))
    }
}

/// A fill registered for other replicas; unregistered (and, unless finished, failed for its
/// followers) when dropped.
pub struct Advertised {
    fills: Arc<ReplicaFills>,
    pub advert: Advert,
    done: watch::Sender<Option<bool>>,
}

impl Advertised {
    /// The fill is over: followers' streams end cleanly if it was committed, else are cut.
    pub fn finish(&self, committed: bool) {
        self.done.send_replace(Some(committed));
    }

    /// The coordinator value naming this fill.
    pub fn value(&self) -> String {
        serde_json::to_string(&self.advert).unwrap_or_default()
    }
}

impl Drop for Advertised {
    fn drop(&mut self) {
        self.fills.entries().remove(&self.advert.id);
        self.done.send_if_modified(|d| {
            let open = d.is_none();
            if open {
                *d = Some(false);
            }
            open
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_ids_are_32_lower_hex_digits() {
        let good = "0123456789abcdef0123456789abcdef";
        let cases: &[(&str, bool)] = &[
            (good, true),
            ("0123456789ABCDEF0123456789abcdef", false),
            ("0123456789abcdef0123456789abcde", false),
            ("0123456789abcdef0123456789abcdef0", false),
            ("", false),
            ("..", false),
            ("../../../../etc/passwd", false),
            ("%2e%2e%2f0123456789abcdef01234567", false),
            ("0123456789abcdef0123456789abcde/", false),
            ("0123456789abcdef0123456789abcdeg", false),
            ("0123456789abcdef 123456789abcdef", false),
        ];
        for (id, ok) in cases {
            assert_eq!(parse_fill_id(id).is_some(), *ok, "{id:?}");
        }
    }

    #[test]
    fn resume_offsets_are_open_byte_ranges_only() {
        let cases: &[(Option<&str>, Option<u64>)] = &[
            (None, Some(0)),
            (Some("bytes=0-"), Some(0)),
            (Some("bytes=1048576-"), Some(1 << 20)),
            (Some(" bytes=7- "), Some(7)),
            (Some("bytes=0-9"), None),
            (Some("bytes=-5"), None),
            (Some("bytes=-"), None),
            (Some("bytes=+5-"), None),
            (Some("bytes=5-,7-"), None),
            (Some("items=5-"), None),
            (Some("bytes=99999999999999999999999-"), None),
            (Some(""), None),
        ];
        for (range, want) in cases {
            assert_eq!(parse_from(*range), *want, "{range:?}");
        }
    }

    #[test]
    fn adverts_round_trip_and_refuse_nonsense() {
        let advert = Advert {
            url: "http://10.0.0.7:8080".into(),
            id: "0123456789abcdef0123456789abcdef".into(),
            token: "t".repeat(64),
            head: UpstreamHead { status: 200, content_length: Some(5), ..Default::default() },
        };
        let json = serde_json::to_string(&advert).unwrap();
        assert_eq!(Advert::parse(&json), Some(advert.clone()));
        assert_eq!(advert.fill_url(), "http://10.0.0.7:8080/_replica/fills/0123456789abcdef0123456789abcdef");
        let bad_id = json.replace("0123456789abcdef0123456789abcdef", "../x");
        let bad_url = json.replace("http://10.0.0.7:8080", "file:///etc");
        for value in ["", "{}", "not json", bad_id.as_str(), bad_url.as_str()] {
            assert_eq!(Advert::parse(value), None, "{value:?}");
        }
    }

    #[tokio::test]
    async fn only_the_token_holder_can_tail_and_only_while_the_fill_lives() {
        let fills = ReplicaFills::new(Some("http://127.0.0.1:1/".into()));
        assert!(ReplicaFills::new(None).register(Spool::new(), &UpstreamHead::default()).is_none());
        let spool = Spool::new();
        let advertised = fills.register(spool, &UpstreamHead::default()).unwrap();
        assert_eq!(advertised.advert.url, "http://127.0.0.1:1");
        let (id, token) = (advertised.advert.id.clone(), advertised.advert.token.clone());
        let wrong = format!("{}x", &token[..token.len() - 1]);
        assert!(matches!(fills.tail(&id, &wrong, 0), Err(TailError::NotFound)));
        assert!(matches!(fills.tail(&id, "", 0), Err(TailError::NotFound)));
        assert!(matches!(fills.tail("0123456789abcdef0123456789abcdef", &token, 0), Err(TailError::NotFound)));
        // Not streaming yet: nothing to tail.
        assert!(matches!(fills.tail(&id, &token, 0), Err(TailError::NotFound)));
        drop(advertised);
        assert!(matches!(fills.tail(&id, &token, 0), Err(TailError::NotFound)));
        assert_eq!(fills.counts().served, 0);
    }

    /// Reads a tail to its end: the bytes, and whether it ended cleanly.
    async fn drain(mut body: ByteStream) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(b) => out.extend_from_slice(&b),
                Err(_) => return (out, false),
            }
        }
        (out, true)
    }

    #[tokio::test]
    async fn a_tail_ends_cleanly_only_when_the_fill_was_committed() {
        for committed in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("spool");
            std::fs::write(&path, b"0123456789").unwrap();
            let fills = ReplicaFills::new(Some("http://127.0.0.1:1".into()));
            let spool = Spool::new();
            spool.start_streaming(UpstreamHead::default(), std::fs::File::open(&path).unwrap());
            let advertised = fills.register(spool.clone(), &UpstreamHead::default()).unwrap();
            let (id, token) = (advertised.advert.id.clone(), advertised.advert.token.clone());
            let (whole, from_4) = (fills.tail(&id, &token, 0).unwrap(), fills.tail(&id, &token, 4).unwrap());
            spool.complete(10);
            advertised.finish(committed);
            drop(advertised);
            assert_eq!(drain(whole).await, (b"0123456789".to_vec(), committed));
            assert_eq!(drain(from_4).await, (b"456789".to_vec(), committed));
            assert_eq!(fills.counts().served, 2);
        }
    }
}

//! Waiting on another replica's fetch, and streaming it meanwhile: the following side.
//!
//! A fill that finds the fetch lease held by another replica waits for it, and looks on every
//! round for one of three things: the object committed (serve it), the lease free (take it and
//! fetch), or an [`Advert`] of the leader's fill (stream it, see [`super::replica`]). Streaming,
//! the follower writes what the leader sends into a staging file of its own (a [`Relay`]) that
//! its local spool serves, so however many clients wait on this replica, one stream crosses
//! between the replicas, and they get bytes while the leader still fetches.
//!
//! A relay never lets a wrong byte out. Its clients get the final byte only once the whole file
//! is known right: its SHA-256 and size equal those of the object the leader committed. The
//! leader ends its stream cleanly only after committing, but the end of a stream proves nothing
//! by itself (a killed leader's connection can end like a finished chunked body): only the
//! catalog's record of the committed object does. If the leader's stream breaks (the leader was
//! killed), or ends with nothing committed, the follower waits again and carries on from the offset it has: from a
//! new leader's fill (`Range: bytes=N-`; a new leader that fetched other bytes fails the final
//! digest check), from the committed copy, or, when it takes the lease itself, from its own
//! upstream response, whose first N bytes must equal what was already sent ([`Prefix`]).
//! Anything else ends in a cut transfer, never a short or wrong 200.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::fill::FillJob;
use super::lease::{Lease, FETCH_LEASE, LOCK_POLL};
use super::replica::{Advert, TOKEN_HEADER};
use super::spool::Spool;
use super::upstream::UpstreamHead;
use super::{CacheStatus, Resolution};
use crate::catalog::CachedObject;
use crate::coord::keys;
use crate::storage::{ByteRange, StagingWriter};

/// How long a leading replica may take to answer a follower's request with its head.
const LEADER_ANSWER: Duration = Duration::from_secs(5);

/// What this replica's clients already have of an object another replica fetches: the staging
/// file their spool reads, a second read handle on it, and the head they were answered with.
pub(super) struct Relay {
    pub writer: StagingWriter,
    pub file: Arc<File>,
    pub head: UpstreamHead,
}

/// How waiting on the fetch lease ended.
pub(super) enum Waited {
    /// This replica fetches: it holds the lease (none when the coordinator does not answer),
    /// and perhaps a relay its clients are already reading.
    Lead(Option<Lease>, Option<Box<Relay>>),
    /// The fill is over for this replica (its spool completed, resolved or failed); the object
    /// now cached, when there is one.
    Over(Option<CachedObject>),
}

/// How following one leader's stream ended.
enum Followed {
    /// The stream broke, ended before the object was committed, or could not start: wait again.
    Broken(String),
    /// The stream ended and the object is committed: finish from it.
    Committed(CachedObject),
    Over(Option<CachedObject>),
}

/// Whether two answers can be the same bytes as far as their announced lengths tell.
pub(super) fn same_length(a: &UpstreamHead, b: &UpstreamHead) -> bool {
    match (a.content_length, b.content_length) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// The bytes already sent to clients, checked against a new source from offset 0.
pub(super) struct Prefix {
    file: Arc<File>,
    len: u64,
    seen: u64,
}

impl Prefix {
    pub(super) fn new(relay: &Relay) -> Prefix {
        Prefix { file: relay.file.clone(), len: relay.writer.written(), seen: 0 }
    }

    /// Compares the part of `chunk` that overlaps the prefix with the bytes already sent and
    /// returns the part beyond it.
    pub(super) async fn beyond(&mut self, chunk: Bytes) -> Result<Bytes, String> {
        if self.seen >= self.len {
            return Ok(chunk);
        }
        let overlap = (self.len - self.seen).min(chunk.len() as u64);
        let (file, at) = (self.file.clone(), self.seen);
        let sent = tokio::task::spawn_blocking(move || super::spool::read_at(&file, at, overlap))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("reading the bytes already sent: {e}"))?;
        if sent[..] != chunk[..overlap as usize] {
            return Err(format!("the upstream's bytes differ from those already sent, near offset {at}"));
        }
        self.seen += overlap;
        Ok(chunk.slice(overlap as usize..))
    }

    /// Whether the source covered every byte already sent.
    pub(super) fn covered(&self) -> bool {
        self.seen >= self.len
    }
}

impl FillJob {
    /// Takes the cross-replica fetch lease, or waits for the replica holding it, streaming its
    /// fill when it advertises one. A holder that stops renewing (it died) loses the lease
    /// after [`FETCH_LEASE`], and one waiter takes it over. A coordinator that does not answer
    /// means fetching without a lock.
    pub(super) async fn wait_or_lead(&self, spool: &Arc<Spool>) -> Waited {
        let key = keys::fetch_lock(&self.key.repo, &self.key.coord_key());
        let mut relay: Option<Relay> = None;
        let mut waited = false;
        loop {
            match self.deps.coord.try_lock(&key, FETCH_LEASE).await {
                Ok(Some(token)) => {
                    let lease = Lease::hold(self.deps.coord.clone(), key, token);
                    // The holder may have committed between our last look and its release.
                    if waited {
                        if let Some(object) = self.fetched_meanwhile().await {
                            lease.release().await;
                            return self.committed_meanwhile(spool, relay, object).await;
                        }
                    }
                    return Waited::Lead(Some(lease), relay.map(Box::new));
                }
                Err(_) => return Waited::Lead(None, relay.map(Box::new)),
                Ok(None) => {}
            }
            if waited {
                tokio::time::sleep(LOCK_POLL).await;
            }
            waited = true;
            if let Some(object) = self.fetched_meanwhile().await {
                return self.committed_meanwhile(spool, relay, object).await;
            }
            if let Some(advert) = self.advert().await {
                match self.follow(spool, &mut relay, advert).await {
                    Followed::Over(object) => return Waited::Over(object),
                    Followed::Committed(object) => return self.committed_meanwhile(spool, relay, object).await,
                    Followed::Broken(why) => {
                        tracing::debug!(repo = %self.key.repo, path = %self.key.path, why = %why, "not streaming from the leading replica")
                    }
                }
            }
        }
    }

    /// The copy another replica cached while this one waited for its lease, if any.
    pub(super) async fn fetched_meanwhile(&self) -> Option<CachedObject> {
        let obj = self.deps.catalog.lookup(&self.key).await.ok()??;
        let renewed = self.cached.as_ref().is_none_or(|c| c.fetched_at < obj.fetched_at);
        renewed.then_some(obj)
    }

    /// The leader's advert, for a body this replica would stream (documents are held until
    /// cached, so there is nothing to stream early).
    async fn advert(&self) -> Option<Advert> {
        if self.fetch.document.is_some() {
            return None;
        }
        let value = self.deps.coord.get(&keys::fill_advert(&self.key.repo, &self.key.coord_key())).await.ok()??;
        Advert::parse(&value)
    }

    /// Another replica committed `object`: every waiter gets it, and clients already reading a
    /// relay get the rest of their bytes from it.
    async fn committed_meanwhile(&self, spool: &Spool, relay: Option<Relay>, object: CachedObject) -> Waited {
        let Some(mut relay) = relay else {
            spool.resolve(Resolution::Cached { object, status: CacheStatus::Hit });
            return Waited::Over(None);
        };
        let from = relay.writer.written();
        let rest = match from.cmp(&object.size) {
            std::cmp::Ordering::Less => {
                let range = ByteRange { start: from, end: object.size - 1 };
                self.deps.store.open(&object.digest, Some(range)).await.map_err(|e| e.to_string())
            }
            std::cmp::Ordering::Equal => Ok(Box::pin(futures_util::stream::empty()) as crate::storage::ByteStream),
            std::cmp::Ordering::Greater => Err("more bytes were sent than the cached object has".to_string()),
        };
        let pumped = match rest {
            Ok(body) => pump(spool, &mut relay, body.map(|c| c.map_err(|e| e.to_string()))).await,
            Err(e) => Err(e),
        };
        Waited::Over(match pumped {
            Ok(()) => self.settle(spool, relay, object).await,
            Err(e) => {
                relay.writer.abort().await;
                spool.fail(format!("finishing from the cached copy: {e}"));
                None
            }
        })
    }

    /// Streams the leader's fill into the relay (starting it, and so the local clients'
    /// responses, on the first stream).
    async fn follow(&self, spool: &Arc<Spool>, relay: &mut Option<Relay>, advert: Advert) -> Followed {
        if relay.as_ref().is_some_and(|r| !same_length(&r.head, &advert.head)) {
            if let Some(r) = relay.take() {
                r.writer.abort().await;
            }
            spool.fail("the new leading replica's upstream answer differs from the one being relayed".into());
            return Followed::Over(None);
        }
        let from = relay.as_ref().map_or(0, |r| r.writer.written());
        // Replica URLs are internal addresses by nature: no reach policy here. TLS (an https
        // REPLICA_URL) trusts what the upstream client trusts.
        let tls = self.deps.trust.client_config(&super::tls::RemoteTls::default());
        let connector = awc::Connector::new().rustls_0_23(tls).timeout(LEADER_ANSWER);
        let client = awc::Client::builder().connector(connector).disable_redirects().disable_timeout().finish();
        let request = client
            .get(advert.fill_url())
            .no_decompress()
            .insert_header((TOKEN_HEADER, advert.token.as_str()))
            .insert_header(("Range", format!("bytes={from}-")));
        let resp = match tokio::time::timeout(LEADER_ANSWER, request.send()).await {
            Ok(Ok(resp)) if resp.status().as_u16() == 200 => resp,
            Ok(Ok(resp)) => return Followed::Broken(format!("the leading replica answered {}", resp.status())),
            Ok(Err(e)) => return Followed::Broken(e.to_string()),
            Err(_) => return Followed::Broken(format!("no answer within {LEADER_ANSWER:?}")),
        };
        let resumed = relay.is_some();
        if relay.is_none() {
            match self.start_relay(spool, &advert.head).await {
                Ok(r) => *relay = Some(r),
                Err(e) => return Followed::Broken(format!("cannot stage a relay: {e}")),
            }
        }
        let Some(r) = relay.as_mut() else { return Followed::Broken("no relay".into()) };
        self.deps.replicas.count_followed(resumed);
        let idle = self.upstream.settings().read_timeout + LEADER_ANSWER;
        let body = super::body::idle_timeout(resp, idle, None).map(|c| c.map_err(|e| e.to_string()));
        // The leader ends its stream cleanly only once it has committed, but a connection it
        // lost (killed) may look like a clean end too: the catalog decides.
        match pump(spool, r, body).await {
            Ok(()) => match self.fetched_meanwhile().await {
                Some(object) => Followed::Committed(object),
                None => Followed::Broken(format!(
                    "the leading replica's stream ended uncommitted at {}",
                    r.writer.written()
                )),
            },
            Err(e) => {
                Followed::Broken(format!("the leading replica's stream broke after {} bytes: {e}", r.writer.written()))
            }
        }
    }

    /// A staging file for relayed bytes, and this replica's clients streaming from it.
    async fn start_relay(&self, spool: &Spool, head: &UpstreamHead) -> std::io::Result<Relay> {
        let writer = self.deps.staging.create().await?;
        let (reader, file) = (File::open(writer.path())?, File::open(writer.path())?);
        spool.start_streaming(head.clone(), reader);
        Ok(Relay { writer, file: Arc::new(file), head: head.clone() })
    }

    /// Every byte is relayed: the clients get the final one only if the file is the committed
    /// object to the byte.
    async fn settle(&self, spool: &Spool, relay: Relay, object: CachedObject) -> Option<CachedObject> {
        let staged = match relay.writer.finish().await {
            Ok(staged) => staged,
            Err(e) => {
                spool.fail(format!("relay: {e}"));
                return None;
            }
        };
        // The store holds the committed copy; the clients' open handle still reads this one.
        staged.discard().await;
        match object {
            o if o.digest == staged.digest && o.size == staged.size => {
                spool.complete(staged.size);
                Some(o)
            }
            _ => {
                tracing::warn!(repo = %self.key.repo, path = %self.key.path, "relayed bytes do not match the committed object");
                spool.fail("the relayed bytes do not match the committed object".into());
                None
            }
        }
    }
}

/// Appends `body` to the relay; the error says why the source failed.
async fn pump(spool: &Spool, relay: &mut Relay, body: impl Stream<Item = Result<Bytes, String>>) -> Result<(), String> {
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        relay.writer.write(&chunk?).await.map_err(|e| format!("relay: {e}"))?;
        spool.progress(relay.writer.written());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_lengths_must_agree_when_both_are_known() {
        let head = |n: Option<u64>| UpstreamHead { status: 200, content_length: n, ..Default::default() };
        let cases = [(Some(5), Some(5), true), (Some(5), Some(6), false), (None, Some(6), true), (None, None, true)];
        for (a, b, same) in cases {
            assert_eq!(same_length(&head(a), &head(b)), same, "{a:?} {b:?}");
        }
    }

    /// A prefix of `sent` (already sent to clients), checked against `chunks` from offset 0.
    async fn check(sent: &[u8], chunks: &[&[u8]]) -> Result<(Vec<u8>, bool), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay");
        std::fs::write(&path, sent).unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        let mut prefix = Prefix { file, len: sent.len() as u64, seen: 0 };
        let mut beyond = Vec::new();
        for c in chunks {
            beyond.extend_from_slice(&prefix.beyond(Bytes::copy_from_slice(c)).await?);
        }
        Ok((beyond, prefix.covered()))
    }

    #[tokio::test]
    async fn a_new_source_must_repeat_the_bytes_already_sent() {
        /// Bytes sent, the new source's chunks, and what lies beyond the prefix (and whether
        /// the source covered it), or a mismatch.
        type Case<'a> = (&'a [u8], &'a [&'a [u8]], Result<(&'a [u8], bool), ()>);
        let cases: &[Case] = &[
            (b"abcd", &[b"abcdef"], Ok((b"ef", true))),
            (b"abcd", &[b"ab", b"c", b"def", b"gh"], Ok((b"efgh", true))),
            (b"abcd", &[b"abcd"], Ok((b"", true))),
            (b"abcd", &[b"ab"], Ok((b"", false))),
            (b"", &[b"xyz"], Ok((b"xyz", true))),
            (b"abcd", &[b"abXdef"], Err(())),
            (b"abcd", &[b"ab", b"cX", b"ef"], Err(())),
        ];
        for (sent, chunks, want) in cases {
            let got = check(sent, chunks).await;
            match want {
                Ok((rest, covered)) => assert_eq!(got, Ok((rest.to_vec(), *covered)), "{sent:?} {chunks:?}"),
                Err(()) => assert!(got.is_err(), "{sent:?} {chunks:?}: {got:?}"),
            }
        }
    }
}

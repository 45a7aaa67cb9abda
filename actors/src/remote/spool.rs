//! In-flight fills and their spool files: how one upstream fetch feeds every waiting client.
//!
//! The first request for an uncached object starts a fill; later requests for the same object
//! join it. The fill writes the upstream body into a staging file (the spool) and publishes its
//! progress on a watch channel; every client, the first one included, reads the spool from
//! offset 0 as it grows. So bytes reach clients as they arrive, memory stays flat whatever the
//! object size, a client that disconnects cancels nothing, and a client that joins late still
//! gets every byte.
//!
//! Readers hold back the final byte until the fill is complete (length and, when known, digest
//! verified): a client can never receive a whole-looking body that later turns out wrong. If the
//! fill fails, readers end with an error, which the HTTP layer turns into an aborted transfer.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::watch;

use super::upstream::UpstreamHead;
use super::{Download, FetchOutcome, Resolution};
use crate::storage::ByteStream;

const CHUNK: u64 = 256 * 1024;

/// Where a fill is.
#[derive(Debug, Clone)]
pub enum FillState {
    /// Waiting for the upstream's answer.
    Pending,
    /// Upstream answered 200; `written` bytes are in the spool.
    Streaming { written: u64 },
    /// Every byte is in the spool and verified.
    Complete { written: u64 },
    /// The body failed after streaming began.
    Failed(String),
    /// The fill ended without streaming (cached copy, not found, error): every waiter gets this.
    Resolved(Resolution),
}

/// One in-flight fill.
pub struct Spool {
    tx: watch::Sender<FillState>,
    head: OnceLock<(Arc<UpstreamHead>, Arc<File>)>,
    /// Requests that joined the fill after the one that started it.
    coalesced: AtomicU32,
}

impl Spool {
    pub fn new() -> Arc<Spool> {
        Arc::new(Spool {
            tx: watch::channel(FillState::Pending).0,
            head: OnceLock::new(),
            coalesced: AtomicU32::new(0),
        })
    }

    /// The upstream answered 200: readers may start on `file` (a read handle on the spool).
    pub fn start_streaming(&self, head: UpstreamHead, file: File) {
        let _ = self.head.set((Arc::new(head), Arc::new(file)));
        self.tx.send_replace(FillState::Streaming { written: 0 });
    }

    pub fn progress(&self, written: u64) {
        self.tx.send_replace(FillState::Streaming { written });
    }

    pub fn complete(&self, written: u64) {
        self.tx.send_replace(FillState::Complete { written });
    }

    pub fn fail(&self, message: String) {
        self.tx.send_replace(FillState::Failed(message));
    }

    pub fn resolve(&self, outcome: Resolution) {
        self.tx.send_replace(FillState::Resolved(outcome));
    }

    /// Counts one more request joining this fill; returns how many have joined so far.
    pub fn add_waiter(&self) -> u32 {
        self.coalesced.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// How many requests joined this fill after the one that started it.
    pub fn waiters(&self) -> u32 {
        self.coalesced.load(Ordering::Relaxed)
    }

    /// Whether the fill is past the point where joining it makes sense for a new request.
    pub fn is_settled(&self) -> bool {
        matches!(*self.tx.borrow(), FillState::Failed(_) | FillState::Resolved(_))
    }

    /// The spool's bytes from offset `from` as the fill writes them, with the same rules as a
    /// local client's (the final byte held back until the fill is verified, an error if it
    /// fails); `None` before the fill has started streaming.
    pub fn tail(&self, from: u64) -> Option<ByteStream> {
        let (_, file) = self.head.get()?;
        Some(reader(file.clone(), self.tx.subscribe(), from))
    }

    /// Waits until the fill knows what it is, then gives this waiter its outcome: a download
    /// reading the spool from the start, or the shared resolution.
    pub async fn join(self: &Arc<Self>) -> FetchOutcome {
        let mut rx = self.tx.subscribe();
        loop {
            let state = rx.borrow_and_update().clone();
            match state {
                FillState::Pending => {}
                FillState::Resolved(outcome) => return outcome.into(),
                FillState::Failed(message) => return FetchOutcome::Failed(super::FetchError::Body(message)),
                FillState::Streaming { .. } | FillState::Complete { .. } => {
                    if let Some((head, file)) = self.head.get() {
                        return FetchOutcome::Download(Download {
                            head: head.clone(),
                            body: reader(file.clone(), self.tx.subscribe(), 0),
                        });
                    }
                }
            }
            if rx.changed().await.is_err() {
                return FetchOutcome::Failed(super::FetchError::Body("fill abandoned".into()));
            }
        }
    }
}

/// A stream over the spool from `from`, following the fill.
fn reader(file: Arc<File>, rx: watch::Receiver<FillState>, from: u64) -> ByteStream {
    Box::pin(futures_util::stream::unfold((file, rx, from, false), |(file, mut rx, offset, done)| async move {
        if done {
            return None;
        }
        loop {
            let state = rx.borrow_and_update().clone();
            // The final byte is held back until the fill is verified.
            let (readable, complete) = match state {
                FillState::Streaming { written } => (written.saturating_sub(1), false),
                FillState::Complete { written } => (written, true),
                FillState::Failed(message) => {
                    let e = io::Error::other(format!("upstream transfer failed: {message}"));
                    return Some((Err(e), (file, rx, offset, true)));
                }
                FillState::Pending | FillState::Resolved(_) => (0, false),
            };
            if offset < readable {
                let len = (readable - offset).min(CHUNK);
                let f = file.clone();
                let read = tokio::task::spawn_blocking(move || read_at(&f, offset, len)).await;
                return match read {
                    Ok(Ok(bytes)) => {
                        let next = offset + bytes.len() as u64;
                        Some((Ok(bytes), (file, rx, next, false)))
                    }
                    Ok(Err(e)) => Some((Err(e), (file, rx, offset, true))),
                    Err(e) => Some((Err(io::Error::other(e.to_string())), (file, rx, offset, true))),
                };
            }
            if complete {
                return None;
            }
            if rx.changed().await.is_err() {
                let e = io::Error::other("upstream transfer abandoned");
                return Some((Err(e), (file, rx, offset, true)));
            }
        }
    }))
}

pub(super) fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len as usize];
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read_at(&mut buf[filled..], offset + filled as u64)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "spool shorter than reported"));
        }
        filled += n;
    }
    Ok(Bytes::from(buf))
}

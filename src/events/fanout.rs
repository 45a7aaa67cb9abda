//! One coordinator subscription per replica, fanned out to the replica's stream clients.
//!
//! However many browsers watch the event stream, a replica holds one subscription to the
//! coordinator's event channel, in one task, and hands every message to its clients through a
//! tokio broadcast channel. The subscription exists only while there are clients (it is taken
//! when the first one connects and dropped a few seconds after the last one leaves), so the
//! number of subscriptions to the channel says whether anyone listens anywhere, which is what
//! decides whether cache hits are published.
//!
//! Each message is parsed once here (its type and repository, for filtering) and numbered in
//! arrival order: the number is the SSE `id`, per replica.
//!
//! Events the bus could not publish through the coordinator (Redis down) are handed to this
//! replica's clients directly ([`Fanout::deliver_local`]): the other replicas miss them, but the
//! clients here still see what happens here. This replica's `dependency_down` and
//! `dependency_up` events always take that way too, and their copies coming back through the
//! coordinator are skipped: while Redis is down, or just back and this replica not yet
//! subscribed again, the coordinator could not bring them (its own fault above all).
//!
//! A client that reads too slowly falls more than [`CAPACITY`] messages behind and then skips
//! the oldest ones ([`Next::Lagged`] says how many). Nobody waits for a slow client: the
//! broadcast never blocks its sender, so requests and other clients are not slowed down.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use artifactapi_actors::coord::{keys, Coordinator};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::{broadcast, watch, Notify};

/// Messages a client may fall behind by before it skips.
pub const CAPACITY: usize = 1024;
/// How long the subscription outlives the last client (a reconnecting browser keeps it).
const LINGER: Duration = Duration::from_secs(5);
/// How often an idle subscription checks whether clients are left.
const IDLE_CHECK: Duration = Duration::from_millis(500);
/// Pause before trying to subscribe again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// One event as it came through the coordinator, parsed once for every client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Arrival number on this replica (the SSE `id`).
    pub id: u64,
    /// The event's `type`.
    pub kind: String,
    pub repository: Option<String>,
    /// The event as published.
    pub json: String,
}

impl Frame {
    /// Parses a published event; `None` when it is not an event object.
    pub fn parse(id: u64, json: String) -> Option<Frame> {
        #[derive(Deserialize)]
        struct Head {
            #[serde(rename = "type")]
            kind: String,
            repository: Option<String>,
        }
        let head: Head = serde_json::from_str(&json).ok()?;
        Some(Frame { id, kind: head.kind, repository: head.repository, json })
    }
}

/// The replica's fan-out: one subscription, many clients.
pub struct Fanout {
    tx: broadcast::Sender<Arc<Frame>>,
    clients: AtomicUsize,
    wake: Notify,
    /// Whether the coordinator subscription is in place.
    subscribed: watch::Sender<bool>,
    /// Set when the server shuts down: every client's stream ends.
    closing: watch::Sender<bool>,
    linger: Duration,
    /// The last SSE `id` given out.
    next_id: AtomicU64,
    /// This replica's name, as its events carry it.
    replica: String,
}

/// What a client gets next.
#[derive(Debug)]
pub enum Next {
    Frame(Arc<Frame>),
    /// The client fell behind and this many events were skipped.
    Lagged(u64),
    /// The fan-out is gone (shutdown).
    Closed,
}

/// One stream client; counted while it exists.
pub struct Listener {
    rx: broadcast::Receiver<Arc<Frame>>,
    closing: watch::Receiver<bool>,
    fanout: Arc<Fanout>,
}

impl Listener {
    /// Waits until the replica's subscription is in place, at most `timeout`; whether it is.
    pub async fn wait_subscribed(&mut self, timeout: Duration) -> bool {
        let mut rx = self.fanout.subscribed.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s)).await.is_ok_and(|r| r.is_ok())
    }

    /// The next event (or how many were skipped); [`Next::Closed`] once the server shuts down.
    pub async fn next(&mut self) -> Next {
        tokio::select! {
            r = self.rx.recv() => match r {
                Ok(frame) => Next::Frame(frame),
                Err(broadcast::error::RecvError::Lagged(n)) => Next::Lagged(n),
                Err(broadcast::error::RecvError::Closed) => Next::Closed,
            },
            _ = self.closing.wait_for(|c| *c) => Next::Closed,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.fanout.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Fanout {
    /// Starts the subscription task on the current runtime.
    pub fn start(coord: Arc<dyn Coordinator>, replica: &str) -> Arc<Fanout> {
        Self::start_with(coord, replica, LINGER)
    }

    /// As [`Fanout::start`], keeping the subscription `linger` after the last client left.
    pub fn start_with(coord: Arc<dyn Coordinator>, replica: &str, linger: Duration) -> Arc<Fanout> {
        let fanout = Arc::new(Fanout {
            tx: broadcast::channel(CAPACITY).0,
            clients: AtomicUsize::new(0),
            wake: Notify::new(),
            subscribed: watch::channel(false).0,
            closing: watch::channel(false).0,
            linger,
            next_id: AtomicU64::new(0),
            replica: replica.to_string(),
        });
        tokio::spawn(run(fanout.clone(), coord));
        fanout
    }

    /// Stream clients connected to this replica now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::SeqCst)
    }

    /// Whether the coordinator subscription is in place now.
    pub fn is_subscribed(&self) -> bool {
        *self.subscribed.borrow()
    }

    /// A new client, receiving every message that arrives from now on.
    pub fn listen(self: &Arc<Self>) -> Listener {
        let rx = self.tx.subscribe();
        // Counted before anything else, so the subscription task cannot drop the subscription
        // between this client's arrival and its check of `subscribed`.
        self.clients.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
        Listener { rx, closing: self.closing.subscribe(), fanout: self.clone() }
    }

    /// Hands a published event to this replica's clients only (it could not go through the
    /// coordinator); dropped when there are none.
    pub fn deliver_local(&self, json: String) {
        if self.clients() > 0 {
            self.forward(json, false);
        }
    }

    /// Numbers, parses and broadcasts one message; `from_coordinator` skips this replica's own
    /// dependency events (delivered here already: a gap in the ids, as a filter leaves).
    fn forward(&self, json: String, from_coordinator: bool) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        match Frame::parse(id, json) {
            Some(frame) if from_coordinator && is_local_only(&frame.kind) && self.is_own(&frame.json) => {}
            // No receiver is fine: the last client may just have left.
            Some(frame) => drop(self.tx.send(Arc::new(frame))),
            None => tracing::debug!("event stream: skipped a message that is not an event"),
        }
    }

    /// Whether an event came from this replica.
    fn is_own(&self, json: &str) -> bool {
        #[derive(Deserialize)]
        struct Origin {
            #[serde(default)]
            replica: String,
        }
        serde_json::from_str::<Origin>(json).is_ok_and(|o| o.replica == self.replica)
    }

    /// Ends every client's stream, now and for clients that connect later (shutdown: an open
    /// stream would otherwise hold the server's graceful stop for its whole timeout).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Gives up the subscription if no client is left; whether it did. `subscribed` goes false
    /// before the final count, so a client that saw it true was counted in time to keep it.
    fn release_if_idle(&self) -> bool {
        if self.clients() > 0 {
            return false;
        }
        self.subscribed.send_replace(false);
        if self.clients() > 0 {
            self.subscribed.send_replace(true);
            return false;
        }
        true
    }
}

/// Event types a replica hands to its own clients directly rather than through the coordinator.
pub fn is_local_only(kind: &str) -> bool {
    matches!(kind, "dependency_down" | "dependency_up")
}

/// The subscription task: idle without clients, subscribed (once) while there are some.
async fn run(fanout: Arc<Fanout>, coord: Arc<dyn Coordinator>) {
    loop {
        while fanout.clients() == 0 {
            fanout.wake.notified().await;
        }
        let mut sub = match coord.subscribe(keys::EVENTS).await {
            Ok(sub) => sub,
            Err(e) => {
                tracing::warn!(error = %e, "event stream: cannot subscribe to the coordinator; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        fanout.subscribed.send_replace(true);
        tracing::debug!("event stream: subscribed");
        let mut idle_since: Option<Instant> = None;
        let mut check = tokio::time::interval(IDLE_CHECK);
        loop {
            tokio::select! {
                msg = sub.next() => {
                    let Some(json) = msg else { break };
                    fanout.forward(json, true);
                }
                _ = check.tick() => {
                    if fanout.clients() > 0 {
                        idle_since = None;
                    } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= fanout.linger
                        && fanout.release_if_idle()
                    {
                        break;
                    }
                }
            }
        }
        fanout.subscribed.send_replace(false);
        drop(sub);
        tracing::debug!("event stream: unsubscribed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::MemoryCoordinator;

    async fn next_frame(l: &mut Listener) -> Arc<Frame> {
        match tokio::time::timeout(Duration::from_secs(5), l.next()).await.expect("no event within 5 s") {
            Next::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn one_subscription_serves_every_client_and_goes_when_they_do() {
        let coord = Arc::new(MemoryCoordinator::new());
        let fanout = Fanout::start_with(coord.clone(), "r1", Duration::from_millis(100));
        assert_eq!(coord.subscribers(keys::EVENTS).await.unwrap(), 0, "subscribed without clients");

        let mut a = fanout.listen();
        let mut b = fanout.listen();
        assert!(a.wait_subscribed(Duration::from_secs(5)).await);
        assert!(b.wait_subscribed(Duration::from_secs(5)).await);
        assert_eq!(coord.subscribers(keys::EVENTS).await.unwrap(), 1, "one subscription for two clients");
        assert_eq!(fanout.clients(), 2);

        coord.publish(keys::EVENTS, r#"{"type":"fetch_started","repository":"r","path":"p"}"#).await.unwrap();
        coord.publish(keys::EVENTS, "not json").await.unwrap();
        coord.publish(keys::EVENTS, r#"{"type":"gc_run"}"#).await.unwrap();
        for l in [&mut a, &mut b] {
            let first = next_frame(l).await;
            assert_eq!((first.id, first.kind.as_str(), first.repository.as_deref()), (1, "fetch_started", Some("r")));
            let second = next_frame(l).await;
            assert_eq!((second.id, second.kind.as_str(), second.repository.as_deref()), (3, "gc_run", None));
        }

        drop(a);
        drop(b);
        assert_eq!(fanout.clients(), 0);
        let deadline = Instant::now() + Duration::from_secs(5);
        while coord.subscribers(keys::EVENTS).await.unwrap() > 0 || fanout.is_subscribed() {
            assert!(Instant::now() < deadline, "subscription kept without clients");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // A new client brings it back, and sees what is published after it connected.
        let mut c = fanout.listen();
        assert!(c.wait_subscribed(Duration::from_secs(5)).await);
        coord.publish(keys::EVENTS, r#"{"type":"gc_run"}"#).await.unwrap();
        assert_eq!(next_frame(&mut c).await.kind, "gc_run");
    }

    #[tokio::test]
    async fn a_slow_client_skips_and_is_told_how_many() {
        let coord = Arc::new(MemoryCoordinator::new());
        let fanout = Fanout::start(coord.clone(), "r1");
        let mut slow = fanout.listen();
        let mut quick = fanout.listen();
        assert!(slow.wait_subscribed(Duration::from_secs(5)).await);
        let total = CAPACITY as u64 + 100;
        let reader = tokio::spawn(async move {
            for i in 1..=total {
                assert_eq!(next_frame(&mut quick).await.id, i, "the quick client lost an event");
            }
        });
        for i in 0..total {
            coord.publish(keys::EVENTS, &format!(r#"{{"type":"gc_run","n":{i}}}"#)).await.unwrap();
            // Let the fan-out task forward each one (the coordinator channel holds 1024 too).
            tokio::task::yield_now().await;
        }
        reader.await.unwrap();
        match tokio::time::timeout(Duration::from_secs(5), slow.next()).await.unwrap() {
            Next::Lagged(n) => assert_eq!(n, 100),
            other => panic!("expected a lag notice, got {other:?}"),
        }
        assert_eq!(next_frame(&mut slow).await.id, 101, "resumes with the oldest event still held");
    }
}

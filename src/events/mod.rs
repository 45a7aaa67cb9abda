//! The event bus: where actors' events go, how they reach every replica, and how they come back
//! out as the live event stream (`GET /api/v2/events`).
//!
//! Out: emitting never blocks a request. Events go into a bounded queue, and one task publishes
//! them in batches through the coordinator (Redis pub/sub when configured, so subscribers on
//! every replica see every replica's events; a local broadcast otherwise). When the queue is
//! full the event is dropped and counted: serving requests matters more than a complete stream.
//! When the coordinator does not take a batch (Redis down), the batch goes to this replica's own
//! stream clients instead, so they still see what happens here (the outage included).
//!
//! In: [`fanout`] holds this replica's single subscription to the coordinator channel, taken
//! while local stream clients exist, and hands each event to every client ([`sse`] frames
//! them, [`filter`] picks what a client asked for).
//!
//! Cache hits are the bulk of all traffic, so they are published only while someone listens
//! anywhere: a flag, refreshed once a second off the request path from the number of
//! subscriptions to the channel (every replica with a stream client holds one), and set at once
//! when a local client connects. Nobody listening, a hit costs one atomic load and one counter
//! increment ([`EventSink::wants`] lets emitters skip building the event). Hits never take the
//! last half of the queue, so a flood of them cannot crowd out fetches and breaker changes.

pub mod fanout;
pub mod filter;
pub mod sse;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use artifactapi_actors::coord::{keys, Coordinator};
use artifactapi_actors::events::{Event, EventKind, EventSink};
use tokio::sync::mpsc;

pub use fanout::{Fanout, Listener};
pub use filter::{Filter, FilterError};

/// Events buffered before new ones are dropped.
const QUEUE: usize = 8192;
/// Most events published in one coordinator round trip.
const BATCH: usize = 256;
/// How long a new stream client waits for this replica's subscription to be in place.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(5);
/// How often the bus asks whether anyone listens (for cache hits).
const LISTENER_CHECK: Duration = Duration::from_secs(1);

pub struct EventBus {
    tx: mpsc::Sender<Event>,
    replica: String,
    dropped: AtomicU64,
    hits: AtomicU64,
    /// Whether some stream client listens, here or on another replica.
    listening: Arc<AtomicBool>,
    fanout: Arc<Fanout>,
}

impl EventBus {
    /// Starts the publishing, fan-out and listener-check tasks on the current runtime.
    pub fn start(coord: Arc<dyn Coordinator>, replica: String) -> Arc<EventBus> {
        let (tx, rx) = mpsc::channel::<Event>(QUEUE);
        let fanout = Fanout::start(coord.clone(), &replica);
        tokio::spawn(publish(coord.clone(), fanout.clone(), rx));
        let listening = Arc::new(AtomicBool::new(false));
        tokio::spawn(check_listeners(coord, fanout.clone(), listening.clone()));
        Arc::new(EventBus { tx, replica, dropped: AtomicU64::new(0), hits: AtomicU64::new(0), listening, fanout })
    }

    /// Cache hits counted since start (published or not).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// This replica's name, as events carry it.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Ends every stream client's stream (the server is shutting down).
    pub fn close(&self) {
        self.fanout.close();
    }

    /// A new stream client: receives every event published (by any replica) from when this
    /// returns. Waits (a bounded time) until this replica's subscription is in place, so nothing
    /// published after this returns is missed.
    pub async fn listen(&self) -> Listener {
        let mut listener = self.fanout.listen();
        self.listening.store(true, Ordering::Relaxed);
        if !listener.wait_subscribed(SUBSCRIBE_WAIT).await {
            tracing::warn!("event stream client connected before the coordinator subscription is in place");
        }
        listener
    }
}

impl EventSink for EventBus {
    fn emit(&self, mut event: Event) {
        if event.kind == EventKind::CacheHit {
            self.hits.fetch_add(1, Ordering::Relaxed);
            if !self.listening.load(Ordering::Relaxed) {
                return;
            }
            if self.tx.capacity() < QUEUE / 2 {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        event.replica.clone_from(&self.replica);
        if fanout::is_local_only(event.kind.as_str()) {
            if let Ok(json) = serde_json::to_string(&event) {
                self.fanout.deliver_local(json);
            }
        }
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn wants(&self, kind: EventKind) -> bool {
        kind != EventKind::CacheHit || self.listening.load(Ordering::Relaxed)
    }
}

/// Publishes queued events in order, as many per round trip as are waiting; what the
/// coordinator refuses goes to this replica's clients only.
async fn publish(coord: Arc<dyn Coordinator>, fanout: Arc<Fanout>, mut rx: mpsc::Receiver<Event>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut payloads = Vec::with_capacity(BATCH);
    // Whether each payload went to this replica's clients already (dependency events).
    let mut delivered = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        for event in batch.drain(..) {
            match serde_json::to_string(&event) {
                Ok(json) => {
                    payloads.push(json);
                    delivered.push(fanout::is_local_only(event.kind.as_str()));
                }
                Err(e) => tracing::warn!(error = %e, "event not serialisable"),
            }
        }
        if let Err(e) = coord.publish_many(keys::EVENTS, &payloads).await {
            tracing::debug!(error = %e, events = payloads.len(), "events not published; delivered on this replica only");
            for (json, done) in payloads.drain(..).zip(delivered.iter()) {
                if !done {
                    fanout.deliver_local(json);
                }
            }
        }
        payloads.clear();
        delivered.clear();
    }
}

/// Keeps `listening` up to date: true while this replica has stream clients or the
/// coordinator channel has any subscriber (another replica's clients).
async fn check_listeners(coord: Arc<dyn Coordinator>, fanout: Arc<Fanout>, listening: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(LISTENER_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let anyone = fanout.clients() > 0 || coord.subscribers(keys::EVENTS).await.is_ok_and(|n| n > 0);
        listening.store(anyone, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;

//! The event bus: where actors' events go, and how they reach every replica.
//!
//! Emitting never blocks a request: events go into a bounded queue, and one task publishes them
//! through the coordinator (Redis pub/sub when configured, so subscribers on every replica see
//! every replica's events). When the queue is full the event is dropped and counted: serving
//! requests matters more than a complete event stream. Cache hits are counted, not published:
//! they are the bulk of all traffic, and hot-object hits never reach an actor at all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use artifactapi_actors::coord::{keys, Coordinator};
use artifactapi_actors::events::{Event, EventKind, EventSink};
use tokio::sync::mpsc;

/// Events buffered before new ones are dropped.
const QUEUE: usize = 8192;

pub struct EventBus {
    tx: mpsc::Sender<Event>,
    replica: String,
    dropped: AtomicU64,
    hits: AtomicU64,
}

impl EventBus {
    /// Starts the publishing task on the current runtime.
    pub fn start(coord: Arc<dyn Coordinator>, replica: String) -> Arc<EventBus> {
        let (tx, mut rx) = mpsc::channel::<Event>(QUEUE);
        actix_rt::spawn(async move {
            while let Some(event) = rx.recv().await {
                match serde_json::to_string(&event) {
                    Ok(json) => {
                        if let Err(e) = coord.publish(keys::EVENTS, &json).await {
                            tracing::debug!(error = %e, "event not published");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "event not serialisable"),
                }
            }
        });
        Arc::new(EventBus { tx, replica, dropped: AtomicU64::new(0), hits: AtomicU64::new(0) })
    }

    /// Cache hits counted (not published) since start.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl EventSink for EventBus {
    fn emit(&self, mut event: Event) {
        if event.kind == EventKind::CacheHit {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return;
        }
        event.replica.clone_from(&self.replica);
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

//! The in-process coordinator: what a single node uses when no `REDIS_URL` is configured.
//!
//! Keys, counters and locks live in one mutex-guarded map whose entries carry an optional expiry
//! instant. Expired entries are invisible to every operation and are removed lazily when touched
//! and by a sweep that runs at most once a second on writes, so a stream of short-lived keys
//! (negative-cache entries, fetch locks) cannot make memory grow without bound.
//!
//! Pub/sub uses one tokio broadcast channel per channel name. A subscriber that falls behind
//! skips the messages it missed and carries on; publishers never wait for subscribers. Channels
//! with no subscriber left are dropped on the next publish.
//!
//! The mutex is a `std` one: no operation holds it across an await point.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use artifactapi_actors::coord::{CoordError, Coordinator, LockToken, Subscription};
use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::broadcast;

/// Messages a subscriber may fall behind by before it starts skipping.
const CHANNEL_CAPACITY: usize = 1024;
/// Shortest interval between two full sweeps of expired entries.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

struct Keys {
    map: HashMap<String, Entry>,
    next_sweep: Instant,
}

impl Keys {
    /// The live entry at `key`, removing it if it has expired.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.map.get(key).is_some_and(|e| !e.live(now)) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    /// Drops every expired entry, at most once per [`SWEEP_INTERVAL`].
    fn maybe_sweep(&mut self, now: Instant) {
        if now >= self.next_sweep {
            self.map.retain(|_, e| e.live(now));
            self.next_sweep = now + SWEEP_INTERVAL;
        }
    }
}

/// The in-process [`Coordinator`].
pub struct MemoryCoordinator {
    keys: Mutex<Keys>,
    channels: Mutex<HashMap<String, broadcast::Sender<String>>>,
}

impl Default for MemoryCoordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCoordinator {
    pub fn new() -> Self {
        MemoryCoordinator {
            keys: Mutex::new(Keys { map: HashMap::new(), next_sweep: Instant::now() + SWEEP_INTERVAL }),
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// Number of entries held, expired ones included until they are swept (for tests).
    pub fn stored_entries(&self) -> usize {
        self.keys().map.len()
    }

    fn keys(&self) -> MutexGuard<'_, Keys> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is a
        // single insert or remove), so a poisoned lock is still safe to use.
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn channels(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<String>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn expiry(now: Instant, ttl: Option<Duration>) -> Option<Instant> {
    // A TTL too large to represent is as good as no expiry.
    ttl.and_then(|t| now.checked_add(t))
}

#[async_trait]
impl Coordinator for MemoryCoordinator {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), CoordError> {
        let now = Instant::now();
        let mut keys = self.keys();
        keys.maybe_sweep(now);
        keys.map.insert(key.to_string(), Entry { value: value.to_string(), expires: expiry(now, ttl) });
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, CoordError> {
        Ok(self.keys().live(key, Instant::now()).map(|e| e.value.clone()))
    }

    async fn del(&self, key: &str) -> Result<(), CoordError> {
        self.keys().map.remove(key);
        Ok(())
    }

    async fn del_prefix(&self, prefix: &str) -> Result<u64, CoordError> {
        let now = Instant::now();
        let mut removed = 0u64;
        self.keys().map.retain(|k, e| {
            if !k.starts_with(prefix) {
                return true;
            }
            if e.live(now) {
                removed += 1;
            }
            false
        });
        Ok(removed)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CoordError> {
        let now = Instant::now();
        let mut keys = self.keys();
        keys.maybe_sweep(now);
        if let Some(entry) = keys.live(key, now) {
            let current: i64 =
                entry.value.parse().map_err(|_| CoordError::Protocol(format!("value at {key:?} is not an integer")))?;
            let next =
                current.checked_add(1).ok_or_else(|| CoordError::Protocol(format!("counter {key:?} overflows")))?;
            entry.value = next.to_string();
            if entry.expires.is_none() {
                entry.expires = expiry(now, Some(ttl));
            }
            return Ok(next);
        }
        keys.map.insert(key.to_string(), Entry { value: "1".to_string(), expires: expiry(now, Some(ttl)) });
        Ok(1)
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, CoordError> {
        let now = Instant::now();
        let mut keys = self.keys();
        keys.maybe_sweep(now);
        if keys.live(key, now).is_some() {
            return Ok(None);
        }
        let token = uuid::Uuid::new_v4().to_string();
        keys.map.insert(key.to_string(), Entry { value: token.clone(), expires: expiry(now, Some(ttl)) });
        Ok(Some(LockToken(token)))
    }

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), CoordError> {
        let mut keys = self.keys();
        if keys.live(key, Instant::now()).is_some_and(|e| e.value == token.0) {
            keys.map.remove(key);
        }
        Ok(())
    }

    async fn renew(&self, key: &str, token: &LockToken, ttl: Duration) -> Result<bool, CoordError> {
        let now = Instant::now();
        let mut keys = self.keys();
        match keys.live(key, now).filter(|e| e.value == token.0) {
            Some(entry) => {
                entry.expires = expiry(now, Some(ttl));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn publish(&self, channel: &str, payload: &str) -> Result<(), CoordError> {
        let mut channels = self.channels();
        if let Some(tx) = channels.get(channel) {
            // `send` fails only when nobody listens any more: forget the channel then.
            if tx.send(payload.to_string()).is_err() {
                channels.remove(channel);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription, CoordError> {
        let rx = self
            .channels()
            .entry(channel.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        Ok(Box::pin(
            futures_util::stream::unfold(rx, |mut rx| async move {
                loop {
                    match rx.recv().await {
                        Ok(msg) => return Some((msg, rx)),
                        Err(broadcast::error::RecvError::Lagged(skipped)) => {
                            tracing::warn!(skipped, "event subscriber fell behind and skipped messages");
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            })
            .fuse(),
        ))
    }

    async fn subscribers(&self, channel: &str) -> Result<u64, CoordError> {
        Ok(self.channels().get(channel).map_or(0, |tx| tx.receiver_count() as u64))
    }

    async fn ping(&self) -> Result<(), CoordError> {
        Ok(())
    }
}

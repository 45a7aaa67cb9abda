//! The coordinator: state that replicas of artifactapi share and that must expire by itself.
//!
//! Freshness keys (is this cached copy still within its TTL?), negative-cache keys, fetch locks
//! held as short leases renewed by their holder (one replica fetches a cold object while the
//! others wait, and a replica that dies mid-fetch hands over within one lease), circuit-breaker state
//! (every replica fails fast once one has seen the upstream die) and event fan-out.
//!
//! The trait has a handful of primitives (keys with expiry, counters, locks, pub/sub) so both
//! implementations stay small and one shared test suite can hold them to the same behaviour;
//! the typed operations the actors use are default methods built on those primitives, with the
//! key naming in one place ([`keys`]). Implementations live in the service crate: Redis
//! (`REDIS_URL` set) and in-process (single node).

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::Stream;

/// Coordinator errors: the backend did not answer or answered nonsense.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error("coordinator unavailable: {0}")]
    Unavailable(String),
    #[error("coordinator protocol: {0}")]
    Protocol(String),
}

/// Proof of holding a lock; only its holder can release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToken(pub String);

/// A subscription to a pub/sub channel: every message published after it was taken.
pub type Subscription = Pin<Box<dyn Stream<Item = String> + Send>>;

#[async_trait]
pub trait Coordinator: Send + Sync + 'static {
    /// `redis` or `memory`.
    fn kind(&self) -> &'static str;

    /// Sets `key` to `value`, expiring after `ttl` (never when `None`).
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), CoordError>;
    /// The value of `key`, `None` if absent or expired.
    async fn get(&self, key: &str) -> Result<Option<String>, CoordError>;
    /// Deletes `key` (absent is fine).
    async fn del(&self, key: &str) -> Result<(), CoordError>;
    /// Deletes every key starting with `prefix`; returns how many went.
    async fn del_prefix(&self, prefix: &str) -> Result<u64, CoordError>;
    /// Atomically increments the counter at `key` (created at 0) and returns the new value;
    /// the counter expires `ttl` after its creation.
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CoordError>;
    /// Takes the lock `key` if nobody holds it; it expires by itself after `ttl`.
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, CoordError>;
    /// Releases the lock if `token` still holds it (a lock that expired and was taken by someone
    /// else is left alone).
    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), CoordError>;
    /// Extends the lock to expire `ttl` from now if `token` still holds it; `false` when it
    /// expired or is held by someone else (a lease that was lost is not taken back).
    async fn renew(&self, key: &str, token: &LockToken, ttl: Duration) -> Result<bool, CoordError>;
    /// Publishes `payload` to every subscriber of `channel`, on every replica.
    async fn publish(&self, channel: &str, payload: &str) -> Result<(), CoordError>;
    /// Publishes several payloads to `channel`, in order (Redis: one pipelined round trip).
    async fn publish_many(&self, channel: &str, payloads: &[String]) -> Result<(), CoordError> {
        for payload in payloads {
            self.publish(channel, payload).await?;
        }
        Ok(())
    }
    /// Subscribes to `channel`.
    async fn subscribe(&self, channel: &str) -> Result<Subscription, CoordError>;
    /// How many subscriptions `channel` has now, over every replica (Redis `PUBSUB NUMSUB`).
    /// Lets publishers skip work nobody would receive.
    async fn subscribers(&self, channel: &str) -> Result<u64, CoordError>;
    /// A round trip, for health checks.
    async fn ping(&self) -> Result<(), CoordError>;

    // ---- typed operations, built on the primitives ----

    /// Marks a cached object fresh for `ttl` (`None`: forever).
    async fn set_fresh(&self, repo: &str, object: &str, ttl: Option<Duration>) -> Result<(), CoordError> {
        self.set(&keys::fresh(repo, object), "1", ttl).await
    }
    async fn is_fresh(&self, repo: &str, object: &str) -> Result<bool, CoordError> {
        Ok(self.get(&keys::fresh(repo, object)).await?.is_some())
    }
    /// Remembers that the upstream identified by `upstream` has no such object, for `ttl`.
    async fn set_negative(&self, repo: &str, object: &str, upstream: &str, ttl: Duration) -> Result<(), CoordError> {
        self.set(&keys::negative(repo, object), upstream, Some(ttl)).await
    }
    /// Whether the upstream identified by `upstream` was found not to have the object. An entry
    /// another upstream left (the remote's base URL changed since, perhaps while a replica
    /// still fetched with the old one) does not count.
    async fn is_negative(&self, repo: &str, object: &str, upstream: &str) -> Result<bool, CoordError> {
        Ok(self.get(&keys::negative(repo, object)).await?.is_some_and(|v| v == upstream))
    }
    /// Forgets freshness and negative entries of a repository (all of it, or a path prefix).
    async fn forget(&self, repo: &str, prefix: &str) -> Result<u64, CoordError> {
        let a = self.del_prefix(&format!("{}{prefix}", keys::fresh(repo, ""))).await?;
        let b = self.del_prefix(&format!("{}{prefix}", keys::negative(repo, ""))).await?;
        Ok(a + b)
    }
}

/// Key naming, in one place. `object` is `{variant}|{path}` (see
/// [`crate::catalog::ObjectKey::coord_key`]).
pub mod keys {
    pub fn fresh(repo: &str, object: &str) -> String {
        format!("aa:fresh:{repo}:{object}")
    }
    pub fn negative(repo: &str, object: &str) -> String {
        format!("aa:neg:{repo}:{object}")
    }
    pub fn fetch_lock(repo: &str, object: &str) -> String {
        format!("aa:lock:fetch:{repo}:{object}")
    }
    /// Where the replica holding the fetch lock streams its fill from
    /// ([`crate::remote::replica::Advert`]).
    pub fn fill_advert(repo: &str, object: &str) -> String {
        format!("aa:fill:{repo}:{object}")
    }
    pub fn breaker_failures(repo: &str) -> String {
        format!("aa:breaker:{repo}:failures")
    }
    pub fn breaker_open_until(repo: &str) -> String {
        format!("aa:breaker:{repo}:open_until")
    }
    pub fn breaker_probe(repo: &str) -> String {
        format!("aa:breaker:{repo}:probe")
    }
    /// The channel every replica's events go through.
    pub const EVENTS: &str = "aa:events";
}

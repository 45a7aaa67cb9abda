//! The Redis coordinator: what replicas share when `REDIS_URL` is set.
//!
//! Commands go through a small bb8 pool of multiplexed connections. Every key and channel name
//! is prefixed with the configured namespace (`{namespace}:`, nothing when it is empty), so
//! parallel test runs and several deployments on one Redis cannot see each other's state.
//!
//! - keys with expiry are `SET .. PX`; locks are `SET .. NX PX` holding a random token and are
//!   released by a compare-and-delete script, so an expired lock taken over by another replica
//!   is never released by its former holder;
//! - counters are `INCR` plus `PEXPIRE` on creation, in one script so a counter can never be
//!   left without an expiry;
//! - prefix deletion walks the keyspace with `SCAN` in batches (never `KEYS`, which blocks the
//!   server), deleting each batch as it goes.
//!
//! Failure behaviour: connecting is bounded by [`CONNECT_TIMEOUT`] and each answer by
//! [`RESPONSE_TIMEOUT`], so while Redis is down every call fails with
//! [`CoordError::Unavailable`] within about two seconds instead of hanging. A connection that
//! failed is marked broken and dropped by the pool, and the next call dials again, so commands
//! work again as soon as Redis is back, without a restart. Pub/sub is in `redis_pubsub.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use artifactapi_actors::coord::{CoordError, Coordinator, LockToken, Subscription};
use async_trait::async_trait;
use bb8_redis::bb8;
use bb8_redis::redis::{self, aio::MultiplexedConnection, AsyncConnectionConfig, FromRedisValue, RedisError};

/// Longest wait for a connection (dialing included) before a call fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the answer to one command.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections in the pool; each one multiplexes many concurrent commands.
const POOL_SIZE: u32 = 8;
/// Keys asked for per `SCAN` round (a hint to Redis) and deleted per `DEL`.
const SCAN_BATCH: usize = 500;

/// Increments, and sets the expiry when the counter is new (or somehow has none).
const INCR_SCRIPT: &str = r"
local v = redis.call('INCR', KEYS[1])
if v == 1 or redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return v";

/// Deletes the lock only if it still holds the caller's token.
const UNLOCK_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Extends the lock only if it still holds the caller's token.
const RENEW_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Maps a Redis error: anything that a reconnect or a retry later may cure means Redis is
/// unavailable; the rest (wrong type, script error) is a protocol error.
pub(super) fn map_err(e: &RedisError) -> CoordError {
    match e.retry_method() {
        redis::RetryMethod::NoRetry => CoordError::Protocol(e.to_string()),
        _ => CoordError::Unavailable(e.to_string()),
    }
}

/// Whether the connection that produced `e` must be replaced.
fn breaks_connection(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || matches!(
            e.retry_method(),
            redis::RetryMethod::Reconnect | redis::RetryMethod::ReconnectFromInitialConnections
        )
}

/// The connection settings used for every command connection.
pub(super) fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

/// A pooled connection and whether a command on it failed in a way that ruins it.
pub struct Conn {
    inner: MultiplexedConnection,
    broken: bool,
}

/// The pool's connection manager. bb8-redis's own manager pings on every checkout (the only way
/// it can notice a dead connection); this one instead marks a connection broken when a command
/// on it fails, which costs no extra round trip.
struct Manager {
    client: redis::Client,
    config: AsyncConnectionConfig,
}

impl bb8::ManageConnection for Manager {
    type Connection = Conn;
    type Error = RedisError;

    async fn connect(&self) -> Result<Conn, RedisError> {
        let inner = self.client.get_multiplexed_async_connection_with_config(&self.config).await?;
        Ok(Conn { inner, broken: false })
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<(), RedisError> {
        redis::cmd("PING").query_async::<()>(&mut conn.inner).await
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken
    }
}

/// Keeps the last error the pool saw while dialing, so a timed-out call can say why.
#[derive(Debug, Clone, Default)]
struct LastError(Arc<Mutex<Option<String>>>);

impl bb8::ErrorSink<RedisError> for LastError {
    fn sink(&self, error: RedisError) {
        tracing::debug!(%error, "redis connection attempt failed");
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }
    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<RedisError>> {
        Box::new(self.clone())
    }
}

/// The Redis [`Coordinator`].
pub struct RedisCoordinator {
    client: redis::Client,
    pool: bb8::Pool<Manager>,
    namespace: String,
    last_error: LastError,
}

impl RedisCoordinator {
    /// Opens a pool on `url` (`redis://HOST:PORT[/DB]`) and checks that Redis answers; every key
    /// and channel is prefixed with `namespace` (empty: no prefix).
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, CoordError> {
        let client = redis::Client::open(url).map_err(|e| CoordError::Protocol(format!("REDIS_URL: {e}")))?;
        let last_error = LastError::default();
        let pool = bb8::Pool::builder()
            .max_size(POOL_SIZE)
            .connection_timeout(CONNECT_TIMEOUT)
            .test_on_check_out(false)
            .error_sink(Box::new(last_error.clone()))
            .build_unchecked(Manager { client: client.clone(), config: connection_config() });
        let coord = RedisCoordinator { client, pool, namespace: namespace.to_string(), last_error };
        coord.ping().await?;
        Ok(coord)
    }

    /// `name` with the namespace prefix.
    pub(super) fn ns(&self, name: &str) -> String {
        if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}:{name}", self.namespace)
        }
    }

    async fn conn(&self) -> Result<bb8::PooledConnection<'_, Manager>, CoordError> {
        self.pool.get().await.map_err(|e| match e {
            bb8::RunError::User(e) => map_err(&e),
            bb8::RunError::TimedOut => {
                let why = self.last_error.0.lock().unwrap_or_else(|p| p.into_inner()).take();
                CoordError::Unavailable(format!(
                    "no redis connection within {}s{}",
                    CONNECT_TIMEOUT.as_secs(),
                    why.map(|w| format!(": {w}")).unwrap_or_default()
                ))
            }
        })
    }

    /// Runs one command, marking the connection broken if the failure ruined it.
    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, CoordError> {
        let mut conn = self.conn().await?;
        match cmd.query_async::<T>(&mut conn.inner).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if breaks_connection(&e) {
                    conn.broken = true;
                }
                Err(map_err(&e))
            }
        }
    }
}

/// A TTL in whole milliseconds, at least 1 (Redis refuses 0) and within Redis' range.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).clamp(1, i64::MAX as u64 / 2)
}

/// `prefix` with the glob characters of `SCAN MATCH` escaped, followed by `*`.
fn match_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 8);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

#[async_trait]
impl Coordinator for RedisCoordinator {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), CoordError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.ns(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(millis(ttl));
        }
        self.query::<()>(&cmd).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, CoordError> {
        self.query(redis::cmd("GET").arg(self.ns(key))).await
    }

    async fn del(&self, key: &str) -> Result<(), CoordError> {
        self.query::<()>(redis::cmd("DEL").arg(self.ns(key))).await
    }

    async fn del_prefix(&self, prefix: &str) -> Result<u64, CoordError> {
        let pattern = match_pattern(&self.ns(prefix));
        let mut cursor: u64 = 0;
        let mut removed = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .query(redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_BATCH))
                .await?;
            for batch in keys.chunks(SCAN_BATCH) {
                removed += self.query::<u64>(redis::cmd("DEL").arg(batch)).await?;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CoordError> {
        self.query(redis::cmd("EVAL").arg(INCR_SCRIPT).arg(1).arg(self.ns(key)).arg(millis(ttl))).await
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, CoordError> {
        let token = uuid::Uuid::new_v4().to_string();
        let set: Option<String> =
            self.query(redis::cmd("SET").arg(self.ns(key)).arg(&token).arg("NX").arg("PX").arg(millis(ttl))).await?;
        Ok(set.map(|_| LockToken(token)))
    }

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), CoordError> {
        self.query::<()>(redis::cmd("EVAL").arg(UNLOCK_SCRIPT).arg(1).arg(self.ns(key)).arg(&token.0)).await
    }

    async fn renew(&self, key: &str, token: &LockToken, ttl: Duration) -> Result<bool, CoordError> {
        let renewed: i64 = self
            .query(redis::cmd("EVAL").arg(RENEW_SCRIPT).arg(1).arg(self.ns(key)).arg(&token.0).arg(millis(ttl)))
            .await?;
        Ok(renewed == 1)
    }

    async fn publish(&self, channel: &str, payload: &str) -> Result<(), CoordError> {
        self.query::<()>(redis::cmd("PUBLISH").arg(self.ns(channel)).arg(payload)).await
    }

    async fn publish_many(&self, channel: &str, payloads: &[String]) -> Result<(), CoordError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let channel = self.ns(channel);
        let mut pipe = redis::pipe();
        for payload in payloads {
            pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
        }
        let mut conn = self.conn().await?;
        match pipe.query_async::<()>(&mut conn.inner).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if breaks_connection(&e) {
                    conn.broken = true;
                }
                Err(map_err(&e))
            }
        }
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription, CoordError> {
        super::redis_pubsub::subscribe(self.client.clone(), self.ns(channel)).await
    }

    async fn subscribers(&self, channel: &str) -> Result<u64, CoordError> {
        // The answer is the flat list [channel, count].
        let (_, count): (String, u64) = self.query(redis::cmd("PUBSUB").arg("NUMSUB").arg(self.ns(channel))).await?;
        Ok(count)
    }

    async fn ping(&self) -> Result<(), CoordError> {
        self.query::<()>(&redis::cmd("PING")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_patterns_escape_glob_characters() {
        assert_eq!(match_pattern("ns:aa:fresh:r:"), "ns:aa:fresh:r:*");
        assert_eq!(match_pattern("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f*");
        assert_eq!(match_pattern(""), "*");
    }

    #[test]
    fn ttls_become_valid_px_arguments() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_millis(200)), 200);
        assert!(millis(Duration::MAX) <= i64::MAX as u64);
    }
}

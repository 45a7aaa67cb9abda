//! The coordinator implementations: Redis when `REDIS_URL` is set, in-process otherwise.
//!
//! The trait and the typed operations (freshness, negative entries, locks, breaker state) are
//! defined in [`artifactapi_actors::coord`]; this module only provides the two backends and
//! [`build`], which picks one from the configuration. Both backends are held to the same
//! behaviour by one shared test suite (`suite.rs`).

use std::sync::Arc;

use artifactapi_actors::coord::{CoordError, Coordinator};

pub mod memory;
pub mod redis;
mod redis_pubsub;

#[cfg(test)]
mod suite;
#[cfg(test)]
mod suite_restart;

pub use memory::MemoryCoordinator;
pub use redis::RedisCoordinator;

/// The coordinator for this process: Redis at `redis_url` with keys and channels prefixed by
/// `namespace`, or the in-process one when no URL is configured. Fails when Redis does not
/// answer, so a wrong `REDIS_URL` is noticed at start rather than degrading silently.
pub async fn build(redis_url: Option<&str>, namespace: &str) -> Result<Arc<dyn Coordinator>, CoordError> {
    match redis_url {
        Some(url) => Ok(Arc::new(RedisCoordinator::connect(url, namespace).await?)),
        None => Ok(Arc::new(MemoryCoordinator::new())),
    }
}

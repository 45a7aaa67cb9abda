//! Eviction: a remote's catalog rows, its coordinator keys and every replica's hot objects go
//! together, so the next request for an evicted path is a MISS on whichever replica it reaches.
//!
//! The catalog is the authority: once its rows are gone no replica serves the object through
//! its actor. What could still serve it are the in-memory hot-object maps (immutable objects
//! served without a catalog query), so the local one is cleared before the answer goes out and
//! every other replica is told through the coordinator's [`EVICT_CHANNEL`]. Freshness and
//! negative-cache keys under the evicted paths are deleted too, so a remembered upstream 404
//! does not outlive an eviction either.
//!
//! Blobs are left alone: GC deletes them once nothing (another remote's object, a local file,
//! an upload) references them. A fetch of an evicted path that was already in flight commits
//! when it completes, as a fresh copy.

use std::sync::Arc;
use std::time::Duration;

use artifactapi_actors::coord::Coordinator;
use artifactapi_actors::events::{Event, EventKind, EventSink};
use artifactapi_actors::remote::Forget;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::db::objects::{EvictTarget, Evicted};
use crate::db::DbError;
use crate::registry::{Registry, RemoteEntry};
use crate::state::{AppState, EVICT_CHANNEL};

/// How long the local actor may take to drop its hot objects before the answer goes out anyway.
const FORGET_TIMEOUT: Duration = Duration::from_secs(5);

/// What replicas announce on [`EVICT_CHANNEL`]: forget hot objects of `repo` under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Announcement {
    repo: String,
    prefix: String,
}

/// Evicts what `target` names from remote `entry`; returns what went.
pub async fn evict(state: &AppState, entry: &RemoteEntry, target: EvictTarget<'_>) -> Result<Evicted, DbError> {
    let repo = entry.remote.spec.name.as_str();
    let gone = state.db.evict_objects(repo, target).await?;
    let prefix = match target {
        EvictTarget::All => "",
        EvictTarget::Prefix(p) | EvictTarget::Path(p) => p,
    };
    forget_keys(state.coord.as_ref(), repo, prefix, &gone.variants).await;
    match tokio::time::timeout(FORGET_TIMEOUT, entry.addr.send(Forget { prefix: prefix.to_string() })).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(repo, error = %e, "remote actor did not take the eviction"),
        Err(_) => tracing::warn!(repo, "remote actor did not confirm the eviction in time"),
    }
    let announcement = Announcement { repo: repo.to_string(), prefix: prefix.to_string() };
    if let Ok(payload) = serde_json::to_string(&announcement) {
        if let Err(e) = state.coord.publish(EVICT_CHANNEL, &payload).await {
            tracing::warn!(repo, error = %e, "could not announce an eviction to the other replicas");
        }
    }
    let mut event = Event::new(EventKind::Eviction).repo(repo).size(gone.bytes).detail(serde_json::json!({
        "evicted": gone.count,
        "bytes": gone.bytes,
        "prefix": (!prefix.is_empty()).then_some(prefix),
    }));
    if !prefix.is_empty() {
        event = event.path(prefix);
    }
    state.events.emit(event);
    tracing::info!(repo, prefix, evicted = gone.count, bytes = gone.bytes, "evicted cached objects");
    Ok(gone)
}

/// Deletes freshness and negative-cache keys under `prefix`, for every variant evicted (and the
/// plain one, so a remembered 404 of the path goes too). A coordinator that does not answer is
/// logged and skipped: keys without a catalog row make no object servable.
async fn forget_keys(coord: &dyn Coordinator, repo: &str, prefix: &str, variants: &[String]) {
    let mut prefixes: Vec<String> = if prefix.is_empty() {
        vec![String::new()]
    } else {
        variants.iter().map(|v| format!("{v}|{prefix}")).collect()
    };
    if !prefix.is_empty() && !variants.iter().any(String::is_empty) {
        prefixes.push(format!("|{prefix}"));
    }
    for p in prefixes {
        if let Err(e) = coord.forget(repo, &p).await {
            tracing::warn!(repo, prefix = %p, error = %e, "could not forget coordinator keys of evicted objects");
        }
    }
}

/// Drops hot objects whenever any replica announces an eviction (this one included: its own
/// announcement arrives after it already did so, and forgetting twice is harmless).
pub fn follow_evictions(coord: Arc<dyn Coordinator>, registry: Arc<Registry>) {
    actix_rt::spawn(async move {
        loop {
            let mut evictions = match coord.subscribe(EVICT_CHANNEL).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot follow evictions; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            while let Some(payload) = evictions.next().await {
                match serde_json::from_str::<Announcement>(&payload) {
                    Ok(a) => {
                        if let Some(entry) = registry.get(&a.repo) {
                            entry.addr.do_send(Forget { prefix: a.prefix });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, payload, "unreadable eviction announcement"),
                }
            }
        }
    });
}

#[cfg(test)]
#[path = "hot_race_tests.rs"]
mod hot_race_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::memory::MemoryCoordinator;

    #[tokio::test]
    async fn keys_of_evicted_variants_and_the_plain_path_go() {
        let coord = MemoryCoordinator::new();
        let ttl = Some(Duration::from_secs(60));
        for key in ["|pkg/a", "json|pkg/a", "|pkg/b", "|lib/a"] {
            coord.set_fresh("hub", key, ttl).await.unwrap();
        }
        coord.set_fresh("other", "|pkg/a", ttl).await.unwrap();
        coord.set_negative("hub", "|pkg/missing", "up", Duration::from_secs(60)).await.unwrap();

        forget_keys(&coord, "hub", "pkg/a", &["json".to_string()]).await;
        assert!(!coord.is_fresh("hub", "json|pkg/a").await.unwrap());
        assert!(!coord.is_fresh("hub", "|pkg/a").await.unwrap(), "the plain variant goes too");
        assert!(coord.is_fresh("hub", "|pkg/b").await.unwrap());
        forget_keys(&coord, "hub", "pkg/", &[]).await;
        assert!(!coord.is_fresh("hub", "|pkg/b").await.unwrap());
        assert!(!coord.is_negative("hub", "|pkg/missing", "up").await.unwrap());
        assert!(coord.is_fresh("hub", "|lib/a").await.unwrap());
        forget_keys(&coord, "hub", "", &[]).await;
        assert!(!coord.is_fresh("hub", "|lib/a").await.unwrap());
        assert!(coord.is_fresh("other", "|pkg/a").await.unwrap(), "another remote's keys stay");
    }

    #[test]
    fn announcements_round_trip() {
        let a = Announcement { repo: "hub".into(), prefix: "a/b".into() };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Announcement>(&json).unwrap(), a);
    }
}

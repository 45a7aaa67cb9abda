//! Scheduled garbage collection: every `GC_INTERVAL` one replica runs the storage actor's
//! mark-and-sweep with `GC_GRACE` (its runs are `gc_run` events, like those of `POST /api/v2/gc`).
//!
//! Replicas share one store, so sweeping on all of them would only repeat the same work (safe,
//! since deletions are decided under each blob's row lock, but wasted). Every replica ticks on
//! its own clock; a tick first takes the coordinator lock [`GC_LOCK`], and only its holder
//! sweeps. When the sweep ends the lock is released and taken again for what is left of the
//! interval, marking the round as done, so a replica ticking a moment later skips it too. The
//! lock expires by itself, so a replica that dies mid-sweep does not stop GC for good. A round
//! whose lock cannot be taken because the coordinator does not answer is skipped.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use artifactapi_actors::coord::{CoordError, Coordinator};
use artifactapi_actors::storage::{Gc, GcError, StorageActor};

/// The coordinator lock held by the replica whose turn it is.
pub const GC_LOCK: &str = "aa:lock:gc";
/// How long a sweep may hold the lock before another replica may start one.
const SWEEP_LOCK_TTL: Duration = Duration::from_secs(3600);

/// What a tick did.
#[derive(Debug, PartialEq, Eq)]
pub enum Round<T> {
    /// This replica held the lock and ran the job.
    Ran(T),
    /// Another replica runs, or ran, this round.
    Skipped,
}

/// Runs `job` if this replica gets [`GC_LOCK`], then keeps the lock for the rest of `interval`.
pub async fn round<T, F, Fut>(coord: &dyn Coordinator, interval: Duration, job: F) -> Result<Round<T>, CoordError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let Some(token) = coord.try_lock(GC_LOCK, SWEEP_LOCK_TTL).await? else { return Ok(Round::Skipped) };
    let started = Instant::now();
    let out = job().await;
    if let Err(e) = coord.unlock(GC_LOCK, &token).await {
        tracing::warn!(error = %e, "could not release the GC lock; it expires by itself");
        return Ok(Round::Ran(out));
    }
    let rest = interval.saturating_sub(started.elapsed());
    if !rest.is_zero() {
        // Taken by someone else meanwhile is fine: the round is marked either way.
        let _ = coord.try_lock(GC_LOCK, rest).await;
    }
    Ok(Round::Ran(out))
}

/// Starts the schedule on the current arbiter; `interval` zero turns it off.
pub fn start(interval: Duration, grace: Duration, coord: Arc<dyn Coordinator>, storage: Addr<StorageActor>) {
    if interval.is_zero() {
        tracing::info!("GC_INTERVAL=0: scheduled garbage collection is off");
        return;
    }
    actix_rt::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let sweep = || storage.send(Gc { dry_run: false, grace });
            match round(coord.as_ref(), interval, sweep).await {
                Ok(Round::Ran(Ok(Ok(report)))) => tracing::debug!(?report, "scheduled gc done"),
                Ok(Round::Ran(Ok(Err(GcError::Busy)))) => tracing::info!("scheduled gc skipped: a gc is running"),
                Ok(Round::Ran(Ok(Err(e)))) => tracing::warn!(error = %e, "scheduled gc failed"),
                Ok(Round::Ran(Err(e))) => tracing::warn!(error = %e, "storage actor unavailable for scheduled gc"),
                Ok(Round::Skipped) => tracing::debug!("scheduled gc: another replica has this round"),
                Err(e) => tracing::warn!(error = %e, "scheduled gc skipped: coordinator unavailable"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::MemoryCoordinator;

    #[tokio::test]
    async fn one_replica_per_round() {
        let coord = MemoryCoordinator::new();
        let interval = Duration::from_millis(300);
        let held = coord.try_lock(GC_LOCK, Duration::from_secs(60)).await.unwrap().unwrap();
        let mut called = false;
        let r = round(&coord, interval, || async { called = true }).await.unwrap();
        assert_eq!(r, Round::Skipped);
        assert!(!called, "the job must not run while another replica holds the lock");
        coord.unlock(GC_LOCK, &held).await.unwrap();

        assert_eq!(round(&coord, interval, || async { 7 }).await.unwrap(), Round::Ran(7));
        assert_eq!(round(&coord, interval, || async { 8 }).await.unwrap(), Round::Skipped, "the round is marked done");
        tokio::time::sleep(interval + Duration::from_millis(100)).await;
        assert_eq!(round(&coord, interval, || async { 9 }).await.unwrap(), Round::Ran(9), "the next round runs");

        // A job longer than the interval leaves no mark behind.
        tokio::time::sleep(interval + Duration::from_millis(100)).await;
        let slow = round(&coord, Duration::from_millis(10), || tokio::time::sleep(Duration::from_millis(50)));
        assert_eq!(slow.await.unwrap(), Round::Ran(()));
        assert_eq!(round(&coord, interval, || async { 10 }).await.unwrap(), Round::Ran(10));
    }
}

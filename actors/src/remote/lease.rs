//! The cross-replica fetch lease, and the advert that rides along with it.
//!
//! One replica fetches a cold object while the others wait: the one that takes the lock
//! `aa:lock:fetch:{repo}:{object}` fetches, and renews it for as long as its fill runs, so a
//! replica that dies mid-fetch (`kill -9`, a lost host) frees it within one lease and the next
//! replica waiting on it takes over. While it streams a body it may also hold the advert key
//! `aa:fill:{repo}:{object}` ([`super::replica::Advert`]: where other replicas can stream the
//! fill from); the advert is renewed and removed with the lease, so it never outlives its fill
//! by more than one lease either.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::coord::{Coordinator, LockToken};

/// The lease lives this long unless its holder renews it. The holder renews it every
/// [`LEASE_RENEWAL`] for as long as its fill runs (a fill ends: the upstream client's connect
/// and read timeouts bound every stall), so a fill of any length keeps it.
pub(super) const FETCH_LEASE: Duration = Duration::from_secs(6);
const LEASE_RENEWAL: Duration = Duration::from_secs(2);
/// How often a replica waiting on another's fetch looks for the result.
pub(super) const LOCK_POLL: Duration = Duration::from_millis(100);

/// An advert: its key and the exact value (only a value still ours is renewed or removed).
type AdvertSlot = Arc<Mutex<Option<(String, LockToken)>>>;

/// A held fetch lease and the task renewing it (and the advert, once there is one);
/// [`Lease::release`] ends all of it, and a fill dropped on the way (its task cancelled) stops
/// renewing, so both run out.
pub(super) struct Lease {
    coord: Arc<dyn Coordinator>,
    key: String,
    token: LockToken,
    advert: AdvertSlot,
    renewal: tokio::task::JoinHandle<()>,
}

fn slot(advert: &AdvertSlot) -> std::sync::MutexGuard<'_, Option<(String, LockToken)>> {
    advert.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lease {
    /// Starts renewing `token`'s hold on `key` every [`LEASE_RENEWAL`] until released.
    pub(super) fn hold(coord: Arc<dyn Coordinator>, key: String, token: LockToken) -> Lease {
        let advert: AdvertSlot = Arc::default();
        let (held, lock, renewed, c) = (token.clone(), key.clone(), advert.clone(), coord.clone());
        let renewal = actix_rt::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_RENEWAL).await;
                match c.renew(&lock, &held, FETCH_LEASE).await {
                    Ok(true) => {}
                    // Lost (expired while the coordinator was unreachable, then taken): the fill
                    // goes on, and the other replica's fetch is a duplicate download, never a
                    // wrong byte.
                    Ok(false) => {
                        tracing::warn!(lock = %lock, "fetch lease lost; another replica may fetch too");
                        return;
                    }
                    Err(e) => tracing::warn!(lock = %lock, error = %e, "could not renew the fetch lease"),
                }
                let advert = slot(&renewed).clone();
                if let Some((key, value)) = advert {
                    let _ = c.renew(&key, &value, FETCH_LEASE).await;
                }
            }
        });
        Lease { coord, key, token, advert, renewal }
    }

    /// Publishes `value` at `key` for as long as the lease is held.
    pub(super) async fn advertise(&self, key: String, value: String) {
        match self.coord.set(&key, &value, Some(FETCH_LEASE)).await {
            Ok(()) => *slot(&self.advert) = Some((key, LockToken(value))),
            Err(e) => tracing::warn!(key = %key, error = %e, "could not advertise the fill to other replicas"),
        }
    }

    /// Removes the advert and releases the lease (each only if still ours).
    pub(super) async fn release(self) {
        self.renewal.abort();
        let advert = slot(&self.advert).take();
        if let Some((key, value)) = advert {
            let _ = self.coord.unlock(&key, &value).await;
        }
        let _ = self.coord.unlock(&self.key, &self.token).await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

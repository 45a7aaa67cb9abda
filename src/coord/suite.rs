//! The coordinator conformance suite: one set of behaviours, run against both implementations.
//!
//! Every check is an async function taking `&dyn Coordinator`; [`suite!`] turns each into a
//! test for the in-process coordinator and one for Redis (the real server at 127.0.0.1:6379,
//! a fresh namespace per test so parallel tests never share keys). Expiry checks use short
//! TTLs (200-300 ms) and sleep past them with a wide margin.

use std::time::Duration;

use artifactapi_actors::coord::{Coordinator, LockToken, Subscription};
use futures_util::StreamExt;

use super::{MemoryCoordinator, RedisCoordinator};

pub(super) const REDIS_URL: &str = "redis://127.0.0.1:6379";

const SHORT: Duration = Duration::from_millis(200);
const PAST_SHORT: Duration = Duration::from_millis(450);

pub(super) async fn next(sub: &mut Subscription) -> String {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("no message within 5 s")
        .expect("subscription ended")
}

async fn set_get_and_expiry(c: &dyn Coordinator) {
    assert_eq!(c.get("k").await.unwrap(), None);
    c.set("k", "v1", None).await.unwrap();
    assert_eq!(c.get("k").await.unwrap().as_deref(), Some("v1"));
    c.set("k", "v2", None).await.unwrap();
    assert_eq!(c.get("k").await.unwrap().as_deref(), Some("v2"));

    c.set("short", "x", Some(SHORT)).await.unwrap();
    c.set("long", "y", Some(Duration::from_secs(60))).await.unwrap();
    assert_eq!(c.get("short").await.unwrap().as_deref(), Some("x"));
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(c.get("short").await.unwrap(), None, "expired key still visible");
    assert_eq!(c.get("long").await.unwrap().as_deref(), Some("y"));

    // Setting again without a TTL makes the key permanent.
    c.set("again", "1", Some(SHORT)).await.unwrap();
    c.set("again", "2", None).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(c.get("again").await.unwrap().as_deref(), Some("2"));
    // A zero TTL is accepted and the key is gone right away (or within a millisecond).
    c.set("zero", "z", Some(Duration::ZERO)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(c.get("zero").await.unwrap(), None);
}

async fn del(c: &dyn Coordinator) {
    c.set("a", "1", None).await.unwrap();
    c.set("b", "2", None).await.unwrap();
    c.del("a").await.unwrap();
    assert_eq!(c.get("a").await.unwrap(), None);
    assert_eq!(c.get("b").await.unwrap().as_deref(), Some("2"));
    c.del("never-existed").await.unwrap();
}

async fn del_prefix_only_hits_the_prefix(c: &dyn Coordinator) {
    for k in ["p:a", "p:b", "p:c:d", "q:a", "pa", "xp:a"] {
        c.set(k, "1", None).await.unwrap();
    }
    c.set("p:expired", "1", Some(Duration::from_millis(1))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(c.del_prefix("p:").await.unwrap(), 3);
    for k in ["p:a", "p:b", "p:c:d"] {
        assert_eq!(c.get(k).await.unwrap(), None, "{k} survived");
    }
    for k in ["q:a", "pa", "xp:a"] {
        assert!(c.get(k).await.unwrap().is_some(), "{k} was deleted");
    }
    assert_eq!(c.del_prefix("p:").await.unwrap(), 0);

    // Glob characters in the prefix are literal.
    for k in ["g*[1]?:a", "g*[1]?:b", "gx[1]?:c", "g*1:d"] {
        c.set(k, "1", None).await.unwrap();
    }
    assert_eq!(c.del_prefix("g*[1]?:").await.unwrap(), 2);
    assert!(c.get("gx[1]?:c").await.unwrap().is_some());
    assert!(c.get("g*1:d").await.unwrap().is_some());

    // More keys than one SCAN batch.
    for i in 0..1200 {
        c.set(&format!("many:{i}"), "1", None).await.unwrap();
    }
    assert_eq!(c.del_prefix("many:").await.unwrap(), 1200);
    assert_eq!(c.get("many:0").await.unwrap(), None);
}

async fn incr_is_atomic_and_expires(c: &dyn Coordinator) {
    let ttl = Duration::from_millis(300);
    let results = futures_util::future::join_all((0..50).map(|_| c.incr("n", ttl))).await;
    let mut values: Vec<i64> = results.into_iter().map(|r| r.unwrap()).collect();
    values.sort_unstable();
    assert_eq!(values, (1..=50).collect::<Vec<i64>>(), "every increment must see a distinct value");
    assert_eq!(c.get("n").await.unwrap().as_deref(), Some("50"));
    // The expiry counts from creation, later increments do not extend it.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(c.incr("n", ttl).await.unwrap(), 51);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.get("n").await.unwrap(), None, "counter did not expire");
    assert_eq!(c.incr("n", ttl).await.unwrap(), 1);

    c.set("text", "abc", None).await.unwrap();
    assert!(c.incr("text", ttl).await.is_err(), "incrementing a non-integer must fail");
}

async fn locks_are_exclusive_expire_and_need_the_token(c: &dyn Coordinator) {
    let ttl = Duration::from_secs(30);
    let t1 = c.try_lock("l", ttl).await.unwrap().expect("free lock not taken");
    assert_eq!(c.try_lock("l", ttl).await.unwrap(), None, "lock taken twice");

    c.unlock("l", &LockToken("not-the-token".into())).await.unwrap();
    assert_eq!(c.try_lock("l", ttl).await.unwrap(), None, "a wrong token released the lock");

    c.unlock("l", &t1).await.unwrap();
    let t2 = c.try_lock("l", ttl).await.unwrap().expect("released lock not free");
    assert_ne!(t1, t2, "tokens must differ");
    // The former holder's token no longer releases it.
    c.unlock("l", &t1).await.unwrap();
    assert_eq!(c.try_lock("l", ttl).await.unwrap(), None);

    let e1 = c.try_lock("e", SHORT).await.unwrap().expect("free lock not taken");
    tokio::time::sleep(PAST_SHORT).await;
    let e2 = c.try_lock("e", ttl).await.unwrap().expect("expired lock not free");
    // The holder of the expired lock cannot release the new holder's lock.
    c.unlock("e", &e1).await.unwrap();
    assert_eq!(c.try_lock("e", ttl).await.unwrap(), None);
    c.unlock("e", &e2).await.unwrap();
    assert!(c.try_lock("e", ttl).await.unwrap().is_some());

    // Concurrent attempts: exactly one wins.
    let attempts = futures_util::future::join_all((0..20).map(|_| c.try_lock("race", ttl))).await;
    assert_eq!(attempts.into_iter().filter(|r| matches!(r, Ok(Some(_)))).count(), 1);
}

async fn leases_are_renewed_only_by_their_holder(c: &dyn Coordinator) {
    let held = c.try_lock("lease", SHORT).await.unwrap().expect("free lock not taken");
    assert!(!c.renew("lease", &LockToken("not-the-token".into()), Duration::from_secs(30)).await.unwrap());
    assert!(c.renew("lease", &held, Duration::from_secs(30)).await.unwrap(), "the holder renews");
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(c.try_lock("lease", SHORT).await.unwrap(), None, "a renewed lease outlives its first TTL");

    // A lease that ran out is gone: its former holder cannot renew it, nor take it back from a
    // new holder.
    let lapsed = c.try_lock("lapsed", SHORT).await.unwrap().expect("free lock not taken");
    tokio::time::sleep(PAST_SHORT).await;
    assert!(!c.renew("lapsed", &lapsed, Duration::from_secs(30)).await.unwrap(), "an expired lease renewed");
    let next = c.try_lock("lapsed", Duration::from_secs(30)).await.unwrap().expect("expired lease not free");
    assert!(!c.renew("lapsed", &lapsed, Duration::from_secs(30)).await.unwrap(), "a lost lease taken back");
    assert!(c.renew("lapsed", &next, Duration::from_secs(30)).await.unwrap());
}

async fn freshness_and_negative_keys(c: &dyn Coordinator) {
    assert!(!c.is_fresh("r", "|a/1").await.unwrap());
    c.set_fresh("r", "|a/1", Some(SHORT)).await.unwrap();
    c.set_fresh("r", "|a/forever", None).await.unwrap();
    assert!(c.is_fresh("r", "|a/1").await.unwrap());
    assert!(!c.is_fresh("other", "|a/1").await.unwrap(), "freshness leaked across repositories");
    assert!(!c.is_negative("r", "|a/1", "up").await.unwrap(), "fresh is not negative");

    c.set_negative("r", "|missing", "up", SHORT).await.unwrap();
    assert!(c.is_negative("r", "|missing", "up").await.unwrap());
    assert!(!c.is_negative("r", "|missing", "another").await.unwrap(), "another upstream's not-found counted");
    assert!(!c.is_fresh("r", "|missing").await.unwrap(), "negative is not fresh");

    tokio::time::sleep(PAST_SHORT).await;
    assert!(!c.is_fresh("r", "|a/1").await.unwrap());
    assert!(!c.is_negative("r", "|missing", "up").await.unwrap());
    assert!(c.is_fresh("r", "|a/forever").await.unwrap());
}

async fn forget_drops_one_repository_or_prefix(c: &dyn Coordinator) {
    let hour = Some(Duration::from_secs(3600));
    for obj in ["|a/1", "|a/2", "|b/1", "json|a/1"] {
        c.set_fresh("r", obj, hour).await.unwrap();
        c.set_fresh("r2", obj, hour).await.unwrap();
    }
    c.set_negative("r", "|a/3", "up", Duration::from_secs(3600)).await.unwrap();

    assert_eq!(c.forget("r", "|a/").await.unwrap(), 3);
    assert!(!c.is_fresh("r", "|a/1").await.unwrap());
    assert!(!c.is_negative("r", "|a/3", "up").await.unwrap());
    assert!(c.is_fresh("r", "|b/1").await.unwrap());
    assert!(c.is_fresh("r", "json|a/1").await.unwrap());

    assert_eq!(c.forget("r", "").await.unwrap(), 2);
    assert!(!c.is_fresh("r", "|b/1").await.unwrap());
    for obj in ["|a/1", "|a/2", "|b/1", "json|a/1"] {
        assert!(c.is_fresh("r2", obj).await.unwrap(), "forget touched another repository");
    }
}

async fn publish_reaches_every_subscriber_in_order(c: &dyn Coordinator) {
    let mut s1 = c.subscribe("events").await.unwrap();
    let mut s2 = c.subscribe("events").await.unwrap();
    let mut other = c.subscribe("other").await.unwrap();
    for i in 0..20 {
        c.publish("events", &format!("m{i}")).await.unwrap();
    }
    c.publish("other", "o").await.unwrap();
    for i in 0..20 {
        assert_eq!(next(&mut s1).await, format!("m{i}"));
        assert_eq!(next(&mut s2).await, format!("m{i}"));
    }
    assert_eq!(next(&mut other).await, "o", "a channel saw another channel's message");
    // Publishing with nobody listening is fine.
    c.publish("nobody", "x").await.unwrap();
}

async fn a_late_subscriber_misses_earlier_messages(c: &dyn Coordinator) {
    let mut early = c.subscribe("ch").await.unwrap();
    c.publish("ch", "before").await.unwrap();
    let mut late = c.subscribe("ch").await.unwrap();
    c.publish("ch", "after").await.unwrap();
    assert_eq!(next(&mut late).await, "after");
    assert_eq!(next(&mut early).await, "before");
    assert_eq!(next(&mut early).await, "after");
}

async fn publish_many_keeps_order(c: &dyn Coordinator) {
    let mut sub = c.subscribe("batch").await.unwrap();
    let payloads: Vec<String> = (0..50).map(|i| format!("b{i}")).collect();
    c.publish_many("batch", &payloads).await.unwrap();
    c.publish_many("batch", &[]).await.unwrap();
    c.publish("batch", "after").await.unwrap();
    for p in &payloads {
        assert_eq!(&next(&mut sub).await, p);
    }
    assert_eq!(next(&mut sub).await, "after");
}

async fn subscribers_are_counted_per_channel(c: &dyn Coordinator) {
    assert_eq!(c.subscribers("watched").await.unwrap(), 0);
    let a = c.subscribe("watched").await.unwrap();
    assert_eq!(c.subscribers("watched").await.unwrap(), 1);
    let b = c.subscribe("watched").await.unwrap();
    assert_eq!(c.subscribers("watched").await.unwrap(), 2);
    assert_eq!(c.subscribers("unwatched").await.unwrap(), 0, "another channel's subscribers counted");
    drop(a);
    drop(b);
    // Redis sees the connections close a moment after the streams are dropped.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.subscribers("watched").await.unwrap() != 0 {
        assert!(std::time::Instant::now() < deadline, "dropped subscriptions still counted after 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ping_answers(c: &dyn Coordinator) {
    c.ping().await.unwrap();
}

/// A Redis coordinator on the shared server, with a namespace no other test uses.
pub(super) async fn redis() -> RedisCoordinator {
    let ns = format!("aatest-{}", uuid::Uuid::new_v4());
    RedisCoordinator::connect(REDIS_URL, &ns).await.expect("redis at 127.0.0.1:6379")
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::MemoryCoordinator::new()).await;
                }
            )*
        }
        mod redis_backend {
            use artifactapi_actors::coord::Coordinator;
            $(
                #[tokio::test]
                async fn $name() {
                    let c = super::redis().await;
                    super::$name(&c).await;
                    // Leave nothing behind in the shared server.
                    c.del_prefix("").await.unwrap();
                }
            )*
        }
    };
}

suite!(
    set_get_and_expiry,
    del,
    del_prefix_only_hits_the_prefix,
    incr_is_atomic_and_expires,
    locks_are_exclusive_expire_and_need_the_token,
    leases_are_renewed_only_by_their_holder,
    freshness_and_negative_keys,
    forget_drops_one_repository_or_prefix,
    publish_reaches_every_subscriber_in_order,
    a_late_subscriber_misses_earlier_messages,
    publish_many_keeps_order,
    subscribers_are_counted_per_channel,
    ping_answers,
);

#[tokio::test]
async fn memory_sweeps_expired_entries() {
    let c = MemoryCoordinator::new();
    for i in 0..2000 {
        c.set(&format!("neg:{i}"), "1", Some(Duration::from_millis(20))).await.unwrap();
    }
    assert!(c.stored_entries() >= 2000);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Any write past the sweep interval drops what has expired, without anyone reading it.
    c.set("trigger", "1", None).await.unwrap();
    assert_eq!(c.stored_entries(), 1);
}

#[tokio::test]
async fn memory_lagging_subscriber_skips_and_keeps_going() {
    let c = MemoryCoordinator::new();
    let mut slow = c.subscribe("ch").await.unwrap();
    for i in 0..3000 {
        c.publish("ch", &i.to_string()).await.unwrap();
    }
    // The oldest messages were overwritten; the subscriber resumes with the oldest still held.
    let first: u32 = next(&mut slow).await.parse().unwrap();
    assert!(first > 0, "a lagging subscriber should have skipped messages");
    c.publish("ch", "fresh").await.unwrap();
    let mut last = String::new();
    while last != "fresh" {
        last = next(&mut slow).await;
    }
}

#[tokio::test]
async fn redis_namespaces_do_not_collide() {
    let a = redis().await;
    let b = redis().await;
    a.set("shared-name", "a", Some(Duration::from_secs(60))).await.unwrap();
    assert_eq!(b.get("shared-name").await.unwrap(), None);
    b.set("shared-name", "b", Some(Duration::from_secs(60))).await.unwrap();
    assert_eq!(a.del_prefix("").await.unwrap(), 1);
    assert_eq!(b.get("shared-name").await.unwrap().as_deref(), Some("b"));

    let mut sub_b = b.subscribe("ch").await.unwrap();
    assert_eq!(b.subscribers("ch").await.unwrap(), 1);
    assert_eq!(a.subscribers("ch").await.unwrap(), 0, "a subscriber counted across namespaces");
    a.publish("ch", "from-a").await.unwrap();
    b.publish("ch", "from-b").await.unwrap();
    assert_eq!(next(&mut sub_b).await, "from-b", "a message crossed namespaces");
    b.del_prefix("").await.unwrap();
}

#[tokio::test]
async fn redis_connect_refuses_bad_urls_and_dead_servers() {
    assert!(matches!(
        RedisCoordinator::connect("http://127.0.0.1:6379", "x").await,
        Err(artifactapi_actors::coord::CoordError::Protocol(_))
    ));
    // A port nothing listens on: fails fast with Unavailable.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = std::time::Instant::now();
    let r = RedisCoordinator::connect(&format!("redis://127.0.0.1:{port}"), "x").await;
    assert!(matches!(r, Err(artifactapi_actors::coord::CoordError::Unavailable(_))), "{:?}", r.err());
    assert!(start.elapsed() < Duration::from_secs(3));
}

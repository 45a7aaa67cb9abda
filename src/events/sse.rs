//! Server-sent events: the framing, and one client's stream.
//!
//! A client's stream starts with a comment naming the replica and the reconnect delay, then
//! carries one SSE event per bus event it asked for (`id:` the replica's arrival number,
//! `event:` the type, `data:` the JSON), a comment every heartbeat interval so proxies and
//! browsers keep the connection open, and a `lagged` event when the client fell behind and
//! events were skipped for it. Every item is one chunk; the HTTP layer writes each as it comes.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures_util::Stream;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::fanout::{Listener, Next};
use super::filter::Filter;

/// Reconnect delay suggested to `EventSource` clients, in milliseconds.
const RETRY_MS: u64 = 3000;

/// One SSE event. Line breaks in `data` become separate `data:` lines (which the client joins
/// back with `\n`); line breaks in `id` or `name` would end the field early, so they are dropped.
pub fn event(id: Option<u64>, name: &str, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + name.len() + 32);
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    out.push_str("event: ");
    out.extend(name.chars().filter(|c| !matches!(c, '\r' | '\n')));
    out.push('\n');
    for line in data.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// An SSE comment (ignored by clients; keeps the connection alive).
pub fn comment(text: &str) -> Bytes {
    let mut out = String::with_capacity(text.len() + 4);
    for line in text.split(['\r', '\n']) {
        out.push_str(": ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// The `lagged` event: `skipped` events were not delivered to this client.
fn lagged(skipped: u64, replica: &str) -> Bytes {
    let data = serde_json::json!({ "type": "lagged", "skipped": skipped, "replica": replica, "time": Utc::now() });
    event(None, "lagged", &data.to_string())
}

struct Client {
    listener: Listener,
    filter: Filter,
    heartbeat: Interval,
    replica: String,
    greeted: bool,
}

/// The stream one client reads: what `listener` receives, filtered, framed, with heartbeats.
/// It ends only when the fan-out does; the HTTP layer drops it when the client goes away.
pub fn stream(
    listener: Listener,
    filter: Filter,
    heartbeat: Duration,
    replica: String,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let mut tick = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let client = Client { listener, filter, heartbeat: tick, replica, greeted: false };
    futures_util::stream::unfold(client, |mut c| async move {
        if !c.greeted {
            c.greeted = true;
            let hello = format!("retry: {RETRY_MS}\n: artifactapi events from replica {}\n\n", c.replica);
            return Some((Ok(Bytes::from(hello)), c));
        }
        loop {
            let item = tokio::select! {
                next = c.listener.next() => match next {
                    Next::Frame(f) if c.filter.matches(&f.kind, f.repository.as_deref()) => {
                        event(Some(f.id), &f.kind, &f.json)
                    }
                    Next::Frame(_) => continue,
                    Next::Lagged(n) => lagged(n, &c.replica),
                    Next::Closed => return None,
                },
                _ = c.heartbeat.tick() => comment("heartbeat"),
            };
            return Some((Ok(item), c));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_events_and_comments() {
        let cases: &[(Option<u64>, &str, &str, &str)] = &[
            (
                Some(7),
                "fetch_started",
                r#"{"type":"fetch_started"}"#,
                "id: 7\nevent: fetch_started\ndata: {\"type\":\"fetch_started\"}\n\n",
            ),
            (None, "lagged", "{}", "event: lagged\ndata: {}\n\n"),
            (Some(1), "x", "a\nb", "id: 1\nevent: x\ndata: a\ndata: b\n\n"),
            (Some(1), "x", "a\r\nb\rc", "id: 1\nevent: x\ndata: a\ndata: b\ndata: c\n\n"),
            (Some(1), "x", "", "id: 1\nevent: x\ndata: \n\n"),
            (Some(1), "evil\ndata: forged", "{}", "id: 1\nevent: evildata: forged\ndata: {}\n\n"),
        ];
        for (id, name, data, want) in cases {
            assert_eq!(event(*id, name, data), Bytes::from(*want), "{name:?} {data:?}");
        }
        assert_eq!(comment("heartbeat"), Bytes::from(": heartbeat\n\n"));
        assert_eq!(comment("a\nb"), Bytes::from(": a\n: b\n\n"));
    }

    #[test]
    fn lag_notices_carry_the_count() {
        let frame = String::from_utf8(lagged(42, "r1").to_vec()).unwrap();
        let data = frame.strip_prefix("event: lagged\ndata: ").and_then(|s| s.strip_suffix("\n\n")).unwrap();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(
            (v["type"].as_str(), v["skipped"].as_u64(), v["replica"].as_str()),
            (Some("lagged"), Some(42), Some("r1"))
        );
        assert!(v["time"].is_string());
    }
}

//! Redis subscriptions that survive a Redis restart.
//!
//! Each subscription owns a dedicated pub/sub connection (a connection in subscribed mode can do
//! nothing else) and a task that forwards its messages into a bounded channel whose receiver is
//! the [`Subscription`] stream. `subscribe` returns only once Redis has confirmed the
//! `SUBSCRIBE`, so every message published after it returns is delivered.
//!
//! When the connection is lost (Redis restarted, or a periodic `PING` gets no answer, which
//! catches half-open connections), the task dials again and resubscribes in a loop, backing off
//! from 100 ms to 2 s between attempts; the stream itself never ends while its receiver is
//! alive. **Messages published while the subscription was disconnected are lost**: Redis
//! pub/sub keeps no backlog. Consumers that need completeness must resynchronise from durable
//! state (the catalog) after a gap; events are notifications, not a log.
//!
//! A consumer that falls behind by more than [`BUFFER`] messages skips the newest ones rather
//! than making Redis buffer output for this connection without bound. Dropping the stream stops
//! the task and closes the connection.

use std::time::Duration;

use artifactapi_actors::coord::{CoordError, Subscription};
use bb8_redis::redis::{self, aio::PubSubSink, aio::PubSubStream};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::redis::{map_err, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};

/// Messages buffered for a slow consumer before new ones are skipped.
const BUFFER: usize = 1024;
/// How often an idle subscription checks that its connection is alive.
const PING_INTERVAL: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Dials a pub/sub connection and subscribes it to `channel`, within bounded time.
async fn open(client: &redis::Client, channel: &str) -> Result<(PubSubSink, PubSubStream), CoordError> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await.map_err(|e| map_err(&e))?;
        pubsub.subscribe(channel).await.map_err(|e| map_err(&e))?;
        Ok(pubsub.split())
    };
    tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err(CoordError::Unavailable(format!("redis did not confirm SUBSCRIBE {channel} in time"))))
}

/// Subscribes to `channel` (already namespaced) and keeps the subscription alive.
pub(super) async fn subscribe(client: redis::Client, channel: String) -> Result<Subscription, CoordError> {
    let first = open(&client, &channel).await?;
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(pump(client, channel, first, tx));
    Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) }).fuse()))
}

/// Why a connection's forwarding loop ended.
enum End {
    /// The consumer dropped the stream: stop.
    Dropped,
    /// The connection was lost: dial again.
    Lost,
}

/// Forwards messages until the consumer goes away, reconnecting whenever the connection is lost.
async fn pump(client: redis::Client, channel: String, first: (PubSubSink, PubSubStream), tx: mpsc::Sender<String>) {
    let mut conn = Some(first);
    let mut backoff = BACKOFF_MIN;
    loop {
        let (sink, stream) = match conn.take() {
            Some(c) => c,
            None => match open(&client, &channel).await {
                Ok(c) => {
                    tracing::info!(channel, "redis subscription restored");
                    backoff = BACKOFF_MIN;
                    c
                }
                Err(error) => {
                    tracing::debug!(channel, %error, "redis subscription: reconnect failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = tx.closed() => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            },
        };
        match forward(&channel, sink, stream, &tx).await {
            End::Dropped => return,
            End::Lost => {
                tracing::warn!(channel, "redis subscription lost; reconnecting (messages published meanwhile are lost)")
            }
        }
    }
}

/// Forwards the messages of one connection.
async fn forward(channel: &str, mut sink: PubSubSink, mut stream: PubSubStream, tx: &mpsc::Sender<String>) -> End {
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.reset();
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return End::Lost };
                let payload = match msg.get_payload::<String>() {
                    Ok(p) => p,
                    Err(error) => {
                        tracing::warn!(channel, %error, "redis subscription: dropped a non-text message");
                        continue;
                    }
                };
                match tx.try_send(payload) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(channel, "subscriber fell behind; skipped a message");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return End::Dropped,
                }
            }
            _ = ping.tick() => {
                let alive = tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await;
                if !matches!(alive, Ok(Ok(_))) {
                    return End::Lost;
                }
            }
            _ = tx.closed() => return End::Dropped,
        }
    }
}

//! An upstream response body as the fills read it: every chunk within the read timeout, and
//! exactly the announced length.
//!
//! awc's own timeout covers a whole exchange (5 s by default), which no 1 GiB layer meets; a
//! proxy needs the opposite: no limit on the total, a limit on silence. And a body that ends
//! short of its `Content-Length` must be an error, never a silent end, or a truncated file
//! would be cached as if it were whole.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::upstream::{UpstreamBody, UpstreamError};

/// Wraps an awc body: each chunk must arrive within `idle`, and the total must match the
/// announced Content-Length (a short body is an error, never a silent end).
pub(super) fn idle_timeout<S>(body: S, idle: Duration, expected: Option<u64>) -> UpstreamBody
where
    S: Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin + 'static,
{
    let state = (body, 0u64, false);
    Box::pin(futures_util::stream::unfold(state, move |(mut body, received, done)| async move {
        if done {
            return None;
        }
        match tokio::time::timeout(idle, body.next()).await {
            Err(_) => Some((
                Err(UpstreamError::Body { received, message: format!("no data for {idle:?}") }),
                (body, received, true),
            )),
            Ok(Some(Ok(chunk))) => {
                let received = received + chunk.len() as u64;
                if matches!(expected, Some(n) if received > n) {
                    let e = UpstreamError::Body { received, message: "more bytes than Content-Length".into() };
                    return Some((Err(e), (body, received, true)));
                }
                Some((Ok(chunk), (body, received, false)))
            }
            Ok(Some(Err(e))) => {
                Some((Err(UpstreamError::Body { received, message: e.to_string() }), (body, received, true)))
            }
            Ok(None) => match expected {
                Some(n) if received < n => {
                    Some((Err(UpstreamError::Truncated { received, expected: n }), (body, received, true)))
                }
                _ => None,
            },
        }
    }))
}

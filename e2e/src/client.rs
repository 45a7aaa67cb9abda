//! Client-side helpers: a fully read response ([`Fetched`]), a streamed and hashed one
//! ([`Digested`], for large bodies that many clients read at once without holding them in
//! memory), and N concurrent GETs started together.
//!
//! Tests assert on what arrived; transport failures are returned (`try_fetch`) where a test
//! expects them (an upstream reset must reach the client as a failed transfer) and panic
//! elsewhere.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use sha2::{Digest, Sha256};

/// A response read to its end.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Fetched {
    /// A header as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `X-Cache` (HIT, MISS, STALE, REVALIDATED), or "" when absent.
    pub fn x_cache(&self) -> &str {
        self.header("x-cache").unwrap_or("")
    }

    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.describe()))
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body for a failure message: the text when it is short UTF-8, else its size.
    pub fn describe(&self) -> String {
        match std::str::from_utf8(&self.body) {
            Ok(t) if t.len() <= 2000 => t.to_string(),
            Ok(t) => format!("{}... ({} bytes)", t.chars().take(2000).collect::<String>(), t.len()),
            Err(_) => format!("<{} bytes, not UTF-8>", self.body.len()),
        }
    }

    /// The `error` field of a JSON error body.
    pub fn error_message(&self) -> String {
        match self.json().get("error") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => panic!("no \"error\" string in {}", self.describe()),
        }
    }
}

/// Why a request did not produce a complete response.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connecting or reading the headers failed.
    #[error("request failed: {0}")]
    Request(reqwest::Error),
    /// The headers arrived, then the body failed after `received` bytes.
    #[error("body failed after {received} bytes (status {status}): {source}")]
    Body { status: StatusCode, headers: Box<HeaderMap>, received: usize, source: reqwest::Error },
}

/// Asserts a transfer failed as a client can tell: an error status, a body cut short of what
/// was announced, or no answer at all; never a complete-looking success with `full_len` or
/// fewer bytes.
pub fn assert_failed_transfer(result: Result<Fetched, FetchError>, full_len: usize) {
    match result {
        Ok(r) => assert!(
            r.status.is_server_error(),
            "a broken upstream transfer gave a complete-looking {} with {} of {full_len} bytes",
            r.status,
            r.body.len()
        ),
        Err(FetchError::Body { received, .. }) => assert!(received < full_len, "received {received}"),
        Err(FetchError::Request(_)) => {} // closed before the headers: failed too
    }
}

/// Sends the request and reads the whole body; transport errors are returned.
pub async fn try_fetch(req: RequestBuilder) -> Result<Fetched, FetchError> {
    let resp = req.send().await.map_err(FetchError::Request)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut stream = resp.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => body.extend_from_slice(&c),
            Err(source) => {
                return Err(FetchError::Body { status, headers: Box::new(headers), received: body.len(), source })
            }
        }
    }
    Ok(Fetched { status, headers, body: body.into() })
}

/// Sends the request and reads the whole body; panics on a transport error.
pub async fn fetch(req: RequestBuilder) -> Fetched {
    match try_fetch(req).await {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

/// A response whose body was hashed as it streamed in.
#[derive(Debug, Clone)]
pub struct Digested {
    pub status: StatusCode,
    pub x_cache: String,
    pub len: usize,
    pub sha256: String,
}

/// GETs `url`, hashing the body chunk by chunk.
pub async fn get_digested(client: &reqwest::Client, url: &str) -> Result<Digested, String> {
    let resp = client.get(url).send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    let x_cache = resp.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut stream = resp.bytes_stream();
    let mut hasher = Sha256::new();
    let mut len = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("body failed after {len} bytes: {e}"))?;
        len += chunk.len();
        hasher.update(&chunk);
    }
    Ok(Digested { status, x_cache, len, sha256: hex::encode(hasher.finalize()) })
}

/// `n` GETs of `url`, released together by a barrier once all tasks are running; results in
/// task order.
pub async fn concurrent_gets(client: &reqwest::Client, url: &str, n: usize) -> Vec<Result<Digested, String>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, url, barrier) = (client.clone(), url.to_string(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                get_digested(&client, &url).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| Err(format!("task failed: {e}"))));
    }
    out
}

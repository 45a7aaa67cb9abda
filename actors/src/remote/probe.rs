//! Probing an upstream: one GET, timed and measured, that caches nothing.
//!
//! An operator probes a remote (or a remote configuration not saved yet) before trusting it.
//! The probe sends the request a fill would send (same client settings, same credentials) but
//! it is not a fill: it takes no fetch lock, neither asks nor tells the circuit breaker, writes
//! nothing to the catalog or the store, and does not follow redirects: it reports them with
//! their `Location` (which also keeps a redirect from leading a guarded probe to an internal
//! address). The body is read and thrown away as it arrives, counting bytes, for at most the
//! probe's time limit, so memory stays flat and a huge file only costs time.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use super::upstream::Upstream;

/// The response headers a probe reports (absent ones are `null`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProbeHeaders {
    #[serde(rename = "content-type")]
    pub content_type: Option<String>,
    #[serde(rename = "content-length")]
    pub content_length: Option<String>,
    pub etag: Option<String>,
    #[serde(rename = "last-modified")]
    pub last_modified: Option<String>,
    #[serde(rename = "cache-control")]
    pub cache_control: Option<String>,
    pub location: Option<String>,
}

/// What the upstream did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// The response status; `None` when no response arrived.
    pub status: Option<u16>,
    pub headers: ProbeHeaders,
    /// Body bytes received (all of them when `complete`).
    pub size: u64,
    /// Whether the whole body arrived.
    pub complete: bool,
    /// Milliseconds until the response head arrived.
    pub ttfb_ms: Option<f64>,
    /// Milliseconds until the body ended, failed or ran out of time.
    pub total_ms: f64,
    /// Why no response, or no complete body, arrived.
    pub error: Option<String>,
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn headers_of(resp: &awc::ClientResponse) -> ProbeHeaders {
    let h = resp.headers();
    let text = |name: &str| h.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    ProbeHeaders {
        content_type: text("content-type"),
        content_length: text("content-length"),
        etag: text("etag"),
        last_modified: text("last-modified"),
        cache_control: text("cache-control"),
        location: text("location"),
    }
}

/// GETs `url` once with `upstream`, reading and discarding the body, all within `limit`.
pub async fn probe(upstream: &Upstream, url: &str, limit: Duration) -> ProbeResult {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + limit);
    let failed = |error: String| ProbeResult {
        status: None,
        headers: ProbeHeaders::default(),
        size: 0,
        complete: false,
        ttfb_ms: None,
        total_ms: millis(started.elapsed()),
        error: Some(error),
    };
    let resp = match tokio::time::timeout_at(deadline, upstream.get_once(url)).await {
        Err(_) => return failed(format!("no response within {}s", limit.as_secs_f64())),
        Ok(Err(e)) => return failed(e.to_string()),
        Ok(Ok(resp)) => resp,
    };
    let ttfb = started.elapsed();
    let status = resp.status().as_u16();
    let headers = headers_of(&resp);
    let mut body = upstream.body_of(resp);
    let mut size = 0u64;
    let error = loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => break Some(format!("body not read completely within {}s", limit.as_secs_f64())),
            Ok(None) => break None,
            Ok(Some(Ok(chunk))) => size += chunk.len() as u64,
            Ok(Some(Err(e))) => break Some(e.to_string()),
        }
    };
    ProbeResult {
        status: Some(status),
        headers,
        size,
        complete: error.is_none(),
        ttfb_ms: Some(millis(ttfb)),
        total_ms: millis(started.elapsed()),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::netguard::ReachPolicy;
    use crate::remote::tls::TrustStore;
    use crate::remote::upstream::UpstreamSettings;

    fn settings(reach: ReachPolicy) -> UpstreamSettings {
        let trust = TrustStore::with_roots(rustls::RootCertStore::empty()).unwrap();
        UpstreamSettings {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            credentials: None,
            realms: Default::default(),
            reach,
            tls: trust.client_config(&Default::default()),
            rate_limits: None,
        }
    }

    /// The guarded client refuses at connect time a name that resolves to loopback, even when
    /// something listens there (the address is checked where it is used, not only before).
    #[actix_rt::test]
    async fn the_guarded_client_refuses_private_names_when_it_connects() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://localhost:{port}/x");
        let guarded = probe(&Upstream::new(settings(ReachPolicy::public_only())), &url, Duration::from_secs(5)).await;
        assert_eq!(guarded.status, None, "{guarded:?}");
        let error = guarded.error.unwrap_or_default();
        assert!(error.contains("private, loopback or link-local"), "{error}");
        let literal = format!("http://127.0.0.1:{port}/x");
        let guarded =
            probe(&Upstream::new(settings(ReachPolicy::public_only())), &literal, Duration::from_secs(5)).await;
        assert!(guarded.error.unwrap_or_default().starts_with("refused to connect: 127.0.0.1 resolves to"));
    }
}

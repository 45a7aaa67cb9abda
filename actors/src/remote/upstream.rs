//! The upstream HTTP client of one remote.
//!
//! awc, configured the way a caching proxy needs it: no decompression (cached bytes are the
//! upstream's bytes, so digests stay stable), `Accept-Encoding: identity`, an explicit connect
//! timeout, a timeout for the response head, and an idle timeout between body chunks instead of
//! awc's default 5 s for the whole exchange (a 1 GiB layer takes longer than that). Basic-auth
//! credentials go only to the configured base URL's host: upstream URLs are built from the base
//! URL by the service crate, which never lets a path escape it.
//!
//! `awc::Client` is not `Send`: one is created per [`super::RemoteActor`], inside the actor.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// Upstream failures, as the breaker and the client see them.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamError {
    #[error("cannot connect to upstream: {0}")]
    Connect(String),
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("upstream answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("upstream body failed after {received} bytes: {message}")]
    Body { received: u64, message: String },
    #[error("upstream body ended after {received} of {expected} bytes")]
    Truncated { received: u64, expected: u64 },
    #[error("invalid upstream request: {0}")]
    Request(String),
}

impl UpstreamError {
    /// Whether this failure says the upstream is unhealthy (counts towards the breaker).
    pub fn is_upstream_fault(&self) -> bool {
        match self {
            UpstreamError::Status { status, .. } => *status >= 500,
            UpstreamError::Request(_) => false,
            _ => true,
        }
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// `(username, password)` for basic auth.
    pub credentials: Option<(String, String)>,
}

/// The parts of an upstream response head artifactapi keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamHead {
    pub status: u16,
    pub content_length: Option<u64>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Conditional request headers for revalidation.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

pub type UpstreamBody = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, UpstreamError>>>>;

/// One remote's upstream client.
pub struct Upstream {
    client: awc::Client,
    settings: UpstreamSettings,
}

impl Upstream {
    pub fn new(settings: UpstreamSettings) -> Self {
        let connector =
            awc::Connector::new().timeout(settings.connect_timeout).conn_keep_alive(Duration::from_secs(30)).limit(256);
        let client = awc::Client::builder()
            .connector(connector)
            .disable_timeout()
            .add_default_header(("User-Agent", concat!("artifactapi/", env!("CARGO_PKG_VERSION"))))
            .finish();
        Upstream { client, settings }
    }

    /// A client that connects only to public addresses: host names resolving to a private,
    /// loopback or link-local address are refused (see [`super::netguard`]). IP literals are
    /// not resolved, so callers check those themselves ([`super::netguard::private_address`]).
    pub fn guarded(settings: UpstreamSettings) -> Self {
        let resolver = actix_tls::connect::Resolver::custom(super::netguard::GuardedResolver);
        let tcp = actix_tls::connect::Connector::new(resolver).service();
        let connector = awc::Connector::new()
            .connector(tcp)
            .timeout(settings.connect_timeout)
            .conn_keep_alive(Duration::from_secs(30))
            .limit(16);
        let client = awc::Client::builder()
            .connector(connector)
            .disable_timeout()
            .add_default_header(("User-Agent", concat!("artifactapi/", env!("CARGO_PKG_VERSION"))))
            .finish();
        Upstream { client, settings }
    }

    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// Sends a GET and waits for the response head (bounded by connect + read timeouts),
    /// following up to [`MAX_REDIRECTS`] redirects (release downloads often redirect to a CDN).
    /// Credentials are sent only to the host of the original URL. Returns the head and the body
    /// as a stream with an idle timeout per chunk.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(String, String)],
        validators: Option<&Validators>,
    ) -> Result<(UpstreamHead, UpstreamBody), UpstreamError> {
        let origin = url::Url::parse(url).map_err(|e| UpstreamError::Request(e.to_string()))?;
        let mut current = origin.clone();
        for _ in 0..=MAX_REDIRECTS {
            let same_origin = current.origin() == origin.origin();
            let resp = self.send(current.as_str(), headers, validators, same_origin).await?;
            let status = resp.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = resp.headers().get("location").and_then(|v| v.to_str().ok());
                let Some(next) = location.and_then(|l| current.join(l).ok()) else {
                    return Err(UpstreamError::Status { status, message: "redirect without a usable Location".into() });
                };
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(UpstreamError::Request(format!("redirect to unsupported scheme {}", next.scheme())));
                }
                current = next;
                continue;
            }
            return Ok(self.split_response(resp));
        }
        Err(UpstreamError::Status { status: 310, message: format!("more than {MAX_REDIRECTS} redirects") })
    }

    /// One GET, redirects not followed, credentials sent; the raw response once its head has
    /// arrived (bounded by the connect and read timeouts).
    pub(crate) async fn get_once(&self, url: &str) -> Result<awc::ClientResponse, UpstreamError> {
        self.send(url, &[], None, true).await
    }

    /// The body of a response from [`Upstream::get_once`], with the same idle timeout and
    /// length check as a fill's.
    pub(crate) fn body_of(&self, resp: awc::ClientResponse) -> UpstreamBody {
        self.split_response(resp).1
    }

    async fn send(
        &self,
        url: &str,
        headers: &[(String, String)],
        validators: Option<&Validators>,
        with_credentials: bool,
    ) -> Result<awc::ClientResponse, UpstreamError> {
        let mut req = self.client.get(url).no_decompress().insert_header(("Accept-Encoding", "identity"));
        for (name, value) in headers {
            req = req.insert_header((name.as_str(), value.as_str()));
        }
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                req = req.insert_header(("If-None-Match", etag.as_str()));
            }
            if let Some(lm) = &v.last_modified {
                req = req.insert_header(("If-Modified-Since", lm.as_str()));
            }
        }
        if let (Some((user, pass)), true) = (&self.settings.credentials, with_credentials) {
            req = req.basic_auth(user, pass);
        }
        let limit = self.settings.connect_timeout + self.settings.read_timeout;
        match tokio::time::timeout(limit, req.send()).await {
            Err(_) => Err(UpstreamError::Timeout(limit)),
            Ok(Err(e)) => Err(classify_send_error(e, limit)),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    fn split_response(&self, resp: awc::ClientResponse) -> (UpstreamHead, UpstreamBody) {
        let h = resp.headers();
        let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let head = UpstreamHead {
            status: resp.status().as_u16(),
            content_length: text("content-length").and_then(|v| v.trim().parse().ok()),
            content_type: text("content-type"),
            etag: text("etag"),
            last_modified: text("last-modified"),
        };
        let body = idle_timeout(resp, self.settings.read_timeout, head.content_length);
        (head, body)
    }
}

fn classify_send_error(e: awc::error::SendRequestError, limit: Duration) -> UpstreamError {
    use awc::error::SendRequestError as E;
    match e {
        E::Timeout => UpstreamError::Timeout(limit),
        E::Url(e) => UpstreamError::Request(e.to_string()),
        other => UpstreamError::Connect(other.to_string()),
    }
}

/// Wraps an awc body: each chunk must arrive within `idle`, and the total must match the
/// announced Content-Length (a short body is an error, never a silent end).
fn idle_timeout<S>(body: S, idle: Duration, expected: Option<u64>) -> UpstreamBody
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

//! The upstream HTTP client of one remote.
//!
//! awc, configured the way a caching proxy needs it: no decompression (cached bytes are the
//! upstream's bytes, so digests stay stable), `Accept-Encoding: identity`, an explicit connect
//! timeout, a timeout for the response head, and an idle timeout between body chunks instead of
//! awc's default 5 s for the whole exchange (a 1 GiB layer takes longer than that). Basic-auth
//! credentials go only to the configured base URL's host: upstream URLs are built from the base
//! URL by the service crate, which never lets a path escape it.
//!
//! A 401 with a Bearer challenge (container registries) is answered once per request: a token
//! from the challenge's realm ([`super::auth`]), cached by the request's scope, then the same
//! request again with the token. Tokens, like credentials, go only to the base URL's origin.
//!
//! Every connection is made under the remote's [`ReachPolicy`] (hosts other than the base URL's
//! only on public addresses, see [`super::netguard`]) with the remote's TLS trust (a shared
//! rustls configuration, see [`super::tls`]). A refused host and an untrusted certificate come
//! back as their own errors, named so that the operator knows which setting to change.
//!
//! `awc::Client` is not `Send`: one is created per [`super::RemoteActor`], inside the actor.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use awc::http::Method;
use bytes::Bytes;
use futures_util::Stream;

use super::auth::{self, Challenge, RealmPolicy, TokenCache};
use super::netguard::{GuardedResolver, ReachPolicy, Refused};

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
    #[error("upstream token service: {0}")]
    Auth(String),
    /// The TLS handshake failed; `certificate` when the upstream's certificate is not trusted.
    #[error("{message}")]
    Tls { message: String, certificate: bool },
    /// The reach policy refused the host: nothing was sent.
    #[error("refused to connect: {0}")]
    Refused(String),
}

impl UpstreamError {
    /// Whether this failure says the upstream is unhealthy (counts towards the breaker).
    pub fn is_upstream_fault(&self) -> bool {
        match self {
            UpstreamError::Status { status, .. } => *status >= 500,
            // Configuration refusals: the upstream is not at fault, and the operator sees the
            // reason on every request instead of an open breaker.
            UpstreamError::Request(_) | UpstreamError::Auth(_) | UpstreamError::Refused(_) => false,
            UpstreamError::Tls { certificate, .. } => !certificate,
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
    /// Which token services (Bearer realms) may receive the credentials.
    pub realms: RealmPolicy,
    /// Which hosts may be connected to.
    pub reach: ReachPolicy,
    /// The TLS trust (shared between the remotes with the same setting).
    pub tls: Arc<rustls::ClientConfig>,
    /// Where the quotas the upstream announces are recorded (none for one-off probes).
    pub rate_limits: Option<super::ratelimit::RateLimitSink>,
}

/// The parts of an upstream response head artifactapi keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct UpstreamHead {
    pub status: u16,
    pub content_length: Option<u64>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `Docker-Content-Digest` (registries name the content's digest there).
    pub digest: Option<String>,
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
    tokens: TokenCache,
}

impl Upstream {
    pub fn new(settings: UpstreamSettings) -> Self {
        let resolver = actix_tls::connect::Resolver::custom(GuardedResolver(Rc::new(settings.reach.clone())));
        let tcp = actix_tls::connect::Connector::new(resolver).service();
        let connector = awc::Connector::new()
            .connector(tcp)
            .rustls_0_23(settings.tls.clone())
            .timeout(settings.connect_timeout)
            .conn_keep_alive(Duration::from_secs(30))
            .limit(256);
        // Redirects are followed by [`Upstream::request`], hop by hop, so that every hop passes
        // the reach policy and credentials stay with the base URL's origin.
        let client = awc::Client::builder()
            .connector(connector)
            .disable_redirects()
            .disable_timeout()
            .add_default_header(("User-Agent", concat!("artifactapi/", env!("CARGO_PKG_VERSION"))))
            .finish();
        Upstream { client, settings, tokens: TokenCache::default() }
    }

    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// Sends a GET and waits for the response head (bounded by connect + read timeouts),
    /// following up to [`MAX_REDIRECTS`] redirects (release downloads often redirect to a CDN).
    /// Credentials and tokens are sent only to the origin of the remote's base URL; `scope` names
    /// the token scope of the request, if the upstream uses token auth. Returns the head and the
    /// body as a stream with an idle timeout per chunk.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(String, String)],
        validators: Option<&Validators>,
        scope: Option<&str>,
    ) -> Result<(UpstreamHead, UpstreamBody), UpstreamError> {
        self.request(Method::GET, url, headers, validators, scope).await
    }

    /// Sends a HEAD, as [`Upstream::get`] does a GET; only the head comes back.
    pub async fn head(
        &self,
        url: &str,
        headers: &[(String, String)],
        scope: Option<&str>,
    ) -> Result<UpstreamHead, UpstreamError> {
        self.request(Method::HEAD, url, headers, None, scope).await.map(|(head, _)| head)
    }

    async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        validators: Option<&Validators>,
        scope: Option<&str>,
    ) -> Result<(UpstreamHead, UpstreamBody), UpstreamError> {
        let first = url::Url::parse(url).map_err(|e| UpstreamError::Request(e.to_string()))?;
        // Credentials belong to the remote's base URL: a file an index places on another host
        // (a chart on a release page, a wheel on a files host) is fetched without them.
        let origin = self.settings.realms.base.as_ref().map_or_else(|| first.origin(), url::Url::origin);
        let mut current = first;
        for _ in 0..=MAX_REDIRECTS {
            let same_origin = current.origin() == origin;
            let resp = self.send_authorized(&method, current.as_str(), headers, validators, same_origin, scope).await?;
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
            return Ok(self.split_response(resp, method == Method::HEAD));
        }
        Err(UpstreamError::Status { status: 310, message: format!("more than {MAX_REDIRECTS} redirects") })
    }

    /// One GET, redirects not followed, credentials sent; the raw response once its head has
    /// arrived (bounded by the connect and read timeouts).
    pub(crate) async fn get_once(&self, url: &str) -> Result<awc::ClientResponse, UpstreamError> {
        self.send(&Method::GET, url, &[], None, true, None).await
    }

    /// The body of a response from [`Upstream::get_once`], with the same idle timeout and
    /// length check as a fill's.
    pub(crate) fn body_of(&self, resp: awc::ClientResponse) -> UpstreamBody {
        self.split_response(resp, false).1
    }

    /// One request; on a 401 with a Bearer challenge from the upstream's own origin, one more
    /// with a token (cached, or fetched from the challenge's realm).
    async fn send_authorized(
        &self,
        method: &Method,
        url: &str,
        headers: &[(String, String)],
        validators: Option<&Validators>,
        same_origin: bool,
        scope: Option<&str>,
    ) -> Result<awc::ClientResponse, UpstreamError> {
        let sent = if same_origin { scope.and_then(|s| self.tokens.get(s, Instant::now())) } else { None };
        let resp = self.send(method, url, headers, validators, same_origin, sent.as_deref()).await?;
        if resp.status().as_u16() != 401 || !same_origin {
            return Ok(resp);
        }
        let challenge =
            resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).and_then(auth::parse_challenge);
        let Some(challenge) = challenge else { return Ok(resp) };
        drop(resp);
        let key = scope.or(challenge.scope.as_deref()).unwrap_or("").to_string();
        // A token another fill cached meanwhile, unless it is the one just refused.
        let token = match self.tokens.get(&key, Instant::now()).filter(|t| Some(t) != sent.as_ref()) {
            Some(token) => token,
            None => {
                self.tokens.drop_scope(&key);
                let token = self.fetch_token(&challenge, scope).await?;
                let value = token.value.clone();
                self.tokens.put(&key, token);
                value
            }
        };
        self.send(method, url, headers, validators, same_origin, Some(&token)).await
    }

    /// Asks the challenge's token service for a token, with the remote's credentials only when
    /// the realm may have them ([`RealmPolicy`]).
    async fn fetch_token(&self, challenge: &Challenge, scope: Option<&str>) -> Result<auth::Token, UpstreamError> {
        let mut url = challenge.realm.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            if let Some(scope) = challenge.scope.as_deref().or(scope) {
                query.append_pair("scope", scope);
            }
        }
        self.check_literal(&url)?;
        let mut req = self.client.get(url.as_str()).insert_header(("Accept", "application/json"));
        if let (Some((user, pass)), true) = (&self.settings.credentials, self.settings.realms.allows(&challenge.realm))
        {
            req = req.basic_auth(user, pass);
        }
        let host = challenge.realm.host_str().unwrap_or("").to_string();
        let limit = self.settings.connect_timeout + self.settings.read_timeout;
        let exchange = async {
            let mut resp = req.send().await.map_err(|e| self.classify_send_error(e, &url, limit))?;
            let status = resp.status().as_u16();
            if status != 200 {
                let message = format!("token service {host} refused the token request");
                return Err(UpstreamError::Status { status, message });
            }
            let body = resp.body().limit(auth::MAX_TOKEN_RESPONSE).await;
            body.map_err(|e| UpstreamError::Auth(format!("{host}: {e}")))
        };
        let body = tokio::time::timeout(limit, exchange).await.map_err(|_| UpstreamError::Timeout(limit))??;
        auth::parse_token(&body, Instant::now()).map_err(|m| UpstreamError::Auth(format!("{host}: {m}")))
    }

    async fn send(
        &self,
        method: &Method,
        url: &str,
        headers: &[(String, String)],
        validators: Option<&Validators>,
        with_credentials: bool,
        token: Option<&str>,
    ) -> Result<awc::ClientResponse, UpstreamError> {
        let target = url::Url::parse(url).map_err(|e| UpstreamError::Request(e.to_string()))?;
        self.check_literal(&target)?;
        let mut req =
            self.client.request(method.clone(), url).no_decompress().insert_header(("Accept-Encoding", "identity"));
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
        match (token, &self.settings.credentials, with_credentials) {
            (Some(token), _, true) => req = req.bearer_auth(token),
            (None, Some((user, pass)), true) => req = req.basic_auth(user, pass),
            _ => {}
        }
        let limit = self.settings.connect_timeout + self.settings.read_timeout;
        match tokio::time::timeout(limit, req.send()).await {
            Err(_) => Err(UpstreamError::Timeout(limit)),
            Ok(Err(e)) => Err(self.classify_send_error(e, &target, limit)),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    fn split_response(&self, resp: awc::ClientResponse, head_only: bool) -> (UpstreamHead, UpstreamBody) {
        let h = resp.headers();
        let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        if let Some(sink) = &self.settings.rate_limits {
            let value = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
            if let Some(limit) =
                super::ratelimit::RateLimit::parse(value("ratelimit-limit"), value("ratelimit-remaining"))
            {
                sink.limits.record(&sink.remote, limit);
            }
        }
        let head = UpstreamHead {
            status: resp.status().as_u16(),
            content_length: text("content-length").and_then(|v| v.trim().parse().ok()),
            content_type: text("content-type"),
            etag: text("etag"),
            last_modified: text("last-modified"),
            digest: text("docker-content-digest"),
        };
        if head_only {
            return (head, Box::pin(futures_util::stream::empty()));
        }
        let body = super::body::idle_timeout(resp, self.settings.read_timeout, head.content_length);
        (head, body)
    }

    /// An IP-literal host must pass the reach policy before anything is sent (awc connects to
    /// literals without asking the resolver).
    fn check_literal(&self, url: &url::Url) -> Result<(), UpstreamError> {
        self.settings.reach.check_literal(url).map_err(|r| UpstreamError::Refused(r.to_string()))
    }

    fn classify_send_error(&self, e: awc::error::SendRequestError, url: &url::Url, limit: Duration) -> UpstreamError {
        use awc::error::{ConnectError, SendRequestError as E};
        match e {
            E::Timeout => UpstreamError::Timeout(limit),
            E::Url(e) => UpstreamError::Request(e.to_string()),
            E::Connect(ConnectError::Resolver(e)) if e.downcast_ref::<Refused>().is_some() => {
                UpstreamError::Refused(e.to_string())
            }
            E::Connect(ConnectError::Io(io)) => match super::tls::tls_failure(&io) {
                Some(tls) => self.tls_error(tls, url),
                None => UpstreamError::Connect(io.to_string()),
            },
            other => UpstreamError::Connect(other.to_string()),
        }
    }

    /// A TLS failure, naming the host, the remote and, for an untrusted certificate, the
    /// settings that decide trust.
    fn tls_error(&self, e: &rustls::Error, url: &url::Url) -> UpstreamError {
        let host = match (url.host_str(), url.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (h, _) => h.unwrap_or("?").to_string(),
        };
        let remote = self.settings.reach.remote.as_deref().map(|r| format!(" of remote {r}")).unwrap_or_default();
        let certificate = matches!(e, rustls::Error::InvalidCertificate(_));
        let hint = if certificate {
            " (trust its CA with the remote's tls_ca, UPSTREAM_CA_FILE or the operating system's store)"
        } else {
            ""
        };
        UpstreamError::Tls { message: format!("TLS with upstream {host}{remote} failed: {e}{hint}"), certificate }
    }
}

//! A front for a real registry: forwards every request to it and records what it saw.
//!
//! Tests point a remote at the front instead of the registry itself, so they can count what the
//! upstream really received (each blob GET once, a HEAD instead of a GET on revalidation, no
//! request at all for a fresh tag). It also plays the parts a registry plays on the internet:
//!
//! - [`FrontAuth::Bearer`]: every registry request needs `Authorization: Bearer <token>`;
//!   without one the answer is 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`
//!   naming the front's token endpoint, which listens on another host (127.0.0.2), as Docker
//!   Hub's `auth.docker.io` is another host than `registry-1.docker.io`. The token endpoint
//!   records whether basic credentials reached it and, with `credentials`, refuses anyone else.
//! - [`Front::corrupt`]: the body of one blob is served with its last byte changed.
//! - [`Front::down`] / [`Front::up`]: connections refused, then accepted again on the same port.
//!
//! The registry behind it stays open and unaware: the front strips the Authorization header.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// How the front authenticates registry requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontAuth {
    /// No auth: the registry's own answers.
    None,
    /// Bearer tokens from the front's token endpoint, valid `expires_in` seconds; with
    /// `credentials`, tokens only for requests carrying them as basic auth.
    Bearer { credentials: Option<(String, String)>, expires_in: u64 },
}

/// One registry request as the front received it.
#[derive(Debug, Clone)]
pub struct FrontSeen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub accept: Option<String>,
}

/// One request to the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub query: String,
    /// The basic credentials it carried, decoded.
    pub basic: Option<(String, String)>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: Vec<FrontSeen>,
    tokens_issued: Vec<String>,
    token_requests: Vec<TokenRequest>,
    corrupt: Option<String>,
}

#[derive(Debug)]
struct State {
    upstream: String,
    auth: FrontAuth,
    realm: Mutex<String>,
    inner: Mutex<Inner>,
    client: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running front; stops on drop.
#[derive(Debug)]
pub struct Front {
    state: Arc<State>,
    port: u16,
    token_addr: SocketAddr,
    acceptors: Mutex<Vec<JoinHandle<()>>>,
}

impl Front {
    /// Starts a front forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str, auth: FrontAuth) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind front");
        let port = listener.local_addr().expect("front address").port();
        let tokens = TcpListener::bind("127.0.0.2:0").await.expect("bind token endpoint on 127.0.0.2");
        let token_addr = tokens.local_addr().expect("token address");
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client");
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            auth,
            realm: Mutex::new(format!("http://{token_addr}/token")),
            inner: Mutex::new(Inner::default()),
            client,
        });
        let acceptors =
            vec![tokio::spawn(accept(listener, state.clone())), tokio::spawn(accept(tokens, state.clone()))];
        Front { state, port, token_addr, acceptors: Mutex::new(acceptors) }
    }

    /// `http://127.0.0.1:PORT`, the base URL for a remote.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The token endpoint's host (127.0.0.2), for `token_realm_hosts`.
    pub fn realm_host(&self) -> String {
        self.token_addr.ip().to_string()
    }

    /// Every registry request so far.
    pub fn seen(&self) -> Vec<FrontSeen> {
        lock(&self.state.inner).seen.clone()
    }

    /// How many registry requests with `method` had a path containing `fragment`.
    pub fn count(&self, method: &str, fragment: &str) -> usize {
        lock(&self.state.inner).seen.iter().filter(|s| s.method == method && s.path.contains(fragment)).count()
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        lock(&self.state.inner).token_requests.clone()
    }

    /// Forgets the recorded requests (tokens stay valid).
    pub fn clear(&self) {
        let mut inner = lock(&self.state.inner);
        inner.seen.clear();
        inner.token_requests.clear();
    }

    /// Serves the blob or manifest `digest` (`sha256:...`) with its last byte changed; `None`
    /// stops that.
    pub fn corrupt(&self, digest: Option<&str>) {
        lock(&self.state.inner).corrupt = digest.map(str::to_string);
    }

    /// Stops accepting: connections to both addresses are refused.
    pub async fn down(&self) {
        let handles: Vec<_> = lock(&self.acceptors).drain(..).collect();
        for h in handles {
            h.abort();
            let _ = h.await;
        }
    }

    /// Accepts again on the same addresses.
    pub async fn up(&self) {
        let main = TcpListener::bind(("127.0.0.1", self.port)).await.expect("rebind front");
        let tokens = TcpListener::bind(self.token_addr).await.expect("rebind token endpoint");
        let mut acceptors = lock(&self.acceptors);
        acceptors.push(tokio::spawn(accept(main, self.state.clone())));
        acceptors.push(tokio::spawn(accept(tokens, self.state.clone())));
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        for h in lock(&self.acceptors).drain(..) {
            h.abort();
        }
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    // Connections end with the acceptor (aborting it drops this future and the handles abort).
    struct AbortAll<'a>(&'a mut Vec<JoinHandle<()>>);
    impl Drop for AbortAll<'_> {
        fn drop(&mut self) {
            for c in self.0.drain(..) {
                c.abort();
            }
        }
    }
    let guard = AbortAll(&mut conns);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let st = state.clone();
        guard.0.retain(|c| !c.is_finished());
        guard.0.push(tokio::spawn(async move {
            let svc = service_fn(move |req| handle(st.clone(), req));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        }));
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.uri().path() == "/token" {
        return Ok(token(&state, &req));
    }
    let header = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let seen = FrontSeen {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(str::to_string),
        authorization: header(header::AUTHORIZATION),
        accept: header(header::ACCEPT),
    };
    lock(&state.inner).seen.push(seen.clone());
    if let FrontAuth::Bearer { .. } = &state.auth {
        let token = seen.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer "));
        let valid = token.is_some_and(|t| lock(&state.inner).tokens_issued.iter().any(|i| i == t));
        if !valid {
            return Ok(challenge(&state, &seen.path));
        }
    }
    Ok(forward(&state, req).await.unwrap_or_else(|e| simple(502, &format!("front: {e}"))))
}

/// 401 with a Bearer challenge for the image the path names.
fn challenge(state: &State, path: &str) -> Response<Body> {
    let name = path.strip_prefix("/v2/").and_then(|rest| {
        ["/manifests/", "/blobs/", "/tags/", "/referrers/"].iter().find_map(|op| rest.find(op).map(|i| &rest[..i]))
    });
    let realm = lock(&state.realm).clone();
    let mut value = format!("Bearer realm=\"{realm}\",service=\"e2e-registry\"");
    if let Some(name) = name {
        value.push_str(&format!(",scope=\"repository:{name}:pull\""));
    }
    let mut resp = simple(401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#);
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_str(&value).expect("header"));
    resp
}

/// The token endpoint.
fn token(state: &State, req: &Request<Incoming>) -> Response<Body> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())));
    let query = req.uri().query().unwrap_or("").to_string();
    let mut inner = lock(&state.inner);
    inner.token_requests.push(TokenRequest { query, basic: basic.clone() });
    let FrontAuth::Bearer { credentials, expires_in } = &state.auth else {
        return simple(404, "no token service here");
    };
    if credentials.is_some() && basic != *credentials {
        return simple(401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"wrong or missing credentials"}]}"#);
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    inner.tokens_issued.push(token.clone());
    let body = serde_json::json!({ "token": token, "access_token": token, "expires_in": expires_in });
    simple(200, &body.to_string())
}

async fn forward(state: &State, req: Request<Incoming>) -> Result<Response<Body>, BoxError> {
    let (parts, body) = req.into_parts();
    let path_q = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())?;
    let mut out = state.client.request(method.clone(), format!("{}{path_q}", state.upstream));
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "authorization" | "connection" | "content-length" | "transfer-encoding") {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let body = body.collect().await?.to_bytes();
    if !body.is_empty() {
        out = out.body(body);
    }
    let resp = out.send().await?;
    let mut builder = Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        if !matches!(name.as_str(), "connection" | "transfer-encoding") {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    let corrupt = lock(&state.inner).corrupt.clone();
    let is_corrupt =
        method == reqwest::Method::GET && corrupt.is_some_and(|d| parts.uri.path().ends_with(&format!("/{d}")));
    let body: Body = if is_corrupt {
        let mut bytes = resp.bytes().await?.to_vec();
        if let Some(last) = bytes.last_mut() {
            *last ^= 0xff;
        }
        Full::new(Bytes::from(bytes)).map_err(|e| match e {}).boxed()
    } else {
        let stream = resp.bytes_stream().map_ok(Frame::data).map_err(|e| -> BoxError { Box::new(e) });
        StreamBody::new(stream).boxed()
    };
    Ok(builder.body(body)?)
}

fn simple(status: u16, body: &str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())).map_err(|e| match e {}).boxed());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

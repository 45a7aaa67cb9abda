//! A counting reverse proxy: what a real upstream server (pypiserver, verdaccio,
//! docker-registry) was asked, per path.
//!
//! Real upstreams do not expose a reliable per-path request count, and "each immutable file
//! was fetched upstream exactly once" is the property a caching proxy lives by. This proxy sits
//! between artifactapi and the real server: it forwards every request unchanged (method, path,
//! query, headers, body) and the answer unchanged (status, headers, streamed body), records the
//! method and path, and can be taken down (listener and open connections closed) and brought
//! back on the same port to play an upstream outage without stopping the real server (whose
//! state would be lost).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

#[derive(Default)]
struct Seen {
    /// `"GET /path"` → count.
    counts: HashMap<String, usize>,
}

/// A running counting proxy in front of `target`; stops on drop.
pub struct CountingProxy {
    port: u16,
    target: String,
    seen: Arc<Mutex<Seen>>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
    /// Open connections, so [`CountingProxy::down`] can close them.
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl CountingProxy {
    /// Starts a proxy to `target` (`http://127.0.0.1:PORT`, no trailing slash needed).
    pub async fn start(target: &str) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind counting proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let p = CountingProxy {
            port,
            target: target.trim_end_matches('/').to_string(),
            seen: Arc::default(),
            acceptor: Mutex::new(None),
            conns: Arc::default(),
        };
        p.listen(listener);
        p
    }

    fn listen(&self, listener: TcpListener) {
        let (target, seen, conns) = (self.target.clone(), self.seen.clone(), self.conns.clone());
        let client = reqwest::Client::builder().no_proxy().build().expect("reqwest client");
        let handle = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (target, seen, client) = (target.clone(), seen.clone(), client.clone());
                let conn = tokio::spawn(async move {
                    let svc = service_fn(move |req| forward(req, target.clone(), seen.clone(), client.clone()));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
                let mut conns = conns.lock().unwrap();
                conns.retain(|c| !c.is_finished());
                conns.push(conn);
            }
        });
        *self.acceptor.lock().unwrap() = Some(handle);
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Requests seen with `method` for `path` (the path without the query).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.seen.lock().unwrap().counts.get(&format!("{method} {path}")).copied().unwrap_or(0)
    }

    /// Every `"METHOD /path"` seen with its count, sorted.
    pub fn all(&self) -> Vec<(String, usize)> {
        let mut v: Vec<_> = self.seen.lock().unwrap().counts.iter().map(|(k, n)| (k.clone(), *n)).collect();
        v.sort();
        v
    }

    /// Stops accepting connections and closes the open ones (keep-alive connections of the
    /// server under test included): from now on the upstream is unreachable.
    pub async fn down(&self) {
        let handle = self.acceptor.lock().unwrap().take();
        if let Some(h) = handle {
            h.abort();
            let _ = h.await;
        }
        let conns: Vec<_> = self.conns.lock().unwrap().drain(..).collect();
        for c in conns {
            c.abort();
            let _ = c.await;
        }
    }

    /// Listens again on the same port.
    pub async fn up(&self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let listener = TcpListener::bind(addr).await.expect("rebind counting proxy");
        self.listen(listener);
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        if let Some(h) = self.acceptor.lock().unwrap().take() {
            h.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

async fn forward(
    req: Request<Incoming>,
    target: String,
    seen: Arc<Mutex<Seen>>,
    client: reqwest::Client,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    *seen.lock().unwrap().counts.entry(format!("{} {path}", req.method())).or_default() += 1;
    let pq = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or(path);
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(error(502, format!("reading request body: {e}"))),
    };
    let mut up = client.request(parts.method.clone(), format!("{target}{pq}")).body(body);
    for (name, value) in parts.headers.iter() {
        if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
            up = up.header(name.as_str(), value.as_bytes());
        }
    }
    let resp = match up.send().await {
        Ok(r) => r,
        Err(e) => return Ok(error(502, format!("forwarding: {e}"))),
    };
    let mut out = Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        if name != "transfer-encoding" && name != "connection" {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let stream = resp.bytes_stream().map_ok(Frame::data).map_err(std::io::Error::other);
    Ok(out.body(BodyExt::boxed(StreamBody::new(stream))).unwrap_or_else(|e| error(502, e.to_string())))
}

fn error(status: u16, message: String) -> Response<Body> {
    let body = Full::new(Bytes::from(message)).map_err(|never| match never {}).boxed();
    let mut r = Response::new(body);
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    r
}

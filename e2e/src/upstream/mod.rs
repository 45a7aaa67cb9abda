//! Real upstream HTTP servers for artifactapi to proxy, on 127.0.0.1 with an OS-chosen port.
//!
//! A test puts files in the server's map ([`File`]: bytes, content type, ETag, Last-Modified,
//! status) and switches its behaviour at run time ([`Mode`]: normal, slow streaming, reset
//! or stall mid-body, 500, an HTML error page; plus a delay before headers, required basic auth, and
//! [`Upstream::down`] / [`Upstream::up`] for connection refused and recovery on the same port).
//! Every request is counted and recorded per path with its headers, and body progress is
//! tracked, so tests assert on what the upstream really saw ("exactly one request", "received
//! If-None-Match", "the client had bytes before the upstream finished") and wait for events
//! instead of sleeping. [`Upstream::start_with`] listens on another loopback address
//! (127.0.0.2: "another host") or serves HTTPS with a certificate from a test CA
//! ([`crate::tls::TestCa`]); TLS handshakes that fail are counted.

mod file;
pub mod raw;
mod serve;

pub use file::File;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::HeaderMap;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;

/// How the upstream answers requests for files it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole body at once.
    Normal,
    /// The body streamed at about this many bytes per second.
    Slow { bytes_per_sec: u64 },
    /// Headers with the full Content-Length, about half the body, then the connection drops.
    ResetMidBody,
    /// Headers with the full Content-Length, about half the body, then silence with the
    /// connection open: a stall longer than any read timeout.
    StallMidBody,
    /// 500 with a short text body, for every path.
    Error500,
    /// This status (502, 503, ...) with an HTML error page, for every path.
    HtmlError(u16),
}

/// A request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Body progress for one path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Body bytes handed to the connection, over all requests.
    pub sent: u64,
    /// Bodies sent completely.
    pub completed: u32,
}

#[derive(Debug)]
struct Settings {
    files: HashMap<String, File>,
    mode: Mode,
    header_delay: Duration,
    /// Expected `Authorization` value; requests without it get 401.
    auth: Option<String>,
}

#[derive(Debug)]
pub(crate) struct State {
    settings: Mutex<Settings>,
    seen: Mutex<Vec<Seen>>,
    progress: Mutex<HashMap<String, Progress>>,
    conns: Mutex<Vec<JoinHandle<()>>>,
    /// TLS handshakes that failed (the client refused the certificate, or spoke plain HTTP).
    tls_failures: Mutex<usize>,
    /// Bumped on every request and every progress step; waiters watch it.
    events: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    fn bump(&self) {
        self.events.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Remembers a connection task so [`Upstream::down`] can drop it.
    pub(crate) fn track(&self, conn: JoinHandle<()>) {
        let mut conns = lock(&self.conns);
        conns.retain(|c| !c.is_finished());
        conns.push(conn);
    }

    pub(crate) fn tls_failed(&self) {
        *lock(&self.tls_failures) += 1;
        self.bump();
    }

    pub(crate) fn record(&self, seen: Seen) {
        lock(&self.seen).push(seen);
        self.bump();
    }

    pub(crate) fn advance(&self, path: &str, bytes: u64, completed: bool) {
        {
            let mut p = lock(&self.progress);
            let e = p.entry(path.to_string()).or_default();
            e.sent += bytes;
            if completed {
                e.completed += 1;
            }
        }
        self.bump();
    }

    pub(crate) fn snapshot(&self, path: &str) -> (Option<File>, Mode, Duration, Option<String>) {
        let s = lock(&self.settings);
        (s.files.get(path).cloned(), s.mode, s.header_delay, s.auth.clone())
    }
}

/// A running upstream server; stops on drop.
#[derive(Debug)]
pub struct Upstream {
    state: Arc<State>,
    ip: Ipv4Addr,
    port: u16,
    tls: Option<Arc<ServerConfig>>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl Upstream {
    /// Starts an empty upstream on 127.0.0.1 in [`Mode::Normal`].
    pub async fn start() -> Upstream {
        Upstream::start_with(Ipv4Addr::LOCALHOST, None).await
    }

    /// Starts an empty upstream on `ip` (a loopback address: 127.0.0.2 is "another host"),
    /// serving HTTPS with `tls` when given.
    pub async fn start_with(ip: Ipv4Addr, tls: Option<Arc<ServerConfig>>) -> Upstream {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind upstream");
        let port = listener.local_addr().expect("upstream address").port();
        let state = Arc::new(State {
            settings: Mutex::new(Settings {
                files: HashMap::new(),
                mode: Mode::Normal,
                header_delay: Duration::ZERO,
                auth: None,
            }),
            seen: Mutex::new(Vec::new()),
            progress: Mutex::new(HashMap::new()),
            conns: Mutex::new(Vec::new()),
            tls_failures: Mutex::new(0),
            events: watch::channel(0).0,
        });
        let acceptor = tokio::spawn(serve::accept_loop(listener, state.clone(), tls.clone()));
        Upstream { state, ip, port, tls, acceptor: Mutex::new(Some(acceptor)) }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/` (`https://` when serving TLS, the address it listens on): the
    /// base_url to give a remote.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}:{}/", self.ip, self.port)
    }

    /// The absolute URL of `path` on this upstream.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path.trim_start_matches('/'))
    }

    /// Serves `file` at `path` (a leading `/` is optional), replacing what was there.
    pub fn put(&self, path: &str, file: File) {
        lock(&self.state.settings).files.insert(norm(path), file);
    }

    /// Serves `body` at `path` with no validators.
    pub fn put_bytes(&self, path: &str, body: impl Into<Bytes>) {
        self.put(path, File::new(body));
    }

    pub fn remove(&self, path: &str) {
        lock(&self.state.settings).files.remove(&norm(path));
    }

    /// Serves every file under `root` at its relative path: a static file tree.
    pub fn load_dir(&self, root: &Path) -> std::io::Result<usize> {
        let mut n = 0;
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let p = entry?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(root) {
                    self.put(&rel.to_string_lossy(), File::new(std::fs::read(&p)?));
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    pub fn set_mode(&self, mode: Mode) {
        lock(&self.state.settings).mode = mode;
    }

    /// Waits this long before sending response headers (0 to turn off).
    pub fn set_header_delay(&self, delay: Duration) {
        lock(&self.state.settings).header_delay = delay;
    }

    /// Requires HTTP basic auth with these credentials (401 otherwise); `None` turns it off.
    pub fn require_basic_auth(&self, credentials: Option<(&str, &str)>) {
        lock(&self.state.settings).auth = credentials.map(|(u, p)| basic_auth(u, p));
    }

    /// Requests received for `path` (every method, every answer).
    pub fn count(&self, path: &str) -> usize {
        let path = norm(path);
        lock(&self.state.seen).iter().filter(|s| s.path == path).count()
    }

    /// Requests received in total.
    pub fn total(&self) -> usize {
        lock(&self.state.seen).len()
    }

    /// TLS handshakes that failed.
    pub fn tls_failures(&self) -> usize {
        *lock(&self.state.tls_failures)
    }

    /// The requests received for `path`, oldest first.
    pub fn requests(&self, path: &str) -> Vec<Seen> {
        let path = norm(path);
        lock(&self.state.seen).iter().filter(|s| s.path == path).cloned().collect()
    }

    pub fn progress(&self, path: &str) -> Progress {
        lock(&self.state.progress).get(&norm(path)).copied().unwrap_or_default()
    }

    /// Waits until `cond` holds (checked after every request and body step), at most `timeout`.
    pub async fn wait_for(&self, what: &str, timeout: Duration, cond: impl Fn(&Upstream) -> bool) {
        let deadline = Instant::now() + timeout;
        let mut rx = self.state.events.subscribe();
        while !cond(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("upstream: timed out after {timeout:?} waiting for {what}"),
            }
        }
    }

    /// Waits until `n` bodies of `path` have been sent completely.
    pub async fn wait_completed(&self, path: &str, n: u32, timeout: Duration) {
        let what = format!("{n} complete bodies of {path}");
        self.wait_for(&what, timeout, |u| u.progress(path).completed >= n).await;
    }

    /// Stops listening and closes every open connection: new connections are refused. Returns
    /// once the sockets are closed.
    pub async fn down(&self) {
        let acceptor = lock(&self.acceptor).take();
        if let Some(h) = acceptor {
            h.abort();
            let _ = h.await;
        }
        let conns: Vec<_> = lock(&self.state.conns).drain(..).collect();
        for c in conns {
            c.abort();
            let _ = c.await;
        }
    }

    /// Listens again on the same port after [`Upstream::down`].
    pub async fn up(&self) {
        let addr = SocketAddr::from((self.ip, self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            let socket = TcpSocket::new_v4().expect("upstream socket");
            socket.set_reuseaddr(true).expect("SO_REUSEADDR");
            match socket.bind(addr).and_then(|()| socket.listen(1024)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("upstream: rebinding {addr}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("upstream: cannot listen on {addr} again: {e}"),
            }
        };
        let handle = tokio::spawn(serve::accept_loop(listener, self.state.clone(), self.tls.clone()));
        if let Some(old) = lock(&self.acceptor).replace(handle) {
            old.abort();
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(h) = lock(&self.acceptor).take() {
            h.abort();
        }
        for c in lock(&self.state.conns).drain(..) {
            c.abort();
        }
    }
}

fn norm(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

/// The `Authorization` header value for HTTP basic auth.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_header() {
        assert_eq!(basic_auth("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }
}

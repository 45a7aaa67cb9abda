//! An upstream that writes exactly the bytes a test gives it, which a well-behaved HTTP
//! server (hyper) refuses to: a body longer than its `Content-Length`, a `Content-Length`
//! longer than the body followed by a clean close. HTTP/1.1 with keep-alive: each connection
//! reads request heads one after another and answers each from the map of paths, so what a
//! bad answer leaves on a reused connection reaches the next request's reader.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The bytes written for a path, and whether the connection is closed after them.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub bytes: Vec<u8>,
    pub close: bool,
}

impl RawAnswer {
    /// A `200` with `Content-Length: announced` and then `body`, whatever its length.
    pub fn with_length(announced: usize, body: &[u8], close: bool) -> RawAnswer {
        let mut bytes =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {announced}\r\n\r\n")
                .into_bytes();
        bytes.extend_from_slice(body);
        RawAnswer { bytes, close }
    }

    /// A well-formed `200` with `body`, the connection kept open.
    pub fn ok(body: &[u8]) -> RawAnswer {
        RawAnswer::with_length(body.len(), body, false)
    }
}

#[derive(Debug, Default)]
struct Shared {
    answers: Mutex<HashMap<String, RawAnswer>>,
    /// Request paths in arrival order.
    seen: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running raw upstream on 127.0.0.1; stops on drop. Unknown paths get a `404`.
#[derive(Debug)]
pub struct RawUpstream {
    shared: Arc<Shared>,
    port: u16,
    acceptor: JoinHandle<()>,
}

impl RawUpstream {
    pub async fn start() -> RawUpstream {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind raw upstream");
        let port = listener.local_addr().expect("raw upstream address").port();
        let shared = Arc::new(Shared::default());
        let acceptor = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((conn, _)) = listener.accept().await {
                    tokio::spawn(serve(conn, shared.clone()));
                }
            }
        });
        RawUpstream { shared, port, acceptor }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Answers requests for `path` (leading `/` optional) with `answer`.
    pub fn put(&self, path: &str, answer: RawAnswer) {
        lock(&self.shared.answers).insert(format!("/{}", path.trim_start_matches('/')), answer);
    }

    /// Requests received for `path`.
    pub fn count(&self, path: &str) -> usize {
        let path = format!("/{}", path.trim_start_matches('/'));
        lock(&self.shared.seen).iter().filter(|p| **p == path).count()
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Answers request heads on `conn` until the client closes or an answer closes.
async fn serve(mut conn: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        // GET and HEAD only: no request bodies to skip.
        let head: Vec<u8> = buf.drain(..end).collect();
        let path = String::from_utf8_lossy(&head).split_whitespace().nth(1).unwrap_or("/").to_string();
        let path = path.split('?').next().unwrap_or("/").to_string();
        lock(&shared.seen).push(path.clone());
        let answer = lock(&shared.answers).get(&path).cloned().unwrap_or_else(|| RawAnswer {
            bytes: b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            close: false,
        });
        if conn.write_all(&answer.bytes).await.is_err() {
            return;
        }
        if answer.close {
            let _ = conn.shutdown().await;
            return;
        }
    }
}

//! A raw HTTP/1.1 request written byte for byte to a TCP socket.
//!
//! URL parsers (and so reqwest) resolve `..` and `%2e%2e` segments and turn `\` into `/` before
//! anything is sent, which would hide exactly the hostile paths the server must refuse. This
//! writes the request target unchanged and reads the response until the server closes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back: the status code, the head (status line and headers) and the bytes after it
/// (not de-chunked).
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub rest: Vec<u8>,
}

impl RawResponse {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn rest_text(&self) -> String {
        String::from_utf8_lossy(&self.rest).into_owned()
    }
}

/// Sends `METHOD target HTTP/1.1` with `Connection: close` to 127.0.0.1:`port` and reads the
/// response (10 s limit).
pub async fn request(port: u16, method: &str, target: &str) -> RawResponse {
    request_with_headers(port, method, target, &[]).await
}

/// [`request`] with extra header lines (`"Name: value"`), e.g. `Authorization`.
pub async fn request_with_headers(port: u16, method: &str, target: &str, headers: &[&str]) -> RawResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect for raw request");
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("write raw request");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    match read {
        Ok(Ok(_)) => {}
        // A reset after a complete error answer still leaves the answer in `buf`.
        Ok(Err(e)) if !buf.is_empty() => eprintln!("raw request {target:?}: read ended with {e}"),
        Ok(Err(e)) => panic!("raw request {method} {target:?}: {e}"),
        Err(_) => panic!("raw request {method} {target:?}: no complete answer within 10 s"),
    }
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("raw request {target:?}: no status line in {head:?}"));
    RawResponse { status, head, rest: buf[split..].to_vec() }
}

/// Sends the head of `METHOD target` with `headers` and the first bytes of its body `partial`,
/// then drops the connection before the rest (a client that dies mid-upload). Whatever the
/// server answered by then is returned (possibly nothing).
pub async fn request_cut_off(port: u16, method: &str, target: &str, headers: &[&str], partial: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect for raw request");
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n");
    stream.write_all(head.as_bytes()).await.expect("write raw head");
    stream.write_all(partial).await.expect("write partial body");
    stream.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    buf.truncate(n);
    drop(stream);
    // Give the server a moment to notice the connection went away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    buf
}

/// What the server did with a request written piece by piece ([`send_paced`]).
#[derive(Debug)]
pub struct Paced {
    /// Bytes written before the server answered, closed, or the pieces ran out.
    pub sent: usize,
    /// The answer, if one came (its head at least).
    pub response: Option<RawResponse>,
    /// The server closed the connection.
    pub closed: bool,
}

/// Writes `pieces` to 127.0.0.1:`port` one after another with `pause` between them, reading at
/// the same time; writing stops as soon as an answer's head has arrived or a write fails (the
/// server closed). Then waits for the rest of the answer or the close, at most `wait` in all.
/// The connection is never half-closed by the client: a slow client, not a finished one.
pub async fn send_paced(
    port: u16,
    pieces: impl Iterator<Item = Vec<u8>> + Send + 'static,
    pause: Duration,
    wait: Duration,
) -> Paced {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect for paced request");
    let (mut rd, mut wr) = stream.into_split();
    let answered = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let (answered, sent) = (answered.clone(), sent.clone());
        async move {
            for piece in pieces {
                if answered.load(Ordering::SeqCst) || wr.write_all(&piece).await.is_err() {
                    break;
                }
                sent.fetch_add(piece.len(), Ordering::SeqCst);
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            // Keep the write half open (no FIN) until the reader is done.
            std::future::pending::<()>().await;
            drop(wr);
        }
    });
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut closed = false;
    let mut head_end = None;
    loop {
        // Once the head is in, a short grace for the rest of a small error body, or the close.
        let until = match head_end {
            Some(_) => deadline.min(tokio::time::Instant::now() + Duration::from_millis(500)),
            None => deadline,
        };
        match tokio::time::timeout_at(until, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
        if head_end.is_none() {
            head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
            if head_end.is_some() {
                answered.store(true, Ordering::SeqCst);
            }
        }
    }
    answered.store(true, Ordering::SeqCst);
    writer.abort();
    let response = head_end.map(|end| {
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        RawResponse { status, head, rest: buf[end..].to_vec() }
    });
    Paced { sent: sent.load(Ordering::SeqCst), response, closed }
}

//! The upstream's HTTP side: accepting connections (hyper, HTTP/1.1 with keep-alive) and
//! answering one request according to the current files, mode and settings.
//!
//! Bodies are streams of chunks so that progress is observable and faults can strike in the
//! middle: slow mode paces the chunks, reset mode ends the stream with an error after half the
//! bytes, which makes hyper drop the connection short of the announced Content-Length, and
//! stall mode sends half the body and then nothing, keeping the connection open.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::{File, Mode, Seen, State};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// Chunk size when the upstream is not throttled.
const CHUNK: usize = 64 * 1024;

/// Accepts connections until the task is aborted (which drops the listener: connection refused);
/// with `tls`, each connection is a TLS handshake first.
pub(super) async fn accept_loop(listener: TcpListener, state: Arc<State>, tls: Option<Arc<ServerConfig>>) {
    let tls = tls.map(TlsAcceptor::from);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let st = state.clone();
        let tls = tls.clone();
        let task = tokio::spawn(async move {
            let svc = service_fn({
                let st = st.clone();
                move |req| handle(st.clone(), req)
            });
            match tls {
                None => {
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => {
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                    }
                    Err(_) => st.tls_failed(),
                },
            }
        });
        state.track(task);
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    state.record(Seen {
        method: req.method().to_string(),
        path: path.clone(),
        query: req.uri().query().map(str::to_string),
        headers: req.headers().clone(),
    });
    let (file, mode, delay, auth) = state.snapshot(&path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(expected) = auth {
        let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            let mut resp = simple(401, "text/plain", "authentication required\n");
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"upstream\""));
            return Ok(resp);
        }
    }
    match mode {
        Mode::Error500 => return Ok(simple(500, "text/plain", "internal server error\n")),
        Mode::HtmlError(code) => {
            let page = format!(
                "<!DOCTYPE html>\n<html><head><title>{code} Error</title></head>\
                 <body><h1>{code} Service Unavailable</h1><p>The upstream is having trouble.</p></body></html>\n"
            );
            return Ok(simple(code, "text/html; charset=utf-8", &page));
        }
        Mode::Normal | Mode::Slow { .. } | Mode::ResetMidBody | Mode::StallMidBody => {}
    }
    let Some(file) = file else {
        return Ok(simple(404, "text/plain", "not found\n"));
    };
    if file.status != 200 {
        let mut resp = simple(file.status, &file.content_type, &String::from_utf8_lossy(&file.body));
        extra_headers(resp.headers_mut(), &file);
        return Ok(resp);
    }
    let mut resp = Response::new(empty());
    validators(resp.headers_mut(), &file);
    extra_headers(resp.headers_mut(), &file);
    if not_modified(req.headers(), &file) {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(resp);
    }
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, value(&file.content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(file.body.len()));
    if req.method() == Method::HEAD {
        return Ok(resp);
    }
    *resp.body_mut() = match mode {
        Mode::Slow { bytes_per_sec } => {
            let rate = bytes_per_sec.max(1);
            let chunk = (rate / 20).clamp(1, CHUNK as u64);
            let pause = Duration::from_secs_f64(chunk as f64 / rate as f64);
            chunked(state, path, file.body, chunk as usize, pause, None)
        }
        Mode::ResetMidBody => {
            let cut = file.body.len() / 2;
            chunked(state, path, file.body, CHUNK, Duration::ZERO, Some(cut))
        }
        Mode::StallMidBody => {
            let half = file.body.slice(..file.body.len() / 2);
            state.advance(&path, half.len() as u64, false);
            let first = futures_util::stream::iter([Ok::<_, BoxError>(Frame::data(half))]);
            let body = futures_util::StreamExt::chain(first, futures_util::stream::pending());
            StreamBody::new(body).boxed()
        }
        _ => chunked(state, path, file.body, CHUNK, Duration::ZERO, None),
    };
    Ok(resp)
}

/// Where a body stream is.
enum Step {
    At(usize),
    Done,
}

/// `data` as a stream of `chunk`-sized frames with `pause` between them, reporting progress;
/// with `cut`, the stream fails after `cut` bytes.
fn chunked(state: Arc<State>, path: String, data: Bytes, chunk: usize, pause: Duration, cut: Option<usize>) -> Body {
    if data.is_empty() && cut.is_none() {
        state.advance(&path, 0, true);
        return empty();
    }
    let end = cut.unwrap_or(data.len());
    let stream = futures_util::stream::unfold(Step::At(0), move |step| {
        let (state, path, data) = (state.clone(), path.clone(), data.clone());
        async move {
            let off = match step {
                Step::Done => return None,
                Step::At(off) => off,
            };
            if off >= end {
                // Only reached with a cut: give the partial body time to be flushed, then fail,
                // which makes hyper close the connection short of Content-Length.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let err: BoxError = "upstream reset mid-body (test mode)".into();
                return Some((Err(err), Step::Done));
            }
            if off > 0 && !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            let next = (off + chunk).min(end);
            let complete = cut.is_none() && next == data.len();
            state.advance(&path, (next - off) as u64, complete);
            let step = if complete { Step::Done } else { Step::At(next) };
            Some((Ok(Frame::data(data.slice(off..next))), step))
        }
    });
    StreamBody::new(stream).boxed()
}

fn extra_headers(h: &mut HeaderMap, file: &File) {
    for (name, v) in &file.headers {
        if let Ok(name) = header::HeaderName::from_bytes(name.as_bytes()) {
            h.insert(name, value(v));
        }
    }
}

fn validators(h: &mut HeaderMap, file: &File) {
    if let Some(etag) = &file.etag {
        h.insert(header::ETAG, value(etag));
    }
    if let Some(t) = file.last_modified {
        h.insert(header::LAST_MODIFIED, value(&httpdate::fmt_http_date(t)));
    }
}

/// RFC 9110 §13.1.2/§13.1.3: If-None-Match wins over If-Modified-Since.
fn not_modified(req: &HeaderMap, file: &File) -> bool {
    if let Some(inm) = req.get(header::IF_NONE_MATCH) {
        let (Some(etag), Ok(inm)) = (&file.etag, inm.to_str()) else {
            return false;
        };
        return inm.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag);
    }
    let since = req.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok());
    match (since.and_then(|s| httpdate::parse_http_date(s).ok()), file.last_modified) {
        (Some(since), Some(modified)) => modified <= since && since <= SystemTime::now() + Duration::from_secs(60),
        _ => false,
    }
}

fn simple(status: u16, content_type: &str, body: &str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())).map_err(|e| match e {}).boxed());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(header::CONTENT_TYPE, value(content_type));
    resp
}

fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed()
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

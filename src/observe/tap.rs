//! The request side of recording: a [`Tap`] opened when a proxied request arrives, told which
//! repository and path it is for as the handler learns them, and closed on the handler's result.
//!
//! Closing turns the result (an error too) into the response and wraps its body in a
//! [`RecordedBody`], which makes the [`Record`] once the body has been sent or dropped. A tap
//! dropped before it was closed (the client went away while the handler waited) records a 499.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::body::RecordedBody;
use super::record::{CacheLabel, Record, CLIENT_CLOSED};
use super::repos::RepoObs;

/// Where finished records go (the [`super::Observer`]; a collector in tests).
pub trait RecordSink: Send + Sync + 'static {
    fn record(&self, record: Record);
}

/// A request being recorded.
pub struct Pending {
    sink: Arc<dyn RecordSink>,
    started: Instant,
    at: SystemTime,
    method: Method,
    client: Option<IpAddr>,
    repo: String,
    path: String,
    known: Option<Arc<RepoObs>>,
    status: u16,
    cache: CacheLabel,
}

impl Pending {
    pub fn new(sink: Arc<dyn RecordSink>, method: Method, client: Option<IpAddr>) -> Pending {
        Pending {
            sink,
            started: Instant::now(),
            at: SystemTime::now(),
            method,
            client,
            repo: String::new(),
            path: String::new(),
            known: None,
            status: CLIENT_CLOSED,
            cache: CacheLabel::None,
        }
    }

    /// Makes the record, with `bytes` sent.
    pub fn finish(self, bytes: u64) {
        let record = Record {
            at: self.at,
            repo: self.repo,
            path: self.path,
            method: self.method,
            status: self.status,
            cache: self.cache,
            bytes,
            duration: self.started.elapsed(),
            client: self.client,
            known: self.known,
        };
        self.sink.record(record);
    }
}

/// An open recording of one request.
pub struct Tap {
    pending: Option<Pending>,
}

impl Tap {
    pub fn new(sink: Arc<dyn RecordSink>, req: &HttpRequest) -> Tap {
        let client = req.peer_addr().map(|a| a.ip());
        Tap { pending: Some(Pending::new(sink, req.method().clone(), client)) }
    }

    /// The repository name and path the request asked for (whether or not the repository exists).
    pub fn target(&mut self, repo: &str, path: &str) {
        if let Some(p) = &mut self.pending {
            p.repo = repo.to_string();
            p.path = path.to_string();
        }
    }

    /// The repository exists: count the request in its stats and metrics.
    pub fn known(&mut self, repo: Arc<RepoObs>) {
        if let Some(p) = &mut self.pending {
            p.known = Some(repo);
        }
    }

    /// The response for `result`, recorded when its body is done.
    pub fn respond<E: ResponseError>(self, result: Result<HttpResponse, E>) -> HttpResponse<RecordedBody> {
        self.send(result.unwrap_or_else(|e| e.error_response()))
    }

    /// `resp`, recorded when its body is done.
    pub fn send(mut self, resp: HttpResponse) -> HttpResponse<RecordedBody> {
        let pending = self.pending.take().map(|mut p| {
            p.status = resp.status().as_u16();
            p.cache = CacheLabel::from_header(resp.headers().get("x-cache").map(|v| v.as_bytes()));
            p
        });
        resp.map_body(|_, body| RecordedBody::new(body, pending))
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.finish(0);
        }
    }
}

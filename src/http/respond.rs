//! Turning what the serving service answered into an HTTP response.
//!
//! Stored bytes (cached objects and rendered documents) are read straight from the blob store
//! (never through an actor), with a strong ETag from the digest, conditional requests, single
//! byte ranges (206/416) and HEAD without a body. Misses stream from the fill's spool; if the
//! fill fails mid-body the stream errors and the connection is cut, so a client never mistakes
//! a partial body for a whole one. Redirects go to the same repository's route.

use actix_web::body::None as NoBody;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use artifactapi_actors::remote::{CacheStatus, Download};
use artifactapi_actors::storage::{BlobStore, ByteRange, StoreError};

use super::error::ApiError;
use crate::paths::RepoPath;
use crate::serve::{Body, Outcome, Stored};

/// What a `Range` header asks for, checked against the object's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range, or one that must be ignored (multiple ranges, other units, malformed).
    Full,
    Partial(ByteRange),
    Unsatisfiable,
}

/// Parses a `Range` header value for an object of `size` bytes (RFC 9110 §14.1.2). Only a
/// single range is honoured; anything else is served whole, as the RFC allows.
pub fn parse_range(value: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else { return RangeRequest::Full };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return RangeRequest::Full };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let range = match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, true) => return RangeRequest::Full,
        (true, false) => match parse(end) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(n) if size == 0 => return if n > 0 { RangeRequest::Unsatisfiable } else { RangeRequest::Full },
            Some(n) => ByteRange { start: size.saturating_sub(n), end: size - 1 },
            None => return RangeRequest::Full,
        },
        (false, open) => {
            let Some(s) = parse(start) else { return RangeRequest::Full };
            let e = if open {
                size.saturating_sub(1)
            } else {
                match parse(end) {
                    Some(e) if e >= s => e.min(size.saturating_sub(1)),
                    _ => return RangeRequest::Full,
                }
            };
            if s >= size {
                return RangeRequest::Unsatisfiable;
            }
            ByteRange { start: s, end: e }
        }
    };
    RangeRequest::Partial(range)
}

/// The strong ETag of stored bytes.
pub fn etag(stored: &Stored) -> String {
    format!("\"{}\"", stored.digest.hex())
}

pub(super) fn if_none_match(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*")
}

/// Sends `outcome` to the client. `prefix` is the request path up to and including the
/// repository (`/api/v1/remote/{name}/`), for redirects.
pub async fn outcome(
    req: &HttpRequest,
    store: &dyn BlobStore,
    outcome: Outcome,
    prefix: &str,
) -> Result<HttpResponse, ApiError> {
    match outcome {
        Outcome::Served { body: Body::Stored(stored), status, rendered } => {
            let mut resp = stored_response(req, store, &stored, status).await?;
            if rendered {
                resp.headers_mut().insert(header::VARY, header::HeaderValue::from_static("Accept"));
            }
            Ok(resp)
        }
        Outcome::Served { body: Body::Streaming { download, .. }, .. } => Ok(download_response(req, download)),
        Outcome::Redirect(to) => Ok(redirect(req, prefix, &to)),
    }
}

/// A permanent redirect to `to`, a path of the repository the request addressed (remote or
/// virtual), with the request's query.
fn redirect(req: &HttpRequest, prefix: &str, to: &str) -> HttpResponse {
    let target = RepoPath::from_decoded(to).map(|p| p.upstream_suffix()).unwrap_or_default();
    let mut location = format!("{prefix}{target}");
    if let Some(q) = req.uri().query() {
        location.push('?');
        location.push_str(q);
    }
    HttpResponse::MovedPermanently().insert_header((header::LOCATION, location)).finish()
}

fn common(resp: &mut HttpResponseBuilder, status: CacheStatus, content_type: Option<&str>) {
    resp.insert_header(("X-Cache", status.as_str()));
    resp.insert_header((header::CONTENT_TYPE, content_type.unwrap_or("application/octet-stream")));
}

/// A response from the store.
pub async fn stored_response(
    req: &HttpRequest,
    store: &dyn BlobStore,
    stored: &Stored,
    status: CacheStatus,
) -> Result<HttpResponse, ApiError> {
    let tag = etag(stored);
    let mut resp = HttpResponse::build(StatusCode::OK);
    common(&mut resp, status, stored.content_type.as_deref());
    resp.insert_header((header::ETAG, tag.clone()));
    resp.insert_header((header::ACCEPT_RANGES, "bytes"));
    if let Some(lm) = &stored.last_modified {
        resp.insert_header((header::LAST_MODIFIED, lm.as_str()));
    }
    if if_none_match(req, &tag) {
        resp.status(StatusCode::NOT_MODIFIED);
        return Ok(resp.body(NoBody::new()));
    }
    let range_header = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match parse_range(range_header, stored.size) {
        RangeRequest::Full => None,
        RangeRequest::Partial(r) => Some(r),
        RangeRequest::Unsatisfiable => {
            resp.status(StatusCode::RANGE_NOT_SATISFIABLE);
            resp.insert_header((header::CONTENT_RANGE, format!("bytes */{}", stored.size)));
            // An empty sized body: `Content-Length: 0`, so keep-alive clients do not wait.
            return Ok(resp.body(bytes::Bytes::new()));
        }
    };
    let length = match range {
        Some(r) => {
            resp.status(StatusCode::PARTIAL_CONTENT);
            resp.insert_header((header::CONTENT_RANGE, format!("bytes {}-{}/{}", r.start, r.end, stored.size)));
            r.len()
        }
        None => stored.size,
    };
    if req.method() == Method::HEAD {
        return Ok(head_only(resp, Some(length)));
    }
    let body = match store.open(&stored.digest, range).await {
        Ok(body) => body,
        Err(StoreError::NotFound(d)) => {
            return Err(ApiError::Internal(format!("cached blob {d} is missing from storage")));
        }
        Err(e) => return Err(ApiError::Unavailable(format!("storage: {e}"))),
    };
    Ok(resp.no_chunking(length).streaming(body))
}

/// A HEAD answer: the length a GET would have, and no body. actix-http writes the
/// Content-Length of a sized body and sends no body bytes for HEAD requests; a manually set
/// Content-Length header would be dropped.
pub fn head_only(mut resp: HttpResponseBuilder, length: Option<u64>) -> HttpResponse {
    let empty = futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
    match length {
        Some(n) => resp.no_chunking(n).streaming(empty),
        None => resp.body(NoBody::new()),
    }
}

/// A response streaming from a fill (a miss).
pub fn download_response(req: &HttpRequest, download: Download) -> HttpResponse {
    let mut resp = HttpResponse::build(StatusCode::OK);
    common(&mut resp, CacheStatus::Miss, download.head.content_type.as_deref());
    if let Some(lm) = &download.head.last_modified {
        resp.insert_header((header::LAST_MODIFIED, lm.as_str()));
    }
    if req.method() == Method::HEAD {
        return head_only(resp, download.head.content_length);
    }
    match download.head.content_length {
        Some(n) => resp.no_chunking(n).streaming(download.body),
        None => resp.streaming(download.body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, end })
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        let cases: &[(Option<&str>, u64, RangeRequest)] = &[
            (None, 10, RangeRequest::Full),
            (Some("bytes=0-0"), 10, r(0, 0)),
            (Some("bytes=0-9"), 10, r(0, 9)),
            (Some("bytes=0-99"), 10, r(0, 9)),
            (Some("bytes=5-"), 10, r(5, 9)),
            (Some("bytes=-3"), 10, r(7, 9)),
            (Some("bytes=-30"), 10, r(0, 9)),
            (Some("bytes=10-"), 10, RangeRequest::Unsatisfiable),
            (Some("bytes=10-20"), 10, RangeRequest::Unsatisfiable),
            (Some("bytes=-0"), 10, RangeRequest::Unsatisfiable),
            (Some("bytes=5-2"), 10, RangeRequest::Full),
            (Some("bytes=0-1,3-4"), 10, RangeRequest::Full),
            (Some("items=0-1"), 10, RangeRequest::Full),
            (Some("bytes=abc"), 10, RangeRequest::Full),
            (Some("bytes=-"), 10, RangeRequest::Full),
            (Some("bytes=x-5"), 10, RangeRequest::Full),
            (Some("bytes=0-"), 0, RangeRequest::Unsatisfiable),
            (Some("bytes=18446744073709551615-"), 10, RangeRequest::Unsatisfiable),
        ];
        for (header, size, want) in cases {
            assert_eq!(parse_range(*header, *size), *want, "{header:?} of {size}");
        }
    }
}

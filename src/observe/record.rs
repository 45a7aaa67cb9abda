//! What one proxied request leaves behind: a [`Record`], and the cache label it was served with.
//!
//! A record is made once per request, when its response body has been sent or dropped (see
//! [`super::body`]), and then feeds the stats counters, the Prometheus metrics, the access log
//! and the event bus. It owns its strings so it can travel to the access-log writer as is.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::Method;

use super::repos::RepoObs;

/// How a response was served, from its `X-Cache` header; `None` when it was not served from the
/// cache machinery at all (errors, refusals, bad requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheLabel {
    Hit,
    Miss,
    Stale,
    Revalidated,
    None,
}

impl CacheLabel {
    /// Every label, in the order of [`CacheLabel::index`].
    pub const ALL: [CacheLabel; 5] =
        [CacheLabel::Hit, CacheLabel::Miss, CacheLabel::Stale, CacheLabel::Revalidated, CacheLabel::None];

    /// The `X-Cache` value (and the access log's `cache_status`), or `None` for no label.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            CacheLabel::Hit => Some("HIT"),
            CacheLabel::Miss => Some("MISS"),
            CacheLabel::Stale => Some("STALE"),
            CacheLabel::Revalidated => Some("REVALIDATED"),
            CacheLabel::None => None,
        }
    }

    /// The Prometheus label value.
    pub fn metric_label(self) -> &'static str {
        self.header_value().unwrap_or("none")
    }

    /// Parses an `X-Cache` value (exact, upper case, as the server writes it).
    pub fn from_header(value: Option<&[u8]>) -> CacheLabel {
        match value {
            Some(b"HIT") => CacheLabel::Hit,
            Some(b"MISS") => CacheLabel::Miss,
            Some(b"STALE") => CacheLabel::Stale,
            Some(b"REVALIDATED") => CacheLabel::Revalidated,
            _ => CacheLabel::None,
        }
    }

    /// A dense index for per-label arrays.
    pub fn index(self) -> usize {
        match self {
            CacheLabel::Hit => 0,
            CacheLabel::Miss => 1,
            CacheLabel::Stale => 2,
            CacheLabel::Revalidated => 3,
            CacheLabel::None => 4,
        }
    }
}

/// One request, as recorded.
#[derive(Debug, Clone)]
pub struct Record {
    /// When the request arrived (converted to a date off the request path).
    pub at: SystemTime,
    /// The repository name as requested (also for repositories that do not exist).
    pub repo: String,
    /// The path below the repository, as requested (percent-encoding kept).
    pub path: String,
    pub method: Method,
    pub status: u16,
    pub cache: CacheLabel,
    /// Body bytes handed to the connection.
    pub bytes: u64,
    /// From the request's arrival to the end (or drop) of its response body.
    pub duration: Duration,
    /// The peer's address (the TCP connection's, not a forwarded header's).
    pub client: Option<IpAddr>,
    /// The repository's counters and metric handles, when the repository exists.
    pub known: Option<Arc<RepoObs>>,
}

/// Status 499 (after nginx): the client went away before a response was produced.
pub const CLIENT_CLOSED: u16 = 499;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_cache_values_round_trip() {
        for label in CacheLabel::ALL {
            let parsed = CacheLabel::from_header(label.header_value().map(str::as_bytes));
            assert_eq!(parsed, label);
            assert_eq!(CacheLabel::ALL[label.index()], label);
        }
        let cases: &[(Option<&[u8]>, CacheLabel)] = &[
            (None, CacheLabel::None),
            (Some(b""), CacheLabel::None),
            (Some(b"hit"), CacheLabel::None),
            (Some(b"HIT "), CacheLabel::None),
            (Some(b"REVALIDATED"), CacheLabel::Revalidated),
        ];
        for (value, want) in cases {
            assert_eq!(CacheLabel::from_header(*value), *want, "{value:?}");
        }
        assert_eq!(CacheLabel::None.metric_label(), "none");
    }
}

//! Upstream rate limits as registries announce them, for `/metrics`.
//!
//! Docker Hub answers manifest requests with `ratelimit-limit: 100;w=21600` and
//! `ratelimit-remaining: 76;w=21600` (pulls allowed per window of `w` seconds, and what is left of
//! them for this client); other registries use the same IETF draft headers. Every upstream
//! response of a remote that carries both is recorded here ([`RateLimits::record`]), the last one
//! winning, and `/metrics` exports them per remote, so an operator sees the quota run out before
//! pulls start failing with 429.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One upstream answer's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
}

impl RateLimit {
    /// From the header values, when both are there and well formed (`100` or `100;w=21600`).
    pub fn parse(limit: Option<&str>, remaining: Option<&str>) -> Option<RateLimit> {
        let quota = |v: &str| v.split([';', ',']).next()?.trim().parse::<u64>().ok();
        Some(RateLimit { limit: quota(limit?)?, remaining: quota(remaining?)? })
    }
}

/// The last quota seen per remote (shared by every remote actor and the metrics).
#[derive(Debug, Default)]
pub struct RateLimits(Mutex<HashMap<String, RateLimit>>);

impl RateLimits {
    pub fn record(&self, remote: &str, limit: RateLimit) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(remote.to_string(), limit);
        }
    }

    /// The quota last seen for `remote`.
    pub fn get(&self, remote: &str) -> Option<RateLimit> {
        self.0.lock().ok()?.get(remote).copied()
    }
}

/// Where an upstream client records the quotas it sees: its remote's name in the shared map.
#[derive(Debug, Clone)]
pub struct RateLimitSink {
    pub remote: String,
    pub limits: Arc<RateLimits>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ratelimit-limit`, `ratelimit-remaining`, what they read as.
    type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<(u64, u64)>);

    #[test]
    fn parses_the_draft_headers() {
        let cases: &[Case] = &[
            (Some("100;w=21600"), Some("76;w=21600"), Some((100, 76))),
            (Some("100"), Some("0"), Some((100, 0))),
            (Some(" 200 ; w=3600"), Some("199;w=3600"), Some((200, 199))),
            (Some("100, 100;w=21600"), Some("5"), Some((100, 5))),
            (Some("100;w=21600"), None, None),
            (None, Some("76"), None),
            (Some("many"), Some("76"), None),
            (Some("-1"), Some("76"), None),
            (Some(""), Some(""), None),
        ];
        for (limit, remaining, want) in cases {
            let got = RateLimit::parse(*limit, *remaining).map(|r| (r.limit, r.remaining));
            assert_eq!(got, *want, "{limit:?} {remaining:?}");
        }
    }

    #[test]
    fn keeps_the_last_quota_per_remote() {
        let limits = RateLimits::default();
        assert_eq!(limits.get("hub"), None);
        limits.record("hub", RateLimit { limit: 100, remaining: 90 });
        limits.record("hub", RateLimit { limit: 100, remaining: 89 });
        limits.record("ghcr", RateLimit { limit: 5000, remaining: 1 });
        assert_eq!(limits.get("hub"), Some(RateLimit { limit: 100, remaining: 89 }));
        assert_eq!(limits.get("ghcr").map(|r| r.remaining), Some(1));
    }
}

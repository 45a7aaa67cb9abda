//! Query strings of the observation endpoints, parsed strictly: an unknown or repeated
//! parameter, or a value out of range, is an error naming the parameter, so a typo never
//! silently widens what an operator asked for.

use chrono::{DateTime, Utc};

use crate::db::access_log::{AccessFilter, StatusFilter};

/// Most rows one access-log page may hold.
pub const MAX_LIMIT: u32 = 1000;

/// A query string that cannot be honoured; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// `(name, value)` pairs, decoded; rejects names outside `allowed` and repeated names.
fn pairs(query: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, QueryError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(QueryError(format!("unknown query parameter {k:?} (expected one of: {})", allowed.join(", "))));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(QueryError(format!("query parameter {k:?} given more than once")));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// A repository name as a filter: non-empty, no control characters, at most 255 bytes.
fn repo_name(v: &str) -> Result<String, QueryError> {
    if v.is_empty() || v.len() > 255 || v.chars().any(char::is_control) {
        return Err(QueryError(format!("repo: invalid repository name {v:?}")));
    }
    Ok(v.to_string())
}

/// `GET /api/v2/stats`: `repo=NAME` or nothing.
pub fn stats_repo(query: &str) -> Result<Option<String>, QueryError> {
    match pairs(query, &["repo"])?.pop() {
        Some((_, v)) => repo_name(&v).map(Some),
        None => Ok(None),
    }
}

fn time(name: &str, v: &str) -> Result<DateTime<Utc>, QueryError> {
    DateTime::parse_from_rfc3339(v).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        QueryError(format!("{name}: expected an RFC 3339 time like 2024-05-01T12:00:00Z, got {v:?} ({e})"))
    })
}

fn status(v: &str) -> Result<StatusFilter, QueryError> {
    let bad = || QueryError(format!("status: expected a status code (100-599) or a class like 4xx, got {v:?}"));
    let lower = v.to_ascii_lowercase();
    if let Some(class) = lower.strip_suffix("xx") {
        return match class.parse::<u16>() {
            Ok(c) if (1..=5).contains(&c) && class.len() == 1 => Ok(StatusFilter::Class(c)),
            _ => Err(bad()),
        };
    }
    match v.parse::<u16>() {
        Ok(s) if (100..=599).contains(&s) && v.len() == 3 => Ok(StatusFilter::Exact(s)),
        _ => Err(bad()),
    }
}

fn cache(v: &str) -> Result<String, QueryError> {
    let upper = v.to_ascii_uppercase();
    match upper.as_str() {
        "HIT" | "MISS" | "STALE" | "REVALIDATED" => Ok(upper),
        _ => Err(QueryError(format!("cache: expected HIT, MISS, STALE or REVALIDATED, got {v:?}"))),
    }
}

fn limit(v: &str) -> Result<u32, QueryError> {
    match v.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(QueryError(format!("limit: expected a whole number from 1 to {MAX_LIMIT}, got {v:?}"))),
    }
}

fn cursor(v: &str) -> Result<i64, QueryError> {
    match v.parse::<i64>() {
        Ok(n) if n > 0 && !v.starts_with('+') => Ok(n),
        _ => Err(QueryError(format!("cursor: expected the next_cursor of a previous page, got {v:?}"))),
    }
}

fn path_prefix(v: &str) -> Result<String, QueryError> {
    if v.is_empty() || v.len() > 2048 || v.contains('\0') {
        return Err(QueryError(format!("path_prefix: expected 1 to 2048 bytes without NUL, got {v:?}")));
    }
    Ok(v.to_string())
}

/// `GET /api/v2/access-log`: `repo`, `status`, `cache`, `since`, `until`, `path_prefix`,
/// `limit`, `cursor`.
pub fn access_filter(query: &str) -> Result<AccessFilter, QueryError> {
    const ALLOWED: &[&str] = &["repo", "status", "cache", "since", "until", "path_prefix", "limit", "cursor"];
    let mut f = AccessFilter::default();
    for (k, v) in pairs(query, ALLOWED)? {
        match k.as_str() {
            "repo" => f.repo = Some(repo_name(&v)?),
            "status" => f.status = Some(status(&v)?),
            "cache" => f.cache = Some(cache(&v)?),
            "since" => f.since = Some(time("since", &v)?),
            "until" => f.until = Some(time("until", &v)?),
            "path_prefix" => f.path_prefix = Some(path_prefix(&v)?),
            "limit" => f.limit = limit(&v)?,
            _ => f.before_id = Some(cursor(&v)?),
        }
    }
    if let (Some(since), Some(until)) = (f.since, f.until) {
        if since >= until {
            return Err(QueryError(format!("since ({since}) must be before until ({until})")));
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn good_access_queries() {
        let t = |s| Utc.timestamp_opt(s, 0).unwrap();
        let cases: Vec<(&str, AccessFilter)> = vec![
            ("", AccessFilter::default()),
            ("repo=gen", AccessFilter { repo: Some("gen".into()), ..Default::default() }),
            ("status=404", AccessFilter { status: Some(StatusFilter::Exact(404)), ..Default::default() }),
            ("status=5xx", AccessFilter { status: Some(StatusFilter::Class(5)), ..Default::default() }),
            ("status=2XX", AccessFilter { status: Some(StatusFilter::Class(2)), ..Default::default() }),
            ("cache=stale", AccessFilter { cache: Some("STALE".into()), ..Default::default() }),
            ("cache=REVALIDATED", AccessFilter { cache: Some("REVALIDATED".into()), ..Default::default() }),
            ("since=2023-11-14T23:13:20%2B01:00", AccessFilter { since: Some(t(1_700_000_000)), ..Default::default() }),
            (
                "since=2023-11-14T22:13:20Z&until=2023-11-14T22:13:21Z",
                AccessFilter { since: Some(t(1_700_000_000)), until: Some(t(1_700_000_001)), ..Default::default() },
            ),
            ("path_prefix=a%2Fb%20c", AccessFilter { path_prefix: Some("a/b c".into()), ..Default::default() }),
            ("limit=1", AccessFilter { limit: 1, ..Default::default() }),
            ("limit=1000&cursor=42", AccessFilter { limit: 1000, before_id: Some(42), ..Default::default() }),
        ];
        for (q, want) in cases {
            assert_eq!(access_filter(q), Ok(want), "{q}");
        }
    }

    #[test]
    fn bad_access_queries_name_the_parameter() {
        let cases: &[(&str, &str)] = &[
            ("limit=0", "limit: expected a whole number from 1 to 1000"),
            ("limit=1001", "limit: "),
            ("limit=-1", "limit: "),
            ("limit=99999999999999999999", "limit: "),
            ("limit=abc", "limit: "),
            ("limit=", "limit: "),
            ("cursor=abc", "cursor: "),
            ("cursor=0", "cursor: "),
            ("cursor=-5", "cursor: "),
            ("cursor=+5", "cursor: "),
            ("status=99", "status: "),
            ("status=600", "status: "),
            ("status=0404", "status: "),
            ("status=6xx", "status: "),
            ("status=xx", "status: "),
            ("status=44xx", "status: "),
            ("cache=WARM", "cache: expected HIT, MISS, STALE or REVALIDATED"),
            ("cache=", "cache: "),
            ("since=yesterday", "since: expected an RFC 3339 time"),
            ("until=2024-13-01T00:00:00Z", "until: "),
            ("since=2024-01-02T00:00:00Z&until=2024-01-01T00:00:00Z", "since ("),
            ("path_prefix=", "path_prefix: "),
            ("path_prefix=a%00b", "path_prefix: "),
            ("repo=", "repo: invalid repository name"),
            ("repo=a%0Ab", "repo: "),
            ("limit=5&limit=6", "query parameter \"limit\" given more than once"),
            ("lmit=5", "unknown query parameter \"lmit\""),
            ("repo=a&x", "unknown query parameter \"x\""),
        ];
        for (q, want) in cases {
            let err = access_filter(q).expect_err(q).0;
            assert!(err.starts_with(want), "{q}: {err}");
        }
    }

    #[test]
    fn stats_queries() {
        assert_eq!(stats_repo(""), Ok(None));
        assert_eq!(stats_repo("repo=gen"), Ok(Some("gen".into())));
        assert!(stats_repo("repo=").unwrap_err().0.starts_with("repo: "));
        assert!(stats_repo("repo=a&repo=b").unwrap_err().0.contains("more than once"));
        assert!(stats_repo("name=a").unwrap_err().0.starts_with("unknown query parameter \"name\""));
    }
}

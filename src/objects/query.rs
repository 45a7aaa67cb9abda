//! The object browser's query string, parsed into typed values or an error naming the
//! parameter (a 400).
//!
//! Parameters: `prefix` (a path prefix, checked like a request path: no `.`/`..` segments, no
//! NUL, control characters or backslashes, no empty segment except a trailing slash, at most
//! 4096 bytes), `sort` (`path` | `last_access`), `order` (`asc` | `desc`), `limit` (1..=1000)
//! and `cursor`. Unknown and repeated parameters are refused rather than ignored, so a typo
//! (`limt=5`) is not silently a different query. Values must be valid UTF-8 once decoded.
//!
//! The cursor is opaque to clients: base64url of a small JSON document holding the last row's
//! sort key, plus the sort and order it was made for (a cursor used with another sort or
//! order is refused: it would silently skip or repeat rows).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Order, Sort, SortKey};
use crate::paths::MAX_PATH_BYTES;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
/// Longest cursor accepted (a key holds at most one path).
const MAX_CURSOR_BYTES: usize = 4 * MAX_PATH_BYTES;

/// A bad query parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct QueryError {
    pub param: String,
    pub message: String,
}

fn err(param: &str, message: impl Into<String>) -> QueryError {
    QueryError { param: param.to_string(), message: message.into() }
}

/// A listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub prefix: Option<String>,
    pub sort: Sort,
    pub order: Order,
    pub limit: u32,
    /// Where the page starts (from `cursor`).
    pub after: Option<SortKey>,
}

/// Decodes `name=value&...` into pairs, refusing names outside `allowed` and repeated names.
fn pairs(query: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, QueryError> {
    let decode = |param: &str, s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| err(param, "not valid UTF-8 once decoded"))
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = part.split_once('=').unwrap_or((part, ""));
        let name = decode("query", raw_name)?;
        if !allowed.contains(&name.as_str()) {
            return Err(err(&name, format!("unknown parameter (expected one of: {})", allowed.join(", "))));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(err(&name, "given more than once"));
        }
        let value = decode(&name, raw_value)?;
        out.push((name, value));
    }
    Ok(out)
}

/// Checks a path prefix the way request paths are checked (see [`crate::paths`]), on its
/// decoded form: the last segment may be partial or empty (a trailing slash).
pub fn check_prefix(prefix: &str) -> Result<(), QueryError> {
    let bad = |m: &str| Err(err("prefix", m));
    if prefix.is_empty() {
        return bad("empty (leave it out to mean every object)");
    }
    if prefix.len() > MAX_PATH_BYTES {
        return bad(&format!("longer than {MAX_PATH_BYTES} bytes"));
    }
    if prefix.contains('\0') {
        return bad("NUL byte in prefix");
    }
    if prefix.chars().any(char::is_control) {
        return bad("control character in prefix");
    }
    if prefix.contains('\\') {
        return bad("backslash in prefix");
    }
    if prefix.starts_with('/') {
        return bad("must not start with '/' (paths are relative to the remote)");
    }
    let segments: Vec<&str> = prefix.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        if *seg == "." || *seg == ".." {
            return bad("'.' and '..' path segments are not allowed");
        }
        if seg.is_empty() && i + 1 < segments.len() {
            return bad("empty path segment (doubled slash)");
        }
    }
    Ok(())
}

fn parse_limit(value: &str) -> Result<u32, QueryError> {
    let bad = || err("limit", format!("expected a whole number from 1 to {MAX_LIMIT}, got {value:?}"));
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// Parses the query string of `GET /api/v2/remotes/{name}/objects`.
pub fn parse_list(query: &str) -> Result<ListQuery, QueryError> {
    let mut q = ListQuery { prefix: None, sort: Sort::Path, order: Order::Asc, limit: DEFAULT_LIMIT, after: None };
    let mut cursor = None;
    for (name, value) in pairs(query, &["prefix", "sort", "order", "limit", "cursor"])? {
        match name.as_str() {
            "prefix" => {
                check_prefix(&value)?;
                q.prefix = Some(value);
            }
            "sort" => {
                q.sort = match value.as_str() {
                    "path" => Sort::Path,
                    "last_access" => Sort::LastAccess,
                    _ => return Err(err("sort", format!("expected path or last_access, got {value:?}"))),
                }
            }
            "order" => {
                q.order = match value.as_str() {
                    "asc" => Order::Asc,
                    "desc" => Order::Desc,
                    _ => return Err(err("order", format!("expected asc or desc, got {value:?}"))),
                }
            }
            "limit" => q.limit = parse_limit(&value)?,
            _ => cursor = Some(value),
        }
    }
    if let Some(c) = cursor {
        q.after = Some(decode_cursor(&c, q.sort, q.order)?);
    }
    Ok(q)
}

/// Parses the query string of `DELETE /api/v2/remotes/{name}/objects`: the prefix, if any.
pub fn parse_evict(query: &str) -> Result<Option<String>, QueryError> {
    let mut prefix = None;
    for (_, value) in pairs(query, &["prefix"])? {
        check_prefix(&value)?;
        prefix = Some(value);
    }
    Ok(prefix)
}

/// The cursor's content.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorWire {
    /// Sort and order it was made for.
    s: String,
    o: String,
    p: String,
    v: String,
    /// Last access, microseconds since the epoch (`last_access` sort only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<i64>,
}

/// The opaque cursor for the page after `key`.
pub fn encode_cursor(key: &SortKey, order: Order) -> String {
    let (p, v, t) = match key {
        SortKey::Path { path, variant } => (path, variant, None),
        SortKey::LastAccess { at, path, variant } => (path, variant, Some(at.timestamp_micros())),
    };
    let wire = CursorWire { s: key.sort().as_str().into(), o: order.as_str().into(), p: p.clone(), v: v.clone(), t };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

fn decode_cursor(cursor: &str, sort: Sort, order: Order) -> Result<SortKey, QueryError> {
    let bad = || err("cursor", "not a cursor this server returned (take next_cursor from a previous page)");
    if cursor.len() > MAX_CURSOR_BYTES {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).map_err(|_| bad())?;
    let wire: CursorWire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if wire.s != sort.as_str() || wire.o != order.as_str() {
        return Err(err(
            "cursor",
            format!(
                "made for sort={}&order={}, not sort={}&order={} (start again without a cursor)",
                wire.s,
                wire.o,
                sort.as_str(),
                order.as_str()
            ),
        ));
    }
    match (sort, wire.t) {
        (Sort::Path, None) => Ok(SortKey::Path { path: wire.p, variant: wire.v }),
        (Sort::LastAccess, Some(t)) => {
            let at: DateTime<Utc> = DateTime::from_timestamp_micros(t).ok_or_else(bad)?;
            Ok(SortKey::LastAccess { at, path: wire.p, variant: wire.v })
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;

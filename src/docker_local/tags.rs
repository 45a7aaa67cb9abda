//! Tag syntax and the pagination of `tags/list`. Pure.
//!
//! Tags are listed in byte order (`COLLATE "C"` in the catalog, so `B` < `a`), `n` at a time
//! after `last`, as the distribution spec describes; when more remain the answer carries a
//! `Link: <...?n=N&last=T>; rel="next"` header pointing at the next page. The catalog is
//! asked for one tag more than the page holds, which tells whether a next page exists without
//! counting.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What the `last` parameter of a next link escapes (tags need none of it; `last` is checked).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_');

/// The longest tag the spec allows.
pub const MAX_TAG: usize = 128;
/// Page size when `n` is larger or absent (a repository with more tags is paged).
pub const MAX_PAGE: usize = 10_000;

/// Whether `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// What a `tags/list` request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pagination {
    /// Page size (at most [`MAX_PAGE`]).
    pub n: usize,
    /// List tags after this one.
    pub last: Option<String>,
}

/// Why the query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaginationError {
    #[error("n must be a whole number, not {0:?}")]
    N(String),
    #[error("last must be a tag, not {0:?}")]
    Last(String),
}

impl Pagination {
    /// Reads the (already decoded) `n` and `last` query parameters.
    pub fn parse(n: Option<&str>, last: Option<&str>) -> Result<Pagination, PaginationError> {
        let n = match n {
            None => MAX_PAGE as u64,
            Some(v) => v.parse::<u64>().map_err(|_| PaginationError::N(v.chars().take(40).collect()))?,
        };
        let last = match last {
            None | Some("") => None,
            Some(t) if valid_tag(t) => Some(t.to_string()),
            Some(t) => return Err(PaginationError::Last(t.chars().take(40).collect())),
        };
        Ok(Pagination { n: usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE), last })
    }

    /// How many tags to fetch: one more than the page, to learn whether more remain.
    pub fn fetch(&self) -> usize {
        self.n + 1
    }
}

/// One page of tags, and the tag the next page starts after, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub tags: Vec<String>,
    pub next_after: Option<String>,
}

/// Cuts the sorted tags fetched after `last` (at most [`Pagination::fetch`] of them) into a page.
pub fn page(mut fetched: Vec<String>, p: &Pagination) -> Page {
    if fetched.len() <= p.n {
        return Page { tags: fetched, next_after: None };
    }
    fetched.truncate(p.n);
    let next_after = fetched.last().cloned();
    Page { tags: fetched, next_after }
}

/// The `Link` header value of the next page of repository `name` (`local/image`).
pub fn next_link(name: &str, n: usize, after: &str) -> String {
    let last = utf8_percent_encode(after, QUERY);
    format!("</v2/{name}/tags/list?n={n}&last={last}>; rel=\"next\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_syntax() {
        let long = "a".repeat(128);
        let too_long = "a".repeat(129);
        for (tag, ok) in [
            ("latest", true),
            ("v1.2.3", true),
            ("_x", true),
            ("A-b_c.D", true),
            ("1", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            ("", false),
            (".x", false),
            ("-x", false),
            ("a/b", false),
            ("a:b", false),
            ("..", false),
            ("a b", false),
            ("a\0", false),
            ("sha256:abc", false),
            ("é", false),
        ] {
            assert_eq!(valid_tag(tag), ok, "{tag:?}");
        }
    }

    #[test]
    fn query_parameters() {
        let p = |n: Option<&str>, last: Option<&str>| Pagination::parse(n, last);
        let ok = |n: usize, last: Option<&str>| Ok(Pagination { n, last: last.map(String::from) });
        assert_eq!(p(None, None), ok(MAX_PAGE, None));
        assert_eq!(p(Some("2"), None), ok(2, None));
        assert_eq!(p(Some("0"), Some("v1")), ok(0, Some("v1")));
        assert_eq!(
            p(Some("99999999999999999999"), None).unwrap_err(),
            PaginationError::N("99999999999999999999".into())
        );
        assert_eq!(p(Some("100000"), None), ok(MAX_PAGE, None));
        assert_eq!(p(Some("5"), Some("")), ok(5, None));
        assert!(matches!(p(Some("-1"), None), Err(PaginationError::N(_))));
        assert!(matches!(p(Some("two"), None), Err(PaginationError::N(_))));
        assert!(matches!(p(Some(""), None), Err(PaginationError::N(_))));
        assert!(matches!(p(None, Some("../x")), Err(PaginationError::Last(_))));
        assert!(matches!(p(None, Some("a\0b")), Err(PaginationError::Last(_))));
        assert_eq!(Pagination { n: 3, last: None }.fetch(), 4);
    }

    #[test]
    fn pages_and_links() {
        let tags = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pg = |n| Pagination { n, last: None };
        type Case<'a> = (&'a [&'a str], usize, &'a [&'a str], Option<&'a str>);
        let cases: &[Case] = &[
            (&[], 5, &[], None),
            (&["a", "b"], 5, &["a", "b"], None),
            (&["a", "b"], 2, &["a", "b"], None),
            (&["a", "b", "c"], 2, &["a", "b"], Some("b")),
            (&["a"], 0, &[], None),
            (&["a", "b"], 1, &["a"], Some("a")),
        ];
        for (fetched, n, want, next) in cases {
            let got = page(tags(fetched), &pg(*n));
            assert_eq!(got, Page { tags: tags(want), next_after: next.map(String::from) }, "{fetched:?} n={n}");
        }
        assert_eq!(next_link("loc/team/app", 2, "v1.0"), "</v2/loc/team/app/tags/list?n=2&last=v1.0>; rel=\"next\"");
    }
}

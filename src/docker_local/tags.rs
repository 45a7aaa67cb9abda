//! The pagination of `tags/list`. Pure (the query itself is parsed by
//! [`crate::formats::docker::TagsPage`]).
//!
//! Tags are listed in byte order (`COLLATE "C"` in the catalog, so `B` < `a`), `n` at a time
//! after `last`, as the distribution spec describes; when more remain the answer carries a
//! `Link: <...?n=N&last=T>; rel="next"` header pointing at the next page. The catalog is
//! asked for one tag more than the page holds, which tells whether a next page exists without
//! counting.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What the `last` parameter of a next link escapes (tags need none of it).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_');

/// Page size when `n` is absent (a repository with more tags is paged).
pub const MAX_PAGE: usize = 10_000;

/// What a `tags/list` request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pagination {
    /// Page size.
    pub n: usize,
    /// List tags after this one.
    pub last: Option<String>,
}

impl Pagination {
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

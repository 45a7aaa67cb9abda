//! The pagination of `tags/list` and `_catalog`. Pure (the queries themselves are parsed by
//! [`crate::formats::docker::TagsPage`] and [`crate::formats::docker::CatalogPage`]).
//!
//! A virtual repository's tag list is the union of its members' lists ([`merge`]), paged the
//! same way; a remote's page passes through with a next link derived from the page itself
//! ([`passed_through`]).
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

/// The `Link` header value of the next page of `/v2/_catalog`.
pub fn catalog_link(n: usize, after: &str) -> String {
    let last = utf8_percent_encode(after, QUERY);
    format!("</v2/_catalog?n={n}&last={last}>; rel=\"next\"")
}

/// One page of the union of several tag lists (each in any order, duplicates allowed): sorted
/// in byte order, deduplicated, after `last`, `n` at a time.
pub fn merge(lists: impl IntoIterator<Item = Vec<String>>, p: &Pagination) -> Page {
    let all: std::collections::BTreeSet<String> = lists.into_iter().flatten().collect();
    let after = all.into_iter().filter(|t| p.last.as_ref().is_none_or(|last| t.as_str() > last.as_str()));
    page(after.take(p.fetch()).collect(), p)
}

/// The tag the next page of a remote's page starts after: the upstream was asked for `n`
/// tags (`None`: the whole list) and answered `tags`; a full page may have a next one. The
/// upstream's own `Link` is not followed: the next page is asked for the same way, through
/// this server, with `last` set to the page's last tag.
pub fn passed_through(n: Option<u32>, tags: &[String]) -> Option<String> {
    match n {
        Some(n) if n > 0 && tags.len() >= n as usize => tags.last().cloned(),
        _ => None,
    }
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
        assert_eq!(catalog_link(2, "loc/team/app"), "</v2/_catalog?n=2&last=loc%2Fteam%2Fapp>; rel=\"next\"");
    }

    #[test]
    fn member_lists_merge_sorted_and_deduplicated() {
        let tags = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let lists = || vec![tags(&["v2", "latest", "v1"]), tags(&[]), tags(&["v1", "B", "v3", "latest"])];
        type Case<'a> = (usize, Option<&'a str>, &'a [&'a str], Option<&'a str>);
        let cases: &[Case] = &[
            (10, None, &["B", "latest", "v1", "v2", "v3"], None),
            (2, None, &["B", "latest"], Some("latest")),
            (2, Some("latest"), &["v1", "v2"], Some("v2")),
            (2, Some("v2"), &["v3"], None),
            (5, None, &["B", "latest", "v1", "v2", "v3"], None),
            (3, Some("a"), &["latest", "v1", "v2"], Some("v2")),
            (3, Some("v3"), &[], None),
            (0, None, &[], None),
        ];
        for (n, last, want, next) in cases {
            let p = Pagination { n: *n, last: last.map(String::from) };
            let got = merge(lists(), &p);
            assert_eq!(got, Page { tags: tags(want), next_after: next.map(String::from) }, "n={n} last={last:?}");
        }
    }

    #[test]
    fn passed_through_pages_link_when_full() {
        let tags: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
        assert_eq!(passed_through(Some(5), &tags).as_deref(), Some("t4"));
        assert_eq!(passed_through(Some(6), &tags), None);
        assert_eq!(passed_through(None, &tags), None);
        assert_eq!(passed_through(Some(0), &tags), None);
        assert_eq!(passed_through(Some(3), &tags).as_deref(), Some("t4"));
    }
}

//! The query parameters of the registry API's listing endpoints, parsed and checked once.
//!
//! `tags/list?n=&last=` pages through a tag list; `_catalog?n=&last=` through the repositories
//! (`last` is a `{repository}/{image}` name); `referrers/{digest}?artifactType=` filters the
//! referrers. Both are forwarded to an upstream by remotes and applied by locals, so each has a
//! canonical form ([`TagsPage::canonical`], [`ReferrersFilter::canonical`]) that also serves as
//! the cache variant. Unknown parameters are ignored, as registries do.

use super::endpoint::EndpointError;
use super::grammar::{shorten, ImageName, Tag};
use crate::paths::is_repo_name;

/// Largest page size accepted (`n`).
pub const MAX_PAGE: u32 = 10_000;

/// `tags/list` paging.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagsPage {
    pub n: Option<u32>,
    pub last: Option<Tag>,
}

impl TagsPage {
    pub fn parse(query: &str) -> Result<TagsPage, EndpointError> {
        let mut page = TagsPage::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "n" => page.n = Some(page_size(&v)?),
                "last" => page.last = Some(Tag::parse(&v).map_err(EndpointError::TagInvalid)?),
                _ => {}
            }
        }
        Ok(page)
    }

    /// `n=10&last=v1` (only what is set, in that order); empty for the whole list.
    pub fn canonical(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(n) = self.n {
            q.append_pair("n", &n.to_string());
        }
        if let Some(last) = &self.last {
            q.append_pair("last", last.as_str());
        }
        q.finish()
    }
}

/// `_catalog` paging: `last` is a registry name, `{repository}/{image}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogPage {
    pub n: Option<u32>,
    pub last: Option<String>,
}

impl CatalogPage {
    pub fn parse(query: &str) -> Result<CatalogPage, EndpointError> {
        let mut page = CatalogPage::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "n" => page.n = Some(page_size(&v)?),
                "last" => {
                    let ok = matches!(v.split_once('/'), Some((repo, image))
                        if is_repo_name(repo) && ImageName::parse(image).is_ok());
                    if !ok {
                        return Err(EndpointError::NameInvalid(format!(
                            "last={:?}: expected a repository name, {{repository}}/{{image}}",
                            shorten(&v)
                        )));
                    }
                    page.last = Some(v.into_owned());
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

/// `n` of a listing: 0 to [`MAX_PAGE`].
fn page_size(v: &str) -> Result<u32, EndpointError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_PAGE)
        .ok_or_else(|| EndpointError::PaginationInvalid(format!("n={:?}: expected 0-{MAX_PAGE}", shorten(v))))
}

/// `referrers/{digest}` filtering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReferrersFilter {
    pub artifact_type: Option<String>,
}

impl ReferrersFilter {
    pub fn parse(query: &str) -> Result<ReferrersFilter, EndpointError> {
        let mut filter = ReferrersFilter::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if k == "artifactType" {
                if !is_media_type(&v) {
                    return Err(EndpointError::QueryInvalid(format!(
                        "artifactType={:?} is not a media type",
                        shorten(&v)
                    )));
                }
                filter.artifact_type = Some(v.into_owned());
            }
        }
        Ok(filter)
    }

    /// `artifactType=...` or empty.
    pub fn canonical(&self) -> String {
        match &self.artifact_type {
            Some(t) => url::form_urlencoded::Serializer::new(String::new()).append_pair("artifactType", t).finish(),
            None => String::new(),
        }
    }
}

/// `type/subtype` of RFC 6838 restricted-name characters, at most 255 bytes.
fn is_media_type(s: &str) -> bool {
    let name = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.as_bytes()[0].is_ascii_alphanumeric()
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!(s.split_once('/'), Some((t, sub)) if name(t) && name(sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_pages_parse_and_round_trip() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("", Ok("")),
            ("n=10", Ok("n=10")),
            ("last=v1.0&n=2", Ok("n=2&last=v1.0")),
            ("n=0", Ok("n=0")),
            ("other=x", Ok("")),
            ("n=-1", Err("PAGINATION")),
            ("n=abc", Err("PAGINATION")),
            ("n=99999999999", Err("PAGINATION")),
            ("last=..", Err("TAG")),
            ("last=a%2fb", Err("TAG")),
            ("last=", Err("TAG")),
        ];
        for (q, want) in cases {
            let got = TagsPage::parse(q).map(|p| p.canonical());
            match (got, want) {
                (Ok(c), Ok(w)) => assert_eq!(c, *w, "{q}"),
                (Err(EndpointError::PaginationInvalid(_)), Err("PAGINATION")) => {}
                (Err(EndpointError::TagInvalid(_)), Err("TAG")) => {}
                (got, want) => panic!("{q}: {got:?}, want {want:?}"),
            }
        }
    }

    /// A query and what it parses to: `n` and `last`, or the kind of refusal.
    type CatalogCase<'a> = (&'a str, Result<(Option<u32>, Option<&'a str>), &'a str>);

    #[test]
    fn catalog_pages_name_a_repository_and_image() {
        let cases: &[CatalogCase] = &[
            ("", Ok((None, None))),
            ("n=50", Ok((Some(50), None))),
            ("n=2&last=loc%2Fteam%2Fapp", Ok((Some(2), Some("loc/team/app")))),
            ("last=loc/app", Ok((None, Some("loc/app")))),
            ("n=10001", Err("PAGINATION")),
            ("n=x", Err("PAGINATION")),
            ("last=loc", Err("NAME")),
            ("last=loc/", Err("NAME")),
            ("last=/app", Err("NAME")),
            ("last=loc/../app", Err("NAME")),
            ("last=..%2Fapp", Err("NAME")),
            ("last=loc/App", Err("NAME")),
            ("last=loc\\app", Err("NAME")),
            ("last=loc/a%00b", Err("NAME")),
            ("last=", Err("NAME")),
        ];
        for (q, want) in cases {
            match (CatalogPage::parse(q), want) {
                (Ok(p), Ok((n, last))) => assert_eq!((p.n, p.last.as_deref()), (*n, *last), "{q}"),
                (Err(EndpointError::PaginationInvalid(_)), Err("PAGINATION")) => {}
                (Err(EndpointError::NameInvalid(_)), Err("NAME")) => {}
                (got, want) => panic!("{q}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn referrer_filters_are_media_types() {
        let ok = ReferrersFilter::parse("artifactType=application%2Fvnd.example.sbom%2Bjson").unwrap();
        assert_eq!(ok.artifact_type.as_deref(), Some("application/vnd.example.sbom+json"));
        assert_eq!(ok.canonical(), "artifactType=application%2Fvnd.example.sbom%2Bjson");
        assert_eq!(ReferrersFilter::parse("").unwrap().canonical(), "");
        for bad in
            ["artifactType=", "artifactType=plain", "artifactType=a/b/c", "artifactType=a%0a/b", "artifactType=../x"]
        {
            assert!(ReferrersFilter::parse(bad).is_err(), "{bad}");
        }
    }
}

//! The Forge v3 endpoints a puppet remote serves, parsed once from the decoded path and the
//! query string.
//!
//! Listings (`v3/modules`, `v3/releases`) are answered per query (`module=`, `limit=`,
//! `offset=`, ...): the query is part of what was asked, so it is part of the cache key and
//! is sent upstream. Dropping it once made puppet follow `pagination.next` back to the same
//! page forever. The query is kept in canonical form (pairs sorted, re-encoded) so that the
//! same question is one cached answer.

/// The longest query string accepted (`puppet module install` sends about 120 bytes).
pub const MAX_QUERY_BYTES: usize = 2048;
/// The longest module name part or version accepted.
pub const MAX_PART_BYTES: usize = 128;

/// A module release named `{author}-{name}-{version}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub author: String,
    pub name: String,
    pub version: String,
}

impl Release {
    /// `{author}-{name}-{version}`: the author and the name have no `-`, the version may.
    pub fn parse(slug: &str) -> Result<Release, String> {
        let mut parts = slug.splitn(3, '-');
        let (Some(author), Some(name), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{slug:?} is no release (author-name-version)"));
        };
        check_part(author, "author")?;
        check_part(name, "module name")?;
        check_version(version)?;
        Ok(Release { author: author.into(), name: name.into(), version: version.into() })
    }

    /// `{author}-{name}-{version}`.
    pub fn slug(&self) -> String {
        format!("{}-{}-{}", self.author, self.name, self.version)
    }

    /// The release archive's file name, `{slug}.tar.gz`.
    pub fn file_name(&self) -> String {
        format!("{}.tar.gz", self.slug())
    }
}

/// What a puppet request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `v3/modules` (a search listing).
    Modules,
    /// `v3/modules/{author}-{name}`.
    Module { slug: String },
    /// `v3/releases` (a listing, usually `?module=author-name`).
    Releases,
    /// `v3/releases/{author}-{name}-{version}`.
    Release(Release),
    /// `v3/files/{author}-{name}-{version}.tar.gz`: the archive its release document lists.
    File(Release),
    /// Anything else: the upstream's bytes (`immutable` for `.tar.gz` files).
    Other { immutable: bool },
}

impl Endpoint {
    /// Parses a decoded path relative to the repository.
    pub fn parse(path: &str) -> Result<Endpoint, String> {
        let segs: Vec<&str> = path.split('/').collect();
        Ok(match segs.as_slice() {
            ["v3", "modules"] | ["v3", "modules", ""] => Endpoint::Modules,
            ["v3", "modules", slug] => Endpoint::Module { slug: check_module(slug)?.to_string() },
            ["v3", "releases"] | ["v3", "releases", ""] => Endpoint::Releases,
            ["v3", "releases", slug] => Endpoint::Release(Release::parse(slug)?),
            ["v3", "files", file] => match file.strip_suffix(".tar.gz").filter(|s| !s.is_empty()) {
                Some(slug) => Endpoint::File(Release::parse(slug)?),
                None => Endpoint::Other { immutable: false },
            },
            ["v3", "modules" | "releases", ..] => return Err(format!("no Forge endpoint at {path:?}")),
            _ => {
                let name = path.rsplit('/').next().unwrap_or(path);
                Endpoint::Other { immutable: name.len() > ".tar.gz".len() && name.ends_with(".tar.gz") }
            }
        })
    }

    /// Whether this is a JSON document of the Forge API (keyed and fetched with its query).
    pub fn is_document(&self) -> bool {
        matches!(self, Endpoint::Modules | Endpoint::Module { .. } | Endpoint::Releases | Endpoint::Release(_))
    }
}

/// `{author}-{name}` (a module slug; Forge also accepts `author/name`, puppet sends `-`).
pub fn check_module(slug: &str) -> Result<&str, String> {
    let (author, name) = slug.split_once('-').ok_or_else(|| format!("{slug:?} is no module (author-name)"))?;
    check_part(author, "author")?;
    check_part(name, "module name")?;
    Ok(slug)
}

fn check_part(s: &str, what: &str) -> Result<(), String> {
    let ok = !s.is_empty() && s.len() <= MAX_PART_BYTES && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid {what} {s:?}"))
    }
}

/// A SemVer-like version: letters, digits, `.`, `-`, `+`.
pub fn check_version(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= MAX_PART_BYTES
        && v.as_bytes()[0].is_ascii_digit()
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid version {v:?}"))
    }
}

/// The query in canonical form: its pairs decoded, sorted, re-encoded (empty for none).
pub fn canonical_query(query: &str) -> Result<String, String> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(format!("query longer than {MAX_QUERY_BYTES} bytes"));
    }
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Err("NUL in the query".into());
    }
    pairs.sort();
    Ok(url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: &str, n: &str, v: &str) -> Release {
        Release { author: a.into(), name: n.into(), version: v.into() }
    }

    #[test]
    fn parses_every_forge_endpoint() {
        let cases: &[(&str, Endpoint)] = &[
            ("v3/modules", Endpoint::Modules),
            ("v3/modules/puppetlabs-stdlib", Endpoint::Module { slug: "puppetlabs-stdlib".into() }),
            ("v3/releases", Endpoint::Releases),
            ("v3/releases/", Endpoint::Releases),
            ("v3/releases/puppetlabs-stdlib-9.4.1", Endpoint::Release(rel("puppetlabs", "stdlib", "9.4.1"))),
            ("v3/releases/acme-app-1.0.0-rc.1", Endpoint::Release(rel("acme", "app", "1.0.0-rc.1"))),
            ("v3/files/acme-app_x-2.0.0.tar.gz", Endpoint::File(rel("acme", "app_x", "2.0.0"))),
            ("v3/files/.tar.gz", Endpoint::Other { immutable: false }),
            ("v3/files/readme.txt", Endpoint::Other { immutable: false }),
            ("files/acme-app-1.0.0.tar.gz", Endpoint::Other { immutable: true }),
            ("v3/users/puppetlabs", Endpoint::Other { immutable: false }),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::parse(path).as_ref(), Ok(want), "{path}");
        }
    }

    #[test]
    fn refuses_what_is_no_module_or_release() {
        let long = format!("v3/releases/a-b-{}", "1".repeat(MAX_PART_BYTES + 1));
        for path in [
            "v3/modules/stdlib",
            "v3/modules/a-b c",
            "v3/modules/a-b/extra",
            "v3/releases/a-b",
            "v3/releases/a-b-x1",
            "v3/releases/a-b-1.0;rm",
            "v3/files/a-b.tar.gz",
            "v3/files/a-b-1.0 0.tar.gz",
            long.as_str(),
        ] {
            assert!(Endpoint::parse(path).is_err(), "{path}");
        }
    }

    #[test]
    fn queries_are_canonical() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("module=a-b&limit=20", "limit=20&module=a-b"),
            ("limit=20&module=a%2Db", "limit=20&module=a-b"),
            ("exclude_fields=readme%20changelog&module=a-b", "exclude_fields=readme+changelog&module=a-b"),
        ];
        for (q, want) in cases {
            assert_eq!(canonical_query(q).as_deref(), Ok(*want), "{q}");
        }
        assert!(canonical_query(&"a=b&".repeat(MAX_QUERY_BYTES)).is_err());
        assert!(canonical_query("a=%00").is_err());
    }
}

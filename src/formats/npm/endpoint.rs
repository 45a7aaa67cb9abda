//! The npm registry's request paths, parsed once into an [`Endpoint`].
//!
//! A package name is `name` or `@scope/name`. Clients spell the scoped form `@scope%2fname`,
//! `@scope%2Fname`, `%40scope%2fname` or `@scope/name`; [`canonical_raw`] turns the one encoded
//! slash at the name's position into a real one before the path is parsed (anywhere else an
//! encoded slash stays and the path parser refuses it), and [`upstream_suffix`] spells a scoped
//! name `@scope%2fname` again for the upstream, as npm itself does. Names are checked the way
//! registries check names of existing packages: URL-safe characters, no leading `.` or `_`, at
//! most 214 bytes. Upper case is allowed: old packages such as `JSONStream` have it.

use std::borrow::Cow;

/// Longest package name npm accepts, scope included.
pub const MAX_NAME_BYTES: usize = 214;
/// Longest version or dist-tag in a path.
pub const MAX_VERSION_BYTES: usize = 256;
/// Longest tarball file name.
pub const MAX_FILE_BYTES: usize = 512;

/// A package name, borrowed from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'a> {
    /// `name` or `@scope/name`.
    pub full: &'a str,
    /// `name` without its scope.
    pub base: &'a str,
}

/// One request of the npm registry protocol (decoded path, relative to the registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `-/ping`: the registry is alive.
    Ping,
    /// `-/package/{name}/dist-tags`.
    DistTags(Name<'a>),
    /// `{name}`: the packument.
    Packument(Name<'a>),
    /// `{name}/{version-or-tag}`: one version's manifest.
    Version(Name<'a>, &'a str),
    /// `{name}/-/{file}`: a tarball.
    Tarball(Name<'a>, &'a str),
}

/// Why a path is no npm request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Malformed (a 400).
    #[error("{0}")]
    Invalid(String),
    /// Well formed, but no endpoint a proxy serves (a 404).
    #[error("{0}")]
    Unknown(String),
}

/// Whether `part` (a scope or an unscoped name) is one a registry can hold.
fn check_part(part: &str, what: &str) -> Result<(), EndpointError> {
    let invalid = |why: &str| Err(EndpointError::Invalid(format!("npm {what} {part:?} {why}")));
    if part.is_empty() {
        return invalid("is empty");
    }
    if part.starts_with('.') || part.starts_with('_') {
        return invalid("starts with '.' or '_'");
    }
    let url_safe = |c: char| c.is_ascii_alphanumeric() || "-._~!'()*".contains(c);
    if !part.chars().all(url_safe) {
        return invalid("has characters other than letters, digits and -._~!'()*");
    }
    if ["node_modules", "favicon.ico", "__proto__"].iter().any(|r| part.eq_ignore_ascii_case(r)) {
        return invalid("is reserved");
    }
    Ok(())
}

fn too_long(what: &str, len: usize, max: usize) -> EndpointError {
    EndpointError::Invalid(format!("npm {what} of {len} bytes is longer than {max}"))
}

/// Splits a package name off the front of `path`; returns it and the rest (after its `/`).
pub fn split_name(path: &str) -> Result<(Name<'_>, Option<&str>), EndpointError> {
    let first_end = path.find('/').unwrap_or(path.len());
    let name_end = if path.starts_with('@') {
        if first_end == path.len() {
            return Err(EndpointError::Invalid(format!("npm scope {path:?} without a package name")));
        }
        path[first_end + 1..].find('/').map_or(path.len(), |i| first_end + 1 + i)
    } else {
        first_end
    };
    let full = &path[..name_end];
    if full.len() > MAX_NAME_BYTES {
        return Err(too_long("package name", full.len(), MAX_NAME_BYTES));
    }
    let base = match full.strip_prefix('@') {
        Some(scoped) => {
            let (scope, base) = scoped.split_once('/').unwrap_or((scoped, ""));
            check_part(scope, "scope")?;
            base
        }
        None => full,
    };
    check_part(base, "package name")?;
    let rest = (name_end < path.len()).then(|| &path[name_end + 1..]);
    Ok((Name { full, base }, rest))
}

/// Checks a version or dist-tag as it may appear in a path.
pub fn check_version(v: &str) -> Result<(), EndpointError> {
    if v.len() > MAX_VERSION_BYTES {
        return Err(too_long("version", v.len(), MAX_VERSION_BYTES));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || "-.+_~".contains(c);
    if v.is_empty() || !v.chars().all(ok) || v.starts_with('.') {
        return Err(EndpointError::Invalid(format!("npm version or tag {v:?} is malformed")));
    }
    Ok(())
}

fn unknown(path: &str) -> EndpointError {
    EndpointError::Unknown(format!("{path:?} is no npm registry endpoint this proxy serves"))
}

impl<'a> Endpoint<'a> {
    /// Parses a decoded path (as [`crate::paths::RepoPath::as_str`] gives it).
    pub fn parse(path: &'a str) -> Result<Endpoint<'a>, EndpointError> {
        if path.ends_with('/') {
            return Err(unknown(path));
        }
        if let Some(rest) = path.strip_prefix("-/") {
            if rest == "ping" {
                return Ok(Endpoint::Ping);
            }
            if let Some(tags) = rest.strip_prefix("package/") {
                if let (name, Some("dist-tags")) = split_name(tags)? {
                    return Ok(Endpoint::DistTags(name));
                }
            }
            return Err(unknown(path));
        }
        let (name, rest) = split_name(path)?;
        let Some(rest) = rest else { return Ok(Endpoint::Packument(name)) };
        if let Some(file) = rest.strip_prefix("-/") {
            if file.len() > MAX_FILE_BYTES {
                return Err(too_long("tarball name", file.len(), MAX_FILE_BYTES));
            }
            if file.is_empty() || file.contains('/') {
                return Err(unknown(path));
            }
            return Ok(Endpoint::Tarball(name, file));
        }
        if rest.contains('/') {
            return Err(unknown(path));
        }
        check_version(rest)?;
        Ok(Endpoint::Version(name, rest))
    }

    /// The package the endpoint is about.
    pub fn name(&self) -> Option<Name<'a>> {
        match *self {
            Endpoint::Ping => None,
            Endpoint::DistTags(n) | Endpoint::Packument(n) | Endpoint::Version(n, _) | Endpoint::Tarball(n, _) => {
                Some(n)
            }
        }
    }
}

/// Whether the raw segment is `@...` or `%40...`.
fn is_scope(seg: &str) -> bool {
    seg.starts_with('@') || seg.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%40"))
}

/// The raw request path with the encoded slash of a scoped name (`@scope%2fname`,
/// `%40scope%2Fname`) made a real one; every other `%2f` is left for the path parser to refuse.
pub fn canonical_raw(raw: &str) -> Cow<'_, str> {
    // The name is the first segment, or the third one of `-/package/{name}/dist-tags`.
    let start = if raw.starts_with("-/package/") { "-/package/".len() } else { 0 };
    let seg_end = raw[start..].find('/').map_or(raw.len(), |i| start + i);
    let seg = &raw[start..seg_end];
    if !is_scope(seg) {
        return Cow::Borrowed(raw);
    }
    let lower = seg.to_ascii_lowercase();
    let Some(at) = lower.find("%2f") else { return Cow::Borrowed(raw) };
    let at = start + at;
    Cow::Owned(format!("{}/{}", &raw[..at], &raw[at + 3..]))
}

/// The upstream form of `encoded` (the path re-encoded segment by segment) of a request for
/// package `name` (`dist_tags`: the `-/package/{name}/dist-tags` endpoint): a scoped name as
/// `@scope%2fname`, the way npm asks registries for it.
pub fn upstream_suffix(name: &str, dist_tags: bool, encoded: String) -> String {
    if !name.starts_with('@') {
        return encoded;
    }
    // Names are URL-safe, so the encoded form holds them verbatim.
    let start = if dist_tags { "-/package/".len() } else { 0 };
    match encoded.get(start..).and_then(|rest| rest.find('/')) {
        Some(i) => format!("{}%2f{}", &encoded[..start + i], &encoded[start + i + 1..]),
        None => encoded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n<'a>(full: &'a str, base: &'a str) -> Name<'a> {
        Name { full, base }
    }

    #[test]
    fn endpoints_parse() {
        let cases: &[(&str, Endpoint)] = &[
            ("-/ping", Endpoint::Ping),
            ("lodash", Endpoint::Packument(n("lodash", "lodash"))),
            ("JSONStream", Endpoint::Packument(n("JSONStream", "JSONStream"))),
            ("@acme/util", Endpoint::Packument(n("@acme/util", "util"))),
            ("lodash/4.17.21", Endpoint::Version(n("lodash", "lodash"), "4.17.21")),
            ("lodash/latest", Endpoint::Version(n("lodash", "lodash"), "latest")),
            ("@acme/util/1.0.0-rc.1+b2", Endpoint::Version(n("@acme/util", "util"), "1.0.0-rc.1+b2")),
            ("lodash/-/lodash-4.17.21.tgz", Endpoint::Tarball(n("lodash", "lodash"), "lodash-4.17.21.tgz")),
            ("@acme/util/-/util-1.0.0.tgz", Endpoint::Tarball(n("@acme/util", "util"), "util-1.0.0.tgz")),
            ("-/package/lodash/dist-tags", Endpoint::DistTags(n("lodash", "lodash"))),
            ("-/package/@acme/util/dist-tags", Endpoint::DistTags(n("@acme/util", "util"))),
            ("foo.tgz", Endpoint::Packument(n("foo.tgz", "foo.tgz"))),
            ("-", Endpoint::Packument(n("-", "-"))),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::parse(path).as_ref(), Ok(want), "{path}");
        }
    }

    #[test]
    fn hostile_and_unknown_paths_are_refused() {
        let long_name = "a".repeat(MAX_NAME_BYTES + 1);
        let long_scoped = format!("@s/{}", "a".repeat(MAX_NAME_BYTES - 2));
        let long_version = format!("a/{}", "1".repeat(MAX_VERSION_BYTES + 1));
        let long_file = format!("a/-/{}.tgz", "a".repeat(MAX_FILE_BYTES));
        // (path, true: 400 Invalid, false: 404 Unknown)
        let cases: &[(&str, bool)] = &[
            (&long_name, true),
            (&long_scoped, true),
            (&long_version, true),
            (&long_file, true),
            ("@acme", true),
            ("@/util", true),
            ("@acme/", false),
            (".hidden", true),
            ("_private", true),
            ("@.acme/util", true),
            ("@acme/_util", true),
            ("node_modules", true),
            ("Node_Modules", true),
            ("__proto__", true),
            ("a b", true),
            ("a:b", true),
            ("a%2fb", true),
            ("café", true),
            ("@acme@x/util", true),
            ("a/1.0.0:x", true),
            ("a/.hidden", true),
            ("-/package/.x/dist-tags", true),
            ("lodash/", false),
            ("-/v1/search", false),
            ("-/whoami", false),
            ("-/user/org.couchdb.user:bob", false),
            ("-/package/lodash", false),
            ("-/package/lodash/access", false),
            ("lodash/-/", false),
            ("lodash/-/a/b.tgz", false),
            ("lodash/1.0.0/extra", false),
        ];
        for (path, invalid) in cases {
            match Endpoint::parse(path) {
                Err(EndpointError::Invalid(_)) if *invalid => {}
                Err(EndpointError::Unknown(_)) if !*invalid => {}
                other => panic!("{path:?}: {other:?}"),
            }
        }
        assert!(Endpoint::parse(&"a".repeat(MAX_NAME_BYTES)).is_ok());
    }

    #[test]
    fn scoped_names_in_every_spelling() {
        let cases: &[(&str, &str)] = &[
            ("@acme%2futil", "@acme/util"),
            ("@acme%2Futil", "@acme/util"),
            ("%40acme%2futil", "%40acme/util"),
            ("%40acme%2Futil/-/util-1.0.0.tgz", "%40acme/util/-/util-1.0.0.tgz"),
            ("@acme/util", "@acme/util"),
            ("@acme%2futil/1.0.0", "@acme/util/1.0.0"),
            ("-/package/@acme%2futil/dist-tags", "-/package/@acme/util/dist-tags"),
            // Only the slash at the name's position.
            ("@acme%2futil%2f..", "@acme/util%2f.."),
            ("@acme/util/-/..%2f..%2fx.tgz", "@acme/util/-/..%2f..%2fx.tgz"),
            ("lodash%2f..", "lodash%2f.."),
            ("a/@b%2fc", "a/@b%2fc"),
            ("-/package/lodash%2fx/dist-tags", "-/package/lodash%2fx/dist-tags"),
            ("@acme", "@acme"),
            ("%4", "%4"),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_raw(raw), *want, "{raw}");
        }
    }

    #[test]
    fn scoped_names_go_upstream_encoded() {
        let cases: &[(&str, &str, &str)] = &[
            ("@acme/util", "@acme/util", "@acme%2futil"),
            ("@acme/util/1.0.0", "@acme/util/1.0.0", "@acme%2futil/1.0.0"),
            ("-/package/@acme/util/dist-tags", "-/package/@acme/util/dist-tags", "-/package/@acme%2futil/dist-tags"),
            ("lodash", "lodash", "lodash"),
            ("-/package/lodash/dist-tags", "-/package/lodash/dist-tags", "-/package/lodash/dist-tags"),
            ("-/ping", "-/ping", "-/ping"),
        ];
        for (path, encoded, want) in cases {
            let endpoint = Endpoint::parse(path).unwrap();
            let name = endpoint.name().map_or("", |n| n.full);
            let dist_tags = matches!(endpoint, Endpoint::DistTags(_));
            assert_eq!(upstream_suffix(name, dist_tags, encoded.to_string()), *want, "{path}");
        }
    }
}

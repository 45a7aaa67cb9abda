//! The paths of a Python package index, parsed once.
//!
//! A remote's base URL is the index root (`https://pypi.org/`, a devpi index
//! `http://host/root/pypi/`): the simple API lives under `simple/`. `simple/` lists the projects,
//! `simple/{project}/` a project's files, and `simple/{project}/{file}` is where this server
//! serves each listed file (wherever the index says it really is). Project names follow the PEP
//! 508 grammar and are served in their normalised form (PEP 503: runs of `-`, `_`, `.` become one
//! `-`, lower case); any other spelling, and a project page without its trailing slash, is
//! redirected there, as pip expects. Parsing never allocates: it runs on the cache-hit path.

use super::PypiError;

/// Longest project name accepted (PyPI's longest are well under 100 bytes).
pub const MAX_NAME_BYTES: usize = 200;
/// Longest file name accepted (a file system's limit).
pub const MAX_FILE_BYTES: usize = 255;

/// What a path of a pypi remote asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `simple` without the slash: redirected to `simple/`.
    Root,
    /// `simple/`: every project.
    Index,
    /// `simple/{project}/`, or `simple/{project}` (`slash` false), with the name as requested.
    Project { name: &'a str, slash: bool },
    /// `simple/{project}/{file}`: a file the project's page lists (or its PEP 658 metadata).
    File { project: &'a str, file: &'a str },
    /// Anything outside `simple/`: the upstream's bytes below the base URL.
    Other,
}

impl<'a> Endpoint<'a> {
    /// Parses a decoded repository path ([`crate::paths::RepoPath::as_str`]).
    pub fn parse(path: &'a str) -> Result<Endpoint<'a>, PypiError> {
        let Some(rest) = path.strip_prefix("simple") else { return Ok(Endpoint::Other) };
        let rest = match rest.strip_prefix('/') {
            None if rest.is_empty() => return Ok(Endpoint::Root),
            None => return Ok(Endpoint::Other),
            Some("") => return Ok(Endpoint::Index),
            Some(rest) => rest,
        };
        let (name, tail) = match rest.split_once('/') {
            None => (rest, None),
            Some((name, tail)) => (name, Some(tail)),
        };
        check_name(name)?;
        match tail {
            None => Ok(Endpoint::Project { name, slash: false }),
            Some("") => Ok(Endpoint::Project { name, slash: true }),
            Some(file) if file.contains('/') => {
                Err(PypiError::NotServed(format!("{path:?} is no simple API path (simple/{{project}}/{{file}})")))
            }
            Some(file) => {
                check_file(file)?;
                Ok(Endpoint::File { project: name, file })
            }
        }
    }
}

/// Whether `name` is a project name of the PEP 508 grammar (`[A-Za-z0-9]`, then also `.`,
/// `_`, `-` inside), at most [`MAX_NAME_BYTES`] long.
pub fn check_name(name: &str) -> Result<(), PypiError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(PypiError::Invalid(format!("project name longer than {MAX_NAME_BYTES} bytes")));
    }
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(PypiError::Invalid(format!(
            "{name:?} is not a project name (letters, digits, '.', '_', '-'; starting and ending with a letter or digit)"
        )))
    }
}

/// The PEP 508 name grammar, without the length limit.
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() && b.iter().all(inner)
        }
        _ => false,
    }
}

/// Whether `name` is already in its normalised form.
pub fn is_normalised(name: &str) -> bool {
    let mut previous_dash = false;
    for c in name.bytes() {
        if c.is_ascii_uppercase() || c == b'_' || c == b'.' || (c == b'-' && previous_dash) {
            return false;
        }
        previous_dash = c == b'-';
    }
    true
}

/// The PEP 503 normalised form of a project name: runs of `-`, `_` and `.` become one `-`,
/// letters lower case.
pub fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

/// Whether `file` is a file name this server serves under `simple/{project}/`: at most
/// [`MAX_FILE_BYTES`], ASCII letters, digits and `._-+!~` (every distribution and metadata file
/// name an index produces), not starting with a dot.
pub fn is_valid_file(file: &str) -> bool {
    !file.is_empty()
        && file.len() <= MAX_FILE_BYTES
        && !file.starts_with('.')
        && file.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b'!' | b'~'))
}

fn check_file(file: &str) -> Result<(), PypiError> {
    if file.len() > MAX_FILE_BYTES {
        return Err(PypiError::Invalid(format!("file name longer than {MAX_FILE_BYTES} bytes")));
    }
    if is_valid_file(file) {
        Ok(())
    } else {
        Err(PypiError::Invalid(format!(
            "{file:?} is not a distribution file name (letters, digits and '._-+!~', not starting with '.')"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Endpoint::*;

    #[test]
    fn paths_parse_to_endpoints() {
        let cases: &[(&str, Endpoint)] = &[
            ("simple", Root),
            ("simple/", Index),
            ("simple/foo/", Project { name: "foo", slash: true }),
            ("simple/Foo_Bar/", Project { name: "Foo_Bar", slash: true }),
            ("simple/foo", Project { name: "foo", slash: false }),
            ("simple/a/", Project { name: "a", slash: true }),
            ("simple/zope.interface/", Project { name: "zope.interface", slash: true }),
            ("simple/foo/foo-1.0.tar.gz", File { project: "foo", file: "foo-1.0.tar.gz" }),
            (
                "simple/foo/foo-1.0+local-py3-none-any.whl.metadata",
                File { project: "foo", file: "foo-1.0+local-py3-none-any.whl.metadata" },
            ),
            ("simple/foo/foo-1!2.0.tar.gz", File { project: "foo", file: "foo-1!2.0.tar.gz" }),
            ("packages/ab/foo-1.0.whl", Other),
            ("simplex/foo/", Other),
            ("pypi/foo/json", Other),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::parse(path), Ok(*want), "{path}");
        }
    }

    #[test]
    fn hostile_names_are_refused() {
        let long_name = format!("simple/{}/", "a".repeat(MAX_NAME_BYTES + 1));
        let long_file = format!("simple/foo/{}.whl", "a".repeat(MAX_FILE_BYTES));
        // (path, Some(true): 400, Some(false): 404)
        let cases: &[(&str, bool)] = &[
            (&long_name, true),
            (&long_file, true),
            ("simple/-foo/", true),
            ("simple/foo-/", true),
            ("simple/.foo/", true),
            ("simple/fo o/", true),
            ("simple/foo%/", true),
            ("simple/foo@1/", true),
            ("simple/föö/", true),
            ("simple/foo;rm/", true),
            ("simple/foo/.hidden", true),
            ("simple/foo/a b.whl", true),
            ("simple/foo/a%2e.whl", true),
            ("simple/foo/<x>.whl", true),
            ("simple/foo/a?b.whl", true),
            ("simple/foo/bar/baz.whl", false),
            ("simple/foo/bar/", false),
        ];
        for (path, invalid) in cases {
            match Endpoint::parse(path) {
                Err(PypiError::Invalid(_)) if *invalid => {}
                Err(PypiError::NotServed(_)) if !invalid => {}
                other => panic!("{path}: {other:?}"),
            }
        }
        // The longest name and file name are accepted.
        let name = "a".repeat(MAX_NAME_BYTES);
        assert!(Endpoint::parse(&format!("simple/{name}/")).is_ok());
        let file = "a".repeat(MAX_FILE_BYTES);
        assert!(Endpoint::parse(&format!("simple/{name}/{file}")).is_ok());
    }

    #[test]
    fn names_normalise_as_pep_503_says() {
        let cases = [
            ("foo", "foo", true),
            ("Foo", "foo", false),
            ("foo_bar", "foo-bar", false),
            ("foo.bar", "foo-bar", false),
            ("foo--bar", "foo-bar", false),
            ("Foo._-Bar", "foo-bar", false),
            ("foo-bar", "foo-bar", true),
            ("zope.interface", "zope-interface", false),
            ("a1-b2", "a1-b2", true),
        ];
        for (name, normalised, already) in cases {
            assert_eq!(normalise(name), normalised, "{name}");
            assert_eq!(is_normalised(name), already, "{name}");
        }
    }
}

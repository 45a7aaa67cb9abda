//! The distribution spec's grammars for image names, tags, digests, plus artifactapi's own for
//! upload session ids.
//!
//! Each type is a checked newtype: once a [`ImageName`], [`Tag`] or [`UploadId`] exists it is
//! known to contain no `/`-escape, no `..`, no `%` and no control byte, so it can be used as part
//! of a catalog key, an upstream URL or a storage key without any further checking. The input is
//! the raw request path (still percent-encoded): none of these grammars allows `%`, so encoded
//! slashes and dots are refused as what they are, never decoded into something else.
//!
//! - name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most
//!   [`MAX_NAME_BYTES`] (the distribution spec's limit for a whole repository name).
//! - tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
//! - digest: see [`super::digest`] (`sha256:` or `sha512:`, lower-case hex).

use std::fmt;

pub use super::digest::{parse_digest, parse_oci_digest, sha512_of, OciDigest};

/// Longest image name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest tag (the spec's limit).
pub const MAX_TAG_BYTES: usize = 128;
/// Longest upload session id.
pub const MAX_UPLOAD_ID_BYTES: usize = 128;

/// An image name inside a repository (`library/alpine`, `team/app`), checked against the
/// spec's grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageName(String);

/// A tag (`latest`, `3.19`, `v1.0.0-rc_1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

/// An upload session id: 1-128 of `[A-Za-z0-9_-]` and inner `.`, chosen by the local registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

fn alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !alnum_lower(b[0]) || !alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: one '.', one or two '_', or any number of '-'.
        let start = i;
        let sep = b[i];
        while i < b.len() && b[i] == sep {
            i += 1;
        }
        let run = i - start;
        let ok = match sep {
            b'.' => run == 1,
            b'_' => run <= 2,
            b'-' => true,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

impl ImageName {
    /// Checks `s` (the raw path text) against the name grammar.
    pub fn parse(s: &str) -> Result<ImageName, String> {
        if s.is_empty() {
            return Err("empty image name".into());
        }
        if s.len() > MAX_NAME_BYTES {
            return Err(format!("image name longer than {MAX_NAME_BYTES} bytes"));
        }
        match s.split('/').find(|c| !is_component(c)) {
            None => Ok(ImageName(s.to_string())),
            Some(c) => Err(format!(
                "invalid image name component {:?}: lower-case letters and digits, separated by '.', '_', '__' or '-'",
                shorten(c)
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name has a single component (`alpine`, not `library/alpine`).
    pub fn is_single_component(&self) -> bool {
        !self.0.contains('/')
    }

    /// `prefix/name`; both parts are valid names, so the result is one too (when short enough).
    pub fn prefixed(&self, prefix: &str) -> Result<ImageName, String> {
        ImageName::parse(&format!("{prefix}/{}", self.0))
    }
}

impl Tag {
    pub fn parse(s: &str) -> Result<Tag, String> {
        let b = s.as_bytes();
        let first_ok = b.first().is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        let rest_ok = b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if first_ok && rest_ok && b.len() <= MAX_TAG_BYTES {
            Ok(Tag(s.to_string()))
        } else {
            Err(format!(
                "invalid tag {:?}: 1-{MAX_TAG_BYTES} of letters, digits, '_', '.', '-', not starting with '.' or '-'",
                shorten(s)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl UploadId {
    pub fn parse(s: &str) -> Result<UploadId, String> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= MAX_UPLOAD_ID_BYTES
            && b[0] != b'.'
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        if ok {
            Ok(UploadId(s.to_string()))
        } else {
            Err(format!("no upload session {:?}", shorten(s)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 80 characters of `s`, for messages (hostile input can be kilobytes long).
pub(crate) fn shorten(s: &str) -> String {
    if s.len() <= 80 {
        return s.to_string();
    }
    let mut end = 77;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
display_as_str!(ImageName, Tag, UploadId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        let long_ok = format!("a/{}", "b".repeat(MAX_NAME_BYTES - 2));
        let too_long = "a".repeat(MAX_NAME_BYTES + 1);
        let cases: &[(&str, bool)] = &[
            ("alpine", true),
            ("library/alpine", true),
            ("a/b/c/d", true),
            ("my-app", true),
            ("my--app", true),
            ("my_app", true),
            ("my__app", true),
            ("my.app", true),
            ("v1.2", true),
            ("0", true),
            (&long_ok, true),
            (&too_long, false),
            ("", false),
            ("Alpine", false),
            ("library/Alpine", false),
            ("my___app", false),
            ("my..app", false),
            ("-app", false),
            ("app-", false),
            (".app", false),
            ("app.", false),
            ("_app", false),
            ("..", false),
            (".", false),
            ("a/../b", false),
            ("a//b", false),
            ("/a", false),
            ("a/", false),
            ("a%2fb", false),
            ("%2e%2e", false),
            ("a\\b", false),
            ("a\0b", false),
            ("a b", false),
            ("a:b", false),
            ("ä", false),
        ];
        for (name, ok) in cases {
            assert_eq!(ImageName::parse(name).is_ok(), *ok, "{name:?}: {:?}", ImageName::parse(name));
        }
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        let max = "t".repeat(MAX_TAG_BYTES);
        let over = "t".repeat(MAX_TAG_BYTES + 1);
        let cases: &[(&str, bool)] = &[
            ("latest", true),
            ("3.19", true),
            ("v1.0.0-rc_1", true),
            ("_x", true),
            ("UPPER", true),
            (&max, true),
            (&over, false),
            ("", false),
            (".hidden", false),
            ("-x", false),
            ("..", false),
            ("a/b", false),
            ("a%2fb", false),
            ("a:b", false),
            ("a\0", false),
        ];
        for (tag, ok) in cases {
            assert_eq!(Tag::parse(tag).is_ok(), *ok, "{tag:?}");
        }
    }

    #[test]
    fn upload_ids_are_plain_tokens() {
        for (id, ok) in [
            ("3f2a9c1e-1b2c-4d5e-8f90-123456789abc", true),
            ("abc_DEF.1", true),
            ("", false),
            (".", false),
            ("..", false),
            (".x", false),
            ("a/b", false),
            ("a%2f", false),
            ("a:b", false),
        ] {
            assert_eq!(UploadId::parse(id).is_ok(), ok, "{id:?}");
        }
        assert!(UploadId::parse(&"a".repeat(MAX_UPLOAD_ID_BYTES + 1)).is_err());
    }

    #[test]
    fn messages_stay_short() {
        let err = ImageName::parse(&format!("{}A", "a".repeat(200))).unwrap_err();
        assert!(err.len() < 200, "{err}");
    }
}

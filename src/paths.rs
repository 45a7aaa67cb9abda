//! Request paths: the one place a client's path tail becomes something the rest of the service
//! may use as a catalog key, match patterns against, and append to an upstream base URL.
//!
//! [`RepoPath::parse`] takes the tail after `/api/v1/remote/{name}/` exactly as it arrived on
//! the wire (still percent-encoded) and refuses anything that could escape the repository or
//! mean different things to different parsers: dot segments in any spelling, encoded slashes,
//! backslashes, NUL and other control characters, empty segments, broken percent-encoding,
//! invalid UTF-8, and oversize paths. Each segment is decoded exactly once; a literal `%` that
//! survives decoding (`%252e` decodes to the text `%2e`) is just a character and is encoded
//! again on the way out, so no later decoding can turn it into a dot segment.
//!
//! A single trailing slash is kept (`simple/foo/` is a different resource from `simple/foo` to
//! a Python index), every other empty segment is refused.
//!
//! The upstream form re-encodes each segment with the RFC 3986 `pchar` set, so the result can
//! be appended to a base URL ending in `/` and always stays below it ([`join_upstream`]).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Whether `name` can be a repository name: 1-64 characters of `a-z`, `0-9`, `.`, `-`, `_`,
/// starting with a letter or digit, so it is safe as a path segment and a key everywhere.
pub fn is_repo_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Longest accepted path tail, in bytes as received.
pub const MAX_PATH_BYTES: usize = 4096;
/// Most segments accepted in one path.
pub const MAX_SEGMENTS: usize = 256;

/// Why a request path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty path")]
    Empty,
    #[error("path longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("path has more than {MAX_SEGMENTS} segments")]
    TooManySegments,
    #[error("empty path segment (leading or doubled slash)")]
    EmptySegment,
    #[error("'.' and '..' path segments are not allowed, in any spelling")]
    DotSegment,
    #[error("encoded slash (%2F) in a path segment")]
    EncodedSlash,
    #[error("backslash in path")]
    Backslash,
    #[error("NUL byte in path")]
    Nul,
    #[error("control character in path")]
    ControlCharacter,
    #[error("invalid percent-encoding (expected % followed by two hex digits)")]
    InvalidPercentEncoding,
    #[error("path is not valid UTF-8 once decoded")]
    InvalidUtf8,
}

/// A checked, decoded request path relative to a repository. Its `Debug` form is the decoded
/// path, quoted, as error messages name it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RepoPath {
    segments: Vec<String>,
    trailing_slash: bool,
    decoded: String,
}

/// Bytes that stay as they are in an upstream path segment: RFC 3986 `pchar` minus
/// pct-encoded, i.e. unreserved, sub-delims, `:` and `@`. Everything else is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// The first segment also encodes `:`, so the suffix can never read as a scheme
/// (RFC 3986 §4.2, `path-noscheme`), even to code that resolves it as a relative reference.
const FIRST_SEGMENT: &AsciiSet = &SEGMENT.add(b':');

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one raw segment strictly and checks what it decodes to.
fn decode_segment(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else { return Err(PathError::InvalidPercentEncoding) };
            i += 3;
            match (hi << 4) | lo {
                b'/' => return Err(PathError::EncodedSlash),
                b => b,
            }
        } else {
            i += 1;
            bytes[i - 1]
        };
        match b {
            0 => return Err(PathError::Nul),
            b'\\' => return Err(PathError::Backslash),
            _ => out.push(b),
        }
    }
    let text = String::from_utf8(out).map_err(|_| PathError::InvalidUtf8)?;
    // Covers C0, DEL and the C1 controls (U+0080..U+009F), encoded or not.
    if text.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    if text == "." || text == ".." {
        return Err(PathError::DotSegment);
    }
    Ok(text)
}

impl RepoPath {
    /// Checks and decodes the still-encoded path tail `raw`.
    pub fn parse(raw: &str) -> Result<RepoPath, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        let (body, trailing_slash) = match raw.strip_suffix('/') {
            Some(body) => (body, true),
            None => (raw, false),
        };
        if body.is_empty() {
            return Err(PathError::EmptySegment);
        }
        if body.split('/').count() > MAX_SEGMENTS {
            return Err(PathError::TooManySegments);
        }
        let segments = body
            .split('/')
            .map(|s| if s.is_empty() { Err(PathError::EmptySegment) } else { decode_segment(s) })
            .collect::<Result<Vec<_>, _>>()?;
        let mut decoded = segments.join("/");
        if trailing_slash {
            decoded.push('/');
        }
        Ok(RepoPath { segments, trailing_slash, decoded })
    }

    /// A path a package type derived from another one (decoded form, e.g. the index of a
    /// listed file): encoded segment by segment, then checked like a client's.
    pub fn from_decoded(path: &str) -> Result<RepoPath, PathError> {
        let encoded: Vec<String> =
            path.split('/').map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()).collect();
        RepoPath::parse(&encoded.join("/"))
    }

    /// The decoded path, segments joined by `/` (with the trailing slash if the request had
    /// one): the form for catalog keys, classification and pattern matching.
    pub fn as_str(&self) -> &str {
        &self.decoded
    }

    /// The decoded segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether the request path ended with `/`.
    pub fn has_trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// The path re-encoded for an upstream request, to be appended to a base URL ending in `/`.
    pub fn upstream_suffix(&self) -> String {
        let mut out = String::with_capacity(self.decoded.len() + 16);
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            let set = if i == 0 { FIRST_SEGMENT } else { SEGMENT };
            out.extend(percent_encoding::utf8_percent_encode(seg, set));
        }
        if self.trailing_slash {
            out.push('/');
        }
        out
    }
}

impl std::fmt::Debug for RepoPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.decoded, f)
    }
}

impl std::fmt::Display for RepoPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.decoded)
    }
}

/// The upstream URL of `p` below `base_url` (which ends with `/`; one is added if it does
/// not). The result always starts with `base_url`. Concatenate, never resolve with
/// `Url::join`: the base's last segment must stay.
pub fn join_upstream(base_url: &str, p: &RepoPath) -> String {
    join_upstream_suffix(base_url, &p.upstream_suffix())
}

/// `base_url` (with a `/` added if it has none) followed by an already encoded `suffix`.
pub fn join_upstream_suffix(base_url: &str, suffix: &str) -> String {
    let mut url = String::with_capacity(base_url.len() + 1 + suffix.len());
    url.push_str(base_url);
    if !url.ends_with('/') {
        url.push('/');
    }
    url.push_str(suffix);
    url
}

#[cfg(test)]
#[path = "paths_properties.rs"]
pub(crate) mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> RepoPath {
        RepoPath::parse(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"))
    }

    #[test]
    fn hostile_paths_are_refused_with_their_reason() {
        use PathError::*;
        let long = "a".repeat(MAX_PATH_BYTES + 1);
        let deep = vec!["a"; MAX_SEGMENTS + 1].join("/");
        let cases: &[(&str, PathError)] = &[
            ("", Empty),
            (&long, TooLong),
            (&deep, TooManySegments),
            ("/", EmptySegment),
            ("/a", EmptySegment),
            ("a//b", EmptySegment),
            ("a/b//", EmptySegment),
            ("//", EmptySegment),
            ("..", DotSegment),
            (".", DotSegment),
            ("a/../b", DotSegment),
            ("a/./b", DotSegment),
            ("a/..", DotSegment),
            ("../", DotSegment),
            ("%2e%2e/etc/passwd", DotSegment),
            ("a/%2E%2e/b", DotSegment),
            ("a/%2e%2E", DotSegment),
            ("a/.%2e/b", DotSegment),
            ("a/%2e./b", DotSegment),
            ("a/%2e/b", DotSegment),
            ("a/%2E", DotSegment),
            ("a%2fb", EncodedSlash),
            ("a%2F..%2Fb", EncodedSlash),
            ("..%2f", EncodedSlash),
            ("a\\b", Backslash),
            ("..\\..\\etc", Backslash),
            ("a%5cb", Backslash),
            ("a%5C..%5Cb", Backslash),
            ("a\0b", Nul),
            ("a%00b", Nul),
            ("a%00", Nul),
            ("a\nb", ControlCharacter),
            ("a%0ab", ControlCharacter),
            ("a%0D%0Ab", ControlCharacter),
            ("a%7f", ControlCharacter),
            ("a\tb", ControlCharacter),
            ("a%c2%85b", ControlCharacter),
            ("a%", InvalidPercentEncoding),
            ("a%2", InvalidPercentEncoding),
            ("a%zz", InvalidPercentEncoding),
            ("a%%32e", InvalidPercentEncoding),
            ("a%ff", InvalidUtf8),
            ("a%c3", InvalidUtf8),
            ("%c0%ae%c0%ae/etc", InvalidUtf8),
        ];
        for (raw, want) in cases {
            assert_eq!(RepoPath::parse(raw).as_ref(), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn normal_paths_decode_and_reencode() {
        // (raw, as_str, upstream_suffix)
        let cases = [
            ("a/b.txt", "a/b.txt", "a/b.txt"),
            ("pkg/1.0/foo%20bar.tar.gz", "pkg/1.0/foo bar.tar.gz", "pkg/1.0/foo%20bar.tar.gz"),
            ("@scope/name", "@scope/name", "@scope/name"),
            ("@scope/name/-/name-1.0.0.tgz", "@scope/name/-/name-1.0.0.tgz", "@scope/name/-/name-1.0.0.tgz"),
            ("simple/foo/", "simple/foo/", "simple/foo/"),
            ("caf%C3%A9/%E6%97%A5%E6%9C%AC.txt", "café/日本.txt", "caf%C3%A9/%E6%97%A5%E6%9C%AC.txt"),
            ("café/日本.txt", "café/日本.txt", "caf%C3%A9/%E6%97%A5%E6%9C%AC.txt"),
            (
                "github.com/!foo/bar/@v/v1.0.0+incompatible.zip",
                "github.com/!foo/bar/@v/v1.0.0+incompatible.zip",
                "github.com/!foo/bar/@v/v1.0.0+incompatible.zip",
            ),
            ("lib/blobs/sha256:abc", "lib/blobs/sha256:abc", "lib/blobs/sha256:abc"),
            ("sha256:abc/x", "sha256:abc/x", "sha256%3Aabc/x"),
            ("a/%7Euser", "a/~user", "a/~user"),
            ("a/...", "a/...", "a/..."),
            ("a/..b/.c", "a/..b/.c", "a/..b/.c"),
            ("q%3Fx%23y", "q?x#y", "q%3Fx%23y"),
            ("a/%252e%252e", "a/%2e%2e", "a/%252e%252e"),
            ("a/%25", "a/%", "a/%25"),
            ("a%2Bb", "a+b", "a+b"),
        ];
        for (raw, decoded, suffix) in cases {
            let p = ok(raw);
            assert_eq!(p.as_str(), decoded, "{raw:?}");
            assert_eq!(p.to_string(), decoded, "{raw:?}");
            assert_eq!(p.upstream_suffix(), suffix, "{raw:?}");
        }
        let p = ok("simple/foo/");
        assert_eq!(format!("{p:?}"), "\"simple/foo/\"");
        assert_eq!(p.segments(), ["simple", "foo"]);
        assert!(p.has_trailing_slash());
        assert!(!ok("a").has_trailing_slash());
    }

    #[test]
    fn limits_are_inclusive() {
        ok(&"a".repeat(MAX_PATH_BYTES));
        ok(&vec!["a"; MAX_SEGMENTS].join("/"));
    }

    #[test]
    fn joined_urls_stay_below_the_base() {
        let base = "https://upstream.example/repo/sub/";
        for raw in ["a/b.txt", "@scope/name", "sha256:abc/x", "a/%252e%252e/b", "q%3Fx%23y", "%E2%80%AE/x"] {
            let url = join_upstream(base, &ok(raw));
            assert!(url.starts_with(base), "{url}");
        }
        assert_eq!(join_upstream("http://h/base", &ok("x")), "http://h/base/x");
    }

    /// Every combination of hostile pieces either is refused or, once joined and parsed the way
    /// an HTTP client parses it, stays below the base path with no query or fragment.
    #[test]
    fn no_accepted_path_escapes_the_base() {
        let pieces = [
            "a",
            ".",
            "..",
            "...",
            "%2e",
            "%2E%2e",
            ".%2e",
            "%2f",
            "%5c",
            "\\",
            "%00",
            "%25",
            "%252e%252e",
            "%3f",
            "?",
            "#",
            "%23",
            ":",
            "x:y",
            "@",
            "~",
            "%",
            "%zz",
            "ü",
            "%c3%bc",
            "%ff",
            "%09",
            " ",
            "",
            "http:",
        ];
        let base = "http://127.0.0.1:9/base/dir/";
        let base_path = url::Url::parse(base).unwrap().path().to_string();
        let mut accepted = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let raw = format!("{a}/{b}{c}/{c}");
                    let Ok(p) = RepoPath::parse(&raw) else { continue };
                    accepted += 1;
                    let joined = join_upstream(base, &p);
                    assert!(joined.starts_with(base));
                    let url = url::Url::parse(&joined).unwrap_or_else(|e| panic!("{raw:?} -> {joined}: {e}"));
                    assert!(url.path().starts_with(&base_path), "{raw:?} escaped to {url}");
                    assert_eq!(url.query(), None, "{raw:?} -> {url}");
                    assert_eq!(url.fragment(), None, "{raw:?} -> {url}");
                    assert_eq!(url.path_segments().unwrap().count(), 2 + 3, "{raw:?} -> {url}");
                    let rel = url::Url::parse(base).unwrap().join(&p.upstream_suffix()).unwrap();
                    assert!(rel.as_str().starts_with(base), "{raw:?} resolved to {rel}");
                }
            }
        }
        assert!(accepted > 1000, "only {accepted} combinations accepted");
    }
}

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
//! - digest ([`OciDigest`]): `sha256:` and 64 lower-case hex digits, or `sha512:` and 128
//!   (the two algorithms the OCI image spec registers). The store names every blob by its
//!   SHA-256; a SHA-512 digest is checked while the bytes stream and then names the same blob
//!   (an alias in the catalog for locals, the cached object's path for remotes). Any other
//!   algorithm, and any other length or case, is refused as `DIGEST_INVALID`.

use std::fmt;

use artifactapi_actors::integrity::Integrity;
use artifactapi_actors::Digest;

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

/// A digest in one of the algorithms of the OCI spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OciDigest {
    /// What the store names every blob by.
    Sha256(Digest),
    /// Another name of a blob, checked against the bytes while they stream.
    Sha512([u8; 64]),
}

impl OciDigest {
    /// The SHA-256, when this is one.
    pub fn sha256(&self) -> Option<Digest> {
        match self {
            OciDigest::Sha256(d) => Some(*d),
            OciDigest::Sha512(_) => None,
        }
    }

    /// What a body named by this digest must match.
    pub fn integrity(&self) -> Integrity {
        match self {
            OciDigest::Sha256(d) => Integrity::Sha256(*d),
            OciDigest::Sha512(h) => Integrity::Sha512(Box::new(*h)),
        }
    }

    /// Whether `body` has this digest.
    pub fn matches(&self, body: &[u8]) -> bool {
        match self {
            OciDigest::Sha256(d) => Digest::of(body) == *d,
            OciDigest::Sha512(h) => sha512_of(body) == *h,
        }
    }
}

/// The SHA-512 of `body`.
pub fn sha512_of(body: &[u8]) -> [u8; 64] {
    use sha2::Digest as _;
    sha2::Sha512::digest(body).into()
}

impl From<Digest> for OciDigest {
    fn from(d: Digest) -> Self {
        OciDigest::Sha256(d)
    }
}

impl fmt::Display for OciDigest {
    /// The OCI form, `sha256:<hex>` or `sha512:<hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OciDigest::Sha256(d) => write!(f, "{d}"),
            OciDigest::Sha512(h) => write!(f, "sha512:{}", hex::encode(h)),
        }
    }
}

/// `hex` as `N` bytes: exactly `2N` lower-case hex digits.
fn lower_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let ok = hex.len() == 2 * N && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let mut out = [0u8; N];
    (ok && hex::decode_to_slice(hex, &mut out).is_ok()).then_some(out)
}

/// Parses a digest in the OCI form, `sha256:<64 hex>` or `sha512:<128 hex>`, lower case.
pub fn parse_oci_digest(s: &str) -> Result<OciDigest, String> {
    const FORMS: &str = "expected sha256:<64 lower-case hex> or sha512:<128 lower-case hex>";
    let Some((alg, enc)) = s.split_once(':') else {
        return Err(format!("invalid digest {:?}: {FORMS}", shorten(s)));
    };
    let alg_ok = !alg.is_empty() && alg.bytes().all(|b| alnum_lower(b) || matches!(b, b'+' | b'.' | b'_' | b'-'));
    let enc_ok = !enc.is_empty() && enc.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    let parsed = match alg {
        "sha256" => lower_hex::<32>(enc).map(|b| OciDigest::Sha256(Digest::from_bytes(b))),
        "sha512" => lower_hex::<64>(enc).map(OciDigest::Sha512),
        _ if alg_ok && enc_ok => {
            return Err(format!("unsupported digest algorithm {:?}: sha256 and sha512 are supported", shorten(alg)))
        }
        _ => None,
    };
    parsed.ok_or_else(|| format!("invalid digest {:?}: {FORMS}", shorten(s)))
}

/// Parses a `sha256:` digest: where only the store's own name is accepted (referrers).
pub fn parse_digest(s: &str) -> Result<Digest, String> {
    match parse_oci_digest(s)? {
        OciDigest::Sha256(d) => Ok(d),
        OciDigest::Sha512(_) => Err(format!("{}: only sha256 digests are accepted here", shorten(s))),
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
    fn digests_are_sha256_or_sha512() {
        let hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let h512 = hex::encode(sha512_of(b"hello"));
        assert_eq!(parse_digest(&format!("sha256:{hex}")).map(|d| d.hex()), Ok(hex.to_string()));
        let d512 = parse_oci_digest(&format!("sha512:{h512}")).unwrap();
        assert_eq!(d512, OciDigest::Sha512(sha512_of(b"hello")));
        assert_eq!(d512.to_string(), format!("sha512:{h512}"));
        assert!(d512.matches(b"hello") && !d512.matches(b"hello!"));
        assert_eq!(d512.sha256(), None);
        assert!(parse_digest(&format!("sha512:{h512}")).unwrap_err().contains("only sha256"));
        let unsupported = parse_oci_digest(&format!("blake3:{}", "ab".repeat(32))).unwrap_err();
        assert!(unsupported.contains("unsupported digest algorithm"), "{unsupported}");
        // (input, accepted)
        let cases: Vec<(String, bool)> = vec![
            (format!("sha256:{hex}"), true),
            (format!("sha512:{h512}"), true),
            (format!("sha512:{}", &h512[..127]), false),
            (format!("sha512:{}", &h512[..64]), false),
            (format!("sha512:{h512}0"), false),
            (format!("sha512:{}", h512.to_uppercase()), false),
            (format!("SHA512:{h512}"), false),
            (format!("sha512:{}", "g".repeat(128)), false),
            (format!("sha256:{h512}"), false),
            (format!("sha512:{hex}"), false),
            ("sha512:".to_string(), false),
            ("sha512:../../etc/passwd".to_string(), false),
            (format!("sha384:{}", "a".repeat(96)), false),
            (format!("md5:{}", "a".repeat(32)), false),
            (format!("sha512:{}\0", &h512[..127]), false),
        ];
        for (input, ok) in &cases {
            assert_eq!(parse_oci_digest(input).is_ok(), *ok, "{input}");
        }
        for bad in [
            hex.to_string(),
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{}", &hex[..63]),
            format!("sha256:{hex}0"),
            "sha256:".to_string(),
            ":abc".to_string(),
            "sha256:../../etc".to_string(),
            "sha256%3a00".to_string(),
            "..".to_string(),
        ] {
            assert!(parse_digest(&bad).is_err(), "{bad:?}");
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

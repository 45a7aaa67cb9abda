//! Digests as the OCI spec writes them: `sha256:` and 64 lower-case hex digits, or `sha512:`
//! and 128 (the two algorithms the OCI image spec registers).
//!
//! The store names every blob by its SHA-256. A SHA-512 digest is checked against the bytes
//! while they stream and then names the same blob: an alias in the catalog for a local
//! repository, the cached object's path for a remote. Any other algorithm, and any other length
//! or case, is refused as `DIGEST_INVALID`; an [`OciDigest`] that exists is well formed and can
//! be used in a catalog key, an upstream URL or a message without further checking.

use std::fmt;

use artifactapi_actors::integrity::Integrity;
use artifactapi_actors::Digest;

use super::grammar::shorten;

fn alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! Module paths and versions as Go means them, for goproxy locals: the proxy protocol's case
//! encoding undone ([`decode`]), canonical semantic versions ([`canonical`]) and their order
//! ([`latest`]), which `@latest` of a local answers with.
//!
//! Requests keep the encoded form (it is the cache key and the stored path); what a local
//! writes into `@v/list`, `.info` and compares with a zip's `module@version/` prefix is the
//! decoded one, as the `go` command writes it.

use std::cmp::Ordering;

/// The path or version that the case-encoded `s` stands for (`!x` is `X`); `None` when the
/// encoding is broken (the endpoint parser refuses such paths before this is asked).
pub fn decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        match (bang, c) {
            (true, 'a'..='z') => {
                out.push(c.to_ascii_uppercase());
                bang = false;
            }
            (true, _) => return None,
            (false, '!') => bang = true,
            (false, 'A'..='Z') => return None,
            (false, c) => out.push(c),
        }
    }
    (!bang).then_some(out)
}

/// The case encoding of a decoded path or version.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The semantic version `v` stands for, if it is canonical as Go writes it: `vMAJOR.MINOR.PATCH`
/// with an optional `-prerelease` and `+build` (`+incompatible`), no leading zeros.
pub fn canonical(v: &str) -> Option<semver::Version> {
    let parsed = semver::Version::parse(v.strip_prefix('v')?).ok()?;
    // semver accepts what Go's canonical form has; leading zeros are refused by both.
    Some(parsed)
}

/// Compares two decoded versions by semantic-version precedence (build metadata ignored, then
/// the text, so the order is total).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (canonical(a), canonical(b)) {
        (Some(x), Some(y)) => x.cmp_precedence(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}

/// The version `@latest` answers with, as the `go` command picks it from a list: the highest
/// release, or the highest pre-release when there is no release.
pub fn latest<'a>(versions: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let all: Vec<&str> = versions.into_iter().filter(|v| canonical(v).is_some()).collect();
    let release = all.iter().copied().filter(|v| canonical(v).is_some_and(|s| s.pre.is_empty()));
    release.max_by(|a, b| compare(a, b)).or_else(|| all.iter().copied().max_by(|a, b| compare(a, b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_encoding_round_trips() {
        let cases = [
            ("github.com/!burnt!sushi/toml", "github.com/BurntSushi/toml"),
            ("example.com/m", "example.com/m"),
            ("v1.0.0-!r!c1", "v1.0.0-RC1"),
        ];
        for (enc, dec) in cases {
            assert_eq!(decode(enc).as_deref(), Some(dec), "{enc}");
            assert_eq!(encode(dec), enc, "{dec}");
        }
        for bad in ["a!", "a!B", "aB", "!1"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn canonical_versions_and_their_order() {
        for ok in ["v1.0.0", "v0.0.0-20170915032832-14c0d48ead0c", "v2.0.0+incompatible", "v1.2.3-rc.1"] {
            assert!(canonical(ok).is_some(), "{ok}");
        }
        for bad in ["1.0.0", "v1.0", "v1", "master", "v01.0.0", "v1.0.0-", ""] {
            assert!(canonical(bad).is_none(), "{bad}");
        }
        assert_eq!(compare("v1.10.0", "v1.9.0"), Ordering::Greater);
        assert_eq!(compare("v1.0.0-rc.1", "v1.0.0"), Ordering::Less);
        assert_eq!(latest(["v1.0.0", "v1.10.0", "v1.9.0", "v2.0.0-rc.1"]), Some("v1.10.0"));
        assert_eq!(latest(["v2.0.0-rc.1", "v2.0.0-beta.1"]), Some("v2.0.0-rc.1"));
        assert_eq!(latest(["bogus"]), None);
        assert_eq!(latest([]), None);
    }
}

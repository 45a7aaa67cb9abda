//! Property tests of the path decoder ([`super::RepoPath`]): whatever a client sends, an
//! accepted path is relative, has no dot segment, NUL, backslash or control character once
//! decoded, survives a second decoding unchanged in meaning, and its upstream form appended to
//! a base URL stays below that base even for a URL parser that resolves `%2e%2e`.

use proptest::collection::vec;
use proptest::prelude::*;

use super::{join_upstream, RepoPath, MAX_PATH_BYTES, MAX_SEGMENTS};

const BASE: &str = "http://upstream.test/base/";

/// Pieces hostile paths are made of: every spelling of a dot segment and of a separator,
/// broken and overlong percent-encoding, controls, non-ASCII (shared with the formats' tests).
#[rustfmt::skip]
pub(crate) const HOSTILE_PIECES: &[&str] = &[
    "/", "/", "/", ".", "..", "%2e", "%2E", "%2e%2e", ".%2e", "%2f", "%2F", "%5c", "%5C", "\\", "%00", "\0",
    "%25", "%252e", "%", "%%", "%zz", "%c3%a9", "%ff", "%c0%ae", "%e2%80%ae", "%c2%85", "%7f", "é", "\u{85}",
    "\u{202e}", " ", "\t", "\r\n", "?", "#", ";", ":", "%3A", "@", "%40", "~", "+", "-", "_", "a", "b", "0",
];

fn raw_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => vec(proptest::sample::select(HOSTILE_PIECES), 1..40).prop_map(|t| t.concat()),
        1 => any::<String>(),
        1 => (MAX_PATH_BYTES - 2..MAX_PATH_BYTES + 2).prop_map(|n| "a/".repeat(n / 2 + 1)[..n].to_string()),
        1 => (MAX_SEGMENTS - 1..MAX_SEGMENTS + 2).prop_map(|n| vec!["s"; n].join("/")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn accepted_paths_stay_below_their_base(raw in raw_path()) {
        let Ok(p) = RepoPath::parse(&raw) else { return Ok(()) };
        let decoded = p.as_str();
        prop_assert!(!decoded.starts_with('/'), "{raw:?} decodes to the absolute {decoded:?}");
        prop_assert!(!decoded.contains('\\') && !decoded.contains('\0'), "{raw:?} decodes to {decoded:?}");
        prop_assert!(!decoded.chars().any(char::is_control), "{raw:?} decodes to {decoded:?}");
        for s in p.segments() {
            prop_assert!(s != "." && s != ".." && !s.is_empty() && !s.contains('/'), "{raw:?}: segment {s:?}");
        }
        let url = join_upstream(BASE, &p);
        prop_assert!(url.starts_with(BASE));
        let parsed = url::Url::parse(&url).map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
        prop_assert!(parsed.path().starts_with("/base/"), "{raw:?} goes upstream as {parsed}");
        // The upstream form reads back as the same path: one decoding, never two.
        let again = RepoPath::parse(&p.upstream_suffix()).map_err(|e| TestCaseError::fail(format!("{raw:?}: {e}")))?;
        prop_assert_eq!(again.as_str(), decoded);
        // A decoded path encoded again (a derived path) is accepted as itself.
        let derived = RepoPath::from_decoded(decoded).map_err(|e| TestCaseError::fail(format!("{raw:?}: {e}")))?;
        prop_assert_eq!(derived.as_str(), decoded);
    }
}

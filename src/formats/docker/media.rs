//! Manifest media types and the content negotiation of manifest requests.
//!
//! A registry may answer a tag with different manifests depending on the client's `Accept`
//! (an index for clients that take one, a single-platform manifest or an error for those that
//! do not). So a tag manifest is cached once per set of accepted manifest types (its
//! *variant*), and the upstream is asked with exactly that set. Clients send their types in
//! any order and with parameters (`;q=0.5`); the set is what matters, so it is normalised:
//! the known types in a fixed order, `*/*` kept, anything else dropped.
//!
//! Every current client (docker, podman, skopeo, containerd) accepts the four current types
//! (OCI index and manifest, Docker list and schema 2) and differs only in legacy extras; given
//! all four, a registry answers with the manifest as it was pushed. So those requests share one
//! variant (the empty one) and the upstream is asked with exactly the four; a pull by docker and
//! one by podman cost one upstream GET, not two. A manifest by digest has one content whatever
//! the `Accept`, so it has no variant either.

/// The manifest media types the registry API serves, with the short code used in variants.
/// The first four are the current types (see the module doc).
pub const MANIFEST_TYPES: &[(&str, &str)] = &[
    ("application/vnd.oci.image.index.v1+json", "oi"),
    ("application/vnd.oci.image.manifest.v1+json", "om"),
    ("application/vnd.docker.distribution.manifest.list.v2+json", "dl"),
    ("application/vnd.docker.distribution.manifest.v2+json", "d2"),
    ("application/vnd.docker.distribution.manifest.v1+prettyjws", "d1s"),
    ("application/vnd.docker.distribution.manifest.v1+json", "d1"),
    ("application/vnd.oci.artifact.manifest.v1+json", "oa"),
];

/// How many of [`MANIFEST_TYPES`] are current.
const CURRENT: usize = 4;

/// What a manifest request accepts, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManifestAccept {
    /// Indexes into [`MANIFEST_TYPES`], in table order.
    known: Vec<usize>,
    any: bool,
}

impl ManifestAccept {
    /// An `Accept` naming every known manifest type: what to ask for when any answer will do (a
    /// manifest by digest has one content whatever the client accepts).
    pub fn every_type() -> String {
        MANIFEST_TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
    }

    /// Reads every `Accept` header value of a request (they may be repeated or comma-joined).
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> ManifestAccept {
        let mut seen = [false; MANIFEST_TYPES.len()];
        let mut any = false;
        for item in values.into_iter().flat_map(|v| v.split(',')) {
            let media = item.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if media == "*/*" {
                any = true;
            } else if let Some(i) = MANIFEST_TYPES.iter().position(|(t, _)| *t == media) {
                seen[i] = true;
            }
        }
        ManifestAccept { known: (0..MANIFEST_TYPES.len()).filter(|i| seen[*i]).collect(), any }
    }

    /// Whether the four current types are all accepted.
    fn current(&self) -> bool {
        (0..CURRENT).all(|i| self.known.contains(&i))
    }

    /// The cache variant: empty when the four current types are accepted, `accept=none` when no
    /// manifest type is named, else e.g. `accept=om,d2`.
    pub fn variant(&self) -> String {
        if self.current() {
            return String::new();
        }
        if self.known.is_empty() && !self.any {
            return "accept=none".into();
        }
        let mut codes: Vec<&str> = self.known.iter().map(|i| MANIFEST_TYPES[*i].1).collect();
        if self.any {
            codes.push("any");
        }
        format!("accept={}", codes.join(","))
    }

    /// The `Accept` header to send upstream (`None`: send none).
    pub fn header(&self) -> Option<String> {
        if self.current() {
            return Some(MANIFEST_TYPES[..CURRENT].iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", "));
        }
        let mut types: Vec<&str> = self.known.iter().map(|i| MANIFEST_TYPES[*i].0).collect();
        if self.any {
            types.push("*/*");
        }
        (!types.is_empty()).then(|| types.join(", "))
    }
}

/// Whether `content_type` (a response's, parameters allowed) is a manifest media type.
pub fn is_manifest_type(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    MANIFEST_TYPES.iter().any(|(t, _)| t.eq_ignore_ascii_case(media))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_ignore_order_parameters_and_unknown_types() {
        let skopeo = [
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.index.v1+json",
        ];
        let shuffled = ["application/vnd.oci.image.index.v1+json;q=0.9, application/vnd.docker.distribution.manifest.list.v2+json,APPLICATION/VND.DOCKER.DISTRIBUTION.MANIFEST.V2+JSON , application/vnd.oci.image.manifest.v1+json, text/html"];
        let legacy_too = [
            "application/vnd.docker.distribution.manifest.v1+prettyjws, application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json, */*",
        ];
        let a = ManifestAccept::from_headers(skopeo);
        let b = ManifestAccept::from_headers(shuffled);
        assert_eq!(a, b);
        assert_eq!(a.variant(), "");
        let c = ManifestAccept::from_headers(legacy_too);
        assert_eq!((c.variant(), c.header()), (a.variant(), a.header()), "legacy extras share the variant");
        assert_eq!(
            a.header().as_deref(),
            Some("application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json")
        );
        let cases: &[(&[&str], &str, Option<&str>)] = &[
            (&[], "accept=none", None),
            (&["text/html", "application/json"], "accept=none", None),
            (&["*/*"], "accept=any", Some("*/*")),
            (
                &["application/vnd.docker.distribution.manifest.v2+json"],
                "accept=d2",
                Some("application/vnd.docker.distribution.manifest.v2+json"),
            ),
            (
                &["application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"],
                "accept=oi,om",
                Some("application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"),
            ),
        ];
        for (values, variant, header) in cases {
            let a = ManifestAccept::from_headers(values.iter().copied());
            assert_eq!(a.variant(), *variant, "{values:?}");
            assert_eq!(a.header().as_deref(), *header, "{values:?}");
        }
    }

    #[test]
    fn manifest_types_are_recognised() {
        assert!(is_manifest_type("application/vnd.oci.image.index.v1+json"));
        assert!(is_manifest_type("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"));
        assert!(!is_manifest_type("application/octet-stream"));
        assert!(!is_manifest_type("text/html"));
    }
}

//! Docker / OCI remotes: the Registry HTTP API V2 seen from its base URL.
//!
//! Paths end in `{name}/manifests/{reference}`, `{name}/blobs/{digest}` or `{name}/tags/list`,
//! where `{name}` may itself have any number of segments (and may even contain a segment called
//! `manifests`), so the decision reads the path from its end. A manifest fetched by digest and a
//! blob are content-addressed and cannot change; a manifest fetched by tag and the tag list can.
//! Tags cannot contain `:`, but they can look like the start of a digest (`sha256`,
//! `sha256-abc`): only a complete, well-formed digest makes a reference immutable.
//!
//! The `/v2/` surface (where the first path segment names the artifactapi repository and the
//! rest is the image name) is parsed once into an [`Endpoint`] by [`endpoint`], with the name,
//! tag and digest grammars of the distribution spec in [`grammar`]; [`hub`] knows Docker Hub's
//! `library/` convention, [`media`] the manifest media types a client's `Accept` asks for and
//! [`query`] the listing endpoints' query parameters.

pub mod endpoint;
pub mod grammar;
pub mod hub;
pub mod media;
pub mod query;

pub use endpoint::{Endpoint, EndpointError, Op, Reference, V2Path};
pub use grammar::{ImageName, Tag, UploadId};
pub use query::{ReferrersFilter, TagsPage};

use super::{segments, Class, Format, PackageType};

pub struct Docker;

/// Whether `s` is a complete digest of an algorithm the registry API uses.
pub fn is_digest(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else { return false };
    let len = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Format for Docker {
    fn package_type(&self) -> PackageType {
        PackageType::Docker
    }

    fn classify(&self, path: &str) -> Class {
        let segs = segments(path);
        let n = segs.len();
        if n < 2 {
            return Class::Mutable;
        }
        match (segs[n - 2], segs[n - 1]) {
            ("manifests" | "blobs", reference) if is_digest(reference) => Class::Immutable,
            _ => Class::Mutable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use Class::*;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn digests_are_immutable_tags_are_not() {
        let by_digest = format!("v2/library/alpine/manifests/{D}");
        let blob = format!("v2/library/alpine/blobs/{D}");
        let nested = format!("org/team/app/manifests/{D}");
        let sha512 = format!("app/blobs/sha512:{}", "ab".repeat(64));
        let name_called_manifests = format!("org/manifests/app/blobs/{D}");
        let upper = format!("app/manifests/{}", D.to_uppercase());
        let short = format!("app/manifests/{}", &D[..70]);
        check(
            &Docker,
            &[
                (&by_digest, Immutable),
                (&blob, Immutable),
                (&nested, Immutable),
                (&sha512, Immutable),
                (&name_called_manifests, Immutable),
                ("v2/library/alpine/manifests/latest", Mutable),
                ("v2/library/alpine/manifests/3.19", Mutable),
                ("v2/library/alpine/tags/list", Mutable),
                ("org/manifests/app/tags/list", Mutable),
                // Tags that look like the start of a digest are still tags.
                ("v2/library/alpine/manifests/sha256", Mutable),
                ("v2/library/alpine/manifests/sha256-2cf24dba5fb0a30e", Mutable),
                ("v2/library/alpine/manifests/sha256:", Mutable),
                (&upper, Mutable),
                (&short, Mutable),
                ("app/blobs/uploads/", Mutable),
                ("app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", Mutable),
                (&format!("manifests/{D}"), Immutable),
                ("v2/", Mutable),
                ("v2/_catalog", Mutable),
                ("", Mutable),
            ],
        );
    }
}

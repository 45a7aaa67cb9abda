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
//! tag and digest grammars of the distribution spec in [`grammar`] and [`digest`]; [`hub`]
//! knows Docker Hub's `library/` convention, [`media`] the manifest media types a client's
//! `Accept` asks for and [`query`] the listing endpoints' query parameters.

pub mod digest;
pub mod endpoint;
pub mod grammar;
pub mod hub;
pub mod media;
pub mod query;

pub use endpoint::{Endpoint, EndpointError, Op, Reference, V2Path, V2Route};
pub use grammar::{ImageName, OciDigest, Tag, UploadId};
pub use query::{CatalogPage, ReferrersFilter, TagsPage};

use std::borrow::Cow;

use media::ManifestAccept;

use super::{Class, Format, PackageType, Plan, ProtocolError, Repo, Request, Target};

pub struct Docker;

/// Largest manifest, tag list or referrers list cached (held whole until checked).
pub const MAX_METADATA_BYTES: usize = 16 << 20;

/// The media type referrers lists are asked for with.
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// A parsed `/v2/{repo}/...` request: the endpoint, the manifest types the client accepts, and
/// the canonical query of a listing (tag paging, referrers filter; empty otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerRequest {
    pub endpoint: Endpoint,
    pub accept: ManifestAccept,
    pub query: String,
}

/// Why a registry request is refused, each with its OCI code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// A pull of a tag the remote bans (`ban_tags`); pulls by digest are not affected.
    #[error("tag {tag:?} is banned on remote {remote} (ban_tags); pull by digest instead")]
    Banned { tag: String, remote: String },
    /// An upload to a pull-through cache.
    #[error("{0} is a remote repository (a pull-through cache): uploads are not supported; push to a local docker repository")]
    UploadToRemote(String),
}

impl ProtocolError for DockerError {
    fn code(&self) -> &'static str {
        match self {
            DockerError::Endpoint(e) => e.code(),
            DockerError::Banned { .. } => "DENIED",
            DockerError::UploadToRemote(_) => "UNSUPPORTED",
        }
    }
    fn status(&self) -> u16 {
        match self {
            DockerError::Endpoint(e) => e.status(),
            DockerError::Banned { .. } => 403,
            DockerError::UploadToRemote(_) => 405,
        }
    }
}

impl EndpointError {
    /// The OCI error code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            EndpointError::NameInvalid(_) => "NAME_INVALID",
            EndpointError::TagInvalid(_) => "TAG_INVALID",
            EndpointError::DigestInvalid(_) => "DIGEST_INVALID",
            EndpointError::UploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            EndpointError::NoRoute(_) | EndpointError::QueryInvalid(_) => "UNSUPPORTED",
            EndpointError::PaginationInvalid(_) => "PAGINATION_NUMBER_INVALID",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            EndpointError::UploadUnknown(_) | EndpointError::NoRoute(_) => 404,
            _ => 400,
        }
    }
}

/// The path of `path` (`v2/{image}/...`) below a base URL: the registry root is the base URL
/// itself, or its parent when the base was configured with a trailing `v2/`.
fn below_base(base_url: &str, path: &str) -> String {
    let with_v2 = base_url.strip_suffix("v2/").is_some_and(|root| root.ends_with('/') && root.contains("://"));
    match path.strip_prefix("v2/") {
        Some(rest) if with_v2 => rest.to_string(),
        _ => path.to_string(),
    }
}

/// What bytes named by `d` must be: their SHA-256, or a SHA-512 checked while they stream.
fn by_digest(d: &OciDigest) -> Target {
    match d {
        OciDigest::Sha256(d) => Target { expected: Some(*d), ..Target::default() },
        OciDigest::Sha512(_) => Target { integrity: Some(d.integrity()), ..Target::default() },
    }
}

impl Format for Docker {
    const TYPE: PackageType = PackageType::Docker;
    type Endpoint = DockerRequest;
    type Error = DockerError;

    fn parse(&self, req: &Request<'_>) -> Result<DockerRequest, DockerError> {
        let endpoint = Endpoint::parse(req.repo, req.path)?;
        let query = match &endpoint.op {
            Op::Tags => TagsPage::parse(req.query)?.canonical(),
            Op::Referrers(_) => ReferrersFilter::parse(req.query)?.canonical(),
            _ => String::new(),
        };
        let accept = ManifestAccept::from_headers(req.accept.iter().copied());
        Ok(DockerRequest { endpoint, accept, query })
    }

    /// The upstream image name (with Docker Hub's `library/`), so a pattern `^library/postgres`
    /// means the same whichever way the client spelled the official image.
    fn subject<'e>(&self, e: &'e DockerRequest, repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Owned(hub::upstream_name(repo.base_url, &e.endpoint.name).as_str().to_string())
    }

    /// Blobs and manifests by digest never change; tags, tag lists and referrers do.
    fn classify(&self, e: &DockerRequest) -> Class {
        Class::immutable_if(matches!(e.endpoint.op, Op::Blob(_) | Op::Manifest(Reference::Digest(_))))
    }

    /// The catalog path of an object is its upstream path relative to the registry root
    /// (`v2/library/alpine/manifests/3.19`). A tag manifest is cached once per set of accepted
    /// manifest types and revalidated with a HEAD comparing digests; manifests, tag lists and
    /// referrers are held until whole (so their digest is known before the answer starts);
    /// blobs stream, checked against their digest.
    fn plan(&self, e: &DockerRequest, repo: &Repo<'_>) -> Result<Plan<DockerRequest>, DockerError> {
        let image = hub::upstream_name(repo.base_url, &e.endpoint.name);
        let (path, mut target) = match &e.endpoint.op {
            Op::Manifest(Reference::Tag(tag)) => {
                if repo.ban_tags.iter().any(|t| t == tag.as_str()) {
                    return Err(DockerError::Banned { tag: tag.as_str().to_string(), remote: repo.name.to_string() });
                }
                let t = Target {
                    variant: e.accept.variant(),
                    accept: e.accept.header(),
                    revalidate_by_digest: true,
                    ..Target::default()
                };
                (format!("v2/{image}/manifests/{tag}"), t)
            }
            // The bytes are fixed by the digest: ask for every type so any manifest comes back.
            Op::Manifest(Reference::Digest(d)) => {
                let t = Target { accept: Some(ManifestAccept::every_type()), ..by_digest(d) };
                (format!("v2/{image}/manifests/{d}"), t)
            }
            Op::Blob(d) => (format!("v2/{image}/blobs/{d}"), by_digest(d)),
            Op::Tags => {
                let t = Target { variant: e.query.clone(), query: e.query.clone(), ..Target::default() };
                (format!("v2/{image}/tags/list"), t)
            }
            Op::Referrers(d) => {
                let t = Target {
                    variant: e.query.clone(),
                    query: e.query.clone(),
                    accept: Some(INDEX_TYPE.to_string()),
                    ..Target::default()
                };
                (format!("v2/{image}/referrers/{d}"), t)
            }
            Op::UploadStart | Op::Upload(_) => return Err(DockerError::UploadToRemote(repo.name.to_string())),
        };
        target.held = !matches!(e.endpoint.op, Op::Blob(_));
        target.upstream = below_base(repo.base_url, &path);
        target.path = path;
        target.token_scope = Some(format!("repository:{image}:pull"));
        Ok(Plan::Bytes(target))
    }

    /// Manifests, tag lists and referrers lists are JSON of bounded size: an HTML error page or
    /// a runaway answer is never cached as one.
    fn check_document(&self, _e: &DockerRequest, body: &[u8]) -> Result<(), String> {
        if body.len() > MAX_METADATA_BYTES {
            return Err(format!("registry answer of {} bytes is larger than {MAX_METADATA_BYTES}", body.len()));
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map(drop)
            .map_err(|e| format!("registry answer is not JSON: {e}"))
    }
}

/// The tags of a registry's `tags/list` answer (`{"name":...,"tags":[...]}`; `tags` may be
/// `null` or absent for an image without tags). Each must be a valid tag.
pub fn tag_list(body: &[u8]) -> Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct List {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    if body.len() > MAX_METADATA_BYTES {
        return Err(format!("tag list of {} bytes is larger than {MAX_METADATA_BYTES}", body.len()));
    }
    let list: List = serde_json::from_slice(body).map_err(|e| format!("tag list is not JSON: {e}"))?;
    let tags = list.tags.unwrap_or_default();
    match tags.iter().find(|t| Tag::parse(t).is_err()) {
        Some(bad) => Err(format!("tag list names an invalid tag {:?}", grammar::shorten(bad))),
        None => Ok(tags),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, get};
    use super::*;
    use Class::*;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn digests_are_immutable_tags_are_not() {
        let by_digest = format!("library/alpine/manifests/{D}");
        let blob = format!("library/alpine/blobs/{D}");
        let nested = format!("org/team/app/manifests/{D}");
        let name_called_manifests = format!("org/manifests/app/blobs/{D}");
        let upper = format!("app/manifests/{}", D.to_uppercase());
        let blob512 = format!("app/blobs/sha512:{}", "ab".repeat(64));
        let manifest512 = format!("app/manifests/sha512:{}", "0f".repeat(64));
        let short512 = format!("app/manifests/sha512:{}", "0f".repeat(63));
        let short = format!("app/manifests/{}", &D[..70]);
        check(
            &Docker,
            &[
                (&by_digest, Immutable),
                (&blob, Immutable),
                (&nested, Immutable),
                (&name_called_manifests, Immutable),
                (&blob512, Immutable),
                (&manifest512, Immutable),
                (&short512, Mutable),
                ("library/alpine/manifests/latest", Mutable),
                ("library/alpine/manifests/3.19", Mutable),
                ("library/alpine/tags/list", Mutable),
                ("org/manifests/app/tags/list", Mutable),
                // Tags that look like the start of a digest are still tags.
                ("library/alpine/manifests/sha256", Mutable),
                ("library/alpine/manifests/sha256-2cf24dba5fb0a30e", Mutable),
                ("library/alpine/manifests/sha256:", Mutable),
                (&upper, Mutable),
                (&short, Mutable),
                ("app/blobs/uploads/", Mutable),
                ("app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", Mutable),
            ],
        );
    }

    fn plan(base: &str, path: &str, query: &str, bans: &[String]) -> Result<Target, DockerError> {
        let req = Request { query, ..get(path) };
        let e = Docker.parse(&req)?;
        match Docker.plan(&e, &Repo { name: "hub", base_url: base, ban_tags: bans })? {
            Plan::Bytes(t) => Ok(t),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn targets_name_the_upstream_image_and_what_the_bytes_must_be() {
        let hub = "https://registry-1.docker.io/";
        let t = plan(hub, "alpine/manifests/3.19", "", &[]).unwrap();
        assert_eq!(
            (t.path.as_str(), t.upstream.as_str()),
            ("v2/library/alpine/manifests/3.19", "v2/library/alpine/manifests/3.19")
        );
        assert!(t.held && t.revalidate_by_digest && t.expected.is_none());
        assert_eq!(t.token_scope.as_deref(), Some("repository:library/alpine:pull"));
        let t = plan("https://mirror.example/v2/", &format!("app/blobs/{D}"), "", &[]).unwrap();
        assert_eq!(
            (t.path.as_str(), t.upstream.as_str()),
            (format!("v2/app/blobs/{D}").as_str(), format!("app/blobs/{D}").as_str())
        );
        assert!(!t.held && t.expected.is_some());
        let t = plan("https://mirror.example/notv2/", "app/tags/list", "last=a&n=5&x=1", &[]).unwrap();
        assert_eq!(
            (t.upstream.as_str(), t.query.as_str(), t.variant.as_str()),
            ("v2/app/tags/list", "n=5&last=a", "n=5&last=a")
        );
        let banned = plan(hub, "alpine/manifests/latest", "", &["latest".to_string()]).unwrap_err();
        assert_eq!((banned.code(), banned.status()), ("DENIED", 403));
        assert!(plan(hub, &format!("alpine/manifests/{D}"), "", &["latest".to_string()]).is_ok());
        let upload = plan(hub, "alpine/blobs/uploads/", "", &[]).unwrap_err();
        assert_eq!((upload.code(), upload.status()), ("UNSUPPORTED", 405));
        let h512 = grammar::sha512_of(b"layer");
        let d512 = OciDigest::Sha512(h512);
        let t = plan(hub, &format!("alpine/blobs/{d512}"), "", &[]).unwrap();
        assert_eq!(t.path, format!("v2/library/alpine/blobs/{d512}"));
        assert_eq!((t.expected, t.integrity), (None, Some(d512.integrity())));
        let t = plan(hub, &format!("alpine/manifests/{d512}"), "", &[]).unwrap();
        assert!(t.held && t.expected.is_none() && t.integrity.is_some());
        let page = plan(hub, "alpine/tags/list", "n=x", &[]).unwrap_err();
        assert_eq!(page.code(), "PAGINATION_NUMBER_INVALID");
    }

    #[test]
    fn tag_lists_are_read_and_checked() {
        let cases: &[(&str, Result<&[&str], ()>)] = &[
            (r#"{"name":"app","tags":["v1","latest"]}"#, Ok(&["v1", "latest"])),
            (r#"{"name":"app","tags":null}"#, Ok(&[])),
            (r#"{"name":"app"}"#, Ok(&[])),
            (r#"{"name":"app","tags":["../x"]}"#, Err(())),
            (r#"{"name":"app","tags":[""]}"#, Err(())),
            (r#"{"name":"app","tags":"v1"}"#, Err(())),
            ("<html>rate limited</html>", Err(())),
        ];
        for (body, want) in cases {
            let got = tag_list(body.as_bytes());
            match want {
                Ok(tags) => assert_eq!(
                    got.as_deref().map(|v| v.iter().map(String::as_str).collect::<Vec<_>>()),
                    Ok(tags.to_vec()),
                    "{body}"
                ),
                Err(()) => assert!(got.is_err(), "{body}: {got:?}"),
            }
        }
    }

    #[test]
    fn registry_answers_must_be_json() {
        let e = Docker.parse(&get("app/manifests/v1")).unwrap();
        assert!(Docker.check_document(&e, b"{\"schemaVersion\":2}").is_ok());
        assert!(Docker.check_document(&e, b"<html>oops</html>").is_err());
    }
}

//! The `/v2/` request path as a typed endpoint, parsed once from the raw (still
//! percent-encoded) request path.
//!
//! `/v2/{repo}/{image...}/{operation}`: the first segment after `/v2/` names the artifactapi
//! repository, the rest up to the operation is the image name, which may have any number of
//! segments (and may even contain a segment called `manifests` or `blobs`), so the operation is
//! read from the end of the path:
//!
//! | path tail | [`Op`] |
//! |---|---|
//! | `manifests/{tag or digest}` | [`Op::Manifest`] |
//! | `blobs/{digest}` | [`Op::Blob`] |
//! | `blobs/uploads/` (or without the slash) | [`Op::UploadStart`] |
//! | `blobs/uploads/{id}` | [`Op::Upload`] |
//! | `tags/list` | [`Op::Tags`] |
//! | `referrers/{digest}` | [`Op::Referrers`] |
//!
//! The method is not part of the endpoint: each handler decides what it allows. Query
//! parameters (`n`, `last`, `digest`, `mount`, `from`, `artifactType`) are read by the handler
//! that needs them. Parse errors carry the OCI error code they answer with.

use artifactapi_actors::Digest;

use super::grammar::{parse_digest, parse_oci_digest, shorten, ImageName, OciDigest, Tag, UploadId};
use crate::paths::is_repo_name;

/// Longest raw `/v2/...` path accepted, in bytes.
pub const MAX_V2_PATH_BYTES: usize = 2048;

/// A parsed `/v2` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Path {
    /// `/v2/` (or `/v2`): the API version check.
    Base,
    /// `/v2/_catalog`: listing every repository (not offered).
    Catalog,
    /// `/v2/{repo}/{image}/...`: an operation on one image of one repository.
    Image(Endpoint),
}

/// One operation on image `name` of the artifactapi repository `repo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The artifactapi repository (checked like every repository name; the lookup is the
    /// router's).
    pub repo: String,
    /// The image name inside the repository, as the client wrote it.
    pub name: ImageName,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Manifest(Reference),
    Blob(OciDigest),
    /// `blobs/uploads/`: start an upload (or mount, or a monolithic upload with `?digest=`).
    UploadStart,
    /// `blobs/uploads/{id}`: continue, finish, inspect or cancel an upload.
    Upload(UploadId),
    Tags,
    Referrers(Digest),
}

/// What `manifests/{reference}` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(OciDigest),
}

impl Reference {
    /// A reference containing `:` is a digest (tags cannot contain one), anything else a tag.
    pub fn parse(s: &str) -> Result<Reference, EndpointError> {
        if s.contains(':') {
            parse_oci_digest(s).map(Reference::Digest).map_err(EndpointError::DigestInvalid)
        } else {
            Tag::parse(s).map(Reference::Tag).map_err(EndpointError::TagInvalid)
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Tag(t) => write!(f, "{t}"),
            Reference::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// Why a `/v2` path was refused; each variant is one OCI error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// `NAME_INVALID` (400): the repository or image name breaks the grammar.
    #[error("{0}")]
    NameInvalid(String),
    /// `TAG_INVALID` (400).
    #[error("{0}")]
    TagInvalid(String),
    /// `DIGEST_INVALID` (400).
    #[error("{0}")]
    DigestInvalid(String),
    /// `BLOB_UPLOAD_UNKNOWN` (404): not an upload id this server could have issued.
    #[error("{0}")]
    UploadUnknown(String),
    /// No endpoint of the API (404, `UNSUPPORTED`).
    #[error("{0}")]
    NoRoute(String),
    /// `PAGINATION_NUMBER_INVALID` (400): `n` of a tag list is no page size.
    #[error("{0}")]
    PaginationInvalid(String),
    /// A query parameter the endpoint cannot use (400, `UNSUPPORTED`).
    #[error("{0}")]
    QueryInvalid(String),
}

/// The first cut of a `/v2` path: the version check, the catalog, or a repository and the raw
/// rest of the path (which [`Endpoint::parse`] reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V2Route<'a> {
    Base,
    Catalog,
    Repo { repo: &'a str, tail: &'a str },
}

impl<'a> V2Route<'a> {
    /// Splits the raw request path (`req.uri().path()`, which starts with `/v2`); checks the
    /// repository name.
    pub fn parse(raw: &'a str) -> Result<V2Route<'a>, EndpointError> {
        if raw.len() > MAX_V2_PATH_BYTES {
            return Err(EndpointError::NameInvalid(format!("path longer than {MAX_V2_PATH_BYTES} bytes")));
        }
        let rest = match raw.strip_prefix("/v2") {
            Some("" | "/") => return Ok(V2Route::Base),
            Some(rest) => rest.strip_prefix('/').ok_or_else(|| no_route(raw))?,
            None => return Err(no_route(raw)),
        };
        if rest == "_catalog" {
            return Ok(V2Route::Catalog);
        }
        let (repo, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_repo_name(repo) {
            return Err(EndpointError::NameInvalid(format!("invalid repository name {:?}", shorten(repo))));
        }
        Ok(V2Route::Repo { repo, tail })
    }
}

impl Endpoint {
    /// Parses `tail`, the raw path below `/v2/{repo}/`: the image name and the operation.
    pub fn parse(repo: &str, tail: &str) -> Result<Endpoint, EndpointError> {
        let segs: Vec<&str> = tail.split('/').collect();
        let n = segs.len();
        let no_route = || no_route(&format!("/v2/{repo}/{tail}"));
        if n < 2 {
            return Err(no_route());
        }
        let (name_segs, op) = match (segs[n - 2], segs[n - 1]) {
            ("tags", "list") => (&segs[..n - 2], Op::Tags),
            ("manifests", reference) => (&segs[..n - 2], Op::Manifest(Reference::parse(&decode_colon(reference))?)),
            ("referrers", digest) => (&segs[..n - 2], Op::Referrers(sha256_of(digest)?)),
            ("blobs", "uploads") => (&segs[..n - 2], Op::UploadStart),
            ("uploads", "") if n >= 3 && segs[n - 3] == "blobs" => (&segs[..n - 3], Op::UploadStart),
            ("uploads", id) if n >= 3 && segs[n - 3] == "blobs" => {
                (&segs[..n - 3], Op::Upload(UploadId::parse(id).map_err(EndpointError::UploadUnknown)?))
            }
            ("blobs", digest) => (&segs[..n - 2], Op::Blob(digest_of(digest)?)),
            _ => return Err(no_route()),
        };
        let name = ImageName::parse(&name_segs.join("/")).map_err(EndpointError::NameInvalid)?;
        Ok(Endpoint { repo: repo.to_string(), name, op })
    }
}

impl V2Path {
    /// Parses the raw request path (`req.uri().path()`, which starts with `/v2`).
    pub fn parse(raw: &str) -> Result<V2Path, EndpointError> {
        match V2Route::parse(raw)? {
            V2Route::Base => Ok(V2Path::Base),
            V2Route::Catalog => Ok(V2Path::Catalog),
            V2Route::Repo { repo, tail } => Endpoint::parse(repo, tail).map(V2Path::Image),
        }
    }
}

fn digest_of(s: &str) -> Result<OciDigest, EndpointError> {
    parse_oci_digest(&decode_colon(s)).map_err(EndpointError::DigestInvalid)
}

fn sha256_of(s: &str) -> Result<Digest, EndpointError> {
    parse_digest(&decode_colon(s)).map_err(EndpointError::DigestInvalid)
}

/// A client may encode the `:` of a digest as `%3A`; nothing else is decoded.
fn decode_colon(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('%') {
        std::borrow::Cow::Owned(s.replace("%3A", ":").replace("%3a", ":"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn no_route(raw: &str) -> EndpointError {
    EndpointError::NoRoute(format!("no registry API endpoint at {:?}", shorten(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn d() -> Digest {
        Digest::from_hex(HEX).unwrap()
    }

    fn od() -> OciDigest {
        OciDigest::Sha256(d())
    }

    fn d512() -> OciDigest {
        OciDigest::Sha512(super::super::grammar::sha512_of(b"x"))
    }

    fn image(repo: &str, name: &str, op: Op) -> Result<V2Path, &'static str> {
        Ok(V2Path::Image(Endpoint { repo: repo.into(), name: ImageName::parse(name).unwrap(), op }))
    }

    fn tag(t: &str) -> Op {
        Op::Manifest(Reference::Tag(Tag::parse(t).unwrap()))
    }

    /// The error's OCI code, for the table.
    fn code(e: EndpointError) -> &'static str {
        match e {
            EndpointError::NameInvalid(_) => "NAME_INVALID",
            EndpointError::TagInvalid(_) => "TAG_INVALID",
            EndpointError::DigestInvalid(_) => "DIGEST_INVALID",
            EndpointError::UploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            EndpointError::NoRoute(_) => "NO_ROUTE",
            EndpointError::PaginationInvalid(_) | EndpointError::QueryInvalid(_) => "QUERY",
        }
    }

    #[test]
    fn parses_every_endpoint() {
        let dg = format!("sha256:{HEX}");
        let cases: Vec<(String, Result<V2Path, &str>)> = vec![
            ("/v2/".into(), Ok(V2Path::Base)),
            ("/v2".into(), Ok(V2Path::Base)),
            ("/v2/_catalog".into(), Ok(V2Path::Catalog)),
            ("/v2/hub/library/alpine/manifests/3.19".into(), image("hub", "library/alpine", tag("3.19"))),
            ("/v2/hub/alpine/manifests/latest".into(), image("hub", "alpine", tag("latest"))),
            (format!("/v2/hub/alpine/manifests/{dg}"), image("hub", "alpine", Op::Manifest(Reference::Digest(od())))),
            (
                format!("/v2/hub/alpine/manifests/sha256%3A{HEX}"),
                image("hub", "alpine", Op::Manifest(Reference::Digest(od()))),
            ),
            (format!("/v2/hub/a/b/c/blobs/{dg}"), image("hub", "a/b/c", Op::Blob(od()))),
            (format!("/v2/hub/app/blobs/{}", d512()), image("hub", "app", Op::Blob(d512()))),
            (format!("/v2/hub/app/manifests/{}", d512()), image("hub", "app", Op::Manifest(Reference::Digest(d512())))),
            ("/v2/hub/team/app/tags/list".into(), image("hub", "team/app", Op::Tags)),
            (format!("/v2/hub/app/referrers/{dg}"), image("hub", "app", Op::Referrers(d()))),
            ("/v2/loc/app/blobs/uploads/".into(), image("loc", "app", Op::UploadStart)),
            ("/v2/loc/app/blobs/uploads".into(), image("loc", "app", Op::UploadStart)),
            (
                "/v2/loc/app/blobs/uploads/3f2a-9c1e".into(),
                image("loc", "app", Op::Upload(UploadId::parse("3f2a-9c1e").unwrap())),
            ),
            // Segments named like operations are part of the name when more follows.
            (format!("/v2/hub/org/manifests/app/blobs/{dg}"), image("hub", "org/manifests/app", Op::Blob(od()))),
            ("/v2/hub/org/blobs/tags/list".into(), image("hub", "org/blobs", Op::Tags)),
            ("/v2/hub/manifests/manifests/v1".into(), image("hub", "manifests", tag("v1"))),
            (format!("/v2/hub/x/blobs/uploads/blobs/{dg}"), image("hub", "x/blobs/uploads", Op::Blob(od()))),
        ];
        for (raw, want) in cases {
            assert_eq!(V2Path::parse(&raw).map_err(code), want, "{raw}");
        }
    }

    #[test]
    fn hostile_paths_get_their_oci_code() {
        let dg = format!("sha256:{HEX}");
        let long_name = format!("/v2/hub/{}/manifests/x", "a".repeat(300));
        let huge = format!("/v2/hub/{}/manifests/x", "a/".repeat(1100));
        let long_tag = format!("/v2/hub/app/manifests/{}", "t".repeat(129));
        let cases: Vec<(String, &str)> = vec![
            ("/v2/hub/../manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/a/../b/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/%2e%2e/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/a%2fb/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/a%2Fb/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/a%5cb/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/a\\b/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/a%00/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/Alpine/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/library/Alpine/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub//alpine/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/alpine/tags/list/".into(), "NO_ROUTE"),
            (long_name, "NAME_INVALID"),
            (huge, "NAME_INVALID"),
            ("/v2/../alpine/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/%2e%2e/alpine/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/Hub/alpine/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub%00/alpine/manifests/latest".into(), "NAME_INVALID"),
            ("/v2//alpine/manifests/latest".into(), "NAME_INVALID"),
            ("/v2/hub/alpine/manifests/..".into(), "TAG_INVALID"),
            ("/v2/hub/alpine/manifests/%2e%2e".into(), "TAG_INVALID"),
            ("/v2/hub/alpine/manifests/".into(), "TAG_INVALID"),
            ("/v2/hub/alpine/manifests/a%2fb".into(), "TAG_INVALID"),
            (long_tag, "TAG_INVALID"),
            ("/v2/hub/alpine/manifests/sha256:abc".into(), "DIGEST_INVALID"),
            (format!("/v2/hub/alpine/manifests/sha512:{}", "ab".repeat(63)), "DIGEST_INVALID"),
            (format!("/v2/hub/alpine/manifests/sha512:{}", "ab".repeat(65)), "DIGEST_INVALID"),
            (format!("/v2/hub/alpine/blobs/sha512:{}", "AB".repeat(64)), "DIGEST_INVALID"),
            (format!("/v2/hub/alpine/blobs/sha512%3A{}", "ab".repeat(63)), "DIGEST_INVALID"),
            (format!("/v2/hub/alpine/blobs/sha256:{}", "ab".repeat(64)), "DIGEST_INVALID"),
            (format!("/v2/hub/alpine/blobs/sha1:{}", "ab".repeat(20)), "DIGEST_INVALID"),
            ("/v2/hub/alpine/blobs/sha256:..".into(), "DIGEST_INVALID"),
            ("/v2/hub/alpine/blobs/sha512:%2e%2e%2fx".into(), "DIGEST_INVALID"),
            (format!("/v2/hub/app/referrers/sha512:{}", "ab".repeat(64)), "DIGEST_INVALID"),
            (format!("/v2/hub/alpine/manifests/{}", dg.to_uppercase()), "DIGEST_INVALID"),
            ("/v2/hub/alpine/blobs/..".into(), "DIGEST_INVALID"),
            ("/v2/hub/alpine/blobs/latest".into(), "DIGEST_INVALID"),
            (format!("/v2/hub/alpine/blobs/{HEX}"), "DIGEST_INVALID"),
            ("/v2/hub/alpine/referrers/latest".into(), "DIGEST_INVALID"),
            ("/v2/loc/app/blobs/uploads/..".into(), "BLOB_UPLOAD_UNKNOWN"),
            ("/v2/loc/app/blobs/uploads/a%2fb".into(), "BLOB_UPLOAD_UNKNOWN"),
            ("/v2/hub/alpine".into(), "NO_ROUTE"),
            ("/v2/hub".into(), "NO_ROUTE"),
            ("/v2/hub/".into(), "NO_ROUTE"),
            ("/v2/hub/alpine/layers/x".into(), "NO_ROUTE"),
            ("/v2x".into(), "NO_ROUTE"),
            ("/v3/hub/alpine/manifests/latest".into(), "NO_ROUTE"),
        ];
        for (raw, want) in cases {
            let got = V2Path::parse(&raw);
            assert_eq!(got.clone().map_err(code).err(), Some(want), "{raw}: {got:?}");
        }
    }
}

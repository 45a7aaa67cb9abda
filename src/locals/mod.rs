//! Local repositories: a named repository of one package type whose files are pushed or
//! uploaded to artifactapi itself rather than fetched from an upstream.
//!
//! [`LocalSpec`] is the wire and storage form; [`LocalSpec::validate`] is a plain function the
//! handler calls and the tests drive with a table. What a local holds lives in `local_files`
//! (its files, [`files`]) and, for package types, `local_packages` and `local_tags` (published
//! versions with their metadata, and tags; [`crate::db::local_packages`]). The write side of
//! each package type is its own module here; the read side goes through the one request path
//! (`crate::serve`), which generates documents from what is stored.

pub mod bodies;
pub mod error;
pub mod files;
pub mod generic;
pub mod goproxy;
pub mod helm;
pub mod npm;
pub mod puppet;
pub mod pypi;
pub mod rpm;
pub mod terraform;

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Serialize};

pub use error::LocalError;

use crate::auth::Principal;
use crate::formats::{Method, PackageType};
use crate::remotes::{validate_name, FieldError};

/// The body of an upload, as a stream of bytes (no HTTP types below the edge).
pub type UploadBody = Pin<Box<dyn Stream<Item = Result<Bytes, String>>>>;

/// A write to a local repository, as the HTTP edge hands it to the local's package type.
pub struct WriteRequest<'a> {
    pub method: Method,
    /// The path below the local, still percent-encoded.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: &'a str,
    /// The request's headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Who is writing (already checked for `write` on the local).
    pub principal: &'a Principal,
    /// `PUBLIC_URL`, without a trailing slash.
    pub public_base: &'a str,
}

impl WriteRequest<'_> {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What a write answers: the status, and a body in the client's protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl WriteReply {
    /// A JSON answer.
    pub fn json(status: u16, value: &impl Serialize) -> WriteReply {
        WriteReply { status, content_type: "application/json", body: serde_json::to_vec(value).unwrap_or_default() }
    }

    /// An answer without a body.
    pub fn empty(status: u16) -> WriteReply {
        WriteReply { status, content_type: "text/plain", body: Vec::new() }
    }
}

/// A write to local `spec`, by its package type.
pub async fn write(
    files: &files::LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    check_announced_size(spec.package_type, req.header("content-length"), files.max_upload)?;
    match spec.package_type {
        PackageType::Generic => generic::write(files, spec, req, body).await,
        PackageType::Npm => npm::write(files, spec, req, body).await,
        PackageType::Goproxy => goproxy::write(files, spec, req, body).await,
        PackageType::Helm => helm::write(files, spec, req, body).await,
        PackageType::Pypi => pypi::write(files, spec, req, body).await,
        PackageType::Puppet => puppet::write(files, spec, req, body).await,
        PackageType::Rpm => rpm::write(files, spec, req, body).await,
        PackageType::Terraform => terraform::write(files, spec, req, body).await,
        t => Err(LocalError::NotAllowed(format!("{} on a {t} local", req.method))),
    }
}

/// Room for what travels around the file in a form upload (fields, a package's metadata).
const FORM_SLACK: u64 = 64 << 20;

/// The largest body a write to a local of type `t` can have with files of at most
/// `max_upload` bytes: the file itself for generic locals, base64 in a JSON document for npm,
/// the file and its form fields for the others.
fn largest_body(t: PackageType, max_upload: u64) -> u64 {
    match t {
        PackageType::Generic => max_upload,
        PackageType::Npm => {
            (max_upload.saturating_add(2) / 3).saturating_mul(4).saturating_add(npm::publish::MAX_METADATA as u64)
        }
        _ => max_upload.saturating_add(FORM_SLACK),
    }
}

/// Refuses a body whose announced `Content-Length` no upload within `max_upload` can have,
/// before a byte of it is read: the client learns at once, and nothing is written to staging.
/// Bodies without a length (chunked) are counted while they stream.
fn check_announced_size(t: PackageType, content_length: Option<&str>, max_upload: u64) -> Result<(), LocalError> {
    match content_length.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(n) if n > largest_body(t, max_upload) => Err(LocalError::TooLarge { limit: max_upload }),
        _ => Ok(()),
    }
}

/// A local repository as created, updated, stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalSpec {
    pub name: String,
    pub package_type: PackageType,
    /// Whether a file may be uploaded again under a path that has one (generic locals);
    /// otherwise that is a 409.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_overwrite: bool,
}

/// The package types whose local repositories are served.
pub const SERVED: [PackageType; 9] = [
    PackageType::Docker,
    PackageType::Generic,
    PackageType::Npm,
    PackageType::Pypi,
    PackageType::Helm,
    PackageType::Goproxy,
    PackageType::Puppet,
    PackageType::Rpm,
    PackageType::Terraform,
];

impl LocalSpec {
    /// A local of `package_type` named `name`, every other field at its default.
    pub fn new(name: &str, package_type: PackageType) -> LocalSpec {
        LocalSpec { name: name.to_string(), package_type, allow_overwrite: false }
    }

    /// Checks the spec on its own: the name, and a package type whose locals are served.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name(&self.name)?;
        if !SERVED.contains(&self.package_type) {
            let served: Vec<&str> = SERVED.iter().map(|t| t.as_str()).collect();
            return Err(FieldError {
                field: "package_type".into(),
                message: format!(
                    "local repositories of type {} are not served yet (served: {})",
                    self.package_type,
                    served.join(", ")
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_lengths_beyond_any_upload_are_refused_up_front() {
        const MB: u64 = 1 << 20;
        let n = |v: u64| Some(v.to_string());
        let s = |v: &str| Some(v.to_string());
        // (type, Content-Length, refused)
        let cases: Vec<(PackageType, Option<String>, bool)> = vec![
            (PackageType::Generic, n(MB), false),
            (PackageType::Generic, n(MB + 1), true),
            (PackageType::Generic, s(" 99999999999999 "), true),
            (PackageType::Generic, None, false),
            (PackageType::Generic, s("chunked"), false),
            (PackageType::Generic, s("-1"), false),
            (PackageType::Generic, s("99999999999999999999999"), false),
            (PackageType::Npm, n(MB * 4 / 3 + 64 * MB), false),
            (PackageType::Npm, n(MB * 4 / 3 + 65 * MB), true),
            (PackageType::Pypi, n(65 * MB), false),
            (PackageType::Pypi, n(65 * MB + 1), true),
            (PackageType::Rpm, n(u64::MAX), true),
        ];
        for (t, len, refused) in cases {
            let got = check_announced_size(t, len.as_deref(), MB);
            assert_eq!(got.is_err(), refused, "{t} with Content-Length {len:?}: {got:?}");
            if let Err(e) = got {
                assert!(matches!(e, LocalError::TooLarge { limit } if limit == MB), "{e:?}");
            }
        }
        assert_eq!(largest_body(PackageType::Npm, u64::MAX), u64::MAX, "no overflow");
    }
    use crate::remotes::parse_json;

    fn parse(json: serde_json::Value) -> Result<LocalSpec, String> {
        let spec: LocalSpec = parse_json(json.to_string().as_bytes()).map_err(|e| e.to_string())?;
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }

    #[test]
    fn served_package_types_are_accepted_the_others_named() {
        for t in PackageType::ALL {
            match parse(serde_json::json!({"name": "l", "package_type": t.as_str()})) {
                Ok(spec) => assert!(SERVED.contains(&spec.package_type), "{t}"),
                Err(e) => {
                    assert!(!SERVED.contains(&t), "{t}: {e}");
                    assert!(e.starts_with("package_type:") && e.contains(t.as_str()), "{e}");
                }
            }
        }
    }

    #[test]
    fn validates_the_spec_and_names_the_field() {
        let long = "a".repeat(65);
        let cases: Vec<(serde_json::Value, Result<(), &str>)> = vec![
            (serde_json::json!({"name": "l", "package_type": "docker"}), Ok(())),
            (serde_json::json!({"name": "a".repeat(64), "package_type": "docker"}), Ok(())),
            (serde_json::json!({"name": "my.repo-1_x", "package_type": "generic"}), Ok(())),
            (serde_json::json!({"name": long, "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "../x", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "Upper", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": ".x", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "a/b", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "l", "package_type": "maven"}), Err("package_type:")),
            (serde_json::json!({"name": "l", "package_type": 3}), Err("package_type:")),
            (serde_json::json!({"name": 1, "package_type": "docker"}), Err("name:")),
            (serde_json::json!({"name": "l"}), Err("missing field `package_type`")),
            (serde_json::json!({"package_type": "docker"}), Err("missing field `name`")),
            (serde_json::json!({"name": "l", "package_type": "docker", "members": []}), Err("unknown field `members`")),
        ];
        for (json, want) in cases {
            match (parse(json.clone()), want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(w)) => assert!(e.contains(w), "{json}: {e:?} does not contain {w:?}"),
                (got, want) => panic!("{json}: got {got:?}, want {want:?}"),
            }
        }
    }
}

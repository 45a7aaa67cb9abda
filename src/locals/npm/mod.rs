//! npm local repositories, the write side: what `npm publish`, `npm deprecate`,
//! `npm unpublish` and `npm dist-tag add|rm` send, and the account endpoints `npm whoami` and
//! `npm login` talk to.
//!
//! Every path is parsed once into a [`WriteEndpoint`] (scoped names in any spelling, as remotes
//! take them, through [`crate::formats::npm::canonical_raw`]; traversal refused by the path
//! parser). A publish is the packument `PUT` with the tarball in `_attachments` ([`publish`],
//! the body read by [`body`]); a `PUT` without attachments changes `deprecated` fields or
//! drops versions (`npm unpublish pkg@version`), and `DELETE {name}/-rev/{rev}` unpublishes the
//! whole package ([`changes`], with the dist-tags). The versions are rows of `local_packages` (`crate::db::local_packages`), the
//! tarballs files of the local; the packuments are generated from them on the read side
//! ([`crate::formats::npm::local`]). [`account`] answers the few reads and writes that are about
//! the caller rather than a package, before any scope is checked.

pub mod account;
pub mod body;
pub mod changes;
pub mod publish;

use serde::Serialize;

use super::files::LocalFiles;
use super::{LocalError, LocalSpec, UploadBody, WriteReply, WriteRequest};
use crate::formats::npm::{canonical_raw, check_version, split_name, EndpointError};
use crate::formats::Method;
use crate::paths::RepoPath;

/// A write of the npm registry protocol, parsed from its path and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteEndpoint {
    /// `PUT {name}` or `PUT {name}/-rev/{rev}`: a publish, or a change of the packument.
    Packument(String),
    /// `DELETE {name}/-rev/{rev}`: unpublish every version.
    DeletePackage(String),
    /// `DELETE {name}/-/{file}/-rev/{rev}`: a tarball of a version being unpublished.
    DeleteTarball(String, String),
    /// `PUT -/package/{name}/dist-tags/{tag}` with the version as a JSON string.
    SetTag(String, String),
    /// `DELETE -/package/{name}/dist-tags/{tag}`.
    DeleteTag(String, String),
}

fn invalid(e: impl std::fmt::Display) -> LocalError {
    LocalError::Invalid(e.to_string())
}

fn endpoint_error(e: EndpointError) -> LocalError {
    match e {
        EndpointError::Invalid(m) => LocalError::Invalid(m),
        EndpointError::Unknown(m) => LocalError::NotFound(m),
    }
}

/// Whether `rest` is `-rev/{rev}` (a CouchDB revision npm echoes back; any is accepted).
fn is_rev(rest: &str) -> bool {
    rest.strip_prefix("-rev/").is_some_and(|rev| !rev.is_empty() && !rev.contains('/'))
}

impl WriteEndpoint {
    /// Parses the path below local `repo` (still percent-encoded) of a `method` request.
    pub fn parse(method: Method, raw: &str, repo: &str) -> Result<WriteEndpoint, LocalError> {
        // `npm unpublish` deletes a tarball at its URL's path taken relative to the registry
        // URL, so the local's own prefix comes twice.
        let own = format!("api/v1/local/{repo}/");
        let raw = raw.strip_prefix(own.as_str()).unwrap_or(raw);
        let path = RepoPath::parse(&canonical_raw(raw)).map_err(|e| invalid(format!("invalid path: {e}")))?;
        let path = path.as_str();
        let unknown = || LocalError::NotAllowed(format!("{method} {path:?} on an npm local"));
        if let Some(tags) = path.strip_prefix("-/package/") {
            let (name, rest) = split_name(tags).map_err(endpoint_error)?;
            let tag = rest.and_then(|r| r.strip_prefix("dist-tags/")).ok_or_else(unknown)?;
            check_version(tag).map_err(endpoint_error)?;
            let (name, tag) = (name.full.to_string(), tag.to_string());
            return match method {
                Method::Put | Method::Post => Ok(WriteEndpoint::SetTag(name, tag)),
                Method::Delete => Ok(WriteEndpoint::DeleteTag(name, tag)),
                _ => Err(unknown()),
            };
        }
        if path.starts_with("-/") {
            return Err(LocalError::NotFound(format!("{path:?} is no npm registry endpoint of a local")));
        }
        let (name, rest) = split_name(path).map_err(endpoint_error)?;
        let name = name.full.to_string();
        match (method, rest) {
            (Method::Put, None) => Ok(WriteEndpoint::Packument(name)),
            (Method::Put, Some(rest)) if is_rev(rest) => Ok(WriteEndpoint::Packument(name)),
            (Method::Delete, Some(rest)) if is_rev(rest) => Ok(WriteEndpoint::DeletePackage(name)),
            (Method::Delete, Some(rest)) => {
                let file = rest.strip_prefix("-/").ok_or_else(unknown)?;
                let file = match file.split_once("/-rev/") {
                    Some((file, rev)) if !rev.is_empty() && !rev.contains('/') => file,
                    Some(_) => return Err(unknown()),
                    None => file,
                };
                if file.is_empty() || file.contains('/') {
                    return Err(unknown());
                }
                Ok(WriteEndpoint::DeleteTarball(name, file.to_string()))
            }
            _ => Err(unknown()),
        }
    }
}

/// A small JSON answer (`{"ok": ...}`), as npm registries give.
#[derive(Serialize)]
struct Answer<'a> {
    ok: bool,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

pub(super) fn ok(status: u16, id: &str, message: Option<String>) -> WriteReply {
    WriteReply::json(status, &Answer { ok: true, id, message })
}

/// A write to npm local `spec`.
pub async fn write(
    files: &LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    match WriteEndpoint::parse(req.method, req.path, &spec.name)? {
        WriteEndpoint::Packument(name) => publish::put(files, spec, req, &name, body).await,
        WriteEndpoint::DeletePackage(name) => changes::unpublish_all(files, spec, &name).await,
        WriteEndpoint::DeleteTarball(name, file) => changes::delete_tarball(files, spec, &name, &file).await,
        WriteEndpoint::SetTag(name, tag) => changes::set_tag(files, spec, &name, &tag, body).await,
        WriteEndpoint::DeleteTag(name, tag) => changes::delete_tag(files, spec, &name, &tag).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WriteEndpoint::*;

    #[test]
    fn write_endpoints_parse() {
        let s = |x: &str| x.to_string();
        let cases: Vec<(Method, &str, WriteEndpoint)> = vec![
            (Method::Put, "left-pad", Packument(s("left-pad"))),
            (Method::Put, "@acme%2futil", Packument(s("@acme/util"))),
            (Method::Put, "@acme%2Futil", Packument(s("@acme/util"))),
            (Method::Put, "%40acme%2futil", Packument(s("@acme/util"))),
            (Method::Put, "@acme/util", Packument(s("@acme/util"))),
            (Method::Put, "@acme%2futil/-rev/3-abc", Packument(s("@acme/util"))),
            (Method::Put, "x/-rev/undefined", Packument(s("x"))),
            (Method::Delete, "@acme%2futil/-rev/undefined", DeletePackage(s("@acme/util"))),
            (Method::Delete, "x/-/x-1.0.0.tgz/-rev/2", DeleteTarball(s("x"), s("x-1.0.0.tgz"))),
            (Method::Delete, "api/v1/local/loc/@a/b/-/b-1.0.0.tgz/-rev/9", DeleteTarball(s("@a/b"), s("b-1.0.0.tgz"))),
            (Method::Put, "-/package/@acme%2futil/dist-tags/beta", SetTag(s("@acme/util"), s("beta"))),
            (Method::Delete, "-/package/x/dist-tags/next", DeleteTag(s("x"), s("next"))),
        ];
        for (method, path, want) in cases {
            assert_eq!(WriteEndpoint::parse(method, path, "loc").ok(), Some(want), "{method} {path}");
        }
    }

    #[test]
    fn hostile_and_unknown_writes_are_refused() {
        // (method, path, status)
        let cases: &[(Method, &str, u16)] = &[
            (Method::Put, "..%2f..%2fetc", 400),
            (Method::Put, "../x", 400),
            (Method::Put, "%2e%2e/x", 400),
            (Method::Put, "@acme%2f..", 400),
            (Method::Put, "@acme%2futil%2f..%2f..", 400),
            (Method::Put, "a%5cb", 400),
            (Method::Put, "a%00b", 400),
            (Method::Put, ".hidden", 400),
            (Method::Put, "node_modules", 400),
            (Method::Put, &"a".repeat(215), 400),
            (Method::Put, "x/1.0.0", 405),
            (Method::Put, "x/-rev/a/b", 405),
            (Method::Post, "x", 405),
            (Method::Delete, "x", 405),
            (Method::Delete, "x/-/", 405),
            (Method::Delete, "x/-/a/b.tgz", 405),
            (Method::Put, "-/package/x/dist-tags/a%2fb", 400),
            (Method::Put, "-/package/x/dist-tags/..", 400),
            (Method::Put, "-/package/x/access", 405),
            (Method::Put, "-/v1/search", 404),
        ];
        for (method, path, status) in cases {
            match WriteEndpoint::parse(*method, path, "loc") {
                Err(e) => assert_eq!(e.status(), *status, "{method} {path}: {e}"),
                Ok(e) => panic!("{method} {path}: {e:?}"),
            }
        }
    }
}

//! Changes to what an npm local has published, after the publish: deprecations and versions
//! dropped (the packument `PUT` without a tarball that `npm deprecate` and `npm unpublish
//! pkg@version` send), a whole package unpublished, dist-tags set and removed.
//!
//! Only the `deprecated` field of a published version can change (an empty message lifts it);
//! other edits are ignored, as registries ignore them, and a version the body adds must be
//! published with its tarball. An unpublished version keeps its row
//! ([`crate::db::Db::unpublish_local_version`]), so it can never be published again; its
//! tarball and the tags naming it go.

use futures_util::StreamExt;
use serde_json::{Map, Value};

use super::ok;
use super::publish::is_semver;
use crate::db::local_packages::{LocalTag, LocalVersion};
use crate::formats::npm::local::tarball_path;
use crate::locals::files::LocalFiles;
use crate::locals::{LocalError, LocalSpec, UploadBody, WriteReply};

fn invalid(m: impl Into<String>) -> LocalError {
    LocalError::Invalid(m.into())
}

/// A packument `PUT` without a tarball: `deprecated` fields changed, versions dropped.
pub async fn update(
    files: &LocalFiles,
    spec: &LocalSpec,
    versions: Option<&Map<String, Value>>,
    name: &str,
) -> Result<WriteReply, LocalError> {
    let repo = spec.name.as_str();
    let versions = versions.ok_or_else(|| invalid("the body has no versions"))?;
    let stored = files.db.local_packages(repo, Some(name)).await?;
    let published: Vec<&LocalVersion> = stored.published().collect();
    if published.is_empty() {
        return Err(LocalError::NotFound(format!("{name} is not published in {repo}: publish it with its tarball")));
    }
    if let Some(new) = versions.keys().find(|v| !published.iter().any(|p| &&p.version == v)) {
        return Err(invalid(format!("{name}@{new} is not published in {repo}: publish it with its tarball")));
    }
    let deprecation = |m: Option<&Value>| -> Option<String> {
        m.and_then(|m| m.get("deprecated")).and_then(Value::as_str).filter(|d| !d.is_empty()).map(str::to_string)
    };
    for v in &published {
        let Some(sent) = versions.get(&v.version) else {
            files.db.unpublish_local_version(repo, name, &v.version, &[tarball_path(name, &v.version)]).await?;
            continue;
        };
        let wanted = deprecation(Some(sent));
        if wanted == deprecation(Some(&v.metadata)) {
            continue;
        }
        let mut metadata = v.metadata.clone();
        if let Some(m) = metadata.as_object_mut() {
            match wanted {
                Some(d) => m.insert("deprecated".into(), Value::String(d)),
                None => m.remove("deprecated"),
            };
        }
        files.db.update_local_metadata(repo, name, &v.version, &metadata).await?;
    }
    Ok(ok(200, name, None))
}

/// `DELETE {name}/-rev/{rev}`: every version of `name` unpublished.
pub async fn unpublish_all(files: &LocalFiles, spec: &LocalSpec, name: &str) -> Result<WriteReply, LocalError> {
    let repo = spec.name.as_str();
    let stored = files.db.local_packages(repo, Some(name)).await?;
    let published: Vec<&LocalVersion> = stored.published().collect();
    if published.is_empty() {
        return Err(LocalError::NotFound(format!("{name} has no published version in {repo}")));
    }
    for v in published {
        files.db.unpublish_local_version(repo, name, &v.version, &[tarball_path(name, &v.version)]).await?;
    }
    Ok(ok(200, name, Some(format!("unpublished every version of {name}"))))
}

/// `DELETE {name}/-/{file}/-rev/{rev}`: the tarball of a version goes with its version (npm
/// sends this after the packument `PUT` that dropped the version, which removed it already).
pub async fn delete_tarball(
    files: &LocalFiles,
    spec: &LocalSpec,
    name: &str,
    file: &str,
) -> Result<WriteReply, LocalError> {
    let repo = spec.name.as_str();
    let stored = files.db.local_packages(repo, Some(name)).await?;
    let path = format!("{name}/-/{file}");
    let Some(v) = stored.versions.iter().find(|v| tarball_path(name, &v.version) == path) else {
        return Err(LocalError::NotFound(format!("{path:?} is no tarball of {repo}")));
    };
    if v.published {
        files.db.unpublish_local_version(repo, name, &v.version, &[path]).await?;
    }
    Ok(ok(200, name, None))
}

/// Reads a small body whole (at most `limit` bytes).
async fn small(mut body: UploadBody, limit: usize) -> Result<Vec<u8>, LocalError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.map_err(LocalError::Body)?);
        if out.len() > limit {
            return Err(LocalError::TooLarge { limit: limit as u64 });
        }
    }
    Ok(out)
}

/// `PUT -/package/{name}/dist-tags/{tag}` with `"version"`.
pub async fn set_tag(
    files: &LocalFiles,
    spec: &LocalSpec,
    name: &str,
    tag: &str,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    let text = small(body, 64 * 1024).await?;
    let version: String = serde_json::from_slice(&text)
        .map_err(|e| invalid(format!("the body must be the version as a JSON string: {e}")))?;
    if is_semver(tag) {
        return Err(invalid(format!("a dist-tag cannot be a version: {tag:?}")));
    }
    let repo = spec.name.as_str();
    let stored = files.db.local_packages(repo, Some(name)).await?;
    if !stored.published().any(|v| v.version == version) {
        return Err(LocalError::NotFound(format!("{name}@{version} is not published in {repo}")));
    }
    let t = LocalTag { package: name.into(), tag: tag.into(), version };
    files.db.set_local_tag(repo, &t).await?;
    Ok(ok(201, name, Some(format!("{tag}: {name}@{}", t.version))))
}

/// `DELETE -/package/{name}/dist-tags/{tag}`.
pub async fn delete_tag(files: &LocalFiles, spec: &LocalSpec, name: &str, tag: &str) -> Result<WriteReply, LocalError> {
    if tag == "latest" {
        return Err(invalid("the latest tag cannot be removed; point it at another version"));
    }
    if !files.db.delete_local_tag(&spec.name, name, tag).await? {
        return Err(LocalError::NotFound(format!("{name} has no dist-tag {tag:?} in {}", spec.name)));
    }
    Ok(ok(200, name, None))
}

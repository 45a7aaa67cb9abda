//! Generic local repositories: any file, uploaded with `PUT` at any path, at any size.
//!
//! The body streams into staging and is committed only if it hashes to the SHA-256 the client
//! named (`X-Checksum-Sha256` or `?sha256=`, when given): a mismatch is a 400 and nothing is
//! stored. A path that has a file is a 409 unless the local allows overwriting; the catalog
//! decides that in one statement, so of two uploads racing for a new path exactly one wins.
//! Reads go through the serving path like every other local ([`crate::serve`]); a folder
//! (an empty path, or one ending with `/`) lists what it holds.

use artifactapi_actors::digest::Digest;
use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;

use super::files::LocalFiles;
use super::{LocalError, LocalSpec, UploadBody, WriteReply, WriteRequest};
use crate::db::local_files::LocalFile;
use crate::formats::Method;
use crate::paths::RepoPath;

/// Most entries a folder listing shows (files and folders each).
pub const LIST_LIMIT: i64 = 10_000;

/// A stored file, as uploads answer and listings show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub download_url: String,
}

/// A folder listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub repository: String,
    pub path: String,
    pub folders: Vec<String>,
    pub files: Vec<FileInfo>,
}

fn info(public_base: &str, repo: &str, f: LocalFile) -> FileInfo {
    let url = RepoPath::from_decoded(&f.path).map(|p| p.upstream_suffix()).unwrap_or_default();
    FileInfo {
        download_url: format!("{public_base}/api/v1/local/{repo}/{url}"),
        sha256: f.digest.hex(),
        path: f.path,
        size: f.size,
        content_type: f.content_type,
        updated_at: f.updated_at,
    }
}

/// A file path of an upload or delete: checked like every request path, and not a folder.
fn file_path(raw: &str) -> Result<RepoPath, LocalError> {
    let path = RepoPath::parse(raw)?;
    if path.has_trailing_slash() {
        return Err(LocalError::Invalid(format!("{path:?} is a folder; give a file path")));
    }
    Ok(path)
}

/// The SHA-256 a client promised, as hex.
pub fn promised(sha256: Option<&str>) -> Result<Option<Digest>, LocalError> {
    sha256
        .map(|h| {
            Digest::from_hex(&h.trim().to_ascii_lowercase())
                .map_err(|e| LocalError::Invalid(format!("sha256 {h:?}: {e}")))
        })
        .transpose()
}

/// `PUT /api/v1/local/{repo}/{path}`: stores the body at `path`.
pub async fn put<S, E>(
    files: &LocalFiles,
    public_base: &str,
    spec: &LocalSpec,
    raw_path: &str,
    sha256: Option<&str>,
    content_type: Option<&str>,
    body: S,
) -> Result<FileInfo, LocalError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let path = file_path(raw_path)?;
    let expected = promised(sha256)?;
    let taken =
        || LocalError::Conflict(format!("{path:?} exists in {} and the local does not allow overwriting", spec.name));
    if !spec.allow_overwrite && files.db.local_file(&spec.name, path.as_str()).await?.is_some() {
        return Err(taken());
    }
    let staged = files.stage(body).await?;
    let committed = files.commit(staged, expected).await?;
    let file = LocalFiles::file(path.as_str(), &committed, content_type);
    files.db.put_local_file(&spec.name, &file, spec.allow_overwrite).await.map_err(|e| match e {
        crate::db::DbError::Conflict(_) => taken(),
        other => other.into(),
    })?;
    Ok(info(public_base, &spec.name, file))
}

/// The writes of a generic local: `PUT` a file, `DELETE` one.
pub async fn write(
    files: &LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    match req.method {
        Method::Put => {
            let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query.as_bytes()).into_owned().collect();
            let from_query = query.iter().find(|(k, _)| k == "sha256").map(|(_, v)| v.as_str());
            let sha256 = req.header("x-checksum-sha256").or(from_query);
            let stored = put(files, req.public_base, spec, req.path, sha256, req.header("content-type"), body).await?;
            Ok(WriteReply::json(201, &stored))
        }
        Method::Delete => {
            delete(files, spec, req.path).await?;
            Ok(WriteReply::empty(204))
        }
        m => Err(LocalError::NotAllowed(format!("{m} on a generic local (allowed: GET, HEAD, PUT, DELETE)"))),
    }
}

/// `DELETE /api/v1/local/{repo}/{path}`.
pub async fn delete(files: &LocalFiles, spec: &LocalSpec, raw_path: &str) -> Result<(), LocalError> {
    let path = file_path(raw_path)?;
    if files.db.delete_local_file(&spec.name, path.as_str()).await? {
        Ok(())
    } else {
        Err(LocalError::NotFound(format!("{path:?} not found in {}", spec.name)))
    }
}

/// `GET /api/v1/local/{repo}/{folder}/`: what the folder holds directly.
pub async fn list(
    files: &LocalFiles,
    public_base: &str,
    spec: &LocalSpec,
    raw_dir: &str,
) -> Result<Listing, LocalError> {
    let dir = if raw_dir.is_empty() { String::new() } else { RepoPath::parse(raw_dir)?.as_str().to_string() };
    let folder = files.db.local_folder(&spec.name, &dir, LIST_LIMIT).await?;
    Ok(Listing {
        repository: spec.name.clone(),
        path: dir,
        folders: folder.folders,
        files: folder.files.into_iter().map(|f| info(public_base, &spec.name, f)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths_and_promised_digests_are_checked() {
        assert!(file_path("a/b.tar.gz").is_ok());
        for bad in ["a/", "../x", "a/%2e%2e/b", "a%2fb", "a\\b", "a%00", ""] {
            assert!(matches!(file_path(bad), Err(LocalError::Invalid(_))), "{bad}");
        }
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(promised(Some(hex)).unwrap(), Some(Digest::from_hex(hex).unwrap()));
        assert_eq!(promised(None).unwrap(), None);
        for bad in ["abc", "sha256:abc", &hex.to_uppercase()[..63]] {
            assert!(matches!(promised(Some(bad)), Err(LocalError::Invalid(_))), "{bad}");
        }
    }
}

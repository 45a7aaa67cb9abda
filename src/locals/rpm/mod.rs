//! rpm locals: yum/dnf repositories that packages are uploaded to.
//!
//! `PUT {local}/{path}.rpm` uploads a package: the body streams into staging, the package's
//! lead and headers are read from there ([`crate::formats::rpm::header`]) before anything is
//! stored, and the file name must be the one its headers give (`{name}-{version}-{release}.{arch}.rpm`,
//! what rpmbuild writes), in any folder but `repodata/`. A package whose headers do not parse is
//! a 400 naming the problem; the same name, epoch, version, release and arch twice is a 409
//! (also after it was deleted: a published package never changes). `DELETE {local}/{path}.rpm`
//! removes one. After every change the repository's metadata is generated again and published
//! as one snapshot ([`snapshot`]).

pub mod snapshot;

use serde_json::json;

use super::files::LocalFiles;
use super::{LocalError, LocalSpec, UploadBody, WriteReply, WriteRequest};
use crate::db::DbError;
use crate::formats::rpm::header;
use crate::formats::rpm::package::Package;
use crate::formats::{has_suffix, LocalVersion, Method};
use crate::paths::RepoPath;

/// The folder of the generated metadata, which uploads may not write to.
pub const REPODATA: &str = "repodata/";

/// The path of a package in a write: decoded, checked, ending in `.rpm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagePath(String);

impl PackagePath {
    /// Checks the still percent-encoded `raw` path of a write.
    pub fn parse(raw: &str) -> Result<PackagePath, LocalError> {
        let path = RepoPath::parse(raw)?;
        let s = path.as_str();
        let name = s.rsplit('/').next().unwrap_or_default();
        if !has_suffix(name, ".rpm") {
            return Err(LocalError::NotAllowed(format!(
                "{raw:?}: an rpm local takes packages (PUT or DELETE {{path}}.rpm); its repodata/ is generated"
            )));
        }
        if s.split('/').any(|seg| seg == "repodata") {
            return Err(LocalError::Invalid(format!("{raw:?}: repodata/ holds the generated metadata, not packages")));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || "._+~^-/".contains(c);
        if !s.chars().all(plain) || s.split('/').any(|seg| seg.is_empty() || seg.starts_with('.')) {
            return Err(LocalError::Invalid(format!(
                "{raw:?}: package paths are folders and file names of letters, digits and ._+~^-"
            )));
        }
        Ok(PackagePath(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file name.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

/// The writes of an rpm local.
pub async fn write(
    files: &LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    let repo = spec.name.as_str();
    let path = PackagePath::parse(req.path)?;
    match req.method {
        Method::Put => {
            let reply = upload(files, repo, &path, body).await?;
            snapshot::regenerate(files, repo).await?;
            Ok(reply)
        }
        Method::Delete => {
            delete(files, repo, &path).await?;
            snapshot::regenerate(files, repo).await?;
            Ok(WriteReply::empty(204))
        }
        m => Err(LocalError::NotAllowed(format!("{m} on an rpm local (PUT or DELETE {{path}}.rpm)"))),
    }
}

/// The record key of a package: its name, and `[epoch:]version-release.arch`.
fn key(p: &Package) -> (String, String) {
    (p.name.clone(), format!("{}.{}", p.evr(), p.arch))
}

/// Reads the headers of the package at `path`.
fn read_package(path: &std::path::Path) -> Result<Package, header::HeaderError> {
    let file = std::fs::File::open(path).map_err(|e| header::HeaderError::Io(e.to_string()))?;
    let headers = header::read(std::io::BufReader::new(file))?;
    Package::from_headers(&headers)
}

/// Stores the uploaded package and records it.
async fn upload(
    files: &LocalFiles,
    repo: &str,
    path: &PackagePath,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    let staged = files.stage(body).await?;
    let mut package = LocalFiles::inspect(&staged, "package", read_package, |e| {
        LocalError::Invalid(format!("{}: rpm header: {e}", path.as_str()))
    })
    .await?;
    let file_name = format!("{}-{}-{}.{}.rpm", package.name, package.version, package.release, package.arch);
    if path.file_name() != file_name {
        staged.discard().await;
        return Err(LocalError::Invalid(format!(
            "{:?} holds {}: upload it as {file_name}",
            path.as_str(),
            package.nevra()
        )));
    }
    let nevra = package.nevra();
    let exists = || LocalError::Conflict(format!("package {nevra} already exists in {repo}"));
    files.refuse_taken(repo, path.as_str(), &staged, exists).await?;
    let committed = files.commit(staged, None).await?;
    package.location = path.as_str().to_string();
    package.sha256 = committed.digest.hex();
    package.size = committed.size;
    package.time_file = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let record = serde_json::to_value(&package).map_err(|e| LocalError::Internal(e.to_string()))?;
    let (name, version) = key(&package);
    let v = LocalVersion::published_now(name, version, record);
    let stored = [LocalFiles::file(path.as_str(), &committed, Some("application/x-rpm"))];
    files.publish_version(repo, &v, &stored, exists).await?;
    Ok(WriteReply::json(
        201,
        &json!({ "nevra": nevra, "path": path.as_str(), "sha256": package.sha256, "size": package.size }),
    ))
}

/// Removes the package stored at `path`.
async fn delete(files: &LocalFiles, repo: &str, path: &PackagePath) -> Result<(), LocalError> {
    let not_found = || LocalError::NotFound(format!("{repo}: no package at {:?}", path.as_str()));
    let packages = files.db.local_packages(repo, None).await?;
    let found = packages
        .published()
        .find(|v| v.metadata.get("location").and_then(|l| l.as_str()) == Some(path.as_str()))
        .ok_or_else(not_found)?;
    let paths = [path.as_str().to_string()];
    files.db.unpublish_local_version(repo, &found.package, &found.version, &paths).await.map_err(|e| match e {
        DbError::NotFound(_) => not_found(),
        other => other.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_paths() {
        for ok in ["a-1-1.noarch.rpm", "Packages/a/a-1.0-1.el9.x86_64.rpm", "x/g++-1~rc1^2-1.src.rpm"] {
            assert_eq!(PackagePath::parse(ok).ok().map(|p| p.0).as_deref(), Some(ok), "{ok}");
        }
        let invalid = [
            "../a-1-1.noarch.rpm",
            "%2e%2e/a-1-1.noarch.rpm",
            "x%2fa-1-1.noarch.rpm",
            "x\\a-1-1.noarch.rpm",
            "x%00a-1-1.noarch.rpm",
            "repodata/a-1-1.noarch.rpm",
            "x/repodata/a-1-1.noarch.rpm",
            "a b-1-1.noarch.rpm",
            "a%20b-1-1.noarch.rpm",
            ".hidden/a-1-1.noarch.rpm",
            "a//a-1-1.noarch.rpm",
        ];
        for raw in invalid {
            assert!(
                matches!(PackagePath::parse(raw), Err(LocalError::Invalid(_))),
                "{raw}: {:?}",
                PackagePath::parse(raw)
            );
        }
        for raw in ["repodata/repomd.xml", "a.txt", ".rpm", "x/"] {
            assert!(
                matches!(PackagePath::parse(raw), Err(LocalError::NotAllowed(_))),
                "{raw}: {:?}",
                PackagePath::parse(raw)
            );
        }
    }
}

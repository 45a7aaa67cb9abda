//! Terraform locals: a provider registry. Provider zips are uploaded with
//! `PUT {local}/{type}/terraform-provider-{type}_{version}_{os}_{arch}.zip` and installed by
//! terraform through the registry protocol (`crate::http::terraform_registry`), the local's
//! name being the provider's namespace.
//!
//! An upload streams into staging and is checked ([`zipcheck`]) before anything is stored: the
//! file name must parse and name the provider of its folder, the version must be semver, the
//! zip must be a provider zip. Then the version's record gains the platform, and a new
//! `SHA256SUMS` listing every platform of the version is signed with the server's key; the
//! zip, the pair and the record are published in one compare-and-set transaction
//! ([`crate::db::local_versions`]), retried when another platform of the version was uploaded
//! meanwhile. The same file twice is a 409; `DELETE` of the same path removes one platform
//! (and the version with its last one), signing a new `SHA256SUMS` for the others.

pub mod zipcheck;

use serde_json::json;

use super::files::LocalFiles;
use super::generic::promised;
use super::{LocalError, LocalSpec, UploadBody, WriteReply, WriteRequest};
use crate::db::local_files::LocalFile;
use crate::db::local_versions::{Replaced, VersionChange};
use crate::formats::terraform::registry::{
    sha256sums, sums_paths, with_platform, PackageFile, PlatformRecord, VersionRecord,
};
use crate::formats::Method;
use crate::paths::RepoPath;

/// Rounds of read, sign and compare-and-set before a write gives up (each lost round means
/// another write to the same version succeeded).
const ATTEMPTS: usize = 32;

/// The writes of a terraform local: `PUT` a provider zip, `DELETE` one.
pub async fn write(
    files: &LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    let file = upload_path(req.path)?;
    match req.method {
        Method::Put => {
            let expected = promised(req.header("x-checksum-sha256"))?;
            let stored = upload(files, &spec.name, &file, expected, body).await?;
            Ok(WriteReply::json(201, &answer(req.public_base, &spec.name, &file, &stored)))
        }
        Method::Delete => {
            remove(files, &spec.name, &file).await?;
            Ok(WriteReply::empty(204))
        }
        m => Err(LocalError::NotAllowed(format!(
            "{m} on a terraform local (PUT or DELETE {{type}}/terraform-provider-{{type}}_{{version}}_{{os}}_{{arch}}.zip)"
        ))),
    }
}

/// The path of an upload or delete: `{type}/terraform-provider-{type}_{version}_{os}_{arch}.zip`.
pub fn upload_path(raw: &str) -> Result<PackageFile, LocalError> {
    let expected = "expected {type}/terraform-provider-{type}_{version}_{os}_{arch}.zip";
    let path = RepoPath::parse(raw)?;
    let [dir, name] = path.segments() else {
        return Err(LocalError::Invalid(format!("{path:?}: {expected}")));
    };
    if path.has_trailing_slash() {
        return Err(LocalError::Invalid(format!("{path:?}: {expected}")));
    }
    let file = PackageFile::parse(name).map_err(|e| LocalError::Invalid(e.to_string()))?;
    if *dir != file.ty {
        return Err(LocalError::Invalid(format!(
            "{name} is a zip of provider {:?}, uploaded under {dir:?}/: upload it under {:?}/",
            file.ty, file.ty
        )));
    }
    Ok(file)
}

/// What an upload stored.
struct Stored {
    platform: PlatformRecord,
    record: VersionRecord,
}

fn answer(public_base: &str, repo: &str, file: &PackageFile, s: &Stored) -> serde_json::Value {
    let url = |path: &str| {
        let encoded = RepoPath::from_decoded(path).map(|p| p.upstream_suffix()).unwrap_or_default();
        format!("{public_base}/api/v1/local/{repo}/{encoded}")
    };
    json!({
        "provider": format!("{repo}/{}", file.ty),
        "version": file.version,
        "os": file.platform.os,
        "arch": file.platform.arch,
        "filename": s.platform.filename,
        "shasum": s.platform.shasum,
        "size": s.platform.size,
        "download_url": url(&file.path()),
        "shasums_url": url(&s.record.shasums),
        "shasums_signature_url": url(&s.record.shasums_signature),
        "key_id": s.record.key_id,
    })
}

async fn upload(
    files: &LocalFiles,
    repo: &str,
    file: &PackageFile,
    expected: Option<artifactapi_actors::digest::Digest>,
    body: UploadBody,
) -> Result<Stored, LocalError> {
    let path = file.path();
    let exists =
        || LocalError::Conflict(format!("{} exists in {repo}; delete it first to replace it", file.file_name()));
    if files.db.local_file(repo, &path).await?.is_some() {
        return Err(exists());
    }
    let staged = files.stage(body).await?;
    let (staged_path, provider) = (staged.path.clone(), file.ty.clone());
    let checked = tokio::task::spawn_blocking(move || zipcheck::check_file(&staged_path, &provider)).await;
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            staged.discard().await;
            return Err(LocalError::Invalid(format!("{}: {why}", file.file_name())));
        }
        Err(e) => {
            staged.discard().await;
            return Err(LocalError::Internal(format!("checking the zip: {e}")));
        }
    }
    let committed = files.commit(staged, expected).await?;
    let zip = LocalFiles::file(&path, &committed, Some("application/zip"));
    let platform = PlatformRecord {
        os: file.platform.os.clone(),
        arch: file.platform.arch.clone(),
        filename: file.file_name(),
        shasum: committed.digest.hex(),
        size: committed.size,
    };
    for _ in 0..ATTEMPTS {
        let previous = files.db.local_version_record(repo, &file.ty, &file.version).await?;
        let (platforms, protocols) = match &previous {
            Some(v) => {
                let r = VersionRecord::from_json(v).map_err(LocalError::Internal)?;
                (with_platform(&r.platforms, platform.clone()).map_err(LocalError::Conflict)?, r.protocols)
            }
            None => (vec![platform.clone()], files.terraform_protocols.clone()),
        };
        let (record, pair) = signed(files, file, protocols, platforms).await?;
        let next = serde_json::to_value(&record).map_err(|e| LocalError::Internal(e.to_string()))?;
        let change = VersionChange {
            package: &file.ty,
            version: &file.version,
            previous: previous.as_ref(),
            next: Some(&next),
            new_files: std::slice::from_ref(&zip),
            addressed_files: &pair,
            removed: &[],
        };
        match files.db.replace_local_version(repo, &change).await? {
            Replaced::Done => return Ok(Stored { platform, record }),
            Replaced::Stale => continue,
            Replaced::FileTaken(_) => return Err(exists()),
        }
    }
    Err(busy(file))
}

fn busy(file: &PackageFile) -> LocalError {
    LocalError::Unavailable(format!("{} {} is being changed by many writers at once; try again", file.ty, file.version))
}

/// The record of a version with `platforms`, and its `SHA256SUMS` and signature, stored.
async fn signed(
    files: &LocalFiles,
    file: &PackageFile,
    protocols: Vec<String>,
    platforms: Vec<PlatformRecord>,
) -> Result<(VersionRecord, Vec<LocalFile>), LocalError> {
    let sums = sha256sums(&platforms);
    let sig =
        files.signer.sign_binary(sums.clone().into_bytes()).await.map_err(|e| LocalError::Internal(e.to_string()))?;
    let sums_blob = files.commit_bytes(sums.as_bytes()).await?;
    let sig_blob = files.commit_bytes(&sig).await?;
    // Named by the signature's digest: every state of the version has its own pair.
    let (sums_path, sig_path) = sums_paths(&file.ty, &file.version, &sig_blob.digest.hex());
    let pair = vec![
        LocalFiles::file(&sums_path, &sums_blob, Some("text/plain; charset=utf-8")),
        LocalFiles::file(&sig_path, &sig_blob, Some("application/pgp-signature")),
    ];
    let record = VersionRecord {
        protocols,
        platforms,
        shasums: sums_path,
        shasums_signature: sig_path,
        key_id: files.signer.key_id().to_string(),
        public_key: files.signer.public_armored().to_string(),
    };
    Ok((record, pair))
}

/// `DELETE`: the platform goes; the version with its last platform.
async fn remove(files: &LocalFiles, repo: &str, file: &PackageFile) -> Result<(), LocalError> {
    let missing = || LocalError::NotFound(format!("{} not found in {repo}", file.file_name()));
    let path = file.path();
    for _ in 0..ATTEMPTS {
        let previous = files.db.local_version_record(repo, &file.ty, &file.version).await?.ok_or_else(missing)?;
        let r = VersionRecord::from_json(&previous).map_err(LocalError::Internal)?;
        r.platform(&file.platform.os, &file.platform.arch).ok_or_else(missing)?;
        let rest: Vec<PlatformRecord> =
            r.platforms.into_iter().filter(|p| !(p.os == file.platform.os && p.arch == file.platform.arch)).collect();
        let (next, pair) = if rest.is_empty() {
            (None, Vec::new())
        } else {
            let (record, pair) = signed(files, file, r.protocols, rest).await?;
            (Some(serde_json::to_value(&record).map_err(|e| LocalError::Internal(e.to_string()))?), pair)
        };
        let change = VersionChange {
            package: &file.ty,
            version: &file.version,
            previous: Some(&previous),
            next: next.as_ref(),
            new_files: &[],
            addressed_files: &pair,
            removed: std::slice::from_ref(&path),
        };
        match files.db.replace_local_version(repo, &change).await? {
            Replaced::Done => return Ok(()),
            Replaced::Stale | Replaced::FileTaken(_) => continue,
        }
    }
    Err(busy(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths_are_checked_before_anything_is_read() {
        let good = "aws/terraform-provider-aws_5.0.0_linux_amd64.zip";
        assert_eq!(upload_path(good).unwrap().path(), good);
        let cases = [
            ("gcp/terraform-provider-aws_5.0.0_linux_amd64.zip", "uploaded under \"gcp\"/"),
            ("terraform-provider-aws_5.0.0_linux_amd64.zip", "expected {type}/"),
            ("a/aws/terraform-provider-aws_5.0.0_linux_amd64.zip", "expected {type}/"),
            ("aws/", "expected {type}/"),
            ("aws/terraform-provider-aws_5.0_linux_amd64.zip", "not a semantic version"),
            ("aws/terraform-provider-aws_5.0.0_linux_amd64.tgz", "expected terraform-provider-"),
            ("../terraform-provider-aws_5.0.0_linux_amd64.zip", "invalid path"),
            ("aws/..%2fterraform-provider-aws_5.0.0_linux_amd64.zip", "invalid path"),
            ("%2e%2e/terraform-provider-aws_5.0.0_linux_amd64.zip", "invalid path"),
            ("aws%2fterraform-provider-aws_5.0.0_linux_amd64.zip", "invalid path"),
            ("aws\\terraform-provider-aws_5.0.0_linux_amd64.zip", "invalid path"),
            ("aws/terraform-provider-aws_5.0.0_linux_amd64.zip%00", "invalid path"),
            ("", "invalid path"),
        ];
        for (raw, want) in cases {
            match upload_path(raw) {
                Err(LocalError::Invalid(m)) => assert!(m.contains(want), "{raw}: {m}"),
                other => panic!("{raw}: {other:?}"),
            }
        }
    }
}

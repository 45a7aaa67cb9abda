//! Puppet locals: module releases published with the Forge API and read by puppet and r10k
//! through the same `/v3` endpoints as a Forge ([`crate::formats::puppet`] generates them).
//!
//! `POST {local}/v3/releases` publishes a release: multipart with the module archive in field
//! `file` (what the Forge API takes), or the archive as the raw body. The archive streams into
//! staging; its `metadata.json` is read from there ([`tarball`]) before anything is published:
//! it names the module, version and dependencies, and the archive must be laid out as
//! `{author}-{name}-{version}/...` with nothing outside that directory (no traversal). The
//! archive and its release record are published in one transaction: the same version twice is
//! a 409, even after it was deleted. `DELETE {local}/v3/releases/{slug}` removes a release.

pub mod tarball;

use artifactapi_actors::storage::Staged;
use bytes::Bytes;
use futures_util::Stream;
use serde_json::json;

use super::files::LocalFiles;
use super::helm::multipart;
use super::{LocalError, LocalSpec, UploadBody, WriteReply, WriteRequest};
use crate::db::DbError;
use crate::formats::puppet::{Endpoint, Release};
use crate::formats::{LocalVersion, Method};
use crate::paths::RepoPath;

/// The writes of a puppet local.
pub async fn write(
    files: &LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    let path = RepoPath::parse(req.path)?;
    let endpoint = Endpoint::parse(path.as_str()).map_err(LocalError::Invalid)?;
    let repo = spec.name.as_str();
    match (req.method, endpoint) {
        (Method::Post, Endpoint::Releases) => {
            let staged = match req.header("content-type").and_then(multipart::boundary) {
                Some(boundary) => from_form(files, body, &boundary).await?,
                None => files.stage(body).await?,
            };
            publish(files, repo, staged).await
        }
        (Method::Delete, Endpoint::Release(r)) => {
            let module = format!("{}-{}", r.author, r.name);
            let paths = [file_path(&r)];
            files.db.unpublish_local_version(repo, &module, &r.version, &paths).await.map_err(|e| match e {
                DbError::NotFound(_) => LocalError::NotFound(format!("release {} not found in {repo}", r.slug())),
                other => other.into(),
            })?;
            Ok(WriteReply::empty(204))
        }
        (m, e) => Err(LocalError::NotAllowed(format!(
            "{m} on {e:?} of a puppet local (POST v3/releases, DELETE v3/releases/{{slug}})"
        ))),
    }
}

/// Where a release's archive is stored: the path the Forge serves it at.
fn file_path(r: &Release) -> String {
    format!("v3/files/{}", r.file_name())
}

/// The archive from field `file` of a multipart upload, staged.
async fn from_form(files: &LocalFiles, body: UploadBody, boundary: &str) -> Result<Staged, LocalError> {
    let mut form = multipart::Multipart::new(body, boundary);
    let mut staged = None;
    loop {
        let part = match form.next_part().await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                if let Some(s) = &staged {
                    Staged::discard(s).await;
                }
                return Err(e);
            }
        };
        if part.name == "file" && staged.is_none() {
            staged = Some(files.stage(part_body(&mut form)).await?);
        }
    }
    staged.ok_or_else(|| LocalError::Invalid("the upload has no \"file\" field".into()))
}

/// The body chunks of the current part of `form`, as a stream.
fn part_body(form: &mut multipart::Multipart) -> impl Stream<Item = Result<Bytes, LocalError>> + Unpin + '_ {
    Box::pin(futures_util::stream::unfold(form, |form| async move {
        match form.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), form)),
            Ok(None) => None,
            Err(e) => Some((Err(e), form)),
        }
    }))
}

/// Publishes the staged archive as the release its `metadata.json` names.
async fn publish(files: &LocalFiles, repo: &str, staged: Staged) -> Result<WriteReply, LocalError> {
    let meta = LocalFiles::inspect(&staged, "module archive", tarball::read_file, |e| {
        LocalError::Invalid(format!("module archive: {e}"))
    })
    .await?;
    let release = Release::parse(&meta.slug()).map_err(LocalError::Invalid)?;
    let exists = || LocalError::Conflict(format!("release {} already exists", release.slug()));
    let path = file_path(&release);
    files.refuse_taken(repo, &path, &staged, exists).await?;
    let committed = files.commit(staged, None).await?;
    let record = json!({
        "metadata": meta.metadata,
        "file_sha256": committed.digest.hex(),
        "file_size": committed.size,
    });
    let stored = vec![LocalFiles::file(&path, &committed, Some("application/gzip"))];
    let v = LocalVersion::published_now(meta.module.clone(), meta.version.clone(), record);
    files.publish_version(repo, &v, &stored, exists).await?;
    Ok(WriteReply::json(201, &json!({ "slug": release.slug(), "file_uri": format!("/{path}") })))
}

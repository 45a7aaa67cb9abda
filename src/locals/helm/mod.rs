//! Helm locals: chart repositories that charts are uploaded to, read by helm through the
//! `index.yaml` generated from them ([`crate::formats::helm`]).
//!
//! Two ways in, both answering like ChartMuseum (`{"saved":true}`, 409
//! `{"error":"file already exists"}`):
//! - `PUT {local}/charts/{name}-{version}.tgz` (or `{local}/{name}-{version}.tgz`), the body the
//!   archive, as curl or Artifactory's deploy would send it; the file name must be the one the
//!   chart's own `Chart.yaml` gives;
//! - `POST {local}/api/charts`, ChartMuseum's upload API (what `helm cm-push` uses): multipart
//!   with the archive in field `chart` and optionally its provenance file in `prov`, or the
//!   archive as the raw body. `DELETE {local}/api/charts/{name}/{version}` removes a version
//!   (which can then never be uploaded again: versions are immutable).
//!
//! The archive streams into staging; its `Chart.yaml` is read from there ([`chart`]) before
//! anything is published, and the chart (with its provenance file) and its index entry are
//! published in one transaction, so of two uploads of one version exactly one wins.

pub mod chart;
pub mod multipart;

use std::future::Future;

use artifactapi_actors::storage::Staged;
use bytes::Bytes;
use futures_util::Stream;
use serde_json::{json, Value};

use super::bodies::read_limited;
use super::files::LocalFiles;
use super::{LocalError, LocalSpec, UploadBody, WriteReply, WriteRequest};
use crate::db::DbError;
use crate::formats::helm::{check_name, check_version};
use crate::formats::{LocalVersion, Method};
use crate::paths::RepoPath;

/// Largest provenance file accepted.
pub const MAX_PROV: u64 = 1 << 20;

/// What a write to a helm local addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `charts/{file}` or `{file}`, a chart archive (`.tgz`).
    Chart(String),
    /// `api/charts`: ChartMuseum's upload.
    Upload,
    /// `api/charts/{name}/{version}`.
    Version { name: String, version: String },
}

impl Route {
    pub fn parse(raw: &str) -> Result<Route, LocalError> {
        let path = RepoPath::parse(raw)?;
        let segments: Vec<&str> = path.as_str().split('/').collect();
        match segments.as_slice() {
            ["api", "charts"] | ["api", "charts", ""] => Ok(Route::Upload),
            ["api", "charts", name, version] => {
                check_name(name).map_err(LocalError::Invalid)?;
                check_version(version).map_err(LocalError::Invalid)?;
                Ok(Route::Version { name: name.to_string(), version: version.to_string() })
            }
            ["charts", file] | [file] if file.len() > ".tgz".len() && file.ends_with(".tgz") => {
                Ok(Route::Chart(file.to_string()))
            }
            _ => Err(LocalError::NotFound(format!(
                "{raw:?}: upload charts with PUT charts/{{name}}-{{version}}.tgz or POST api/charts"
            ))),
        }
    }
}

/// The writes of a helm local.
pub async fn write(
    files: &LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    let repo = spec.name.as_str();
    match (req.method, Route::parse(req.path)?) {
        (Method::Put, Route::Chart(file)) => {
            let staged = files.stage(body).await?;
            publish(files, repo, staged, None, Some(&file)).await
        }
        (Method::Post, Route::Upload) => {
            let (staged, prov) = match req.header("content-type").and_then(multipart::boundary) {
                Some(boundary) => from_form(files, body, &boundary).await?,
                None => (files.stage(body).await?, None),
            };
            publish(files, repo, staged, prov, None).await
        }
        (Method::Delete, Route::Version { name, version }) => {
            let file = format!("charts/{name}-{version}.tgz");
            let paths = [file.clone(), format!("{file}.prov")];
            files.db.unpublish_local_version(repo, &name, &version, &paths).await.map_err(|e| match e {
                DbError::NotFound(_) => LocalError::NotFound(format!("chart {name} {version} not found in {repo}")),
                other => other.into(),
            })?;
            Ok(WriteReply::json(200, &json!({ "deleted": true })))
        }
        (m, route) => Err(LocalError::NotAllowed(format!(
            "{m} on {route:?} of a helm local (PUT charts/{{file}}.tgz, POST api/charts, DELETE api/charts/{{name}}/{{version}})"
        ))),
    }
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

/// Discards `staged` if `result` failed.
async fn or_discard<T>(
    staged: &Option<Staged>,
    result: impl Future<Output = Result<T, LocalError>>,
) -> Result<T, LocalError> {
    let r = result.await;
    if r.is_err() {
        if let Some(s) = staged {
            s.discard().await;
        }
    }
    r
}

/// ChartMuseum's multipart upload: the chart staged from field `chart`, `prov` in memory.
async fn from_form(
    files: &LocalFiles,
    body: UploadBody,
    boundary: &str,
) -> Result<(Staged, Option<Vec<u8>>), LocalError> {
    let mut form = multipart::Multipart::new(body, boundary);
    let (mut staged, mut prov) = (None, None);
    while let Some(part) = or_discard(&staged, form.next_part()).await? {
        match part.name.as_str() {
            "chart" if staged.is_none() => staged = Some(files.stage(part_body(&mut form)).await?),
            "prov" if prov.is_none() => {
                prov = Some(or_discard(&staged, read_limited(part_body(&mut form), MAX_PROV)).await?)
            }
            _ => {}
        }
    }
    let staged = staged.ok_or_else(|| LocalError::Invalid("the upload has no \"chart\" field".into()))?;
    Ok((staged, prov))
}

/// Publishes the staged archive (and its provenance file) as the version its `Chart.yaml`
/// names; `file`, when the client named one, must be that chart's file name.
async fn publish(
    files: &LocalFiles,
    repo: &str,
    staged: Staged,
    prov: Option<Vec<u8>>,
    file: Option<&str>,
) -> Result<WriteReply, LocalError> {
    let meta = LocalFiles::inspect(&staged, "chart", chart::read_file, |e| match e {
        chart::ChartError::TooLarge { limit } => LocalError::TooLarge { limit },
        chart::ChartError::Invalid(_) => LocalError::Invalid(e.to_string()),
    })
    .await?;
    let name = meta.file_name();
    if let Some(file) = file.filter(|f| *f != name) {
        staged.discard().await;
        return Err(LocalError::Invalid(format!(
            "{file:?} holds chart {} version {}: upload it as {name}",
            meta.name, meta.version
        )));
    }
    let exists = || LocalError::Conflict("file already exists".into());
    let path = format!("charts/{name}");
    files.refuse_taken(repo, &path, &staged, exists).await?;
    let committed = files.commit(staged, None).await?;
    let mut entry = meta.entry;
    entry.insert("digest".into(), Value::String(committed.digest.hex()));
    let now = chrono::Utc::now();
    entry.insert("created".into(), Value::String(now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)));
    let mut stored = vec![LocalFiles::file(&path, &committed, Some("application/gzip"))];
    if let Some(prov) = prov {
        let committed = files.commit_bytes(&prov).await?;
        stored.push(LocalFiles::file(&format!("{path}.prov"), &committed, Some("application/pgp-signature")));
    }
    let v = LocalVersion::published_now(meta.name, meta.version, Value::Object(entry));
    files.publish_version(repo, &v, &stored, exists).await?;
    Ok(WriteReply::json(201, &json!({ "saved": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let ok: &[(&str, Route)] = &[
            ("api/charts", Route::Upload),
            ("api/charts/", Route::Upload),
            ("api/charts/web/1.0.0", Route::Version { name: "web".into(), version: "1.0.0".into() }),
            ("charts/web-1.0.0.tgz", Route::Chart("web-1.0.0.tgz".into())),
            ("web-1.0.0.tgz", Route::Chart("web-1.0.0.tgz".into())),
        ];
        for (path, want) in ok {
            assert_eq!(Route::parse(path).as_ref().ok(), Some(want), "{path}");
        }
        let invalid = [
            "../web-1.0.0.tgz",
            "charts/%2e%2e/x.tgz",
            "charts/a%2fb.tgz",
            "api/charts/..%2f/1",
            "api/charts/a b/1",
            "api/charts/web/1;x",
        ];
        for path in invalid {
            assert!(matches!(Route::parse(path), Err(LocalError::Invalid(_))), "{path}: {:?}", Route::parse(path));
        }
        for path in ["index.yaml", "charts/a/b.tgz", ".tgz", "api/other"] {
            assert!(matches!(Route::parse(path), Err(LocalError::NotFound(_))), "{path}: {:?}", Route::parse(path));
        }
    }
}

//! PyPI local repositories, the write side: `twine upload --repository-url
//! {PUBLIC_URL}/api/v1/local/{name}/` (the legacy upload API: one multipart `POST` per file,
//! `:action=file_upload`), and yanking ([`yank`]).
//!
//! An upload is accepted only whole and consistent: the form names its project and version,
//! the file name must say the same ([`dist`]), a wheel's own `METADATA` too ([`wheel`]), and the
//! bytes must hash to the form's `sha256_digest`. Only then is the file committed to the blob
//! store (with the wheel's `METADATA` beside it for PEP 658) and recorded, in one transaction
//! that also refuses a file name the local ever had: the same file twice is a 400
//! `File already exists`, as PyPI answers (in the reason phrase, which is what twine shows), and
//! of two uploads racing for one file name exactly one wins. The read side (simple pages in both
//! forms) is [`crate::formats::pypi`]'s.

pub mod dist;
pub mod form;
pub mod wheel;
pub mod yank;

use artifactapi_actors::digest::Digest;
use serde_json::json;

use super::files::LocalFiles;
use super::{LocalError, LocalSpec, UploadBody, WriteReply, WriteRequest};
use crate::db::local_packages::LocalVersion;
use crate::formats::pypi::{file_path, is_valid_name, normalise, FileRecord, MAX_NAME_BYTES};
use crate::formats::Method;
use dist::{DistKind, DistName};
use form::UploadForm;

/// Content type of the PEP 658 metadata files.
const METADATA_TYPE: &str = "text/plain; charset=utf-8";

/// The writes of a PyPI local: the upload `POST` to the local's root.
pub async fn write(
    files: &LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    match (req.method, req.path) {
        (Method::Post, "" | "legacy/") => {
            let boundary = form::boundary(req.header("content-type"))?;
            let form = form::read(files, &boundary, body).await?;
            let record = upload(files, spec, form).await?;
            let url = format!(
                "{}/api/v1/local/{}/{}",
                req.public_base,
                spec.name,
                file_path(&project_of(&record), &record.filename)
            );
            Ok(WriteReply::json(200, &json!({ "filename": record.filename, "sha256": record.sha256, "url": url })))
        }
        (m, _) => Err(LocalError::NotAllowed(format!(
            "{m} /{} on a pypi local: upload with `twine upload --repository-url {}/api/v1/local/{}/`",
            req.path, req.public_base, spec.name
        ))),
    }
}

fn project_of(r: &FileRecord) -> String {
    normalise(&r.name)
}

/// A required field of the form.
fn required<'f>(value: &'f Option<String>, field: &str) -> Result<&'f str, LocalError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| LocalError::Invalid(format!("{field}: required field missing from the upload form")))
}

/// What a checked form uploads.
struct Checked {
    dist: DistName,
    filename: String,
    digest: Digest,
}

/// Checks the form against itself and the staged bytes; nothing is stored yet.
fn check(form: &UploadForm) -> Result<Checked, LocalError> {
    match required(&form.action, ":action")? {
        "file_upload" => {}
        other => return Err(LocalError::Invalid(format!(":action: {other:?} is not supported (file_upload is)"))),
    }
    let name = required(&form.name, "name")?;
    let version = required(&form.version, "version")?;
    let filetype = required(&form.filetype, "filetype")?;
    let sha256 = required(&form.sha256_digest, "sha256_digest")?;
    let Some((filename, staged)) = &form.content else {
        return Err(LocalError::Invalid("content: required field missing from the upload form".into()));
    };
    if name.len() > MAX_NAME_BYTES || !is_valid_name(name) {
        return Err(LocalError::Invalid(format!("name: {name:?} is not a valid project name")));
    }
    let dist = dist::parse(filename).map_err(|e| LocalError::Invalid(format!("content: {e}")))?;
    if dist.kind.filetype() != filetype {
        return Err(LocalError::Invalid(format!(
            "filetype: {filetype:?}, but {filename:?} is a {}",
            dist.kind.filetype()
        )));
    }
    if dist.project != normalise(name) {
        return Err(LocalError::Invalid(format!("content: {filename:?} is not a file of project {name:?}")));
    }
    if !dist::same_version(&dist.version, version) {
        return Err(LocalError::Invalid(format!("content: {filename:?} is not version {version:?}")));
    }
    let expected = Digest::from_hex(&sha256.to_ascii_lowercase())
        .map_err(|e| LocalError::Invalid(format!("sha256_digest: {sha256:?}: {e}")))?;
    if expected != staged.digest {
        return Err(LocalError::DigestMismatch { expected: expected.hex(), actual: staged.digest });
    }
    Ok(Checked { dist, filename: filename.clone(), digest: expected })
}

/// How PyPI starts the answer to an upload of a file name it had before (what twine shows, and
/// what its `--skip-existing` looks for).
pub const EXISTS: &str = "File already exists";

fn exists(filename: &str, repo: &str) -> LocalError {
    LocalError::Invalid(format!("{EXISTS}: {filename} was uploaded to {repo} before"))
}

/// The reason phrase of an error answer to twine. PyPI puts its message there and twine shows
/// only that (the body with `--verbose`); phrases are fixed strings, so the common refusals get
/// theirs and the rest the status's own.
pub fn reason_phrase(e: &LocalError) -> Option<&'static str> {
    match e {
        LocalError::Invalid(m) if m.starts_with(EXISTS) => Some(EXISTS),
        LocalError::DigestMismatch { .. } => Some("Digest mismatch: the file's sha256 is not sha256_digest"),
        LocalError::TooLarge { .. } => Some("File too large (LOCAL_MAX_UPLOAD)"),
        LocalError::Invalid(m) if m.starts_with("content: ") => Some("Invalid distribution file"),
        LocalError::Invalid(m) if m.contains("required field missing") => Some("Missing field in the upload form"),
        _ => None,
    }
}

/// Checks, commits and records one uploaded file.
async fn upload(files: &LocalFiles, spec: &LocalSpec, form: UploadForm) -> Result<FileRecord, LocalError> {
    let checked = match check(&form) {
        Ok(c) => c,
        Err(e) => {
            form.discard().await;
            return Err(e);
        }
    };
    let project = checked.dist.project.clone();
    let path = file_path(&project, &checked.filename);
    let taken = files.db.local_file(&spec.name, &path).await;
    if !matches!(taken, Ok(None)) {
        form.discard().await;
        taken?;
        return Err(exists(&checked.filename, &spec.name));
    }
    let version = form.version.as_deref().unwrap_or_default().trim().to_string();
    let UploadForm { name, pyversion, summary, requires_python, content, .. } = form;
    let Some((_, staged)) = content else { return Err(LocalError::Internal("no staged content".into())) };
    let metadata = match checked.dist.kind {
        DistKind::Sdist => None,
        DistKind::Wheel => {
            let (p, v) = (project.clone(), version.clone());
            let read = move |at: &std::path::Path| wheel::core_metadata(at, &p, &v);
            Some(
                LocalFiles::inspect(&staged, "wheel", read, |why| LocalError::Invalid(format!("content: {why}")))
                    .await?,
            )
        }
    };
    let committed = files.commit(staged, Some(checked.digest)).await?;
    let mut stored = vec![LocalFiles::file(&path, &committed, Some("application/octet-stream"))];
    let mut core_metadata_sha256 = None;
    if let Some(bytes) = metadata {
        let meta = files.commit_bytes(&bytes).await?;
        core_metadata_sha256 = Some(meta.digest.hex());
        stored.push(LocalFiles::file(&format!("{path}.metadata"), &meta, Some(METADATA_TYPE)));
    }
    let now = chrono::Utc::now();
    let record = FileRecord {
        name: name.unwrap_or_default().trim().to_string(),
        version,
        filename: checked.filename.clone(),
        filetype: checked.dist.kind.filetype().to_string(),
        pyversion: pyversion.filter(|v| !v.is_empty()),
        requires_python: requires_python.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
        summary: summary.filter(|v| !v.is_empty()),
        sha256: committed.digest.hex(),
        size: committed.size,
        core_metadata_sha256,
        yanked: None,
        upload_time: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    };
    let v = LocalVersion::published_now(
        project,
        checked.filename.clone(),
        serde_json::to_value(&record).map_err(|e| LocalError::Internal(e.to_string()))?,
    );
    files.publish_version(&spec.name, &v, &stored, || exists(&checked.filename, &spec.name)).await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use artifactapi_actors::storage::Staged;

    const FILE: &str = "alpha_lib-1.0.0-py3-none-any.whl";

    /// A change to a good form, and what the refusal must say.
    type Case = (&'static str, Box<dyn Fn(&mut UploadForm)>);

    fn form(edit: &dyn Fn(&mut UploadForm)) -> UploadForm {
        let digest = Digest::of(b"wheel bytes");
        let mut f = UploadForm {
            action: Some("file_upload".into()),
            name: Some("Alpha_Lib".into()),
            version: Some("1.0.0".into()),
            filetype: Some("bdist_wheel".into()),
            sha256_digest: Some(digest.hex().to_uppercase()),
            content: Some((FILE.into(), Staged { path: "/nonexistent".into(), digest, size: 11, sha512: None })),
            ..Default::default()
        };
        edit(&mut f);
        f
    }

    #[test]
    fn forms_are_checked_against_themselves_and_the_bytes() {
        let ok = check(&form(&|_| {})).unwrap();
        assert_eq!((ok.dist.project.as_str(), ok.filename.as_str()), ("alpha-lib", FILE));
        let cases: Vec<Case> = vec![
            (":action: required", Box::new(|f| f.action = None)),
            (":action: \"submit\" is not supported", Box::new(|f| f.action = Some("submit".into()))),
            ("name: required", Box::new(|f| f.name = Some("  ".into()))),
            ("version: required", Box::new(|f| f.version = None)),
            ("filetype: required", Box::new(|f| f.filetype = None)),
            ("sha256_digest: required", Box::new(|f| f.sha256_digest = None)),
            ("content: required", Box::new(|f| f.content = None)),
            ("name: \"../alpha\" is not", Box::new(|f| f.name = Some("../alpha".into()))),
            ("filetype: \"sdist\", but", Box::new(|f| f.filetype = Some("sdist".into()))),
            ("is not a file of project \"beta\"", Box::new(|f| f.name = Some("beta".into()))),
            ("is not version \"1.0.1\"", Box::new(|f| f.version = Some("1.0.1".into()))),
            ("sha256_digest: \"abc\"", Box::new(|f| f.sha256_digest = Some("abc".into()))),
            ("content digest mismatch", Box::new(|f| f.sha256_digest = Some(Digest::of(b"x").hex()))),
            (
                "content: \"../alpha_lib-1.0.0-py3-none-any.whl\" is not",
                Box::new(|f| {
                    if let Some((name, _)) = f.content.as_mut() {
                        *name = format!("../{FILE}");
                    }
                }),
            ),
        ];
        for (want, edit) in cases {
            let err = check(&form(&*edit)).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(want), "{want}: got {err:?}");
        }
    }

    #[test]
    fn refusals_get_the_reason_phrase_twine_shows() {
        assert_eq!(reason_phrase(&exists(FILE, "pyl")), Some(EXISTS));
        assert!(reason_phrase(&LocalError::TooLarge { limit: 1 }).is_some_and(|r| r.contains("too large")));
        assert_eq!(reason_phrase(&LocalError::NotFound("x".into())), None);
    }
}

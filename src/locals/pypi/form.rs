//! The upload form of the legacy PyPI upload API (what twine posts): `multipart/form-data`
//! with text fields (`:action`, `name`, `version`, `filetype`, `sha256_digest`, ...) and the
//! file as the part `content`.
//!
//! The body is read part by part as it arrives (`multer`): the file part streams into staging
//! through [`LocalFiles::stage`] (hashed as it is written, refused past `LOCAL_MAX_UPLOAD`),
//! text fields are read with a limit each, and fields this server does not keep (the long
//! description, classifiers, ...) are counted and dropped. Parts may come in any order. A body
//! that breaks off, or is not a complete multipart body, is an error and leaves nothing staged.

use artifactapi_actors::storage::Staged;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::locals::files::LocalFiles;
use crate::locals::{LocalError, UploadBody};

/// Longest value of a field this server keeps.
pub const MAX_FIELD: usize = 64 * 1024;
/// Most bytes of text fields in one form, kept or not (descriptions are inlined READMEs).
pub const MAX_TEXT: u64 = 32 << 20;
/// Most parts in one form.
pub const MAX_PARTS: usize = 1000;

/// The fields kept from an upload form.
#[derive(Debug, Default)]
pub struct UploadForm {
    pub action: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub filetype: Option<String>,
    pub pyversion: Option<String>,
    pub metadata_version: Option<String>,
    pub summary: Option<String>,
    pub requires_python: Option<String>,
    pub sha256_digest: Option<String>,
    /// The file: its name as the part gave it, and its bytes in staging.
    pub content: Option<(String, Staged)>,
}

impl UploadForm {
    fn slot(&mut self, field: &str) -> Option<&mut Option<String>> {
        Some(match field {
            ":action" => &mut self.action,
            "name" => &mut self.name,
            "version" => &mut self.version,
            "filetype" => &mut self.filetype,
            "pyversion" => &mut self.pyversion,
            "metadata_version" => &mut self.metadata_version,
            "summary" => &mut self.summary,
            "requires_python" => &mut self.requires_python,
            "sha256_digest" => &mut self.sha256_digest,
            _ => return None,
        })
    }

    /// Deletes the staged file (after a refusal).
    pub async fn discard(self) {
        if let Some((_, staged)) = self.content {
            staged.discard().await;
        }
    }
}

/// The multipart boundary of a `Content-Type`.
pub fn boundary(content_type: Option<&str>) -> Result<String, LocalError> {
    let ct = content_type.ok_or_else(|| LocalError::Invalid("Content-Type: multipart/form-data expected".into()))?;
    multer::parse_boundary(ct).map_err(|e| {
        LocalError::Invalid(format!("Content-Type {ct:?}: multipart/form-data with a boundary expected ({e})"))
    })
}

/// Reads the form, staging the file; on any error nothing stays staged.
pub async fn read(files: &LocalFiles, boundary: &str, body: UploadBody) -> Result<UploadForm, LocalError> {
    let mut form = UploadForm::default();
    match read_into(&mut form, files, boundary, body).await {
        Ok(()) => Ok(form),
        Err(e) => {
            form.discard().await;
            Err(e)
        }
    }
}

async fn read_into(
    form: &mut UploadForm,
    files: &LocalFiles,
    boundary: &str,
    body: UploadBody,
) -> Result<(), LocalError> {
    let mut parts = multer::Multipart::new(sendable(body), boundary);
    let mut text = 0u64;
    let mut count = 0usize;
    while let Some(mut field) = parts.next_field().await.map_err(multipart_error)? {
        count += 1;
        if count > MAX_PARTS {
            return Err(LocalError::Invalid(format!("more than {MAX_PARTS} parts in the upload form")));
        }
        let name = field.name().unwrap_or_default().to_string();
        if name == "content" {
            let file = field.file_name().unwrap_or_default().to_string();
            if form.content.is_some() {
                return Err(LocalError::Invalid("content: given twice".into()));
            }
            let staged = files.stage(Box::pin(field.map(|c| c.map_err(|e| multipart_error(e).to_string())))).await?;
            form.content = Some((file, staged));
            continue;
        }
        let mut value = Vec::new();
        let keep = form.slot(&name).is_some();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            text += chunk.len() as u64;
            if text > MAX_TEXT {
                return Err(LocalError::TooLarge { limit: MAX_TEXT });
            }
            if keep {
                if value.len() + chunk.len() > MAX_FIELD {
                    return Err(LocalError::Invalid(format!("{name}: longer than {MAX_FIELD} bytes")));
                }
                value.extend_from_slice(&chunk);
            }
        }
        if let Some(slot) = form.slot(&name) {
            let value = String::from_utf8(value).map_err(|_| LocalError::Invalid(format!("{name}: not UTF-8")))?;
            if slot.replace(value).is_some() {
                return Err(LocalError::Invalid(format!("{name}: given twice")));
            }
        }
    }
    Ok(())
}

fn multipart_error(e: multer::Error) -> LocalError {
    match e {
        multer::Error::StreamReadFailed(e) => LocalError::Body(e.to_string()),
        other => LocalError::Invalid(format!("malformed multipart body: {other}")),
    }
}

/// The body as a stream `multer` takes (it wants `Send`; the request's own body lives on this
/// thread): a task on this thread forwards it through a small channel, so at most a few chunks
/// wait between the two.
fn sendable(mut body: UploadBody) -> impl Stream<Item = Result<Bytes, String>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(4);
    actix_rt::spawn(async move {
        while let Some(item) = body.next().await {
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

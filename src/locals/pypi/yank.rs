//! Yanking a release of a PyPI local (PEP 592): every file of the version stays downloadable,
//! but both forms of the project page mark it yanked (with the reason), so pip and uv skip it
//! unless a requirement pins that exact version. Unyanking clears the mark. Driven by the
//! management API (`POST /api/v2/locals/{name}/pypi/yank|unyank`).

use serde::{Deserialize, Serialize};

use super::dist::same_version;
use crate::db::Db;
use crate::formats::pypi::{is_valid_name, normalise, FileRecord};
use crate::locals::LocalError;

/// The body of a yank or unyank request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YankRequest {
    pub project: String,
    pub version: String,
    /// Why (yank only); shown by pip when it installs a pinned yanked version.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a yank or unyank changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct YankReply {
    pub project: String,
    pub version: String,
    pub yanked: bool,
    /// The files of the version.
    pub files: Vec<String>,
}

/// Longest yank reason kept.
pub const MAX_REASON: usize = 1024;

/// Marks every file of `version` of `project` in local `repo` yanked (`reason: Some`, possibly
/// empty) or not (`None`).
pub async fn set(db: &Db, repo: &str, req: &YankRequest, yank: bool) -> Result<YankReply, LocalError> {
    if !is_valid_name(&req.project) {
        return Err(LocalError::Invalid(format!("project: {:?} is not a project name", req.project)));
    }
    let reason = match (&req.reason, yank) {
        (Some(r), true) if r.len() > MAX_REASON => {
            return Err(LocalError::Invalid(format!("reason: longer than {MAX_REASON} bytes")))
        }
        (Some(_), false) => return Err(LocalError::Invalid("reason: only a yank has one".into())),
        (r, true) => Some(r.clone().unwrap_or_default()),
        (None, false) => None,
    };
    let project = normalise(&req.project);
    let packages = db.local_packages(repo, Some(&project)).await?;
    let mut files = Vec::new();
    for v in packages.published() {
        let mut record = FileRecord::from_metadata(&v.metadata).map_err(LocalError::Internal)?;
        if !same_version(&record.version, &req.version) {
            continue;
        }
        record.yanked = reason.clone();
        let metadata = serde_json::to_value(&record).map_err(|e| LocalError::Internal(e.to_string()))?;
        db.update_local_metadata(repo, &v.package, &v.version, &metadata).await?;
        files.push(record.filename);
    }
    if files.is_empty() {
        return Err(LocalError::NotFound(format!("{project} {} has no files in {repo}", req.version)));
    }
    Ok(YankReply { project, version: req.version.clone(), yanked: yank, files })
}

//! Goproxy locals: Go module versions uploaded in the GOPROXY layout, served to `go` as a
//! module proxy.
//!
//! A version is three `PUT`s below the local, as Artifactory's Go repositories take them:
//! `{module}/@v/{version}.info`, `.mod` and `.zip`, module and version case-encoded (`!x`).
//! The `.zip` comes last and publishes: `.info` and `.mod` before it are held as pending parts
//! (stored, invisible, replaceable), and the zip's upload checks the zip ([`zipcheck`]), checks
//! that its `go.mod` equals the pending `.mod` and declares the module's path, and then publishes
//! the three files and the version in one transaction. Either part may be left out: the `.mod`
//! is then the zip's `go.mod`, the `.info` `{"Version", "Time"}` of the upload. So a version is
//! visible with all three files or not at all, a published version never changes (every part
//! of it is a 409 afterwards), and of two uploads racing for one version exactly one wins.
//! Reads, `@v/list` and `@latest` are the read side's ([`crate::formats::goproxy`]).

pub mod zipcheck;

use serde_json::json;

use super::bodies::{read_file, read_limited};
use super::files::{stage, LocalFiles};
use super::{LocalError, LocalSpec, UploadBody, WriteReply, WriteRequest};
use crate::db::local_files::LocalFile;
use crate::db::DbError;
use crate::formats::goproxy::{versions, Endpoint};
use crate::formats::{LocalVersion, Method};
use crate::paths::RepoPath;

/// Largest `.info` accepted.
pub const MAX_INFO: u64 = 64 << 10;
/// Where pending parts are kept: below a name no GOPROXY request can reach (`@` is not allowed
/// in a module path's first element).
const PENDING: &str = "@pending/";

/// Which file of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext {
    Info,
    Mod,
    Zip,
}

impl Ext {
    fn as_str(self) -> &'static str {
        match self {
            Ext::Info => "info",
            Ext::Mod => "mod",
            Ext::Zip => "zip",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Ext::Info => "application/json",
            Ext::Mod => "text/plain; charset=utf-8",
            Ext::Zip => "application/zip",
        }
    }
}

/// The file of an upload: the module and version as encoded in the path and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub module_enc: String,
    pub version_enc: String,
    pub module: String,
    pub version: String,
    pub ext: Ext,
}

impl Part {
    /// Parses the path of an upload: a `.info`, `.mod` or `.zip` of a canonical version.
    pub fn parse(raw: &str) -> Result<Part, LocalError> {
        let path = RepoPath::parse(raw)?;
        let (module, version, ext) = match Endpoint::parse(path.as_str()) {
            Ok(Endpoint::Info { module, version }) => (module, version, Ext::Info),
            Ok(Endpoint::Mod { module, version }) => (module, version, Ext::Mod),
            Ok(Endpoint::Zip { module, version }) => (module, version, Ext::Zip),
            Ok(_) | Err(crate::formats::goproxy::EndpointError::Unknown(_)) => {
                return Err(LocalError::Invalid(format!(
                    "{raw:?}: upload {{module}}/@v/{{version}}.info, .mod and .zip (the zip last)"
                )))
            }
            Err(e) => return Err(LocalError::Invalid(e.to_string())),
        };
        let decoded =
            |s: &str| versions::decode(s).ok_or_else(|| LocalError::Invalid(format!("{s:?}: bad case encoding")));
        let (module_dec, version_dec) = (decoded(module)?, decoded(version)?);
        if versions::canonical(&version_dec).is_none() {
            return Err(LocalError::Invalid(format!(
                "version {version_dec:?} is not a canonical semantic version (vMAJOR.MINOR.PATCH[-pre][+build])"
            )));
        }
        Ok(Part {
            module_enc: module.to_string(),
            version_enc: version.to_string(),
            module: module_dec,
            version: version_dec,
            ext,
        })
    }

    /// The stored path of this version's `ext` file.
    pub fn path(&self, ext: Ext) -> String {
        format!("{}/@v/{}.{}", self.module_enc, self.version_enc, ext.as_str())
    }

    /// Where a pending part is kept.
    fn pending(&self, ext: Ext) -> String {
        format!("{PENDING}{}", self.path(ext))
    }
}

/// The module path a `go.mod` declares (its `module` directive), if any.
pub fn declared_module(go_mod: &str) -> Option<&str> {
    go_mod.lines().find_map(|line| {
        let line = line.split("//").next().unwrap_or("").trim();
        let rest = line.strip_prefix("module")?;
        if !rest.starts_with([' ', '\t', '"']) {
            return None;
        }
        Some(rest.trim().trim_matches('"'))
    })
}

/// Checks a `.mod`: UTF-8, and declaring `module`.
pub fn check_go_mod(bytes: &[u8], module: &str) -> Result<(), LocalError> {
    let text = std::str::from_utf8(bytes).map_err(|_| LocalError::Invalid("go.mod is not UTF-8".into()))?;
    match declared_module(text) {
        Some(m) if m == module => Ok(()),
        Some(m) => Err(LocalError::Invalid(format!("go.mod declares module {m:?}, not {module:?}"))),
        None => Err(LocalError::Invalid("go.mod has no module directive".into())),
    }
}

/// Checks an `.info`: a JSON object whose `Version` is the version (and `Time`, if given, a
/// string); the parsed object.
pub fn check_info(bytes: &[u8], version: &str) -> Result<serde_json::Value, LocalError> {
    let info: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| LocalError::Invalid(format!(".info is not JSON: {e}")))?;
    if info.get("Version").and_then(|v| v.as_str()) != Some(version) {
        return Err(LocalError::Invalid(format!(".info: \"Version\" must be {version:?}")));
    }
    if info.get("Time").is_some_and(|t| !t.is_string()) {
        return Err(LocalError::Invalid(".info: \"Time\" must be an RFC 3339 string".into()));
    }
    Ok(info)
}

fn published(part: &Part, repo: &str) -> LocalError {
    LocalError::Conflict(format!("{}@{} is published in {repo}: a version never changes", part.module, part.version))
}

/// The writes of a goproxy local: `PUT` of a version's files.
pub async fn write(
    files: &LocalFiles,
    spec: &LocalSpec,
    req: &WriteRequest<'_>,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    if req.method != Method::Put {
        return Err(LocalError::NotAllowed(format!("{} on a goproxy local (allowed: GET, HEAD, PUT)", req.method)));
    }
    let part = Part::parse(req.path)?;
    let repo = spec.name.as_str();
    if files.db.local_file(repo, &part.path(Ext::Zip)).await?.is_some() {
        return Err(published(&part, repo));
    }
    match part.ext {
        Ext::Info => {
            let bytes = read_limited(body, MAX_INFO).await?;
            check_info(&bytes, &part.version)?;
            hold(files, repo, &part, &bytes).await
        }
        Ext::Mod => {
            let bytes = read_limited(body, zipcheck::GO_LIMITS.go_mod).await?;
            check_go_mod(&bytes, &part.module)?;
            hold(files, repo, &part, &bytes).await
        }
        Ext::Zip => publish(files, req.public_base, repo, &part, body).await,
    }
}

/// Keeps a `.info` or `.mod` until its zip arrives.
async fn hold(files: &LocalFiles, repo: &str, part: &Part, bytes: &[u8]) -> Result<WriteReply, LocalError> {
    let committed = files.commit_bytes(bytes).await?;
    let file = LocalFiles::file(&part.pending(part.ext), &committed, Some(part.ext.content_type()));
    files.db.put_local_file(repo, &file, true).await?;
    let message = format!(
        "{}@{} .{} held: the version is published when its .zip is uploaded",
        part.module,
        part.version,
        part.ext.as_str()
    );
    Ok(WriteReply::json(202, &json!({ "module": part.module, "version": part.version, "pending": message })))
}

/// A pending part, if one was uploaded: its file and bytes.
async fn pending(
    files: &LocalFiles,
    repo: &str,
    part: &Part,
    ext: Ext,
    limit: u64,
) -> Result<Option<(LocalFile, Vec<u8>)>, LocalError> {
    let Some(file) = files.db.local_file(repo, &part.pending(ext)).await? else { return Ok(None) };
    let bytes = read_file(files, &file, limit).await?;
    Ok(Some((file, bytes)))
}

/// The `.zip`: checked, then published with its `.info` and `.mod`.
async fn publish(
    files: &LocalFiles,
    public_base: &str,
    repo: &str,
    part: &Part,
    body: UploadBody,
) -> Result<WriteReply, LocalError> {
    let limits = zipcheck::Limits { zip: files.max_upload.min(zipcheck::GO_LIMITS.zip), ..zipcheck::GO_LIMITS };
    let staged = stage(&files.staging, body, limits.zip).await?;
    let (path, module, version) = (staged.path.clone(), part.module.clone(), part.version.clone());
    let checked = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(|e| zipcheck::ZipError::Invalid(format!("staged zip: {e}")))?;
        zipcheck::check(std::io::BufReader::new(file), &module, &version, &limits)
    })
    .await
    .map_err(|e| LocalError::Internal(format!("checking the zip: {e}")));
    let zip = match checked {
        Ok(Ok(zip)) => zip,
        Ok(Err(e)) => {
            staged.discard().await;
            return Err(match e {
                zipcheck::ZipError::TooLarge { limit, .. } => LocalError::TooLarge { limit },
                zipcheck::ZipError::Invalid(_) => LocalError::Invalid(e.to_string()),
            });
        }
        Err(e) => {
            staged.discard().await;
            return Err(e);
        }
    };
    let held_mod = pending(files, repo, part, Ext::Mod, limits.go_mod).await?;
    let held_info = pending(files, repo, part, Ext::Info, MAX_INFO).await?;
    let go_mod = match (&held_mod, zip.go_mod) {
        (Some((_, held)), Some(zipped)) if *held != zipped => {
            staged.discard().await;
            return Err(LocalError::Invalid(format!(
                "the go.mod in the zip differs from the uploaded {}.mod",
                part.version
            )));
        }
        (Some((_, held)), _) => held.clone(),
        (None, Some(zipped)) => zipped,
        (None, None) => format!("module {}\n", part.module).into_bytes(),
    };
    if let Err(e) = check_go_mod(&go_mod, &part.module) {
        staged.discard().await;
        return Err(e);
    }
    let info = match &held_info {
        Some((_, bytes)) => match check_info(bytes, &part.version) {
            Ok(info) => info,
            Err(e) => {
                staged.discard().await;
                return Err(e);
            }
        },
        None => {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            json!({ "Version": part.version, "Time": now })
        }
    };
    let zip_file = LocalFiles::file(&part.path(Ext::Zip), &files.commit(staged, None).await?, Some("application/zip"));
    let mod_file = match &held_mod {
        Some((f, _)) => LocalFile { path: part.path(Ext::Mod), ..f.clone() },
        None => {
            LocalFiles::file(&part.path(Ext::Mod), &files.commit_bytes(&go_mod).await?, Some(Ext::Mod.content_type()))
        }
    };
    let info_file = match &held_info {
        Some((f, _)) => LocalFile { path: part.path(Ext::Info), ..f.clone() },
        None => {
            let bytes = serde_json::to_vec(&info).map_err(|e| LocalError::Internal(e.to_string()))?;
            LocalFiles::file(&part.path(Ext::Info), &files.commit_bytes(&bytes).await?, Some(Ext::Info.content_type()))
        }
    };
    let v = LocalVersion::published_now(part.module_enc.clone(), part.version.clone(), info);
    files.db.publish_local_version(repo, &v, &[info_file, mod_file, zip_file.clone()], &[]).await.map_err(
        |e| match e {
            DbError::Conflict(_) => published(part, repo),
            other => other.into(),
        },
    )?;
    for ext in [Ext::Info, Ext::Mod] {
        // Leftovers are harmless (invisible, replaced by the next upload); the version is out.
        let _ = files.db.delete_local_file(repo, &part.pending(ext)).await;
    }
    let url = |ext| format!("{public_base}/api/v1/local/{repo}/{}", part.path(ext));
    Ok(WriteReply::json(
        201,
        &json!({
            "module": part.module,
            "version": part.version,
            "files": zip.files,
            "sha256": zip_file.digest.hex(),
            "info": url(Ext::Info), "mod": url(Ext::Mod), "zip": url(Ext::Zip),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths_are_parsed_and_decoded() {
        let p = Part::parse("example.com/!org/!lib/@v/v1.0.0-!r!c1.zip").unwrap();
        assert_eq!((p.module.as_str(), p.version.as_str(), p.ext), ("example.com/Org/Lib", "v1.0.0-RC1", Ext::Zip));
        assert_eq!(p.path(Ext::Mod), "example.com/!org/!lib/@v/v1.0.0-!r!c1.mod");
        assert_eq!(p.pending(Ext::Info), "@pending/example.com/!org/!lib/@v/v1.0.0-!r!c1.info");
        let cases: &[(&str, &str)] = &[
            ("../x/@v/v1.0.0.zip", "invalid path"),
            ("example.com/%2e%2e/@v/v1.0.0.zip", "invalid path"),
            ("example.com/a%2fb/@v/v1.0.0.zip", "invalid path"),
            ("example.com/m/@v/..%2fx.zip", "invalid path"),
            ("example.com/M/@v/v1.0.0.zip", "upper-case"),
            ("example.com/m/@v/master.zip", "canonical"),
            ("example.com/m/@v/v1.0.zip", "canonical"),
            ("example.com/m/@v/list", "upload {module}"),
            ("example.com/m/@latest", "upload {module}"),
            ("example.com/m/file.zip", "upload {module}"),
            ("@pending/example.com/m/@v/v1.0.0.zip", "not allowed"),
        ];
        for (path, fragment) in cases {
            match Part::parse(path) {
                Err(LocalError::Invalid(m)) => assert!(m.contains(fragment), "{path}: {m}"),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn go_mod_and_info_are_checked() {
        assert_eq!(declared_module("// c\nmodule example.com/M // x\n\ngo 1.19\n"), Some("example.com/M"));
        assert_eq!(declared_module("module \"example.com/q\"\n"), Some("example.com/q"));
        assert_eq!(declared_module("modules x\n"), None);
        assert!(check_go_mod(b"module example.com/M\n", "example.com/M").is_ok());
        assert!(check_go_mod(b"module example.com/other\n", "example.com/M").is_err());
        assert!(check_go_mod(b"go 1.19\n", "example.com/M").is_err());
        assert!(check_go_mod(b"\xff", "example.com/M").is_err());
        assert!(check_info(br#"{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}"#, "v1.0.0").is_ok());
        for bad in [&br#"{"Version":"v1.0.1"}"#[..], br#"{"Version":"v1.0.0","Time":3}"#, b"[]", b"{"] {
            assert!(check_info(bad, "v1.0.0").is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}

//! Go module proxies (the GOPROXY protocol).
//!
//! Every path is parsed once into an [`Endpoint`] (split on `/@v/` and `/@latest`, since module
//! paths contain slashes). `{module}/@v/list` and `{module}/@latest` change with each release;
//! `{module}/@v/{version}.mod` and `.zip`, and `.info` of a published version, are
//! byte-identical forever (the checksum database depends on it). Paths that are no GOPROXY
//! endpoint, and the `sumdb/...` endpoints (no checksum database is proxied), are refused
//! before the upstream is asked: the `go` command treats only 404 and 410 as "not here".
//!
//! A goproxy local serves the `.info`, `.mod` and `.zip` files of its published versions as
//! stored, and generates `@v/list` and `@latest` from the versions (the write side is
//! `crate::locals::goproxy`). In a virtual, a local listed before a remote shadows the remote's
//! versions of a module it has: `@v/list` then lists the local's versions only, and the remotes
//! after it are not asked (a private module's path never reaches a public proxy).

mod endpoint;
pub mod versions;

pub use endpoint::{Endpoint, EndpointError, MAX_MODULE_BYTES, MAX_VERSION_BYTES};

use std::borrow::Cow;

use super::files::{file_target, FileError};
use super::{Class, Doc, Format, LocalPackages, LocalPlan, PackageType, Plan, ProtocolError, Rendered, Repo, Request};
use crate::paths::{PathError, RepoPath};

/// `@v/list` is the one goproxy document: served as the upstream sent it, merged in virtuals.
const LIST: Doc = Doc { variant: "", accept: "" };
const LIST_TYPE: &str = "text/plain; charset=utf-8";

pub struct Goproxy;

/// What a GOPROXY request asks for (the module path and version stay in [`GoRequest::path`],
/// case-encoded, byte for byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    List,
    Latest,
    /// `.info`; `immutable` for a canonical semantic version (a query such as `master` moves).
    Info {
        immutable: bool,
    },
    Mod,
    Zip,
}

/// A parsed GOPROXY request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoRequest {
    pub path: RepoPath,
    /// The module path, case-encoded as in the path (empty for `sumdb` requests).
    pub module: String,
    pub kind: Kind,
}

/// Why a request is no GOPROXY request this remote serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoError {
    #[error(transparent)]
    Path(#[from] FileError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The checksum database is not proxied: the `go` command then asks it directly.
    #[error("checksum database {0:?} is not proxied by this remote (set GOSUMDB to reach it directly)")]
    Sumdb(String),
}

impl From<PathError> for GoError {
    fn from(e: PathError) -> Self {
        GoError::Path(FileError(e))
    }
}

impl ProtocolError for GoError {
    fn code(&self) -> &'static str {
        match self {
            GoError::Path(e) => e.code(),
            GoError::Endpoint(EndpointError::Invalid(_)) => "MODULE_INVALID",
            GoError::Endpoint(EndpointError::Unknown(_)) | GoError::Sumdb(_) => "NOT_SERVED",
        }
    }
    /// Only 404 and 410 mean "not here" to the `go` command, so what this proxy does not serve
    /// is a 404 and it falls back to the next GOPROXY entry.
    fn status(&self) -> u16 {
        match self {
            GoError::Path(_) | GoError::Endpoint(EndpointError::Invalid(_)) => 400,
            GoError::Endpoint(EndpointError::Unknown(_)) | GoError::Sumdb(_) => 404,
        }
    }
}

impl Format for Goproxy {
    const TYPE: PackageType = PackageType::Goproxy;
    type Endpoint = GoRequest;
    type Error = GoError;

    fn parse(&self, req: &Request<'_>) -> Result<GoRequest, GoError> {
        let path = RepoPath::parse(req.path)?;
        let (module, kind) = match Endpoint::parse(path.as_str())? {
            Endpoint::SumdbSupported { name } | Endpoint::Sumdb { name } => {
                return Err(GoError::Sumdb(name.to_string()))
            }
            e @ Endpoint::Info { module, .. } => (module, Kind::Info { immutable: e.is_immutable() }),
            Endpoint::List { module } => (module, Kind::List),
            Endpoint::Latest { module } => (module, Kind::Latest),
            Endpoint::Mod { module, .. } => (module, Kind::Mod),
            Endpoint::Zip { module, .. } => (module, Kind::Zip),
        };
        let module = module.to_string();
        Ok(GoRequest { path, module, kind })
    }

    fn subject<'e>(&self, e: &'e GoRequest, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.path.as_str())
    }

    fn classify(&self, e: &GoRequest) -> Class {
        Class::immutable_if(matches!(e.kind, Kind::Mod | Kind::Zip | Kind::Info { immutable: true }))
    }

    fn plan(&self, e: &GoRequest, _repo: &Repo<'_>) -> Result<Plan<GoRequest>, GoError> {
        let target = file_target(&e.path);
        Ok(match e.kind {
            Kind::List => Plan::Document(target.document(&LIST), LIST),
            _ => Plan::Bytes(target),
        })
    }

    fn check_document(&self, _e: &GoRequest, body: &[u8]) -> Result<(), String> {
        std::str::from_utf8(body).map(|_| ()).map_err(|_| "@v/list is not UTF-8 text".to_string())
    }

    fn rewrite(&self, _e: &GoRequest, _doc: &Doc, body: &[u8], _urls: &super::Urls) -> Result<Rendered, String> {
        Ok(Rendered::new(body.to_vec(), LIST_TYPE))
    }

    /// The union of the members' version lists, in first-seen order, without duplicates; once
    /// a local member listed the module, later remote members' lists are left out (a local
    /// shadows a remote's module of the same path).
    fn merge(&self, _e: &GoRequest, _doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        let mut versions: Vec<&str> = Vec::new();
        let mut shadowed = false;
        for m in &members {
            if shadowed && !m.from_local {
                continue;
            }
            shadowed |= m.from_local;
            let text = std::str::from_utf8(&m.body).map_err(|_| "@v/list is not UTF-8 text".to_string())?;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if !versions.contains(&line) {
                    versions.push(line);
                }
            }
        }
        let mut body = versions.join("\n");
        if !body.is_empty() {
            body.push('\n');
        }
        Ok(Rendered::new(body.into_bytes(), LIST_TYPE))
    }

    fn local_owner(&self, e: &GoRequest) -> Option<String> {
        matches!(e.kind, Kind::Info { .. } | Kind::Mod | Kind::Zip).then(|| e.module.clone())
    }

    fn local_plan(&self, e: &GoRequest) -> Option<LocalPlan> {
        let document = |module: &str| LocalPlan::Document { package: Some(module.to_string()), doc: LIST };
        Some(match e.kind {
            Kind::List | Kind::Latest => document(&e.module),
            Kind::Info { .. } | Kind::Mod | Kind::Zip => LocalPlan::File(e.path.as_str().to_string()),
        })
    }

    /// `@v/list`: the published versions in semantic-version order; `@latest`: the `.info` of
    /// the highest release (or pre-release, when there is no release).
    fn local_document(
        &self,
        e: &GoRequest,
        _doc: &Doc,
        packages: &LocalPackages,
        _urls: &super::Urls,
    ) -> Result<Rendered, String> {
        let mut list: Vec<&str> = packages.published().map(|v| v.version.as_str()).collect();
        list.sort_by(|a, b| versions::compare(a, b));
        match e.kind {
            Kind::Latest => {
                let latest = versions::latest(list.iter().copied())
                    .ok_or_else(|| format!("{} has no published semantic version", e.module))?;
                let v = packages.published().find(|v| v.version == latest).ok_or("latest version vanished")?;
                let body = serde_json::to_vec(&v.metadata).map_err(|e| e.to_string())?;
                Ok(Rendered::new(body, "application/json"))
            }
            _ => {
                let mut body = list.join("\n");
                if !body.is_empty() {
                    body.push('\n');
                }
                Ok(Rendered::new(body.into_bytes(), LIST_TYPE))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, get};
    use super::super::Target;
    use super::*;
    use Class::*;

    #[test]
    fn lists_are_mutable_versions_are_not() {
        check(
            &Goproxy,
            &[
                ("github.com/foo/bar/@v/list", Mutable),
                ("github.com/foo/bar/@latest", Mutable),
                ("github.com/foo/bar/@v/v1.0.0.info", Immutable),
                ("github.com/foo/bar/@v/v1.0.0.mod", Immutable),
                ("github.com/foo/bar/@v/v1.0.0.zip", Immutable),
                ("github.com/!burnt!sushi/toml/@v/v1.3.2.zip", Immutable),
                ("github.com/foo/bar/v2/@v/v2.0.0+incompatible.info", Immutable),
                ("golang.org/x/text/@v/v0.0.0-20170915032832-14c0d48ead0c.mod", Immutable),
                ("github.com/foo/bar/@v/master.info", Mutable),
                ("github.com/foo/bar/@v/.info", Mutable),
                ("@v/v1.0.0.info", Mutable),
                ("github.com/foo/bar/@v/v1.0.0.ziphash", Mutable),
                ("sumdb/sum.golang.org/supported", Mutable),
            ],
        );
    }

    fn parse(path: &str) -> GoRequest {
        Goproxy.parse(&get(path)).unwrap()
    }

    const REPO: Repo<'static> = Repo { name: "go", base_url: "http://up/", ban_tags: &[] };

    #[test]
    fn lists_merge_in_first_seen_order() {
        let doc = |s: &str| Rendered::new(s.as_bytes().to_vec(), LIST_TYPE);
        let list = parse("m/@v/list");
        let merged = Goproxy.merge(&list, &LIST, vec![doc("v1.0.0\nv1.1.0\n"), doc("\nv1.1.0\r\nv0.9.0\n  \nv1.0.0")]);
        assert_eq!(merged.unwrap().body, b"v1.0.0\nv1.1.0\nv0.9.0\n");
        assert_eq!(Goproxy.merge(&list, &LIST, vec![doc("")]).unwrap().body, b"");
        let target = Target::new("m/@v/list", "m/@v/list").document(&LIST);
        assert_eq!(Goproxy.plan(&list, &REPO), Ok(Plan::Document(target, LIST)));
        let zip = parse("m/@v/v1.0.0.zip");
        assert_eq!(Goproxy.plan(&zip, &REPO), Ok(Plan::Bytes(Target::new("m/@v/v1.0.0.zip", "m/@v/v1.0.0.zip"))));
        assert!(Goproxy.check_document(&list, b"\xff").is_err());
    }

    #[test]
    fn a_local_listed_first_shadows_later_remotes() {
        let doc =
            |s: &str, local: bool| Rendered { from_local: local, ..Rendered::new(s.as_bytes().to_vec(), LIST_TYPE) };
        let list = parse("m/@v/list");
        let merged =
            Goproxy.merge(&list, &LIST, vec![doc("v1.0.0\n", true), doc("v9.9.9\n", false), doc("v1.1.0\n", true)]);
        assert_eq!(merged.unwrap().body, b"v1.0.0\nv1.1.0\n");
        let merged = Goproxy.merge(&list, &LIST, vec![doc("v9.9.9\n", false), doc("v1.0.0\n", true)]);
        assert_eq!(merged.unwrap().body, b"v9.9.9\nv1.0.0\n", "a remote listed first is merged");
    }

    #[test]
    fn locals_serve_files_and_generate_lists() {
        use crate::formats::LocalVersion;
        let file = |p: &str| Some(LocalPlan::File(p.to_string()));
        let listed = Some(LocalPlan::Document { package: Some("example.com/!m".into()), doc: LIST });
        assert_eq!(Goproxy.local_plan(&parse("example.com/!m/@v/list")), listed);
        assert_eq!(Goproxy.local_plan(&parse("example.com/!m/@latest")), listed);
        assert_eq!(Goproxy.local_plan(&parse("example.com/!m/@v/v1.0.0.zip")), file("example.com/!m/@v/v1.0.0.zip"));
        assert_eq!(Goproxy.local_plan(&parse("example.com/!m/@v/v1.0.0.info")), file("example.com/!m/@v/v1.0.0.info"));
        for (path, owner) in [
            ("example.com/!m/@v/v1.0.0.zip", Some("example.com/!m")),
            ("example.com/!m/@v/v1.0.0.mod", Some("example.com/!m")),
            ("example.com/!m/@v/v1.0.0.info", Some("example.com/!m")),
            ("example.com/!m/@v/list", None),
            ("example.com/!m/@latest", None),
        ] {
            assert_eq!(Goproxy.local_owner(&parse(path)).as_deref(), owner, "{path}");
        }
        let now = chrono::Utc::now();
        let v = |version: &str, published: bool| LocalVersion {
            package: "example.com/!m".into(),
            version: version.into(),
            metadata: serde_json::json!({ "Version": version, "Time": "2024-01-01T00:00:00Z" }),
            published,
            created_at: now,
            updated_at: now,
        };
        let packages = LocalPackages {
            versions: vec![v("v1.10.0", true), v("v1.9.0", true), v("v2.0.0-rc.1", true), v("v1.11.0", false)],
            tags: vec![],
        };
        let urls = super::super::Urls { public: String::new(), base: String::new(), document: String::new() };
        let list = Goproxy.local_document(&parse("example.com/!m/@v/list"), &LIST, &packages, &urls).unwrap();
        assert_eq!(String::from_utf8(list.body).unwrap(), "v1.9.0\nv1.10.0\nv2.0.0-rc.1\n");
        let latest = Goproxy.local_document(&parse("example.com/!m/@latest"), &LIST, &packages, &urls).unwrap();
        let info: serde_json::Value = serde_json::from_slice(&latest.body).unwrap();
        assert_eq!(info["Version"], "v1.10.0");
    }

    #[test]
    fn refusals_say_bad_request_or_not_here() {
        let cases: &[(&str, Option<bool>)] = &[
            ("example.com/!org/!lib/@v/v1.0.0.zip", None),
            ("example.com/!org/!lib/@latest", None),
            ("example.com/Org/Lib/@v/list", Some(true)),
            ("example.com/m/@v/v1.0.0%2f.zip", Some(true)),
            ("sumdb/sum.golang.org/supported", Some(false)),
            ("sumdb/sum.golang.org/lookup/example.com/m@v1.0.0", Some(false)),
            ("example.com/m/readme.txt", Some(false)),
        ];
        for (path, want) in cases {
            let got = match Goproxy.parse(&get(path)) {
                Ok(_) => None,
                Err(e) => Some(e.status() == 400),
            };
            assert_eq!(got, *want, "{path}: {:?}", Goproxy.parse(&get(path)));
        }
    }
}

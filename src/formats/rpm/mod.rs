//! RPM (yum/dnf) repositories: `repodata/repomd.xml`, the metadata files it names, and packages.
//!
//! A repository lives in a directory (the remote's root or any folder below it) holding
//! `repodata/repomd.xml`. `repomd.xml` names the metadata files (`primary`, `filelists`,
//! `other`, ...) with their checksums; `primary` names every package with its checksum. A client
//! must see one consistent snapshot: the serving path (`crate::serve::rpm`) fetches the data
//! files a new `repomd.xml` names, checks them against its checksums, and only then serves the
//! new `repomd.xml`; a package is checked against `primary`'s checksum before it is cached.
//! This module is the pure part: the typed endpoint, the classes, and the parsers
//! ([`repomd`], [`primary`], read through [`compression`]).
//!
//! A data file is cached under its path and the checksum repomd gives it (its variant), so an
//! upstream that reuses names (`createrepo --simple-md-filenames`) never mixes snapshots; a
//! package (`.rpm`, source packages included) never changes under its name, which carries name,
//! version, release and architecture.

pub mod compression;
pub mod header;
pub mod mirrors;
pub mod package;
pub mod primary;
pub mod rebase;
pub mod repodata;
pub mod repomd;

use std::borrow::Cow;

use super::files::file_target;
use super::puppet::canonical_query;
use super::{
    file_name, has_suffix, Class, Doc, Format, LocalPlan, PackageType, Plan, ProtocolError, Rendered, Repo, Request,
    Urls,
};
use crate::paths::{PathError, RepoPath};

pub struct Rpm;

/// An rpm request, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `{dir}repodata/repomd.xml`; `dir` is empty or ends with `/`.
    Repomd { path: RepoPath, dir: String },
    /// `{dir}repodata/{name}`: a file `repomd.xml` names.
    Data { path: RepoPath, dir: String },
    /// `{dir}repodata/repomd.xml.asc`: the signature of `repomd.xml`, served with it.
    Signature { path: RepoPath, dir: String },
    /// A package file, `*.rpm`.
    Package(RepoPath),
    /// A mirror list or metalink (`mirrorlist?repo=...`, `metalink?repo=...&arch=...`), keyed
    /// and fetched with its (canonical) query, served with every mirror rewritten to come back
    /// through the remote ([`mirrors`]).
    Mirrors { path: RepoPath, query: String },
    /// `_mirror/{scheme}/{host}/{path}`: a file of a mirror that one of the remote's mirror
    /// documents lists, at `url`; `inner` is what the path is below the remote (its `repomd.xml`,
    /// data files and packages are served like the remote's own, as one snapshot per directory).
    Mirrored { url: String, inner: Box<Endpoint> },
    /// Anything else (`RPM-GPG-KEY`): plain mutable bytes.
    Other(RepoPath),
}

/// Why an rpm request was refused before anything was looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpmError {
    #[error("invalid path: {0}")]
    Path(#[from] PathError),
    #[error("invalid query: {0}")]
    Query(String),
    #[error("{0:?} names no http(s) mirror URL")]
    Mirror(String),
}

impl ProtocolError for RpmError {
    fn code(&self) -> &'static str {
        match self {
            RpmError::Path(_) => "PATH_INVALID",
            RpmError::Query(_) => "QUERY_INVALID",
            RpmError::Mirror(_) => "MIRROR_INVALID",
        }
    }
    fn status(&self) -> u16 {
        400
    }
}

/// The one form mirror documents are served in.
const MIRRORS: Doc = Doc { variant: "", accept: "" };

impl Endpoint {
    /// The decoded path below the repository.
    pub fn path(&self) -> &RepoPath {
        match self {
            Endpoint::Repomd { path, .. } | Endpoint::Data { path, .. } | Endpoint::Signature { path, .. } => path,
            Endpoint::Package(p) | Endpoint::Other(p) | Endpoint::Mirrors { path: p, .. } => p,
            Endpoint::Mirrored { inner, .. } => inner.path(),
        }
    }

    /// Parses the checked path `path` with its query `query` (still encoded).
    pub fn parse(path: RepoPath, query: &str) -> Result<Endpoint, RpmError> {
        if path.as_str().starts_with(mirrors::PREFIX) {
            let url = mirrors::mirror_url(&path.upstream_suffix())
                .ok_or_else(|| RpmError::Mirror(path.as_str().to_string()))?;
            return Ok(Endpoint::Mirrored { url, inner: Box::new(Endpoint::of(path)) });
        }
        match Endpoint::of(path) {
            Endpoint::Other(path) if mirrors::is_document(path.as_str()) => {
                Ok(Endpoint::Mirrors { path, query: canonical_query(query).map_err(RpmError::Query)? })
            }
            other => Ok(other),
        }
    }

    /// Parses the checked path `path`.
    pub fn of(path: RepoPath) -> Endpoint {
        let s = path.as_str();
        let name = file_name(s);
        let parent = &s[..s.len() - name.len()];
        if let Some(dir) = parent.strip_suffix("repodata/").filter(|d| d.is_empty() || d.ends_with('/')) {
            let dir = dir.to_string();
            if name == "repomd.xml" {
                return Endpoint::Repomd { path, dir };
            }
            if name == "repomd.xml.asc" {
                return Endpoint::Signature { path, dir };
            }
            if !name.is_empty() && name != "repomd.xml.asc" && name != "repomd.xml.key" {
                if has_suffix(name, ".rpm") {
                    return Endpoint::Package(path);
                }
                return Endpoint::Data { path, dir };
            }
        }
        if has_suffix(name, ".rpm") {
            return Endpoint::Package(path);
        }
        Endpoint::Other(path)
    }
}

/// The directory of the repository whose `repomd.xml` is at `{dir}repodata/repomd.xml`.
pub fn repomd_path(dir: &str) -> String {
    format!("{dir}repodata/repomd.xml")
}

/// The directories that may hold the repository of package `path`, nearest first: every
/// ancestor folder, down to the root (`""`).
pub fn package_dirs(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(i) = rest.rfind('/') {
        rest = &rest[..i];
        out.push(format!("{rest}/"));
    }
    out.push(String::new());
    out
}

impl Format for Rpm {
    const TYPE: PackageType = PackageType::Rpm;
    type Endpoint = Endpoint;
    type Error = RpmError;

    fn parse(&self, req: &Request<'_>) -> Result<Endpoint, RpmError> {
        Endpoint::parse(RepoPath::parse(req.path)?, req.query)
    }

    fn subject<'e>(&self, e: &'e Endpoint, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.path().as_str())
    }

    fn classify(&self, e: &Endpoint) -> Class {
        match e {
            // A data file is cached under the checksum its snapshot names: it never changes.
            Endpoint::Package(_) | Endpoint::Data { .. } => Class::Immutable,
            // A signature is cached under the digest of the repomd.xml it signs.
            Endpoint::Signature { .. } => Class::Immutable,
            Endpoint::Repomd { .. } | Endpoint::Other(_) | Endpoint::Mirrors { .. } => Class::Mutable,
            Endpoint::Mirrored { inner, .. } => self.classify(inner),
        }
    }

    /// A file at the same path (so a virtual serves the first member that has it). Remote
    /// members serve every rpm endpoint through `crate::serve::rpm`, which keeps their
    /// snapshots consistent and checks what they cache; this plan only says "one file".
    /// Mirror documents are documents, one cached copy per query.
    fn plan(&self, e: &Endpoint, _repo: &Repo<'_>) -> Result<Plan<Endpoint>, RpmError> {
        Ok(match e {
            Endpoint::Mirrors { path, query } => {
                let target = super::Target {
                    variant: query.clone(),
                    query: query.clone(),
                    ..file_target(path).document(&MIRRORS)
                };
                Plan::Document(target, MIRRORS)
            }
            _ => Plan::Bytes(file_target(e.path())),
        })
    }

    fn check_document(&self, e: &Endpoint, body: &[u8]) -> Result<(), String> {
        match e {
            Endpoint::Repomd { .. } => repomd::parse(body).map(|_| ()).map_err(|e| e.to_string()),
            Endpoint::Mirrors { .. } => mirrors::parse(body).map(|_| ()).map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }

    fn rewrite(&self, _e: &Endpoint, _doc: &Doc, body: &[u8], urls: &Urls) -> Result<Rendered, String> {
        let out = mirrors::rewrite(body, &urls.public).map_err(|e| e.to_string())?;
        Ok(Rendered::new(out, mirrors::Kind::of(body).content_type()))
    }

    fn local_plan(&self, e: &Endpoint) -> Option<LocalPlan> {
        Some(LocalPlan::File(e.path().as_str().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, get};
    use super::*;
    use Class::*;

    #[test]
    fn metadata_is_mutable_packages_and_data_files_are_not() {
        check(
            &Rpm,
            &[
                ("repodata/repomd.xml", Mutable),
                ("os/x86_64/repodata/repomd.xml", Mutable),
                ("repodata/abc123-primary.xml.gz", Immutable),
                ("repodata/repomd.xml.asc", Immutable),
                ("repodata/repomd.xml.key", Mutable),
                ("Packages/f/foo-1.0-1.noarch.rpm", Immutable),
                ("foo-1.0-1.src.rpm", Immutable),
                ("repodata/foo-1.0-1.noarch.rpm", Immutable),
                ("Packages/.rpm", Mutable),
                ("RPM-GPG-KEY", Mutable),
                ("notrepodata/x.xml", Mutable),
            ],
        );
    }

    #[test]
    fn endpoints_name_their_repository_directory() {
        let ep = |p: &str| Rpm.parse(&get(p)).unwrap();
        let rp = |p: &str| RepoPath::from_decoded(p).unwrap();
        let cases: Vec<(&str, Endpoint)> = vec![
            ("repodata/repomd.xml", Endpoint::Repomd { path: rp("repodata/repomd.xml"), dir: "".into() }),
            (
                "el9/x86_64/repodata/repomd.xml",
                Endpoint::Repomd { path: rp("el9/x86_64/repodata/repomd.xml"), dir: "el9/x86_64/".into() },
            ),
            ("repodata/ab-primary.xml.gz", Endpoint::Data { path: rp("repodata/ab-primary.xml.gz"), dir: "".into() }),
            (
                "el9/repodata/repomd.xml.asc",
                Endpoint::Signature { path: rp("el9/repodata/repomd.xml.asc"), dir: "el9/".into() },
            ),
            ("myrepodata/repomd.xml", Endpoint::Other(rp("myrepodata/repomd.xml"))),
            ("Packages/a-1-1.noarch.rpm", Endpoint::Package(rp("Packages/a-1-1.noarch.rpm"))),
        ];
        for (path, want) in cases {
            assert_eq!(ep(path), want, "{path}");
        }
        assert!(Rpm.parse(&get("repodata/../../etc/passwd")).is_err());
    }

    #[test]
    fn mirror_documents_and_mirror_files_are_their_own_endpoints() {
        let rp = |p: &str| RepoPath::from_decoded(p).unwrap();
        let parse = |p: &str, q: &str| Endpoint::parse(RepoPath::parse(p).unwrap(), q);
        let mirrored = |url: &str, inner: Endpoint| Endpoint::Mirrored { url: url.into(), inner: Box::new(inner) };
        let cases: Vec<(&str, &str, Endpoint)> = vec![
            (
                "metalink",
                "repo=fedora-41&arch=x86_64",
                Endpoint::Mirrors { path: rp("metalink"), query: "arch=x86_64&repo=fedora-41".into() },
            ),
            ("mirrorlist/9/baseos", "", Endpoint::Mirrors { path: rp("mirrorlist/9/baseos"), query: "".into() }),
            (
                "_mirror/https/m.example/f/os/repodata/repomd.xml",
                "",
                mirrored(
                    "https://m.example/f/os/repodata/repomd.xml",
                    Endpoint::Repomd {
                        path: rp("_mirror/https/m.example/f/os/repodata/repomd.xml"),
                        dir: "_mirror/https/m.example/f/os/".into(),
                    },
                ),
            ),
            (
                "_mirror/http/127.0.0.2:8081/os/Packages/a-1-1.noarch.rpm",
                "",
                mirrored(
                    "http://127.0.0.2:8081/os/Packages/a-1-1.noarch.rpm",
                    Endpoint::Package(rp("_mirror/http/127.0.0.2:8081/os/Packages/a-1-1.noarch.rpm")),
                ),
            ),
            ("RPM-GPG-KEY-fedora", "", Endpoint::Other(rp("RPM-GPG-KEY-fedora"))),
        ];
        for (path, query, want) in cases {
            assert_eq!(parse(path, query), Ok(want), "{path}?{query}");
        }
        let refused: &[(&str, &str, &str)] = &[
            ("_mirror/file/etc/passwd", "", "MIRROR_INVALID"),
            ("_mirror/https/user@m.example/a.rpm", "", "MIRROR_INVALID"),
            ("_mirror/gopher/m.example/a.rpm", "", "MIRROR_INVALID"),
            ("metalink", "repo=%00", "QUERY_INVALID"),
        ];
        for (path, query, code) in refused {
            let got = parse(path, query).map_err(|e| (e.code(), e.status()));
            assert_eq!(got, Err((*code, 400)), "{path}?{query}");
        }
        assert_eq!(Rpm.classify(&parse("metalink", "").unwrap()), Mutable);
        assert_eq!(Rpm.classify(&parse("_mirror/https/m/os/Packages/a-1-1.noarch.rpm", "").unwrap()), Immutable);
        assert_eq!(Rpm.classify(&parse("_mirror/https/m/os/repodata/repomd.xml", "").unwrap()), Mutable);
    }

    #[test]
    fn packages_look_for_their_repository_upwards() {
        assert_eq!(package_dirs("a/b/c.rpm"), vec!["a/b/", "a/", ""]);
        assert_eq!(package_dirs("c.rpm"), vec![""]);
    }
}

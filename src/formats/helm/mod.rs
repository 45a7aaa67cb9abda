//! Helm chart repositories: an `index.yaml` listing charts, and the chart archives it names.
//!
//! The index is rewritten by the repository owner whenever a chart is added, so it is a
//! mutable [`Plan::Document`]: checked before it is cached (broken YAML never replaces a good
//! copy), and served with every chart URL (relative, root-relative, absolute, on another host)
//! rewritten to `{dir}charts/{chart}/{version}/{file}` of this remote ([`index`]). Such a path
//! is a [`Plan::Listed`] file: the index says where the chart really is and the SHA-256 its
//! bytes must have, so a chart that does not match its `digest` is never cached. Chart
//! archives (`.tgz`) and provenance files (`.prov`) are versioned and never change; one asked
//! for by its upstream path (`mychart-1.0.0.tgz`) is served as the upstream's bytes, unchecked.
//! A virtual repository merges its members' indexes chart by chart and version by version, the
//! first member winning, each chart URL pointing at the member that serves it; a chart name
//! a local member lists is taken from the locals only, never from a remote listed after them
//! (the defence against dependency confusion).
//!
//! A helm local ([`local`]) serves the charts uploaded to it under `charts/{name}-{version}.tgz`
//! (and `.prov`), an `index.yaml` generated from their `Chart.yaml` files and ChartMuseum's
//! `api/charts[/{name}]` listings; the write side is `crate::locals::helm`.

mod endpoint;
mod index;
mod local;
mod walk;
mod yaml;

pub use endpoint::{check_name, check_version, Endpoint, MAX_FILE_BYTES, MAX_NAME_BYTES, MAX_VERSION_BYTES};
pub use index::{CONTENT_TYPE, MAX_RENDERED, MAX_VERSIONS};
pub use local::{chart_metadata, ChartMeta, MAX_CHART_YAML};

use std::borrow::Cow;

use super::files::{file_target, FileError};
use super::{
    Class, Doc, Format, LocalPackages, LocalPlan, Located, PackageType, Plan, ProtocolError, Rendered, Repo, Request,
    Urls,
};
use crate::paths::{PathError, RepoPath};

pub struct Helm;

/// The one form of an index: no content negotiation.
const INDEX_DOC: Doc = Doc { variant: "", accept: "" };

/// A chart (or with `prov`, its provenance file) listed in the index of `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedChart {
    pub dir: String,
    pub chart: String,
    pub version: String,
    pub file: String,
    pub prov: bool,
}

/// What a helm request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `{dir}index.yaml`.
    Index { dir: String },
    /// `{dir}charts/{chart}/{version}/{file}`.
    Listed(ListedChart),
    /// Anything else: the upstream's bytes; `immutable` for chart archives and provenance files.
    File { immutable: bool },
}

/// A parsed request to a helm remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmRequest {
    pub path: RepoPath,
    pub kind: Kind,
}

/// Why a helm request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelmError {
    #[error(transparent)]
    Path(#[from] FileError),
    /// A chart name, version or file name this server does not route.
    #[error("{0}")]
    Chart(String),
}

impl From<PathError> for HelmError {
    fn from(e: PathError) -> Self {
        HelmError::Path(FileError(e))
    }
}

impl ProtocolError for HelmError {
    fn code(&self) -> &'static str {
        match self {
            HelmError::Path(e) => e.code(),
            HelmError::Chart(_) => "CHART_INVALID",
        }
    }
    fn status(&self) -> u16 {
        400
    }
}

impl Format for Helm {
    const TYPE: PackageType = PackageType::Helm;
    type Endpoint = HelmRequest;
    type Error = HelmError;

    fn parse(&self, req: &Request<'_>) -> Result<HelmRequest, HelmError> {
        let path = RepoPath::parse(req.path)?;
        let kind = match Endpoint::parse(path.as_str()).map_err(HelmError::Chart)? {
            Endpoint::Index { dir } => Kind::Index { dir: dir.to_string() },
            Endpoint::Listed { dir, chart, version, file, prov } => Kind::Listed(ListedChart {
                dir: dir.to_string(),
                chart: chart.to_string(),
                version: version.to_string(),
                file: file.to_string(),
                prov,
            }),
            e @ Endpoint::File => Kind::File { immutable: e.is_immutable(path.as_str()) },
        };
        Ok(HelmRequest { path, kind })
    }

    fn subject<'e>(&self, e: &'e HelmRequest, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.path.as_str())
    }

    fn classify(&self, e: &HelmRequest) -> Class {
        Class::immutable_if(matches!(e.kind, Kind::Listed(_) | Kind::File { immutable: true }))
    }

    fn plan(&self, e: &HelmRequest, _repo: &Repo<'_>) -> Result<Plan<HelmRequest>, HelmError> {
        Ok(match &e.kind {
            Kind::Index { .. } => Plan::Document(file_target(&e.path).document(&INDEX_DOC), INDEX_DOC),
            Kind::Listed(c) => {
                let path = RepoPath::from_decoded(&format!("{}{}", c.dir, endpoint::INDEX))?;
                let index = HelmRequest { path, kind: Kind::Index { dir: c.dir.clone() } };
                Plan::Listed { path: e.path.as_str().to_string(), index }
            }
            Kind::File { .. } => Plan::Bytes(file_target(&e.path)),
        })
    }

    fn check_document(&self, _e: &HelmRequest, body: &[u8]) -> Result<(), String> {
        index::check(body)
    }

    fn rewrite(&self, e: &HelmRequest, _doc: &Doc, body: &[u8], urls: &Urls) -> Result<Rendered, String> {
        match &e.kind {
            Kind::Index { dir } => index::rewrite(dir, body, urls),
            _ => Err(format!("{:?} is no helm index", e.path)),
        }
    }

    fn locate(&self, file: &HelmRequest, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
        match &file.kind {
            Kind::Listed(c) => index::locate(&c.chart, &c.version, &c.file, c.prov, body, urls),
            _ => Ok(None),
        }
    }

    fn merge(&self, _e: &HelmRequest, _doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        index::merge(members, &now)
    }

    /// `index.yaml` is generated; charts are the stored files, by their own path or by the
    /// listed form of the path (`charts/{chart}/{version}/{chart}-{version}.tgz`).
    fn local_plan(&self, e: &HelmRequest) -> Option<LocalPlan> {
        match &e.kind {
            Kind::Index { dir } if dir.is_empty() => Some(LocalPlan::Document { package: None, doc: INDEX_DOC }),
            Kind::Index { .. } => None,
            Kind::Listed(c) if c.dir.is_empty() && c.file == format!("{}-{}.tgz", c.chart, c.version) => {
                let prov = if c.prov { endpoint::PROV } else { "" };
                Some(LocalPlan::File(format!("{}/{}{prov}", endpoint::CHARTS, c.file)))
            }
            Kind::Listed(_) => None,
            Kind::File { .. } => match local::Api::parse(e.path.as_str()) {
                Some(api) => Some(LocalPlan::Document { package: api.package(), doc: INDEX_DOC }),
                None => Some(LocalPlan::File(e.path.as_str().to_string())),
            },
        }
    }

    /// `index.yaml`, or ChartMuseum's `api/charts[/{name}]` JSON.
    fn local_document(
        &self,
        e: &HelmRequest,
        _doc: &Doc,
        packages: &LocalPackages,
        urls: &Urls,
    ) -> Result<Rendered, String> {
        match local::Api::parse(e.path.as_str()) {
            Some(api) => local::api(&api, packages, urls),
            None => local::index(packages, urls),
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
    fn index_is_mutable_charts_are_not() {
        check(
            &Helm,
            &[
                ("index.yaml", Mutable),
                ("stable/index.yaml", Mutable),
                ("index.yaml.bak", Mutable),
                ("charts/nginx-1.2.3.tgz", Immutable),
                ("nginx-1.2.3.tgz", Immutable),
                ("nginx-1.2.3.tgz.prov", Immutable),
                ("index.yaml.tgz", Immutable),
                ("charts/nginx/1.2.3/nginx-1.2.3.tgz", Immutable),
                ("charts/nginx/1.2.3/nginx-1.2.3.tgz.prov", Immutable),
                ("charts/", Mutable),
                ("README.md", Mutable),
            ],
        );
    }

    const REPO: Repo<'static> = Repo { name: "charts", base_url: "http://up/", ban_tags: &[] };

    fn parse(path: &str) -> Result<HelmRequest, HelmError> {
        Helm.parse(&get(path))
    }

    #[test]
    fn plans_documents_listed_charts_and_bytes() {
        let index = |p: &str| Plan::Document(Target::new(p, p).document(&INDEX_DOC), INDEX_DOC);
        let listed = |p: &str, idx: &str| Plan::Listed { path: p.into(), index: parse(idx).unwrap() };
        let bytes = |p: &str| Plan::Bytes(Target::new(p, p));
        let cases: &[(&str, Plan<HelmRequest>)] = &[
            ("index.yaml", index("index.yaml")),
            ("stable/index.yaml", index("stable/index.yaml")),
            ("charts/nginx/1.2.3/nginx-1.2.3.tgz", listed("charts/nginx/1.2.3/nginx-1.2.3.tgz", "index.yaml")),
            (
                "charts/nginx/1.2.3/nginx-1.2.3.tgz.prov",
                listed("charts/nginx/1.2.3/nginx-1.2.3.tgz.prov", "index.yaml"),
            ),
            (
                "stable/charts/nginx/1.2.3/nginx-1.2.3.tgz",
                listed("stable/charts/nginx/1.2.3/nginx-1.2.3.tgz", "stable/index.yaml"),
            ),
            ("nginx-1.2.3.tgz", bytes("nginx-1.2.3.tgz")),
            ("charts/nginx-1.2.3.tgz", bytes("charts/nginx-1.2.3.tgz")),
            ("README.md", bytes("README.md")),
        ];
        for (path, want) in cases {
            assert_eq!(Helm.plan(&parse(path).unwrap(), &REPO).as_ref(), Ok(want), "{path}");
        }
    }

    #[test]
    fn refuses_hostile_paths_as_bad_requests() {
        let long = format!("charts/{}/1.0.0/a-1.0.0.tgz", "n".repeat(MAX_NAME_BYTES + 1));
        for path in [long.as_str(), "charts/a b/1/a.tgz", "charts/a/1;x/a.tgz", "charts/a/1/a*.tgz"] {
            assert!(parse(path).is_err_and(|e| e.status() == 400), "{path}");
        }
        for path in ["index.yaml", "charts/a/1.0.0/a-1.0.0.tgz", "anything/else.txt"] {
            assert!(parse(path).is_ok(), "{path}");
        }
    }
}

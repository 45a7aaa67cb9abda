//! Python package indexes: the simple API of PEP 503 (HTML) and PEP 691 (JSON).
//!
//! `simple/` and `simple/{project}/` are documents ([`Plan::Document`]): each form is chosen by
//! `Accept` ([`accept`]) and cached as its own variant, parsed from whatever the upstream sent
//! (an HTML-only index still gives JSON clients JSON) and regenerated, never passed through
//! ([`page`], [`html`], [`json`]). Every file link is rewritten to
//! `{PUBLIC_URL}/api/v1/remote/{name}/simple/{project}/{file}`, a [`Plan::Listed`] path: the
//! file is fetched from where the project page says it is (relative links resolved against
//! the page, other hosts allowed because the remote's own index named them) and checked
//! against the page's digest before it is cached. PEP 658 metadata (`{file}.metadata`) is
//! served when the page advertises it. Project names are normalised by redirect
//! ([`endpoint`]). Files on an index are never replaced once uploaded, so they are immutable;
//! pages are mutable. Virtual repositories union the members' pages ([`page::merge`]), except
//! that a local member's project page shadows the members after it. Local repositories
//! generate their pages from the files uploaded to them ([`local`]).

mod accept;
mod endpoint;
mod html;
mod json;
mod local;
mod page;
mod writer;

pub use endpoint::{is_valid_file, is_valid_name, normalise, Endpoint, MAX_FILE_BYTES, MAX_NAME_BYTES};
pub use local::{file_path, FileRecord};

use std::borrow::Cow;

use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;

use super::files::{file_target, FileError};
use super::{
    file_name, Class, Doc, Format, LocalPackages, LocalPlan, Located, PackageType, Plan, ProtocolError, Rendered, Repo,
    Request, Urls,
};
use crate::paths::{PathError, RepoPath};
use accept::Form;
use page::{Kind as PageKind, Page};

pub struct Pypi;

/// The JSON form's cache variant. Files are located through it: pip and uv ask for JSON, so
/// the page they just read is the one already cached.
const JSON: Doc = Doc {
    variant: "json",
    accept: "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1",
};
/// The HTML form, announced as `application/vnd.pypi.simple.v1+html`.
const HTML_V1: Doc = Doc {
    variant: "html",
    accept: "application/vnd.pypi.simple.v1+html, text/html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.1",
};
/// The HTML form for clients that asked for `text/html`: the same cache variant as
/// [`HTML_V1`] (one upstream copy), announced as `text/html`.
const TEXT_HTML: Doc = Doc {
    variant: "html",
    accept: "text/html, application/vnd.pypi.simple.v1+html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.1",
};

const DISTRIBUTION_SUFFIXES: [&str; 5] = [".whl", ".tar.gz", ".zip", ".tar.bz2", ".egg"];

/// Whether `name` is a distribution file or the PEP 658 metadata of one.
fn is_distribution(name: &str) -> bool {
    let name = name.strip_suffix(".metadata").unwrap_or(name);
    DISTRIBUTION_SUFFIXES.iter().any(|s| name.len() > s.len() && name.ends_with(s))
}

fn doc_for(form: Form) -> Doc {
    match form {
        Form::Json => JSON,
        Form::HtmlV1 => HTML_V1,
        Form::TextHtml => TEXT_HTML,
    }
}

fn form_of(doc: &Doc) -> Form {
    match *doc {
        d if d == JSON => Form::Json,
        d if d == HTML_V1 => Form::HtmlV1,
        _ => Form::TextHtml,
    }
}

/// What a request of a pypi remote asks for (names as requested, not yet normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `simple`: redirected to `simple/`.
    Root,
    /// `simple/`.
    Index,
    /// `simple/{project}/`, or without the slash.
    Project { name: String, slash: bool },
    /// `simple/{project}/{file}`.
    File { project: String, file: String },
    /// Anything outside `simple/`.
    Other,
}

/// A parsed request: the path, what it asks for, and the page form its `Accept` negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PypiRequest {
    pub path: RepoPath,
    pub kind: Kind,
    form: Form,
}

/// Why a request is no simple API request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PypiError {
    #[error(transparent)]
    Path(#[from] FileError),
    /// A malformed project or file name (400).
    #[error("{0}")]
    Invalid(String),
    /// Well formed, but no path of the simple API (404).
    #[error("{0}")]
    NotServed(String),
}

impl From<PathError> for PypiError {
    fn from(e: PathError) -> Self {
        PypiError::Path(FileError(e))
    }
}

impl ProtocolError for PypiError {
    fn code(&self) -> &'static str {
        match self {
            PypiError::Path(e) => e.code(),
            PypiError::Invalid(_) => "NAME_INVALID",
            PypiError::NotServed(_) => "NOT_SERVED",
        }
    }
    fn status(&self) -> u16 {
        match self {
            PypiError::NotServed(_) => 404,
            _ => 400,
        }
    }
}

fn page_kind(kind: &Kind) -> Option<(PageKind, &str)> {
    match kind {
        Kind::Index => Some((PageKind::Index, "")),
        Kind::Project { name, .. } => Some((PageKind::Project, name)),
        _ => None,
    }
}

fn parse_page(e: &PypiRequest, body: &[u8]) -> Result<Page, String> {
    let (kind, project) = page_kind(&e.kind).ok_or_else(|| format!("{:?} is no simple page", e.path))?;
    page::parse(kind, project, body)
}

fn render(page: &Page, form: Form) -> Rendered {
    match form {
        Form::Json => Rendered::new(json::render(page), accept::JSON_TYPE),
        Form::HtmlV1 | Form::TextHtml => rendered(html::render(page), form),
    }
}

/// A page written in `form`, with its content type.
fn rendered(body: String, form: Form) -> Rendered {
    let content_type = match form {
        Form::Json => accept::JSON_TYPE,
        Form::HtmlV1 => accept::HTML_TYPE,
        Form::TextHtml => accept::TEXT_HTML_TYPE,
    };
    Rendered::new(body.into_bytes(), content_type)
}

/// The digest a file must match, strongest first; `None` when the page gives none this server
/// checks (md5 only, or nothing).
fn integrity(hashes: &std::collections::BTreeMap<String, String>) -> Option<Integrity> {
    let bytes = |name: &str| hashes.get(name).and_then(|h| hex::decode(h).ok());
    if let Some(d) = hashes.get("sha256").and_then(|h| Digest::from_hex(h).ok()) {
        return Some(Integrity::Sha256(d));
    }
    if let Some(d) = bytes("sha512").and_then(|b| <[u8; 64]>::try_from(b).ok()) {
        return Some(Integrity::Sha512(Box::new(d)));
    }
    bytes("sha1").and_then(|b| <[u8; 20]>::try_from(b).ok()).map(Integrity::Sha1)
}

impl Format for Pypi {
    const TYPE: PackageType = PackageType::Pypi;
    type Endpoint = PypiRequest;
    type Error = PypiError;

    fn parse(&self, req: &Request<'_>) -> Result<PypiRequest, PypiError> {
        let path = RepoPath::parse(req.path)?;
        let kind = match Endpoint::parse(path.as_str())? {
            Endpoint::Root => Kind::Root,
            Endpoint::Index => Kind::Index,
            Endpoint::Project { name, slash } => Kind::Project { name: name.to_string(), slash },
            Endpoint::File { project, file } => Kind::File { project: project.to_string(), file: file.to_string() },
            Endpoint::Other => Kind::Other,
        };
        let form = accept::negotiate(req.accept_joined().as_deref());
        Ok(PypiRequest { path, kind, form })
    }

    fn subject<'e>(&self, e: &'e PypiRequest, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.path.as_str())
    }

    fn classify(&self, e: &PypiRequest) -> Class {
        match &e.kind {
            Kind::File { .. } => Class::Immutable,
            Kind::Other => Class::immutable_if(is_distribution(file_name(e.path.as_str()))),
            _ => Class::Mutable,
        }
    }

    fn plan(&self, e: &PypiRequest, _repo: &Repo<'_>) -> Result<Plan<PypiRequest>, PypiError> {
        let document = |doc: Doc| Plan::Document(file_target(&e.path).document(&doc), doc);
        Ok(match &e.kind {
            Kind::Root => Plan::Redirect("simple/".into()),
            Kind::Index => document(doc_for(e.form)),
            Kind::Project { name, slash: true } if endpoint::is_normalised(name) => document(doc_for(e.form)),
            Kind::Project { name, .. } => Plan::Redirect(format!("simple/{}/", normalise(name))),
            Kind::File { project, .. } if endpoint::is_normalised(project) => {
                let path = RepoPath::from_decoded(&format!("simple/{project}/"))?;
                let kind = Kind::Project { name: project.clone(), slash: true };
                Plan::Listed { path: e.path.as_str().to_string(), index: PypiRequest { path, kind, form: Form::Json } }
            }
            Kind::File { project, file } => Plan::Redirect(format!("simple/{}/{file}", normalise(project))),
            Kind::Other => Plan::Bytes(file_target(&e.path)),
        })
    }

    fn check_document(&self, e: &PypiRequest, body: &[u8]) -> Result<(), String> {
        match page_kind(&e.kind) {
            Some((PageKind::Project, _)) => page::check_project(body),
            _ => parse_page(e, body).map(drop),
        }
    }

    fn rewrite(&self, e: &PypiRequest, doc: &Doc, body: &[u8], urls: &Urls) -> Result<Rendered, String> {
        let Some((PageKind::Project, project)) = page_kind(&e.kind) else {
            return Ok(render(&parse_page(e, body)?, form_of(doc)));
        };
        let mut listed = std::collections::HashSet::new();
        let mut serve = |mut f: page::DistFile| {
            // Only links this server can serve: http(s), a file name it accepts, once.
            let servable = urls.resolve(&f.url).is_some()
                && endpoint::is_valid_file(&f.filename)
                && listed.insert(f.filename.clone());
            servable.then(|| {
                f.url = urls.public_url(&format!("simple/{project}/{}", f.filename));
                f
            })
        };
        let form = form_of(doc);
        Ok(rendered(page::rewrite_project(project, body, form == Form::Json, &mut serve)?, form))
    }

    fn locate(&self, file: &PypiRequest, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
        let Kind::File { file, .. } = &file.kind else { return Ok(None) };
        if let Some(f) = page::find(body, file)? {
            let Some(url) = urls.resolve(&f.url) else { return Ok(None) };
            return Ok(Some(Located { url: without_fragment(url).into(), integrity: integrity(&f.hashes) }));
        }
        // PEP 658: `{file}.metadata` next to a file whose page advertises it.
        let Some(dist) = file.strip_suffix(".metadata") else { return Ok(None) };
        let Some(f) = page::find(body, dist)? else { return Ok(None) };
        let (Some(hashes), Some(mut url)) = (f.metadata.as_ref(), urls.resolve(&f.url)) else { return Ok(None) };
        url.set_fragment(None);
        url.set_path(&format!("{}.metadata", url.path()));
        Ok(Some(Located { url: url.into(), integrity: integrity(hashes) }))
    }

    fn merge(&self, e: &PypiRequest, doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        let form = form_of(doc);
        if let Some((PageKind::Project, project)) = page_kind(&e.kind) {
            let bodies: Vec<&[u8]> = members.iter().map(|m| m.body.as_slice()).collect();
            return Ok(rendered(page::merge_projects(project, &bodies, form == Form::Json)?, form));
        }
        let pages = members.iter().map(|m| parse_page(e, &m.body)).collect::<Result<Vec<_>, _>>()?;
        Ok(render(&page::merge(pages)?, form))
    }

    fn local_plan(&self, e: &PypiRequest) -> Option<LocalPlan> {
        local::plan(e)
    }

    fn local_owner(&self, e: &PypiRequest) -> Option<String> {
        match &e.kind {
            Kind::File { project, .. } => Some(normalise(project)),
            _ => None,
        }
    }

    fn local_document(
        &self,
        e: &PypiRequest,
        doc: &Doc,
        packages: &LocalPackages,
        urls: &Urls,
    ) -> Result<Rendered, String> {
        local::document(e, doc, packages, urls)
    }
}

fn without_fragment(mut url: url::Url) -> url::Url {
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests;

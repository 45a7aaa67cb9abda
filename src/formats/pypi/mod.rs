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
//! pages are mutable. Virtual repositories union the members' pages ([`page::merge`]).

mod accept;
mod endpoint;
mod html;
mod json;
mod page;
mod writer;

pub use endpoint::{normalise, Endpoint, MAX_FILE_BYTES, MAX_NAME_BYTES};

use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;

use super::{file_name, Ask, Class, Doc, Format, Located, PackageType, PathRefusal, Plan, Rendered, Urls};
use accept::Form;
use page::{Kind, Page, Step};

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

/// Which page a path is, with the project of a project page.
fn page_kind(path: &str) -> Option<(Kind, &str)> {
    match Endpoint::parse(path) {
        Ok(Endpoint::Index) => Some((Kind::Index, "")),
        Ok(Endpoint::Project { name, .. }) => Some((Kind::Project, name)),
        _ => None,
    }
}

fn parse_page(path: &str, body: &[u8]) -> Result<Page, String> {
    let (kind, project) = page_kind(path).ok_or_else(|| format!("{path:?} is no simple page"))?;
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
    fn package_type(&self) -> PackageType {
        PackageType::Pypi
    }

    fn classify(&self, path: &str) -> Class {
        match Endpoint::parse(path) {
            Ok(Endpoint::File { .. }) => Class::Immutable,
            Ok(Endpoint::Other) => Class::immutable_if(is_distribution(file_name(path))),
            _ => Class::Mutable,
        }
    }

    fn check_path(&self, path: &str) -> Result<(), PathRefusal> {
        Endpoint::parse(path).map(|_| ())
    }

    fn plan(&self, path: &str, ask: &Ask) -> Plan {
        match Endpoint::parse(path) {
            Ok(Endpoint::Root) => Plan::Redirect("simple/".into()),
            Ok(Endpoint::Index) => Plan::Document(doc_for(accept::negotiate(ask.accept))),
            Ok(Endpoint::Project { name, slash }) if slash && endpoint::is_normalised(name) => {
                Plan::Document(doc_for(accept::negotiate(ask.accept)))
            }
            Ok(Endpoint::Project { name, .. }) => Plan::Redirect(format!("simple/{}/", normalise(name))),
            Ok(Endpoint::File { project, .. }) if endpoint::is_normalised(project) => {
                Plan::Listed { index: format!("simple/{project}/"), doc: JSON }
            }
            Ok(Endpoint::File { project, file }) => Plan::Redirect(format!("simple/{}/{file}", normalise(project))),
            Ok(Endpoint::Other) | Err(_) => Plan::Bytes,
        }
    }

    fn check_document(&self, path: &str, _doc: &Doc, body: &[u8]) -> Result<(), String> {
        match page_kind(path) {
            Some((Kind::Project, _)) => page::each_file(body, &mut |_| Ok(Step::Go)).map(drop),
            _ => parse_page(path, body).map(drop),
        }
    }

    fn rewrite(&self, path: &str, doc: &Doc, body: &[u8], urls: &Urls) -> Result<Rendered, String> {
        let Some((Kind::Project, project)) = page_kind(path) else {
            return Ok(render(&parse_page(path, body)?, form_of(doc)));
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

    fn locate(&self, path: &str, _doc: &Doc, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
        let Ok(Endpoint::File { file, .. }) = Endpoint::parse(path) else { return Ok(None) };
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

    fn merge(&self, path: &str, doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        let form = form_of(doc);
        if let Some((Kind::Project, project)) = page_kind(path) {
            let bodies: Vec<&[u8]> = members.iter().map(|m| m.body.as_slice()).collect();
            return Ok(rendered(page::merge_projects(project, &bodies, form == Form::Json)?, form));
        }
        let pages = members.iter().map(|m| parse_page(path, &m.body)).collect::<Result<Vec<_>, _>>()?;
        Ok(render(&page::merge(pages)?, form))
    }
}

fn without_fragment(mut url: url::Url) -> url::Url {
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests;

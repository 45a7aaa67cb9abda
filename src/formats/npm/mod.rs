//! npm registries: packuments (package metadata documents) and tarballs.
//!
//! Every path is parsed once into an [`Endpoint`] ([`endpoint`]): scoped names arrive in any
//! of their spellings and go upstream as `@scope%2fname`. A packument changes with every
//! publish and dist-tag move; it is a [`Plan::Document`] in two variants, the full one
//! (`application/json`, what `npm view` reads) and the abbreviated one
//! (`application/vnd.npm.install-v1+json`, what `npm install` reads), cached separately and
//! rewritten so `dist.tarball` downloads through this remote ([`documents`]). Tarballs live at
//! `{name}/-/{file}` and are immutable (a registry refuses to republish a version): each is a
//! [`Plan::Listed`] file of the abbreviated packument, fetched from the URL the packument gives
//! and checked against its `dist.integrity` before it is cached; never recompressed. Package
//! names may end in `.tgz` themselves, so only the tarball form with its `-` segment counts.
//! `-/ping` is passed through; the dist-tags endpoint and version manifests are documents too.
//! Anything else under `-/` (search, login, audit) is no business of a caching proxy: 404.

mod documents;
mod endpoint;
mod merge;
mod raw;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use endpoint::{Endpoint, EndpointError, Name, MAX_NAME_BYTES};

use super::{Ask, Class, Doc, Format, Located, PackageType, PathRefusal, Plan, Rendered, Urls};

pub struct Npm;

/// The full packument, as `npm view` and `npm publish` read it.
pub const FULL: Doc = Doc { variant: "", accept: "application/json" };
/// The abbreviated packument npm installs from; registries that do not have it answer with
/// the full one, which npm reads just as well.
pub const ABBREVIATED: Doc =
    Doc { variant: "abbreviated", accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*" };
const ABBREVIATED_TYPE: &str = "application/vnd.npm.install-v1+json";
const JSON: &str = "application/json";

/// Whether `accept` lists the abbreviated packument type (with a non-zero quality).
fn wants_abbreviated(accept: Option<&str>) -> bool {
    accept.into_iter().flat_map(|a| a.split(',')).any(|item| {
        let mut params = item.split(';').map(str::trim);
        let kind = params.next().unwrap_or("");
        let zero = params.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
        kind.eq_ignore_ascii_case(ABBREVIATED_TYPE) && !zero
    })
}

fn content_type(doc: &Doc) -> &'static str {
    if doc.variant == ABBREVIATED.variant {
        ABBREVIATED_TYPE
    } else {
        JSON
    }
}

impl Format for Npm {
    fn package_type(&self) -> PackageType {
        PackageType::Npm
    }

    fn classify(&self, path: &str) -> Class {
        let tarball =
            matches!(Endpoint::parse(path), Ok(Endpoint::Tarball(_, file)) if super::has_suffix(file, ".tgz"));
        Class::immutable_if(tarball)
    }

    fn check_path(&self, path: &str) -> Result<(), PathRefusal> {
        match Endpoint::parse(path) {
            Ok(_) => Ok(()),
            Err(EndpointError::Invalid(m)) => Err(PathRefusal::Invalid(m)),
            Err(EndpointError::Unknown(m)) => Err(PathRefusal::NotFound(m)),
        }
    }

    fn canonical_raw<'a>(&self, raw: &'a str) -> Cow<'a, str> {
        endpoint::canonical_raw(raw)
    }

    fn plan(&self, path: &str, ask: &Ask) -> Plan {
        match Endpoint::parse(path) {
            Ok(Endpoint::Packument(_)) if wants_abbreviated(ask.accept) => Plan::Document(ABBREVIATED),
            Ok(Endpoint::Packument(_) | Endpoint::Version(..) | Endpoint::DistTags(_)) => Plan::Document(FULL),
            Ok(Endpoint::Tarball(name, _)) => Plan::Listed { index: name.full.to_string(), doc: ABBREVIATED },
            Ok(Endpoint::Ping) | Err(_) => Plan::Bytes,
        }
    }

    fn upstream_suffix(&self, path: &str, encoded: String) -> String {
        endpoint::upstream_suffix(path, encoded)
    }

    fn check_document(&self, path: &str, _doc: &Doc, body: &[u8]) -> Result<(), String> {
        match Endpoint::parse(path) {
            Ok(Endpoint::Packument(name)) => documents::packument(name.full, body),
            Ok(Endpoint::Version(name, v)) => documents::manifest(name.full, v, body),
            Ok(Endpoint::DistTags(name)) => documents::dist_tags(name.full, body),
            _ => Ok(()),
        }
    }

    fn rewrite(&self, path: &str, doc: &Doc, body: &[u8], urls: &Urls) -> Result<Rendered, String> {
        match Endpoint::parse(path).map_err(|e| e.to_string())? {
            Endpoint::Packument(name) => {
                Ok(Rendered::new(documents::rewrite_packument(&name, body, urls)?, content_type(doc)))
            }
            Endpoint::Version(name, v) => Ok(Rendered::new(documents::rewrite_manifest(&name, v, body, urls)?, JSON)),
            Endpoint::DistTags(name) => {
                documents::dist_tags(name.full, body).map(|()| Rendered::new(body.to_vec(), JSON))
            }
            other => Err(format!("{other:?} is no npm document")),
        }
    }

    fn locate(&self, path: &str, _doc: &Doc, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
        let Ok(Endpoint::Tarball(name, file)) = Endpoint::parse(path) else { return Ok(None) };
        documents::locate(name.full, file, body, urls)
    }

    fn merge(&self, path: &str, doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        let endpoint = Endpoint::parse(path).map_err(|e| e.to_string())?;
        let bodies: Vec<&[u8]> = members.iter().map(|m| m.body.as_slice()).collect();
        match endpoint {
            Endpoint::Packument(name) => Ok(Rendered::new(merge::packuments(name.full, &bodies)?, content_type(doc))),
            Endpoint::DistTags(name) => Ok(Rendered::new(merge::tags(name.full, &bodies)?, JSON)),
            _ => members.into_iter().next().ok_or_else(|| "no member document".to_string()),
        }
    }
}

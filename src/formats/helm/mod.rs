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
//! first member winning, each chart URL pointing at the member that serves it.

mod endpoint;
mod index;
mod walk;
mod yaml;

pub use endpoint::{Endpoint, MAX_FILE_BYTES, MAX_NAME_BYTES, MAX_VERSION_BYTES};
pub use index::{CONTENT_TYPE, MAX_RENDERED, MAX_VERSIONS};

use super::{Ask, Class, Doc, Format, Located, PackageType, PathRefusal, Plan, Rendered, Urls};

pub struct Helm;

/// The one form of an index: no content negotiation.
const INDEX_DOC: Doc = Doc { variant: "", accept: "" };

impl Format for Helm {
    fn package_type(&self) -> PackageType {
        PackageType::Helm
    }

    fn classify(&self, path: &str) -> Class {
        match Endpoint::parse(path) {
            Ok(e) => Class::immutable_if(e.is_immutable(path)),
            Err(_) => Class::Mutable,
        }
    }

    fn check_path(&self, path: &str) -> Result<(), PathRefusal> {
        Endpoint::parse(path).map(drop).map_err(PathRefusal::Invalid)
    }

    fn plan(&self, path: &str, _ask: &Ask) -> Plan {
        match Endpoint::parse(path) {
            Ok(Endpoint::Index { .. }) => Plan::Document(INDEX_DOC),
            Ok(Endpoint::Listed { dir, .. }) => {
                Plan::Listed { index: format!("{dir}{}", endpoint::INDEX), doc: INDEX_DOC }
            }
            Ok(Endpoint::File) | Err(_) => Plan::Bytes,
        }
    }

    fn check_document(&self, _path: &str, _doc: &Doc, body: &[u8]) -> Result<(), String> {
        index::check(body)
    }

    fn rewrite(&self, path: &str, _doc: &Doc, body: &[u8], urls: &Urls) -> Result<Rendered, String> {
        match Endpoint::parse(path) {
            Ok(Endpoint::Index { dir }) => index::rewrite(dir, body, urls),
            _ => Err(format!("{path:?} is no helm index")),
        }
    }

    fn locate(&self, path: &str, _doc: &Doc, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
        match Endpoint::parse(path) {
            Ok(Endpoint::Listed { chart, version, file, prov, .. }) => {
                index::locate(chart, version, file, prov, body, urls)
            }
            _ => Ok(None),
        }
    }

    fn merge(&self, _path: &str, _doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        index::merge(members, &now)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
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

    #[test]
    fn plans_documents_listed_charts_and_bytes() {
        let listed = |index: &str| Plan::Listed { index: index.into(), doc: INDEX_DOC };
        let cases: &[(&str, Plan)] = &[
            ("index.yaml", Plan::Document(INDEX_DOC)),
            ("stable/index.yaml", Plan::Document(INDEX_DOC)),
            ("charts/nginx/1.2.3/nginx-1.2.3.tgz", listed("index.yaml")),
            ("charts/nginx/1.2.3/nginx-1.2.3.tgz.prov", listed("index.yaml")),
            ("stable/charts/nginx/1.2.3/nginx-1.2.3.tgz", listed("stable/index.yaml")),
            ("nginx-1.2.3.tgz", Plan::Bytes),
            ("charts/nginx-1.2.3.tgz", Plan::Bytes),
            ("README.md", Plan::Bytes),
        ];
        for (path, want) in cases {
            assert_eq!(Helm.plan(path, &Ask::default()), *want, "{path}");
        }
    }

    #[test]
    fn refuses_hostile_paths_as_bad_requests() {
        let long = format!("charts/{}/1.0.0/a-1.0.0.tgz", "n".repeat(MAX_NAME_BYTES + 1));
        for path in [long.as_str(), "charts/a b/1/a.tgz", "charts/a/1;x/a.tgz", "charts/a/1/a*.tgz"] {
            assert!(matches!(Helm.check_path(path), Err(PathRefusal::Invalid(_))), "{path}");
        }
        for path in ["index.yaml", "charts/a/1.0.0/a-1.0.0.tgz", "anything/else.txt"] {
            assert_eq!(Helm.check_path(path), Ok(()), "{path}");
        }
    }
}

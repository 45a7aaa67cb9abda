//! The read side of PyPI local repositories: simple pages generated from the files uploaded to
//! the local, in both forms (PEP 503 HTML, PEP 691 JSON), with PEP 700 sizes, upload times and
//! versions.
//!
//! A PyPI index publishes files, not versions: a project's version has a wheel and an sdist
//! uploaded one by one, and a file name, once used, can never be used again (not even after a
//! deletion). So each uploaded file is one row of `local_packages` keyed by its *file name*
//! (package = the normalised project, version = the file name), with the fields pages need as
//! its metadata ([`FileRecord`]); the catalog then refuses a second upload of a file name in
//! the same statement that records the first, whatever races. Files are stored at
//! `simple/{project}/{file}` (PEP 658 metadata beside them as `{file}.metadata`), the same paths
//! a remote serves them at, so a virtual asks every member for a file the same way.

use serde::{Deserialize, Serialize};

use super::page::{DistFile, Page, Yanked};
use super::writer::ProjectWriter;
use super::{doc_for, endpoint, form_of, normalise, render, rendered, Form, Kind, PypiRequest};
use crate::formats::{Doc, LocalPackages, LocalPlan, Rendered, Urls};

/// What a local records of one uploaded file (the metadata of its `local_packages` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The project name as the upload form gave it.
    pub name: String,
    /// The version as the upload form gave it.
    pub version: String,
    pub filename: String,
    /// `bdist_wheel` or `sdist`.
    pub filetype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pyversion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    pub size: u64,
    /// SHA-256 of the wheel's `METADATA`, served as `{file}.metadata` (PEP 658); sdists have
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_metadata_sha256: Option<String>,
    /// `Some` when yanked (PEP 592), with the reason (empty when none was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked: Option<String>,
    /// RFC 3339, UTC, microseconds (PEP 700 `upload-time`).
    pub upload_time: String,
}

impl FileRecord {
    /// The record stored in a version's metadata.
    pub fn from_metadata(v: &serde_json::Value) -> Result<FileRecord, String> {
        serde_json::from_value(v.clone()).map_err(|e| format!("a stored file record: {e}"))
    }

    /// Where the local stores (and serves) this file, below the local.
    pub fn path(&self, project: &str) -> String {
        format!("simple/{project}/{}", self.filename)
    }
}

/// Where the local stores file `file` of project `project` (normalised).
pub fn file_path(project: &str, file: &str) -> String {
    format!("simple/{project}/{file}")
}

/// How a PyPI local answers a request: pages are generated, files are stored, other spellings
/// of a name are redirected to the normalised one (as the remote does).
pub fn plan(e: &PypiRequest) -> Option<LocalPlan> {
    let doc = doc_for(e.form);
    Some(match &e.kind {
        Kind::Root => LocalPlan::Redirect("simple/".into()),
        Kind::Index => LocalPlan::Document { package: None, doc },
        Kind::Project { name, slash: true } if endpoint::is_normalised(name) => {
            LocalPlan::Document { package: Some(name.clone()), doc }
        }
        Kind::Project { name, .. } => LocalPlan::Redirect(format!("simple/{}/", normalise(name))),
        Kind::File { project, file } if endpoint::is_normalised(project) => LocalPlan::File(file_path(project, file)),
        Kind::File { project, file } => LocalPlan::Redirect(format!("simple/{}/{file}", normalise(project))),
        Kind::Other => return None,
    })
}

/// The page `e` generated from what the local holds (published files only).
pub fn document(e: &PypiRequest, doc: &Doc, packages: &LocalPackages, urls: &Urls) -> Result<Rendered, String> {
    let form = form_of(doc);
    match &e.kind {
        Kind::Index => {
            let mut names: Vec<String> = packages.published().map(|v| v.package.clone()).collect();
            names.dedup();
            Ok(render(&Page::Index(names), form))
        }
        Kind::Project { name, .. } => {
            let mut w = ProjectWriter::new(name, form == Form::Json, 512 * packages.versions.len() + 512);
            let mut versions: Vec<String> = Vec::new();
            for v in packages.published() {
                let record = FileRecord::from_metadata(&v.metadata)?;
                if !versions.contains(&record.version) {
                    versions.push(record.version.clone());
                }
                w.file(&dist_file(name, &record, urls));
            }
            Ok(rendered(w.finish(Some(&versions)), form))
        }
        _ => Err(format!("{:?} is no simple page", e.path)),
    }
}

/// A stored file as its project page lists it.
fn dist_file(project: &str, r: &FileRecord, urls: &Urls) -> DistFile {
    let sha256 = |h: &str| std::iter::once(("sha256".to_string(), h.to_string())).collect();
    DistFile {
        filename: r.filename.clone(),
        url: format!("{}{}", urls.public, r.path(project)),
        hashes: sha256(&r.sha256),
        requires_python: r.requires_python.clone().filter(|s| !s.trim().is_empty()),
        yanked: match &r.yanked {
            None => Yanked::No,
            Some(reason) if reason.is_empty() => Yanked::Yes(None),
            Some(reason) => Yanked::Yes(Some(reason.clone())),
        },
        metadata: r.core_metadata_sha256.as_deref().map(sha256),
        gpg_sig: None,
        size: Some(r.size),
        upload_time: Some(r.upload_time.clone()),
    }
}

/// Whether a page's file is served by a local repository (its URL is below a local): a project
/// page with such a file came from a local member of a virtual, and shadows the members after
/// it ([`super::page::merge_projects`]).
pub fn served_by_a_local(url: &str) -> bool {
    url.contains("/api/v1/local/")
}

#[cfg(test)]
mod tests {
    use super::super::page::merge_projects;
    use super::*;
    use crate::formats::pypi::Pypi;
    use crate::formats::{Format, LocalVersion, Method, Request};

    const SHA: &str = "a2e85806b28365d08c962860c4e888fcbd030ae374d0e3a85c31bbf503cebac3";
    const META: &str = "0000000000000000000000000000000000000000000000000000000000000001";

    fn req(path: &str, accept: &str) -> PypiRequest {
        let accept = [accept];
        Pypi.parse(&Request { repo: "mine", method: Method::Get, path, query: "", accept: &accept }).unwrap()
    }

    fn urls() -> Urls {
        Urls { public: "http://p/api/v1/local/mine/".into(), base: String::new(), document: String::new() }
    }

    fn record(project: &str, version: &str, file: &str, yanked: Option<&str>) -> LocalVersion {
        let r = FileRecord {
            name: project.into(),
            version: version.into(),
            filename: file.into(),
            filetype: if file.ends_with(".whl") { "bdist_wheel" } else { "sdist" }.into(),
            pyversion: None,
            requires_python: Some(">=3.8,<4 \"&".into()),
            summary: None,
            sha256: SHA.into(),
            size: 1234,
            core_metadata_sha256: file.ends_with(".whl").then(|| META.to_string()),
            yanked: yanked.map(str::to_string),
            upload_time: "2026-01-02T03:04:05.000006Z".into(),
        };
        LocalVersion {
            package: normalise(project),
            version: file.into(),
            metadata: serde_json::to_value(r).unwrap(),
            published: true,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn requests_map_onto_pages_files_and_redirects() {
        let json = "application/vnd.pypi.simple.v1+json";
        let doc = |package: Option<&str>| LocalPlan::Document {
            package: package.map(str::to_string),
            doc: super::super::JSON,
        };
        let cases: Vec<(&str, Option<LocalPlan>)> = vec![
            ("simple", Some(LocalPlan::Redirect("simple/".into()))),
            ("simple/", Some(doc(None))),
            ("simple/foo-bar/", Some(doc(Some("foo-bar")))),
            ("simple/Foo_Bar/", Some(LocalPlan::Redirect("simple/foo-bar/".into()))),
            ("simple/foo-bar", Some(LocalPlan::Redirect("simple/foo-bar/".into()))),
            (
                "simple/foo-bar/foo_bar-1.0-py3-none-any.whl",
                Some(LocalPlan::File("simple/foo-bar/foo_bar-1.0-py3-none-any.whl".into())),
            ),
            (
                "simple/foo-bar/foo_bar-1.0-py3-none-any.whl.metadata",
                Some(LocalPlan::File("simple/foo-bar/foo_bar-1.0-py3-none-any.whl.metadata".into())),
            ),
            (
                "simple/Foo.Bar/foo_bar-1.0.tar.gz",
                Some(LocalPlan::Redirect("simple/foo-bar/foo_bar-1.0.tar.gz".into())),
            ),
            ("packages/foo-1.0.tar.gz", None),
        ];
        for (path, want) in cases {
            assert_eq!(plan(&req(path, json)), want, "{path}");
        }
        // Traversal never parses into a plan.
        for bad in
            ["simple/../x/", "simple/foo/..%2fx.whl", "simple/foo/%2e%2e", "simple/foo/a%00.whl", "simple/fo\\o/"]
        {
            let accept = [json];
            assert!(
                Pypi.parse(&Request { repo: "mine", method: Method::Get, path: bad, query: "", accept: &accept })
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn project_pages_list_published_files_in_both_forms() {
        let mut packages = LocalPackages {
            versions: vec![
                record("Foo_Bar", "1.0", "foo_bar-1.0-py3-none-any.whl", None),
                record("Foo_Bar", "1.0", "foo_bar-1.0.tar.gz", None),
                record("Foo_Bar", "2.0", "foo_bar-2.0-py3-none-any.whl", Some("broken <b>")),
            ],
            tags: Vec::new(),
        };
        packages
            .versions
            .push(LocalVersion { published: false, ..record("Foo_Bar", "0.1", "foo_bar-0.1.tar.gz", None) });
        let e = req("simple/foo-bar/", "application/vnd.pypi.simple.v1+json");
        let page = Pypi.local_document(&e, &super::super::JSON, &packages, &urls()).unwrap();
        assert_eq!(page.content_type, "application/vnd.pypi.simple.v1+json");
        let v: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
        assert_eq!(v["meta"]["api-version"], "1.1");
        assert_eq!(v["versions"], serde_json::json!(["1.0", "2.0"]));
        let files = v["files"].as_array().unwrap();
        assert_eq!(files.len(), 3, "{v}");
        assert_eq!(files[0]["url"], "http://p/api/v1/local/mine/simple/foo-bar/foo_bar-1.0-py3-none-any.whl");
        assert_eq!(files[0]["hashes"]["sha256"], SHA);
        assert_eq!(files[0]["core-metadata"]["sha256"], META);
        assert_eq!(files[0]["requires-python"], ">=3.8,<4 \"&");
        assert_eq!(files[0]["size"], 1234);
        assert!(files[1].get("core-metadata").is_none() || files[1]["core-metadata"] == false, "{v}");
        assert_eq!(files[2]["yanked"], "broken <b>");

        let e = req("simple/foo-bar/", "text/html");
        let page = Pypi.local_document(&e, &super::super::TEXT_HTML, &packages, &urls()).unwrap();
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains(&format!("foo_bar-1.0-py3-none-any.whl#sha256={SHA}")), "{html}");
        assert!(html.contains("data-requires-python=\"&gt;=3.8,&lt;4 &quot;&amp;\""), "{html}");
        assert!(html.contains("data-yanked=\"broken &lt;b&gt;\""), "{html}");
        assert!(html.contains(&format!("data-core-metadata=\"sha256={META}\"")), "{html}");
        assert!(!html.contains("foo_bar-0.1.tar.gz"), "an unpublished file is not listed: {html}");

        let e = req("simple/", "application/vnd.pypi.simple.v1+json");
        packages.versions.push(record("alpha", "1.0", "alpha-1.0.tar.gz", None));
        packages.versions.sort_by(|a, b| a.package.cmp(&b.package));
        let index = Pypi.local_document(&e, &super::super::JSON, &packages, &urls()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&index.body).unwrap();
        let names: Vec<&str> = v["projects"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["alpha", "foo-bar"]);
    }

    #[test]
    fn a_local_page_shadows_the_members_after_it() {
        let page = |repo: &str, files: &[&str]| {
            let list: Vec<String> = files
                .iter()
                .map(|f| format!(r#"{{"filename":"{f}","url":"http://p/api/v1/{repo}/simple/foo/{f}","hashes":{{}}}}"#))
                .collect();
            format!(r#"{{"meta":{{"api-version":"1.0"}},"name":"foo","files":[{}]}}"#, list.join(","))
        };
        let names = |merged: String| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_str(&merged).unwrap();
            v["files"].as_array().unwrap().iter().map(|f| f["url"].as_str().unwrap().to_string()).collect()
        };
        let local = page("local/mine", &["foo-1.0.tar.gz"]);
        let remote = page("remote/pub", &["foo-1.0.tar.gz", "foo-9.9.tar.gz"]);
        let other = page("remote/other", &["foo-0.5.tar.gz"]);
        // Local first: only its files.
        let merged = merge_projects("foo", &[local.as_bytes(), remote.as_bytes()], true).unwrap();
        assert_eq!(names(merged), ["http://p/api/v1/local/mine/simple/foo/foo-1.0.tar.gz"]);
        // Remotes before the local still count; after it, none.
        let merged = merge_projects("foo", &[other.as_bytes(), local.as_bytes(), remote.as_bytes()], true).unwrap();
        assert_eq!(
            names(merged),
            [
                "http://p/api/v1/remote/other/simple/foo/foo-0.5.tar.gz",
                "http://p/api/v1/local/mine/simple/foo/foo-1.0.tar.gz"
            ]
        );
        // Remotes alone: the union.
        let merged = merge_projects("foo", &[remote.as_bytes(), other.as_bytes()], true).unwrap();
        assert_eq!(names(merged).len(), 3);
    }
}

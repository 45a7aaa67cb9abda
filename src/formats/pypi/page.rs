//! A simple page as data: what either form (PEP 503 HTML, PEP 691 JSON) says, parsed from
//! whatever the upstream sent and rendered in whatever form the client asked for.
//!
//! Upstream markup never reaches a client: pages are parsed into [`Page`]s and regenerated, so
//! only the fields listed here survive, every one escaped for its form. Project pages list up
//! to tens of thousands of files, so checking, finding a file, rewriting and merging read them
//! one file at a time ([`each_file`]) and write as they read ([`super::writer`]): what is held
//! is the output and one file.

use std::collections::{BTreeMap, HashSet};

use super::writer::ProjectWriter;
use super::{html, json};

/// What a page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// `simple/`: project names as the index gives them.
    Index(Vec<String>),
    Project(Project),
}

/// Which page a path is: the parser checks the body is that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Index,
    Project,
}

/// A project's page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Project {
    /// The normalised project name.
    pub name: String,
    pub files: Vec<DistFile>,
    /// PEP 700 `versions`, when the upstream gave them.
    pub versions: Option<Vec<String>>,
}

/// Whether and why a file is yanked (PEP 592).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Yanked {
    #[default]
    No,
    /// Yanked, with the reason when one was given.
    Yes(Option<String>),
}

/// One file of a project.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DistFile {
    pub filename: String,
    /// The URL as the page gives it (possibly relative), without its fragment.
    pub url: String,
    /// Hash name → lower-case hex digest.
    pub hashes: BTreeMap<String, String>,
    pub requires_python: Option<String>,
    pub yanked: Yanked,
    /// PEP 658/714 metadata: `Some` when the index serves `{url}.metadata`, with its hashes.
    pub metadata: Option<BTreeMap<String, String>>,
    pub gpg_sig: Option<bool>,
    /// PEP 700 fields, kept when the upstream gave them.
    pub size: Option<u64>,
    pub upload_time: Option<String>,
}

/// Hash names a page may use, strongest first (the HTML fragment carries the first present).
pub const HASH_PREFERENCE: [&str; 7] = ["sha256", "sha512", "sha384", "sha224", "blake2b", "sha1", "md5"];

/// Checks a `name=value` digest as a page gives it. A digest of a hash this server knows
/// (sha256, sha512, sha384, sha224, sha1, md5) must be hex of its length, or the page is
/// refused; under any other name a hex value is kept and anything else (an old `#egg=name`
/// fragment) is ignored (`Ok(None)`). Names and values come back lower case.
pub fn checked_hash(name: &str, value: &str) -> Result<Option<(String, String)>, String> {
    let name = name.trim().to_ascii_lowercase();
    let value = value.trim().to_ascii_lowercase();
    let hex = !value.is_empty() && value.len() <= 256 && value.bytes().all(|c| c.is_ascii_hexdigit());
    let want = match name.as_str() {
        "sha256" => 64,
        "sha512" => 128,
        "sha384" => 96,
        "sha224" => 56,
        "sha1" => 40,
        "md5" => 32,
        _ => {
            let named =
                !name.is_empty() && name.len() <= 32 && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
            return Ok((named && hex).then_some((name, value)));
        }
    };
    if hex && value.len() == want {
        Ok(Some((name, value)))
    } else {
        let shown: String = value.chars().take(80).collect();
        Err(format!("malformed {name} digest {shown:?}"))
    }
}

/// The file name of a link: the last segment of its path, percent-decoded.
pub fn filename_of(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let last = url[..end].rsplit('/').next().unwrap_or("");
    percent_encoding::percent_decode_str(last).decode_utf8_lossy().into_owned()
}

/// Whether a body is JSON rather than HTML: what an upstream sent is sniffed, since the cached
/// copy keeps no content type of its own to trust and an HTML-only index answers HTML whatever
/// was asked.
fn is_json(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Parses a page of `kind` in either form; `project` is the normalised name of a project page.
pub fn parse(kind: Kind, project: &str, body: &[u8]) -> Result<Page, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if is_json(body) {
        json::parse(kind, project, body)
    } else {
        let text = std::str::from_utf8(body).map_err(|e| format!("page is not UTF-8: {e}"))?;
        html::parse(kind, project, text)
    }
}

/// Whether a walk over a page's files goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Go,
    Stop,
}

/// Reads a project page of either form, handing each file to `on` in page order and keeping
/// none (ten thousand files are never one list); gives the page's PEP 700 `versions` (JSON).
pub fn each_file(
    body: &[u8],
    on: &mut dyn FnMut(DistFile) -> Result<Step, String>,
) -> Result<Option<Vec<String>>, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if is_json(body) {
        json::walk_files(body, on)
    } else {
        let text = std::str::from_utf8(body).map_err(|e| format!("page is not UTF-8: {e}"))?;
        html::walk_files(text, on).map(|()| None)
    }
}

/// Checks a project page in either form before it is cached: JSON must read, HTML must be a
/// project page at all ([`html::check_project`]).
pub fn check_project(body: &[u8]) -> Result<(), String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if is_json(body) {
        return json::walk_files(body, &mut |_| Ok(Step::Go)).map(drop);
    }
    let text = std::str::from_utf8(body).map_err(|e| format!("page is not UTF-8: {e}"))?;
    html::check_project(text)
}

/// The first file of a project page called `filename`, reading no further than it.
pub fn find(body: &[u8], filename: &str) -> Result<Option<DistFile>, String> {
    let mut found = None;
    each_file(body, &mut |f| {
        if f.filename != filename {
            return Ok(Step::Go);
        }
        found = Some(f);
        Ok(Step::Stop)
    })?;
    Ok(found)
}

/// A project page rewritten file by file: `serve` gives each file as it is served (or `None`
/// to leave it out), written in JSON or else HTML.
pub fn rewrite_project(
    name: &str,
    body: &[u8],
    json: bool,
    serve: &mut dyn FnMut(DistFile) -> Option<DistFile>,
) -> Result<String, String> {
    // Served URLs are longer than most upstream ones, and JSON names the metadata twice.
    let mut w = ProjectWriter::new(name, json, body.len() + body.len() / 2);
    let versions = each_file(body, &mut |f| {
        if let Some(f) = serve(f) {
            w.file(&f);
        }
        Ok(Step::Go)
    })?;
    Ok(w.finish(versions.as_deref()))
}

/// Members' project pages merged file by file in member order: a file name already listed by
/// an earlier member keeps that member's entry; PEP 700 versions are the union when the first
/// member has them. A page served by a local repository (its files' URLs are below a local)
/// ends the merge: the project is that local's, and members after it are not listed (the
/// defence against dependency confusion: a public project of the same name cannot slip in).
pub fn merge_projects(name: &str, members: &[&[u8]], json: bool) -> Result<String, String> {
    let mut w = ProjectWriter::new(name, json, members.iter().map(|m| m.len()).sum());
    let mut listed: HashSet<String> = HashSet::new();
    let mut versions: Option<(Vec<String>, HashSet<String>)> = None;
    for (i, body) in members.iter().enumerate() {
        let mut local = false;
        let theirs = each_file(body, &mut |f| {
            local |= super::local::served_by_a_local(&f.url);
            if listed.insert(f.filename.clone()) {
                w.file(&f);
            }
            Ok(Step::Go)
        })?;
        match (i, versions.as_mut(), theirs) {
            (0, _, Some(vs)) => versions = Some((vs.clone(), vs.into_iter().collect())),
            (_, Some((mine, seen)), Some(vs)) => mine.extend(vs.into_iter().filter(|v| seen.insert(v.clone()))),
            _ => {}
        }
        if local {
            break;
        }
    }
    Ok(w.finish(versions.as_ref().map(|(vs, _)| vs.as_slice())))
}

/// Merges virtual members' pages in member order: a file name already listed by an earlier
/// member keeps that member's entry; projects are the union (by normalised name), sorted.
pub fn merge(pages: Vec<Page>) -> Result<Page, String> {
    let mut pages = pages.into_iter();
    let first = pages.next().ok_or("no member page")?;
    match first {
        Page::Index(names) => {
            let mut all: BTreeMap<String, String> = BTreeMap::new();
            for name in names.into_iter().chain(pages.flat_map(|p| match p {
                Page::Index(n) => n,
                Page::Project(_) => Vec::new(),
            })) {
                all.entry(super::endpoint::normalise(&name)).or_insert(name);
            }
            Ok(Page::Index(all.into_values().collect()))
        }
        Page::Project(mut project) => {
            let mut listed: HashSet<String> = project.files.iter().map(|f| f.filename.clone()).collect();
            for page in pages {
                let Page::Project(other) = page else { continue };
                for f in other.files {
                    if listed.insert(f.filename.clone()) {
                        project.files.push(f);
                    }
                }
                if let (Some(mine), Some(theirs)) = (project.versions.as_mut(), other.versions) {
                    for v in theirs {
                        if !mine.contains(&v) {
                            mine.push(v);
                        }
                    }
                }
            }
            Ok(Page::Project(project))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, url: &str) -> DistFile {
        DistFile { filename: name.into(), url: url.into(), ..Default::default() }
    }

    #[test]
    fn digests_are_checked() {
        let sha = "a".repeat(64);
        let some = |n: &str, v: &str| Ok(Some((n.to_string(), v.to_string())));
        assert_eq!(checked_hash("SHA256", &sha.to_uppercase()), some("sha256", &sha));
        assert!(checked_hash("sha256", "abc").is_err());
        assert!(checked_hash("sha256", &"g".repeat(64)).is_err());
        assert!(checked_hash("sha1", &"0".repeat(64)).is_err());
        assert_eq!(checked_hash("md5", &"0".repeat(32)), some("md5", &"0".repeat(32)));
        assert_eq!(checked_hash("blake2b", &"0".repeat(64)), some("blake2b", &"0".repeat(64)));
        assert_eq!(checked_hash("egg", "foo"), Ok(None));
        assert_eq!(checked_hash("", &sha), Ok(None));
        assert_eq!(checked_hash("sha<256", &sha), Ok(None));
    }

    #[test]
    fn file_names_come_from_the_url_path() {
        let cases = [
            ("/packages/foo-1.0.tar.gz#sha256=ab", "foo-1.0.tar.gz"),
            ("https://files.example/p/ab/foo-1.0-py3-none-any.whl", "foo-1.0-py3-none-any.whl"),
            ("foo-1.0%2Blocal.tar.gz?x=1", "foo-1.0+local.tar.gz"),
            ("../../foo.zip", "foo.zip"),
            ("dir/", ""),
        ];
        for (url, want) in cases {
            assert_eq!(filename_of(url), want, "{url}");
        }
    }

    #[test]
    fn json_is_told_from_html() {
        assert!(is_json(b"  \n{\"meta\":{}}"));
        assert!(parse(Kind::Index, "", b"\xEF\xBB\xBF{\"meta\":{\"api-version\":\"1.0\"},\"projects\":[]}").is_ok());
        assert!(!is_json(b"<!DOCTYPE html>"));
        assert!(!is_json(b""));
        assert!(parse(Kind::Project, "foo", b"\xff\xfe<html>").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn merges_keep_the_first_member_on_duplicates() {
        let a = Page::Project(Project {
            name: "foo".into(),
            files: vec![file("foo-1.0.tar.gz", "http://p/api/v1/remote/a/simple/foo/foo-1.0.tar.gz")],
            versions: Some(vec!["1.0".into()]),
        });
        let b = Page::Project(Project {
            name: "foo".into(),
            files: vec![
                file("foo-1.0.tar.gz", "http://p/api/v1/remote/b/simple/foo/foo-1.0.tar.gz"),
                file("foo-2.0.tar.gz", "http://p/api/v1/remote/b/simple/foo/foo-2.0.tar.gz"),
            ],
            versions: Some(vec!["1.0".into(), "2.0".into()]),
        });
        let Ok(Page::Project(m)) = merge(vec![a, b]) else { panic!("not a project") };
        let urls: Vec<&str> = m.files.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://p/api/v1/remote/a/simple/foo/foo-1.0.tar.gz",
                "http://p/api/v1/remote/b/simple/foo/foo-2.0.tar.gz"
            ]
        );
        assert_eq!(m.versions, Some(vec!["1.0".to_string(), "2.0".to_string()]));

        let a = Page::Index(vec!["Zeta".into(), "foo_bar".into()]);
        let b = Page::Index(vec!["Foo.Bar".into(), "alpha".into()]);
        assert_eq!(merge(vec![a, b]), Ok(Page::Index(vec!["alpha".into(), "foo_bar".into(), "Zeta".into()])));
        assert!(merge(Vec::new()).is_err());
    }
}

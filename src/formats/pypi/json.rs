//! PEP 691 JSON pages (with the PEP 700 additions `versions`, `size` and `upload-time`): read
//! field by field with errors that say which field is wrong, written from a [`Page`].
//!
//! A page must say `meta.api-version` 1.x (PEP 691: clients refuse another major version);
//! a project page must have `files` with a `filename` and `url` each and `hashes` of hex
//! strings, an index page `projects` with a `name` each. Keys this server does not know are
//! dropped, as PEP 691 lets clients do.

use std::collections::{BTreeMap, HashMap};

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::page::{checked_hash, DistFile, Kind, Page, Project, Step, Yanked};
use super::writer::ProjectWriter;

/// The top-level members of a page, values unparsed (borrowed from the body).
type Top<'a> = HashMap<String, &'a RawValue>;

/// A member of the top level as the type asked for; `None` when absent.
fn member<'a, T: serde::Deserialize<'a>>(top: &Top<'a>, key: &str) -> Option<Result<T, serde_json::Error>> {
    top.get(key).map(|v| serde_json::from_str(v.get()))
}

/// Parses a page of `kind`; `project` is the normalised name of a project page. A project
/// page of ten thousand files is never one tree: the top level and the `files` list are read
/// as unparsed values, and each file is parsed in turn.
pub fn parse(kind: Kind, project: &str, body: &[u8]) -> Result<Page, String> {
    let top = top(body)?;
    match kind {
        Kind::Index => {
            let projects =
                member::<Vec<&RawValue>>(&top, "projects").and_then(Result::ok).ok_or("no \"projects\" array")?;
            let mut names = Vec::with_capacity(projects.len());
            for p in projects {
                let p: Value = serde_json::from_str(p.get()).map_err(|e| e.to_string())?;
                let name = p.get("name").and_then(Value::as_str).ok_or("a project without a \"name\" string")?;
                if super::endpoint::is_valid_name(name) {
                    names.push(name.to_string());
                }
            }
            Ok(Page::Index(names))
        }
        Kind::Project => {
            let mut files = Vec::new();
            let versions = files_of(&top, &mut |f| {
                files.push(f);
                Ok(Step::Go)
            })?;
            Ok(Page::Project(Project { name: project.to_string(), files, versions }))
        }
    }
}

/// Reads a project page, handing each file to `on` in turn, keeping none (`on` stops the
/// reading with [`Step::Stop`]); gives the page's PEP 700 `versions`.
pub fn walk_files(
    body: &[u8],
    on: &mut dyn FnMut(DistFile) -> Result<Step, String>,
) -> Result<Option<Vec<String>>, String> {
    let top = top(body)?;
    files_of(&top, on)
}

fn top(body: &[u8]) -> Result<Top<'_>, String> {
    let top: Top = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => "JSON page is not an object".to_string(),
        _ => format!("invalid JSON: {e}"),
    })?;
    let meta = member::<Value>(&top, "meta").and_then(Result::ok);
    let version = meta.as_ref().and_then(|m| m.get("api-version")).and_then(Value::as_str).unwrap_or("");
    if version.split('.').next() != Some("1") {
        return Err(format!("unsupported or missing meta.api-version {version:?} (this server reads 1.x)"));
    }
    Ok(top)
}

fn files_of(top: &Top, on: &mut dyn FnMut(DistFile) -> Result<Step, String>) -> Result<Option<Vec<String>>, String> {
    let raw = member::<Vec<&RawValue>>(top, "files").and_then(Result::ok).ok_or("no \"files\" array")?;
    let versions = match member::<Value>(top, "versions").transpose().map_err(|e| e.to_string())? {
        None | Some(Value::Null) => None,
        Some(Value::Array(vs)) => Some(
            vs.into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err("a version that is no string"),
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err("\"versions\" is not an array".into()),
    };
    for (i, f) in raw.iter().enumerate() {
        let f: Value = serde_json::from_str(f.get()).map_err(|e| format!("files[{i}]: {e}"))?;
        if on(file(&f).map_err(|e| format!("files[{i}]: {e}"))?)? == Step::Stop {
            break;
        }
    }
    Ok(versions)
}

fn hashes(v: Option<&Value>, what: &str) -> Result<BTreeMap<String, String>, String> {
    let Some(v) = v else { return Ok(BTreeMap::new()) };
    let map = v.as_object().ok_or_else(|| format!("{what} is not an object"))?;
    let mut out = BTreeMap::new();
    for (name, value) in map {
        let value = value.as_str().ok_or_else(|| format!("{what}.{name} is not a string"))?;
        out.extend(checked_hash(name, value)?);
    }
    Ok(out)
}

fn file(f: &Value) -> Result<DistFile, String> {
    let f = f.as_object().ok_or("not an object")?;
    let text = |key: &str| f.get(key).and_then(Value::as_str).map(str::to_string);
    let filename = text("filename").filter(|s| !s.is_empty()).ok_or("no \"filename\" string")?;
    let url = text("url").ok_or("no \"url\" string")?;
    let yanked = match f.get("yanked") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Yanked::No,
        Some(Value::Bool(true)) => Yanked::Yes(None),
        Some(Value::String(r)) => Yanked::Yes(Some(r.clone())),
        Some(_) => return Err("\"yanked\" is neither a boolean nor a string".into()),
    };
    // PEP 714 renamed `dist-info-metadata` to `core-metadata`; either is read.
    let metadata = match f.get("core-metadata").or_else(|| f.get("dist-info-metadata")) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(BTreeMap::new()),
        Some(m @ Value::Object(_)) => Some(hashes(Some(m), "core-metadata")?),
        Some(_) => return Err("\"core-metadata\" is neither a boolean nor an object".into()),
    };
    Ok(DistFile {
        filename,
        url: url.split('#').next().unwrap_or("").to_string(),
        hashes: hashes(f.get("hashes"), "hashes")?,
        requires_python: text("requires-python").filter(|s| !s.trim().is_empty()),
        yanked,
        metadata,
        gpg_sig: f.get("gpg-sig").and_then(Value::as_bool),
        size: f.get("size").and_then(Value::as_u64),
        upload_time: text("upload-time"),
    })
}

/// Renders a page. `meta.api-version` is 1.1 (PEP 700) when the page has `versions` and every
/// file a `size`, else 1.0 with whatever PEP 700 fields there are as extra keys.
pub fn render(page: &Page) -> Vec<u8> {
    match page {
        Page::Index(names) => {
            let projects: Vec<Value> = names.iter().map(|n| json!({ "name": n })).collect();
            let v = json!({ "meta": { "api-version": "1.0" }, "projects": projects });
            serde_json::to_vec(&v).unwrap_or_default()
        }
        Page::Project(p) => {
            let mut w = ProjectWriter::new(&p.name, true, 0);
            p.files.iter().for_each(|f| w.file(f));
            w.finish(p.versions.as_deref()).into_bytes()
        }
    }
}

/// One file of a project page as PEP 691 has it.
pub fn render_file(f: &DistFile) -> Value {
    let mut o = Map::new();
    o.insert("filename".into(), json!(f.filename));
    o.insert("url".into(), json!(f.url));
    o.insert("hashes".into(), json!(f.hashes));
    if let Some(rp) = &f.requires_python {
        o.insert("requires-python".into(), json!(rp));
    }
    match &f.yanked {
        Yanked::No => {}
        Yanked::Yes(None) => {
            o.insert("yanked".into(), json!(true));
        }
        Yanked::Yes(Some(reason)) => {
            o.insert("yanked".into(), json!(reason));
        }
    }
    if let Some(m) = &f.metadata {
        let value = if m.is_empty() { json!(true) } else { json!(m) };
        o.insert("core-metadata".into(), value.clone());
        o.insert("dist-info-metadata".into(), value);
    }
    if let Some(sig) = f.gpg_sig {
        o.insert("gpg-sig".into(), json!(sig));
    }
    if let Some(size) = f.size {
        o.insert("size".into(), json!(size));
    }
    if let Some(t) = &f.upload_time {
        o.insert("upload-time".into(), json!(t));
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "2b37f4f41c7d2b2e1f06e5b2ff4db0fbd3e68e5c9c6e7ad9ac2d52bb6e1a1a1a";

    fn project(body: &str) -> Result<Project, String> {
        match parse(Kind::Project, "foo", body.as_bytes())? {
            Page::Project(p) => Ok(p),
            Page::Index(_) => unreachable!(),
        }
    }

    #[test]
    fn reads_a_pep_691_project_page() {
        let body = format!(
            r#"{{"meta":{{"api-version":"1.1","_last-serial":3}},"name":"foo","versions":["1.0"],
            "files":[{{"filename":"foo-1.0-py3-none-any.whl","url":"https://files.example/foo-1.0-py3-none-any.whl#frag",
            "hashes":{{"sha256":"{SHA}"}},"requires-python":">=3.8","yanked":"broken","core-metadata":{{"sha256":"{SHA}"}},
            "size":10,"upload-time":"2024-01-01T00:00:00Z","unknown":1}},
            {{"filename":"foo-1.0.tar.gz","url":"../../packages/foo-1.0.tar.gz","hashes":{{}},"dist-info-metadata":true,"yanked":false}}]}}"#
        );
        let p = project(&body).unwrap();
        assert_eq!(p.versions, Some(vec!["1.0".to_string()]));
        let w = &p.files[0];
        assert_eq!(w.url, "https://files.example/foo-1.0-py3-none-any.whl");
        assert_eq!(w.hashes.get("sha256").map(String::as_str), Some(SHA));
        assert_eq!(w.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(w.yanked, Yanked::Yes(Some("broken".into())));
        assert_eq!(w.metadata.as_ref().and_then(|m| m.get("sha256")).map(String::as_str), Some(SHA));
        assert_eq!((w.size, w.upload_time.as_deref()), (Some(10), Some("2024-01-01T00:00:00Z")));
        let s = &p.files[1];
        assert_eq!((s.yanked.clone(), s.metadata.clone()), (Yanked::No, Some(BTreeMap::new())));
        // Written back, read again: the same page.
        let again = project(std::str::from_utf8(&render(&Page::Project(p.clone()))).unwrap()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn malformed_pages_say_what_is_wrong() {
        let cases = [
            ("{", "invalid JSON"),
            ("[]", "not an object"),
            (r#"{"files":[]}"#, "api-version"),
            (r#"{"meta":{"api-version":"2.0"},"files":[]}"#, "api-version"),
            (r#"{"meta":{"api-version":"1.0"}}"#, "files"),
            (r#"{"meta":{"api-version":"1.0"},"files":[{"url":"x"}]}"#, "files[0]: no \"filename\""),
            (r#"{"meta":{"api-version":"1.0"},"files":[{"filename":"a.whl"}]}"#, "no \"url\""),
            (
                r#"{"meta":{"api-version":"1.0"},"files":[{"filename":"a.whl","url":"a.whl","hashes":{"sha256":"zz"}}]}"#,
                "malformed sha256",
            ),
            (
                r#"{"meta":{"api-version":"1.0"},"files":[{"filename":"a.whl","url":"a.whl","hashes":[]}]}"#,
                "hashes is not an object",
            ),
            (r#"{"meta":{"api-version":"1.0"},"files":[{"filename":"a.whl","url":"a.whl","yanked":3}]}"#, "yanked"),
            (r#"{"meta":{"api-version":"1.0"},"files":[],"versions":{}}"#, "versions"),
        ];
        for (body, want) in cases {
            let err = project(body).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
        let index =
            parse(Kind::Index, "", br#"{"meta":{"api-version":"1.0"},"projects":[{"name":"A_b"},{"name":"../x"}]}"#);
        assert_eq!(index, Ok(Page::Index(vec!["A_b".into()])));
        assert!(parse(Kind::Index, "", br#"{"meta":{"api-version":"1.0"},"projects":[{}]}"#).is_err());
    }

    #[test]
    fn api_version_follows_the_fields() {
        let mut p = Project { name: "foo".into(), ..Default::default() };
        p.files.push(DistFile { filename: "a.whl".into(), url: "u".into(), ..Default::default() });
        let version = |p: &Project| {
            let v: Value = serde_json::from_slice(&render(&Page::Project(p.clone()))).unwrap();
            v["meta"]["api-version"].as_str().unwrap().to_string()
        };
        assert_eq!(version(&p), "1.0");
        p.versions = Some(vec!["1.0".into()]);
        assert_eq!(version(&p), "1.0");
        p.files[0].size = Some(3);
        assert_eq!(version(&p), "1.1");
    }
}

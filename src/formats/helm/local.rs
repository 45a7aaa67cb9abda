//! Helm locals, read side: a chart's `Chart.yaml` turned into its index entry when it is
//! uploaded ([`chart_metadata`]), and the `index.yaml` generated from the stored entries
//! ([`index`]).
//!
//! An entry keeps the fields of helm's chart metadata (`Chart.yaml`) that helm's index reader
//! knows (it reads indexes strictly: an unknown field would make it drop the entry), plus
//! `digest` (the archive's SHA-256) and `created`; `urls` is written when the index is
//! rendered, pointing at `{PUBLIC_URL}/api/v1/local/{local}/charts/{name}-{version}.tgz`, so
//! one stored entry serves every public URL. Each version is one line of flow YAML, like the
//! rewritten indexes of remotes, so a virtual merges a local's index with the same code.

use serde_json::{Map, Value};
use yaml_rust2::parser::Event;

use super::endpoint::{check_name, check_version, CHARTS};
use super::index::CONTENT_TYPE;
use super::yaml::{write_scalar, Node, Reader};
use crate::formats::{LocalPackages, Rendered, Urls};

/// Largest `Chart.yaml` read.
pub const MAX_CHART_YAML: u64 = 1 << 20;

/// The fields of helm's chart metadata, in helm's order; string-valued ones first.
const TEXT_FIELDS: [&str; 11] = [
    "name",
    "home",
    "version",
    "description",
    "icon",
    "apiVersion",
    "condition",
    "tags",
    "appVersion",
    "kubeVersion",
    "type",
];
const OTHER_FIELDS: [&str; 6] = ["sources", "keywords", "maintainers", "deprecated", "annotations", "dependencies"];

/// A chart's identity and its index entry (without `urls`, `digest`, `created`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChartMeta {
    pub name: String,
    pub version: String,
    pub entry: Map<String, Value>,
}

impl ChartMeta {
    /// The archive's file name: `{name}-{version}.tgz`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

/// Reads a `Chart.yaml`: a mapping with `apiVersion` (v1 or v2), a `name` helm accepts (no
/// path separators or dot segments) and a semantic `version`.
pub fn chart_metadata(text: &str) -> Result<ChartMeta, String> {
    let mut r = Reader::new(text);
    let root = loop {
        match r.next()? {
            Event::StreamStart | Event::DocumentStart => {}
            ev @ Event::MappingStart(..) => break r.node(ev)?,
            _ => return Err("Chart.yaml is not a mapping".into()),
        }
    };
    let text = |field: &str| root.get(field).and_then(Node::text).map(str::to_string);
    let api = text("apiVersion").ok_or("Chart.yaml: apiVersion is missing")?;
    if api != "v1" && api != "v2" {
        return Err(format!("Chart.yaml: apiVersion {api:?} (expected v1 or v2)"));
    }
    let name = text("name").ok_or("Chart.yaml: name is missing")?;
    check_name(&name).map_err(|e| format!("Chart.yaml: {e}"))?;
    let version = text("version").ok_or("Chart.yaml: version is missing")?;
    check_version(&version).map_err(|e| format!("Chart.yaml: {e}"))?;
    if !semantic(&version) {
        return Err(format!("Chart.yaml: version {version:?} is not a semantic version"));
    }
    let mut entry = Map::new();
    for field in TEXT_FIELDS {
        if let Some(v) = text(field) {
            entry.insert(field.to_string(), Value::String(v));
        }
    }
    for field in OTHER_FIELDS {
        if let Some(v) = root.get(field).filter(|v| !v.is_null()) {
            entry.insert(field.to_string(), json(v));
        }
    }
    Ok(ChartMeta { name, version, entry })
}

/// A version helm's (lenient) semantic-version parser takes: `[v]MAJOR[.MINOR[.PATCH]]`, then
/// an optional `-prerelease` and `+build`.
fn semantic(version: &str) -> bool {
    let v = version.strip_prefix('v').unwrap_or(version);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    (1..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A YAML node as JSON: plain `true`/`false`/`null` keep their meaning, every other scalar is
/// text (helm's metadata has no numbers).
fn json(n: &Node) -> Value {
    match n {
        Node::Scalar { value, plain: true, tag: None } => match value.as_str() {
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            _ if n.is_null() => Value::Null,
            _ => Value::String(value.clone()),
        },
        Node::Scalar { value, .. } => Value::String(value.clone()),
        Node::Seq { items, .. } => Value::Array(items.iter().map(json).collect()),
        Node::Map { pairs, .. } => {
            Value::Object(pairs.iter().filter_map(|(k, v)| Some((k.text()?.to_string(), json(v)))).collect())
        }
    }
}

/// Writes JSON as one line of flow YAML: strings double-quoted, keys plain when safe.
fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_scalar(s, false, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_scalar(k, !k.chars().next().is_some_and(|c| c.is_ascii_digit()), out);
                out.push_str(": ");
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

/// The `index.yaml` of a local: every published chart version, charts by name, versions newest
/// first, each with `urls` pointing at `{urls.public}charts/{name}-{version}.tgz`.
pub fn index(packages: &LocalPackages, urls: &Urls) -> Result<Rendered, String> {
    let mut out = String::from("apiVersion: v1\nentries:");
    let mut versions: Vec<_> = packages.published().collect();
    versions.sort_by(|a, b| a.package.cmp(&b.package).then(b.created_at.cmp(&a.created_at)));
    let mut last: Option<&str> = None;
    for v in &versions {
        if last != Some(v.package.as_str()) {
            out.push_str("\n  ");
            write_scalar(&v.package, true, &mut out);
            out.push(':');
            last = Some(&v.package);
        }
        let mut entry = match &v.metadata {
            Value::Object(m) => m.clone(),
            _ => return Err(format!("{}@{}: stored metadata is not an object", v.package, v.version)),
        };
        let file = format!("{CHARTS}/{}-{}.tgz", v.package, v.version);
        entry.insert("urls".into(), Value::Array(vec![Value::String(urls.public_url(&file))]));
        out.push_str("\n  - ");
        write_json(&Value::Object(entry), &mut out);
    }
    out.push_str(if versions.is_empty() { " {}\n" } else { "\n" });
    let generated = versions.iter().map(|v| v.updated_at).max().unwrap_or_default();
    out.push_str("generated: ");
    write_scalar(&generated.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), false, &mut out);
    out.push('\n');
    Ok(Rendered::new(out.into_bytes(), CONTENT_TYPE))
}

/// ChartMuseum's read API on a local: `api/charts` (every chart) or `api/charts/{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Api {
    All,
    Chart(String),
}

impl Api {
    /// The API request `path` is, if any.
    pub fn parse(path: &str) -> Option<Api> {
        let rest = path.strip_prefix("api/charts")?;
        match rest.trim_end_matches('/') {
            "" => Some(Api::All),
            name => {
                let name = name.strip_prefix('/')?;
                check_name(name).ok().map(|()| Api::Chart(name.to_string()))
            }
        }
    }

    /// The package the answer is generated from (every package: `None`).
    pub fn package(&self) -> Option<String> {
        match self {
            Api::All => None,
            Api::Chart(name) => Some(name.clone()),
        }
    }
}

/// The JSON ChartMuseum answers: `{name: [version, ...]}` for every chart, `[version, ...]`
/// for one; versions newest first, each its index entry with `urls`.
pub fn api(which: &Api, packages: &LocalPackages, urls: &Urls) -> Result<Rendered, String> {
    let mut versions: Vec<_> = packages.published().collect();
    versions.sort_by(|a, b| a.package.cmp(&b.package).then(b.created_at.cmp(&a.created_at)));
    let mut charts: Map<String, Value> = Map::new();
    for v in versions {
        let mut entry = match &v.metadata {
            Value::Object(m) => m.clone(),
            _ => return Err(format!("{}@{}: stored metadata is not an object", v.package, v.version)),
        };
        let file = format!("{CHARTS}/{}-{}.tgz", v.package, v.version);
        entry.insert("urls".into(), Value::Array(vec![Value::String(urls.public_url(&file))]));
        let list = charts.entry(v.package.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(Value::Object(entry));
        }
    }
    let body = match which {
        Api::All => Value::Object(charts),
        Api::Chart(name) => charts.remove(name).unwrap_or_else(|| Value::Array(Vec::new())),
    };
    Ok(Rendered::new(serde_json::to_vec(&body).map_err(|e| e.to_string())?, "application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::LocalVersion;

    #[test]
    fn reads_chart_yaml_into_an_entry() {
        let text = "apiVersion: v2\nname: web\nversion: 1.0\nappVersion: 2.3\ndescription: A \"web\" app\n\
                    keywords: [a, b]\ndeprecated: false\nmaintainers:\n  - name: me\n    email: m@x\n\
                    dependencies:\n  - name: db\n    version: ~1\n    enabled: true\nunknown: field\n";
        let meta = chart_metadata(text).unwrap();
        assert_eq!((meta.name.as_str(), meta.version.as_str(), meta.file_name()), ("web", "1.0", "web-1.0.tgz".into()));
        let want = serde_json::json!({
            "name": "web", "version": "1.0", "description": "A \"web\" app", "apiVersion": "v2", "appVersion": "2.3",
            "keywords": ["a", "b"], "deprecated": false, "maintainers": [{"name": "me", "email": "m@x"}],
            "dependencies": [{"name": "db", "version": "~1", "enabled": true}],
        });
        assert_eq!(Value::Object(meta.entry), want);
    }

    #[test]
    fn refuses_charts_helm_would_not_load_or_that_traverse() {
        let cases: &[(&str, &str)] = &[
            ("name: a\nversion: 1.0.0\n", "apiVersion is missing"),
            ("apiVersion: v3\nname: a\nversion: 1.0.0\n", "apiVersion"),
            ("apiVersion: v2\nversion: 1.0.0\n", "name is missing"),
            ("apiVersion: v2\nname: a\n", "version is missing"),
            ("apiVersion: v2\nname: ../a\nversion: 1.0.0\n", "only letters"),
            ("apiVersion: v2\nname: a/b\nversion: 1.0.0\n", "only letters"),
            ("apiVersion: v2\nname: ..\nversion: 1.0.0\n", "only letters"),
            ("apiVersion: v2\nname: a\nversion: ../1\n", "only letters"),
            ("apiVersion: v2\nname: a\nversion: latest\n", "not a semantic version"),
            ("apiVersion: v2\nname: a\nversion: 1.0.0\nx: &a [1]\ny: *a\n", "aliases"),
            ("- a\n", "not a mapping"),
            ("apiVersion: v2\nname: [a\n", "not valid YAML"),
        ];
        for (text, fragment) in cases {
            match chart_metadata(text) {
                Err(e) => assert!(e.contains(fragment), "{text:?}: {e}"),
                Ok(m) => panic!("{text:?}: accepted {m:?}"),
            }
        }
    }

    #[test]
    fn generates_an_index_helm_and_libyaml_read() {
        let now = chrono::Utc::now();
        let v = |name: &str, version: &str, secs: i64| LocalVersion {
            package: name.into(),
            version: version.into(),
            metadata: serde_json::json!({
                "apiVersion": "v2", "name": name, "version": version, "description": "d: x #y",
                "digest": "ab".repeat(32), "created": "2024-01-01T00:00:00Z", "deprecated": false,
            }),
            published: true,
            created_at: now + chrono::Duration::seconds(secs),
            updated_at: now,
        };
        let packages =
            LocalPackages { versions: vec![v("b", "1.0.0", 0), v("a", "1.0.0", 1), v("a", "1.1.0", 2)], tags: vec![] };
        let urls = Urls { public: "http://h/api/v1/local/l/".into(), base: String::new(), document: String::new() };
        let rendered = index(&packages, &urls).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&rendered.body).unwrap();
        assert_eq!(doc["apiVersion"], "v1");
        assert_eq!(doc["entries"]["a"][0]["version"], "1.1.0", "newest first");
        assert_eq!(doc["entries"]["a"][1]["urls"][0], "http://h/api/v1/local/l/charts/a-1.0.0.tgz");
        assert_eq!(doc["entries"]["b"][0]["description"], "d: x #y");
        assert_eq!(doc["entries"]["b"][0]["deprecated"], false);
        super::super::index::check(&rendered.body).unwrap();
        let empty = index(&LocalPackages::default(), &urls).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&empty.body).unwrap();
        assert!(doc["entries"].as_mapping().is_some_and(|m| m.is_empty()), "{doc:?}");
    }

    /// A local of real size (the largest public repositories list tens of thousands of chart
    /// versions): rendered, accepted by the remote index checker, and merged with a remote.
    #[test]
    fn a_real_size_local_index_renders_and_merges() {
        let now = chrono::Utc::now();
        let versions: Vec<LocalVersion> = (0..30_000)
            .map(|i| {
                let (name, version) = (format!("chart{}", i % 300), format!("1.{}.0", i / 300));
                LocalVersion {
                    metadata: serde_json::json!({
                        "apiVersion": "v2", "name": name, "version": version, "appVersion": "1.0",
                        "description": "A chart of a real-size repository", "digest": "ab".repeat(32),
                        "created": "2024-01-01T00:00:00Z",
                        "maintainers": [{"name": "team", "email": "team@example.com"}],
                    }),
                    package: name,
                    version,
                    published: true,
                    created_at: now + chrono::Duration::milliseconds(i),
                    updated_at: now,
                }
            })
            .collect();
        let packages = LocalPackages { versions, tags: vec![] };
        let urls = Urls { public: "http://h/api/v1/local/l/".into(), base: String::new(), document: String::new() };
        let t = std::time::Instant::now();
        let rendered = index(&packages, &urls).unwrap();
        let took = t.elapsed();
        assert!(rendered.body.len() > 10 << 20, "{} bytes", rendered.body.len());
        super::super::index::check(&rendered.body).unwrap();
        let remote = Rendered::new(
            b"apiVersion: v1\nentries:\n  chart1:\n  - {version: 9.9.9, urls: [x.tgz]}\n".to_vec(),
            CONTENT_TYPE,
        );
        let local = Rendered { from_local: true, ..rendered };
        let merged = super::super::index::merge(vec![local, remote], "now").unwrap();
        let text = String::from_utf8(merged.body).unwrap();
        assert!(!text.contains("9.9.9") && text.matches("\n  - ").count() == 30_000);
        println!("index.yaml of 30,000 local chart versions: {} MiB in {took:?}", text.len() >> 20);
    }

    #[test]
    fn chartmuseum_read_api() {
        let cases: &[(&str, Option<Api>)] = &[
            ("api/charts", Some(Api::All)),
            ("api/charts/", Some(Api::All)),
            ("api/charts/web", Some(Api::Chart("web".into()))),
            ("api/charts/web/1.0.0", None),
            ("api/charts/.x", None),
            ("api/chartsx", None),
            ("index.yaml", None),
        ];
        for (path, want) in cases {
            assert_eq!(Api::parse(path), *want, "{path}");
        }
        let now = chrono::Utc::now();
        let v = |name: &str, version: &str| LocalVersion {
            package: name.into(),
            version: version.into(),
            metadata: serde_json::json!({ "name": name, "version": version }),
            published: true,
            created_at: now,
            updated_at: now,
        };
        let packages = LocalPackages { versions: vec![v("a", "1.0.0"), v("b", "2.0.0")], tags: vec![] };
        let urls = Urls { public: "http://h/api/v1/local/l/".into(), base: String::new(), document: String::new() };
        let all: Value = serde_json::from_slice(&api(&Api::All, &packages, &urls).unwrap().body).unwrap();
        assert_eq!(all["b"][0]["urls"][0], "http://h/api/v1/local/l/charts/b-2.0.0.tgz");
        let one: Value = serde_json::from_slice(&api(&Api::Chart("a".into()), &packages, &urls).unwrap().body).unwrap();
        assert_eq!(one[0]["version"], "1.0.0");
    }
}

//! `index.yaml`: checked before it is cached, rewritten on the way out, searched for the chart
//! a client asks for, and merged for virtual repositories.
//!
//! Indexes get large (tens of thousands of chart versions, tens of megabytes), and every
//! `helm repo update` asks for one, so an index is never held as one YAML tree: [`walk`] pulls
//! its events in document order and hands a visitor one top-level field or one chart version
//! at a time, as a small [`Node`] tree. The rewrite writes each piece out as soon as it has
//! seen it (each chart version on one line, in flow style), with `urls` replaced by the one URL
//! of this server that serves it and every other field kept; memory is the output plus one
//! entry. Finding one chart for a download ([`locate`]) builds no entry of any other chart and
//! stops at the one it wants. Chart URLs are resolved the way helm resolves them: a relative
//! URL against the repository URL (the directory of `index.yaml`), an absolute one as it is.
//!
//! A chart version is served only when this server can route it and check it: a chart name
//! and version of the characters [`super::endpoint`] accepts, at least one `http(s)` URL, and a
//! `digest` that is a SHA-256 when there is one. Versions that fail are left out of the served
//! index (never passed through with a URL pointing elsewhere); a version listed twice is served
//! once, as first listed. A chart or top-level field listed twice, an alias, or a second YAML
//! document makes the whole index invalid.

use std::collections::{HashMap, HashSet};

use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;

use super::endpoint::{check_file, check_name, check_version, CHARTS, INDEX, PROV};
use super::walk::{walk, Check, Step, Visit};
use super::yaml::Node;
use crate::formats::{Located, Rendered, Urls};
use crate::paths::RepoPath;

/// The content type of a served index.
pub const CONTENT_TYPE: &str = "application/x-yaml";
/// Most chart versions one index may list (the largest public chart repositories list tens of
/// thousands); more is refused before it is cached.
pub const MAX_VERSIONS: usize = 250_000;
/// Largest index rendered (rewritten or merged), in bytes.
pub const MAX_RENDERED: usize = 128 << 20;

/// Checks that `body` is an index helm would load: YAML, a mapping with an `apiVersion`, and
/// `entries` (if any) mapping chart names to lists of mappings.
pub fn check(body: &[u8]) -> Result<(), String> {
    walk(body, &mut Check)
}

/// The index with every routable chart version's `urls` replaced by its URL on this server
/// (`{public}{dir}charts/{chart}/{version}/{file}`), other versions left out.
pub fn rewrite(dir: &str, body: &[u8], urls: &Urls) -> Result<Rendered, String> {
    let dir = RepoPath::from_decoded(&format!("{dir}{INDEX}"))
        .map_err(|e| format!("index directory {dir:?}: {e}"))?
        .upstream_suffix();
    let prefix = urls.public_url(&format!("{}{CHARTS}/", dir.trim_end_matches(INDEX)));
    let mut w = Rewrite {
        out: Out::with_capacity(body.len() + body.len() / 4),
        prefix,
        urls,
        header: None,
        seen: HashSet::new(),
    };
    walk(body, &mut w)?;
    Ok(Rendered::new(w.out.0.into_bytes(), CONTENT_TYPE))
}

/// Where the chart `file` (or with `prov`, its provenance file) of `chart` `version` really is,
/// and the digest the chart must have; `None` when the index does not list it under that name.
pub fn locate(
    chart: &str,
    version: &str,
    file: &str,
    prov: bool,
    body: &[u8],
    urls: &Urls,
) -> Result<Option<Located>, String> {
    let mut find = Find { chart, version, urls, found: None };
    walk(body, &mut find)?;
    let Some(route) = find.found.filter(|r| r.file == file) else { return Ok(None) };
    let mut url = route.upstream;
    if prov {
        let path = format!("{}{PROV}", url.path());
        url.set_path(&path);
        return Ok(Some(Located { url: url.to_string(), integrity: None }));
    }
    Ok(Some(Located { url: url.to_string(), integrity: route.digest.map(Integrity::Sha256) }))
}

/// The members' rendered indexes as one: charts and versions in first-seen order, the first
/// member's entry winning for a version several list, the first member's other fields, and
/// `generated` set to `generated`. A chart a local member lists is left out of every remote
/// member after it: the local shadows it.
pub fn merge(members: Vec<Rendered>, generated: &str) -> Result<Rendered, String> {
    if members.is_empty() {
        return Err("no member index to merge".into());
    }
    let mut all = Merge::default();
    for (i, member) in members.iter().enumerate() {
        all.first = i == 0;
        all.local = member.from_local;
        walk(&member.body, &mut all)?;
    }
    let mut out = Out::with_capacity(members.iter().map(|m| m.body.len()).sum());
    let (mut entries, mut stamped) = (false, false);
    for (key, value) in &all.fields {
        match value {
            None => {
                write_entries(&mut out, &all.charts)?;
                entries = true;
            }
            Some(_) if key.text() == Some("generated") => {
                out.field(key, &Node::string(generated))?;
                stamped = true;
            }
            Some(value) => out.field(key, value)?,
        }
    }
    if !entries {
        write_entries(&mut out, &all.charts)?;
    }
    if !stamped {
        out.field(&Node::key("generated"), &Node::string(generated))?;
    }
    Ok(Rendered::new(out.0.into_bytes(), CONTENT_TYPE))
}

fn write_entries(out: &mut Out, charts: &[Chart]) -> Result<(), String> {
    out.push("entries:")?;
    for chart in charts {
        out.push("\n  ")?;
        out.node(&chart.key)?;
        out.push(":")?;
        out.push(&chart.lines)?;
    }
    out.push(if charts.is_empty() { " {}\n" } else { "\n" })
}

/// The walk of [`rewrite`]: writes as it goes.
struct Rewrite<'u> {
    out: Out,
    /// `{public}{dir}charts/`.
    prefix: String,
    urls: &'u Urls,
    /// The key of the current chart, until its first served version writes it.
    header: Option<Node>,
    /// Versions of the current chart served so far.
    seen: HashSet<String>,
}

impl Visit for Rewrite<'_> {
    fn field(&mut self, key: Node, value: Node) -> Result<(), String> {
        self.out.field(&key, &value)
    }

    fn entries(&mut self) -> Result<(), String> {
        self.out.push("entries:")
    }

    fn chart(&mut self, key: &Node, _name: &str) -> bool {
        self.seen.clear();
        self.header = Some(key.clone());
        true
    }

    fn version(&mut self, chart: &str, mut entry: Node) -> Result<Step, String> {
        let Some(route) = route(chart, &entry, self.urls) else { return Ok(Step::Go) };
        if !self.seen.insert(route.version.clone()) {
            return Ok(Step::Go);
        }
        let url = format!("{}{chart}/{}/{}", self.prefix, route.version, route.file);
        entry.set("version", Node::string(route.version));
        entry.set("urls", Node::Seq { items: vec![Node::string(url)], tag: None });
        if let Some(key) = self.header.take() {
            self.out.push("\n  ")?;
            self.out.node(&key)?;
            self.out.push(":")?;
        }
        self.out.push("\n  - ")?;
        self.out.node(&entry)?;
        Ok(Step::Go)
    }

    fn entries_done(&mut self) -> Result<(), String> {
        let empty = self.out.0.ends_with("entries:");
        self.out.push(if empty { " {}\n" } else { "\n" })
    }
}

/// The walk of [`locate`]: one chart, one version.
struct Find<'a> {
    chart: &'a str,
    version: &'a str,
    urls: &'a Urls,
    found: Option<Route>,
}

impl Visit for Find<'_> {
    fn chart(&mut self, _key: &Node, name: &str) -> bool {
        name == self.chart
    }

    fn version(&mut self, chart: &str, entry: Node) -> Result<Step, String> {
        match route(chart, &entry, self.urls) {
            Some(r) if r.version == self.version => {
                self.found = Some(r);
                Ok(Step::Stop)
            }
            _ => Ok(Step::Go),
        }
    }

    fn chart_done(&mut self, _chart: &str) -> Result<Step, String> {
        Ok(Step::Stop)
    }
}

/// The walk of [`merge`], over every member in turn.
#[derive(Default)]
struct Merge {
    /// Whether the member being walked is the first.
    first: bool,
    /// Whether the member being walked is a local.
    local: bool,
    /// Charts listed by local members so far.
    shadowing: HashSet<String>,
    /// Whether the current chart is shadowed (its versions are skipped).
    skip: bool,
    /// The first member's top-level fields in order; `None` marks where `entries` was.
    fields: Vec<(Node, Option<Node>)>,
    charts: Vec<Chart>,
    by_name: HashMap<String, usize>,
    current: usize,
}

/// One chart of a merged index: its versions so far, written out.
struct Chart {
    key: Node,
    versions: HashSet<String>,
    lines: String,
}

impl Visit for Merge {
    fn field(&mut self, key: Node, value: Node) -> Result<(), String> {
        if self.first {
            self.fields.push((key, Some(value)));
        }
        Ok(())
    }

    fn entries(&mut self) -> Result<(), String> {
        if self.first {
            self.fields.push((Node::key("entries"), None));
        }
        Ok(())
    }

    fn chart(&mut self, key: &Node, name: &str) -> bool {
        if self.local {
            self.shadowing.insert(name.to_owned());
        } else if self.shadowing.contains(name) {
            self.skip = true;
            return false;
        }
        self.skip = false;
        let charts = &mut self.charts;
        self.current = *self.by_name.entry(name.to_owned()).or_insert_with(|| {
            charts.push(Chart { key: key.clone(), versions: HashSet::new(), lines: String::new() });
            charts.len() - 1
        });
        true
    }

    fn version(&mut self, _chart: &str, entry: Node) -> Result<Step, String> {
        if self.skip {
            return Ok(Step::Go);
        }
        let Some(chart) = self.charts.get_mut(self.current) else { return Ok(Step::Go) };
        if let Some(version) = entry.get("version").and_then(Node::text) {
            if chart.versions.insert(version.to_owned()) {
                chart.lines.push_str("\n  - ");
                entry.write_flow(&mut chart.lines);
            }
        }
        Ok(Step::Go)
    }
}

/// Rendered YAML, refusing to grow past [`MAX_RENDERED`].
struct Out(String);

impl Out {
    fn with_capacity(n: usize) -> Out {
        Out(String::with_capacity(n.min(MAX_RENDERED)))
    }

    fn bounded(&self) -> Result<(), String> {
        if self.0.len() > MAX_RENDERED {
            return Err(format!("the rendered index.yaml is larger than {MAX_RENDERED} bytes"));
        }
        Ok(())
    }

    fn push(&mut self, s: &str) -> Result<(), String> {
        self.0.push_str(s);
        self.bounded()
    }

    fn node(&mut self, n: &Node) -> Result<(), String> {
        n.write_flow(&mut self.0);
        self.bounded()
    }

    /// A top-level `key: value` line.
    fn field(&mut self, key: &Node, value: &Node) -> Result<(), String> {
        key.write_flow(&mut self.0);
        self.0.push_str(": ");
        value.write_flow(&mut self.0);
        self.0.push('\n');
        self.bounded()
    }
}

/// How one chart version is served.
struct Route {
    version: String,
    /// The first `http(s)` URL of the entry, resolved.
    upstream: url::Url,
    /// The file name it is served under: the upstream's, or `{chart}-{version}.tgz`.
    file: String,
    digest: Option<Digest>,
}

/// The route of one entry; `None` if it cannot be served (see the module documentation).
/// [`rewrite`] and [`locate`] both decide through here.
fn route(chart: &str, entry: &Node, urls: &Urls) -> Option<Route> {
    check_name(chart).ok()?;
    let version = entry.get("version")?.text()?.to_owned();
    check_version(&version).ok()?;
    let digest = match entry.get("digest") {
        None => None,
        Some(d) if d.is_null() => None,
        Some(d) => match d.text()?.trim() {
            "" => None,
            d => Some(sha256(d)?),
        },
    };
    let Some(Node::Seq { items, .. }) = entry.get("urls") else { return None };
    let upstream = items.iter().filter_map(Node::text).find_map(|u| urls.resolve(u))?;
    let own = upstream
        .path_segments()
        .and_then(|mut s| s.next_back())
        .and_then(|s| percent_encoding::percent_decode_str(s).decode_utf8().ok())
        .filter(|f| check_file(f).is_ok());
    let file = match own {
        Some(f) => f.into_owned(),
        None => format!("{chart}-{version}.tgz"),
    };
    check_file(&file).ok()?;
    Some(Route { version, upstream, file, digest })
}

/// A helm `digest`: 64 hex digits of SHA-256 (a `sha256:` prefix is tolerated).
fn sha256(d: &str) -> Option<Digest> {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    if hex.len() != 64 {
        return None;
    }
    Digest::from_hex(&hex.to_ascii_lowercase()).ok()
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;

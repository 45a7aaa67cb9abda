//! PEP 503 HTML pages: read with html5gum, a WHATWG-conformant tokenizer ([`tokens`]), and
//! written from scratch with everything escaped.
//!
//! The tokenizer was picked by reading a 1.5 MB project page (4,700 files) with each candidate,
//! release builds, best of three on an idle 2-core machine: tl 2.4 ms (about 10 s to build),
//! html5gum 7.0 ms (13 s, no dependencies; 6.1 ms with its `jetscii` feature, 19 s), and
//! html5ever's tokenizer 15.7 ms (78 s). tl is faster because it builds a loose DOM and never
//! reports a page that ends inside a tag or a quote, which is what keeps a truncated page out
//! of the cache here; html5gum reports exactly those as errors and otherwise reads like a
//! browser, at a speed (about 50 ms for 10,000 files) far from mattering for a page rendered once
//! per upstream copy.
//!
//! Reading keeps the anchors (`href`, the `data-*` attributes of PEPs 503, 592, 658 and 714, the
//! text for project names) and the `pypi:repository-version` meta tag; everything else is
//! skipped. A page the tokenizer cannot finish (a tag, quote or comment left open), a page
//! with no markup at all, a major repository version other than 1, or a malformed digest is an
//! error: such a page is never cached.

mod tokens;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::page::{checked_hash, filename_of, DistFile, Kind, Page, Project, Step, Yanked, HASH_PREFERENCE};
use super::writer::ProjectWriter;
use tokens::{scan, Attrs, Token};

/// Parses a page of `kind`; `project` is the normalised name a project page is for.
pub fn parse(kind: Kind, project: &str, text: &str) -> Result<Page, String> {
    match kind {
        Kind::Index => {
            let mut names = Vec::new();
            walk_anchors(text, &mut |attrs, text| {
                names.extend(project_name(&attrs, &text));
                Ok(Step::Go)
            })?;
            Ok(Page::Index(names))
        }
        Kind::Project => {
            let mut files = Vec::new();
            walk_files(text, &mut |f| {
                files.push(f);
                Ok(Step::Go)
            })?;
            Ok(Page::Project(Project { name: project.to_string(), files, versions: None }))
        }
    }
}

/// Reads a project page, handing each file to `on` as its anchor closes, keeping none; `on`
/// stops the reading with [`Step::Stop`].
pub fn walk_files(text: &str, on: &mut dyn FnMut(DistFile) -> Result<Step, String>) -> Result<(), String> {
    walk_anchors(text, &mut |attrs, _| match dist_file(&attrs)? {
        Some(f) => on(f),
        None => Ok(Step::Go),
    })
}

/// Checks a project page before it is cached: it must read as [`walk_files`] reads it, and
/// list at least one distribution file or declare PEP 629's `pypi:repository-version` (the page of a project
/// without files, as an index that follows PEP 629 writes it). A page with neither, though it
/// is HTML, is an error page sent with `200` (a proxy's, a CDN's, a login wall): cached, it
/// would hide every file of the project.
pub fn check_project(text: &str) -> Result<(), String> {
    let mut files = 0usize;
    walk_files(text, &mut |f| {
        files += usize::from(is_distribution(&f.filename));
        Ok(Step::Go)
    })?;
    if files > 0 {
        return Ok(());
    }
    let mut declared = false;
    scan(text, |token| {
        if let Token::Start { name, attrs } = token {
            declared |= name == "meta" && attr(&attrs, "name") == Some("pypi:repository-version");
        }
        Ok(())
    })?;
    if !declared {
        return Err("an HTML page that lists no file and declares no pypi:repository-version: an error page, not a \
                    project page"
            .into());
    }
    Ok(())
}

/// Suffixes of the distribution files indexes list (sdists, wheels, eggs and the legacy
/// installers PyPI still serves).
const DIST_SUFFIXES: &[&str] =
    &[".whl", ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tbz", ".egg", ".exe", ".msi", ".rpm", ".dmg"];

/// Whether `name` is a distribution file's name: `{name}-{version}...` with a known suffix
/// (a link to `/status` or `../` on an error page is none).
fn is_distribution(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains('-') && DIST_SUFFIXES.iter().any(|s| lower.len() > s.len() && lower.ends_with(s))
}

/// Reads a page, handing each anchor (its attributes and text) to `on` as it closes.
fn walk_anchors(text: &str, on: &mut dyn FnMut(Attrs, String) -> Result<Step, String>) -> Result<(), String> {
    let mut open: Option<(Attrs, String)> = None;
    let (mut tags, mut stopped) = (0usize, false);
    let mut finish = |(attrs, text): (Attrs, String), stopped: &mut bool| -> Result<(), String> {
        if on(attrs, text)? == Step::Stop {
            *stopped = true;
            // Ends the scan; told apart from an error by `stopped`.
            return Err(String::new());
        }
        Ok(())
    };
    let scanned = scan(text, |token| {
        match token {
            Token::Start { name, attrs } => {
                tags += 1;
                if name == "a" {
                    if let Some(anchor) = open.replace((attrs, String::new())) {
                        finish(anchor, &mut stopped)?;
                    }
                } else if name == "meta" {
                    check_meta(&attrs)?;
                }
            }
            Token::End { name } => {
                tags += 1;
                if name == "a" {
                    if let Some(anchor) = open.take() {
                        finish(anchor, &mut stopped)?;
                    }
                }
            }
            Token::Text(t) => {
                if let Some((_, text)) = open.as_mut() {
                    text.push_str(&t);
                }
            }
        }
        Ok(())
    });
    match scanned {
        Err(_) if stopped => return Ok(()),
        other => other?,
    }
    if let Some(anchor) = open {
        match finish(anchor, &mut stopped) {
            Err(_) if stopped => return Ok(()),
            other => other?,
        }
    }
    if tags == 0 {
        return Err("not an HTML page (no markup)".into());
    }
    Ok(())
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// PEP 629: a client must refuse a major version it does not know.
fn check_meta(attrs: &[(String, String)]) -> Result<(), String> {
    if attr(attrs, "name") != Some("pypi:repository-version") {
        return Ok(());
    }
    let version = attr(attrs, "content").unwrap_or("").trim();
    match version.split('.').next() {
        Some("1") => Ok(()),
        _ => Err(format!("unsupported repository version {version:?} (this server reads 1.x)")),
    }
}

/// A project of the index page: the anchor text (PEP 503), else the link's last segment.
fn project_name(attrs: &[(String, String)], text: &str) -> Option<String> {
    let text = text.trim();
    let name = if text.is_empty() {
        let href = attr(attrs, "href")?.trim_end_matches('/');
        filename_of(href)
    } else {
        text.to_string()
    };
    super::endpoint::is_valid_name(&name).then_some(name)
}

/// A file anchor; `None` for anchors that name no file (no `href`, a directory link).
fn dist_file(attrs: &[(String, String)]) -> Result<Option<DistFile>, String> {
    let Some(href) = attr(attrs, "href").map(str::trim) else { return Ok(None) };
    let (url, fragment) = href.split_once('#').unwrap_or((href, ""));
    let filename = filename_of(url);
    if filename.is_empty() {
        return Ok(None);
    }
    let mut hashes = BTreeMap::new();
    if let Some((name, value)) = fragment.split_once('=') {
        if let Some((name, value)) = checked_hash(name, value).map_err(|e| format!("{filename}: {e}"))? {
            hashes.insert(name, value);
        }
    }
    let metadata = attr(attrs, "data-core-metadata").or_else(|| attr(attrs, "data-dist-info-metadata"));
    Ok(Some(DistFile {
        filename,
        url: url.to_string(),
        hashes,
        requires_python: attr(attrs, "data-requires-python").map(str::to_string).filter(|s| !s.trim().is_empty()),
        yanked: match attr(attrs, "data-yanked") {
            None => Yanked::No,
            Some(r) if r.trim().is_empty() => Yanked::Yes(None),
            Some(r) => Yanked::Yes(Some(r.to_string())),
        },
        metadata: metadata.and_then(metadata_hashes),
        gpg_sig: attr(attrs, "data-gpg-sig").map(|v| v.trim() == "true"),
        size: None,
        upload_time: None,
    }))
}

/// `data-core-metadata`: `true`, or `{hashname}={hex}`; anything else advertises nothing.
fn metadata_hashes(value: &str) -> Option<BTreeMap<String, String>> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        return Some(BTreeMap::new());
    }
    let (name, hex) = value.split_once('=')?;
    checked_hash(name, hex).ok().flatten().map(|h| BTreeMap::from([h]))
}

/// Escapes text for an HTML attribute value or element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The start of a page titled `title` (already escaped), up to its first link.
pub fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n    \
         <title>{title}</title>\n  </head>\n  <body>\n    <h1>{title}</h1>\n"
    )
}

/// The end of a page, after its last link.
pub const TAIL: &str = "  </body>\n</html>\n";

/// One file's line of a project page.
pub fn file_line(out: &mut String, f: &DistFile) {
    out.push_str("    ");
    anchor(out, f);
    out.push_str("<br>\n");
}

/// Renders a page. Index links are relative (`{name}/`), so a virtual's index leads to the
/// virtual's own project pages; file URLs are used as given.
pub fn render(page: &Page) -> String {
    match page {
        Page::Index(names) => {
            let mut out = head("Simple index");
            for name in names {
                let href = escape(&super::endpoint::normalise(name));
                let _ = writeln!(out, "    <a href=\"{href}/\">{}</a><br>", escape(name));
            }
            out.push_str(TAIL);
            out
        }
        Page::Project(p) => {
            let mut w = ProjectWriter::new(&p.name, false, 0);
            p.files.iter().for_each(|f| w.file(f));
            w.finish(p.versions.as_deref())
        }
    }
}

fn anchor(out: &mut String, f: &DistFile) {
    let mut href = f.url.clone();
    if let Some((name, value)) = HASH_PREFERENCE.iter().find_map(|n| f.hashes.get_key_value(*n)) {
        let _ = write!(href, "#{name}={value}");
    }
    let _ = write!(out, "<a href=\"{}\"", escape(&href));
    if let Some(rp) = &f.requires_python {
        let _ = write!(out, " data-requires-python=\"{}\"", escape(rp));
    }
    match &f.yanked {
        Yanked::No => {}
        Yanked::Yes(reason) => {
            let _ = write!(out, " data-yanked=\"{}\"", escape(reason.as_deref().unwrap_or("")));
        }
    }
    if let Some(hashes) = &f.metadata {
        let value = match HASH_PREFERENCE.iter().find_map(|n| hashes.get_key_value(*n)) {
            Some((name, value)) => format!("{name}={value}"),
            None => "true".to_string(),
        };
        let _ = write!(out, " data-dist-info-metadata=\"{0}\" data-core-metadata=\"{0}\"", escape(&value));
    }
    if let Some(sig) = f.gpg_sig {
        let _ = write!(out, " data-gpg-sig=\"{sig}\"");
    }
    let _ = write!(out, ">{}</a>", escape(&f.filename));
}

#[cfg(test)]
mod tests;

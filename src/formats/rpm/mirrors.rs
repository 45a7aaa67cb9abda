//! Mirror lists and metalinks: the answers dnf gets for `mirrorlist=` and `metalink=`.
//!
//! Many `.repo` files name no repository but a service that lists mirrors of it: a mirrorlist
//! (text, one repository URL per line: Rocky, Alma, old CentOS) or a metalink (metalink 3.0
//! XML, Fedora's MirrorManager: `<file name="repomd.xml">` with the `<hash>`es of the current
//! `repomd.xml` and one `<url>` of it per mirror). dnf picks mirrors from the answer and
//! downloads everything else from them, so a proxy that passed the answer through would cache
//! nothing but the list. Served through an rpm remote, every mirror URL is rewritten to come
//! back through the remote instead ([`proxied`]): `https://m.example/fedora/os/...` becomes
//! `{remote}/_mirror/https/m.example/fedora/os/...`; metalink's hashes stay, so dnf still checks
//! the `repomd.xml` it gets against them.
//!
//! A `_mirror/...` path names its mirror URL in clear ([`mirror_url`]), which keeps one cache
//! entry per mirror file whatever order the list comes in; the serving path fetches it only
//! when one of the remote's own mirror documents lists that mirror ([`Mirrors::bases`]), so a
//! client cannot make the remote fetch a URL of its choosing, and only under the remote's
//! private-address rule. Answers are capped ([`MAX_DOCUMENT`], [`MAX_MIRRORS`]); mirrors that
//! are no http(s) URLs (metalinks list `rsync://` ones) are left out.

use quick_xml::events::{BytesText, Event};
use quick_xml::{Reader, Writer};

/// The folder below a remote that mirror files are served from.
pub const PREFIX: &str = "_mirror/";
/// Largest mirror document read (Fedora's metalinks are about 50 KB).
pub const MAX_DOCUMENT: usize = 1 << 20;
/// Most mirrors one document may list.
pub const MAX_MIRRORS: usize = 2000;

/// Why a mirror document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    #[error("mirror document larger than {MAX_DOCUMENT} bytes")]
    TooLarge,
    #[error("mirror document lists more than {MAX_MIRRORS} mirrors")]
    TooMany,
    #[error("mirror document lists no http(s) mirror")]
    NoMirrors,
    #[error("mirror list is not UTF-8 text")]
    NotText,
    #[error("malformed metalink: {0}")]
    Xml(String),
}

/// The two forms of mirror documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text, one repository URL per line, `#` comments.
    Mirrorlist,
    /// Metalink 3.0 XML naming `repodata/repomd.xml` on each mirror.
    Metalink,
}

impl Kind {
    /// The form of `body`: XML is a metalink, anything else a mirror list.
    pub fn of(body: &[u8]) -> Kind {
        let start = body.iter().position(|b| !b.is_ascii_whitespace()).map(|i| &body[i..]).unwrap_or_default();
        if start.first() == Some(&b'<') {
            Kind::Metalink
        } else {
            Kind::Mirrorlist
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Mirrorlist => "text/plain; charset=utf-8",
            Kind::Metalink => "application/metalink+xml",
        }
    }
}

/// Whether the request path `path` (decoded) asks for a mirror document: a `mirrorlist` or
/// `metalink` service (`metalink`, `mirrorlist`, `mirrorlist/9/baseos`, `mirrorlist.txt`).
pub fn is_document(path: &str) -> bool {
    !path.starts_with(PREFIX)
        && path.split('/').any(|s| {
            let stem = s.split('.').next().unwrap_or_default();
            stem == "mirrorlist" || stem == "metalink"
        })
}

/// A mirror URL a client may be sent to: absolute http(s), a host, no credentials, no query.
fn mirror(text: &str) -> Option<url::Url> {
    let u = url::Url::parse(text.trim()).ok()?;
    let plain = matches!(u.scheme(), "http" | "https")
        && u.host_str().is_some_and(|h| !h.is_empty())
        && u.username().is_empty()
        && u.password().is_none()
        && u.query().is_none();
    plain.then_some(u)
}

/// The `scheme/host[:port]/path` a mirror URL is served below [`PREFIX`] as.
fn below_prefix(u: &url::Url) -> String {
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}/{}{port}{}", u.scheme(), u.host_str().unwrap_or_default(), u.path())
}

/// `text`, a mirror URL, as served through the remote whose files are at `public` (ending
/// with `/`); `None` for what is no plain http(s) URL.
pub fn proxied(text: &str, public: &str) -> Option<String> {
    mirror(text).map(|u| format!("{public}{PREFIX}{}", below_prefix(&u)))
}

/// The mirror URL that the path `path` below the remote (percent-encoded, starting with
/// [`PREFIX`]) stands for; `None` when it names none.
pub fn mirror_url(path: &str) -> Option<String> {
    let rest = path.strip_prefix(PREFIX)?;
    let (scheme, rest) = rest.split_once('/')?;
    let (authority, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let plain =
        matches!(scheme, "http" | "https") && !authority.is_empty() && !authority.contains(['@', '?', '#', '\\', '%']);
    if !plain {
        return None;
    }
    let u = mirror(&format!("{scheme}://{authority}/{rest}"))?;
    (below_prefix(&u) == format!("{scheme}/{authority}/{rest}")).then(|| u.to_string())
}

/// Where dnf reads a repository from, for a mirror URL: a metalink's URLs name
/// `.../repodata/repomd.xml`, a mirror list's lines the repository itself. Ends with `/`.
fn base_of(u: &url::Url) -> String {
    let s = u.as_str();
    let s = s.strip_suffix("repodata/repomd.xml").unwrap_or(s);
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

/// What a mirror document lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrors {
    pub kind: Kind,
    /// The repository URL of each http(s) mirror (ending with `/`), in document order.
    pub bases: Vec<String>,
}

impl Mirrors {
    /// Whether `url` (a mirror URL) is a file of a repository this document lists.
    pub fn allows(&self, url: &str) -> bool {
        self.bases.iter().any(|b| url.starts_with(b.as_str()))
    }
}

/// Checks the mirror document `body` and lists its mirrors.
pub fn parse(body: &[u8]) -> Result<Mirrors, MirrorError> {
    let mut bases = Vec::new();
    rewrite_with(body, |u| {
        bases.push(base_of(u));
        String::new()
    })?;
    Ok(Mirrors { kind: Kind::of(body), bases })
}

/// `body` with every mirror URL served through the remote whose files are at `public`; the
/// rest (comments, metalink's hashes and sizes) as it was, mirrors of other schemes left out.
pub fn rewrite(body: &[u8], public: &str) -> Result<Vec<u8>, MirrorError> {
    rewrite_with(body, |u| format!("{public}{PREFIX}{}", below_prefix(u)))
}

/// `body` with each plain http(s) mirror URL replaced by what `with` makes of it.
fn rewrite_with(body: &[u8], mut with: impl FnMut(&url::Url) -> String) -> Result<Vec<u8>, MirrorError> {
    if body.len() > MAX_DOCUMENT {
        return Err(MirrorError::TooLarge);
    }
    let mut count = 0;
    let mut each = |text: &str| -> Result<Option<String>, MirrorError> {
        let Some(u) = mirror(text) else { return Ok(None) };
        count += 1;
        if count > MAX_MIRRORS {
            return Err(MirrorError::TooMany);
        }
        Ok(Some(with(&u)))
    };
    let out = match Kind::of(body) {
        Kind::Mirrorlist => rewrite_list(body, &mut each)?,
        Kind::Metalink => rewrite_metalink(body, &mut each)?,
    };
    if count == 0 {
        return Err(MirrorError::NoMirrors);
    }
    Ok(out)
}

fn written(e: impl std::fmt::Display) -> MirrorError {
    MirrorError::Xml(e.to_string())
}

type Each<'a> = dyn FnMut(&str) -> Result<Option<String>, MirrorError> + 'a;

fn rewrite_list(body: &[u8], each: &mut Each<'_>) -> Result<Vec<u8>, MirrorError> {
    let text = std::str::from_utf8(body).map_err(|_| MirrorError::NotText)?;
    if text.contains('\0') {
        return Err(MirrorError::NotText);
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        } else if let Some(new) = each(trimmed)? {
            out.push_str(&new);
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}

fn rewrite_metalink(body: &[u8], each: &mut Each<'_>) -> Result<Vec<u8>, MirrorError> {
    let xml = |e: quick_xml::Error| MirrorError::Xml(e.to_string());
    let mut reader = Reader::from_reader(body);
    let mut writer = Writer::new(Vec::with_capacity(body.len()));
    let mut buf = Vec::new();
    let mut seen_root = false;
    // Elements open: a document that ends inside one was cut short.
    let mut depth = 0usize;
    // The <url> being read: its start tag and text so far.
    let mut url: Option<(quick_xml::events::BytesStart<'static>, String)> = None;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(xml)?;
        match &event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        match event {
            Event::Eof if depth > 0 => return Err(MirrorError::Xml("the document ends inside an element".into())),
            Event::Eof => break,
            Event::Start(e) if !seen_root => {
                if e.local_name().as_ref() != b"metalink" {
                    return Err(MirrorError::Xml("the root element is not <metalink>".into()));
                }
                seen_root = true;
                writer.write_event(Event::Start(e)).map_err(written)?;
            }
            Event::Start(e) if e.local_name().as_ref() == b"url" => {
                if url.is_some() {
                    return Err(MirrorError::Xml("<url> inside <url>".into()));
                }
                url = Some((e.into_owned(), String::new()));
            }
            Event::Text(t) if url.is_some() => {
                let text = t.decode().map_err(|e| MirrorError::Xml(e.to_string()))?;
                if let Some((_, s)) = url.as_mut() {
                    s.push_str(&text);
                }
            }
            Event::GeneralRef(r) if url.is_some() => {
                let name = r.decode().map_err(|e| MirrorError::Xml(e.to_string()))?;
                let c = quick_xml::escape::resolve_predefined_entity(&name)
                    .ok_or_else(|| MirrorError::Xml(format!("unknown entity &{name};")))?;
                if let Some((_, s)) = url.as_mut() {
                    s.push_str(c);
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"url" => {
                let Some((start, text)) = url.take() else { return Err(MirrorError::Xml("stray </url>".into())) };
                if let Some(new) = each(&text)? {
                    writer.write_event(Event::Start(start)).map_err(written)?;
                    writer.write_event(Event::Text(BytesText::new(&new))).map_err(written)?;
                    writer.write_event(Event::End(e)).map_err(written)?;
                }
            }
            _ if url.is_some() => return Err(MirrorError::Xml("markup inside <url>".into())),
            other => writer.write_event(other).map_err(written)?,
        }
        buf.clear();
    }
    if !seen_root {
        return Err(MirrorError::Xml("no <metalink> element".into()));
    }
    Ok(writer.into_inner())
}

#[cfg(test)]
#[path = "mirrors_tests.rs"]
mod tests;

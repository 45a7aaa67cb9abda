//! npm's JSON documents: packuments (full and abbreviated), version manifests and dist-tags.
//!
//! Each is checked whole before it is cached (valid JSON, an object, naming the package asked
//! for, every version with a `dist.tarball` and a readable integrity), rewritten with each
//! `dist.tarball` pointing at this remote (`{public}{name}/-/{file}`, a path planned as a
//! listed file), and merged for virtual repositories ([`super::merge`]). A tarball is found
//! again in its packument by its file name, which gives the upstream URL it really has
//! (possibly on another host) and the digest it must match: `dist.integrity` (SRI, SHA-512
//! preferred) or else the SHA-1 `shasum`.
//!
//! Real packuments are 10–20 MB (3,000 versions and more), so none is ever read into a tree:
//! the document is a list of members whose values stay unparsed text ([`super::raw`]), each
//! version manifest is read in turn, and only one version's `dist` is parsed at a time. A
//! rewrite copies every member it does not change as its original text (key order, numbers
//! and escapes as the upstream wrote them) straight into its output. On a generated packument
//! of 3,000 versions (19.8 MB, `tests/document_scale.rs`, release build on 2 cores) the peak
//! heap above the document is 0.2 MiB for a check or a tarball lookup, 1.07× the document for
//! a rewrite (its output) and 1.01× the members for a merge of two, in 56 ms, 86 ms and
//! 135 ms; reading it into a `serde_json::Value` first, as before, took 6.7× to 8.4× and 264 ms
//! to 673 ms.

use std::fmt;

use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde_json::value::RawValue;

use super::endpoint::{Name, MAX_FILE_BYTES};
use super::raw::{self, is_null, object, string, Members, ObjectWriter};
use crate::formats::{Located, Urls};

/// What is kept verbatim in a tarball file name in a rewritten URL.
const FILE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `name@version`, as messages name a version (formatted only when there is a message).
pub struct At<'a>(pub &'a str, pub &'a str);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.0, self.1)
    }
}

/// The members of the document `body`, which must be a JSON object.
pub fn top<'a>(body: &'a [u8], what: &str) -> Result<Members<'a>, String> {
    raw::members(body).map_err(|e| format!("{what} {e}"))
}

pub fn check_name(doc: &Members, name: &str, what: &str) -> Result<(), String> {
    match doc.get("name").and_then(string) {
        Some(n) if n == name => Ok(()),
        Some(n) => Err(format!("{what} names the package {n:?}")),
        None => Err(format!("{what} has no name")),
    }
}

/// A fully unpublished package keeps a packument without versions.
fn unpublished(doc: &Members) -> bool {
    doc.get("time").and_then(object).is_some_and(|t| t.get("unpublished").is_some())
}

/// A packument's `versions`: its text and its members; `None` for an unpublished package.
pub fn versions<'a>(doc: &Members<'a>, what: &str) -> Result<Option<(&'a RawValue, Members<'a>)>, String> {
    match doc.get("versions") {
        Some(v) => object(v).map(|m| Some((v, m))).ok_or_else(|| format!("{what}: versions is not an object")),
        None if unpublished(doc) => Ok(None),
        None => Err(format!("{what} has no versions")),
    }
}

/// Checks a packument's `dist-tags`, if it has them.
pub fn check_tags_field(doc: &Members, what: &str) -> Result<(), String> {
    match doc.get("dist-tags") {
        None => Ok(()),
        Some(tags) => check_tags(&object(tags).ok_or_else(|| format!("{what}: dist-tags is not an object"))?, what),
    }
}

/// The members of one version manifest, checked like every version of a packument.
fn checked_manifest<'a>(manifest: &'a RawValue, what: &At) -> Result<Members<'a>, String> {
    let m = object(manifest).ok_or_else(|| format!("{what} is not an object"))?;
    check_dist(&m, what)?;
    Ok(m)
}

/// Checks a packument of `name`: every version has a tarball URL and a readable integrity.
pub fn packument(name: &str, body: &[u8]) -> Result<(), String> {
    let what = format!("packument of {name}");
    let doc = top(body, &what)?;
    check_name(&doc, name, &what)?;
    if let Some((_, versions)) = versions(&doc, &what)? {
        for (version, manifest) in versions.iter() {
            checked_manifest(manifest, &At(name, version))?;
        }
    }
    check_tags_field(&doc, &what)
}

/// Checks one version's manifest (`{name}/{version}`) like a packument's versions.
pub fn manifest(name: &str, version: &str, body: &[u8]) -> Result<(), String> {
    let what = format!("manifest of {name}@{version}");
    let doc = top(body, &what)?;
    check_name(&doc, name, &what)?;
    check_dist(&doc, &what)
}

/// Checks a dist-tags document: tag → version.
pub fn dist_tags(name: &str, body: &[u8]) -> Result<(), String> {
    let what = format!("dist-tags of {name}");
    check_tags(&top(body, &what)?, &what)
}

pub fn check_tags(tags: &Members, what: &str) -> Result<(), String> {
    match tags.iter().find(|(_, v)| !raw::is_string(v)) {
        Some((tag, _)) => Err(format!("{what}: dist-tag {tag:?} is not a version string")),
        None => Ok(()),
    }
}

fn check_dist(manifest: &Members, what: &dyn fmt::Display) -> Result<(), String> {
    let dist = manifest.get("dist").and_then(object).ok_or_else(|| format!("{what} has no dist object"))?;
    if !dist.get("tarball").is_some_and(raw::is_string) {
        return Err(format!("{what} has no dist.tarball"));
    }
    integrity(&dist, what).map(|_| ())
}

fn decode(b64: &str, what: &dyn fmt::Display, field: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| format!("{what}: {field} is not base64: {e}"))
}

/// A string field of `dist`: `None` when absent or null, an error when not a string.
fn dist_text<'a>(
    dist: &Members<'a>,
    field: &str,
    what: &dyn fmt::Display,
) -> Result<Option<std::borrow::Cow<'a, str>>, String> {
    match dist.get(field) {
        None => Ok(None),
        Some(v) if is_null(v) => Ok(None),
        Some(v) => string(v).map(Some).ok_or_else(|| format!("{what}: dist.{field} is not a string")),
    }
}

/// The digest a tarball must match: the strongest of `dist.integrity` (SRI: SHA-512, SHA-256,
/// SHA-1), else the SHA-1 hex `dist.shasum`; `None` when the packument records neither.
pub fn integrity(dist: &Members, what: &dyn fmt::Display) -> Result<Option<Integrity>, String> {
    let (mut sha256, mut sha1) = (None, None);
    if let Some(sri) = dist_text(dist, "integrity", what)? {
        for token in sri.split_whitespace() {
            let Some((alg, rest)) = token.split_once('-') else {
                return Err(format!("{what}: dist.integrity {token:?} is no SRI digest"));
            };
            let b64 = rest.split('?').next().unwrap_or(rest);
            let wrong = |n: usize| format!("{what}: dist.integrity {alg} digest is {n} bytes");
            match alg {
                "sha512" => {
                    let bytes = decode(b64, what, "dist.integrity")?;
                    let n = bytes.len();
                    return <[u8; 64]>::try_from(bytes)
                        .map(|d| Some(Integrity::Sha512(Box::new(d))))
                        .map_err(|_| wrong(n));
                }
                "sha256" => {
                    let bytes = decode(b64, what, "dist.integrity")?;
                    let n = bytes.len();
                    sha256 = Some(<[u8; 32]>::try_from(bytes).map_err(|_| wrong(n))?);
                }
                "sha1" => {
                    let bytes = decode(b64, what, "dist.integrity")?;
                    let n = bytes.len();
                    sha1 = Some(<[u8; 20]>::try_from(bytes).map_err(|_| wrong(n))?);
                }
                _ => {}
            }
        }
    }
    if let Some(d) = sha256 {
        return Ok(Some(Integrity::Sha256(Digest::from_bytes(d))));
    }
    if sha1.is_none() {
        if let Some(hex_sum) = dist_text(dist, "shasum", what)? {
            let bytes = hex::decode(hex_sum.as_ref()).map_err(|e| format!("{what}: dist.shasum is not hex: {e}"))?;
            let n = bytes.len();
            sha1 = Some(<[u8; 20]>::try_from(bytes).map_err(|_| format!("{what}: dist.shasum is {n} bytes"))?);
        }
    }
    Ok(sha1.map(Integrity::Sha1))
}

/// The decoded last path segment of a tarball URL, if it can be a path segment here.
pub fn tarball_file(url: &url::Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let file = percent_encoding::percent_decode_str(last).decode_utf8().ok()?;
    let usable = !file.is_empty()
        && file != "."
        && file != ".."
        && file.len() <= MAX_FILE_BYTES
        && !file.contains(['/', '\\'])
        && !file.chars().any(char::is_control);
    usable.then(|| file.into_owned())
}

/// Writes a manifest's `dist` with its `tarball` pointing at this remote; a tarball URL that
/// cannot be served from here (not http(s), no usable file name) is dropped rather than passed
/// on. Every other member is copied as it is.
fn write_dist(out: &mut Vec<u8>, name: &Name, dist: &Members, urls: &Urls) {
    let file = dist.get("tarball").and_then(string).and_then(|t| urls.resolve(&t)).and_then(|u| tarball_file(&u));
    let public = file.map(|file| {
        let path = format!("{}/-/{}", name.full, percent_encoding::utf8_percent_encode(&file, FILE));
        urls.public_url(&path)
    });
    let mut w = ObjectWriter::open(out);
    for (k, v) in dist.iter() {
        match (&**k, &public) {
            ("tarball", Some(url)) => {
                w.key(out, k);
                raw::write_str(out, url);
            }
            ("tarball", None) => {}
            _ => w.member(out, k, v),
        }
    }
    w.close(out);
}

/// Writes a version manifest with its tarball URL through this remote.
fn write_manifest(out: &mut Vec<u8>, name: &Name, manifest: &Members, urls: &Urls) {
    let mut w = ObjectWriter::open(out);
    for (k, v) in manifest.iter() {
        match (k == "dist").then(|| object(v)).flatten() {
            Some(dist) => {
                w.key(out, k);
                write_dist(out, name, &dist, urls);
            }
            None => w.member(out, k, v),
        }
    }
    w.close(out);
}

/// A packument (full or abbreviated), checked as [`packument`] checks it, with every tarball
/// URL through this remote; everything else as the upstream wrote it.
pub fn rewrite_packument(name: &Name, body: &[u8], urls: &Urls) -> Result<Vec<u8>, String> {
    let what = format!("packument of {}", name.full);
    let doc = top(body, &what)?;
    check_name(&doc, name.full, &what)?;
    check_tags_field(&doc, &what)?;
    let versions = versions(&doc, &what)?;
    // Rewritten URLs are a little longer than most upstream ones.
    let mut out = Vec::with_capacity(body.len() + body.len() / 16 + 1024);
    let mut w = ObjectWriter::open(&mut out);
    for (k, v) in doc.iter() {
        match &versions {
            Some((text, members)) if k == "versions" && std::ptr::eq(*text, *v) => {
                w.key(&mut out, k);
                let mut vw = ObjectWriter::open(&mut out);
                for (version, manifest) in members.iter() {
                    let manifest = checked_manifest(manifest, &At(name.full, version))?;
                    vw.key(&mut out, version);
                    write_manifest(&mut out, name, &manifest, urls);
                }
                vw.close(&mut out);
            }
            _ => w.member(&mut out, k, v),
        }
    }
    w.close(&mut out);
    Ok(out)
}

/// A version manifest, checked as [`manifest`] checks it, with its tarball URL through this
/// remote.
pub fn rewrite_manifest(name: &Name, version: &str, body: &[u8], urls: &Urls) -> Result<Vec<u8>, String> {
    let what = format!("manifest of {}@{version}", name.full);
    let doc = top(body, &what)?;
    check_name(&doc, name.full, &what)?;
    check_dist(&doc, &what)?;
    let mut out = Vec::with_capacity(body.len() + 256);
    write_manifest(&mut out, name, &doc, urls);
    Ok(out)
}

/// The version whose tarball is named `file`: its upstream URL (fragment dropped) and digest.
/// The packument was checked whole before it was cached; this reads each version only as far
/// as its `dist.tarball`, and the integrity of the one it finds.
pub fn locate(name: &str, file: &str, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
    let what = format!("packument of {name}");
    let doc = top(body, &what)?;
    check_name(&doc, name, &what)?;
    let Some((_, versions)) = versions(&doc, &what)? else { return Ok(None) };
    for (version, manifest) in versions.iter() {
        let Some(dist) = object(manifest).and_then(|m| m.get("dist")).and_then(object) else { continue };
        let Some(mut url) = dist.get("tarball").and_then(string).and_then(|t| urls.resolve(&t)) else { continue };
        if tarball_file(&url).as_deref() != Some(file) {
            continue;
        }
        url.set_fragment(None);
        let integrity = integrity(&dist, &At(name, version))?;
        return Ok(Some(Located { url: url.into(), integrity }));
    }
    Ok(None)
}

//! Keeping dnf on the proxy when an upstream's `primary.xml` places packages on other hosts
//! (`<location xml:base="http://mirror/..." href="Packages/a.rpm"/>`): a client honours
//! `xml:base` and would download those packages from the other host directly.
//!
//! The served copy of such a primary has its packages' `xml:base` attributes removed (so every
//! `href` resolves against the proxy's repository URL, where the proxy looks the package up in
//! the upstream's primary and fetches it from the host it names), and the served `repomd.xml`
//! names that copy: its `<data type="primary">` entry gets the new location, checksums and
//! sizes. Everything else passes through event by event, as a stream.

use std::io::{BufRead, Write};

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use super::repomd::MetadataError;

fn xml(e: impl std::fmt::Display) -> MetadataError {
    MetadataError::Xml(e.to_string())
}

/// `e` without its `xml:base` attribute; whether it had one.
fn without_base(e: &BytesStart<'_>) -> Result<(BytesStart<'static>, bool), MetadataError> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut out = BytesStart::new(name);
    let mut had = false;
    for a in e.attributes() {
        let a = a.map_err(xml)?;
        if a.key.as_ref() == b"xml:base" {
            had = true;
        } else {
            out.push_attribute(a);
        }
    }
    Ok((out, had))
}

/// Copies the `primary.xml` read from `input` to `out` without the `xml:base` of its packages'
/// locations; how many it removed.
pub fn strip_bases(input: impl BufRead, out: impl Write) -> Result<u64, MetadataError> {
    let mut reader = Reader::from_reader(input);
    let mut writer = Writer::new(out);
    let mut buf = Vec::new();
    let mut stripped = 0;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(xml)?;
        match event {
            Event::Eof => break,
            Event::Empty(e) if e.local_name().as_ref() == b"location" => {
                let (e, had) = without_base(&e)?;
                stripped += u64::from(had);
                writer.write_event(Event::Empty(e)).map_err(xml)?;
            }
            Event::Start(e) if e.local_name().as_ref() == b"location" => {
                let (e, had) = without_base(&e)?;
                stripped += u64::from(had);
                writer.write_event(Event::Start(e)).map_err(xml)?;
            }
            other => writer.write_event(other).map_err(xml)?,
        }
        buf.clear();
    }
    Ok(stripped)
}

/// The new form of one data file, as `repomd.xml` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub href: String,
    /// sha256 (hex) and size of the file as stored (compressed).
    pub sha256: String,
    pub size: u64,
    /// sha256 (hex) and size of its contents (uncompressed).
    pub open_sha256: String,
    pub open_size: u64,
}

/// A `<location>` like `e` (same prefix) with only `href`.
fn location(e: &BytesStart<'_>, href: &str) -> BytesStart<'static> {
    let mut loc = BytesStart::new(String::from_utf8_lossy(e.name().as_ref()).into_owned());
    loc.push_attribute(("href", href));
    loc
}

/// `repomd` with its `<data type="{kind}">` entry naming `new`: location (without
/// `xml:base`), checksum and open-checksum (sha256), size and open-size.
pub fn replace_data(repomd: &[u8], kind: &str, new: &Replacement) -> Result<Vec<u8>, MetadataError> {
    let mut reader = Reader::from_reader(repomd);
    let mut writer = Writer::new(Vec::with_capacity(repomd.len() + 64));
    let mut buf = Vec::new();
    let mut inside = false;
    let mut found = false;
    // Inside the <location>...</location> being replaced (its content is dropped).
    let mut in_location = false;
    // The new text of the element being replaced, until it is written.
    let mut replacing: Option<String> = None;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(xml)?;
        match event {
            Event::Eof => break,
            Event::Start(e) if e.local_name().as_ref() == b"data" => {
                inside = super::repomd::attr(&e, b"type")?.as_deref() == Some(kind);
                found |= inside;
                writer.write_event(Event::Start(e)).map_err(xml)?;
            }
            Event::End(e) if e.local_name().as_ref() == b"data" => {
                inside = false;
                writer.write_event(Event::End(e)).map_err(xml)?;
            }
            Event::End(e) if in_location => in_location = e.local_name().as_ref() != b"location",
            _ if in_location => {}
            Event::Start(e) if inside && e.local_name().as_ref() == b"location" => {
                writer.write_event(Event::Empty(location(&e, &new.href))).map_err(xml)?;
                in_location = true;
            }
            Event::Empty(e) if inside && e.local_name().as_ref() == b"location" => {
                writer.write_event(Event::Empty(location(&e, &new.href))).map_err(xml)?;
            }
            Event::Start(e) if inside => {
                let text = match e.local_name().as_ref() {
                    b"checksum" => Some(new.sha256.clone()),
                    b"open-checksum" => Some(new.open_sha256.clone()),
                    b"size" => Some(new.size.to_string()),
                    b"open-size" => Some(new.open_size.to_string()),
                    _ => None,
                };
                let mut start = e.into_owned();
                if matches!(start.local_name().as_ref(), b"checksum" | b"open-checksum") {
                    start.clear_attributes();
                    start.push_attribute(("type", "sha256"));
                }
                replacing = text;
                writer.write_event(Event::Start(start)).map_err(xml)?;
            }
            Event::Text(_) | Event::GeneralRef(_) | Event::CData(_) if replacing.is_some() => {}
            Event::End(e) => {
                if let Some(text) = replacing.take() {
                    writer.write_event(Event::Text(BytesText::new(&text))).map_err(xml)?;
                }
                writer.write_event(Event::End(e)).map_err(xml)?;
            }
            other => writer.write_event(other).map_err(xml)?,
        }
        buf.clear();
    }
    if !found {
        return Err(MetadataError::NoLocation(kind.to_string()));
    }
    Ok(writer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::super::{primary, repomd};
    use super::*;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm"><name>a</name><checksum type="sha256" pkgid="YES">AAAA</checksum><description>x &amp; y</description>
  <location xml:base="http://mirror.example/pkgs/" href="Packages/a-1-1.noarch.rpm"/><format><rpm:license>MIT</rpm:license></format></package>
<package type="rpm"><name>b</name><location href="Packages/b-1-1.noarch.rpm"></location></package>
</metadata>"#;

    #[test]
    fn strips_the_bases_and_keeps_everything_else() {
        let mut out = Vec::new();
        assert_eq!(strip_bases(PRIMARY.as_bytes(), &mut out).unwrap(), 1);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, PRIMARY.replace(r#" xml:base="http://mirror.example/pkgs/""#, ""));
        let index = primary::index(text.as_bytes(), 10).unwrap().unwrap();
        assert!(index.contains_key("Packages/a-1-1.noarch.rpm"));
        let mut again = Vec::new();
        assert_eq!(strip_bases(text.as_bytes(), &mut again).unwrap(), 0, "nothing left to strip");
        assert!(strip_bases(&b"<metadata><package></metadata>"[..], Vec::new()).is_err());
    }

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn names_the_new_primary_in_repomd() {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1</revision>
<data type="primary"><checksum type="sha">{old}</checksum><open-checksum type="sha">{old}</open-checksum>
<location xml:base="http://m/" href="repodata/old-primary.xml.gz"></location><timestamp>5</timestamp><size>10</size><open-size>20</open-size></data>
<data type="other"><checksum type="sha256">{SHA}</checksum><location href="repodata/o.xml.gz"/><size>7</size></data>
</repomd>"#,
            old = "ab".repeat(20)
        );
        let new = Replacement {
            href: format!("repodata/{SHA}-primary.xml.gz"),
            sha256: SHA.into(),
            size: 111,
            open_sha256: SHA.into(),
            open_size: 222,
        };
        let out = String::from_utf8(replace_data(body.as_bytes(), "primary", &new).unwrap()).unwrap();
        let files = repomd::parse(out.as_bytes()).unwrap();
        assert_eq!(files[0].href, new.href);
        assert_eq!(files[0].base, None);
        assert_eq!(files[0].checksum, repomd::integrity("sha256", SHA).unwrap());
        assert!(out.contains("<size>111</size>") && out.contains("<open-size>222</open-size>"), "{out}");
        assert!(out.contains("<timestamp>5</timestamp>"), "{out}");
        assert!(out.contains(r#"<open-checksum type="sha256">"#), "{out}");
        assert_eq!(files[1].href, "repodata/o.xml.gz", "other entries unchanged");
        assert!(out.contains("<size>7</size>"), "{out}");
        assert!(matches!(replace_data(body.as_bytes(), "filelists", &new), Err(MetadataError::NoLocation(_))));
    }
}

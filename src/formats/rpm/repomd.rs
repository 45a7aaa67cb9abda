//! `repodata/repomd.xml`: the list of a repository's metadata files and their checksums.
//!
//! Read with quick-xml; only what the serving path needs is kept: each `<data>` entry's type,
//! location (with its `xml:base`, if any) and checksum. An entry without a location or a
//! checksum of a known algorithm makes the whole document invalid: a snapshot whose files
//! cannot be checked is never served.

use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Most data files one `repomd.xml` may name (real ones name fewer than twenty).
pub const MAX_ENTRIES: usize = 256;

/// Why a `repomd.xml` (or another rpm metadata document) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("no <repomd> document")]
    NotRepomd,
    #[error("data entry {0:?} has no location")]
    NoLocation(String),
    #[error("data entry {0:?} has no checksum of a known algorithm")]
    NoChecksum(String),
    #[error("location {0:?} is not a plain relative path")]
    BadLocation(String),
    #[error("more than {MAX_ENTRIES} data entries")]
    TooMany,
}

/// One `<data>` entry of `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// `primary`, `filelists`, `other`, `primary_db`, ...
    pub kind: String,
    /// `<location href>`, relative to the repository directory (`repodata/...-primary.xml.gz`).
    pub href: String,
    /// `<location xml:base>`, when the file lives elsewhere.
    pub base: Option<String>,
    pub checksum: Integrity,
}

impl DataFile {
    /// The cache variant of this file: its checksum, so snapshots never share a copy.
    pub fn variant(&self) -> String {
        format!("{:?}", self.checksum)
    }
}

/// A `<checksum type="...">` value as an [`Integrity`] (`sha256`, `sha512`, `sha`/`sha1`).
pub fn integrity(kind: &str, hex_value: &str) -> Option<Integrity> {
    let bytes = hex::decode(hex_value.trim()).ok()?;
    match kind {
        "sha256" => Some(Integrity::Sha256(Digest::from_bytes(bytes.try_into().ok()?))),
        "sha512" => Some(Integrity::Sha512(Box::new(bytes.try_into().ok()?))),
        "sha" | "sha1" => Some(Integrity::Sha1(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// The value of attribute `name` of `e` (`href`, `type`, `xml:base`).
pub(super) fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, MetadataError> {
    for a in e.attributes() {
        let a = a.map_err(|err| MetadataError::Xml(err.to_string()))?;
        if a.key.as_ref() == name {
            let v = a.normalized_value(XmlVersion::Implicit1_0).map_err(|err| MetadataError::Xml(err.to_string()))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Whether `href` is a relative path that stays inside the repository directory.
pub fn plain_relative(href: &str) -> bool {
    !href.is_empty()
        && !href.starts_with('/')
        && !href.contains("://")
        && !href.contains(['?', '#', '\\'])
        && href.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// A `<data>` entry while it is read.
#[derive(Default)]
struct Partial {
    kind: String,
    href: Option<String>,
    base: Option<String>,
    checksum: Option<Integrity>,
}

/// Parses `repomd.xml`.
pub fn parse(body: &[u8]) -> Result<Vec<DataFile>, MetadataError> {
    let xml = |e: quick_xml::Error| MetadataError::Xml(e.to_string());
    let mut reader = Reader::from_reader(body);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut seen_root = false;
    // The entry being read, and the checksum type while inside its <checksum>.
    let mut cur: Option<Partial> = None;
    let mut sum_type: Option<String> = None;
    loop {
        match reader.read_event_into(&mut buf).map_err(xml)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"repomd" => seen_root = true,
            Event::Start(e) if e.local_name().as_ref() == b"data" => {
                if out.len() >= MAX_ENTRIES {
                    return Err(MetadataError::TooMany);
                }
                cur = Some(Partial { kind: attr(&e, b"type")?.unwrap_or_default(), ..Partial::default() });
            }
            Event::Start(e) if e.local_name().as_ref() == b"checksum" && cur.is_some() => {
                sum_type = Some(attr(&e, b"type")?.unwrap_or_default());
            }
            Event::Text(t) => {
                if let (Some(kind), Some(entry)) = (sum_type.as_deref(), cur.as_mut()) {
                    let text = t.decode().map_err(|e| MetadataError::Xml(e.to_string()))?;
                    entry.checksum = integrity(kind, &text);
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"checksum" => sum_type = None,
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"location" => {
                if let Some(entry) = cur.as_mut() {
                    entry.href = attr(&e, b"href")?;
                    entry.base = attr(&e, b"xml:base")?;
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"data" => {
                if let Some(Partial { kind, href, base, checksum }) = cur.take() {
                    let href = href.ok_or_else(|| MetadataError::NoLocation(kind.clone()))?;
                    let checksum = checksum.ok_or_else(|| MetadataError::NoChecksum(kind.clone()))?;
                    if base.is_none() && !plain_relative(&href) {
                        return Err(MetadataError::BadLocation(href));
                    }
                    out.push(DataFile { kind, href, base, checksum });
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err(MetadataError::NotRepomd);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn repomd(data: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>{data}
</repomd>"#
        )
    }

    fn entry(kind: &str, sum_type: &str, sum: &str, location: &str) -> String {
        format!(
            r#"<data type="{kind}"><checksum type="{sum_type}">{sum}</checksum>
  <open-checksum type="sha256">{SHA}</open-checksum>{location}<size>10</size></data>"#
        )
    }

    #[test]
    fn reads_the_data_files_and_their_checksums() {
        let body = repomd(&format!(
            "{}{}",
            entry("primary", "sha256", SHA, r#"<location href="repodata/a-primary.xml.gz"/>"#),
            entry("other", "sha256", SHA, r#"<location xml:base="http://m/x/" href="repodata/o.xml.gz"/>"#),
        ));
        let files = parse(body.as_bytes()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].kind, "primary");
        assert_eq!(files[0].href, "repodata/a-primary.xml.gz");
        assert_eq!(files[0].checksum, integrity("sha256", SHA).unwrap());
        assert_eq!(files[1].base.as_deref(), Some("http://m/x/"));
    }

    #[test]
    fn refuses_what_cannot_be_checked() {
        let loc = r#"<location href="repodata/p.xml.gz"/>"#;
        let cases: Vec<(String, MetadataError)> = vec![
            ("<html/>".into(), MetadataError::NotRepomd),
            (repomd(&entry("primary", "md5", "00", loc)), MetadataError::NoChecksum("primary".into())),
            (repomd(&entry("primary", "sha256", "zz", loc)), MetadataError::NoChecksum("primary".into())),
            (repomd(&entry("primary", "sha256", SHA, "")), MetadataError::NoLocation("primary".into())),
            (
                repomd(&entry("primary", "sha256", SHA, r#"<location href="../../etc/p"/>"#)),
                MetadataError::BadLocation("../../etc/p".into()),
            ),
            (
                repomd(&entry("primary", "sha256", SHA, r#"<location href="http://evil/p"/>"#)),
                MetadataError::BadLocation("http://evil/p".into()),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(parse(body.as_bytes()), Err(want), "{body}");
        }
        assert!(matches!(parse(b"<repomd><data type='x'>"), Err(MetadataError::Xml(_)) | Ok(_)));
        let many = repomd(&entry("p", "sha256", SHA, loc).repeat(MAX_ENTRIES + 1));
        assert_eq!(parse(many.as_bytes()), Err(MetadataError::TooMany));
    }

    #[test]
    fn checksum_types() {
        assert!(matches!(integrity("sha", &"ab".repeat(20)), Some(Integrity::Sha1(_))));
        assert!(matches!(integrity("sha512", &"ab".repeat(64)), Some(Integrity::Sha512(_))));
        assert_eq!(integrity("sha256", &"ab".repeat(31)), None);
        assert_eq!(integrity("md5", &"ab".repeat(16)), None);
    }
}

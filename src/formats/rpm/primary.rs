//! `primary.xml`: every package of a repository with its location and checksum, read as a
//! stream.
//!
//! Real `primary.xml` files are large (tens of MB compressed, hundreds uncompressed), so a
//! package is looked up by reading the (decompressed) document event by event with a buffer
//! that only ever holds one element: memory stays bounded whatever the size of the repository.

use std::collections::HashMap;
use std::io::BufRead;

use artifactapi_actors::integrity::Integrity;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::repomd::{attr, integrity, MetadataError};

/// Where a package is and what it must hash to, as `primary.xml` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry {
    pub href: String,
    /// `<location xml:base>`: the package lives below this URL instead of the repository.
    pub base: Option<String>,
    pub checksum: Integrity,
}

/// One package as the walk over `primary.xml` sees it: its location and checksum (none when
/// the checksum's algorithm is unknown).
struct Seen {
    href: String,
    base: Option<String>,
    checksum: Option<Integrity>,
}

/// Reads `primary.xml` from `input`, calling `visit` with every package until it returns
/// `false`. One element in memory at a time.
fn walk(input: impl BufRead, mut visit: impl FnMut(Seen) -> Result<bool, MetadataError>) -> Result<(), MetadataError> {
    let xml = |e: quick_xml::Error| MetadataError::Xml(e.to_string());
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut in_package = false;
    let mut sum_type: Option<String> = None;
    let mut checksum: Option<Integrity> = None;
    let mut location: Option<(String, Option<String>)> = None;
    loop {
        match reader.read_event_into(&mut buf).map_err(xml)? {
            Event::Start(e) if e.local_name().as_ref() == b"package" => {
                in_package = true;
                checksum = None;
                location = None;
            }
            Event::Start(e) if in_package && e.local_name().as_ref() == b"checksum" => {
                sum_type = Some(attr(&e, b"type")?.unwrap_or_default());
            }
            Event::Text(t) => {
                if let Some(kind) = sum_type.as_deref() {
                    let text = t.decode().map_err(|e| MetadataError::Xml(e.to_string()))?;
                    checksum = integrity(kind, &text);
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"checksum" => sum_type = None,
            Event::Start(e) | Event::Empty(e) if in_package && e.local_name().as_ref() == b"location" => {
                let href = attr(&e, b"href")?;
                location = href.map(|h| (h, None));
                if let Some(loc) = location.as_mut() {
                    loc.1 = attr(&e, b"xml:base")?;
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"package" => {
                in_package = false;
                if let Some((href, base)) = location.take() {
                    if !visit(Seen { href, base, checksum: checksum.take() })? {
                        return Ok(());
                    }
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

fn entry(seen: Seen) -> Result<PackageEntry, MetadataError> {
    let checksum = seen.checksum.ok_or_else(|| MetadataError::NoChecksum(seen.href.clone()))?;
    Ok(PackageEntry { href: seen.href, base: seen.base, checksum })
}

/// Finds the package whose `<location href>` is `href` in the `primary.xml` read from `input`.
pub fn find(input: impl BufRead, href: &str) -> Result<Option<PackageEntry>, MetadataError> {
    let mut found = None;
    walk(input, |seen| {
        if seen.href != href {
            return Ok(true);
        }
        found = Some(entry(seen)?);
        Ok(false)
    })?;
    Ok(found)
}

/// The packages of one `primary.xml` by `href` (`None`: no checksum of a known algorithm).
pub type Index = HashMap<String, Option<PackageEntry>>;

/// Every package of the `primary.xml` read from `input`, or `None` when it lists more than
/// `max_packages`: then each lookup reads the document again ([`find`]) instead.
pub fn index(input: impl BufRead, max_packages: usize) -> Result<Option<Index>, MetadataError> {
    let mut out = Index::new();
    let mut too_many = false;
    walk(input, |seen| {
        if out.len() >= max_packages {
            too_many = true;
            return Ok(false);
        }
        let href = seen.href.clone();
        out.insert(href, entry(seen).ok());
        Ok(true)
    })?;
    Ok((!too_many).then_some(out))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::compression::decompressed;
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn package(name: &str, sum: &str, location: &str) -> String {
        format!(
            r#"<package type="rpm"><name>{name}</name><arch>noarch</arch>
<checksum type="sha256" pkgid="YES">{sum}</checksum><summary>s</summary>
{location}<format><rpm:license>MIT</rpm:license></format></package>"#
        )
    }

    fn primary(packages: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">{packages}</metadata>"#
        )
    }

    #[test]
    fn finds_a_package_and_its_base() {
        let doc = primary(&format!(
            "{}{}",
            package("a", &"ab".repeat(32), r#"<location href="Packages/a-1-1.noarch.rpm"/>"#),
            package("b", SHA, r#"<location xml:base="http://mirror/el/" href="Packages/b-1-1.noarch.rpm"/>"#),
        ));
        let a = find(doc.as_bytes(), "Packages/a-1-1.noarch.rpm").unwrap().unwrap();
        assert_eq!(a.checksum, integrity("sha256", &"ab".repeat(32)).unwrap());
        assert_eq!(a.base, None);
        let b = find(doc.as_bytes(), "Packages/b-1-1.noarch.rpm").unwrap().unwrap();
        assert_eq!(b.base.as_deref(), Some("http://mirror/el/"));
        assert_eq!(b.checksum, integrity("sha256", SHA).unwrap());
        assert_eq!(find(doc.as_bytes(), "Packages/c-1-1.noarch.rpm").unwrap(), None);
    }

    #[test]
    fn indexes_every_package_up_to_a_limit() {
        let doc = primary(&format!(
            "{}{}",
            package("a", SHA, r#"<location href="a.rpm"/>"#),
            package("b", "md5?", r#"<location href="b.rpm"/>"#),
        ));
        let all = index(doc.as_bytes(), 10).unwrap().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all["a.rpm"].as_ref().map(|p| p.checksum.clone()), integrity("sha256", SHA));
        assert_eq!(all["b.rpm"], None);
        assert_eq!(index(doc.as_bytes(), 1).unwrap(), None);
    }

    #[test]
    fn a_package_without_a_checksum_is_refused() {
        let doc = primary(&package("a", "md5?", r#"<location href="a.rpm"/>"#));
        assert_eq!(find(doc.as_bytes(), "a.rpm"), Err(MetadataError::NoChecksum("a.rpm".into())));
    }

    #[test]
    fn reads_a_large_gzipped_primary_as_a_stream() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"<?xml version="1.0"?><metadata packages="50000">"#).unwrap();
        for i in 0..50_000 {
            let p = package(&format!("p{i}"), SHA, &format!(r#"<location href="Packages/p{i}-1-1.noarch.rpm"/>"#));
            gz.write_all(p.as_bytes()).unwrap();
        }
        gz.write_all(b"</metadata>").unwrap();
        let raw = gz.finish().unwrap();
        let input = decompressed("repodata/x-primary.xml.gz", raw.as_slice()).unwrap();
        let last = find(input, "Packages/p49999-1-1.noarch.rpm").unwrap().unwrap();
        assert_eq!(last.checksum, integrity("sha256", SHA).unwrap());
    }
}

//! Generating a repository's metadata from its packages' records ([`super::package`]): the
//! three data files dnf reads (`primary.xml.gz`, `filelists.xml.gz`, `other.xml.gz`) and the
//! `repomd.xml` naming them, as `createrepo_c` would write them (checksum type sha256,
//! `location href` relative to the repository root).
//!
//! Each data file is named by its own checksum (`repodata/{sha256}-primary.xml.gz`), so the files
//! of two generations never share a name: a client that read the old `repomd.xml` still finds
//! the old data files while the new ones are published beside them, and `repomd.xml` switches
//! last. Pure and deterministic (gzip without a timestamp): the same packages and timestamp give
//! the same bytes. CPU work for large repositories: callers run it on a blocking thread.

use std::fmt::Write as _;
use std::io::Write as _;

use artifactapi_actors::digest::Digest;

use super::package::{Dep, FileKind, Package};

/// One generated data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// `primary`, `filelists` or `other`.
    pub kind: &'static str,
    /// `repodata/{sha256}-{kind}.xml.gz`.
    pub href: String,
    /// The gzip bytes.
    pub body: Vec<u8>,
    pub open_sha256: Digest,
    pub open_size: u64,
}

/// A whole generation: the data files and the `repomd.xml` naming them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub data: Vec<DataFile>,
    pub repomd: Vec<u8>,
}

/// Escapes `s` for XML text and attributes, dropping characters XML 1.0 cannot carry.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether primary lists `path` among the package's files (the files dependencies commonly
/// name; the rest are in filelists), as createrepo decides it.
pub fn primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

fn version(out: &mut String, p: &Package) {
    let _ = write!(out, "<version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>", p.epoch, esc(&p.version), esc(&p.release));
}

fn deps(out: &mut String, element: &str, deps: &[Dep]) {
    if deps.is_empty() {
        return;
    }
    let _ = write!(out, "<rpm:{element}>");
    for d in deps {
        let _ = write!(out, "<rpm:entry name=\"{}\"", esc(&d.name));
        if let Some(flags) = &d.flags {
            let _ = write!(out, " flags=\"{flags}\"");
            for (attr, v) in [("epoch", &d.epoch), ("ver", &d.ver), ("rel", &d.rel)] {
                if let Some(v) = v {
                    let _ = write!(out, " {attr}=\"{}\"", esc(v));
                }
            }
        }
        if d.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>");
    }
    let _ = write!(out, "</rpm:{element}>");
}

fn file(out: &mut String, path: &str, kind: FileKind) {
    match kind {
        FileKind::File => {
            let _ = write!(out, "<file>{}</file>", esc(path));
        }
        FileKind::Dir => {
            let _ = write!(out, "<file type=\"dir\">{}</file>", esc(path));
        }
        FileKind::Ghost => {
            let _ = write!(out, "<file type=\"ghost\">{}</file>", esc(path));
        }
    }
}

/// `primary.xml`.
pub fn primary(packages: &[Package]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n",
        packages.len()
    );
    for p in packages {
        let _ = write!(out, "<package type=\"rpm\"><name>{}</name><arch>{}</arch>", esc(&p.name), esc(&p.arch));
        version(&mut out, p);
        let _ = write!(
            out,
            "<checksum type=\"sha256\" pkgid=\"YES\">{}</checksum><summary>{}</summary>\
             <description>{}</description><packager>{}</packager><url>{}</url>\
             <time file=\"{}\" build=\"{}\"/><size package=\"{}\" installed=\"{}\" archive=\"{}\"/>\
             <location href=\"{}\"/><format><rpm:license>{}</rpm:license><rpm:vendor>{}</rpm:vendor>\
             <rpm:group>{}</rpm:group><rpm:buildhost>{}</rpm:buildhost><rpm:sourcerpm>{}</rpm:sourcerpm>\
             <rpm:header-range start=\"{}\" end=\"{}\"/>",
            p.sha256,
            esc(&p.summary),
            esc(&p.description),
            esc(&p.packager),
            esc(&p.url),
            p.time_file,
            p.buildtime,
            p.size,
            p.installed_size,
            p.archive_size,
            esc(&p.location),
            esc(&p.license),
            esc(&p.vendor),
            esc(&p.group),
            esc(&p.buildhost),
            esc(&p.sourcerpm),
            p.header_start,
            p.header_end,
        );
        deps(&mut out, "provides", &p.provides);
        deps(&mut out, "requires", &p.requires);
        deps(&mut out, "conflicts", &p.conflicts);
        deps(&mut out, "obsoletes", &p.obsoletes);
        for f in p.files.iter().filter(|f| primary_file(&f.path)) {
            file(&mut out, &f.path, f.kind);
        }
        out.push_str("</format></package>\n");
    }
    out.push_str("</metadata>\n");
    out
}

fn package_open(out: &mut String, p: &Package) {
    let _ = write!(out, "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">", p.sha256, esc(&p.name), esc(&p.arch));
    version(out, p);
}

/// `filelists.xml`.
pub fn filelists(packages: &[Package]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" \
         packages=\"{}\">\n",
        packages.len()
    );
    for p in packages {
        package_open(&mut out, p);
        for f in &p.files {
            file(&mut out, &f.path, f.kind);
        }
        out.push_str("</package>\n");
    }
    out.push_str("</filelists>\n");
    out
}

/// `other.xml`.
pub fn other(packages: &[Package]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" \
         packages=\"{}\">\n",
        packages.len()
    );
    for p in packages {
        package_open(&mut out, p);
        for c in &p.changelog {
            let _ = write!(
                out,
                "<changelog author=\"{}\" date=\"{}\">{}</changelog>",
                esc(&c.author),
                c.date,
                esc(&c.text)
            );
        }
        out.push_str("</package>\n");
    }
    out.push_str("</otherdata>\n");
    out
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    enc.finish()
}

fn data_file(kind: &'static str, xml: String) -> std::io::Result<DataFile> {
    let body = gzip(xml.as_bytes())?;
    let sha = Digest::of(&body);
    Ok(DataFile {
        kind,
        href: format!("repodata/{}-{kind}.xml.gz", sha.hex()),
        body,
        open_sha256: Digest::of(xml.as_bytes()),
        open_size: xml.len() as u64,
    })
}

/// The metadata of a repository holding `packages`, stamped `timestamp` (seconds).
pub fn generate(packages: &[Package], timestamp: i64) -> std::io::Result<Generated> {
    let data = vec![
        data_file("primary", primary(packages))?,
        data_file("filelists", filelists(packages))?,
        data_file("other", other(packages))?,
    ];
    let mut repomd = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>{timestamp}</revision>\n"
    );
    for d in &data {
        let _ = write!(
            repomd,
            "  <data type=\"{}\">\n    <checksum type=\"sha256\">{}</checksum>\n    \
             <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{}\"/>\n    \
             <timestamp>{timestamp}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            d.kind,
            Digest::of(&d.body).hex(),
            d.open_sha256.hex(),
            d.href,
            d.body.len(),
            d.open_size,
        );
    }
    repomd.push_str("</repomd>\n");
    Ok(Generated { data, repomd: repomd.into_bytes() })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::super::header::build::package;
    use super::super::header::read;
    use super::super::package::tests::sample_tags;
    use super::super::{primary as primary_reader, repomd};
    use super::*;

    fn sample(n: usize) -> Vec<Package> {
        let h = read(package(&sample_tags(), b"").as_slice()).unwrap();
        let base = Package::from_headers(&h).unwrap();
        (0..n)
            .map(|i| Package {
                name: format!("pkg{i}"),
                location: format!("Packages/pkg{i}-1.2-3.el9.x86_64.rpm"),
                sha256: Digest::of(format!("pkg{i}").as_bytes()).hex(),
                size: 1000 + i as u64,
                ..base.clone()
            })
            .collect()
    }

    fn gunzip(b: &[u8]) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(b).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn repomd_names_every_data_file_by_its_checksum_and_primary_lists_every_package() {
        let packages = sample(300);
        let g = generate(&packages, 1_700_000_000).unwrap();
        let named = repomd::parse(&g.repomd).unwrap();
        assert_eq!(named.len(), 3);
        for (entry, file) in named.iter().zip(&g.data) {
            assert_eq!(entry.kind, file.kind);
            assert_eq!(entry.href, file.href);
            assert_eq!(format!("{:?}", entry.checksum), format!("sha256:{}", Digest::of(&file.body).hex()));
            assert!(file.href.starts_with(&format!("repodata/{}-", Digest::of(&file.body).hex())), "{}", file.href);
            assert_eq!(gunzip(&file.body).len() as u64, file.open_size);
        }
        let primary = gunzip(&g.data[0].body);
        let index = primary_reader::index(std::io::BufReader::new(primary.as_bytes()), 1000).unwrap().unwrap();
        for p in &packages {
            let found = index.get(&p.location).cloned().flatten().expect("listed");
            assert_eq!(format!("{:?}", found.checksum), format!("sha256:{}", p.sha256));
        }
        assert_eq!(generate(&packages, 1_700_000_000).unwrap(), g, "deterministic");
        assert!(primary.contains("packages=\"300\""));
        assert!(primary.contains("<description>Says &lt;hello&gt; &amp; more</description>"));
        assert!(primary.contains("<rpm:entry name=\"libfoo\" flags=\"GE\" epoch=\"0\" ver=\"1.0\"/>"));
        assert!(primary.contains("<rpm:entry name=\"/bin/sh\" pre=\"1\"/>"));
        assert!(primary.contains("<file>/usr/bin/hello</file><file>/etc/hello.conf</file></format>"));
        assert!(!primary.contains("rpmlib("));
        let filelists = gunzip(&g.data[1].body);
        assert!(filelists.contains("<file type=\"dir\">/usr/share/doc</file><file>/etc/hello.conf</file><file type=\"ghost\">/var/cache</file>"));
        let other = gunzip(&g.data[2].body);
        assert!(other.contains("<changelog author=\"Bob - 1.0-1\" date=\"1600000000\">- first</changelog>"));
        assert!(other.contains("<changelog author=\"Ann &lt;ann@example.org&gt; - 1.2-3\""));
    }

    #[test]
    fn an_empty_repository_is_valid_metadata() {
        let g = generate(&[], 1).unwrap();
        assert_eq!(repomd::parse(&g.repomd).unwrap().len(), 3);
        assert!(gunzip(&g.data[0].body).contains("packages=\"0\""));
    }

    #[test]
    fn text_is_escaped_and_stripped_of_what_xml_cannot_carry() {
        let cases = [
            ("a&b", "a&amp;b"),
            ("<x y=\"1\">", "&lt;x y=&quot;1&quot;&gt;"),
            ("bell\u{7}\ttab", "bell\ttab"),
            ("é", "é"),
        ];
        for (raw, want) in cases {
            assert_eq!(esc(raw), want, "{raw:?}");
        }
        for (path, listed) in
            [("/etc/x.conf", true), ("/usr/bin/x", true), ("/usr/sbin/y", true), ("/usr/share/x", false)]
        {
            assert_eq!(primary_file(path), listed, "{path}");
        }
    }
}

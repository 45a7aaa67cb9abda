//! The core metadata of an uploaded wheel: `{dist}-{version}.dist-info/METADATA`, read from the
//! staged file (never from memory: only that one member is read, up to a limit), checked to
//! name the project and version the upload form gives, and stored beside the wheel so pip and
//! uv can resolve without downloading it (PEP 658, `{file}.metadata`).

use std::io::Read;
use std::path::Path;

use super::dist::same_version;
use crate::formats::pypi::normalise;

/// Largest `METADATA` accepted (a long description inlined makes it grow; PyPI's largest are a
/// few MB).
pub const MAX_METADATA: u64 = 16 << 20;

/// Reads the `METADATA` of the wheel at `path` and checks its `Name` and `Version` against the
/// form's `project` (normalised) and `version`. Blocking: run it off the async threads.
pub fn core_metadata(path: &Path, project: &str, version: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("reading the wheel: {e}"))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("the wheel is not a zip file: {e}"))?;
    let names: Vec<String> = zip.file_names().filter_map(|n| Some(n.ok()?.into_owned())).collect();
    let member = dist_info_metadata(names.iter().map(String::as_str), project)
        .ok_or_else(|| format!("the wheel has no {project}-{version}.dist-info/METADATA"))?;
    let entry = zip.by_name(&member).map_err(|e| format!("reading {member}: {e}"))?;
    if entry.size() > MAX_METADATA {
        return Err(format!("{member} is larger than {MAX_METADATA} bytes"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
    entry.take(MAX_METADATA + 1).read_to_end(&mut bytes).map_err(|e| format!("reading {member}: {e}"))?;
    if bytes.len() as u64 > MAX_METADATA {
        return Err(format!("{member} is larger than {MAX_METADATA} bytes"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| format!("{member} is not UTF-8: {e}"))?;
    let name = header(text, "Name").ok_or_else(|| format!("{member} has no Name"))?;
    let theirs = header(text, "Version").ok_or_else(|| format!("{member} has no Version"))?;
    if normalise(name) != project {
        return Err(format!("the wheel's METADATA names project {name:?}, the upload {project:?}"));
    }
    if !same_version(theirs, version) {
        return Err(format!("the wheel's METADATA says version {theirs:?}, the upload {version:?}"));
    }
    Ok(bytes)
}

/// The top-level `{dist}-{version}.dist-info/METADATA` member whose dist normalises to
/// `project`.
fn dist_info_metadata<'a>(names: impl Iterator<Item = &'a str>, project: &str) -> Option<String> {
    names
        .filter_map(|n| Some((n, n.strip_suffix(".dist-info/METADATA")?)))
        .filter(|(_, dir)| !dir.contains('/'))
        .find(|(_, dir)| dir.rsplit_once('-').is_some_and(|(dist, _)| normalise(dist) == project))
        .map(|(n, _)| n.to_string())
}

/// The first value of header `key` in core metadata (RFC 822 style headers, ended by the first
/// blank line).
fn header<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn wheel(members: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        for (name, body) in members {
            let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            zip.start_file(*name, opts).unwrap();
            zip.write_all(body).unwrap();
        }
        zip.finish().unwrap();
        file
    }

    const META: &[u8] = b"Metadata-Version: 2.1\nName: Alpha_Lib\nVersion: 1.0.0\n\nName: not-a-header\n";

    #[test]
    fn reads_and_checks_the_metadata() {
        let w = wheel(&[("alpha_lib/__init__.py", b"x"), ("alpha_lib-1.0.0.dist-info/METADATA", META)]);
        assert_eq!(core_metadata(w.path(), "alpha-lib", "1.0.0").unwrap(), META);
        let cases = [
            ("beta-app", "1.0.0", "no beta-app-1.0.0.dist-info/METADATA"),
            ("alpha-lib", "2.0", "says version \"1.0.0\""),
        ];
        for (project, version, want) in cases {
            let e = core_metadata(w.path(), project, version).unwrap_err();
            assert!(e.contains(want), "{project} {version}: {e}");
        }
        // A METADATA naming another project than its directory.
        let w = wheel(&[("alpha_lib-1.0.0.dist-info/METADATA", b"Name: evil\nVersion: 1.0.0\n")]);
        assert!(core_metadata(w.path(), "alpha-lib", "1.0.0").unwrap_err().contains("names project \"evil\""));
        // Only a top-level dist-info counts.
        let w = wheel(&[("x/alpha_lib-1.0.0.dist-info/METADATA", META)]);
        assert!(core_metadata(w.path(), "alpha-lib", "1.0.0").unwrap_err().contains("no alpha-lib"));
        // Not a zip at all.
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"not a zip").unwrap();
        assert!(core_metadata(f.path(), "alpha-lib", "1.0.0").unwrap_err().contains("not a zip"));
    }

    #[test]
    fn headers_end_at_the_first_blank_line() {
        assert_eq!(header("Name: a\nversion:  1 \n\nName: b", "Version"), Some("1"));
        assert_eq!(header("Summary: x\n\nName: b", "Name"), None);
    }
}

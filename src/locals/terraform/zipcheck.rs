//! The checks a provider zip passes before a terraform local publishes it: it is a zip, every
//! entry stays inside the directory it unpacks to (terraform unpacks it into its plugin cache),
//! and it holds the provider's executable, `terraform-provider-{type}[...]`, at its top level,
//! where terraform looks for it. Only the central directory is read: nothing is unpacked.
//! Blocking: run it off the arbiter.

use std::io::{Read, Seek};
use std::path::Path;

/// Most entries a provider zip may have (a provider is one executable, maybe a few docs).
pub const MAX_ENTRIES: usize = 10_000;

/// Checks the zip `r` of provider type `provider`; the answer names what is wrong.
pub fn check<R: Read + Seek>(r: R, provider: &str) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(r).map_err(|e| format!("not a zip archive: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("the zip has {} entries (at most {MAX_ENTRIES})", zip.len()));
    }
    let executable = format!("terraform-provider-{provider}");
    let mut found = false;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| format!("zip entry {i}: {e}"))?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let escapes = name.starts_with('/') || name.split('/').any(|c| c == "..");
        if escapes || entry.enclosed_name().is_none() || name.contains('\\') || name.contains('\0') {
            return Err(format!("zip entry {name:?} leaves the directory it unpacks to"));
        }
        if !entry.is_dir() && !name.contains('/') && name.starts_with(&executable) {
            found = true;
        }
    }
    if found {
        Ok(())
    } else {
        Err(format!("the zip has no {executable}* executable at its top level"))
    }
}

/// [`check`] of the file at `path`.
pub fn check_file(path: &Path, provider: &str) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("staged zip: {e}"))?;
    check(std::io::BufReader::new(file), provider)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    /// A zip of `files` (name, body), names written as given.
    pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        for (name, body) in files {
            w.start_file(*name, opts).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_provider_zip_passes_others_are_named() {
        let ok = zip_of(&[("terraform-provider-aws_v5.0.0", b"#!/bin/sh\n"), ("LICENSE", b"MIT")]);
        assert_eq!(check(Cursor::new(ok), "aws"), Ok(()));
        let bare = zip_of(&[("terraform-provider-aws", b"#!/bin/sh\n")]);
        assert_eq!(check(Cursor::new(bare), "aws"), Ok(()));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"PK\x03\x04 not really".to_vec(), "not a zip archive"),
            (b"#!/bin/sh\n".to_vec(), "not a zip archive"),
            (Vec::new(), "not a zip archive"),
            (zip_of(&[("README", b"x")]), "no terraform-provider-aws* executable"),
            (zip_of(&[("terraform-provider-gcp_v1.0.0", b"x")]), "no terraform-provider-aws* executable"),
            (zip_of(&[("bin/terraform-provider-aws", b"x")]), "no terraform-provider-aws* executable"),
            (zip_of(&[("terraform-provider-aws", b"x"), ("../../etc/cron.d/x", b"x")]), "leaves the directory"),
            (zip_of(&[("terraform-provider-aws", b"x"), ("/etc/passwd", b"x")]), "leaves the directory"),
            (zip_of(&[("terraform-provider-aws", b"x"), ("a\\..\\..\\x", b"x")]), "leaves the directory"),
        ];
        for (bytes, want) in cases {
            let err = check(Cursor::new(bytes), "aws").unwrap_err();
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}

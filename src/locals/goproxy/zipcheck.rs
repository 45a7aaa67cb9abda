//! The checks a module zip passes before a goproxy local publishes it: the rules of Go's own
//! `golang.org/x/mod/zip.CheckZip`, so that what the local serves is what `go mod download`
//! accepts, and a hostile zip (zip slip, a decompression bomb) is refused before it is stored.
//!
//! Every entry must be a file below `{module}@{version}/` whose path Go accepts (no empty, `.`
//! or `..` element, no backslash, no absolute path, only the characters Go allows in file
//! names), no two entries may have the same path up to case, the files' total size must stay
//! within 500 MiB and the module's `go.mod` and `LICENSE` within 16 MiB each (Go's limits),
//! and the count of entries within [`Limits::files`] (ours: memory for the duplicate check).
//! Sizes are the central directory's declared ones; the `go.mod` that is read is read with a
//! bound too, so a lying header changes nothing. Reading is blocking: run it off the arbiter.

use std::collections::HashSet;
use std::io::{Read, Seek};

/// The limits a module zip is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The zip file itself, and the sum of its files' sizes.
    pub zip: u64,
    /// `go.mod` (and `LICENSE`).
    pub go_mod: u64,
    /// Entries.
    pub files: usize,
}

/// Go's limits (`MaxZipFile`, `MaxGoMod`, `MaxLICENSE`) and ours on the entry count.
pub const GO_LIMITS: Limits = Limits { zip: 500 << 20, go_mod: 16 << 20, files: 100_000 };

/// Why a module zip was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    #[error("module zip: {0}")]
    Invalid(String),
    #[error("module zip: {what} larger than {limit} bytes")]
    TooLarge { what: String, limit: u64 },
}

/// What a checked zip holds that the publish needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleZip {
    /// The module's `go.mod`, if the zip has one.
    pub go_mod: Option<Vec<u8>>,
    pub files: usize,
}

/// Checks the zip `r` of `module` `version` (both decoded).
pub fn check<R: Read + Seek>(r: R, module: &str, version: &str, limits: &Limits) -> Result<ModuleZip, ZipError> {
    let mut zip = zip::ZipArchive::new(r).map_err(|e| ZipError::Invalid(format!("not a zip file: {e}")))?;
    if zip.len() > limits.files {
        return Err(ZipError::TooLarge { what: format!("{} entries:", zip.len()), limit: limits.files as u64 });
    }
    let prefix = format!("{module}@{version}/");
    let mut seen = HashSet::with_capacity(zip.len());
    let (mut total, mut go_mod_index) = (0u64, None);
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| ZipError::Invalid(format!("entry {i}: {e}")))?;
        let name = std::str::from_utf8(entry.name_raw())
            .map_err(|_| ZipError::Invalid(format!("entry {i}: the file name is not UTF-8")))?
            .to_string();
        let Some(rel) = name.strip_prefix(&prefix) else {
            return Err(ZipError::Invalid(format!("{name:?} is not below {prefix:?}")));
        };
        if entry.is_dir() || name.ends_with('/') {
            continue;
        }
        check_file_path(rel).map_err(|why| ZipError::Invalid(format!("{name:?}: {why}")))?;
        if !seen.insert(rel.to_lowercase()) {
            return Err(ZipError::Invalid(format!("{name:?} is in the zip twice (paths are compared ignoring case)")));
        }
        let size = entry.size();
        total = total.saturating_add(size);
        if total > limits.zip {
            return Err(ZipError::TooLarge { what: "the files of the zip, together,".into(), limit: limits.zip });
        }
        if (rel == "go.mod" || rel == "LICENSE") && size > limits.go_mod {
            return Err(ZipError::TooLarge { what: rel.to_string(), limit: limits.go_mod });
        }
        if rel == "go.mod" {
            go_mod_index = Some(i);
        }
    }
    let go_mod = match go_mod_index {
        None => None,
        Some(i) => {
            let entry = zip.by_index(i).map_err(|e| ZipError::Invalid(format!("go.mod: {e}")))?;
            let mut out = Vec::new();
            entry
                .take(limits.go_mod + 1)
                .read_to_end(&mut out)
                .map_err(|e| ZipError::Invalid(format!("reading go.mod: {e}")))?;
            if out.len() as u64 > limits.go_mod {
                return Err(ZipError::TooLarge { what: "go.mod".into(), limit: limits.go_mod });
            }
            Some(out)
        }
    };
    Ok(ModuleZip { go_mod, files: seen.len() })
}

/// A file path inside a module as Go accepts it (`module.CheckFilePath`): relative, elements
/// neither empty nor `.`/`..`, no trailing dot or space, only letters, digits and
/// ``!#$%&()+,-.=@[]^_{}~`` and space.
pub fn check_file_path(rel: &str) -> Result<(), String> {
    if rel.is_empty() {
        return Err("empty path".into());
    }
    if rel.starts_with('/') {
        return Err("absolute path".into());
    }
    for element in rel.split('/') {
        if element.is_empty() {
            return Err("empty path element".into());
        }
        if element == "." || element == ".." {
            return Err(format!("path element {element:?}"));
        }
        if element.ends_with('.') || element.ends_with(' ') {
            return Err(format!("path element {element:?} ends with a dot or a space"));
        }
        for c in element.chars() {
            let ok = c.is_ascii_alphanumeric()
                || "!#$%&()+,-.=@[]^_{}~ ".contains(c)
                || (!c.is_ascii() && c.is_alphabetic());
            if !ok {
                return Err(format!("character {c:?} is not allowed in a module file path"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            if name.ends_with('/') {
                w.add_directory(name.trim_end_matches('/'), zip::write::SimpleFileOptions::default()).unwrap();
                continue;
            }
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    const SMALL: Limits = Limits { zip: 1000, go_mod: 100, files: 5 };

    fn run(entries: &[(&str, &[u8])]) -> Result<ModuleZip, ZipError> {
        check(Cursor::new(zip_of(entries)), "example.com/M", "v1.0.0", &SMALL)
    }

    #[test]
    fn accepts_a_module_and_reads_its_go_mod() {
        let got = run(&[
            ("example.com/M@v1.0.0/go.mod", b"module example.com/M\n"),
            ("example.com/M@v1.0.0/a/b.go", b"package b"),
            ("example.com/M@v1.0.0/dir/", b""),
            ("example.com/M@v1.0.0/dé j[1].txt", b"x"),
        ]);
        assert_eq!(got, Ok(ModuleZip { go_mod: Some(b"module example.com/M\n".to_vec()), files: 3 }));
        assert_eq!(run(&[("example.com/M@v1.0.0/x.go", b"package x")]).unwrap().go_mod, None);
    }

    #[test]
    fn refuses_what_go_refuses() {
        let big = vec![b'a'; 600];
        type Entries<'a> = Vec<(&'a str, &'a [u8])>;
        let cases: Vec<(Entries, &str)> = vec![
            (vec![("../../etc/passwd", b"x")], "is not below"),
            (vec![("example.com/M@v1.0.0/../../x", b"x")], "path element \"..\""),
            (vec![("example.com/M@v1.0.0/a/./x", b"x")], "path element \".\""),
            (vec![("example.com/M@v1.0.0//x", b"x")], "absolute path"),
            (vec![("example.com/M@v1.0.0/a//x", b"x")], "empty path element"),
            (vec![("example.com/M@v1.0.0/a\\b", b"x")], "not allowed"),
            (vec![("example.com/M@v1.0.0/a:b", b"x")], "not allowed"),
            (vec![("example.com/M@v1.0.0/a.", b"x")], "ends with a dot"),
            (vec![("example.com/M@v2.0.0/x.go", b"x")], "is not below"),
            (vec![("example.com/m@v1.0.0/x.go", b"x")], "is not below"),
            (vec![("example.com/M@v1.0.0/A.go", b"x"), ("example.com/M@v1.0.0/a.go", b"y")], "twice"),
            (vec![("example.com/M@v1.0.0/go.mod", &big[..101])], "go.mod larger than 100"),
            (vec![("example.com/M@v1.0.0/LICENSE", &big[..101])], "LICENSE larger than 100"),
            (vec![("example.com/M@v1.0.0/a", &big), ("example.com/M@v1.0.0/b", &big)], "together"),
        ];
        let names: Vec<String> = (0..6).map(|i| format!("example.com/M@v1.0.0/{i}")).collect();
        let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let mut cases = cases;
        cases.push((many, "6 entries"));
        for (entries, fragment) in cases {
            match run(&entries) {
                Err(e) => assert!(e.to_string().contains(fragment), "{entries:?}: {e}"),
                Ok(z) => panic!("{entries:?}: accepted {z:?}"),
            }
        }
        let not_zip = check(Cursor::new(b"PK not really".to_vec()), "m", "v1.0.0", &SMALL);
        assert!(matches!(not_zip, Err(ZipError::Invalid(m)) if m.contains("not a zip")));
    }
}

//! A module release archive's `metadata.json`, read from the staged `.tar.gz` as it streams
//! through gzip and tar: nothing is unpacked to disk, `metadata.json` is read with a size limit
//! and at most [`MAX_DECOMPRESSED`] bytes are unpacked in all. Every member must lie below one
//! top directory `{author}-{name}-{version}` (what `puppet module build` writes) that the
//! metadata names; a member path that is absolute or has a `..` element makes the whole archive
//! invalid. Blocking: run it off the arbiter.

use std::io::Read;
use std::path::{Component, Path};

use serde_json::Value;

use crate::formats::puppet::{check_module, check_version};

/// Most bytes decompressed while reading an archive.
pub const MAX_DECOMPRESSED: u64 = 512 << 20;
/// Largest `metadata.json` accepted.
pub const MAX_METADATA: u64 = 1 << 20;

/// What the archive's `metadata.json` says.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleMeta {
    /// `{author}-{name}` (a `/` in the metadata's name is read as `-`).
    pub module: String,
    pub version: String,
    pub metadata: Value,
}

impl ModuleMeta {
    pub fn slug(&self) -> String {
        format!("{}-{}", self.module, self.version)
    }
}

/// Reads and checks the `metadata.json` of the gzipped tar `r`.
pub fn read<R: Read>(r: R) -> Result<ModuleMeta, String> {
    let gz = flate2::read::GzDecoder::new(r).take(MAX_DECOMPRESSED);
    let mut archive = tar::Archive::new(gz);
    let entries = archive.entries().map_err(|e| format!("not a gzipped tar: {e}"))?;
    let (mut meta, mut dirs) = (None::<(String, ModuleMeta)>, Vec::<String>::new());
    for entry in entries {
        let entry = entry.map_err(|e| format!("not a gzipped tar (or over {MAX_DECOMPRESSED} bytes unpacked): {e}"))?;
        let path = entry.path().map_err(|e| format!("member path: {e}"))?.into_owned();
        if !path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(format!("member {} leaves the module directory", path.display()));
        }
        let mut parts = path.components().filter(|c| matches!(c, Component::Normal(_)));
        let dir = parts.next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        if !dirs.contains(&dir) {
            dirs.push(dir.clone());
        }
        let (Some(file), None) = (parts.next(), parts.next()) else { continue };
        if file.as_os_str() != "metadata.json" || meta.is_some() {
            continue;
        }
        if entry.size() > MAX_METADATA {
            return Err(format!("metadata.json larger than {MAX_METADATA} bytes"));
        }
        let mut text = Vec::new();
        entry.take(MAX_METADATA).read_to_end(&mut text).map_err(|e| format!("metadata.json: {e}"))?;
        meta = Some((dir, parse(&text)?));
    }
    let (dir, meta) = meta.ok_or("no {module}/metadata.json in the archive")?;
    if dir != meta.slug() {
        return Err(format!("metadata.json of {} is in {dir:?}/, not {:?}/", meta.slug(), meta.slug()));
    }
    if let Some(other) = dirs.iter().find(|d| **d != dir) {
        return Err(format!("member {other:?} is outside the module directory {dir:?}/"));
    }
    Ok(meta)
}

/// [`read`] of the file at `path`.
pub fn read_file(path: &Path) -> Result<ModuleMeta, String> {
    read(std::fs::File::open(path).map_err(|e| format!("reading the staged archive: {e}"))?)
}

fn parse(text: &[u8]) -> Result<ModuleMeta, String> {
    let metadata: Value = serde_json::from_slice(text).map_err(|e| format!("metadata.json: {e}"))?;
    let field = |k: &str| metadata.get(k).and_then(Value::as_str).ok_or(format!("metadata.json: no {k:?}"));
    let module = field("name")?.replace('/', "-");
    let version = field("version")?.to_string();
    check_module(&module).map_err(|e| format!("metadata.json: {e}"))?;
    check_version(&version).map_err(|e| format!("metadata.json: {e}"))?;
    if let Some(deps) = metadata.get("dependencies") {
        let ok = deps.as_array().is_some_and(|d| d.iter().all(|d| d.get("name").and_then(Value::as_str).is_some()));
        if !ok {
            return Err("metadata.json: dependencies must be a list of {name, version_requirement}".into());
        }
    }
    Ok(ModuleMeta { module, version, metadata })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A gzipped tar of `files` (raw member paths, so hostile ones can be written).
    pub(crate) fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut raw = Vec::new();
        for (name, body) in files {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            raw.extend_from_slice(h.as_bytes());
            raw.extend_from_slice(body);
            raw.resize(raw.len().div_ceil(512) * 512, 0);
        }
        raw.extend_from_slice(&[0; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    }

    const META: &[u8] = br#"{"name":"acme-app","version":"1.0.0","dependencies":[{"name":"acme/base","version_requirement":">= 1.0.0"}]}"#;

    #[test]
    fn reads_the_metadata_of_a_module() {
        let m = read(&tgz(&[("acme-app-1.0.0/metadata.json", META), ("acme-app-1.0.0/manifests/init.pp", b"x")])[..])
            .unwrap();
        assert_eq!((m.module.as_str(), m.version.as_str()), ("acme-app", "1.0.0"));
    }

    #[test]
    fn refuses_traversal_and_disagreement() {
        let cases: &[&[(&str, &[u8])]] = &[
            &[("acme-app-1.0.0/metadata.json", META), ("acme-app-1.0.0/../../etc/x", b"x")],
            &[("acme-app-1.0.0/metadata.json", META), ("/etc/passwd", b"x")],
            &[("acme-app-1.0.0/metadata.json", META), ("other/x", b"x")],
            &[("acme-app-2.0.0/metadata.json", META)],
            &[("acme-app-1.0.0/metadata.json", br#"{"name":"acme-app","version":"x;y"}"#)],
            &[("acme-app-1.0.0/metadata.json", b"not json")],
            &[("acme-app-1.0.0/README", b"x")],
        ];
        for files in cases {
            assert!(read(&tgz(files)[..]).is_err(), "{:?}", files.iter().map(|f| f.0).collect::<Vec<_>>());
        }
        assert!(read(&b"not a tarball"[..]).is_err());
    }
}

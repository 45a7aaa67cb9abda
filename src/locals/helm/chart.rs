//! A chart archive's `Chart.yaml`, read from the staged `.tgz` as it streams through gzip and
//! tar: nothing is unpacked to disk, `Chart.yaml` is read with a size limit, and no more than
//! [`MAX_DECOMPRESSED`] bytes are unpacked in all (helm's own limit on a chart). A member path
//! that is absolute, has a `..` element or lies outside the chart's directory makes the whole
//! chart invalid: helm refuses such archives too. Blocking: run it off the arbiter.

use std::io::Read;
use std::path::{Component, Path};

use crate::formats::helm::{chart_metadata, ChartMeta, MAX_CHART_YAML};

/// Most bytes decompressed while looking for `Chart.yaml` (helm's own limit on a whole chart).
pub const MAX_DECOMPRESSED: u64 = 100 << 20;

/// Why an archive is no chart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChartError {
    #[error("chart archive: {0}")]
    Invalid(String),
    #[error("chart archive: Chart.yaml larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

/// Reads the `Chart.yaml` of the gzipped tar `r` (`{chart}/Chart.yaml`), checking that every
/// member is below the chart's directory.
pub fn read<R: Read>(r: R) -> Result<ChartMeta, ChartError> {
    let invalid = |m: String| ChartError::Invalid(m);
    let gz = flate2::read::GzDecoder::new(r).take(MAX_DECOMPRESSED);
    let mut archive = tar::Archive::new(gz);
    let entries = archive.entries().map_err(|e| invalid(format!("not a gzipped tar: {e}")))?;
    let (mut meta, mut dirs) = (None::<ChartMeta>, Vec::<String>::new());
    for entry in entries {
        let entry = entry
            .map_err(|e| invalid(format!("not a gzipped tar (or more than {MAX_DECOMPRESSED} bytes unpacked): {e}")))?;
        let path = entry.path().map_err(|e| invalid(format!("member path: {e}")))?.into_owned();
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(invalid(format!("member {} leaves the chart directory", path.display())));
        }
        let mut parts = path.components();
        let dir = parts.next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        if !dirs.contains(&dir) {
            dirs.push(dir.clone());
        }
        let (Some(file), None) = (parts.next(), parts.next()) else { continue };
        if file.as_os_str() != "Chart.yaml" || meta.is_some() {
            continue;
        }
        if entry.size() > MAX_CHART_YAML {
            return Err(ChartError::TooLarge { limit: MAX_CHART_YAML });
        }
        let mut text = String::new();
        entry.take(MAX_CHART_YAML + 1).read_to_string(&mut text).map_err(|e| invalid(format!("Chart.yaml: {e}")))?;
        if text.len() as u64 > MAX_CHART_YAML {
            return Err(ChartError::TooLarge { limit: MAX_CHART_YAML });
        }
        let m = chart_metadata(&text).map_err(invalid)?;
        if dir != m.name {
            return Err(invalid(format!("Chart.yaml of {:?} is in {dir:?}/, not {:?}/", m.name, m.name)));
        }
        meta = Some(m);
    }
    let meta = meta.ok_or_else(|| invalid("no {chart}/Chart.yaml in the archive".into()))?;
    if let Some(other) = dirs.iter().find(|d| **d != meta.name) {
        return Err(invalid(format!("member {other:?} is outside the chart directory {:?}/", meta.name)));
    }
    Ok(meta)
}

/// [`read`] of the file at `path`.
pub fn read_file(path: &Path) -> Result<ChartMeta, ChartError> {
    let file = std::fs::File::open(path).map_err(|e| ChartError::Invalid(format!("staged chart: {e}")))?;
    read(std::io::BufReader::new(file))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A gzipped tar of `files` (path, body).
    pub fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (path, body) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            // Written raw, so hostile names reach the reader as a hostile client would send them.
            let name = path.as_bytes();
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_cksum();
            tar.append(&header, *body).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    const CHART: &[u8] = b"apiVersion: v2\nname: web\nversion: 1.2.3\n";

    #[test]
    fn reads_the_chart_yaml() {
        let meta = read(&tgz(&[("web/Chart.yaml", CHART), ("web/values.yaml", b"a: 1\n")])[..]).unwrap();
        assert_eq!((meta.name.as_str(), meta.version.as_str()), ("web", "1.2.3"));
        let later = read(
            &tgz(&[("web/values.yaml", b"a: 1\n"), ("web/charts/db/Chart.yaml", CHART), ("web/Chart.yaml", CHART)])[..],
        );
        assert_eq!(later.unwrap().name, "web");
    }

    #[test]
    fn refuses_what_is_no_chart() {
        let big = vec![b'#'; MAX_CHART_YAML as usize + 1];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not gzip".to_vec(), "not a gzipped tar"),
            (tgz(&[("web/values.yaml", b"a: 1\n")]), "no {chart}/Chart.yaml"),
            (tgz(&[("../web/Chart.yaml", CHART)]), "leaves the chart directory"),
            (tgz(&[("/web/Chart.yaml", CHART)]), "leaves the chart directory"),
            (tgz(&[("other/Chart.yaml", CHART)]), "is in \"other\"/"),
            (tgz(&[("web/Chart.yaml", &big)]), "larger than"),
            (tgz(&[("web/Chart.yaml", b"apiVersion: v2\nname: web\n")]), "version is missing"),
            (tgz(&[("web/Chart.yaml", CHART), ("../../tmp/x", b"x")]), "leaves the chart directory"),
            (tgz(&[("web/Chart.yaml", CHART), ("other/x", b"x")]), "outside the chart directory"),
        ];
        for (bytes, fragment) in cases {
            match read(&bytes[..]) {
                Err(e) => assert!(e.to_string().contains(fragment), "{fragment}: {e}"),
                Ok(m) => panic!("{fragment}: accepted {m:?}"),
            }
        }
    }
}

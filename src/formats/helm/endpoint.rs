//! The paths of a helm remote, parsed once from a decoded request path.
//!
//! A chart repository is an `index.yaml` and whatever files it names. This server adds one
//! kind of path of its own: `{dir}charts/{chart}/{version}/{file}`, the address every chart URL
//! of the index at `{dir}index.yaml` is rewritten to. The index, not the path, says where such
//! a chart really lives (another directory, another host) and what it must hash to, so a
//! client cannot make the proxy fetch from a place of its choosing. Chart names and versions
//! are checked here (characters and length) so that nothing a client invents becomes a cache
//! key or reaches the index lookup.

/// Longest chart name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest chart version accepted, in bytes.
pub const MAX_VERSION_BYTES: usize = 128;
/// Longest chart file name accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 255;

/// The segment under which listed charts are served, below the index's directory.
pub const CHARTS: &str = "charts";
/// The index's file name.
pub const INDEX: &str = "index.yaml";
/// What a provenance file's name adds to its chart's.
pub const PROV: &str = ".prov";

/// One request to a helm remote. Every field borrows the decoded path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `{dir}index.yaml`; `dir` is empty or ends with `/`.
    Index { dir: &'a str },
    /// `{dir}charts/{chart}/{version}/{file}`: a chart (or with `prov`, its `.prov` file)
    /// listed in `{dir}index.yaml`.
    Listed { dir: &'a str, chart: &'a str, version: &'a str, file: &'a str, prov: bool },
    /// Anything else (e.g. `mychart-1.0.0.tgz` asked for directly): the upstream's bytes.
    File,
}

impl<'a> Endpoint<'a> {
    /// Parses a decoded repository path (no leading slash). `Err` says what is malformed.
    pub fn parse(path: &'a str) -> Result<Endpoint<'a>, String> {
        let (dir, name) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        if name == INDEX {
            return Ok(Endpoint::Index { dir });
        }
        let (chart_name, prov) = match name.strip_suffix(PROV) {
            Some(chart) => (chart, true),
            None => (name, false),
        };
        if !chart_name.ends_with(".tgz") {
            return Ok(Endpoint::File);
        }
        // `{dir}charts/{chart}/{version}/` before the file name.
        let mut parts = dir.trim_end_matches('/').rsplitn(4, '/');
        let (Some(version), Some(chart), Some(CHARTS)) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(Endpoint::File);
        };
        let index_dir = &dir[..dir.len() - (version.len() + chart.len() + CHARTS.len() + 3)];
        check_name(chart)?;
        check_version(version)?;
        check_file(chart_name)?;
        Ok(Endpoint::Listed { dir: index_dir, chart, version, file: chart_name, prov })
    }

    /// Whether the answer never changes once published (charts and provenance files).
    pub fn is_immutable(&self, path: &str) -> bool {
        match self {
            Endpoint::Index { .. } => false,
            Endpoint::Listed { .. } => true,
            Endpoint::File => path.ends_with(".tgz") || path.ends_with(PROV),
        }
    }
}

fn plain(s: &str, extra: &[u8]) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// A chart name this server routes: helm's own rule (`[A-Za-z0-9._-]+`), not a dot segment,
/// at most [`MAX_NAME_BYTES`].
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(format!("chart name must be 1 to {MAX_NAME_BYTES} bytes long"));
    }
    if !plain(name, b"._-") || name.starts_with('.') {
        return Err(format!(
            "chart name {name:?}: only letters, digits, '.', '_' and '-' are allowed, not starting with '.'"
        ));
    }
    Ok(())
}

/// A chart version this server routes: semantic-version characters (`[A-Za-z0-9.+_~-]`), not
/// starting with a dot, at most [`MAX_VERSION_BYTES`].
pub fn check_version(version: &str) -> Result<(), String> {
    if version.is_empty() || version.len() > MAX_VERSION_BYTES {
        return Err(format!("chart version must be 1 to {MAX_VERSION_BYTES} bytes long"));
    }
    if !plain(version, b".+_~-") || version.starts_with('.') {
        return Err(format!("chart version {version:?}: only letters, digits, '.', '+', '_', '~' and '-' are allowed"));
    }
    Ok(())
}

/// A chart file name: like a version, ending in `.tgz`, at most [`MAX_FILE_BYTES`].
pub fn check_file(file: &str) -> Result<(), String> {
    if file.len() > MAX_FILE_BYTES {
        return Err(format!("chart file name longer than {MAX_FILE_BYTES} bytes"));
    }
    if !plain(file, b".+_~-") || file.starts_with('.') || file.len() <= ".tgz".len() || !file.ends_with(".tgz") {
        return Err(format!("chart file name {file:?}: expected NAME.tgz of letters, digits, '.', '+', '_', '~', '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed<'a>(dir: &'a str, chart: &'a str, version: &'a str, file: &'a str, prov: bool) -> Endpoint<'a> {
        Endpoint::Listed { dir, chart, version, file, prov }
    }

    #[test]
    fn parses_every_kind_of_path() {
        let cases: &[(&str, Endpoint)] = &[
            ("index.yaml", Endpoint::Index { dir: "" }),
            ("stable/index.yaml", Endpoint::Index { dir: "stable/" }),
            ("a/b/index.yaml", Endpoint::Index { dir: "a/b/" }),
            ("charts/nginx/1.2.3/nginx-1.2.3.tgz", listed("", "nginx", "1.2.3", "nginx-1.2.3.tgz", false)),
            ("charts/nginx/1.2.3/nginx-1.2.3.tgz.prov", listed("", "nginx", "1.2.3", "nginx-1.2.3.tgz", true)),
            (
                "stable/charts/my_chart.x/1.0.0-rc.1+build.5/my_chart.x-1.0.0-rc.1+build.5.tgz",
                listed("stable/", "my_chart.x", "1.0.0-rc.1+build.5", "my_chart.x-1.0.0-rc.1+build.5.tgz", false),
            ),
            ("charts/a/v1/download.tgz", listed("", "a", "v1", "download.tgz", false)),
            ("nginx-1.2.3.tgz", Endpoint::File),
            ("charts/nginx-1.2.3.tgz", Endpoint::File),
            ("x/nginx/1.2.3/nginx-1.2.3.tgz", Endpoint::File),
            ("charts/nginx/1.2.3/README.md", Endpoint::File),
            ("charts/nginx/1.2.3/", Endpoint::File),
            ("index.yaml.bak", Endpoint::File),
            ("index.yaml/", Endpoint::File),
            ("README.md", Endpoint::File),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::parse(path).as_ref(), Ok(want), "{path}");
        }
    }

    #[test]
    fn refuses_hostile_names_and_versions() {
        let long_name = format!("charts/{}/1.0.0/x-1.0.0.tgz", "a".repeat(MAX_NAME_BYTES + 1));
        let long_version = format!("charts/a/{}/a.tgz", "1".repeat(MAX_VERSION_BYTES + 1));
        let long_file = format!("charts/a/1/{}.tgz", "a".repeat(MAX_FILE_BYTES));
        let cases: &[(&str, &str)] = &[
            (&long_name, "chart name must be"),
            (&long_version, "chart version must be"),
            (&long_file, "longer than"),
            ("charts/a b/1.0.0/a.tgz", "only letters"),
            ("charts/.hidden/1.0.0/a.tgz", "only letters"),
            ("charts/a%2fb/1.0.0/a.tgz", "only letters"),
            ("charts/a/1.0.0;rm/a.tgz", "only letters"),
            ("charts/a/.1/a.tgz", "only letters"),
            ("charts/a/1.0.0/a b.tgz", "expected NAME.tgz"),
            ("charts/a/1.0.0/.tgz", "expected NAME.tgz"),
            ("charts/a/1.0.0/é.tgz", "expected NAME.tgz"),
            ("charts/\u{0}/1.0.0/a.tgz", "only letters"),
        ];
        for (path, fragment) in cases {
            match Endpoint::parse(path) {
                Err(m) => assert!(m.contains(fragment), "{path}: {m}"),
                Ok(e) => panic!("{path}: accepted as {e:?}"),
            }
        }
    }

    #[test]
    fn name_and_version_rules() {
        for ok in ["nginx", "my-chart", "My_Chart.2", "a"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a\\b", "a:b", "ä"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for ok in ["1.0.0", "v2.3.4-rc.1+build.7", "0.0.1~beta_2"] {
            assert_eq!(check_version(ok), Ok(()), "{ok}");
        }
        for bad in ["", "..", "1/2", "1 2", "1%2f2", "1?x"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}

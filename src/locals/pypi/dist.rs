//! Distribution file names, as an upload names them: a wheel
//! (`{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, PEP 427) or an sdist
//! (`{name}-{version}.tar.gz`, or `.zip`). The upload form says which project and version the
//! file is; its name must say the same, or the file would be listed under one project and
//! install as another.

use crate::formats::pypi::{is_valid_file, is_valid_name, normalise};

/// What kind of distribution a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistKind {
    Wheel,
    Sdist,
}

impl DistKind {
    /// The upload form's `filetype` for this kind.
    pub fn filetype(self) -> &'static str {
        match self {
            DistKind::Wheel => "bdist_wheel",
            DistKind::Sdist => "sdist",
        }
    }
}

/// A parsed distribution file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistName {
    pub kind: DistKind,
    /// The project, normalised (PEP 503).
    pub project: String,
    /// The version as the name spells it.
    pub version: String,
}

/// Parses a file name of an upload; the error says what is wrong with it.
pub fn parse(file: &str) -> Result<DistName, String> {
    if !is_valid_file(file) {
        return Err(format!(
            "{file:?} is not a distribution file name (letters, digits and '._-+!~', not starting with '.')"
        ));
    }
    let (kind, stem) = if let Some(stem) = file.strip_suffix(".whl") {
        (DistKind::Wheel, stem)
    } else if let Some(stem) = file.strip_suffix(".tar.gz").or_else(|| file.strip_suffix(".zip")) {
        (DistKind::Sdist, stem)
    } else {
        return Err(format!("{file:?} is neither a wheel (.whl) nor an sdist (.tar.gz, .zip)"));
    };
    let (name, version) = match kind {
        DistKind::Wheel => {
            let parts: Vec<&str> = stem.split('-').collect();
            if parts.len() != 5 && parts.len() != 6 {
                return Err(format!(
                    "{file:?} is no wheel name ({{dist}}-{{version}}-{{python}}-{{abi}}-{{platform}}.whl)"
                ));
            }
            (parts[0], parts[1])
        }
        DistKind::Sdist => {
            stem.rsplit_once('-').ok_or_else(|| format!("{file:?} is no sdist name ({{name}}-{{version}}.tar.gz)"))?
        }
    };
    if !is_valid_name(name) || version.is_empty() || !version.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(format!("{file:?}: no project name and version in it"));
    }
    Ok(DistName { kind, project: normalise(name), version: version.to_string() })
}

/// Whether two spellings name the same version: case, a leading `v` and the `_` a wheel name
/// writes for `-` do not count.
pub fn same_version(a: &str, b: &str) -> bool {
    canonical(a) == canonical(b)
}

fn canonical(v: &str) -> String {
    let v = v.trim().to_ascii_lowercase().replace('_', "-");
    v.strip_prefix('v').map(str::to_string).unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_parse_or_say_why_not() {
        let ok = |kind, project: &str, version: &str| {
            Ok(DistName { kind, project: project.into(), version: version.into() })
        };
        let cases: Vec<(&str, Result<DistName, &str>)> = vec![
            ("beta_app-1.0.0-py3-none-any.whl", ok(DistKind::Wheel, "beta-app", "1.0.0")),
            ("Alpha_Lib-1.0.0-py3-none-any.whl", ok(DistKind::Wheel, "alpha-lib", "1.0.0")),
            ("foo-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl", ok(DistKind::Wheel, "foo", "1.0")),
            ("foo-1.0+local.1-py3-none-any.whl", ok(DistKind::Wheel, "foo", "1.0+local.1")),
            ("beta_app-1.0.0.tar.gz", ok(DistKind::Sdist, "beta-app", "1.0.0")),
            ("beta-app-1.0.0.tar.gz", ok(DistKind::Sdist, "beta-app", "1.0.0")),
            ("zope.interface-6.0.zip", ok(DistKind::Sdist, "zope-interface", "6.0")),
            ("foo-1!2.0.tar.gz", ok(DistKind::Sdist, "foo", "1!2.0")),
            ("../foo-1.0.tar.gz", Err("not a distribution file name")),
            ("..%2ffoo-1.0.tar.gz", Err("not a distribution file name")),
            ("a/b-1.0.tar.gz", Err("not a distribution file name")),
            ("a\\b-1.0.tar.gz", Err("not a distribution file name")),
            ("foo-1.0.tar.gz\0", Err("not a distribution file name")),
            (".foo-1.0.tar.gz", Err("not a distribution file name")),
            ("", Err("not a distribution file name")),
            ("foo-1.0.exe", Err("neither a wheel")),
            ("foo-1.0.egg", Err("neither a wheel")),
            ("foo-1.0-py3.whl", Err("no wheel name")),
            ("foo.tar.gz", Err("no sdist name")),
            ("-1.0.tar.gz", Err("no project name")),
            ("foo-.tar.gz", Err("no project name")),
            ("foo--1.0.tar.gz", Err("no project name")),
        ];
        for (file, want) in cases {
            match (parse(file), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{file}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{file}: {e}"),
                (got, want) => panic!("{file}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn versions_compare_as_spelled_in_names() {
        assert!(same_version("1.0.0", "1.0.0"));
        assert!(same_version("1.0.0RC1", "1.0.0rc1"));
        assert!(same_version("v1.0", "1.0"));
        assert!(same_version("1.0_post1", "1.0-post1"));
        assert!(!same_version("1.0", "1.0.1"));
        assert!(!same_version("2.0", "1.0"));
    }
}

//! Python package indexes (PEP 503 / PEP 691 "simple" API).
//!
//! `simple/` and `simple/{project}/` list a project's files and change with every release.
//! Distribution files (wheels, sdists, eggs) are never replaced once uploaded (an index refuses
//! a second upload under the same file name), and neither are their PEP 658 metadata files
//! (`{file}.metadata`). A file name is only trusted as a distribution deeper than the project
//! page itself, so a project whose name ends in `.zip` still has a mutable index page.

use super::{file_name, segments, Class, Format, PackageType};

pub struct Pypi;

const DISTRIBUTION_SUFFIXES: [&str; 5] = [".whl", ".tar.gz", ".zip", ".tar.bz2", ".egg"];

/// Whether `name` is a distribution file or the PEP 658 metadata of one.
fn is_distribution(name: &str) -> bool {
    let name = name.strip_suffix(".metadata").unwrap_or(name);
    DISTRIBUTION_SUFFIXES.iter().any(|s| name.len() > s.len() && name.ends_with(s))
}

impl Format for Pypi {
    fn package_type(&self) -> PackageType {
        PackageType::Pypi
    }

    fn classify(&self, path: &str) -> Class {
        let segs = segments(path);
        // `simple`, `simple/`, `simple/{project}` and `simple/{project}/`: index pages.
        let index_page = segs[0] == "simple" && (segs.len() <= 2 || (segs.len() == 3 && segs[2].is_empty()));
        Class::immutable_if(!index_page && is_distribution(file_name(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use Class::*;

    #[test]
    fn index_pages_are_mutable_distributions_are_not() {
        check(
            &Pypi,
            &[
                ("simple/", Mutable),
                ("simple", Mutable),
                ("simple/foo/", Mutable),
                ("simple/foo", Mutable),
                ("simple/backports.zip/", Mutable),
                ("simple/foo.tar.gz", Mutable),
                ("foo-1.0.tar.gz", Immutable),
                ("packages/ab/cd/foo-1.0-py3-none-any.whl", Immutable),
                ("packages/ab/cd/foo-1.0-py3-none-any.whl.metadata", Immutable),
                ("packages/foo-1.0.zip", Immutable),
                ("packages/foo-1.0.tar.bz2", Immutable),
                ("packages/foo-1.0-py2.7.egg", Immutable),
                ("simple/foo/foo-1.0.tar.gz", Immutable),
                ("packages/foo-1.0.tar.gz.asc", Mutable),
                ("packages/.whl", Mutable),
                ("pypi/foo/json", Mutable),
                ("foo.metadata", Mutable),
            ],
        );
    }
}

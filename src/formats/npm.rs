//! npm registries: packuments (package metadata documents) and tarballs.
//!
//! A packument (`{name}`, `@scope/{name}`, `{name}/{version}`) changes with every publish and
//! dist-tag move. Tarballs live at `{name}/-/{file}.tgz` and are immutable (the registry
//! refuses to republish a version). Package names may end in `.tgz` themselves, so only the
//! tarball form with its `-` segment counts.

use super::{segments, Class, Format, PackageType};

pub struct Npm;

impl Format for Npm {
    fn package_type(&self) -> PackageType {
        PackageType::Npm
    }

    fn classify(&self, path: &str) -> Class {
        let segs = segments(path);
        let n = segs.len();
        let tarball = n >= 3 && segs[n - 2] == "-" && segs[n - 1].len() > ".tgz".len() && segs[n - 1].ends_with(".tgz");
        Class::immutable_if(tarball)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use Class::*;

    #[test]
    fn packuments_are_mutable_tarballs_are_not() {
        check(
            &Npm,
            &[
                ("lodash", Mutable),
                ("@types/node", Mutable),
                ("lodash/4.17.21", Mutable),
                ("lodash/-/lodash-4.17.21.tgz", Immutable),
                ("@types/node/-/node-20.1.0.tgz", Immutable),
                // A package literally named like a tarball is still a packument.
                ("foo.tgz", Mutable),
                ("@scope/foo.tgz", Mutable),
                ("-/foo.tgz", Mutable),
                ("foo/-/.tgz", Mutable),
                ("-/v1/search", Mutable),
            ],
        );
    }
}

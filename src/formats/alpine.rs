//! Alpine (apk) repositories: `{branch}/{repo}/{arch}/APKINDEX.tar.gz` and the `.apk` packages.
//!
//! The signed index is replaced whenever a package is added; packages are named by version and
//! release and never change.

use super::files::PathRules;
use super::{file_name, has_suffix, Class, PackageType};

pub struct Alpine;

impl PathRules for Alpine {
    const TYPE: PackageType = PackageType::Alpine;

    fn classify_path(path: &str) -> Class {
        let name = file_name(path);
        Class::immutable_if(has_suffix(name, ".apk"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use Class::*;

    #[test]
    fn index_is_mutable_packages_are_not() {
        check(
            &Alpine,
            &[
                ("v3.19/main/x86_64/APKINDEX.tar.gz", Mutable),
                ("APKINDEX.tar.gz", Mutable),
                ("v3.19/main/x86_64/busybox-1.36.1-r15.apk", Immutable),
                ("edge/testing/aarch64/foo-0.1-r0.apk", Immutable),
                ("v3.19/main/x86_64/.apk", Mutable),
                ("v3.19/main/x86_64/foo.tar.gz", Mutable),
                ("v3.19/releases/x86_64/latest-releases.yaml", Mutable),
            ],
        );
    }
}

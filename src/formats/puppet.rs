//! Puppet Forge (API v3): module and release metadata, and release archives.
//!
//! `v3/modules/{slug}` and `v3/releases[/{slug}]` describe the current state of the Forge
//! (latest release, deprecation, download counts) and change; release archives
//! (`v3/files/{author}-{name}-{version}.tar.gz`) are never replaced.

use super::files::PathRules;
use super::{file_name, has_suffix, segments, Class, PackageType};

pub struct Puppet;

impl PathRules for Puppet {
    const TYPE: PackageType = PackageType::Puppet;

    fn classify_path(path: &str) -> Class {
        let segs = segments(path);
        if segs.len() >= 2 && segs[0] == "v3" && matches!(segs[1], "modules" | "releases") {
            return Class::Mutable;
        }
        let name = file_name(path);
        Class::immutable_if(has_suffix(name, ".tar.gz"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use Class::*;

    #[test]
    fn metadata_is_mutable_archives_are_not() {
        check(
            &Puppet,
            &[
                ("v3/modules/puppetlabs-stdlib", Mutable),
                ("v3/modules", Mutable),
                ("v3/releases", Mutable),
                ("v3/releases/puppetlabs-stdlib-9.4.1", Mutable),
                ("v3/files/puppetlabs-stdlib-9.4.1.tar.gz", Immutable),
                ("files/puppetlabs-stdlib-9.4.1.tar.gz", Immutable),
                ("v3/releasesx", Mutable),
                ("v3/files/.tar.gz", Mutable),
                ("v3/users/puppetlabs", Mutable),
            ],
        );
    }
}

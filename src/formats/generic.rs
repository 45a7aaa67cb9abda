//! Generic remotes: plain files behind a base URL (release archives, installers, tarballs).
//!
//! Nothing in a generic path says whether it can change, so every file is treated as published
//! once and never changed; remotes whose files do change say so with `mutable_patterns`.

use super::files::PathRules;
use super::{Class, PackageType};

pub struct Generic;

impl PathRules for Generic {
    const TYPE: PackageType = PackageType::Generic;

    fn classify_path(_path: &str) -> Class {
        Class::Immutable
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use Class::*;

    #[test]
    fn everything_is_immutable() {
        check(
            &Generic,
            &[
                ("releases/1.0/tool-linux-amd64.tar.gz", Immutable),
                ("latest.txt", Immutable),
                ("index.yaml", Immutable),
                ("dir/", Immutable),
            ],
        );
    }
}

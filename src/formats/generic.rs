//! Generic remotes: plain files behind a base URL (release archives, installers, tarballs).
//!
//! Nothing in a generic path says whether it can change, so every file is treated as published
//! once and never changed; remotes whose files do change say so with `mutable_patterns`.

use super::{Class, Format, PackageType};

pub struct Generic;

impl Format for Generic {
    fn package_type(&self) -> PackageType {
        PackageType::Generic
    }

    fn classify(&self, _path: &str) -> Class {
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

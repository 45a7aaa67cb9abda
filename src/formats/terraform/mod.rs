//! Terraform provider registries (the provider registry protocol).
//!
//! `v1/providers/{namespace}/{type}/versions` lists the published versions and changes with
//! each release. `v1/providers/{namespace}/{type}/{version}/download/{os}/{arch}` describes one
//! published build (its file name, checksum and signature) and never changes.

pub mod protocol;

use super::files::PathRules;
use super::{segments, Class, PackageType};

pub struct Terraform;

impl PathRules for Terraform {
    const TYPE: PackageType = PackageType::Terraform;

    fn classify_path(path: &str) -> Class {
        let segs = segments(path);
        let n = segs.len();
        let download = n >= 4 && segs[n - 3] == "download" && !segs[n - 2].is_empty() && !segs[n - 1].is_empty();
        Class::immutable_if(download)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use Class::*;

    #[test]
    fn versions_are_mutable_downloads_are_not() {
        check(
            &Terraform,
            &[
                ("v1/providers/hashicorp/aws/versions", Mutable),
                ("providers/hashicorp/aws/versions", Mutable),
                ("v1/providers/hashicorp/versions/versions", Mutable),
                ("v1/providers/hashicorp/aws/5.0.0/download/linux/amd64", Immutable),
                ("v1/providers/hashicorp/versions/1.0.0/download/darwin/arm64", Immutable),
                ("v1/providers/hashicorp/aws/5.0.0/download/linux/", Mutable),
                ("v1/providers/hashicorp/aws/5.0.0/download", Mutable),
                ("download/linux/amd64", Mutable),
                (".well-known/terraform.json", Mutable),
            ],
        );
    }
}

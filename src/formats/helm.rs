//! Helm chart repositories: an `index.yaml` listing charts, and the chart archives it names.
//!
//! The index is rewritten by the repository owner whenever a chart is added, in whatever
//! directory it lives; chart archives (`.tgz`) and their provenance files (`.prov`) are
//! versioned and never change.

use super::{file_name, Class, Format, PackageType};

pub struct Helm;

impl Format for Helm {
    fn package_type(&self) -> PackageType {
        PackageType::Helm
    }

    fn classify(&self, path: &str) -> Class {
        let name = file_name(path);
        if name == "index.yaml" {
            Class::Mutable
        } else if name.ends_with(".tgz") || name.ends_with(".prov") {
            Class::Immutable
        } else {
            Class::Mutable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use Class::*;

    #[test]
    fn index_is_mutable_charts_are_not() {
        check(
            &Helm,
            &[
                ("index.yaml", Mutable),
                ("stable/index.yaml", Mutable),
                ("index.yaml.bak", Mutable),
                ("charts/nginx-1.2.3.tgz", Immutable),
                ("nginx-1.2.3.tgz", Immutable),
                ("nginx-1.2.3.tgz.prov", Immutable),
                ("index.yaml.tgz", Immutable),
                ("charts/", Mutable),
                ("README.md", Mutable),
            ],
        );
    }
}

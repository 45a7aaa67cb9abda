//! Shared checks for the classification tables of the type modules, and the tests of
//! [`super::classify`] and [`super::format_for`].

use super::{classify, format_for, Class, Format, PackageType};

/// Checks every `(path, expected)` case against `format`, reporting all mismatches at once.
pub(super) fn check(format: &dyn Format, cases: &[(&str, Class)]) {
    assert!(cases.len() >= 3, "at least three cases per type");
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(path, want)| format.classify(path) != *want)
        .map(|(path, want)| format!("{}: {path:?} should be {want:?}", format.package_type()))
        .collect();
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}

#[test]
fn every_type_has_its_format() {
    for t in PackageType::ALL {
        assert_eq!(format_for(t).package_type(), t);
    }
}

#[test]
fn overrides_win_over_the_type() {
    let tag = "v2/library/alpine/manifests/latest";
    assert_eq!(classify(PackageType::Docker, None, tag), Class::Mutable);
    assert_eq!(classify(PackageType::Docker, Some(false), tag), Class::Immutable);
    assert_eq!(classify(PackageType::Generic, None, "latest.txt"), Class::Immutable);
    assert_eq!(classify(PackageType::Generic, Some(true), "latest.txt"), Class::Mutable);
    assert_eq!(classify(PackageType::Npm, Some(true), "a/-/a-1.0.0.tgz"), Class::Mutable);
}

#[test]
fn overrides_from_a_remote_spec() {
    let remote: crate::remotes::RemoteSpec = serde_json::from_value(serde_json::json!({
        "name": "charts", "package_type": "helm", "base_url": "http://127.0.0.1/",
        "mutable_patterns": ["-snapshot\\.tgz$"], "immutable_patterns": ["^frozen/index\\.yaml$"]
    }))
    .unwrap();
    let remote = remote.validate().unwrap();
    let class = |path: &str| classify(remote.spec.package_type, remote.rules.override_class(path), path);
    assert_eq!(class("app-1.0.0.tgz"), Class::Immutable);
    assert_eq!(class("app-1.0.0-snapshot.tgz"), Class::Mutable);
    assert_eq!(class("index.yaml"), Class::Mutable);
    assert_eq!(class("frozen/index.yaml"), Class::Immutable);
}

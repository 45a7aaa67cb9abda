//! Shared checks for the classification tables of the type modules, and the tests of
//! [`super::classify`] and [`with_format!`](crate::with_format).

use super::{classify, Class, Format, Method, PackageType, Request};

/// A GET of `path` (raw, as it would arrive) on a repository named `r`.
pub(crate) fn get(path: &str) -> Request<'_> {
    Request { repo: "r", method: Method::Get, path, query: "", accept: &[] }
}

/// Checks every `(path, expected)` case against `format`, reporting all mismatches at once. A
/// path the format refuses counts as mutable: it is never cached at all, let alone forever.
pub(super) fn check<F: Format>(format: &F, cases: &[(&str, Class)]) {
    assert!(cases.len() >= 3, "at least three cases per type");
    let class = |path: &str| format.parse(&get(path)).map_or(Class::Mutable, |e| format.classify(&e));
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(path, want)| class(path) != *want)
        .map(|(path, want)| format!("{}: {path:?} should be {want:?}", F::TYPE))
        .collect();
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}

#[test]
fn every_type_has_its_format() {
    for t in PackageType::ALL {
        assert_eq!(crate::with_format!(t, f => package_type_of(f)), t);
    }
}

fn package_type_of<F: Format>(_f: &F) -> PackageType {
    F::TYPE
}

#[test]
fn overrides_win_over_the_type() {
    let g = &super::generic::Generic;
    let latest = g.parse(&get("latest.txt")).unwrap();
    assert_eq!(classify(g, None, &latest), Class::Immutable);
    assert_eq!(classify(g, Some(true), &latest), Class::Mutable);
    let npm = &super::npm::Npm;
    let tarball = npm.parse(&get("a/-/a-1.0.0.tgz")).unwrap();
    assert_eq!(classify(npm, None, &tarball), Class::Immutable);
    assert_eq!(classify(npm, Some(true), &tarball), Class::Mutable);
    let packument = npm.parse(&get("a")).unwrap();
    assert_eq!(classify(npm, Some(false), &packument), Class::Immutable);
}

#[test]
fn overrides_from_a_remote_spec() {
    let remote: crate::remotes::RemoteSpec = serde_json::from_value(serde_json::json!({
        "name": "charts", "package_type": "helm", "base_url": "http://127.0.0.1/",
        "mutable_patterns": ["-snapshot\\.tgz$"], "immutable_patterns": ["^frozen/index\\.yaml$"]
    }))
    .unwrap();
    let remote = remote.validate().unwrap();
    let helm = &super::helm::Helm;
    let class = |path: &str| classify(helm, remote.rules.override_class(path), &helm.parse(&get(path)).unwrap());
    assert_eq!(class("app-1.0.0.tgz"), Class::Immutable);
    assert_eq!(class("app-1.0.0-snapshot.tgz"), Class::Mutable);
    assert_eq!(class("index.yaml"), Class::Mutable);
    assert_eq!(class("frozen/index.yaml"), Class::Immutable);
}

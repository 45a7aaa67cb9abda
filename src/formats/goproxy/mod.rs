//! Go module proxies (the GOPROXY protocol).
//!
//! Every path is parsed once into an [`Endpoint`] (split on `/@v/` and `/@latest`, since module
//! paths contain slashes). `{module}/@v/list` and `{module}/@latest` change with each release;
//! `{module}/@v/{version}.mod` and `.zip`, and `.info` of a published version, are
//! byte-identical forever (the checksum database depends on it). Paths that are no GOPROXY
//! endpoint, and the `sumdb/...` endpoints (no checksum database is proxied), are refused
//! before the upstream is asked: the `go` command treats only 404 and 410 as "not here".

mod endpoint;

pub use endpoint::{Endpoint, EndpointError, MAX_MODULE_BYTES, MAX_VERSION_BYTES};

use super::{Ask, Class, Doc, Format, PackageType, PathRefusal, Plan, Rendered, Urls};

/// `@v/list` is the one goproxy document: served as the upstream sent it, merged in virtuals.
const LIST: Doc = Doc { variant: "", accept: "" };
const LIST_TYPE: &str = "text/plain; charset=utf-8";

pub struct Goproxy;

impl Format for Goproxy {
    fn package_type(&self) -> PackageType {
        PackageType::Goproxy
    }

    fn classify(&self, path: &str) -> Class {
        match Endpoint::parse(path) {
            Ok(e) if e.is_immutable() => Class::Immutable,
            _ => Class::Mutable,
        }
    }

    fn check_path(&self, path: &str) -> Result<(), PathRefusal> {
        match Endpoint::parse(path) {
            Ok(Endpoint::SumdbSupported { name } | Endpoint::Sumdb { name }) => Err(PathRefusal::NotFound(format!(
                "checksum database {name:?} is not proxied by this remote (set GOSUMDB to reach it directly)"
            ))),
            Ok(_) => Ok(()),
            Err(EndpointError::Invalid(m)) => Err(PathRefusal::Invalid(m)),
            Err(EndpointError::Unknown(m)) => Err(PathRefusal::NotFound(m)),
        }
    }

    fn plan(&self, path: &str, _ask: &Ask) -> Plan {
        match Endpoint::parse(path) {
            Ok(Endpoint::List { .. }) => Plan::Document(LIST),
            _ => Plan::Bytes,
        }
    }

    fn check_document(&self, _path: &str, _doc: &Doc, body: &[u8]) -> Result<(), String> {
        std::str::from_utf8(body).map(|_| ()).map_err(|_| "@v/list is not UTF-8 text".to_string())
    }

    fn rewrite(&self, _path: &str, _doc: &Doc, body: &[u8], _urls: &Urls) -> Result<Rendered, String> {
        Ok(Rendered::new(body.to_vec(), LIST_TYPE))
    }

    /// The union of the members' version lists, in first-seen order, without duplicates.
    fn merge(&self, _path: &str, _doc: &Doc, members: Vec<Rendered>) -> Result<Rendered, String> {
        let mut versions: Vec<&str> = Vec::new();
        for m in &members {
            let text = std::str::from_utf8(&m.body).map_err(|_| "@v/list is not UTF-8 text".to_string())?;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if !versions.contains(&line) {
                    versions.push(line);
                }
            }
        }
        let mut body = versions.join("\n");
        if !body.is_empty() {
            body.push('\n');
        }
        Ok(Rendered::new(body.into_bytes(), LIST_TYPE))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use Class::*;

    #[test]
    fn lists_are_mutable_versions_are_not() {
        check(
            &Goproxy,
            &[
                ("github.com/foo/bar/@v/list", Mutable),
                ("github.com/foo/bar/@latest", Mutable),
                ("github.com/foo/bar/@v/v1.0.0.info", Immutable),
                ("github.com/foo/bar/@v/v1.0.0.mod", Immutable),
                ("github.com/foo/bar/@v/v1.0.0.zip", Immutable),
                ("github.com/!burnt!sushi/toml/@v/v1.3.2.zip", Immutable),
                ("github.com/foo/bar/v2/@v/v2.0.0+incompatible.info", Immutable),
                ("golang.org/x/text/@v/v0.0.0-20170915032832-14c0d48ead0c.mod", Immutable),
                ("github.com/foo/bar/@v/master.info", Mutable),
                ("github.com/foo/bar/@v/.info", Mutable),
                ("@v/v1.0.0.info", Mutable),
                ("github.com/foo/bar/@v/v1.0.0.ziphash", Mutable),
                ("sumdb/sum.golang.org/supported", Mutable),
            ],
        );
    }

    #[test]
    fn lists_merge_in_first_seen_order() {
        let doc = |s: &str| Rendered::new(s.as_bytes().to_vec(), LIST_TYPE);
        let merged =
            Goproxy.merge("m/@v/list", &LIST, vec![doc("v1.0.0\nv1.1.0\n"), doc("\nv1.1.0\r\nv0.9.0\n  \nv1.0.0")]);
        assert_eq!(merged.unwrap().body, b"v1.0.0\nv1.1.0\nv0.9.0\n");
        assert_eq!(Goproxy.merge("m/@v/list", &LIST, vec![doc("")]).unwrap().body, b"");
        assert_eq!(Goproxy.plan("m/@v/list", &Ask::default()), Plan::Document(LIST));
        assert_eq!(Goproxy.plan("m/@v/v1.0.0.zip", &Ask::default()), Plan::Bytes);
        assert!(Goproxy.check_document("m/@v/list", &LIST, b"\xff").is_err());
    }

    #[test]
    fn refusals_say_bad_request_or_not_here() {
        let cases: &[(&str, Option<bool>)] = &[
            ("example.com/!org/!lib/@v/v1.0.0.zip", None),
            ("example.com/!org/!lib/@latest", None),
            ("example.com/Org/Lib/@v/list", Some(true)),
            ("example.com/m/@v/v1.0.0%2f.zip", Some(true)),
            ("sumdb/sum.golang.org/supported", Some(false)),
            ("sumdb/sum.golang.org/lookup/example.com/m@v1.0.0", Some(false)),
            ("example.com/m/readme.txt", Some(false)),
        ];
        for (path, want) in cases {
            let got = match Goproxy.check_path(path) {
                Ok(()) => None,
                Err(PathRefusal::Invalid(_)) => Some(true),
                Err(PathRefusal::NotFound(_)) => Some(false),
            };
            assert_eq!(got, *want, "{path}: {:?}", Goproxy.check_path(path));
        }
    }
}

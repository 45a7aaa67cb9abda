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

use super::{Class, Format, PackageType, PathRefusal};

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

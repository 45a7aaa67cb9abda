//! Go module proxies (the GOPROXY protocol).
//!
//! Module paths contain slashes, so the decision splits on the `@v` segment and `@latest`
//! rather than counting segments. `{module}/@v/list` and `{module}/@latest` change with each
//! release; `{module}/@v/{version}.info`, `.mod` and `.zip` are byte-identical forever (the
//! checksum database depends on it). Everything else (`sumdb/...`) is left mutable.

use super::{segments, Class, Format, PackageType};

pub struct Goproxy;

impl Format for Goproxy {
    fn package_type(&self) -> PackageType {
        PackageType::Goproxy
    }

    fn classify(&self, path: &str) -> Class {
        let segs = segments(path);
        let n = segs.len();
        if n >= 3 && segs[n - 2] == "@v" {
            let file = segs[n - 1];
            let version =
                file.strip_suffix(".info").or_else(|| file.strip_suffix(".mod")).or_else(|| file.strip_suffix(".zip"));
            if version.is_some_and(|v| !v.is_empty()) {
                return Class::Immutable;
            }
        }
        // `@v/list`, `@latest`, and anything else this type does not know.
        Class::Mutable
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
                ("github.com/foo/bar/@v/.info", Mutable),
                ("@v/v1.0.0.info", Mutable),
                ("github.com/foo/bar/@v/v1.0.0.ziphash", Mutable),
                ("sumdb/sum.golang.org/supported", Mutable),
            ],
        );
    }
}

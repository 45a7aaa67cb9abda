//! The GOPROXY endpoints, parsed once from a decoded request path.
//!
//! Module paths contain slashes, so a path is split on its `@v` and `@latest` segments, never
//! by counting segments. Module paths and versions arrive in the proxy protocol's case
//! encoding (an upper-case letter is written `!` and its lower-case form): the parser checks
//! that encoding and hands back borrowed slices of the path, byte for byte, so the encoded form
//! is what is cached and what is asked of the upstream. It is never decoded. An upper-case
//! letter is refused: the encoding forbids it, and accepting it would give one module two cache
//! keys.

use std::fmt;

/// Longest module path accepted, in bytes (encoded).
pub const MAX_MODULE_BYTES: usize = 512;
/// Longest version accepted, in bytes (encoded).
pub const MAX_VERSION_BYTES: usize = 256;

/// One request of the GOPROXY protocol. Every field borrows the (still case-encoded) path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `{module}/@v/list`: the known versions, one per line.
    List { module: &'a str },
    /// `{module}/@v/{version}.info`: JSON metadata of a version (or of a query such as a branch).
    Info { module: &'a str, version: &'a str },
    /// `{module}/@v/{version}.mod`: the version's go.mod file.
    Mod { module: &'a str, version: &'a str },
    /// `{module}/@v/{version}.zip`: the version's module zip.
    Zip { module: &'a str, version: &'a str },
    /// `{module}/@latest`: the latest version's metadata, for modules without tagged versions.
    Latest { module: &'a str },
    /// `sumdb/{name}/supported`: whether this proxy proxies the checksum database `name`.
    SumdbSupported { name: &'a str },
    /// Any other `sumdb/{name}/...` request (lookups and tiles).
    Sumdb { name: &'a str },
}

/// Why a path is not a GOPROXY request this proxy serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The path names an endpoint, but its module path or version is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The path is no GOPROXY endpoint.
    #[error("{0}")]
    Unknown(String),
}

impl<'a> Endpoint<'a> {
    /// Parses a decoded repository path (no leading slash).
    pub fn parse(path: &'a str) -> Result<Endpoint<'a>, EndpointError> {
        if let Some(rest) = path.strip_prefix("sumdb/") {
            let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
            if name.is_empty() {
                return Err(EndpointError::Unknown(format!("{path:?} names no checksum database")));
            }
            return Ok(if tail == "supported" { Endpoint::SumdbSupported { name } } else { Endpoint::Sumdb { name } });
        }
        if let Some(module) = path.strip_suffix("/@latest") {
            check_module(module)?;
            return Ok(Endpoint::Latest { module });
        }
        let Some((module, file)) = path.split_once("/@v/") else {
            return Err(unknown(path));
        };
        check_module(module)?;
        if file == "list" {
            return Ok(Endpoint::List { module });
        }
        let (version, make): (&str, fn(&'a str, &'a str) -> Endpoint<'a>) = if let Some(v) = file.strip_suffix(".info")
        {
            (v, |module, version| Endpoint::Info { module, version })
        } else if let Some(v) = file.strip_suffix(".mod") {
            (v, |module, version| Endpoint::Mod { module, version })
        } else if let Some(v) = file.strip_suffix(".zip") {
            (v, |module, version| Endpoint::Zip { module, version })
        } else {
            return Err(unknown(path));
        };
        check_version(version)?;
        Ok(make(module, version))
    }

    /// Whether the endpoint's answer never changes once published: `.mod` and `.zip`, and
    /// `.info` of a canonical semantic version (`.info` of a query such as `master` moves).
    pub fn is_immutable(&self) -> bool {
        match self {
            Endpoint::Mod { .. } | Endpoint::Zip { .. } => true,
            Endpoint::Info { version, .. } => is_semver(version),
            _ => false,
        }
    }
}

fn unknown(path: &str) -> EndpointError {
    EndpointError::Unknown(format!(
        "{path:?} is no GOPROXY endpoint (expected {{module}}/@v/list, {{module}}/@v/{{version}}.info|.mod|.zip or {{module}}/@latest)"
    ))
}

/// Checks one case-encoded string: lower-case ASCII letters, digits, `extra`, and `!`
/// followed by a lower-case letter.
fn check_encoded(what: &str, s: &str, extra: &[u8]) -> Result<(), EndpointError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'a'..=b'z' | b'0'..=b'9' => {}
            b'A'..=b'Z' => {
                return Err(EndpointError::Invalid(format!(
                    "upper-case letter in {what} {s:?}: the GOPROXY case encoding writes {:?} as \"!{}\"",
                    b as char,
                    b.to_ascii_lowercase() as char
                )))
            }
            b'!' => match bytes.get(i + 1) {
                Some(b'a'..=b'z') => i += 1,
                _ => {
                    return Err(EndpointError::Invalid(format!(
                        "{what} {s:?}: '!' must be followed by a lower-case letter"
                    )))
                }
            },
            _ if extra.contains(&b) => {}
            _ => return Err(EndpointError::Invalid(format!("{what} {s:?}: character {} is not allowed", Shown(b)))),
        }
        i += 1;
    }
    Ok(())
}

/// A byte shown readably in a message.
struct Shown(u8);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "{:?}", self.0 as char)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

fn check_module(module: &str) -> Result<(), EndpointError> {
    if module.is_empty() {
        return Err(EndpointError::Invalid("empty module path".into()));
    }
    if module.len() > MAX_MODULE_BYTES {
        return Err(EndpointError::Invalid(format!("module path longer than {MAX_MODULE_BYTES} bytes")));
    }
    for element in module.split('/') {
        if element.is_empty() {
            return Err(EndpointError::Invalid(format!("module path {module:?} has an empty element")));
        }
        if element.starts_with('.') || element.ends_with('.') {
            return Err(EndpointError::Invalid(format!(
                "module path {module:?}: element {element:?} starts or ends with a dot"
            )));
        }
        check_encoded("module path", element, b"-._~")?;
    }
    Ok(())
}

fn check_version(version: &str) -> Result<(), EndpointError> {
    if version.is_empty() {
        return Err(EndpointError::Invalid("empty version".into()));
    }
    if version.len() > MAX_VERSION_BYTES {
        return Err(EndpointError::Invalid(format!("version longer than {MAX_VERSION_BYTES} bytes")));
    }
    if version.starts_with('.') {
        return Err(EndpointError::Invalid(format!("version {version:?} starts with a dot")));
    }
    check_encoded("version", version, b"-._~+")
}

/// Whether `v` is a canonical semantic version as Go writes it: `vMAJOR.MINOR.PATCH`, with an
/// optional `-prerelease` and `+build` (in encoded form: lower-case or `!x`).
fn is_semver(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else { return false };
    let core_end = rest.find(['-', '+']).unwrap_or(rest.len());
    let core: Vec<&str> = rest[..core_end].split('.').collect();
    core.len() == 3 && core.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Endpoint::*;

    #[test]
    fn endpoints_parse_with_the_encoding_kept() {
        let cases: &[(&str, Endpoint)] = &[
            ("github.com/foo/bar/@v/list", List { module: "github.com/foo/bar" }),
            ("example.com/!org/!lib/@v/list", List { module: "example.com/!org/!lib" }),
            ("github.com/foo/bar/@latest", Latest { module: "github.com/foo/bar" }),
            ("github.com/foo/bar/@v/v1.0.0.info", Info { module: "github.com/foo/bar", version: "v1.0.0" }),
            ("github.com/foo/bar/@v/v1.0.0.mod", Mod { module: "github.com/foo/bar", version: "v1.0.0" }),
            (
                "github.com/!burnt!sushi/toml/@v/v1.3.2.zip",
                Zip { module: "github.com/!burnt!sushi/toml", version: "v1.3.2" },
            ),
            (
                "github.com/foo/bar/v2/@v/v2.0.0+incompatible.info",
                Info { module: "github.com/foo/bar/v2", version: "v2.0.0+incompatible" },
            ),
            ("example.com/m/@v/v1.0.0-!r!c1.mod", Mod { module: "example.com/m", version: "v1.0.0-!r!c1" }),
            ("example.com/m/@v/master.info", Info { module: "example.com/m", version: "master" }),
            ("gopkg.in/yaml.v3/@v/v3.0.1.zip", Zip { module: "gopkg.in/yaml.v3", version: "v3.0.1" }),
            ("sumdb/sum.golang.org/supported", SumdbSupported { name: "sum.golang.org" }),
            ("sumdb/sum.golang.org/lookup/x@v1.0.0", Sumdb { name: "sum.golang.org" }),
            ("sumdb/sum.golang.org", Sumdb { name: "sum.golang.org" }),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::parse(path).as_ref(), Ok(want), "{path}");
        }
    }

    #[test]
    fn hostile_or_malformed_paths_are_refused() {
        let long_module = format!("example.com/{}/@v/list", "a".repeat(MAX_MODULE_BYTES));
        let long_version = format!("example.com/m/@v/v{}.zip", "1".repeat(MAX_VERSION_BYTES));
        let invalid: &[(&str, &str)] = &[
            ("example.com/Org/Lib/@v/list", "upper-case"),
            ("example.com/m/@v/v1.0.0-RC1.info", "upper-case"),
            ("example.com/!/@v/list", "'!' must be followed"),
            ("example.com/!O/@v/list", "'!' must be followed"),
            ("example.com/m!/@latest", "'!' must be followed"),
            ("/@v/list", "empty module path"),
            ("example.com//m/@v/list", "empty element"),
            ("example.com/.hidden/@v/list", "dot"),
            ("example.com/m./@v/list", "dot"),
            ("example.com/a%2fb/@v/list", "not allowed"),
            ("example.com/a\\b/@v/list", "not allowed"),
            ("example.com/a b/@v/list", "not allowed"),
            ("example.com/m/@v/.info", "empty version"),
            ("example.com/m/@v/..zip", "starts with a dot"),
            ("example.com/m/@v/v1/../x.zip", "not allowed"),
            ("example.com/m/@v/v1.0.0%00.mod", "not allowed"),
            ("example.com/m@v1/@v/list", "not allowed"),
            (&long_module, "longer than"),
            (&long_version, "longer than"),
        ];
        for (path, fragment) in invalid {
            match Endpoint::parse(path) {
                Err(EndpointError::Invalid(m)) => assert!(m.contains(fragment), "{path}: {m}"),
                other => panic!("{path}: expected Invalid containing {fragment:?}, got {other:?}"),
            }
        }
        let unknown = [
            "example.com/m",
            "@latest",
            "example.com/m/@v/",
            "example.com/m/@v/v1.0.0.ziphash",
            "example.com/m/@v/v1.0.0",
            "example.com/m/@latest/",
            "sumdb/",
            "index.html",
        ];
        for path in unknown {
            assert!(
                matches!(Endpoint::parse(path), Err(EndpointError::Unknown(_))),
                "{path}: {:?}",
                Endpoint::parse(path)
            );
        }
    }

    #[test]
    fn only_published_versions_are_immutable() {
        let cases: &[(&str, bool)] = &[
            ("example.com/m/@v/v1.0.0.info", true),
            ("example.com/m/@v/v1.2.3-pre.1+meta.info", true),
            ("example.com/m/@v/v0.0.0-20170915032832-14c0d48ead0c.info", true),
            ("example.com/m/@v/master.info", false),
            ("example.com/m/@v/v1.info", false),
            ("example.com/m/@v/v1.0.0.mod", true),
            ("example.com/m/@v/v1.0.0.zip", true),
            ("example.com/m/@v/list", false),
            ("example.com/m/@latest", false),
        ];
        for (path, want) in cases {
            let e = Endpoint::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(e.is_immutable(), *want, "{path}");
        }
    }
}

//! Remote repository configuration: the JSON the management API and Terraform speak, and its
//! validated, compiled form.
//!
//! [`RemoteSpec`] is the wire and storage form (field names are the Terraform provider's);
//! [`RemoteSpec::validate`] turns it into a [`Remote`] with compiled rules, or a 400 naming the
//! field. The upstream password is accepted on writes and never returned by reads.

use std::sync::Arc;

use artifactapi_actors::remote::tls::{CaCertificates, RemoteTls};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::formats::PackageType;

fn default_mutable_ttl() -> u64 {
    3600
}

/// A remote as created, updated, stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteSpec {
    pub name: String,
    pub package_type: PackageType,
    pub base_url: String,
    /// Seconds immutable objects stay fresh; 0 means forever.
    #[serde(default)]
    pub immutable_ttl: u64,
    /// Seconds mutable objects stay fresh before they are revalidated.
    #[serde(default = "default_mutable_ttl")]
    pub mutable_ttl: u64,
    /// Allowlist regexes (empty: everything).
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Denylist regexes, checked first.
    #[serde(default)]
    pub blocklist: Vec<String>,
    #[serde(default)]
    pub mutable_patterns: Vec<String>,
    #[serde(default)]
    pub immutable_patterns: Vec<String>,
    #[serde(default)]
    pub ban_tags_enabled: bool,
    #[serde(default)]
    pub ban_tags: Vec<String>,
    /// Token service hosts (`host` or `host:port`) besides the base URL's own origin that may
    /// receive `username`/`password` when the upstream answers with a Bearer challenge (docker).
    /// Docker Hub's `auth.docker.io` is implied for a Docker Hub base URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_realm_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// PEM text of CA certificates this remote's upstream TLS may chain to, besides the
    /// operating system's store and `UPSTREAM_CA_FILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<String>,
    /// Accept any TLS certificate from the upstream: never verified. Logged when the remote
    /// starts and listed under `warnings` by `GET /api/v2/health`.
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
    /// Hosts other than the base URL's (named by an index, a redirect or a token realm) may
    /// be private, loopback or link-local addresses.
    #[serde(default)]
    pub allow_private_upstreams: bool,
}

/// A validation failure, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn field_err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// Longest TTL accepted (ten years), so TTL arithmetic can never overflow.
const MAX_TTL: u64 = 10 * 365 * 24 * 3600;

/// Checks a repository name: what may appear as a path segment and a key everywhere.
pub fn validate_name(name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(field_err("name", "1-64 characters of a-z, 0-9, '.', '-', '_', starting with a letter or digit"))
    }
}

impl RemoteSpec {
    /// Validates and compiles the spec.
    pub fn validate(self) -> Result<Remote, FieldError> {
        validate_name(&self.name)?;
        let base = url::Url::parse(&self.base_url).map_err(|e| field_err("base_url", e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(field_err("base_url", "must be an absolute http(s) URL"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(field_err("base_url", "must not have a query or fragment"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(field_err("base_url", "put credentials in username/password, not in the URL"));
        }
        for (field, v) in [("immutable_ttl", self.immutable_ttl), ("mutable_ttl", self.mutable_ttl)] {
            if v > MAX_TTL {
                return Err(field_err(field, format!("at most {MAX_TTL} seconds")));
            }
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(field_err("username", "required when password is set"));
        }
        let rules = Rules {
            patterns: compile("patterns", &self.patterns)?,
            blocklist: compile("blocklist", &self.blocklist)?,
            mutable: compile("mutable_patterns", &self.mutable_patterns)?,
            immutable: compile("immutable_patterns", &self.immutable_patterns)?,
        };
        for (i, tag) in self.ban_tags.iter().enumerate() {
            if tag.is_empty() || tag.len() > 128 {
                return Err(field_err(format!("ban_tags[{i}]"), "a tag is 1-128 characters"));
            }
        }
        for (i, host) in self.token_realm_hosts.iter().enumerate() {
            validate_realm_host(host).map_err(|m| field_err(format!("token_realm_hosts[{i}]"), m))?;
        }
        let tls_ca = match &self.tls_ca {
            Some(pem) => Some(CaCertificates::from_pem(pem).map_err(|e| field_err("tls_ca", e.to_string()))?),
            None => None,
        };
        if tls_ca.is_some() && self.tls_insecure_skip_verify {
            return Err(field_err("tls_ca", "has no effect with tls_insecure_skip_verify (which verifies nothing)"));
        }
        let mut base_url = base.to_string();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        Ok(Remote { base_url, rules: Arc::new(rules), tls_ca, spec: self })
    }

    /// The spec as reads return it: without the password.
    pub fn redacted(&self) -> RemoteSpec {
        RemoteSpec { password: None, ..self.clone() }
    }
}

/// Checks a `token_realm_hosts` entry: a DNS name or IP address, optionally with `:port`.
fn validate_realm_host(entry: &str) -> Result<(), String> {
    let (host, port) = match entry.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && (!h.starts_with('[') || h.ends_with(']')) => (h, Some(p)),
        _ => (entry, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
    };
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(format!("{entry:?} is not a host name or host:port"))
    }
}

/// Parses a JSON body, naming the field on a type error (`mutable_ttl: invalid value ...`).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        field_err(if path == "." { "body".to_string() } else { path }, msg)
    })
}

fn compile(field: &str, patterns: &[String]) -> Result<Vec<Regex>, FieldError> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            regex::RegexBuilder::new(p).size_limit(1 << 20).build().map_err(|e| {
                field_err(format!("{field}[{i}]"), format!("invalid regex: {}", first_line(&e.to_string())))
            })
        })
        .collect()
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Compiled access and classification rules of one remote.
#[derive(Debug, Default)]
pub struct Rules {
    pub patterns: Vec<Regex>,
    pub blocklist: Vec<Regex>,
    pub mutable: Vec<Regex>,
    pub immutable: Vec<Regex>,
}

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Matched this blocklist entry.
    Blocklisted(String),
    /// Matched no entry of a non-empty allowlist.
    NotAllowed,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::Blocklisted(p) => write!(f, "path matches blocklist rule {p:?}"),
            Denied::NotAllowed => write!(f, "path matches none of the remote's patterns"),
        }
    }
}

impl Rules {
    /// Access control in the original's order: blocklist first, then the allowlist.
    pub fn check_access(&self, path: &str) -> Result<(), Denied> {
        if let Some(r) = self.blocklist.iter().find(|r| r.is_match(path)) {
            return Err(Denied::Blocklisted(r.as_str().to_string()));
        }
        if !self.patterns.is_empty() && !self.patterns.iter().any(|r| r.is_match(path)) {
            return Err(Denied::NotAllowed);
        }
        Ok(())
    }

    /// The override classification, if an override pattern matches (mutable wins over
    /// immutable: revalidating too often is safe, serving stale metadata forever is not).
    pub fn override_class(&self, path: &str) -> Option<bool> {
        if self.mutable.iter().any(|r| r.is_match(path)) {
            Some(true)
        } else if self.immutable.iter().any(|r| r.is_match(path)) {
            Some(false)
        } else {
            None
        }
    }
}

/// A validated remote.
#[derive(Debug, Clone)]
pub struct Remote {
    pub spec: RemoteSpec,
    /// `base_url`, normalised to end with `/`.
    pub base_url: String,
    pub rules: Arc<Rules>,
    /// `tls_ca`, parsed.
    pub tls_ca: Option<CaCertificates>,
}

impl Remote {
    /// How the upstream's TLS certificate is checked.
    pub fn tls(&self) -> RemoteTls {
        RemoteTls { extra_ca: self.tls_ca.clone(), skip_verify: self.spec.tls_insecure_skip_verify }
    }

    /// The token service hosts that may receive this remote's credentials besides its own
    /// origin: the configured ones, plus Docker Hub's token service for a Docker Hub remote.
    pub fn token_realm_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.spec.token_realm_hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        if self.spec.package_type == PackageType::Docker && crate::formats::docker::hub::is_docker_hub(&self.base_url) {
            hosts.push(crate::formats::docker::hub::HUB_TOKEN_HOST.to_string());
        }
        hosts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Result<Remote, String> {
        let s: RemoteSpec = parse_json(json.to_string().as_bytes()).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_the_seed_examples() {
        let r = spec(serde_json::json!({
            "name": "github", "package_type": "generic", "base_url": "https://github.com",
            "immutable_ttl": 0, "mutable_ttl": 7200,
            "patterns": ["ducaale/xh/.*/xh-.*-x86_64-unknown-linux-musl.tar.gz$"],
            "mutable_patterns": [".*/archive/refs/heads/.*\\.tar\\.gz$"]
        }))
        .unwrap();
        assert_eq!(r.base_url, "https://github.com/");
        let r = spec(serde_json::json!({
            "name": "dockerhub", "package_type": "docker", "base_url": "https://registry-1.docker.io",
            "ban_tags_enabled": true, "ban_tags": ["latest"], "patterns": ["^library/postgres"]
        }))
        .unwrap();
        assert_eq!(r.spec.mutable_ttl, 3600);
    }

    #[test]
    fn rejects_bad_fields_by_name() {
        let base = || serde_json::json!({"name": "r", "package_type": "generic", "base_url": "http://x"});
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (
                {
                    let mut v = base();
                    v["name"] = "../x".into();
                    v
                },
                "name:",
            ),
            (
                {
                    let mut v = base();
                    v["name"] = "".into();
                    v
                },
                "name:",
            ),
            (
                {
                    let mut v = base();
                    v["name"] = "A".into();
                    v
                },
                "name:",
            ),
            (
                {
                    let mut v = base();
                    v["base_url"] = "ftp://x".into();
                    v
                },
                "base_url:",
            ),
            (
                {
                    let mut v = base();
                    v["base_url"] = "not a url".into();
                    v
                },
                "base_url:",
            ),
            (
                {
                    let mut v = base();
                    v["base_url"] = "http://u:p@x".into();
                    v
                },
                "base_url:",
            ),
            (
                {
                    let mut v = base();
                    v["patterns"] = serde_json::json!(["ok", "(unclosed"]);
                    v
                },
                "patterns[1]: invalid regex",
            ),
            (
                {
                    let mut v = base();
                    v["blocklist"] = serde_json::json!(["["]);
                    v
                },
                "blocklist[0]: invalid regex",
            ),
            (
                {
                    let mut v = base();
                    v["mutable_ttl"] = serde_json::json!(u64::MAX);
                    v
                },
                "mutable_ttl:",
            ),
            (
                {
                    let mut v = base();
                    v["mutable_ttl"] = serde_json::json!(-5);
                    v
                },
                "mutable_ttl",
            ),
            (
                {
                    let mut v = base();
                    v["package_type"] = "maven".into();
                    v
                },
                "unknown variant `maven`",
            ),
            (
                {
                    let mut v = base();
                    v["colour"] = "red".into();
                    v
                },
                "unknown field `colour`",
            ),
            (
                {
                    let mut v = base();
                    v["password"] = "p".into();
                    v
                },
                "username:",
            ),
        ];
        for (json, want) in cases {
            let err = spec(json.clone()).expect_err(&json.to_string());
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn access_rules_check_the_blocklist_first() {
        let r = spec(serde_json::json!({
            "name": "r", "package_type": "generic", "base_url": "http://x",
            "patterns": ["^pub/"], "blocklist": ["secret"]
        }))
        .unwrap();
        assert_eq!(r.rules.check_access("pub/a.txt"), Ok(()));
        assert_eq!(r.rules.check_access("pub/secret.txt"), Err(Denied::Blocklisted("secret".into())));
        assert_eq!(r.rules.check_access("other/a.txt"), Err(Denied::NotAllowed));
    }

    #[test]
    fn overrides_prefer_mutable() {
        let r = spec(serde_json::json!({
            "name": "r", "package_type": "generic", "base_url": "http://x",
            "mutable_patterns": ["latest"], "immutable_patterns": ["\\.tar\\.gz$"]
        }))
        .unwrap();
        assert_eq!(r.rules.override_class("a/latest.tar.gz"), Some(true));
        assert_eq!(r.rules.override_class("a/1.0.tar.gz"), Some(false));
        assert_eq!(r.rules.override_class("a/1.0.zip"), None);
    }

    #[test]
    fn token_realm_hosts_are_host_names_and_hub_implies_its_own() {
        let with = |hosts: serde_json::Value, base: &str| {
            spec(
                serde_json::json!({"name": "r", "package_type": "docker", "base_url": base, "token_realm_hosts": hosts}),
            )
        };
        let r = with(
            serde_json::json!(["auth.example", "Tokens.Example:8443", "127.0.0.1", "[::1]:5000", "auth.example:443"]),
            "https://reg.example",
        )
        .unwrap();
        assert_eq!(
            r.token_realm_hosts(),
            ["auth.example", "tokens.example:8443", "127.0.0.1", "[::1]:5000", "auth.example:443"]
        );
        let hub = with(serde_json::json!([]), "https://registry-1.docker.io").unwrap();
        assert_eq!(hub.token_realm_hosts(), ["auth.docker.io"]);
        for bad in [
            "",
            "https://auth.example",
            "auth.example/token",
            "user@auth.example",
            "a b",
            "auth.example:x",
            "*.example",
            "a..b",
            "::1",
            "[::1",
            "auth.example:0",
        ] {
            let err = with(serde_json::json!([bad]), "https://reg.example").unwrap_err();
            assert!(err.starts_with("token_realm_hosts[0]:"), "{bad:?}: {err}");
        }
        let json = serde_json::to_value(with(serde_json::json!([]), "https://reg.example").unwrap().spec).unwrap();
        assert!(json.get("token_realm_hosts").is_none(), "empty lists are not shown");
    }

    const CA: &str = include_str!("../actors/testdata/ca.pem");

    #[test]
    fn tls_fields_are_checked_and_shown() {
        let with = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"name": "r", "package_type": "generic", "base_url": "https://x"});
            if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            spec(v)
        };
        let r = with(serde_json::json!({ "tls_ca": CA })).unwrap();
        assert_eq!(r.tls().extra_ca.map(|c| c.len()), Some(1));
        assert!(!r.tls().skip_verify);
        let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let junk = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (serde_json::json!({ "tls_ca": "" }), "tls_ca: no PEM certificate found"),
            (serde_json::json!({ "tls_ca": "   " }), "tls_ca: no PEM certificate found"),
            (serde_json::json!({ "tls_ca": "MIIBnDCCAUOgAwIBAgIU" }), "tls_ca: no PEM certificate found"),
            (serde_json::json!({ "tls_ca": key }), "tls_ca: PEM block 1 is a PRIVATE KEY, not a certificate"),
            (serde_json::json!({ "tls_ca": junk }), "tls_ca: certificate 1 is not a usable CA certificate"),
            (serde_json::json!({ "tls_ca": CA.replace("-----END", "-----FIN") }), "tls_ca: malformed PEM"),
            (serde_json::json!({ "tls_ca": CA, "tls_insecure_skip_verify": true }), "tls_ca: has no effect"),
            (serde_json::json!({ "tls_ca": 5 }), "tls_ca: invalid type"),
            (serde_json::json!({ "tls_insecure_skip_verify": "yes" }), "tls_insecure_skip_verify: invalid type"),
            (serde_json::json!({ "allow_private_upstreams": 1 }), "allow_private_upstreams: invalid type"),
        ];
        for (extra, want) in cases {
            let err = with(extra.clone()).expect_err(&extra.to_string());
            assert!(err.starts_with(want), "{extra}: {err}");
        }
        // The flags are always shown, off by default; the CA only when set.
        let plain = serde_json::to_value(with(serde_json::json!({})).unwrap().spec).unwrap();
        assert_eq!(plain["tls_insecure_skip_verify"], false);
        assert_eq!(plain["allow_private_upstreams"], false);
        assert!(plain.get("tls_ca").is_none());
        let loud = with(serde_json::json!({ "tls_insecure_skip_verify": true, "allow_private_upstreams": true }));
        let loud = serde_json::to_value(loud.unwrap().spec).unwrap();
        assert_eq!((&loud["tls_insecure_skip_verify"], &loud["allow_private_upstreams"]), (&true.into(), &true.into()));
    }

    #[test]
    fn reads_never_show_the_password() {
        let r = spec(serde_json::json!({"name": "r", "package_type": "generic", "base_url": "http://x", "username": "u", "password": "p"})).unwrap();
        let json = serde_json::to_value(r.spec.redacted()).unwrap();
        assert_eq!(json["username"], "u");
        assert!(json.get("password").is_none());
    }
}

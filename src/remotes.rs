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
    if crate::paths::is_repo_name(name) {
        Ok(())
    } else {
        Err(field_err("name", "1-64 characters of a-z, 0-9, '.', '-', '_', starting with a letter or digit"))
    }
}

impl RemoteSpec {
    /// A remote of `package_type` named `name` in front of `base_url`, every other field at its
    /// default (as a JSON body with only those three fields would give).
    pub fn new(name: &str, package_type: PackageType, base_url: &str) -> RemoteSpec {
        RemoteSpec {
            name: name.to_string(),
            package_type,
            base_url: base_url.to_string(),
            immutable_ttl: 0,
            mutable_ttl: default_mutable_ttl(),
            patterns: Vec::new(),
            blocklist: Vec::new(),
            mutable_patterns: Vec::new(),
            immutable_patterns: Vec::new(),
            ban_tags_enabled: false,
            ban_tags: Vec::new(),
            token_realm_hosts: Vec::new(),
            username: None,
            password: None,
            tls_ca: None,
            tls_insecure_skip_verify: false,
            allow_private_upstreams: false,
        }
    }

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
#[path = "remotes_tests.rs"]
mod tests;

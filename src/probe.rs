//! `POST /api/v2/probe`: what a remote's upstream answers for a path, without caching it.
//!
//! The request names a configured remote (`"remote"`) or carries a whole remote configuration
//! not saved yet (`"config"`), plus a path as a client would put it after
//! `/api/v1/remote/{name}/`. The answer is the upstream's status, the headers that matter, the
//! body size and timings (see [`artifactapi_actors::remote::probe`]), plus what this server
//! would make of the path: its class and the rule that decided it, and whether the remote's
//! access rules let it through.
//!
//! Because the caller picks the URL, the target host is checked first: a host that resolves to
//! a private, loopback or link-local address is refused (400) unless it is the host of a
//! configured remote's `base_url` or `PROBE_ALLOW_PRIVATE=true`; a refused-by-default probe
//! then runs on a client whose resolver refuses such addresses again at connect time. The
//! probe trusts the certificates the remote would trust (the shared store, `UPSTREAM_CA_FILE`,
//! its `tls_ca` or `tls_insecure_skip_verify`).

use std::sync::Arc;
use std::time::Duration;

use artifactapi_actors::remote::auth::RealmPolicy;
use artifactapi_actors::remote::netguard::{self, ReachPolicy};
use artifactapi_actors::remote::probe::{probe, ProbeResult};
use artifactapi_actors::remote::tls::TrustStore;
use artifactapi_actors::remote::upstream::{Upstream, UpstreamSettings};
use serde::{Deserialize, Serialize};

use crate::formats::{Class, Format, Method, PackageType, Request};
use crate::paths::{join_upstream, RepoPath};
use crate::registry::Registry;
use crate::remotes::{Remote, RemoteSpec};

/// Seconds a probe may take when the request does not say.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Longest time limit a request may ask for.
pub const MAX_TIMEOUT_SECS: u64 = 300;

/// The request body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequest {
    #[serde(default)]
    pub remote: Option<String>,
    #[serde(default)]
    pub config: Option<RemoteSpec>,
    pub path: String,
    /// Time limit for the whole probe, body included (1..=300, default 30).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Why a probe was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("remote {0:?} not found")]
    UnknownRemote(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "probe refused: {0}; only configured remotes' hosts may be probed there (PROBE_ALLOW_PRIVATE=true allows any)"
    )]
    Refused(String),
}

/// How a path was classified, and by which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub class: Class,
    /// `type` (the package type's own rules), `mutable_patterns` or `immutable_patterns`.
    pub rule: &'static str,
}

/// Whether the remote's access rules let the path through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    pub allowed: bool,
    pub reason: Option<String>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    pub upstream_url: String,
    #[serde(flatten)]
    pub result: ProbeResult,
    pub classification: Classification,
    pub access: Access,
}

/// A checked probe, ready to send.
#[derive(Debug)]
pub struct Prepared {
    trust: Arc<TrustStore>,
    remote: Remote,
    path: RepoPath,
    url: String,
    /// Whether the client must refuse private addresses.
    guarded: bool,
    limit: Duration,
}

/// What classifies `path` in `remote`: the override patterns, else the type.
pub fn classification(remote: &Remote, path: &RepoPath) -> Classification {
    let over = remote.rules.override_class(path.as_str());
    let (class, rule) = match over {
        Some(true) => (Class::Mutable, "mutable_patterns"),
        Some(false) => (Class::Immutable, "immutable_patterns"),
        None => (crate::with_format!(remote.spec.package_type, f => type_class(f, path)), "type"),
    };
    Classification { class, rule }
}

/// The type's class of a probe path, which is relative to the base URL as the upstream sees it
/// (a registry's starts with `v2/`). A path the type refuses is mutable: it would not be cached.
fn type_class<F: Format>(f: &F, path: &RepoPath) -> Class {
    let raw = path.upstream_suffix();
    let raw = match F::TYPE {
        PackageType::Docker => raw.strip_prefix("v2/").unwrap_or(&raw),
        _ => &raw,
    };
    let req = Request { repo: "probe", method: Method::Get, path: raw, query: "", accept: &[] };
    f.parse(&req).map_or(Class::Mutable, |e| f.classify(&e))
}

fn host_of(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    Some((u.host_str()?.to_ascii_lowercase(), u.port_or_known_default()?))
}

/// Whether `host` is the host of a configured remote's base URL.
fn configured_host(registry: &Registry, host: &str) -> bool {
    registry
        .names()
        .iter()
        .filter_map(|n| registry.get(n))
        .any(|e| host_of(&e.remote.base_url).is_some_and(|(h, _)| h == host))
}

/// Checks a request: the remote or configuration, the path, the time limit and the target.
pub async fn prepare(req: ProbeRequest, registry: &Registry, allow_private: bool) -> Result<Prepared, ProbeError> {
    let remote = match (req.remote, req.config) {
        (Some(name), None) => registry.get(&name).ok_or(ProbeError::UnknownRemote(name))?.remote.as_ref().clone(),
        (None, Some(spec)) => spec.validate().map_err(|e| ProbeError::Invalid(format!("config.{e}")))?,
        _ => {
            return Err(ProbeError::Invalid(
                "give either \"remote\" (a configured remote's name) or \"config\" (a remote configuration)".into(),
            ))
        }
    };
    let raw = req.path.strip_prefix('/').unwrap_or(&req.path);
    let path = RepoPath::parse(raw).map_err(|e| ProbeError::Invalid(format!("path: invalid path: {e}")))?;
    let secs = req.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
        return Err(ProbeError::Invalid(format!("timeout_seconds: expected 1 to {MAX_TIMEOUT_SECS}, got {secs}")));
    }
    let url = join_upstream(&remote.base_url, &path);
    let (host, port) = host_of(&url).ok_or_else(|| ProbeError::Invalid(format!("base_url: no host in {url:?}")))?;
    let guarded = !(allow_private || configured_host(registry, &host));
    if guarded {
        if let Some(ip) = netguard::private_address(&host, port).await {
            return Err(ProbeError::Refused(format!(
                "{host} resolves to {ip}, a private, loopback or link-local address"
            )));
        }
    }
    let trust = registry.trust().clone();
    Ok(Prepared { trust, remote, path, url, guarded, limit: Duration::from_secs(secs) })
}

/// Sends a prepared probe with the given upstream timeouts.
pub async fn run(p: Prepared, connect_timeout: Duration, read_timeout: Duration) -> ProbeReport {
    let spec = &p.remote.spec;
    let settings = UpstreamSettings {
        connect_timeout,
        read_timeout,
        credentials: spec.username.clone().map(|u| (u, spec.password.clone().unwrap_or_default())),
        realms: RealmPolicy::new(&p.remote.base_url, &p.remote.token_realm_hosts()),
        reach: if p.guarded { ReachPolicy::public_only() } else { ReachPolicy::unrestricted() },
        tls: p.trust.client_config(&p.remote.tls()),
        rate_limits: None,
    };
    let upstream = Upstream::new(settings);
    let result = probe(&upstream, &p.url, p.limit).await;
    let access = match p.remote.rules.check_access(p.path.as_str()) {
        Ok(()) => Access { allowed: true, reason: None },
        Err(denied) => Access { allowed: false, reason: Some(denied.to_string()) },
    };
    ProbeReport { classification: classification(&p.remote, &p.path), access, upstream_url: p.url, result }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remotes::parse_json;

    fn remote(extra: serde_json::Value) -> Remote {
        let mut spec = serde_json::json!({"name": "r", "package_type": "helm", "base_url": "http://x/"});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        parse_json::<RemoteSpec>(spec.to_string().as_bytes()).unwrap().validate().unwrap()
    }

    #[test]
    fn classification_names_the_deciding_rule() {
        let r = remote(serde_json::json!({"mutable_patterns": ["latest"], "immutable_patterns": ["\\.yaml$"]}));
        let cases = [
            ("charts/a-1.0.tgz", Class::Immutable, "type"),
            ("index.yaml", Class::Immutable, "immutable_patterns"),
            ("latest/index.yaml", Class::Mutable, "mutable_patterns"),
            ("other.txt", Class::Mutable, "type"),
        ];
        for (path, class, rule) in cases {
            let path = RepoPath::parse(path).unwrap();
            assert_eq!(classification(&r, &path), Classification { class, rule }, "{path}");
        }
    }

    #[test]
    fn hosts_are_compared_in_lower_case_with_their_port() {
        assert_eq!(host_of("http://Example.COM/a"), Some(("example.com".into(), 80)));
        assert_eq!(host_of("https://[::1]:8443/"), Some(("[::1]".into(), 8443)));
        assert_eq!(host_of("not a url"), None);
    }
}

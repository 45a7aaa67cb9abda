//! Registry token auth: answering `WWW-Authenticate: Bearer realm=...,service=...,scope=...`.
//!
//! Container registries (Docker Hub, GHCR, Quay, the CNCF registry with `auth: token`) answer an
//! unauthenticated request with 401 and a Bearer challenge naming a token service (the realm).
//! The client gets a token there, anonymously or with basic credentials, and repeats the request
//! with `Authorization: Bearer <token>`. This module parses the challenge ([`Challenge`]),
//! decides whether the remote's credentials may go to the realm ([`RealmPolicy`]), and keeps
//! tokens until they expire ([`TokenCache`]), keyed by the scope the service crate names for a
//! request (`repository:library/alpine:pull`) so the next request for the same image sends its
//! token straight away.
//!
//! Credentials go only to the remote's own origin or to a realm host its configuration names
//! (`token_realm_hosts`), and never from an https upstream to a plain-http realm: a realm is
//! chosen by whoever answers the 401, and an upstream (or anything in between) must not be able
//! to collect the remote's password by naming a realm of its own. Other realms get an anonymous
//! token request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Tokens kept per remote before the cache is cleared.
const MAX_TOKENS: usize = 1024;
/// A token without `expires_in` lives 60 s (the token spec's default).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;
/// Largest token response read.
pub const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// A parsed Bearer challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: url::Url,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// Parses a `WWW-Authenticate` value; `None` unless it is a Bearer challenge with an http(s)
/// realm.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, params) = value.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(params)?;
    let get = |k: &str| params.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    let realm = url::Url::parse(&get("realm")?).ok()?;
    if !matches!(realm.scheme(), "http" | "https") || realm.host().is_none() {
        return None;
    }
    Some(Challenge { realm, service: get("service"), scope: get("scope") })
}

/// `name=value` or `name="quoted, value"` pairs separated by commas (RFC 9110 auth-params).
fn parse_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let name = name.trim().to_string();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.push((name, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(out)
}

/// Which token services may receive the remote's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RealmPolicy {
    /// The remote's base URL.
    pub base: Option<url::Url>,
    /// Further realm hosts, `host` (any port) or `host:port`, lower case.
    pub extra_hosts: Vec<String>,
}

impl RealmPolicy {
    pub fn new(base_url: &str, extra_hosts: &[String]) -> RealmPolicy {
        RealmPolicy {
            base: url::Url::parse(base_url).ok(),
            extra_hosts: extra_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether credentials may be sent to `realm`.
    pub fn allows(&self, realm: &url::Url) -> bool {
        let Some(base) = &self.base else { return false };
        if realm.origin() == base.origin() {
            return true;
        }
        // Never from https down to plain http.
        if realm.scheme() == "http" && base.scheme() == "https" {
            return false;
        }
        let Some(host) = realm.host_str().map(str::to_ascii_lowercase) else { return false };
        let with_port = realm.port_or_known_default().map(|p| format!("{host}:{p}"));
        self.extra_hosts.iter().any(|h| *h == host || Some(h) == with_port.as_ref())
    }
}

/// The JSON a token service answers with.
#[derive(Debug, serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// A token and when to stop using it.
#[derive(Debug, Clone)]
pub struct Token {
    pub value: String,
    pub valid_until: Instant,
}

/// Reads a token service's answer; the token is used a little before it expires.
pub fn parse_token(body: &[u8], now: Instant) -> Result<Token, String> {
    let resp: TokenResponse = serde_json::from_slice(body).map_err(|e| format!("token response is not JSON: {e}"))?;
    let value = resp.token.or(resp.access_token).filter(|t| !t.is_empty()).ok_or("token response has no token")?;
    if value.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("token contains characters a header cannot carry".into());
    }
    let lifetime = resp.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME).clamp(1, 24 * 3600);
    let margin = (lifetime / 10).min(10);
    Ok(Token { value, valid_until: now + Duration::from_secs(lifetime - margin) })
}

/// Tokens of one remote, by scope. Lives in the remote's upstream client (one thread).
#[derive(Debug, Default)]
pub struct TokenCache {
    map: RefCell<HashMap<String, Token>>,
}

impl TokenCache {
    /// The valid token for `scope`, if any.
    pub fn get(&self, scope: &str, now: Instant) -> Option<String> {
        let map = self.map.borrow();
        map.get(scope).filter(|t| t.valid_until > now).map(|t| t.value.clone())
    }

    pub fn put(&self, scope: &str, token: Token) {
        let mut map = self.map.borrow_mut();
        if map.len() >= MAX_TOKENS {
            map.clear();
        }
        map.insert(scope.to_string(), token);
    }

    /// Forgets the token for `scope` (the upstream refused it).
    pub fn drop_scope(&self, scope: &str) {
        self.map.borrow_mut().remove(scope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let hub = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#;
        let c = parse_challenge(hub).unwrap();
        assert_eq!(c.realm.as_str(), "https://auth.docker.io/token");
        assert_eq!(c.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(c.scope.as_deref(), Some("repository:library/alpine:pull"));
        let multi = r#"bearer  realm="http://127.0.0.1:1/t", scope="repository:a/b:pull,push", service=reg"#;
        let c = parse_challenge(multi).unwrap();
        assert_eq!(c.scope.as_deref(), Some("repository:a/b:pull,push"));
        assert_eq!(c.service.as_deref(), Some("reg"));
        let escaped = r#"Bearer realm="https://x/t",service="a\"b""#;
        assert_eq!(parse_challenge(escaped).unwrap().service.as_deref(), Some("a\"b"));
        for bad in [
            r#"Basic realm="registry""#,
            r#"Bearer service="x""#,
            r#"Bearer realm="file:///etc/passwd""#,
            r#"Bearer realm="not a url""#,
            r#"Bearer realm="https://x/t"#,
            "Bearer",
            "",
        ] {
            assert_eq!(parse_challenge(bad), None, "{bad}");
        }
    }

    #[test]
    fn credentials_go_only_to_the_upstream_or_named_realms() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        let policy =
            RealmPolicy::new("https://registry.example/", &["auth.example".into(), "tokens.example:8443".into()]);
        let cases = [
            ("https://registry.example/token", true),
            ("https://REGISTRY.example:443/token", true),
            ("https://registry.example:444/token", false),
            ("http://registry.example/token", false),
            ("https://auth.example/token", true),
            ("https://auth.example:9000/token", true),
            ("http://auth.example/token", false),
            ("https://tokens.example:8443/t", true),
            ("https://tokens.example/t", false),
            ("https://evil.example/token", false),
            ("https://auth.example.evil.example/token", false),
        ];
        for (realm, want) in cases {
            assert_eq!(policy.allows(&url(realm)), want, "{realm}");
        }
        let plain = RealmPolicy::new("http://127.0.0.1:5000/", &["localhost".into()]);
        assert!(plain.allows(&url("http://127.0.0.1:5000/token")));
        assert!(!plain.allows(&url("http://127.0.0.1:5001/token")));
        assert!(plain.allows(&url("http://localhost:5001/token")));
    }

    #[test]
    fn tokens_expire_a_little_early() {
        let now = Instant::now();
        let t = parse_token(br#"{"token":"abc","expires_in":300}"#, now).unwrap();
        assert_eq!(t.value, "abc");
        assert_eq!(t.valid_until, now + Duration::from_secs(290));
        let t = parse_token(br#"{"access_token":"xyz"}"#, now).unwrap();
        assert_eq!(t.valid_until, now + Duration::from_secs(54));
        assert!(parse_token(br#"{"token":""}"#, now).is_err());
        assert!(parse_token(br#"{"token":"a\nb"}"#, now).is_err());
        assert!(parse_token(b"<html>", now).is_err());
        let cache = TokenCache::default();
        cache.put("s", Token { value: "v".into(), valid_until: now + Duration::from_secs(5) });
        assert_eq!(cache.get("s", now).as_deref(), Some("v"));
        assert_eq!(cache.get("s", now + Duration::from_secs(6)), None);
        cache.drop_scope("s");
        assert_eq!(cache.get("s", now), None);
    }
}

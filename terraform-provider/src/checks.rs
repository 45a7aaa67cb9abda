//! Plan-time checks of a configuration, the same rules the management API applies to a spec
//! (`RemoteSpec::validate`, `VirtualSpec::validate`, `LocalSpec::validate`, `NewToken::validate`
//! in artifactapi), so `terraform plan` reports a bad regex, URL or TTL before anything is
//! applied, on the attribute that holds it, with the server's wording.
//!
//! Unknown values (computed elsewhere in the configuration) are skipped: the server checks
//! them when they are applied. What needs the catalog (whether a member exists, a name is
//! taken) or is served only by some package types is left to the server, whose answer names
//! the attribute too.

use tf_provider::value::ValueAny;

use crate::values::{known_bool, known_int, known_list, known_str, Obj};

/// A refused attribute: its field name as the API writes it (`patterns[1]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// Longest TTL the server accepts (ten years).
pub const MAX_TTL: i64 = 10 * 365 * 24 * 3600;
/// Most members of a virtual.
pub const MAX_MEMBERS: usize = 32;
/// Most grants of a token.
pub const MAX_GRANTS: usize = 64;

/// The package types of artifactapi.
pub const PACKAGE_TYPES: [&str; 10] =
    ["generic", "docker", "helm", "pypi", "npm", "rpm", "alpine", "puppet", "terraform", "goproxy"];

/// What a repository name may be: a path segment and a key everywhere.
pub fn is_repo_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

const NAME_RULE: &str = "1-64 characters of a-z, 0-9, '.', '-', '_', starting with a letter or digit";

fn check_name(o: &Obj, out: &mut Vec<FieldError>) {
    if let Some(name) = known_str(o, "name") {
        if !is_repo_name(name) {
            out.push(err("name", NAME_RULE));
        }
    }
}

fn check_package_type(o: &Obj, out: &mut Vec<FieldError>) {
    if let Some(t) = known_str(o, "package_type") {
        if !PACKAGE_TYPES.contains(&t) {
            out.push(err("package_type", format!("unknown package type {t:?} (one of: {})", PACKAGE_TYPES.join(", "))));
        }
    }
}

/// The known strings of the list at `key`, with their indexes (unknown elements skipped).
fn strings<'a>(o: &'a Obj, key: &str) -> Vec<(usize, &'a str)> {
    known_list(o, key)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, v)| match v {
            ValueAny::String(s) => Some((i, s.as_str())),
            _ => None,
        })
        .collect()
}

fn check_regexes(o: &Obj, key: &str, out: &mut Vec<FieldError>) {
    for (i, p) in strings(o, key) {
        if let Err(e) = regex::RegexBuilder::new(p).size_limit(1 << 20).build() {
            let text = e.to_string();
            let last = text.lines().last().unwrap_or(&text).trim().to_string();
            out.push(err(format!("{key}[{i}]"), format!("invalid regex: {last}")));
        }
    }
}

fn check_base_url(url: &str) -> Result<(), String> {
    let base = url::Url::parse(url).map_err(|e| e.to_string())?;
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        return Err("must be an absolute http(s) URL".into());
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err("put credentials in username/password, not in the URL".into());
    }
    Ok(())
}

/// A `token_realm_hosts` entry: a DNS name or IP address, optionally with `:port`.
fn check_realm_host(entry: &str) -> Result<(), String> {
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

/// A remote's configuration (any package type; the docker attributes when present).
pub fn remote(o: &Obj) -> Vec<FieldError> {
    let mut out = Vec::new();
    check_name(o, &mut out);
    if let Some(url) = known_str(o, "base_url") {
        if let Err(m) = check_base_url(url) {
            out.push(err("base_url", m));
        }
    }
    for key in ["immutable_ttl", "mutable_ttl"] {
        if let Some(v) = known_int(o, key) {
            if !(0..=MAX_TTL).contains(&v) {
                out.push(err(key, format!("0 to {MAX_TTL} seconds")));
            }
        }
    }
    if known_str(o, "password").is_some() && matches!(o.get("username"), None | Some(ValueAny::Null)) {
        out.push(err("username", "required when password is set"));
    }
    for key in ["patterns", "blocklist", "mutable_patterns", "immutable_patterns"] {
        check_regexes(o, key, &mut out);
    }
    for (i, tag) in strings(o, "ban_tags") {
        if tag.is_empty() || tag.len() > 128 {
            out.push(err(format!("ban_tags[{i}]"), "a tag is 1-128 characters"));
        }
    }
    for (i, host) in strings(o, "token_realm_hosts") {
        if let Err(m) = check_realm_host(host) {
            out.push(err(format!("token_realm_hosts[{i}]"), m));
        }
    }
    if known_str(o, "tls_ca").is_some() && known_bool(o, "tls_insecure_skip_verify") == Some(true) {
        out.push(err("tls_ca", "has no effect with tls_insecure_skip_verify (which verifies nothing)"));
    }
    out
}

/// A virtual's configuration: name, type, 1 to 32 well-formed members, none twice, not itself.
pub fn virtual_repo(o: &Obj) -> Vec<FieldError> {
    let mut out = Vec::new();
    check_name(o, &mut out);
    check_package_type(o, &mut out);
    if let Some(members) = known_list(o, "members") {
        if members.is_empty() || members.len() > MAX_MEMBERS {
            out.push(err("members", format!("1 to {MAX_MEMBERS} repository names")));
        }
    }
    let own = known_str(o, "name");
    let members = strings(o, "members");
    for (n, &(i, m)) in members.iter().enumerate() {
        let field = format!("members[{i}]");
        if !is_repo_name(m) {
            out.push(err(field, NAME_RULE));
        } else if Some(m) == own {
            out.push(err(field, format!("{m:?} is the virtual itself")));
        } else if members[..n].iter().any(|&(_, other)| other == m) {
            out.push(err(field, format!("{m:?} is listed twice")));
        }
    }
    out
}

/// A local's configuration: name and type (whether the type's locals are served is the
/// server's to say).
pub fn local(o: &Obj) -> Vec<FieldError> {
    let mut out = Vec::new();
    check_name(o, &mut out);
    check_package_type(o, &mut out);
    out
}

/// A token's configuration: a name of 1-128 printable characters, 1 to 64 grants of `read`,
/// `write` or `admin` on a repository name or `*`, an RFC 3339 expiry.
pub fn token(o: &Obj) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Some(name) = known_str(o, "name") {
        if name.trim().is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            out.push(err("name", "1-128 printable characters"));
        }
    }
    if let Some(scopes) = known_list(o, "scopes") {
        if scopes.is_empty() || scopes.len() > MAX_GRANTS {
            out.push(err("scopes", format!("1 to {MAX_GRANTS} grants")));
        }
        for (i, grant) in scopes.iter().enumerate() {
            let ValueAny::Map(g) = grant else { continue };
            if let Some(ValueAny::String(r)) = g.get("repository") {
                if r != "*" && !is_repo_name(r) {
                    out.push(err(format!("scopes[{i}].repository"), "a repository name or \"*\""));
                }
            }
            if let Some(ValueAny::String(a)) = g.get("access") {
                if !matches!(a.as_str(), "read" | "write" | "admin") {
                    out.push(err(format!("scopes[{i}].access"), "one of read, write, admin"));
                }
            }
        }
    }
    if let Some(e) = known_str(o, "expires_at") {
        if !looks_like_rfc3339(e) {
            out.push(err("expires_at", "an RFC 3339 time, like 2030-01-31T00:00:00Z"));
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; whether the instant is in the future is the
/// server's to say.
fn looks_like_rfc3339(s: &str) -> bool {
    rfc3339_instant(s).is_some()
}

/// The instant an RFC 3339 time denotes, as UTC seconds since 1970 and the fraction's digits
/// (without trailing zeros), so two spellings of one instant compare equal
/// (`2030-01-31T01:00:00+01:00` and `2030-01-31T00:00:00Z`).
pub fn rfc3339_instant(s: &str) -> Option<(i64, String)> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0i64, |n, c| n * 10 + i64::from(c - b'0')))
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut fraction = String::new();
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        fraction = frac[..n].trim_end_matches('0').to_string();
        rest = &frac[n..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] if [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()) => {
            let v = |a: &u8, b: &u8| i64::from(a - b'0') * 10 + i64::from(b - b'0');
            let minutes = v(h1, h2) * 60 + v(m1, m2);
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset * 60, fraction))
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;

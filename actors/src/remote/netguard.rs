//! Which network addresses an upstream request may reach.
//!
//! A remote fetches from its base URL's host; but an index (a PyPI page, an npm packument, a
//! helm `index.yaml`), a redirect `Location` or a `WWW-Authenticate` token realm can name any
//! other host, and without a guard whoever writes those documents could make the proxy fetch
//! from the server's own network: cloud metadata at 169.254.169.254, databases on 10.x, admin
//! ports on loopback. `POST /api/v2/probe` fetches a URL the caller chooses, with the same risk.
//!
//! The rule ([`ReachPolicy`]): the base URL's host is always reachable, on any port (the
//! operator chose the host; indexes and redirects of one server switch between its ports and
//! schemes, `https://nexus.corp/` naming `http://nexus.corp:8081/...`). Any other host is
//! reachable only when every address it resolves to is public ([`is_private`] says which are
//! not: loopback, private, link-local, unique-local, CGNAT, unspecified, multicast, reserved;
//! IPv4 embedded in IPv6 is unwrapped first), unless the remote sets `allow_private_upstreams`.
//!
//! The check happens where the connection is made: [`GuardedResolver`] is the awc client's DNS
//! resolver, and the client connects to exactly the addresses it checked, so a DNS answer that
//! changes between a check and the connection cannot slip through. awc does not resolve IP
//! literals, so the client checks those with [`ReachPolicy::check_literal`] before it sends.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use futures_util::future::LocalBoxFuture;

/// Whether an IPv4 address is not on the public internet.
fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// Whether an address is private, loopback, link-local or otherwise not a public host.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return private_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        }
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`)
/// or NAT64 (`64:ff9b::a.b.c.d`) IPv6 address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, _, _] if !v6.is_loopback() && !v6.is_unspecified() => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        _ => None,
    }
}

/// Why a host may not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    /// The remote whose policy refused it (`None` for a probe of an unsaved configuration).
    pub remote: Option<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves to {}, a private, loopback or link-local address", self.host, self.ip)?;
        if let Some(remote) = &self.remote {
            write!(
                f,
                ", and is not the base URL host of remote {remote}; set allow_private_upstreams on remote {remote} to allow it"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// Where one remote's upstream client may connect (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReachPolicy {
    /// The remote, named in refusals.
    pub remote: Option<String>,
    /// The base URL's host (lower case; IPv6 without brackets): always reachable.
    pub base: Option<String>,
    /// `allow_private_upstreams`: every host is reachable.
    pub allow_private: bool,
}

/// A host as awc's resolver sees it: lower case, IPv6 without brackets.
fn bare(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

impl ReachPolicy {
    /// The policy of remote `remote` whose upstream is `base_url`.
    pub fn for_remote(remote: &str, base_url: &str, allow_private: bool) -> ReachPolicy {
        let base = url::Url::parse(base_url).ok().and_then(|u| Some(bare(u.host_str()?)));
        ReachPolicy { remote: Some(remote.to_string()), base, allow_private }
    }

    /// Public addresses only, whatever the host (a probe of a host no remote names).
    pub fn public_only() -> ReachPolicy {
        ReachPolicy::default()
    }

    /// Any address.
    pub fn unrestricted() -> ReachPolicy {
        ReachPolicy { allow_private: true, ..ReachPolicy::default() }
    }

    fn exempt(&self, host: &str) -> bool {
        self.allow_private || self.base.as_ref().is_some_and(|h| *h == bare(host))
    }

    /// The decision for `host` once resolved to `addrs`.
    pub fn decide(&self, host: &str, addrs: &[IpAddr]) -> Result<(), Refused> {
        if self.exempt(host) {
            return Ok(());
        }
        match addrs.iter().find(|ip| is_private(**ip)) {
            Some(ip) => Err(Refused { host: bare(host), ip: *ip, remote: self.remote.clone() }),
            None => Ok(()),
        }
    }

    /// Checks a URL whose host is an IP literal (awc connects to those without asking the
    /// resolver); names pass here and are checked by [`GuardedResolver`].
    pub fn check_literal(&self, url: &url::Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        self.decide(&ip.to_string(), &[ip])
    }

    /// Resolves `host` (a name, an IPv4 literal or a bracketed or bare IPv6 literal) and
    /// returns its addresses, or the refusal.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error>> {
        let name = bare(host);
        let addrs: Vec<SocketAddr> = match name.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((name.as_str(), port)).await?.collect(),
        };
        let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
        self.decide(&name, &ips)?;
        Ok(addrs)
    }
}

/// Resolves `host` and refuses it when any of its addresses is private (the probe's check of a
/// host no remote names).
pub async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error>> {
    ReachPolicy::public_only().resolve(host, port).await
}

/// The first private address `host` resolves to, if any. Resolution failures are not
/// refusals: the request itself then fails and says why.
pub async fn private_address(host: &str, port: u16) -> Option<IpAddr> {
    match resolve_public(host, port).await {
        Err(e) => e.downcast_ref::<Refused>().map(|r| r.ip),
        Ok(_) => None,
    }
}

/// awc's resolver for one upstream client: resolves names and applies the client's
/// [`ReachPolicy`] to the addresses it will connect to.
#[derive(Debug, Clone, Default)]
pub struct GuardedResolver(pub std::rc::Rc<ReachPolicy>);

impl actix_tls::connect::Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(self.0.resolve(host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_public_addresses() {
        let private = [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ];
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:db8::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ];
        for ip in private {
            assert!(is_private(ip.parse().unwrap()), "{ip} should be private");
        }
        for ip in public {
            assert!(!is_private(ip.parse().unwrap()), "{ip} should be public");
        }
    }

    #[tokio::test]
    async fn literals_and_names_are_checked_after_resolution() {
        for host in ["127.0.0.1", "[::1]", "::1", "localhost", "169.254.169.254", "10.0.0.1"] {
            let ip = private_address(host, 80).await;
            assert!(ip.is_some_and(is_private), "{host}: {ip:?}");
            let e = resolve_public(host, 80).await.unwrap_err();
            assert!(e.to_string().contains("a private, loopback or link-local address"), "{host}: {e}");
        }
        assert_eq!(private_address("8.8.8.8", 80).await, None);
        assert_eq!(resolve_public("8.8.8.8", 443).await.unwrap(), vec!["8.8.8.8:443".parse().unwrap()]);
        // Unresolvable names are not refusals.
        assert_eq!(private_address("no-such-host.invalid", 80).await, None);
    }

    /// The rule, case by case: the base host always, on any port; another host only when
    /// public, unless the remote allows private upstreams.
    #[test]
    fn the_reach_policy_case_by_case() {
        let policy = |base: &str, allow| ReachPolicy::for_remote("r", base, allow);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases: Vec<(ReachPolicy, &str, u16, Vec<IpAddr>, bool)> = vec![
            // The base URL's host: whatever it resolves to.
            (policy("http://127.0.0.1:8080/", false), "127.0.0.1", 8080, vec![ip("127.0.0.1")], true),
            (policy("http://Internal.Example:8080/x/", false), "internal.example", 8080, vec![ip("10.0.0.5")], true),
            (policy("https://[::1]:8443/", false), "[::1]", 8443, vec![ip("::1")], true),
            (policy("https://[::1]:8443/", false), "::1", 8443, vec![ip("::1")], true),
            (policy("https://nexus.corp/", false), "nexus.corp", 443, vec![ip("10.1.1.1")], true),
            // Another port of the base host is the same host.
            (policy("http://127.0.0.1:8080/", false), "127.0.0.1", 6379, vec![ip("127.0.0.1")], true),
            (policy("https://nexus.corp/", false), "nexus.corp", 80, vec![ip("10.1.1.1")], true),
            (policy("https://files.example/", false), "files.example", 8443, vec![ip("93.184.216.34")], true),
            // Other hosts: public addresses only.
            (policy("http://127.0.0.1:8080/", false), "127.0.0.2", 8080, vec![ip("127.0.0.2")], false),
            (policy("https://pypi.example/", false), "files.example", 443, vec![ip("151.101.1.1")], true),
            (policy("https://pypi.example/", false), "metadata.internal", 80, vec![ip("169.254.169.254")], false),
            (policy("https://pypi.example/", false), "mixed.example", 443, vec![ip("8.8.8.8"), ip("10.0.0.1")], false),
            (policy("https://pypi.example/", false), "v6.example", 443, vec![ip("2606:4700::1111")], true),
            (policy("https://pypi.example/", false), "v6.example", 443, vec![ip("fd00::1")], false),
            (policy("https://pypi.example/", false), "v6.example", 443, vec![ip("fe80::1")], false),
            (policy("https://pypi.example/", false), "::ffff:127.0.0.2", 443, vec![ip("::ffff:127.0.0.2")], false),
            (policy("https://pypi.example/", false), "::ffff:8.8.8.8", 443, vec![ip("::ffff:8.8.8.8")], true),
            (policy("https://pypi.example/", false), "localhost", 443, vec![ip("127.0.0.1"), ip("::1")], false),
            // allow_private_upstreams: everything.
            (policy("http://127.0.0.1:8080/", true), "127.0.0.2", 9000, vec![ip("127.0.0.2")], true),
            (policy("https://pypi.example/", true), "metadata.internal", 80, vec![ip("169.254.169.254")], true),
            // A probe of a host no remote names: public only; unrestricted: anything.
            (ReachPolicy::public_only(), "127.0.0.1", 80, vec![ip("127.0.0.1")], false),
            (ReachPolicy::public_only(), "example.com", 80, vec![ip("93.184.216.34")], true),
            (ReachPolicy::unrestricted(), "127.0.0.1", 80, vec![ip("127.0.0.1")], true),
        ];
        for (policy, host, port, addrs, allowed) in cases {
            let got = policy.decide(host, &addrs);
            assert_eq!(got.is_ok(), allowed, "{policy:?} {host}:{port} {addrs:?}: {got:?}");
        }
    }

    #[test]
    fn refusals_name_the_host_the_address_and_the_remedy() {
        let policy = ReachPolicy::for_remote("charts", "http://127.0.0.1:8080/", false);
        let url = url::Url::parse("http://127.0.0.2:9000/a.tgz").unwrap();
        let e = policy.check_literal(&url).unwrap_err().to_string();
        assert_eq!(
            e,
            "127.0.0.2 resolves to 127.0.0.2, a private, loopback or link-local address, and is not the base URL \
             host of remote charts; set allow_private_upstreams on remote charts to allow it"
        );
        let v6 = url::Url::parse("http://[::ffff:a9fe:a9fe]/latest/meta-data").unwrap();
        assert!(policy.check_literal(&v6).unwrap_err().to_string().starts_with("::ffff:169.254.169.254 resolves to"));
        // Names pass the literal check; the resolver decides for them.
        assert_eq!(policy.check_literal(&url::Url::parse("http://localhost:9000/").unwrap()), Ok(()));
        assert_eq!(policy.check_literal(&url::Url::parse("http://127.0.0.1:8080/i.yaml").unwrap()), Ok(()));
        let public = ReachPolicy::public_only().check_literal(&url).unwrap_err().to_string();
        assert_eq!(public, "127.0.0.2 resolves to 127.0.0.2, a private, loopback or link-local address");
    }

    #[tokio::test]
    async fn the_resolver_applies_the_policy_to_resolved_names() {
        let policy = ReachPolicy::for_remote("r", "http://localhost:8080/", false);
        assert!(policy.resolve("localhost", 8080).await.is_ok(), "the base host resolves to loopback, and is allowed");
        assert!(policy.resolve("localhost", 8081).await.is_ok(), "on any port");
        let other = ReachPolicy::for_remote("r", "http://127.0.0.1:8080/", false);
        let e = other.resolve("localhost", 8080).await.unwrap_err();
        let refused = e.downcast_ref::<Refused>().expect("a refusal");
        assert!(refused.ip.is_loopback() && refused.host == "localhost", "{refused:?}");
        let open = ReachPolicy::for_remote("r", "http://127.0.0.1:8080/", true);
        assert!(open.resolve("localhost", 8081).await.is_ok());
    }
}

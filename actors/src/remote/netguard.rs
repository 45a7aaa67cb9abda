//! Which network addresses a request an API caller aimed may reach.
//!
//! `POST /api/v2/probe` fetches a URL the caller chooses, so without a guard it would let
//! anyone holding the admin token scan the server's own network: cloud metadata at
//! 169.254.169.254, databases on 10.x, admin ports on loopback. [`is_private`] says whether an
//! address is one of those (loopback, private, link-local, unique-local, CGNAT, unspecified,
//! multicast, reserved; IPv4 embedded in IPv6 is unwrapped first). [`GuardedResolver`] is the
//! DNS resolver of such a client: it refuses host names that resolve to such an address, and
//! the client connects to exactly the addresses it checked, so a DNS answer that changes
//! between a check and the connection cannot slip through.

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {ip}, a private, loopback or link-local address")]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
}

/// Resolves `host` (a name, an IPv4 literal or a bracketed or bare IPv6 literal) and returns
/// its addresses; refuses it when any of them is private.
pub async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port)).await?.collect(),
    };
    if let Some(private) = addrs.iter().find(|a| is_private(a.ip())) {
        return Err(Box::new(Refused { host: bare.to_string(), ip: private.ip() }));
    }
    Ok(addrs)
}

/// The first private address `host` resolves to, if any. Resolution failures are not
/// refusals: the request itself then fails and says why.
pub async fn private_address(host: &str, port: u16) -> Option<IpAddr> {
    match resolve_public(host, port).await {
        Err(e) => e.downcast_ref::<Refused>().map(|r| r.ip),
        Ok(_) => None,
    }
}

/// A resolver for awc that only hands out public addresses (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl actix_tls::connect::Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(resolve_public(host, port))
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
}

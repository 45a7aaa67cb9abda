//! Alpine remotes, with fixtures the test builds (no apk client installs here): a signed
//! `APKINDEX.tar.gz` (a signature gzip stream, then the index) and `.apk` packages laid out as
//! apk writes them (signature, control and data gzip streams; the index's `C:Q1` is the SHA-1 of
//! the control stream). On every storage/coordination configuration: the index is served
//! byte-identical with no `Content-Encoding`, packages are checked against `C:Q1` and cached, a
//! package rebuilt under the same name is fetched again once the index has moved, and with the
//! upstream stopped both come from the cache. Then the hostile cases: a package that does not
//! match its index (never cached), a broken index (502, the good copy stays), bad names (400).

use std::io::Write;
use std::time::Duration;

use artifactapi_e2e::{matrix, pattern_bytes, sha256_hex, try_fetch, File, Options, Server, Storage, Upstream};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;
use sha1::Digest as _;

const REMOTE: &str = "apk";
const DIR: &str = "v3.19/main/x86_64/";
/// The data segment of each package: a real size, incompressible.
const DATA: usize = 4 << 20;

/// A gzip stream of a tar holding `files`; `cut` drops the end-of-archive blocks, as apk does for
/// every segment but the last.
fn tar_gz(files: &[(&str, &[u8])], cut: bool) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, body) in files {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, *body).unwrap();
    }
    let mut raw = tar.into_inner().unwrap();
    if cut {
        raw.truncate(raw.len() - 1024);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

/// A package `{name}-{version}.apk`: its bytes and its `C:` value.
fn apk(name: &str, version: &str, seed: u64) -> (Vec<u8>, String) {
    let sig = tar_gz(&[(".SIGN.RSA.test.rsa.pub", b"signature bytes")], true);
    let pkginfo = format!("pkgname = {name}\npkgver = {version}\narch = x86_64\nbuild = {seed}\n");
    let control = tar_gz(&[(".PKGINFO", pkginfo.as_bytes())], true);
    let data = tar_gz(&[(&format!("usr/share/{name}/data.bin"), &pattern_bytes(DATA, seed))], false);
    let q1 = format!("Q1{}", base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&control)));
    ([sig, control, data].concat(), q1)
}

/// A signed index listing `(name, version, C:)`.
fn apkindex(entries: &[(&str, &str, &str)]) -> Vec<u8> {
    let text: String =
        entries.iter().map(|(p, v, c)| format!("C:{c}\nP:{p}\nV:{v}\nA:x86_64\nS:1\nI:1\nT:{p}\n\n")).collect();
    let sig = tar_gz(&[(".SIGN.RSA.test.rsa.pub", b"index signature")], true);
    [sig, tar_gz(&[("DESCRIPTION", b"v3.19"), ("APKINDEX", text.as_bytes())], false)].concat()
}

fn publish(up: &Upstream, index: &[u8], packages: &[(&str, &[u8])]) {
    up.put(&format!("/{DIR}APKINDEX.tar.gz"), File::new(index.to_vec()).content_type("application/octet-stream"));
    for (file, body) in packages {
        up.put(&format!("/{DIR}{file}"), File::new(body.to_vec()));
    }
}

async fn alpine_index_and_packages_through_a_remote(opts: Options) {
    let up = Upstream::start().await;
    let (musl, musl_q) = apk("musl", "1.2.4-r2", 1);
    let (bb, bb_q) = apk("busybox", "1.36.1-r15", 2);
    let index = apkindex(&[("musl", "1.2.4-r2", &musl_q), ("busybox", "1.36.1-r15", &bb_q)]);
    publish(&up, &index, &[("musl-1.2.4-r2.apk", &musl), ("busybox-1.36.1-r15.apk", &bb)]);
    let s = Server::start(opts).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "alpine", "base_url": up.url("/"), "mutable_ttl": 1 }))
        .await;

    let r = s.proxy_get(REMOTE, &format!("{DIR}APKINDEX.tar.gz")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert!(r.body == index, "the index byte for byte (its signature covers those bytes)");
    assert_eq!(r.header("content-encoding"), None, "{}", r.describe());
    for (file, body) in [("musl-1.2.4-r2.apk", &musl), ("busybox-1.36.1-r15.apk", &bb)] {
        let r = s.proxy_get(REMOTE, &format!("{DIR}{file}")).await;
        assert_eq!(r.status, StatusCode::OK, "{file}: {}\n{}", r.describe(), s.log_tail(20));
        assert!(r.body == *body, "{file}: bytes differ");
        s.wait_cached(REMOTE, &format!("{DIR}{file}")).await;
        assert_eq!(up.count(&format!("/{DIR}{file}")), 1, "{file}: fetched upstream once");
    }

    // busybox rebuilt under the same name; the index moves with it.
    let (bb2, bb2_q) = apk("busybox", "1.36.1-r15", 3);
    assert_ne!(bb_q, bb2_q);
    let index2 = apkindex(&[("musl", "1.2.4-r2", &musl_q), ("busybox", "1.36.1-r15", &bb2_q)]);
    publish(&up, &index2, &[("busybox-1.36.1-r15.apk", &bb2)]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s.proxy_get(REMOTE, &format!("{DIR}APKINDEX.tar.gz")).await;
    assert!(r.status == StatusCode::OK && r.body == index2, "the new index: {}", r.describe());
    let r = s.proxy_get(REMOTE, &format!("{DIR}busybox-1.36.1-r15.apk")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert!(r.body == bb2, "the rebuilt package, not the old bytes");
    assert_eq!(up.count(&format!("/{DIR}busybox-1.36.1-r15.apk")), 2, "fetched again after the index moved");
    s.wait_cached(REMOTE, &format!("{DIR}busybox-1.36.1-r15.apk")).await;

    // The upstream down: the index (stale) and both packages from the cache.
    up.down().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s.proxy_get(REMOTE, &format!("{DIR}APKINDEX.tar.gz")).await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "STALE"), "{}", r.describe());
    assert!(r.body == index2);
    for (file, body) in [("musl-1.2.4-r2.apk", &musl), ("busybox-1.36.1-r15.apk", &bb2)] {
        let r = s.proxy_get(REMOTE, &format!("{DIR}{file}")).await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{file}: {}", r.describe());
        assert_eq!(sha256_hex(&r.body), sha256_hex(body), "{file}");
    }
}
matrix!(alpine_index_and_packages_through_a_remote);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_that_does_not_match_its_index_is_never_cached() {
    let up = Upstream::start().await;
    let (good, _) = apk("foo", "1.0-r0", 1);
    let (_, other_q) = apk("foo", "1.0-r0", 9);
    publish(&up, &apkindex(&[("foo", "1.0-r0", &other_q)]), &[("foo-1.0-r0.apk", &good)]);
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "alpine", "base_url": up.url("/") })).await;
    let path = format!("{DIR}foo-1.0-r0.apk");
    for n in 1..=2 {
        let r = try_fetch(s.client().get(s.proxy_url(REMOTE, &path))).await;
        assert!(
            r.as_ref().map_or(true, |r| r.status != StatusCode::OK),
            "a complete 200: {:?}",
            r.map(|r| r.describe())
        );
        assert_eq!(up.count(&format!("/{path}")), n, "asked upstream again: nothing was cached");
    }
    // A package the index does not list is not fetched at all.
    let r = s.proxy_get(REMOTE, &format!("{DIR}bar-1.0-r0.apk")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    assert_eq!(up.count(&format!("/{DIR}bar-1.0-r0.apk")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_index_is_refused_and_the_good_copy_stays() {
    let up = Upstream::start().await;
    let (foo, q) = apk("foo", "1.0-r0", 1);
    let index = apkindex(&[("foo", "1.0-r0", &q)]);
    publish(&up, &index, &[("foo-1.0-r0.apk", &foo)]);
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "alpine", "base_url": up.url("/"), "mutable_ttl": 1 }))
        .await;
    let path = format!("{DIR}APKINDEX.tar.gz");
    assert!(s.proxy_get(REMOTE, &path).await.body == index);
    s.wait_cached(REMOTE, &path).await;
    up.put(&format!("/{path}"), File::new(&b"<html>maintenance</html>"[..]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s.proxy_get(REMOTE, &path).await;
    assert!(r.status == StatusCode::BAD_GATEWAY || (r.status == StatusCode::OK && r.body == index), "{}", r.describe());
    let r = s.proxy_get(REMOTE, &format!("{DIR}foo-1.0-r0.apk")).await;
    assert!(r.status == StatusCode::OK && r.body == foo, "the good index still serves: {}", r.describe());
    for bad in [
        "v3.19/main/x86_64/a%20b.apk",
        "v3.19/main/x86_64/a;rm.apk",
        "v3.19/%2e%2e/x86_64/a.apk",
        "v3.19/x%2f..%2fa.apk",
    ] {
        // Raw: an URL parser would resolve the dot segments before they are sent.
        let r = artifactapi_e2e::raw::request(s.port(), "GET", &format!("/api/v1/remote/{REMOTE}/{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
    }
}

/// A virtual of two alpine remotes serves the first member's signed index byte for byte, and
/// each package from the first member whose index lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_serves_the_first_members_index() {
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let (foo, foo_q) = apk("foo", "1.0-r0", 1);
    let (bar, bar_q) = apk("bar", "2.0-r0", 2);
    let index_a = apkindex(&[("foo", "1.0-r0", &foo_q)]);
    publish(&a, &index_a, &[("foo-1.0-r0.apk", &foo)]);
    publish(&b, &apkindex(&[("bar", "2.0-r0", &bar_q)]), &[("bar-2.0-r0.apk", &bar)]);
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    for (name, up) in [("apk-a", &a), ("apk-b", &b)] {
        s.create_remote(json!({ "name": name, "package_type": "alpine", "base_url": up.url("/") })).await;
    }
    let virt = json!({ "name": "apk-all", "package_type": "alpine", "members": ["apk-a", "apk-b"] });
    let r = s.send_json(reqwest::Method::POST, "/api/v2/virtuals", &virt).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let r = s.get(&format!("/api/v1/virtual/apk-all/{DIR}APKINDEX.tar.gz")).await;
    assert!(r.status == StatusCode::OK && r.body == index_a, "the first member's index: {}", r.describe());
    assert_eq!(r.header("content-encoding"), None);
    for (file, body) in [("foo-1.0-r0.apk", &foo), ("bar-2.0-r0.apk", &bar)] {
        let r = s.get(&format!("/api/v1/virtual/apk-all/{DIR}{file}")).await;
        assert!(r.status == StatusCode::OK && r.body == *body, "{file}: {}", r.describe());
    }
}

//! rpm remotes proven with the real dnf against a repository built by the real `rpmbuild` and
//! `createrepo_c`, served by a static upstream the test owns. The main scenario, on every
//! storage/coordination configuration: two noarch packages (one requires the other, one
//! carrying a 4 MB payload), `dnf --installroot` install through the remote; again with the
//! upstream stopped and a fresh dnf cache, from the cache alone; again after the upstream
//! published a new version (the new `repomd.xml`, its data files and the new package arrive
//! together); through a virtual. Then the hostile cases: a `repomd.xml` naming a data file the
//! upstream lacks (502, the old snapshot, its signature and its files stay), and a package or a
//! data file whose bytes do not match the checksum their index gives (never cached), packages
//! that primary places on another host with `xml:base`, an oversize `repomd.xml` (502), and a
//! package found in a primary of 20,000 packages. zstd and xz repositories: `rpm_compressed.rs`.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use artifactapi_e2e::rpm::{build, data_files, dnf_install, installed, repository_packed, Packed, APP, LIB};
use artifactapi_e2e::{matrix, try_fetch, File, Options, Server, Storage, Upstream};
use reqwest::StatusCode;
use serde_json::json;

const REMOTE: &str = "rpms";

/// A repository directory holding `packages` below `Packages/`, indexed by `createrepo_c`.
fn repository(dir: &Path, packages: &[&Path]) {
    repository_at(dir, packages, None)
}

/// [`repository`], with `baseurl` as every package's `xml:base` when given.
fn repository_at(dir: &Path, packages: &[&Path], baseurl: Option<&str>) {
    repository_packed(dir, packages, baseurl, Packed::Gzip)
}

/// Serves the repository at `dir` from `up`, replacing what it served before.
fn publish(up: &Upstream, dir: &Path, previous: Option<&Path>) {
    if let Some(prev) = previous {
        for e in std::fs::read_dir(prev.join("repodata")).expect("old repodata") {
            let name = e.expect("entry").file_name();
            up.remove(&format!("repodata/{}", name.to_string_lossy()));
        }
    }
    up.load_dir(dir).expect("load repository");
}

async fn setup(opts: Options) -> (Server, Upstream, tempfile::TempDir) {
    let up = Upstream::start().await;
    let s = Server::start(opts).await;
    s.create_remote(json!({ "name": REMOTE, "package_type": "rpm", "base_url": up.base_url(), "mutable_ttl": 1 }))
        .await;
    (s, up, tempfile::tempdir().expect("tempdir"))
}

async fn dnf_through_remote(opts: Options) {
    let (s, up, work) = setup(opts).await;
    let w = work.path().to_path_buf();
    let top = w.join("build");
    let lib1 = build(&top, LIB, "1.0", None, 4 << 20);
    let app1 = build(&top, APP, "1.0", Some(&format!("{LIB} >= 1.0")), 64 << 10);
    let v1 = w.join("repo-v1");
    repository(&v1, &[&lib1, &app1]);
    publish(&up, &v1, None);
    let proxy = s.proxy_url(REMOTE, "");

    let direct = tokio::task::spawn_blocking({
        let (w, base) = (w.clone(), up.base_url());
        move || dnf_install(&w, "direct", &base, &[APP])
    });
    let (_, took_direct) = direct.await.expect("dnf task").expect("dnf install direct");
    let fetched_direct = up.count(&format!("Packages/{LIB}-1.0-1.noarch.rpm"));

    let through = tokio::task::spawn_blocking({
        let (w, proxy) = (w.clone(), proxy.clone());
        move || dnf_install(&w, "proxy", &proxy, &[APP])
    });
    let (root, took_proxy) = through.await.expect("dnf task").unwrap_or_else(|e| panic!("dnf through {proxy}: {e}"));
    eprintln!("rpm: dnf install of {APP} direct {took_direct:?}, through the remote (cold) {took_proxy:?}");
    assert_eq!(installed(&root, LIB), "rpmtest-lib-1.0");
    assert_eq!(installed(&root, APP), "rpmtest-app-1.0");
    assert_eq!(std::fs::read(root.join(format!("usr/share/rpmtest/{LIB}.bin"))).expect("payload").len(), 4 << 20);
    assert_eq!(up.count(&format!("Packages/{LIB}-1.0-1.noarch.rpm")), fetched_direct + 1, "fetched once");

    // The upstream stops: a fresh dnf cache installs from the snapshot alone.
    up.down().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = s.proxy_get(REMOTE, "repodata/repomd.xml").await;
    assert_eq!((stale.status, stale.x_cache()), (StatusCode::OK, "STALE"), "{}", stale.describe());
    let offline = tokio::task::spawn_blocking({
        let (w, proxy) = (w.clone(), proxy.clone());
        move || dnf_install(&w, "offline", &proxy, &[APP])
    });
    let (root, took_offline) =
        offline.await.expect("dnf task").unwrap_or_else(|e| panic!("dnf offline: {e}\n{}", s.log_tail(30)));
    eprintln!("rpm: dnf install through the remote, upstream stopped {took_offline:?}");
    assert_eq!(installed(&root, APP), "rpmtest-app-1.0");

    // The upstream publishes 1.1 of both: the new repomd.xml, its data files and the new
    // packages arrive together.
    up.up().await;
    let lib2 = build(&top, LIB, "1.1", None, 4 << 20);
    let app2 = build(&top, APP, "1.1", Some(&format!("{LIB} >= 1.1")), 64 << 10);
    let v2 = w.join("repo-v2");
    repository(&v2, &[&lib1, &app1, &lib2, &app2]);
    publish(&up, &v2, Some(&v1));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Serving the new repomd.xml means its data files are in the cache already: with the
    // upstream stopped right after, every one of them is still served.
    let served = s.proxy_get(REMOTE, "repodata/repomd.xml").await;
    assert_eq!(served.body.as_ref(), std::fs::read(v2.join("repodata/repomd.xml")).expect("repomd v2").as_slice());
    up.down().await;
    for name in data_files(&v2) {
        let r = s.proxy_get(REMOTE, &format!("repodata/{name}")).await;
        assert_eq!(r.status, StatusCode::OK, "{name} arrived with its repomd.xml: {}", r.describe());
        assert_eq!(r.body.as_ref(), std::fs::read(v2.join("repodata").join(&name)).expect("file").as_slice());
    }
    // A client that read the previous repomd.xml just before still gets its data files.
    for name in data_files(&v1) {
        let r = s.proxy_get(REMOTE, &format!("repodata/{name}")).await;
        assert_eq!(r.status, StatusCode::OK, "{name} of the previous snapshot: {}", r.describe());
        assert_eq!(r.body.as_ref(), std::fs::read(v1.join("repodata").join(&name)).expect("file").as_slice());
    }
    up.up().await;
    let updated = tokio::task::spawn_blocking({
        let (w, proxy) = (w.clone(), proxy.clone());
        move || dnf_install(&w, "updated", &proxy, &[APP])
    });
    let (root, _) = updated.await.expect("dnf task").unwrap_or_else(|e| panic!("dnf after the update: {e}"));
    assert_eq!(installed(&root, LIB), "rpmtest-lib-1.1");
    assert_eq!(installed(&root, APP), "rpmtest-app-1.1");
    let asc = s.proxy_get(REMOTE, "repodata/repomd.xml.asc").await;
    assert_eq!(asc.status, StatusCode::NOT_FOUND, "an unsigned repository: {}", asc.describe());

    // A virtual whose first member is this remote serves its snapshot to dnf.
    let spec = json!({ "name": "rpm-all", "package_type": "rpm", "members": [REMOTE] });
    let r = s.send_json(reqwest::Method::POST, "/api/v2/virtuals", &spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let virtual_url = s.url("/api/v1/virtual/rpm-all/");
    let through_virtual = tokio::task::spawn_blocking({
        let w = w.clone();
        move || dnf_install(&w, "virtual", &virtual_url, &[APP])
    });
    let (root, _) = through_virtual.await.expect("dnf task").unwrap_or_else(|e| panic!("dnf through the virtual: {e}"));
    assert_eq!(installed(&root, APP), "rpmtest-app-1.1");
}

matrix!(dnf_through_remote);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repomd_naming_missing_files_keeps_the_old_snapshot() {
    let (s, up, work) = setup(Options::new(Storage::Fs, false)).await;
    let w = work.path();
    let lib1 = build(&w.join("build"), LIB, "1.0", None, 1024);
    let v1 = w.join("repo-v1");
    repository(&v1, &[&lib1]);
    publish(&up, &v1, None);
    up.put("repodata/repomd.xml.asc", File::new("signature of v1"));
    let good = s.proxy_get(REMOTE, "repodata/repomd.xml").await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.describe());
    let old_files = data_files(&v1);
    let asc = s.proxy_get(REMOTE, "repodata/repomd.xml.asc").await;
    assert_eq!((asc.status, asc.text().as_str()), (StatusCode::OK, "signature of v1"), "{}", asc.describe());

    // A new repomd.xml whose data files the upstream does not have.
    let lib2 = build(&w.join("build"), LIB, "2.0", None, 1024);
    let v2 = w.join("repo-v2");
    repository(&v2, &[&lib1, &lib2]);
    up.put("repodata/repomd.xml", File::new(std::fs::read(v2.join("repodata/repomd.xml")).expect("repomd")));
    up.put("repodata/repomd.xml.asc", File::new("signature of v2"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let broken = s.proxy_get(REMOTE, "repodata/repomd.xml").await;
    assert_eq!(broken.status, StatusCode::BAD_GATEWAY, "{}", broken.describe());
    assert!(broken.text().contains("previous snapshot stays"), "{}", broken.text());
    // The old snapshot's files are all still served, from the cache.
    up.down().await;
    for name in &old_files {
        let r = s.proxy_get(REMOTE, &format!("repodata/{name}")).await;
        assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.describe());
        assert_eq!(r.body.as_ref(), std::fs::read(v1.join("repodata").join(name)).expect("file").as_slice());
    }
    // The signature served is still the one of the snapshot's repomd.xml.
    let asc = s.proxy_get(REMOTE, "repodata/repomd.xml.asc").await;
    assert_eq!((asc.status, asc.text().as_str()), (StatusCode::OK, "signature of v1"), "{}", asc.describe());
    let repomd = s.proxy_get(REMOTE, "repodata/repomd.xml").await;
    assert_eq!(repomd.status, StatusCode::BAD_GATEWAY, "still the broken one upstream: {}", repomd.describe());
    // The broken one's data files were never served.
    for name in data_files(&v2) {
        let r = s.proxy_get(REMOTE, &format!("repodata/{name}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{name}: {}", r.describe());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_mismatches_are_never_cached() {
    let (s, up, work) = setup(Options::new(Storage::Fs, false)).await;
    let w = work.path();
    let lib1 = build(&w.join("build"), LIB, "1.0", None, 256 << 10);
    let v1 = w.join("repo-v1");
    repository(&v1, &[&lib1]);
    publish(&up, &v1, None);
    // A package whose bytes are not what primary.xml says.
    let path = format!("Packages/{LIB}-1.0-1.noarch.rpm");
    let mut bytes = std::fs::read(&lib1).expect("rpm");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    up.put(&path, File::new(bytes));
    for attempt in 1..=2 {
        let r = try_fetch(s.client().get(s.proxy_url(REMOTE, &path))).await;
        assert!(
            !matches!(&r, Ok(f) if f.status == StatusCode::OK && f.body.as_ref() == std::fs::read(&lib1).unwrap().as_slice()),
            "attempt {attempt}: a tampered package was served whole"
        );
        assert_eq!(up.count(&path), attempt, "attempt {attempt}: fetched upstream again, never from a cache");
    }

    // A data file whose bytes do not match repomd.xml: 502, nothing served.
    let primary = data_files(&v1).into_iter().find(|n| n.contains("primary")).expect("primary");
    let (s2, up2) = (Server::start(Options::new(Storage::Fs, false)).await, Upstream::start().await);
    up2.load_dir(&v1).expect("load");
    up2.put(&format!("repodata/{primary}"), File::new(b"not the primary".to_vec()));
    s2.create_remote(json!({ "name": REMOTE, "package_type": "rpm", "base_url": up2.base_url() })).await;
    let r = s2.proxy_get(REMOTE, "repodata/repomd.xml").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    let r = s2.proxy_get(REMOTE, &format!("repodata/{primary}")).await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_follow_xml_base_and_oversize_metadata_is_refused() {
    let (s, up, work) = setup(Options::new(Storage::Fs, false)).await;
    let w = work.path();
    // The upstream serves the metadata; primary's xml:base places the packages on a mirror.
    let mirror = Upstream::start_with(Ipv4Addr::new(127, 0, 0, 2), None).await;
    let spec = json!({
        "name": "based", "package_type": "rpm", "base_url": up.base_url(), "allow_private_upstreams": true
    });
    s.create_remote(spec).await;
    let lib1 = build(&w.join("build"), LIB, "1.0", None, 256 << 10);
    let repo = w.join("repo");
    repository_at(&repo, &[&lib1], Some(&mirror.url("/pkgs/")));
    let path = format!("Packages/{LIB}-1.0-1.noarch.rpm");
    up.load_dir(&repo).expect("load");
    up.remove(&path);
    let bytes = std::fs::read(&lib1).expect("rpm");
    mirror.put(&format!("pkgs/{path}"), File::new(bytes.clone()));
    for _ in 0..2 {
        let r = s.proxy_get("based", &path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
        assert_eq!(r.body.as_ref(), bytes.as_slice());
    }
    assert_eq!(mirror.count(&format!("pkgs/{path}")), 1, "fetched from the xml:base once");
    assert_eq!(up.count(&path), 0, "never from the repository's own host");

    // A repomd.xml of more than 4 MiB is refused: 502, nothing served.
    let huge = Upstream::start().await;
    let padding = "x".repeat(5 << 20);
    let body = format!("<?xml version=\"1.0\"?><repomd><revision>{padding}</revision></repomd>");
    huge.put("repodata/repomd.xml", File::new(body));
    s.create_remote(json!({ "name": "huge", "package_type": "rpm", "base_url": huge.base_url() })).await;
    let r = s.proxy_get("huge", "repodata/repomd.xml").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    assert!(r.text().contains("larger than"), "{}", r.text());
}

/// A primary.xml of 20,000 packages (the real one last): the package is found, checked and
/// served; the time the first lookup takes (reading the whole primary once) is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_is_found_in_a_large_primary() {
    use std::io::{Read, Write};
    let (s, up, work) = setup(Options::new(Storage::Fs, false)).await;
    let w = work.path();
    let lib1 = build(&w.join("build"), LIB, "1.0", None, 1024);
    let repo = w.join("repo");
    repository(&repo, &[&lib1]);
    let old = data_files(&repo).into_iter().find(|n| n.ends_with("-primary.xml.gz")).expect("primary");
    let mut xml = String::new();
    flate2::read::GzDecoder::new(std::fs::read(repo.join("repodata").join(&old)).expect("read").as_slice())
        .read_to_string(&mut xml)
        .expect("gunzip");
    let (start, end) = (xml.find("<package ").expect("package"), xml.rfind("</package>").expect("end") + 10);
    let real = xml[start..end].to_string();
    let mut fakes = String::new();
    for i in 0..20_000 {
        fakes.push_str(&real.replace(LIB, &format!("fake{i}")));
        fakes.push('\n');
    }
    let big = format!("{}{fakes}{}", &xml[..start], &xml[start..]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(big.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let old_sum = old.trim_end_matches("-primary.xml.gz").to_string();
    let new_sum = artifactapi_e2e::sha256_hex(&gz);
    std::fs::remove_file(repo.join("repodata").join(&old)).expect("remove");
    std::fs::write(repo.join("repodata").join(format!("{new_sum}-primary.xml.gz")), &gz).expect("write");
    let repomd = std::fs::read_to_string(repo.join("repodata/repomd.xml")).expect("repomd");
    std::fs::write(repo.join("repodata/repomd.xml"), repomd.replace(&old_sum, &new_sum)).expect("repomd");
    up.load_dir(&repo).expect("load");

    let path = format!("Packages/{LIB}-1.0-1.noarch.rpm");
    let started = Instant::now();
    let r = s.proxy_get(REMOTE, &path).await;
    eprintln!(
        "rpm: first package of a primary of {} MB ({} MB gzip, 20,001 packages): {:?}",
        big.len() >> 20,
        gz.len() >> 20,
        started.elapsed()
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(r.body.as_ref(), std::fs::read(&lib1).expect("rpm").as_slice());
    let r = s.proxy_get(REMOTE, "Packages/fake19999-1.0-1.noarch.rpm").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "listed, but not upstream: {}", r.describe());
}

/// A repository (zstd data files) whose primary places every package on a second server
/// (`xml:base`): dnf installs through the remote and never talks to that server itself. The
/// served primary is a gzip copy with no `xml:base` (and the rewritten snapshot no signature); the remote fetched each package
/// from the server primary names, once. A remote that does not allow private upstreams refuses
/// to fetch from that (private) address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnf_gets_packages_from_another_host_through_the_remote() {
    use std::io::Read;
    let (s, up, work) = setup(Options::new(Storage::Fs, false)).await;
    let w = work.path();
    let mirror = Upstream::start_with(Ipv4Addr::new(127, 0, 0, 2), None).await;
    let spec = json!({
        "name": "based", "package_type": "rpm", "base_url": up.base_url(), "allow_private_upstreams": true
    });
    s.create_remote(spec).await;
    let lib1 = build(&w.join("build"), LIB, "1.0", None, 256 << 10);
    let app1 = build(&w.join("build"), APP, "1.0", Some(&format!("{LIB} >= 1.0")), 16 << 10);
    let repo = w.join("repo");
    repository_packed(&repo, &[&lib1, &app1], Some(&mirror.url("/pkgs/")), Packed::Zstd);
    up.load_dir(&repo).expect("load");
    up.put("repodata/repomd.xml.asc", File::new("signature of the upstream's repomd.xml"));
    for rpm in [&lib1, &app1] {
        let path = format!("Packages/{}", rpm.file_name().expect("name").to_string_lossy());
        up.remove(&path);
        mirror.put(&format!("pkgs/{path}"), File::new(std::fs::read(rpm).expect("rpm")));
    }

    let proxy = s.proxy_url("based", "");
    let installed_root = tokio::task::spawn_blocking({
        let (w, proxy) = (w.to_path_buf(), proxy.clone());
        move || dnf_install(&w, "based", &proxy, &[APP])
    });
    let (root, _) = installed_root.await.expect("dnf task").unwrap_or_else(|e| panic!("dnf: {e}\n{}", s.log_tail(30)));
    assert_eq!(installed(&root, APP), "rpmtest-app-1.0");
    assert_eq!(installed(&root, LIB), "rpmtest-lib-1.0");
    let lib_path = format!("Packages/{LIB}-1.0-1.noarch.rpm");
    assert_eq!(mirror.count(&format!("pkgs/{lib_path}")), 1, "fetched once, by the remote");
    let cached = s.proxy_get("based", &lib_path).await;
    assert_eq!((cached.status, cached.x_cache()), (StatusCode::OK, "HIT"), "dnf downloaded it through the remote");

    // The served primary (the upstream's is zstd) is a gzip copy without xml:base; the
    // rewritten repomd.xml names it with its checksum, and the other data files as they were.
    let repomd = s.proxy_get("based", "repodata/repomd.xml").await.text();
    assert!(!repomd.contains("xml:base"), "{repomd}");
    assert!(repomd.contains("-filelists.xml.zst\"") && repomd.contains("-primary.xml.gz\""), "{repomd}");
    let href =
        repomd.split("<location href=\"").skip(1).filter_map(|r| r.split('"').next()).find(|h| h.contains("primary"));
    let href = href.expect("primary in repomd.xml");
    let primary = s.proxy_get("based", href).await;
    assert_eq!(primary.status, StatusCode::OK, "{}", primary.describe());
    assert!(href.contains(&artifactapi_e2e::sha256_hex(&primary.body)), "{href} named by its checksum");
    let mut xml = String::new();
    flate2::read::GzDecoder::new(primary.body.as_ref()).read_to_string(&mut xml).expect("gunzip");
    assert!(xml.contains(&format!("href=\"{lib_path}\"")) && !xml.contains("xml:base"), "{xml}");
    let asc = s.proxy_get("based", "repodata/repomd.xml.asc").await;
    assert_eq!(asc.status, StatusCode::NOT_FOUND, "the upstream's signature is not of the served repomd.xml");

    // Without allow_private_upstreams, the other (private) host is never fetched from.
    s.create_remote(json!({ "name": "strict", "package_type": "rpm", "base_url": up.base_url() })).await;
    let r = s.proxy_get("strict", &format!("Packages/{APP}-1.0-1.noarch.rpm")).await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(mirror.count(&format!("pkgs/Packages/{APP}-1.0-1.noarch.rpm")), 1, "only the allowed remote's fetch");
}

//! rpm remotes in front of a mirror service: `.repo` files that say `metalink=` or
//! `mirrorlist=` instead of `baseurl=`. The test owns the mirror service (an upstream serving a
//! metalink 3.0 document as Fedora's MirrorManager writes it, and a mirror list) and a mirror
//! on another loopback address serving a repository built by `rpmbuild` and `createrepo_c`.
//! The real dnf installs through the remote with `metalink=` and with `mirrorlist=`, every
//! download coming through the remote (the mirror sees each file once); again with the mirror
//! stopped and a fresh dnf cache; a remote that does not allow private upstreams refuses to
//! fetch from the (private) mirror, and no remote fetches a mirror its documents do not list.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use artifactapi_e2e::rpm::{dnf_install_from, installed, lib_and_app, repository_packed, Packed, Repo, APP, LIB};
use artifactapi_e2e::{sha256_hex, File, Options, Server, Storage, Upstream};
use reqwest::StatusCode;
use serde_json::json;

/// A metalink for the `repomd.xml` bytes `repomd`, naming it on each of `mirrors` (repository
/// URLs ending with `/`), and on an rsync mirror dnf cannot use through a proxy.
fn metalink(repomd: &[u8], mirrors: &[String]) -> String {
    let urls: String = mirrors
        .iter()
        .enumerate()
        .map(|(i, m)| {
            format!(
                "    <url protocol=\"http\" type=\"http\" location=\"DE\" preference=\"{}\">{m}repodata/repomd.xml</url>\n",
                100 - i
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="Mon, 07 Dec 2026 15:00:00 GMT" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1733580000</mm0:timestamp>
   <size>{size}</size>
   <verification>
    <hash type="sha256">{sha}</hash>
   </verification>
   <resources maxconnections="1">
{urls}    <url protocol="rsync" type="rsync" location="DE" preference="1">rsync://mirror.example/fedora/repodata/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>
"#,
        size = repomd.len(),
        sha = sha256_hex(repomd),
    )
}

/// dnf installs the application from `repo` into a fresh root `label` below `w`, on a thread
/// of its own; the root and how long dnf took.
async fn install(w: &Path, label: &str, repo: Repo) -> Result<(PathBuf, Duration), String> {
    let (w, label) = (w.to_path_buf(), label.to_string());
    tokio::task::spawn_blocking(move || dnf_install_from(&w, &label, &repo, &[APP])).await.expect("dnf task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnf_installs_through_a_metalink_and_a_mirrorlist() {
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let (lib1, app1) = lib_and_app(&w.join("build"), "1.0", 4 << 20);
    // The mirror: the repository below /fedora/os/, on another (private) loopback address.
    let mirror = Upstream::start_with(Ipv4Addr::new(127, 0, 0, 2), None).await;
    let root = w.join("mirror");
    repository_packed(&root.join("fedora/os"), &[&lib1, &app1], None, Packed::Zstd);
    mirror.load_dir(&root).expect("load mirror");
    let repo_url = mirror.url("/fedora/os/");
    let repomd = std::fs::read(root.join("fedora/os/repodata/repomd.xml")).expect("repomd");
    // The mirror service: a metalink and a mirror list naming the mirror.
    let service = Upstream::start().await;
    service.put("metalink", File::new(metalink(&repomd, std::slice::from_ref(&repo_url))));
    service.put("mirrorlist", File::new(format!("# repo = test arch = noarch\n{repo_url}\nftp://old.example/os/\n")));
    let spec = json!({
        "name": "fedora", "package_type": "rpm", "base_url": service.base_url(), "allow_private_upstreams": true
    });
    s.create_remote(spec).await;

    // The metalink as clients get it: the mirror through the remote, the hash as it was.
    let served = s.proxy_get("fedora", "metalink?repo=test-1&arch=noarch").await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.describe());
    let text = served.text();
    let through = s.proxy_url("fedora", &format!("_mirror/http/127.0.0.2:{}/fedora/os/", mirror.port()));
    assert!(text.contains(&format!(">{through}repodata/repomd.xml</url>")), "{text}");
    assert!(text.contains(&sha256_hex(&repomd)) && !text.contains("rsync://"), "{text}");
    let asked = service.requests("/metalink");
    assert_eq!(asked.last().and_then(|r| r.query.clone()).as_deref(), Some("arch=noarch&repo=test-1"), "query kept");

    let metalink_url = s.proxy_url("fedora", "metalink?repo=test-1&arch=noarch");
    let (direct, took_direct) =
        install(w, "direct", Repo::via("metalink", &service.url("metalink?repo=test-1&arch=noarch")))
            .await
            .unwrap_or_else(|e| panic!("dnf with the metalink direct: {e}"));
    assert_eq!(installed(&direct, APP), "rpmtest-app-1.0");
    let lib_path = format!("fedora/os/Packages/{LIB}-1.0-1.noarch.rpm");
    let fetched_direct = mirror.count(&lib_path);
    let (root_m, took_metalink) = install(w, "metalink", Repo::via("metalink", &metalink_url))
        .await
        .unwrap_or_else(|e| panic!("dnf with metalink= through the remote: {e}\n{}", s.log_tail(30)));
    eprintln!(
        "rpm: dnf install of {APP} with metalink= direct {took_direct:?}, through the remote (cold) {took_metalink:?}"
    );
    assert_eq!(installed(&root_m, LIB), "rpmtest-lib-1.0");
    assert_eq!(installed(&root_m, APP), "rpmtest-app-1.0");
    assert_eq!(mirror.count(&lib_path), fetched_direct + 1, "dnf downloaded the package through the remote");

    // mirrorlist= finds the same mirror, already cached.
    let (root_l, _) = install(w, "mirrorlist", Repo::via("mirrorlist", &s.proxy_url("fedora", "mirrorlist")))
        .await
        .unwrap_or_else(|e| panic!("dnf with mirrorlist= through the remote: {e}\n{}", s.log_tail(30)));
    assert_eq!(installed(&root_l, APP), "rpmtest-app-1.0");
    assert_eq!(mirror.count(&lib_path), fetched_direct + 1, "from the cache");

    // The mirror stops: a fresh dnf cache installs from what the remote cached.
    mirror.down().await;
    let (root_o, _) = install(w, "offline", Repo::via("metalink", &metalink_url))
        .await
        .unwrap_or_else(|e| panic!("dnf with the mirror stopped: {e}\n{}", s.log_tail(30)));
    assert_eq!(installed(&root_o, APP), "rpmtest-app-1.0");
    mirror.up().await;

    // A mirror no document of the remote lists is never fetched; nor is a path naming no
    // http(s) mirror.
    let other = Upstream::start_with(Ipv4Addr::new(127, 0, 0, 3), None).await;
    other.put("os/repodata/repomd.xml", File::new(repomd.clone()));
    let path = format!("_mirror/http/127.0.0.3:{}/os/repodata/repomd.xml", other.port());
    let r = s.proxy_get("fedora", &path).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    assert_eq!(other.total(), 0, "nothing fetched from a mirror nobody listed");
    let r = s.proxy_get("fedora", "_mirror/file/etc/passwd").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());

    // Without allow_private_upstreams, the remote serves the metalink but refuses to fetch
    // from the private mirror it names: 502, nothing fetched.
    s.create_remote(json!({ "name": "strict", "package_type": "rpm", "base_url": service.base_url() })).await;
    let served = s.proxy_get("strict", "metalink?repo=test-1&arch=noarch").await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.describe());
    let before = mirror.total();
    let r =
        s.proxy_get("strict", &format!("_mirror/http/127.0.0.2:{}/fedora/os/repodata/repomd.xml", mirror.port())).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    assert_eq!(mirror.total(), before, "nothing fetched from the private mirror");
}

//! rpm remotes in front of repositories whose data files are not gzip: zstd (what
//! `createrepo_c` >= 1.0 writes by default: Fedora, RHEL 9/10, Rocky, Alma) and xz. The real dnf
//! installs from each through a remote as it does directly; a package whose bytes do not match
//! the compressed primary is refused. (The xml:base copy of a zstd primary: `rpm.rs`.)

use artifactapi_e2e::rpm::{
    build, data_files, dnf_install, installed, lib_and_app, repository_packed, Packed, APP, LIB,
};
use artifactapi_e2e::{try_fetch, File, Options, Server, Storage, Upstream};
use reqwest::StatusCode;
use serde_json::json;

/// Repositories whose data files are zstd (what `createrepo_c` >= 1.0 writes by default:
/// Fedora, RHEL 9/10, Rocky, Alma) or xz: dnf installs through the remote as it does directly
/// (the times of both are printed), every package checked against the compressed primary's
/// checksum; a package whose bytes the upstream changed is still refused, never cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnf_installs_from_zstd_and_xz_repositories() {
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let top = w.join("build");
    let (lib1, app1) = lib_and_app(&top, "1.0", 4 << 20);
    let odd = build(&top, "rpmtest-odd", "1.0", None, 64 << 10);
    for (packed, suffix) in [(Packed::Zstd, ".xml.zst"), (Packed::Xz, ".xml.xz")] {
        let up = Upstream::start().await;
        let repo = w.join(format!("repo{suffix}"));
        repository_packed(&repo, &[&lib1, &app1, &odd], None, packed);
        let files = data_files(&repo);
        assert!(files.iter().all(|n| n.ends_with(suffix)), "{packed:?}: {files:?}");
        up.load_dir(&repo).expect("load");
        let name = format!("rpms{}", suffix.replace('.', "-"));
        s.create_remote(json!({ "name": name, "package_type": "rpm", "base_url": up.base_url() })).await;

        let direct = tokio::task::spawn_blocking({
            let (w, base, label) = (w.to_path_buf(), up.base_url(), format!("direct{suffix}"));
            move || dnf_install(&w, &label, &base, &[APP])
        });
        let (_, took_direct) = direct.await.expect("dnf task").unwrap_or_else(|e| panic!("{packed:?} direct: {e}"));
        let proxy = s.proxy_url(&name, "");
        let through = tokio::task::spawn_blocking({
            let (w, label) = (w.to_path_buf(), format!("proxy{suffix}"));
            move || dnf_install(&w, &label, &proxy, &[APP])
        });
        let (root, took_proxy) = through
            .await
            .expect("dnf task")
            .unwrap_or_else(|e| panic!("{packed:?} through the remote: {e}\n{}", s.log_tail(30)));
        eprintln!("rpm: {packed:?} repodata, dnf install of {APP} direct {took_direct:?}, through the remote (cold) {took_proxy:?}");
        assert_eq!(installed(&root, LIB), "rpmtest-lib-1.0");
        assert_eq!(installed(&root, APP), "rpmtest-app-1.0");
        let lib_path = format!("Packages/{LIB}-1.0-1.noarch.rpm");
        let cached = s.proxy_get(&name, &lib_path).await;
        assert_eq!((cached.status, cached.x_cache()), (StatusCode::OK, "HIT"), "{packed:?}: {}", cached.describe());

        // A package whose bytes are not what the compressed primary says is never cached.
        let odd_path = "Packages/rpmtest-odd-1.0-1.noarch.rpm";
        let good = std::fs::read(&odd).expect("rpm");
        let mut bytes = good.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        up.put(odd_path, File::new(bytes));
        for attempt in 1..=2 {
            let r = try_fetch(s.client().get(s.proxy_url(&name, odd_path))).await;
            assert!(
                !matches!(&r, Ok(f) if f.status == StatusCode::OK && f.body.len() == good.len()),
                "{packed:?} attempt {attempt}: a tampered package was served whole"
            );
            assert_eq!(up.count(odd_path), attempt, "{packed:?} attempt {attempt}: fetched again, never cached");
        }
        up.put(odd_path, File::new(good.clone()));
        let r = s.proxy_get(&name, odd_path).await;
        assert_eq!((r.status, r.body.as_ref()), (StatusCode::OK, good.as_slice()), "{packed:?}: {}", r.describe());
    }
}

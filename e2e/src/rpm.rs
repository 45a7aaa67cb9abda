//! Real rpm packages and the real dnf, for the rpm tests: packages built with `rpmbuild`
//! (one at a time, or hundreds as the subpackages of one spec), and `dnf --installroot`
//! installing from a repository URL into a fresh root with its own cache.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::pattern_bytes;

/// Runs `cmd`; its output, or a panic with it.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn rpmbuild(top: &Path, spec_path: &Path) {
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--define", "_binary_payload w1.gzdio", "-bb"])
        .arg(spec_path));
}

/// Builds the noarch package `name-version-1` with `rpmbuild`; `requires` goes into its
/// `Requires:`; `payload` bytes are installed as `/usr/share/rpmtest/{name}.bin`, and
/// `/usr/share/rpmtest/{name}.txt` says `{name}-{version}`.
pub fn build(top: &Path, name: &str, version: &str, requires: Option<&str>, payload: usize) -> PathBuf {
    let src = top.join(format!("{name}-{version}.bin"));
    std::fs::create_dir_all(top.join("SPECS")).expect("specs dir");
    std::fs::write(&src, pattern_bytes(payload, payload as u64 + 7)).expect("payload");
    let requires = requires.map(|r| format!("Requires: {r}\n")).unwrap_or_default();
    let spec = format!(
        "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {name}\nLicense: MIT\nBuildArch: noarch\n{requires}\
         %description\n{name} for the artifactapi tests\n%install\nmkdir -p %{{buildroot}}/usr/share/rpmtest\n\
         echo {name}-{version} > %{{buildroot}}/usr/share/rpmtest/{name}.txt\n\
         cp {src} %{{buildroot}}/usr/share/rpmtest/{name}.bin\n\
         %files\n/usr/share/rpmtest/{name}.txt\n/usr/share/rpmtest/{name}.bin\n\
         %changelog\n* Mon Jan 01 2024 Tester <t@example.org> - {version}-1\n- {name} {version}\n",
        src = src.display()
    );
    let spec_path = top.join("SPECS").join(format!("{name}-{version}.spec"));
    std::fs::write(&spec_path, spec).expect("spec");
    rpmbuild(top, &spec_path);
    top.join("RPMS/noarch").join(format!("{name}-{version}-1.noarch.rpm"))
}

/// The package the tests' application requires.
pub const LIB: &str = "rpmtest-lib";
/// The tests' application: requires [`LIB`] of at least its own version.
pub const APP: &str = "rpmtest-app";

/// Builds [`LIB`] (`lib_payload` bytes) and [`APP`] (64 KiB), both at `version`.
pub fn lib_and_app(top: &Path, version: &str, lib_payload: usize) -> (PathBuf, PathBuf) {
    let lib = build(top, LIB, version, None, lib_payload);
    let app = build(top, APP, version, Some(&format!("{LIB} >= {version}")), 64 << 10);
    (lib, app)
}

/// Builds `count` noarch packages `{prefix}-{i:03}-1.0-1` in one `rpmbuild` (subpackages of one
/// spec), each with `files` small files below `/usr/share/{prefix}/{i:03}/`; their paths.
pub fn build_many(top: &Path, prefix: &str, count: usize, files: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(top.join("SPECS")).expect("specs dir");
    let mut spec = format!(
        "Name: {prefix}\nVersion: 1.0\nRelease: 1\nSummary: {prefix}\nLicense: MIT\nBuildArch: noarch\n\
         %description\ngenerated packages\n"
    );
    for i in 0..count {
        spec.push_str(&format!(
            "%package -n {prefix}-{i:03}\nSummary: generated package {i}\n\
             %description -n {prefix}-{i:03}\nGenerated package {i} of {count}, with {files} files.\n"
        ));
    }
    spec.push_str("%install\n");
    for i in 0..count {
        spec.push_str(&format!("mkdir -p %{{buildroot}}/usr/share/{prefix}/{i:03}\n"));
        for f in 0..files {
            spec.push_str(&format!(
                "echo {prefix}-{i:03} file {f} > %{{buildroot}}/usr/share/{prefix}/{i:03}/file{f}.txt\n"
            ));
        }
    }
    for i in 0..count {
        spec.push_str(&format!("%files -n {prefix}-{i:03}\n/usr/share/{prefix}/{i:03}\n"));
    }
    let spec_path = top.join("SPECS").join(format!("{prefix}.spec"));
    std::fs::write(&spec_path, spec).expect("spec");
    rpmbuild(top, &spec_path);
    (0..count).map(|i| top.join("RPMS/noarch").join(format!("{prefix}-{i:03}-1.0-1.noarch.rpm"))).collect()
}

/// How dnf is pointed at a repository.
#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub baseurl: String,
    /// The `.repo` key `baseurl` is given as: `baseurl` (the default), `metalink` or
    /// `mirrorlist`.
    pub via: &'static str,
    /// `repo_gpgcheck=1` with this `gpgkey=` URL; none: `repo_gpgcheck=0`.
    pub gpgkey: Option<String>,
}

impl Repo {
    pub fn new(baseurl: &str) -> Repo {
        Repo { baseurl: baseurl.to_string(), via: "baseurl", gpgkey: None }
    }

    /// A repository dnf finds through the metalink (or mirror list, `via = "mirrorlist"`) at `url`.
    pub fn via(via: &'static str, url: &str) -> Repo {
        Repo { via, ..Repo::new(url) }
    }

    fn file(&self) -> String {
        let gpg = match &self.gpgkey {
            Some(key) => format!("repo_gpgcheck=1\ngpgkey={key}\n"),
            None => "repo_gpgcheck=0\n".to_string(),
        };
        let via = if self.via.is_empty() { "baseurl" } else { self.via };
        format!("[t]\nname=t\n{via}={}\ngpgcheck=0\n{gpg}enabled=1\nmetadata_expire=0\n", self.baseurl)
    }
}

/// Runs dnf with `args` against `repo`, installing into the root `label` below `work` and
/// caching in `cache-{cache}`; its output and how long it took.
pub fn dnf(work: &Path, label: &str, cache: &str, repo: &Repo, args: &[&str]) -> Result<(String, Duration), String> {
    let root = work.join(format!("root-{label}"));
    let reposd = work.join(format!("repos-{label}"));
    std::fs::create_dir_all(&reposd).expect("reposdir");
    std::fs::write(reposd.join("t.repo"), repo.file()).expect("repo file");
    let started = Instant::now();
    let out = Command::new("dnf")
        .args(["-y", "--installroot"])
        .arg(&root)
        .arg(format!("--setopt=reposdir={}", reposd.display()))
        .arg(format!("--setopt=cachedir={}", work.join(format!("cache-{cache}")).display()))
        .args(["--releasever=1", "--noplugins", "--setopt=install_weak_deps=False"])
        .args(args)
        .output()
        .map_err(|e| format!("dnf: {e}"))?;
    let took = started.elapsed();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(text);
    }
    Ok((text, took))
}

/// `dnf install` of `packages` into a fresh root below `work` from the repository at
/// `baseurl`, with a fresh dnf cache; returns the root and how long dnf took.
pub fn dnf_install(work: &Path, label: &str, baseurl: &str, packages: &[&str]) -> Result<(PathBuf, Duration), String> {
    dnf_install_from(work, label, &Repo::new(baseurl), packages)
}

/// [`dnf_install`] from the repository `repo` says.
pub fn dnf_install_from(
    work: &Path,
    label: &str,
    repo: &Repo,
    packages: &[&str],
) -> Result<(PathBuf, Duration), String> {
    let mut args = vec!["install"];
    args.extend_from_slice(packages);
    let (_, took) = dnf(work, label, label, repo, &args)?;
    Ok((work.join(format!("root-{label}")), took))
}

/// What `/usr/share/rpmtest/{name}.txt` of `root` says (empty when absent).
pub fn installed(root: &Path, name: &str) -> String {
    std::fs::read_to_string(root.join(format!("usr/share/rpmtest/{name}.txt"))).unwrap_or_default().trim().to_string()
}

/// How the data files of a test repository are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packed {
    /// `createrepo_c` < 1.0's default.
    Gzip,
    /// `createrepo_c --general-compress-type=xz`.
    Xz,
    /// `createrepo_c` >= 1.0's default (Fedora, RHEL 9/10, Rocky, Alma).
    Zstd,
}

/// A repository directory holding `packages` below `Packages/`, indexed by `createrepo_c`
/// with `baseurl` as every package's `xml:base` when given, its data files compressed as
/// `packed` says.
pub fn repository_packed(dir: &Path, packages: &[&Path], baseurl: Option<&str>, packed: Packed) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("Packages")).expect("repo dir");
    for p in packages {
        std::fs::copy(p, dir.join("Packages").join(p.file_name().expect("name"))).expect("copy rpm");
    }
    let mut cmd = Command::new("createrepo_c");
    cmd.args(["-q", "--no-database"]);
    if let Some(url) = baseurl {
        cmd.arg(format!("--baseurl={url}"));
    }
    if packed == Packed::Xz {
        cmd.arg("--general-compress-type=xz");
    }
    run(cmd.arg(dir));
    if packed == Packed::Zstd {
        zstd_repodata(dir);
    }
}

/// Rewrites the gzip data files of the repository at `dir` (as `createrepo_c` wrote them) as
/// zstd files, as `createrepo_c` >= 1.0 writes them by default (Debian's 0.17 cannot): each
/// `{sum}-{kind}.xml.gz` becomes `{sum'}-{kind}.xml.zst` (compressed by the real `zstd`), and
/// `repomd.xml` names it with its new checksum and size (its open checksum and size stay).
pub fn zstd_repodata(dir: &Path) {
    let repodata = dir.join("repodata");
    let mut repomd = std::fs::read_to_string(repodata.join("repomd.xml")).expect("repomd.xml");
    for entry in std::fs::read_dir(&repodata).expect("repodata") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        let Some((old_sum, rest)) = name.strip_suffix(".xml.gz").and_then(|n| n.split_once('-')) else { continue };
        let (old_sum, kind) = (old_sum.to_string(), rest.to_string());
        let gz = std::fs::File::open(repodata.join(&name)).expect("data file");
        let plain = Command::new("gzip").arg("-dc").stdin(gz).output().expect("gzip -dc");
        assert!(plain.status.success(), "gzip -dc {name}");
        let mut zstd = Command::new("zstd")
            .args(["-q", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("zstd");
        let mut stdin = zstd.stdin.take().expect("stdin");
        let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &plain.stdout));
        let zst = zstd.wait_with_output().expect("zstd output");
        feeder.join().expect("feeder").expect("zstd stdin");
        assert!(zst.status.success(), "zstd {name}");
        let sum = crate::sha256_hex(&zst.stdout);
        std::fs::write(repodata.join(format!("{sum}-{kind}.xml.zst")), &zst.stdout).expect("write zst");
        std::fs::remove_file(repodata.join(&name)).expect("remove gz");
        let start = repomd.find(&format!("<data type=\"{kind}\">")).expect("data entry");
        let end = start + repomd[start..].find("</data>").expect("end of data entry");
        let size = |s: &str| s.split("<size>").nth(1).and_then(|r| r.split("</size>").next()).map(str::to_string);
        let old_size = size(&repomd[start..end]).expect("size");
        let entry = repomd[start..end]
            .replace(&name, &format!("{sum}-{kind}.xml.zst"))
            .replace(&format!(">{old_sum}<"), &format!(">{sum}<"))
            .replace(&format!("<size>{old_size}</size>"), &format!("<size>{}</size>", zst.stdout.len()));
        repomd.replace_range(start..end, &entry);
    }
    std::fs::write(repodata.join("repomd.xml"), repomd).expect("write repomd.xml");
}

/// The names of the data files of the repository at `dir`.
pub fn data_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("repodata"))
        .expect("repodata")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "repomd.xml")
        .collect()
}

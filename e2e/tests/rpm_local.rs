//! rpm locals proven with the real dnf against packages built by the real `rpmbuild`, on every
//! storage/coordination configuration: two packages (one requires the other) and 200 generated
//! packages of five files each are uploaded with `PUT`; the generated `repodata/` names every
//! data file by its checksum; `dnf --installroot` installs from it (the dependency resolved,
//! files found through filelists), sees a new version after `--refresh`, and sees a deleted one
//! go; a virtual in front of the local serves its snapshot. Then the hostile uploads: not an
//! rpm, a truncated header, a file name that is not the package's, the same package twice,
//! traversal in every spelling, oversize, no token and a read-only one. Prints upload and
//! `dnf install` times.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use artifactapi_e2e::rpm::{build, build_many, dnf, installed, Repo};
use artifactapi_e2e::{matrix, raw, Options, Server, Storage};
use reqwest::StatusCode;
use serde_json::json;

const ADMIN: &str = "e2e-admin-token";
const LOCAL: &str = "rpmlocal";
const LIB: &str = "rpmtest-lib";
const APP: &str = "rpmtest-app";
const GENERATED: usize = 200;
const FILES_EACH: usize = 5;

fn file_name(p: &Path) -> String {
    p.file_name().expect("name").to_string_lossy().into_owned()
}

/// `PUT {local}/{path}` of `bytes` with `secret` as a bearer token.
async fn put(s: &Server, secret: &str, path: &str, bytes: Vec<u8>) -> (StatusCode, String) {
    let r = s
        .client()
        .put(s.url(&format!("/api/v1/local/{LOCAL}/{path}")))
        .bearer_auth(secret)
        .body(bytes)
        .send()
        .await
        .expect("PUT");
    (r.status(), r.text().await.unwrap_or_default())
}

async fn upload(s: &Server, secret: &str, dir: &str, rpm: &Path) {
    let path = format!("{dir}{}", file_name(rpm));
    let (status, body) = put(s, secret, &path, std::fs::read(rpm).expect("rpm")).await;
    assert_eq!(status, StatusCode::CREATED, "PUT {path}: {body}");
}

/// Runs dnf on a blocking thread.
async fn dnf_async(
    work: &Path,
    label: &str,
    cache: &str,
    repo: &Repo,
    args: &[&str],
) -> Result<(String, Duration), String> {
    let (w, label, cache, repo) = (work.to_path_buf(), label.to_string(), cache.to_string(), repo.clone());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        dnf(&w, &label, &cache, &repo, &args)
    })
    .await
    .expect("dnf task")
}

fn root(work: &Path, label: &str) -> PathBuf {
    work.join(format!("root-{label}"))
}

async fn repomd(s: &Server) -> String {
    let r = s.get(&format!("/api/v1/local/{LOCAL}/repodata/repomd.xml")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    r.text()
}

/// The `location href`s of a `repomd.xml`.
fn hrefs(repomd: &str) -> Vec<String> {
    repomd.split("<location href=\"").skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_string).collect()
}

async fn dnf_from_a_local(opts: Options) {
    let s = Server::start(opts.admin_token(ADMIN)).await;
    s.create("/api/v2/locals", json!({ "name": LOCAL, "package_type": "rpm" })).await;
    let writer = s.token("ci", &[(LOCAL, "write")]).await;
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let top = w.join("build");
    let lib1 = build(&top, LIB, "1.0", None, 1 << 20);
    let app1 = build(&top, APP, "1.0", Some(&format!("{LIB} >= 1.0")), 16 << 10);
    let generated = build_many(&top, "rpmgen", GENERATED, FILES_EACH);

    let started = Instant::now();
    upload(&s, &writer, "Packages/", &lib1).await;
    upload(&s, &writer, "Packages/", &app1).await;
    for rpm in &generated {
        upload(&s, &writer, "Packages/gen/", rpm).await;
    }
    let took = started.elapsed();
    eprintln!("rpm local: {} uploads, each regenerating repodata: {took:?}", GENERATED + 2);

    // repomd.xml names three content-addressed data files, all served.
    let first = repomd(&s).await;
    let named = hrefs(&first);
    assert_eq!(named.len(), 3, "{first}");
    for href in &named {
        let r = s.get(&format!("/api/v1/local/{LOCAL}/{href}")).await;
        assert_eq!(r.status, StatusCode::OK, "{href}: {}", r.describe());
        let sum = artifactapi_e2e::sha256_hex(&r.body);
        assert!(href.starts_with(&format!("repodata/{sum}-")), "{href} is named by its checksum");
        assert!(first.contains(&format!("<checksum type=\"sha256\">{sum}</checksum>")), "{first}");
    }

    let base = s.url(&format!("/api/v1/local/{LOCAL}/"));
    let repo = Repo::new(&base);
    let (_, took) = dnf_async(w, "plain", "plain", &repo, &["install", APP, "rpmgen-150"])
        .await
        .unwrap_or_else(|e| panic!("dnf install from the local: {e}\n{}", s.log_tail(30)));
    eprintln!("rpm local: dnf install of {APP} (+ {LIB}) and rpmgen-150, cold: {took:?}");
    let plain = root(w, "plain");
    assert_eq!(installed(&plain, LIB), "rpmtest-lib-1.0", "the dependency was resolved");
    assert_eq!(installed(&plain, APP), "rpmtest-app-1.0");
    let gen = std::fs::read_to_string(plain.join("usr/share/rpmgen/150/file4.txt")).expect("generated file");
    assert_eq!(gen.trim(), "rpmgen-150 file 4");

    // The metadata is signed by the server's key: dnf checks it with repo_gpgcheck=1.
    let asc = s.get(&format!("/api/v1/local/{LOCAL}/repodata/repomd.xml.asc")).await;
    assert_eq!(asc.status, StatusCode::OK, "{}", asc.describe());
    assert!(asc.text().starts_with("-----BEGIN PGP SIGNATURE-----"), "{}", asc.text());
    let signed = Repo { gpgkey: Some(format!("{base}repodata/repomd.xml.key")), ..Repo::new(&base) };
    dnf_async(w, "signed", "signed", &signed, &["install", APP])
        .await
        .unwrap_or_else(|e| panic!("dnf install with repo_gpgcheck=1: {e}\n{}", s.log_tail(30)));
    assert_eq!(installed(&root(w, "signed"), APP), "rpmtest-app-1.0");

    // Every package is listed, and filelists answer which package owns a file.
    let (out, _) = dnf_async(w, "plain", "plain", &repo, &["repoquery", "--available", "--qf", "%{name}"])
        .await
        .expect("repoquery");
    let listed = out.lines().filter(|l| l.starts_with("rpmgen-") || l.starts_with("rpmtest-")).count();
    assert_eq!(listed, GENERATED + 2, "{out}");
    let (out, _) = dnf_async(
        w,
        "plain",
        "plain",
        &repo,
        &["repoquery", "--qf", "%{name}", "--whatprovides", "/usr/share/rpmgen/077/file3.txt"],
    )
    .await
    .expect("repoquery --whatprovides");
    assert!(out.lines().any(|l| l == "rpmgen-077"), "{out}");
    let (out, _) = dnf_async(w, "plain", "plain", &repo, &["repoquery", "--changelogs", LIB]).await.expect("changelog");
    assert!(out.contains(&format!("- {LIB} 1.0")), "other.xml carries the changelog: {out}");

    // The same package again: 409, nothing changes.
    let (status, body) =
        put(&s, &writer, &format!("Packages/{}", file_name(&lib1)), std::fs::read(&lib1).unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = put(&s, &writer, &format!("Other/{}", file_name(&lib1)), std::fs::read(&lib1).unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "the same NEVRA at another path: {body}");
    assert_eq!(repomd(&s).await, first, "a refused upload leaves the snapshot");

    // A new version: dnf sees it after --refresh, with the cache of before.
    let lib2 = build(&top, LIB, "1.1", None, 1 << 20);
    let app2 = build(&top, APP, "1.1", Some(&format!("{LIB} >= 1.1")), 16 << 10);
    upload(&s, &writer, "Packages/", &lib2).await;
    let second = repomd(&s).await;
    assert_ne!(second, first);
    // The previous snapshot's data files are still served (a client that read the old
    // repomd.xml just before the switch); the one before that goes.
    for href in &named {
        let r = s.get(&format!("/api/v1/local/{LOCAL}/{href}")).await;
        assert_eq!(r.status, StatusCode::OK, "{href} of the previous snapshot: {}", r.describe());
    }
    upload(&s, &writer, "Packages/", &app2).await;
    for href in &named {
        let r = s.get(&format!("/api/v1/local/{LOCAL}/{href}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{href} of two snapshots ago: {}", r.describe());
    }
    dnf_async(w, "updated", "plain", &repo, &["--refresh", "install", APP]).await.expect("dnf after the upload");
    assert_eq!(installed(&root(w, "updated"), APP), "rpmtest-app-1.1");
    assert_eq!(installed(&root(w, "updated"), LIB), "rpmtest-lib-1.1");

    // Deleting 1.1 of the app: the snapshot no longer lists it.
    let r = s
        .client()
        .delete(s.url(&format!("/api/v1/local/{LOCAL}/Packages/{}", file_name(&app2))))
        .bearer_auth(&writer)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let gone = s.get(&format!("/api/v1/local/{LOCAL}/Packages/{}", file_name(&app2))).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.describe());
    dnf_async(w, "deleted", "plain", &repo, &["--refresh", "install", APP]).await.expect("dnf after the delete");
    assert_eq!(installed(&root(w, "deleted"), APP), "rpmtest-app-1.0");
    // Even after the delete, that version cannot come back.
    let (status, body) =
        put(&s, &writer, &format!("Packages/{}", file_name(&app2)), std::fs::read(&app2).unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A virtual in front of the local serves its snapshot.
    let spec = json!({ "name": "rpm-virtual", "package_type": "rpm", "members": [LOCAL] });
    let r = s.send_json(reqwest::Method::POST, "/api/v2/virtuals", &spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let through = Repo::new(&s.url("/api/v1/virtual/rpm-virtual/"));
    dnf_async(w, "virtual", "virtual", &through, &["install", APP]).await.expect("dnf through the virtual");
    assert_eq!(installed(&root(w, "virtual"), APP), "rpmtest-app-1.0");
    assert_eq!(installed(&root(w, "virtual"), LIB), "rpmtest-lib-1.1");
}

matrix!(dnf_from_a_local);

/// Where the main header of the package `rpm` starts: after the 96-byte lead and the signature
/// header (16 bytes, 16 per index entry, its data store), padded to 8 bytes.
fn main_header_start(rpm: &[u8]) -> usize {
    let be32 = |at: usize| u32::from_be_bytes(rpm[at..at + 4].try_into().expect("4 bytes")) as usize;
    let sig = 16 + 16 * be32(96 + 8) + be32(96 + 12);
    96 + sig.div_ceil(8) * 8
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_are_refused_and_store_nothing() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).env("LOCAL_MAX_UPLOAD", 4 << 20)).await;
    s.create("/api/v2/locals", json!({ "name": LOCAL, "package_type": "rpm" })).await;
    let writer = s.token("ci", &[(LOCAL, "write")]).await;
    let reader = s.token("reader", &[(LOCAL, "read")]).await;
    let work = tempfile::tempdir().expect("tempdir");
    let lib = build(&work.path().join("build"), LIB, "1.0", None, 64 << 10);
    let bytes = std::fs::read(&lib).expect("rpm");
    let name = file_name(&lib);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not an rpm", b"<html>this is not a package</html>".to_vec(), "not an rpm package"),
        ("empty", Vec::new(), "not an rpm package"),
        ("lead only", bytes[..96].to_vec(), "ends inside the signature header"),
        ("truncated header", bytes[..main_header_start(&bytes) + 40].to_vec(), "ends inside the main header"),
    ];
    for (what, body, want) in cases {
        let (status, text) = put(&s, &writer, &format!("Packages/{name}"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {text}");
        assert!(text.contains(want) && text.contains("rpm header"), "{what}: {text:?} does not say {want:?}");
    }
    let (status, text) = put(&s, &writer, "Packages/other-1.0-1.noarch.rpm", bytes.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains(&format!("upload it as {name}")), "{text}");
    let (status, text) = put(&s, &writer, &format!("repodata/{name}"), bytes.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, text) = put(&s, &writer, "repodata/repomd.xml", b"<repomd/>".to_vec()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{text}");

    // Traversal in every spelling, written byte for byte.
    let auth = format!("Authorization: Bearer {writer}");
    for path in [
        format!("../{name}"),
        format!("Packages/..%2f..%2f{name}"),
        format!("%2e%2e/{name}"),
        format!("Packages%5c{name}"),
        format!("Packages\\{name}"),
        format!("Packages%00/{name}"),
    ] {
        let target = format!("/api/v1/local/{LOCAL}/{path}");
        let r = raw::request_with_headers(s.port(), "PUT", &target, &[&auth, "Content-Length: 0"]).await;
        assert!(matches!(r.status, 400 | 404), "{path}: {} {}", r.status, r.rest_text());
    }

    // Credentials: none is 401, read-only 403; oversize 413.
    let anon =
        s.client().put(s.url(&format!("/api/v1/local/{LOCAL}/Packages/{name}"))).body(bytes.clone()).send().await;
    assert_eq!(anon.expect("PUT").status(), StatusCode::UNAUTHORIZED);
    let (status, text) = put(&s, &reader, &format!("Packages/{name}"), bytes.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let (status, text) = put(&s, &writer, &format!("Packages/{name}"), vec![0xed; 5 << 20]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");

    // Nothing of all that was stored: no package, no metadata.
    let r = s.get(&format!("/api/v1/local/{LOCAL}/Packages/{name}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    let r = s.get(&format!("/api/v1/local/{LOCAL}/repodata/repomd.xml")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());

    // The good upload is accepted after all that.
    let (status, text) = put(&s, &writer, &format!("Packages/{name}"), bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let listed: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(listed["nevra"], "rpmtest-lib-1.0-1.noarch");
    assert_eq!(listed["sha256"], artifactapi_e2e::sha256_hex(&bytes));
}

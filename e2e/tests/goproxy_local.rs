//! Goproxy locals proven with the real `go` command (1.19, `GOSUMDB=off GOFLAGS=-mod=mod`) on
//! every storage/coordination configuration: module versions uploaded with curl-like `PUT`s of
//! `.info`, `.mod` and `.zip` (the zip last; a version invisible until it lands), a mixed-case
//! module path in the `!x` encoding; `go build` of a program depending on them through the
//! local and through a virtual where the local shadows a remote's module of the same path;
//! `@v/list` and `@latest` generated. Then every hostile upload (zip slip, module path
//! traversal, go.mod mismatch, the size limit, the same version twice and racing, a cut-off
//! upload), tokens (none: 401, read-only: 403), and a version published on one replica and
//! built from the other. Prints publish and `go mod download` times beside the static
//! GOPROXY server the remote tests use.

use std::path::Path;
use std::time::{Duration, Instant};

use artifactapi_e2e::gomod::{app, go, zip_stored, Module};
use artifactapi_e2e::{fetch, matrix, poll_until, raw, Options, Server, Storage, Upstream};
use reqwest::StatusCode;
use serde_json::json;

const ADMIN: &str = "e2e-admin-token";
const LOCAL: &str = "golocal";
const LIB: &str = "example.com/Org/Lib";
const LIB_ENC: &str = "example.com/!org/!lib";
const GREET: &str = "example.com/app/greet";
const UTIL: &str = "example.com/other/util";

/// A token with `grants` (`[(repository, access)]`); its secret.
async fn token(s: &Server, name: &str, grants: &[(&str, &str)]) -> String {
    s.token(name, grants).await
}

fn lib(version: &str, says: &str) -> Module {
    let go = format!("package lib\n\n// Hello says who answered.\nfunc Hello() string {{ return \"{says}\" }}\n");
    Module::new(LIB, LIB_ENC, version, &format!("module {LIB}\n\ngo 1.19\n"), &[("lib.go", go)])
}

fn greet() -> Module {
    let go = format!("package greet\n\nimport \"{LIB}\"\n\n// Greet greets through Lib.\nfunc Greet() string {{ return \"greet: \" + lib.Hello() }}\n");
    let go_mod = format!("module {GREET}\n\ngo 1.19\n\nrequire {LIB} v1.0.0\n");
    Module::new(GREET, GREET, "v1.0.0", &go_mod, &[("greet.go", go)])
}

fn put(s: &Server, path: &str, secret: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    s.client().put(s.url(&format!("/api/v1/local/{LOCAL}/{path}"))).bearer_auth(secret).body(body)
}

/// Uploads `m` as `.info`, `.mod`, `.zip`; asserts 202, 202, 201.
async fn upload(s: &Server, secret: &str, m: &Module) {
    for (ext, body, want) in [
        ("info", m.info.clone(), StatusCode::ACCEPTED),
        ("mod", m.go_mod.as_bytes().to_vec(), StatusCode::ACCEPTED),
        ("zip", m.zip.clone(), StatusCode::CREATED),
    ] {
        let r = fetch(put(s, &m.file(ext), secret, body)).await;
        assert_eq!(r.status, want, "{}: {}", m.file(ext), r.describe());
    }
}

fn local_get(s: &Server, path: &str) -> reqwest::RequestBuilder {
    s.client().get(s.url(&format!("/api/v1/local/{LOCAL}/{path}")))
}

/// `go mod download` + `go build` + run in `dir` through `proxy`; the program's output and the
/// time `go mod download` took.
async fn build(proxy: &str, dir: &Path, home: &Path, s: &Server) -> (String, Duration) {
    let gocache = std::env::temp_dir().join("artifactapi-e2e-gocache");
    let fail = |e: String| panic!("{e}\nserver log:\n{}", s.log_tail(40));
    let t = Instant::now();
    go(proxy, dir, home, &gocache, &["mod", "download"]).await.unwrap_or_else(fail);
    let took = t.elapsed();
    go(proxy, dir, home, &gocache, &["build", "-o", "app", "."]).await.unwrap_or_else(fail);
    let out = std::process::Command::new(dir.join("app")).output().unwrap();
    (String::from_utf8_lossy(&out.stdout).trim().to_string(), took)
}

async fn go_builds_from_a_local_and_through_a_virtual(opts: Options) {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(opts.admin_token(ADMIN)).await;
    s.create("/api/v2/locals", json!({ "name": LOCAL, "package_type": "goproxy" })).await;
    let writer = token(&s, "ci", &[(LOCAL, "write")]).await;
    let reader = token(&s, "reader", &[("*", "read")]).await;
    let (lib1, lib11, greet) = (lib("v1.0.0", "hello from Lib"), lib("v1.1.0-rc.1", "rc"), greet());

    // Tokens: none is a 401 with a challenge, read-only a 403 naming the scope.
    let anon =
        fetch(s.client().put(s.url(&format!("/api/v1/local/{LOCAL}/{}", lib1.file("info")))).body(lib1.info.clone()))
            .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{}", anon.describe());
    assert!(anon.header("www-authenticate").is_some_and(|h| h.starts_with("Basic")), "{}", anon.describe());
    let r = fetch(put(&s, &lib1.file("info"), &reader, lib1.info.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.describe());
    assert!(r.error_message().contains("write"), "{}", r.describe());

    // .info and .mod are held, invisible, until the zip lands.
    let t = Instant::now();
    upload(&s, &writer, &lib1).await;
    let publish = t.elapsed();
    for ext in ["info", "mod"] {
        assert_eq!(
            fetch(put(
                &s,
                &lib11.file(ext),
                &writer,
                if ext == "info" { lib11.info.clone() } else { lib11.go_mod.clone().into_bytes() }
            ))
            .await
            .status,
            StatusCode::ACCEPTED
        );
        let r = fetch(local_get(&s, &lib11.file(ext))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "a pending .{ext} is visible: {}", r.describe());
    }
    let list = fetch(local_get(&s, &format!("{LIB_ENC}/@v/list"))).await;
    assert_eq!((list.status, list.text()), (StatusCode::OK, "v1.0.0\n".to_string()), "{}", list.describe());
    let r = fetch(put(&s, &lib11.file("zip"), &writer, lib11.zip.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    // The zip alone: .mod and .info are made from it.
    let r = fetch(put(&s, &greet.file("zip"), &writer, greet.zip.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    assert_eq!(fetch(local_get(&s, &greet.file("mod"))).await.text(), greet.go_mod);
    assert_eq!(fetch(local_get(&s, &format!("{GREET}/@v/v1.0.0.info"))).await.json()["Version"], "v1.0.0");

    // Byte-identical files; the generated list and @latest (a release wins over a newer rc).
    for ext in ["info", "mod", "zip"] {
        let want = match ext {
            "info" => lib1.info.clone(),
            "mod" => lib1.go_mod.clone().into_bytes(),
            _ => lib1.zip.clone(),
        };
        let got = fetch(local_get(&s, &lib1.file(ext))).await;
        assert!(got.status == StatusCode::OK && got.body == want, "{ext}: {}", got.describe());
    }
    let list = fetch(local_get(&s, &format!("{LIB_ENC}/@v/list"))).await;
    assert_eq!(list.text(), "v1.0.0\nv1.1.0-rc.1\n");
    let latest = fetch(local_get(&s, &format!("{LIB_ENC}/@latest"))).await;
    assert_eq!(latest.json()["Version"], "v1.0.0", "{}", latest.describe());

    // go build through the local.
    let local_url = s.url(&format!("/api/v1/local/{LOCAL}"));
    let main = app(tmp.path(), "main", &[(GREET, "v1.0.0")], "greet.Greet()", &[GREET]);
    let (out, download_local) = build(&local_url, &main, &tmp.path().join("home1"), &s).await;
    assert_eq!(out, "greet: hello from Lib");
    let gocache = std::env::temp_dir().join("artifactapi-e2e-gocache");
    let versions =
        go(&local_url, &main, &tmp.path().join("home1"), &gocache, &["list", "-m", "-versions", LIB]).await.unwrap();
    assert_eq!(versions.trim(), format!("{LIB} v1.0.0 v1.1.0-rc.1"));

    // A remote with a module of the same path (a higher version: dependency confusion) and one
    // of its own; a virtual lists the local first.
    let tree = tmp.path().join("tree");
    lib("v9.9.9", "hijacked").write_tree(&tree);
    let util_go = "package util\n\n// Name names the module.\nfunc Name() string { return \"util\" }\n".to_string();
    Module::new(UTIL, UTIL, "v1.0.0", &format!("module {UTIL}\n\ngo 1.19\n"), &[("util.go", util_go)])
        .write_tree(&tree);
    lib1.write_tree(&tree.join("mirror"));
    greet.write_tree(&tree.join("mirror"));
    let up = Upstream::start().await;
    up.load_dir(&tree).unwrap();
    // `go` itself sends `!` as `%21`; the static server matches paths byte for byte.
    for ext in ["info", "mod", "zip"] {
        let file = lib1.file(ext);
        up.put_bytes(
            &format!("mirror/{}", file.replace('!', "%21")),
            std::fs::read(tree.join("mirror").join(&file)).unwrap(),
        );
    }
    s.create_remote(json!({ "name": "gopublic", "package_type": "goproxy", "base_url": up.base_url() })).await;
    s.create("/api/v2/virtuals", json!({ "name": "goall", "package_type": "goproxy", "members": [LOCAL, "gopublic"] }))
        .await;
    let virtual_url = s.url("/api/v1/virtual/goall");
    let both = app(
        tmp.path(),
        "both",
        &[(GREET, "v1.0.0"), (UTIL, "v1.0.0")],
        "greet.Greet() + \" \" + util.Name()",
        &[GREET, UTIL],
    );
    let (out, _) = build(&virtual_url, &both, &tmp.path().join("home2"), &s).await;
    assert_eq!(out, "greet: hello from Lib util");
    let versions =
        go(&virtual_url, &both, &tmp.path().join("home2"), &gocache, &["list", "-m", "-versions", LIB]).await.unwrap();
    assert_eq!(versions.trim(), format!("{LIB} v1.0.0 v1.1.0-rc.1"), "the remote's v9.9.9 is shadowed");
    let asked: usize = ["list", "v1.0.0.info", "v1.0.0.mod", "v1.0.0.zip", "v9.9.9.zip"]
        .iter()
        .map(|f| up.count(&format!("/{LIB_ENC}/@v/{f}")))
        .sum();
    assert_eq!(asked, 0, "the remote was asked about the module the local has");

    // The same download from the static GOPROXY server the remote tests use, for comparison.
    let (_, download_upstream) = build(&format!("{}mirror", up.base_url()), &main, &tmp.path().join("home3"), &s).await;
    println!(
        "goproxy local ({:?}): publish 3 files {publish:?}; go mod download via local {download_local:?}, via static upstream {download_upstream:?}",
        s.storage()
    );
}
matrix!(go_builds_from_a_local_and_through_a_virtual);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_are_refused_and_leave_nothing() {
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).env("LOCAL_MAX_UPLOAD", 1 << 20)).await;
    s.create("/api/v2/locals", json!({ "name": LOCAL, "package_type": "goproxy" })).await;
    let m = "example.com/m";
    let zip = |version: &str, entries: &[(&str, &str)]| {
        let e: Vec<(String, Vec<u8>)> =
            entries.iter().map(|(n, b)| (n.replace("{v}", version), b.as_bytes().to_vec())).collect();
        zip_stored(&e)
    };
    let good_mod = format!("module {m}\n\ngo 1.19\n");
    let invisible = |version: &str| {
        let s = &s;
        let version = version.to_string();
        async move {
            for ext in ["info", "mod", "zip"] {
                let r = fetch(local_get(s, &format!("{m}/@v/{version}.{ext}"))).await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{version}.{ext} is visible: {}", r.describe());
            }
        }
    };

    // Zip slip, and paths Go refuses.
    for (version, name) in [
        ("v1.0.1", "../../../etc/cron.d/x"),
        ("v1.0.2", "example.com/m@{v}/../../x"),
        ("v1.0.3", "example.com/m@{v}/a\\b"),
        ("v1.0.4", "/abs/x"),
    ] {
        let body = zip(version, &[("example.com/m@{v}/go.mod", &good_mod), (name, "x")]);
        let r = fetch(put(&s, &format!("{m}/@v/{version}.zip"), ADMIN, body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.describe());
        assert!(r.error_message().contains("module zip"), "{}", r.describe());
        invisible(version).await;
    }
    // Module path traversal in the URL never reaches storage.
    for path in [
        "../x/@v/v1.0.0.zip",
        "example.com/%2e%2e/@v/v1.0.0.zip",
        "example.com/a%2fb/@v/v1.0.0.zip",
        "example.com/a%5cb/@v/v1.0.0.zip",
        "example.com/m/@v/v1.0.0%00.zip",
        "@pending/example.com/m/@v/v1.0.0.zip",
    ] {
        let auth = format!("Authorization: Bearer {ADMIN}");
        let r = raw::request_with_headers(
            s.port(),
            "PUT",
            &format!("/api/v1/local/{LOCAL}/{path}"),
            &[&auth, "Content-Length: 0"],
        )
        .await;
        assert_eq!(r.status, 400, "PUT {path}: {}", r.head);
    }
    // A go.mod that differs from the uploaded .mod, or declares another module.
    assert_eq!(
        fetch(put(&s, &format!("{m}/@v/v1.1.0.mod"), ADMIN, good_mod.clone().into_bytes())).await.status,
        StatusCode::ACCEPTED
    );
    let other = zip("v1.1.0", &[("example.com/m@{v}/go.mod", "module example.com/m\n\ngo 1.20\n")]);
    let r = fetch(put(&s, &format!("{m}/@v/v1.1.0.zip"), ADMIN, other)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    assert!(r.error_message().contains("differs"), "{}", r.describe());
    invisible("v1.1.0").await;
    let r = fetch(put(&s, &format!("{m}/@v/v1.2.0.mod"), ADMIN, b"module example.com/evil\n".to_vec())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    // Over LOCAL_MAX_UPLOAD: 413.
    let big =
        zip("v1.3.0", &[("example.com/m@{v}/go.mod", &good_mod), ("example.com/m@{v}/big.txt", &"x".repeat(2 << 20))]);
    let r = fetch(put(&s, &format!("{m}/@v/v1.3.0.zip"), ADMIN, big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.describe());
    invisible("v1.3.0").await;
    // A cut-off zip upload leaves nothing.
    let headers = [format!("Authorization: Bearer {ADMIN}"), "Content-Length: 100000".to_string()];
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let cut = format!("/api/v1/local/{LOCAL}/{m}/@v/v1.4.0.zip");
    let _ = raw::request_cut_off(
        s.port(),
        "PUT",
        &cut,
        &headers,
        &zip("v1.4.0", &[("example.com/m@{v}/go.mod", &good_mod)])[..50],
    )
    .await;
    invisible("v1.4.0").await;
    // The same version twice: 409; eight racing uploads of a new one: exactly one wins.
    let v5 = zip("v1.5.0", &[("example.com/m@{v}/go.mod", &good_mod)]);
    assert_eq!(fetch(put(&s, &format!("{m}/@v/v1.5.0.zip"), ADMIN, v5.clone())).await.status, StatusCode::CREATED);
    for ext in ["zip", "mod", "info"] {
        let r = fetch(put(&s, &format!("{m}/@v/v1.5.0.{ext}"), ADMIN, v5.clone())).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{ext}: {}", r.describe());
    }
    let mut racing = Vec::new();
    for i in 0..8 {
        let body =
            zip("v1.6.0", &[("example.com/m@{v}/go.mod", &good_mod), ("example.com/m@{v}/n.txt", &i.to_string())]);
        let req = put(&s, &format!("{m}/@v/v1.6.0.zip"), ADMIN, body);
        racing.push(tokio::spawn(async move { fetch(req).await.status }));
    }
    let mut statuses = Vec::new();
    for r in racing {
        statuses.push(r.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 7, "{statuses:?}");
    let list = fetch(local_get(&s, &format!("{m}/@v/list"))).await;
    assert_eq!(list.text(), "v1.5.0\nv1.6.0\n", "{}", list.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_on_one_replica_built_from_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Server::start(Options::new(Storage::Fs, true).admin_token(ADMIN)).await;
    let b = Server::start(Options::new(Storage::Fs, true).admin_token(ADMIN).shared_with(&a)).await;
    a.create("/api/v2/locals", json!({ "name": LOCAL, "package_type": "goproxy" })).await;
    upload(&a, ADMIN, &lib("v1.0.0", "hello from Lib")).await;
    upload(&a, ADMIN, &greet()).await;
    let b_url = b.url(&format!("/api/v1/local/{LOCAL}"));
    poll_until("the local on replica b", Duration::from_secs(5), Duration::from_millis(100), || async {
        let r = fetch(b.client().get(format!("{b_url}/{GREET}/@v/list"))).await;
        (r.status == StatusCode::OK).then_some(())
    })
    .await;
    let main = app(tmp.path(), "main", &[(GREET, "v1.0.0")], "greet.Greet()", &[GREET]);
    let (out, _) = build(&b_url, &main, &tmp.path().join("home"), &b).await;
    assert_eq!(out, "greet: hello from Lib");
}

/// A module of real size (Go allows 500 MiB): 192 MiB of data in four files, uploaded streamed,
/// served byte-identical and extracted by `go mod download`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_of_real_size_is_published_and_downloaded() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).env("LOCAL_MAX_UPLOAD", 600 << 20)).await;
    s.create("/api/v2/locals", json!({ "name": LOCAL, "package_type": "goproxy" })).await;
    let module = "example.com/big";
    let mut entries = vec![(format!("{module}@v1.0.0/go.mod"), format!("module {module}\n\ngo 1.19\n").into_bytes())];
    entries
        .push((format!("{module}@v1.0.0/big.go"), b"package big\n\n// Size is the size.\nconst Size = 4\n".to_vec()));
    for i in 0..4u64 {
        entries.push((format!("{module}@v1.0.0/data/blob{i}.bin"), artifactapi_e2e::pattern_bytes(48 << 20, i + 1)));
    }
    let zip = zip_stored(&entries);
    drop(entries);
    let sha = artifactapi_e2e::sha256_hex(&zip);
    let t = Instant::now();
    let r = fetch(put(&s, &format!("{module}/@v/v1.0.0.zip"), ADMIN, zip)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let publish = t.elapsed();
    assert_eq!(r.json()["sha256"], sha);
    let got = fetch(local_get(&s, &format!("{module}/@v/v1.0.0.zip"))).await;
    assert_eq!(artifactapi_e2e::sha256_hex(&got.body), sha);
    let dir = app(tmp.path(), "bigapp", &[(module, "v1.0.0")], "big.Size", &[module]);
    let (out, download) = build(&s.url(&format!("/api/v1/local/{LOCAL}")), &dir, &tmp.path().join("home"), &s).await;
    assert_eq!(out, "4");
    println!("goproxy local, 192 MiB module: publish {publish:?}, go mod download {download:?}");
}

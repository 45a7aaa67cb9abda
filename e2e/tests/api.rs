//! The edges of the HTTP surface, on every storage/coordination configuration: hostile paths,
//! unknown remotes, write methods on the proxy, the remotes CRUD API and its validation,
//! configuration changes taking effect without a restart, upstream credentials, the admin
//! token, and access rules.

use artifactapi_e2e::upstream::basic_auth;
use artifactapi_e2e::{fetch, generic_remote, matrix, raw, File, Options, Server, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn hostile_paths_never_reach_the_upstream(opts: Options) {
    let up = Upstream::start().await;
    up.put("/files/ok.bin", File::new("ok"));
    let s = Server::start(opts).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let hostile = [
        "files/../secret",
        "..",
        "files/..",
        "files/%2e%2e/secret",
        "%2E%2E/%2e%2e/etc/passwd",
        "files%2fsecret",
        "files%2Fsecret",
        "files%5csecret",
        "files\\secret",
        "files/%00secret",
        "a//b",
    ];
    for path in hostile {
        for method in ["GET", "HEAD"] {
            let r = raw::request(s.port(), method, &format!("/api/v1/remote/gen/{path}")).await;
            assert_eq!(r.status, 400, "{method} {path:?}: {}", r.head);
        }
    }
    assert_eq!(up.total(), 0, "a hostile path reached the upstream");
    // The same server and remote do serve a clean path: the 400s above were about the paths.
    let r = s.proxy_get("gen", "files/ok.bin").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok"));
    assert_eq!(up.total(), 1);
}
matrix!(hostile_paths_never_reach_the_upstream);

async fn unknown_remotes_and_write_methods(opts: Options) {
    let up = Upstream::start().await;
    up.put("/files/ok.bin", File::new("ok"));
    let s = Server::start(opts).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let r = s.proxy_get("nope", "files/ok.bin").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error_message().contains("nope"), "{}", r.describe());
    for method in [Method::PUT, Method::POST, Method::DELETE, Method::PATCH] {
        let r = fetch(s.client().request(method.clone(), s.proxy_url("gen", "files/ok.bin")).body("x")).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        let allow = r.header("allow").unwrap_or_else(|| panic!("{method}: 405 without Allow"));
        assert!(allow.contains("GET") && allow.contains("HEAD"), "{method}: Allow: {allow}");
    }
    assert_eq!(up.total(), 0);
}
matrix!(unknown_remotes_and_write_methods);

async fn remotes_crud_and_validation(opts: Options) {
    let s = Server::start(opts).await;
    let spec = generic_remote("crud", "http://127.0.0.1:9/base");
    let created = s.create_remote(spec.clone()).await;
    assert_eq!((created["name"].as_str(), created["package_type"].as_str()), (Some("crud"), Some("generic")));
    let dup = s.send_json(Method::POST, "/api/v2/remotes", &spec).await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.describe());
    let one = s.get("/api/v2/remotes/crud").await;
    assert_eq!((one.status, one.json()["name"].as_str()), (StatusCode::OK, Some("crud")));
    let all = s.get("/api/v2/remotes").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.json().as_array().expect("an array").iter().any(|r| r["name"] == "crud"), "{}", all.describe());

    let missing = s.get("/api/v2/remotes/missing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.error_message().contains("missing"));
    let put_missing =
        s.send_json(Method::PUT, "/api/v2/remotes/missing", &generic_remote("missing", "http://x/")).await;
    assert_eq!(put_missing.status, StatusCode::NOT_FOUND);
    let renamed = s.send_json(Method::PUT, "/api/v2/remotes/crud", &generic_remote("other", "http://x/")).await;
    assert_eq!(renamed.status, StatusCode::BAD_REQUEST, "body name must equal the path name");
    let del = |name: &str| fetch(s.admin(Method::DELETE, &format!("/api/v2/remotes/{name}")));
    assert_eq!(del("missing").await.status, StatusCode::NOT_FOUND);
    assert_eq!(del("crud").await.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/api/v2/remotes/crud").await.status, StatusCode::NOT_FOUND);
    assert_eq!(del("crud").await.status, StatusCode::NOT_FOUND);

    let invalid: &[(&str, Value, &str)] = &[
        ("patterns", json!(["("]), "patterns"),
        ("blocklist", json!(["[z-a]"]), "blocklist"),
        ("mutable_patterns", json!(["(?P<"]), "mutable_patterns"),
        ("base_url", json!("not a url"), "base_url"),
        ("base_url", json!("ftp://127.0.0.1/"), "base_url"),
        ("mutable_ttl", json!(-1), "mutable_ttl"),
        ("immutable_ttl", json!("abc"), "immutable_ttl"),
        ("package_type", json!("tape"), "package_type"),
        ("name", json!("Bad Name!"), "name"),
        ("colour", json!("red"), "colour"),
    ];
    for (field, value, named) in invalid {
        let mut spec = generic_remote("invalid", "http://127.0.0.1:9/");
        spec[*field] = value.clone();
        let r = s.send_json(Method::POST, "/api/v2/remotes", &spec).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}={value}: {}", r.describe());
        assert!(
            r.error_message().contains(named),
            "{field}={value}: the error does not name {named}: {}",
            r.describe()
        );
    }
    assert_eq!(s.get("/api/v2/remotes/invalid").await.status, StatusCode::NOT_FOUND, "nothing invalid was stored");
    // Names no repository can have are 404 before the catalog is asked (PostgreSQL refuses NUL).
    for (method, target) in [
        ("GET", "/api/v2/remotes/%00"),
        ("DELETE", "/api/v2/remotes/a%00b"),
        ("GET", "/api/v2/virtuals/%00"),
        ("DELETE", "/api/v2/virtuals/..%2f"),
    ] {
        let r = artifactapi_e2e::raw::request(s.port(), method, target).await;
        assert_eq!(r.status, 404, "{method} {target}: {r:?}");
    }

    let malformed = fetch(
        s.admin(Method::POST, "/api/v2/remotes").header("content-type", "application/json").body(r#"{"name": "x","#),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(!malformed.error_message().is_empty());

    let mut huge = generic_remote("huge", "http://127.0.0.1:9/");
    huge["patterns"] = json!(["a".repeat(2 << 20)]);
    let r = s.send_json(Method::POST, "/api/v2/remotes", &huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    let types = ["generic", "docker", "helm", "pypi", "npm", "rpm", "alpine", "puppet", "terraform", "goproxy"];
    for t in types {
        let spec = json!({ "name": format!("t-{t}"), "package_type": t, "base_url": "http://127.0.0.1:9/" });
        assert_eq!(s.create_remote(spec).await["package_type"], t);
    }
    let all = s.get("/api/v2/remotes").await.json();
    assert_eq!(all.as_array().map(Vec::len), Some(types.len()), "{all}");
}
matrix!(remotes_crud_and_validation);

async fn updates_apply_without_a_restart(opts: Options) {
    let up = Upstream::start().await;
    up.put("/allowed/a.bin", File::new("a"));
    up.put("/other/b.bin", File::new("b"));
    let s = Server::start(opts).await;
    s.create_remote(generic_remote("live", &up.base_url())).await;
    assert_eq!(s.proxy_get("live", "other/b.bin").await.status, StatusCode::OK);

    let mut spec = generic_remote("live", &up.base_url());
    spec["patterns"] = json!(["^allowed/"]);
    let updated = s.update_remote("live", spec).await;
    assert_eq!(updated["patterns"], json!(["^allowed/"]));
    let r = s.proxy_get("live", "other/b.bin").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the new patterns apply at once, cached or not: {}", r.describe());
    let r = s.proxy_get("live", "allowed/a.bin").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "a"));
    assert_eq!(s.get("/api/v2/remotes/live").await.json()["patterns"], json!(["^allowed/"]));
}
matrix!(updates_apply_without_a_restart);

async fn upstream_credentials_are_sent_and_never_returned(opts: Options) {
    const SECRET: &str = "s3cr3t-pw-e2e";
    let up = Upstream::start().await;
    up.put("/files/private.bin", File::new("private"));
    up.require_basic_auth(Some(("alice", SECRET)));
    let s = Server::start(opts).await;
    let mut spec = generic_remote("auth", &up.base_url());
    spec["username"] = json!("alice");
    spec["password"] = json!(SECRET);
    let created = s.create_remote(spec).await;
    assert_eq!(created["username"], "alice");
    assert!(created.get("password").is_none_or(Value::is_null), "{created}");
    for path in ["/api/v2/remotes", "/api/v2/remotes/auth"] {
        let r = s.get(path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.text().contains(SECRET), "{path} returned the password: {}", r.describe());
    }
    let r = s.proxy_get("auth", "files/private.bin").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "private"));
    let seen = up.requests("/files/private.bin");
    assert_eq!(seen[0].header("authorization"), Some(basic_auth("alice", SECRET).as_str()));
}
matrix!(upstream_credentials_are_sent_and_never_returned);

async fn the_admin_token_guards_writes_only(opts: Options) {
    let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
    let up = Upstream::start().await;
    up.put("/files/a.bin", File::new("a"));
    let s = Server::start(opts.admin_token(&token)).await;
    let spec = generic_remote("guarded", &up.base_url());
    let body = serde_json::to_vec(&spec).unwrap();
    let post = |auth: Option<&str>| {
        let req = s.client().post(s.url("/api/v2/remotes")).header("content-type", "application/json");
        let req = match auth {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        fetch(req.body(body.clone()))
    };
    for auth in [None, Some("wrong-token")] {
        let r = post(auth).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(r.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{auth:?}");
        assert!(!r.error_message().is_empty());
    }
    assert_eq!(post(Some(&token)).await.status, StatusCode::CREATED);

    assert_eq!(s.get("/api/v2/remotes").await.status, StatusCode::OK, "reads stay open");
    assert_eq!(s.get("/api/v2/remotes/guarded").await.status, StatusCode::OK);
    assert_eq!(s.proxy_get("guarded", "files/a.bin").await.status, StatusCode::OK, "the proxy stays open");
    let unauthenticated = [
        (Method::PUT, "/api/v2/remotes/guarded"),
        (Method::DELETE, "/api/v2/remotes/guarded"),
        (Method::POST, "/api/v2/gc"),
    ];
    for (method, path) in unauthenticated {
        let r = fetch(s.client().request(method.clone(), s.url(path)).header("content-type", "application/json").body(
            serde_json::to_vec(&if path.ends_with("gc") { json!({"dry_run": true}) } else { spec.clone() }).unwrap(),
        ))
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    assert_eq!(s.get("/api/v2/remotes/guarded").await.status, StatusCode::OK, "the refused DELETE deleted nothing");
    assert_eq!(fetch(s.admin(Method::DELETE, "/api/v2/remotes/guarded")).await.status, StatusCode::NO_CONTENT);
}
matrix!(the_admin_token_guards_writes_only);

async fn blocklist_beats_patterns(opts: Options) {
    let up = Upstream::start().await;
    for p in ["/pub/ok.txt", "/pub/secret.txt", "/priv/x.txt"] {
        up.put(p, File::new(p));
    }
    let s = Server::start(opts).await;
    let mut spec = generic_remote("rules", &up.base_url());
    spec["patterns"] = json!(["^pub/"]);
    spec["blocklist"] = json!(["secret"]);
    s.create_remote(spec).await;

    let r = s.proxy_get("rules", "pub/secret.txt").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "blocklist first, although the pattern allows it");
    assert!(r.error_message().contains("secret"), "the 403 names the blocklist rule: {}", r.describe());
    let r = s.proxy_get("rules", "priv/x.txt").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.error_message().contains("pattern"), "the 403 says the patterns refused it: {}", r.describe());
    let r = s.proxy_get("rules", "pub/ok.txt").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "/pub/ok.txt"));
    assert_eq!(up.total(), 1, "refused paths never reach the upstream");
}
matrix!(blocklist_beats_patterns);

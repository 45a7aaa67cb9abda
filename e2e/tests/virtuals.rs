//! Virtual repositories against the real binary: the CRUD API and its refusals (missing
//! member, type mismatch, duplicates, name clashes, deleting or retyping a listed remote), then
//! serving on every storage/coordination configuration: each file from the first member that has it
//! (checked by what each upstream saw), a member that is down passed over and named in
//! `X-Artifactapi-Unavailable`, a new member order followed by the very next request, hostile
//! paths refused before any upstream is asked, and goproxy `@v/list` as the union of the
//! members' lists. Two replicas sharing Redis: a virtual created, reordered and deleted through
//! one is followed by the other.

use std::time::Duration;

use artifactapi_e2e::{fetch, generic_remote, matrix, poll_until, raw, File, Mode, Options, Server, Storage, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const UNAVAILABLE: &str = "x-artifactapi-unavailable";

fn vurl(s: &Server, name: &str, path: &str) -> String {
    s.url(&format!("/api/v1/virtual/{name}/{path}"))
}

async fn vget(s: &Server, name: &str, path: &str) -> artifactapi_e2e::Fetched {
    fetch(s.client().get(vurl(s, name, path))).await
}

/// POSTs a virtual and asserts the status; returns the response.
async fn post(s: &Server, spec: Value, want: StatusCode) -> artifactapi_e2e::Fetched {
    let r = s.send_json(Method::POST, "/api/v2/virtuals", &spec).await;
    assert_eq!(r.status, want, "POST {spec}: {}", r.describe());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_codes_and_refusals() {
    let up = Upstream::start().await;
    let s = Server::start(Options::new(Storage::Fs, false).admin_token("virt-token")).await;
    for name in ["r1", "r2"] {
        s.create_remote(generic_remote(name, &up.base_url())).await;
    }
    s.create_remote(json!({"name": "g1", "package_type": "goproxy", "base_url": up.base_url()})).await;

    let spec = json!({"name": "v", "package_type": "generic", "members": ["r1", "r2"]});
    assert_eq!(post(&s, spec.clone(), StatusCode::CREATED).await.json(), spec);
    let r = post(&s, spec.clone(), StatusCode::CONFLICT).await;
    assert!(r.error_message().contains("\"v\""), "{}", r.describe());
    let r = post(&s, json!({"name": "r1", "package_type": "generic", "members": ["r2"]}), StatusCode::CONFLICT).await;
    assert!(r.error_message().contains("remote repository named \"r1\""), "{}", r.describe());
    // A remote cannot take a virtual's name either.
    let r = s.send_json(Method::POST, "/api/v2/remotes", &generic_remote("v", &up.base_url())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());

    let refused: &[(Value, &[&str])] = &[
        (json!({"name": "w", "package_type": "generic", "members": ["r1", "nope"]}), &["members[1]", "\"nope\""]),
        (
            json!({"name": "w", "package_type": "generic", "members": ["g1"]}),
            &["members[0]", "\"g1\"", "goproxy", "generic"],
        ),
        (json!({"name": "w", "package_type": "generic", "members": ["r1", "r2", "r1"]}), &["members[2]", "twice"]),
        (json!({"name": "w", "package_type": "generic", "members": []}), &["members"]),
        (json!({"name": "w", "package_type": "generic", "members": ["r1"], "extra": 1}), &["unknown field `extra`"]),
        (json!({"name": "W/x", "package_type": "generic", "members": ["r1"]}), &["name"]),
        (json!({"name": "w", "package_type": "maven", "members": ["r1"]}), &["package_type"]),
        (json!({"name": "w", "package_type": "generic", "members": ["../r1"]}), &["members[0]"]),
    ];
    for (spec, wants) in refused {
        let r = post(&s, spec.clone(), StatusCode::BAD_REQUEST).await;
        let msg = r.error_message();
        for want in *wants {
            assert!(msg.contains(want), "{spec}: {msg:?} lacks {want:?}");
        }
    }
    let r = fetch(s.admin(Method::POST, "/api/v2/virtuals").header("content-type", "application/json").body("{")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    let big = format!(r#"{{"name":"w","package_type":"generic","members":["{}"]}}"#, "a".repeat(2 << 20));
    let r = fetch(s.admin(Method::POST, "/api/v2/virtuals").header("content-type", "application/json").body(big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.describe());
    let body = json!({"name": "w", "package_type": "generic", "members": ["r1"]}).to_string();
    let r =
        fetch(s.client().post(s.url("/api/v2/virtuals")).header("content-type", "application/json").body(body)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "writes need the admin token");
    let r = fetch(s.client().delete(s.url("/api/v2/virtuals/v"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let list = s.get("/api/v2/virtuals").await;
    assert_eq!(list.json(), json!([spec]));
    assert_eq!(s.get("/api/v2/virtuals/v").await.json(), spec);
    let r = s.get("/api/v2/virtuals/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error_message().contains("nope"), "{}", r.describe());

    let reordered = json!({"name": "v", "package_type": "generic", "members": ["r2", "r1"]});
    let r = s.send_json(Method::PUT, "/api/v2/virtuals/v", &reordered).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, reordered.clone()), "{}", r.describe());
    let r = s.send_json(Method::PUT, "/api/v2/virtuals/other", &reordered).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "name mismatch: {}", r.describe());
    let ghost = json!({"name": "ghost", "package_type": "generic", "members": ["r1"]});
    let r = s.send_json(Method::PUT, "/api/v2/virtuals/ghost", &ghost).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    let r = s
        .send_json(
            Method::PUT,
            "/api/v2/virtuals/v",
            &json!({"name": "v", "package_type": "generic", "members": ["g1"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    assert_eq!(s.get("/api/v2/virtuals/v").await.json(), reordered, "a refused PUT changes nothing");

    let r = fetch(s.admin(Method::DELETE, "/api/v2/remotes/r1")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());
    assert!(r.error_message().contains("\"v\""), "the 409 names the virtual: {}", r.describe());
    assert_eq!(s.get("/api/v2/remotes/r1").await.status, StatusCode::OK);
    // A listed remote keeps its package type too; the same type may still change the rest.
    let retyped = json!({"name": "r1", "package_type": "npm", "base_url": up.base_url()});
    let r = s.send_json(Method::PUT, "/api/v2/remotes/r1", &retyped).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());
    assert!(r.error_message().contains("\"v\""), "the 409 names the virtual: {}", r.describe());
    assert_eq!(s.get("/api/v2/remotes/r1").await.json()["package_type"], "generic");
    let r = s.send_json(Method::PUT, "/api/v2/remotes/r1", &generic_remote("r1", &up.base_url())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());

    // Serving: unknown virtual, writes, hostile paths.
    let r = vget(&s, "nope", "a.txt").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error_message().contains("nope"), "{}", r.describe());
    for method in [Method::PUT, Method::POST, Method::DELETE] {
        let r = fetch(s.client().request(method.clone(), vurl(&s, "v", "a.txt")).body("x")).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    for path in ["files/../secret", "..", "files/%2e%2e/x", "files%2fx", "files%5cx", "files/%00x", "a//b"] {
        for method in ["GET", "HEAD"] {
            let r = raw::request(s.port(), method, &format!("/api/v1/virtual/v/{path}")).await;
            assert_eq!(r.status, 400, "{method} {path:?}: {}", r.head);
        }
    }
    assert_eq!(up.total(), 0, "nothing reached the upstream");

    let r = fetch(s.admin(Method::DELETE, "/api/v2/virtuals/v")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(fetch(s.admin(Method::DELETE, "/api/v2/virtuals/v")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(vget(&s, "v", "a.txt").await.status, StatusCode::NOT_FOUND);
    assert_eq!(fetch(s.admin(Method::DELETE, "/api/v2/remotes/r1")).await.status, StatusCode::NO_CONTENT);
}

async fn first_member_with_the_file_serves_it(opts: Options) {
    let (up1, up2) = (Upstream::start().await, Upstream::start().await);
    let s = Server::start(opts.env("BREAKER_THRESHOLD", 100)).await;
    s.create_remote(generic_remote("m1", &up1.base_url())).await;
    s.create_remote(generic_remote("m2", &up2.base_url())).await;
    let spec = json!({"name": "v", "package_type": "generic", "members": ["m1", "m2"]});
    post(&s, spec, StatusCode::CREATED).await;

    up2.put("/files/a.txt", File::new("A from two"));
    up1.put("/files/b.txt", File::new("B from one"));
    up2.put("/files/b.txt", File::new("B from two"));
    let r = vget(&s, "v", "files/a.txt").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "A from two"), "{}", r.describe());
    assert_eq!(r.header(UNAVAILABLE), None);
    assert_eq!((up1.count("/files/a.txt"), up2.count("/files/a.txt")), (1, 1), "asked the first, then the second");
    let r = vget(&s, "v", "files/b.txt").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "B from one"));
    assert_eq!((up1.count("/files/b.txt"), up2.count("/files/b.txt")), (1, 0), "the second was never asked");
    let r = fetch(s.client().head(vurl(&s, "v", "files/b.txt"))).await;
    assert_eq!((r.status, r.header("content-length")), (StatusCode::OK, Some("10")));
    let r = vget(&s, "v", "files/none.txt").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    assert!(r.error_message().contains("\"v\""), "{}", r.describe());

    // A new order applies to the very next request.
    let reordered = json!({"name": "v", "package_type": "generic", "members": ["m2", "m1"]});
    assert_eq!(s.send_json(Method::PUT, "/api/v2/virtuals/v", &reordered).await.status, StatusCode::OK);
    let r = vget(&s, "v", "files/b.txt").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "B from two"));
    assert_eq!(up2.count("/files/b.txt"), 1);

    // The first member's upstream down: files still come from the second, which is named as
    // skipped; a file no answering member has is a 502 naming the one that is down.
    let back = json!({"name": "v", "package_type": "generic", "members": ["m1", "m2"]});
    assert_eq!(s.send_json(Method::PUT, "/api/v2/virtuals/v", &back).await.status, StatusCode::OK);
    up1.set_mode(Mode::HtmlError(503));
    up2.put("/files/c.txt", File::new("C from two"));
    let r = vget(&s, "v", "files/c.txt").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "C from two"), "{}", r.describe());
    assert_eq!(r.header(UNAVAILABLE), Some("m1"));
    let r = vget(&s, "v", "files/missing.txt").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    assert!(r.error_message().contains("m1"), "{}", r.describe());
    assert_eq!(r.header(UNAVAILABLE), Some("m1"));
    up1.set_mode(Mode::Normal);
}
matrix!(first_member_with_the_file_serves_it);

async fn goproxy_lists_are_the_union_of_the_members(opts: Options) {
    let (up1, up2) = (Upstream::start().await, Upstream::start().await);
    let s = Server::start(opts).await;
    for (name, up) in [("go1", &up1), ("go2", &up2)] {
        s.create_remote(json!({"name": name, "package_type": "goproxy", "base_url": up.base_url()})).await;
    }
    post(&s, json!({"name": "gov", "package_type": "goproxy", "members": ["go1", "go2"]}), StatusCode::CREATED).await;
    up1.put("/example.com/m/@v/list", File::new("v1.0.0\nv1.1.0\n"));
    up2.put("/example.com/m/@v/list", File::new("v1.1.0\nv2.0.0\n"));
    up2.put("/example.com/only2/@v/list", File::new("v0.1.0\n"));
    let info = r#"{"Version":"v1.1.0","Time":"2024-01-02T03:04:05Z"}"#;
    up2.put("/example.com/m/@v/v1.1.0.info", File::new(info));

    let r = vget(&s, "gov", "example.com/m/@v/list").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "v1.0.0\nv1.1.0\nv2.0.0\n"), "{}", r.describe());
    assert_eq!((up1.count("/example.com/m/@v/list"), up2.count("/example.com/m/@v/list")), (1, 1));
    let r = vget(&s, "gov", "example.com/only2/@v/list").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "v0.1.0\n"), "{}", r.describe());
    let r = vget(&s, "gov", "example.com/none/@v/list").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    let r = vget(&s, "gov", "example.com/m/@v/v1.1.0.info").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, info), "{}", r.describe());
    let r = vget(&s, "gov", "example.com/m/@v/..%2f..%2fx.info").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
}
matrix!(goproxy_lists_are_the_union_of_the_members);

async fn changes_reach_the_other_replica(opts: Options) {
    let (up1, up2) = (Upstream::start().await, Upstream::start().await);
    up1.put("/files/b.txt", File::new("B from one"));
    up2.put("/files/b.txt", File::new("B from two"));
    let a = Server::start(opts.clone()).await;
    let b = Server::start(opts.shared_with(&a)).await;
    a.create_remote(generic_remote("m1", &up1.base_url())).await;
    a.create_remote(generic_remote("m2", &up2.base_url())).await;
    post(&a, json!({"name": "v", "package_type": "generic", "members": ["m1", "m2"]}), StatusCode::CREATED).await;
    let wait = Duration::from_secs(10);
    let poll = Duration::from_millis(50);
    let first = poll_until("B serves the new virtual", wait, poll, || async {
        let r = vget(&b, "v", "files/b.txt").await;
        (r.status == StatusCode::OK).then(|| r.text())
    })
    .await;
    assert_eq!(first, "B from one");
    let reordered = json!({"name": "v", "package_type": "generic", "members": ["m2", "m1"]});
    assert_eq!(a.send_json(Method::PUT, "/api/v2/virtuals/v", &reordered).await.status, StatusCode::OK);
    poll_until("B follows the new order", wait, poll, || async {
        (vget(&b, "v", "files/b.txt").await.text() == "B from two").then_some(())
    })
    .await;
    assert_eq!(fetch(a.admin(Method::DELETE, "/api/v2/virtuals/v")).await.status, StatusCode::NO_CONTENT);
    poll_until("B forgets the deleted virtual", wait, poll, || async {
        (vget(&b, "v", "files/b.txt").await.status == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
}
matrix!(changes_reach_the_other_replica, redis_only);

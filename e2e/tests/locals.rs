//! Local repository configuration against the real binary: the CRUD API with its codes, every
//! package type, refusals naming the field (hostile names, unknown fields, oversize bodies),
//! the admin token on writes, names unique across remotes, virtuals and locals (409 both
//! ways), a virtual listing a local (accepted; the local then cannot be deleted or change its
//! package type), and a deleted local taking its `local_files` rows with it.

use artifactapi_e2e::db::DbServer;
use artifactapi_e2e::{fetch, generic_remote, File, Options, Server, Storage, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const TOKEN: &str = "locals-token";

async fn post(s: &Server, spec: &Value, want: StatusCode) -> artifactapi_e2e::Fetched {
    let r = s.send_json(Method::POST, "/api/v2/locals", spec).await;
    assert_eq!(r.status, want, "POST {spec}: {}", r.describe());
    r
}

async fn start() -> Server {
    Server::start(Options::new(Storage::Fs, false).admin_token(TOKEN)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_codes_and_errors() {
    let s = start().await;
    let types = ["generic", "docker", "helm", "pypi", "npm", "goproxy", "puppet", "rpm", "terraform"];
    let mut want = Vec::new();
    for t in types {
        let spec = json!({"name": format!("l-{t}"), "package_type": t});
        assert_eq!(post(&s, &spec, StatusCode::CREATED).await.json(), spec);
        want.push(spec);
    }
    // Types whose local repositories are not served yet are refused, naming the type.
    for t in ["alpine"] {
        let r = post(&s, &json!({"name": format!("l-{t}"), "package_type": t}), StatusCode::BAD_REQUEST).await;
        assert!(r.error_message().contains(t), "{}", r.describe());
    }
    want.sort_by_key(|v| v["name"].as_str().unwrap_or_default().to_string());
    assert_eq!(s.get("/api/v2/locals").await.json(), Value::Array(want));

    let spec = json!({"name": "l-docker", "package_type": "docker"});
    let r = post(&s, &spec, StatusCode::CONFLICT).await;
    assert!(r.error_message().contains("local repository named \"l-docker\""), "{}", r.describe());
    assert_eq!(s.get("/api/v2/locals/l-docker").await.json(), spec);
    let r = s.get("/api/v2/locals/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error_message().contains("\"nope\""), "the 404 names it: {}", r.describe());

    let moved = json!({"name": "l-docker", "package_type": "helm"});
    let r = s.send_json(Method::PUT, "/api/v2/locals/l-docker", &moved).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, moved.clone()), "{}", r.describe());
    assert_eq!(s.get("/api/v2/locals/l-docker").await.json(), moved);
    let r = s.send_json(Method::PUT, "/api/v2/locals/l-npm", &moved).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "name mismatch: {}", r.describe());
    assert!(r.error_message().starts_with("name:"), "{}", r.describe());
    let ghost = json!({"name": "ghost", "package_type": "generic"});
    let r = s.send_json(Method::PUT, "/api/v2/locals/ghost", &ghost).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    assert!(r.error_message().contains("\"ghost\""), "{}", r.describe());

    let r = fetch(s.admin(Method::DELETE, "/api/v2/locals/l-docker")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.describe());
    assert_eq!(s.get("/api/v2/locals/l-docker").await.status, StatusCode::NOT_FOUND);
    let r = fetch(s.admin(Method::DELETE, "/api/v2/locals/l-docker")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    assert!(r.error_message().contains("\"l-docker\""), "{}", r.describe());
    // The name is free again.
    post(&s, &json!({"name": "l-docker", "package_type": "docker"}), StatusCode::CREATED).await;

    let r = fetch(s.client().request(Method::PATCH, s.url("/api/v2/locals/l-npm"))).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_and_names_are_refused_naming_the_field() {
    let s = start().await;
    let refused: &[(Value, &str)] = &[
        (json!({"name": "../x", "package_type": "docker"}), "name:"),
        (json!({"name": "", "package_type": "docker"}), "name:"),
        (json!({"name": "a".repeat(65), "package_type": "docker"}), "name:"),
        (json!({"name": "Upper", "package_type": "docker"}), "name:"),
        (json!({"name": "a/b", "package_type": "docker"}), "name:"),
        (json!({"name": "ok", "package_type": "maven"}), "package_type:"),
        (json!({"name": "ok"}), "package_type"),
        (json!({"name": "ok", "package_type": "docker", "spec": {}}), "unknown field `spec`"),
        (json!(["ok"]), "body:"),
    ];
    for (spec, want) in refused {
        let r = post(&s, spec, StatusCode::BAD_REQUEST).await;
        assert!(r.error_message().contains(want), "{spec}: {:?} lacks {want:?}", r.error_message());
    }
    post(&s, &json!({"name": "a".repeat(64), "package_type": "docker"}), StatusCode::CREATED).await;
    let r = fetch(s.admin(Method::POST, "/api/v2/locals").header("content-type", "application/json").body("{")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    let big = format!(r#"{{"name":"{}","package_type":"docker"}}"#, "a".repeat(2 << 20));
    let r = fetch(s.admin(Method::POST, "/api/v2/locals").header("content-type", "application/json").body(big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.describe());
    for name in ["..%2fx", "%00", "A", "x%00y"] {
        let path = format!("/api/v2/locals/{name}");
        let r = s.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.describe());
        let r = fetch(s.admin(Method::DELETE, &path)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "DELETE {path}: {}", r.describe());
        let body = json!({"name": "x", "package_type": "docker"});
        let r = s.send_json(Method::PUT, &path, &body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "PUT {path}: {}", r.describe());
    }
    assert_eq!(s.get("/api/v2/locals").await.json().as_array().map(Vec::len), Some(1), "nothing refused was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_admin_token() {
    let s = start().await;
    let spec = json!({"name": "l", "package_type": "generic"});
    let unauth = |method: Method, path: &str, token: Option<&str>| {
        let mut req = s.client().request(method, s.url(path)).header("content-type", "application/json");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        fetch(req.body(spec.to_string()))
    };
    for token in [None, Some("wrong")] {
        let r = unauth(Method::POST, "/api/v2/locals", token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "POST with {token:?}: {}", r.describe());
    }
    assert_eq!(s.get("/api/v2/locals/l").await.status, StatusCode::NOT_FOUND, "a refused POST stores nothing");
    post(&s, &spec, StatusCode::CREATED).await;
    assert_eq!(unauth(Method::PUT, "/api/v2/locals/l", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauth(Method::DELETE, "/api/v2/locals/l", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauth(Method::DELETE, "/api/v2/locals/l", Some("wrong")).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.get("/api/v2/locals/l").await.json(), spec, "reads are open; refused writes changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_clash_across_kinds_and_virtuals_list_locals() {
    let up = Upstream::start().await;
    let s = start().await;
    s.create_remote(generic_remote("r1", &up.base_url())).await;
    post(&s, &json!({"name": "l1", "package_type": "generic"}), StatusCode::CREATED).await;
    post(&s, &json!({"name": "l2", "package_type": "generic"}), StatusCode::CREATED).await;
    let virt = json!({"name": "v1", "package_type": "generic", "members": ["l1", "r1"]});
    let r = s.send_json(Method::POST, "/api/v2/virtuals", &virt).await;
    assert_eq!((r.status, r.json()), (StatusCode::CREATED, virt.clone()), "a virtual may list a local");
    up.put("/files/a.txt", File::new("from r1"));
    let r = fetch(s.client().get(s.url("/api/v1/virtual/v1/files/a.txt"))).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::OK, "from r1"),
        "the remote member serves: {}",
        r.describe()
    );

    // A local cannot take a remote's or a virtual's name, and neither can take a local's.
    let r = post(&s, &json!({"name": "r1", "package_type": "generic"}), StatusCode::CONFLICT).await;
    assert!(r.error_message().contains("remote repository named \"r1\""), "{}", r.describe());
    let r = post(&s, &json!({"name": "v1", "package_type": "generic"}), StatusCode::CONFLICT).await;
    assert!(r.error_message().contains("virtual repository named \"v1\""), "{}", r.describe());
    let r = s.send_json(Method::POST, "/api/v2/remotes", &generic_remote("l1", &up.base_url())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());
    assert!(r.error_message().contains("local repository named \"l1\""), "{}", r.describe());
    let r = s
        .send_json(
            Method::POST,
            "/api/v2/virtuals",
            &json!({"name": "l2", "package_type": "generic", "members": ["r1"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());
    assert!(r.error_message().contains("local repository named \"l2\""), "{}", r.describe());

    // A listed local keeps its package type and cannot be deleted; the 409 names the virtual.
    let r = s.send_json(Method::PUT, "/api/v2/locals/l1", &json!({"name": "l1", "package_type": "npm"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());
    assert!(r.error_message().contains("\"v1\""), "{}", r.describe());
    let same = json!({"name": "l1", "package_type": "generic"});
    assert_eq!(s.send_json(Method::PUT, "/api/v2/locals/l1", &same).await.status, StatusCode::OK);
    let r = fetch(s.admin(Method::DELETE, "/api/v2/locals/l1")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.describe());
    assert!(r.error_message().contains("\"v1\""), "the 409 names the virtual: {}", r.describe());
    assert_eq!(s.get("/api/v2/locals/l1").await.json(), same);

    // A local of another type is refused as a member; once the virtual lets go, l1 can go.
    post(&s, &json!({"name": "l3", "package_type": "docker"}), StatusCode::CREATED).await;
    let r = s
        .send_json(
            Method::PUT,
            "/api/v2/virtuals/v1",
            &json!({"name": "v1", "package_type": "generic", "members": ["l3"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.describe());
    let only_remote = json!({"name": "v1", "package_type": "generic", "members": ["r1", "l2"]});
    assert_eq!(s.send_json(Method::PUT, "/api/v2/virtuals/v1", &only_remote).await.status, StatusCode::OK);
    let r = fetch(s.admin(Method::DELETE, "/api/v2/locals/l1")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.describe());
    let r = s.send_json(Method::PUT, "/api/v2/virtuals/v1", &virt).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a deleted local is no member: {}", r.describe());
    assert!(r.error_message().contains("members[0]"), "{}", r.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_local_deletes_its_files() {
    let s = start().await;
    post(&s, &json!({"name": "keep", "package_type": "generic"}), StatusCode::CREATED).await;
    post(&s, &json!({"name": "gone", "package_type": "generic"}), StatusCode::CREATED).await;
    let db = DbServer::from_env().connect(s.database_name()).await;
    let digest = format!("sha256:{}", "0".repeat(64));
    for repo in ["keep", "gone"] {
        for path in ["a", "b/c"] {
            db.execute(
                "INSERT INTO local_files (repo, path, digest, size) VALUES ($1, $2, $3, 1)",
                &[&repo, &path, &digest],
            )
            .await
            .unwrap();
        }
    }
    assert_eq!(fetch(s.admin(Method::DELETE, "/api/v2/locals/gone")).await.status, StatusCode::NO_CONTENT);
    let rows = db.query("SELECT DISTINCT repo FROM local_files", &[]).await.unwrap();
    let repos: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(repos, ["keep"]);
}

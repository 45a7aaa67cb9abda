//! Docker remotes in front of registries that demand credentials, with fs and S3 storage.
//!
//! - Token auth: a front demands Bearer tokens from its token endpoint on another host
//!   (127.0.0.2), which issues tokens only for the right basic credentials. A remote that names
//!   that host in `token_realm_hosts` pulls with skopeo, one token for a whole image (cached),
//!   every registry request after the first carrying it. A remote with the same credentials but
//!   without the realm host never sends them there: its token requests carry none and the pull
//!   fails with an OCI error. An anonymous token service serves a remote without credentials.
//! - Basic auth: docker-registry with `auth: htpasswd`; a remote with the credentials pulls, one
//!   without them gets an OCI error.

use artifactapi_e2e::docker::{push, skopeo, skopeo_unchecked, Front, FrontAuth, Layout, Registry};
use artifactapi_e2e::{fetch, Options, Server, Storage};
use reqwest::StatusCode;
use serde_json::json;

const USER: &str = "puller";
const PASS: &str = "s3cret-pass";

fn remote(name: &str, base_url: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({ "name": name, "package_type": "docker", "base_url": base_url });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    spec
}

fn inspect(s: &Server, remote: &str, image: &str) -> std::process::Output {
    skopeo_unchecked(&["inspect", "--tls-verify=false", &format!("docker://127.0.0.1:{}/{remote}/{image}", s.port())])
}

async fn bearer_tokens(opts: Options) {
    let layout = Layout::build(3, 50_000);
    let reg = Registry::start().await;
    push(&layout, "amd", &format!("{}/team/app:1.0", reg.host()), &[]);
    let creds = Some((USER.to_string(), PASS.to_string()));
    let front = Front::start(&reg.url(), FrontAuth::Bearer { credentials: creds, expires_in: 300 }).await;
    let s = Server::start(opts).await;
    // The token service is on 127.0.0.2, a private address: the remotes allow it.
    let with_creds = json!({ "username": USER, "password": PASS, "allow_private_upstreams": true });
    let mut named = with_creds.clone();
    named["token_realm_hosts"] = json!([front.realm_host()]);
    s.create_remote(remote("named", &front.url(), named)).await;
    s.create_remote(remote("unnamed", &front.url(), with_creds)).await;

    // The realm is named: credentials go to it, one token serves the whole pull.
    let dir = layout.scratch("named");
    let src = format!("docker://127.0.0.1:{}/named/team/app:1.0", s.port());
    skopeo(&["copy", "--src-tls-verify=false", &src, &format!("dir:{}", dir.display())]);
    let tokens = front.token_requests();
    assert_eq!(tokens.len(), 1, "one token for the whole image: {tokens:?}");
    assert_eq!(tokens[0].basic, Some((USER.to_string(), PASS.to_string())));
    assert!(tokens[0].query.contains("scope=repository%3Ateam%2Fapp%3Apull"), "{}", tokens[0].query);
    let seen = front.seen();
    let blob_gets: Vec<_> = seen.iter().filter(|r| r.path.contains("/blobs/")).collect();
    assert_eq!(blob_gets.len(), layout.blobs("amd").len(), "{seen:?}");
    assert!(
        blob_gets.iter().all(|r| r.authorization.as_deref().is_some_and(|a| a.starts_with("Bearer "))),
        "blob requests sent the cached token straight away: {blob_gets:?}"
    );
    assert!(seen.iter().all(|r| !r.authorization.as_deref().unwrap_or("").contains(PASS)));

    // The same credentials, realm not named: they never reach the token service.
    front.clear();
    let refused = inspect(&s, "unnamed", "team/app:1.0");
    assert!(!refused.status.success(), "a pull without a token succeeded");
    let tokens = front.token_requests();
    assert!(!tokens.is_empty(), "the challenge was followed");
    assert!(tokens.iter().all(|t| t.basic.is_none()), "credentials reached a realm not named: {tokens:?}");
    let r = fetch(s.client().get(s.url("/v2/unnamed/team/app/manifests/1.0"))).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    let message = r.json()["errors"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("token service"), "{message}");
}

async fn anonymous_tokens(opts: Options) {
    let layout = Layout::build(4, 50_000);
    let reg = Registry::start().await;
    push(&layout, "arm", &format!("{}/app:2", reg.host()), &[]);
    let front = Front::start(&reg.url(), FrontAuth::Bearer { credentials: None, expires_in: 60 }).await;
    let s = Server::start(opts).await;
    s.create_remote(remote("anon", &front.url(), json!({ "allow_private_upstreams": true }))).await;
    let out = inspect(&s, "anon", "app:2");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let digest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(digest["Digest"], layout.digest("arm"));
    assert!(front.token_requests().iter().all(|t| t.basic.is_none()));
}

async fn basic_auth(opts: Options) {
    let layout = Layout::build(5, 50_000);
    let reg = Registry::start_with_basic(USER, PASS).await;
    let s = Server::start(opts).await;
    let creds = format!("--dest-creds={USER}:{PASS}");
    push(&layout, "amd", &format!("{}/app:1.0", reg.host()), &[&creds]);
    s.create_remote(remote("basic", &reg.url(), json!({ "username": USER, "password": PASS }))).await;
    s.create_remote(remote("nocreds", &reg.url(), json!({}))).await;
    let dir = layout.scratch("basic");
    let src = format!("docker://127.0.0.1:{}/basic/app:1.0", s.port());
    skopeo(&["copy", "--src-tls-verify=false", &src, &format!("dir:{}", dir.display())]);
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    assert_eq!(format!("sha256:{}", artifactapi_e2e::sha256_hex(&manifest)), layout.digest("amd"));
    let r = fetch(s.client().get(s.url("/v2/nocreds/app/manifests/1.0"))).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.describe());
    assert!(r.json()["errors"][0]["message"].as_str().unwrap().contains("401"), "{}", r.describe());
}

macro_rules! fs_and_s3 {
    ($($scenario:ident),*) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fs() {
                super::$scenario(artifactapi_e2e::Options::new(super::Storage::Fs, false)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3() {
                super::$scenario(artifactapi_e2e::Options::new(super::Storage::S3, false)).await
            }
        }
    )*};
}

fs_and_s3!(bearer_tokens, anonymous_tokens, basic_auth);

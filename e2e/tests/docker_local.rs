//! Local docker repositories with the real clients: images built with `umoci`, pushed and
//! pulled with `skopeo` and `podman` (vfs storage in a temporary root), with and without the
//! admin token.
//!
//! What a user sees: an image (and a two-platform index) pushed and pulled back with identical
//! digests and bytes, podman pushing what it pulled to another repository, a tag moved by
//! pushing it again, a delete, and pushes refused without the token while pulls stay anonymous
//! (unless `ADMIN_TOKEN_READS=true`). The raw protocol's edge cases are in
//! `docker_local_api.rs`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use artifactapi_e2e::docker::{podman, skopeo, skopeo_unchecked, Layout};
use artifactapi_e2e::{sha256_hex, Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const TOKEN: &str = "push-token";

fn stdout(out: Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo_fails(args: &[&str]) -> String {
    let out = skopeo_unchecked(args);
    assert!(!out.status.success(), "skopeo {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `podman` with the same storage layout as [`podman`], whatever its exit status.
fn podman_unchecked(root: &Path, args: &[&str]) -> Output {
    Command::new("podman")
        .args(["--storage-driver", "vfs", "--root"])
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(args)
        .env("TMPDIR", root)
        .stdin(Stdio::null())
        .output()
        .expect("run podman")
}

/// The digest of `tag` in the OCI layout at `dir`.
fn layout_digest(dir: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json")).expect("JSON");
    let entry = index["manifests"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag).cloned());
    entry.and_then(|e| e["digest"].as_str().map(String::from)).unwrap_or_else(|| panic!("no tag {tag} in {index}"))
}

/// The digest of what a tag names, from the registry's raw manifest.
fn remote_digest(reference: &str, creds: &[&str]) -> String {
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    args.extend_from_slice(creds);
    args.push(reference);
    format!("sha256:{}", sha256_hex(&skopeo(&args).stdout))
}

async fn server(opts: Options) -> Server {
    let s = Server::start(opts).await;
    let r = s.send_json(Method::POST, "/api/v2/locals", &json!({"name": "loc", "package_type": "docker"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    s
}

async fn push_pull_move_delete(opts: Options) {
    let s = server(opts).await;
    let host = format!("127.0.0.1:{}", s.port());
    let images = Layout::build(1, 2 << 20);
    let app = |tag: &str| format!("docker://{host}/loc/team/app:{tag}");

    // skopeo: an image and a two-platform index, pushed and pulled back identical.
    skopeo(&["copy", "--dest-tls-verify=false", &images.reference("amd"), &app("v1")]);
    skopeo(&["copy", "--all", "--dest-tls-verify=false", &images.reference("multi"), &app("multi")]);
    assert_eq!(remote_digest(&app("v1"), &[]), images.digest("amd"));
    assert_eq!(remote_digest(&app("multi"), &[]), images.digest("multi"));
    let pulled = images.scratch("pulled");
    skopeo(&["copy", "--all", "--src-tls-verify=false", &app("multi"), &format!("oci:{}:multi", pulled.display())]);
    assert_eq!(layout_digest(&pulled, "multi"), images.digest("multi"));
    // Content-addressed: every blob the index reaches is there, and hashes to its name.
    for blob in images.blobs("multi") {
        let bytes = std::fs::read(pulled.join("blobs/sha256").join(blob.trim_start_matches("sha256:")))
            .unwrap_or_else(|e| panic!("pulled blob {blob}: {e}"));
        assert_eq!(format!("sha256:{}", sha256_hex(&bytes)), blob, "pulled blob {blob} is byte-identical");
    }
    let listed = skopeo(&["list-tags", "--tls-verify=false", &format!("docker://{host}/loc/team/app")]);
    let tags: Value = serde_json::from_slice(&listed.stdout).expect("list-tags JSON");
    assert_eq!(tags["Tags"], json!(["multi", "v1"]));

    // podman: pull, push what it pulled to another repository, pull that back by digest.
    let root = images.scratch("podman");
    podman(&root, &["pull", "--tls-verify=false", &format!("{host}/loc/team/app:v1")]);
    let pulled_digest =
        stdout(podman(&root, &["image", "inspect", "--format", "{{.Digest}}", &format!("{host}/loc/team/app:v1")]));
    assert_eq!(pulled_digest.trim(), images.digest("amd"));
    podman(&root, &["tag", &format!("{host}/loc/team/app:v1"), &format!("{host}/loc/copy:v1")]);
    let digest_file = images.scratch("pushed-digest");
    let file_arg = format!("--digestfile={}", digest_file.display());
    podman(&root, &["push", "--tls-verify=false", &file_arg, &format!("{host}/loc/copy:v1")]);
    let pushed = std::fs::read_to_string(&digest_file).expect("digest file");
    assert_eq!(remote_digest(&format!("docker://{host}/loc/copy:v1"), &[]), pushed.trim());
    let root2 = images.scratch("podman2");
    podman(&root2, &["pull", "--tls-verify=false", &format!("{host}/loc/copy@{}", pushed.trim())]);

    // Pushing the tag again moves it; a delete removes it.
    skopeo(&["copy", "--dest-tls-verify=false", &images.reference("arm"), &app("v1")]);
    assert_eq!(remote_digest(&app("v1"), &[]), images.digest("arm"));
    skopeo(&["delete", "--tls-verify=false", &app("v1")]);
    let err = skopeo_fails(&["inspect", "--raw", "--tls-verify=false", &app("v1")]);
    assert!(err.contains("manifest unknown"), "{err}");
    assert_eq!(remote_digest(&app("multi"), &[]), images.digest("multi"), "other tags stay");
}

mod push_pull_move_delete {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fs() {
        push_pull_move_delete(Options::new(Storage::Fs, false)).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3() {
        push_pull_move_delete(Options::new(Storage::S3, false)).await
    }
}

async fn pushes_need_the_token(opts: Options) {
    let s = server(opts.admin_token(TOKEN)).await;
    let host = format!("127.0.0.1:{}", s.port());
    let images = Layout::build(2, 1 << 20);
    let dest = format!("docker://{host}/loc/app:v1");
    let creds = format!("anyone:{TOKEN}");

    let err = skopeo_fails(&["copy", "--dest-tls-verify=false", &images.reference("amd"), &dest]);
    assert!(err.contains("unauthorized") || err.contains("authentication required"), "{err}");
    let err = skopeo_fails(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "anyone:wrong",
        &images.reference("amd"),
        &dest,
    ]);
    assert!(err.contains("unauthorized") || err.contains("authentication required"), "{err}");
    skopeo(&["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &images.reference("amd"), &dest]);
    // Pulls stay anonymous.
    assert_eq!(remote_digest(&dest, &[]), images.digest("amd"));

    let root = images.scratch("podman");
    let target = format!("{host}/loc/other:v1");
    podman(&root, &["pull", "--tls-verify=false", &format!("{host}/loc/app:v1")]);
    podman(&root, &["tag", &format!("{host}/loc/app:v1"), &target]);
    let out = podman_unchecked(&root, &["push", "--tls-verify=false", &target]);
    assert!(!out.status.success(), "podman push without credentials must fail");
    podman(&root, &["push", "--tls-verify=false", "--creds", &creds, &target]);
    assert_eq!(remote_digest(&format!("docker://{target}"), &[]).len(), 71);
}

mod pushes_need_the_token {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fs() {
        pushes_need_the_token(Options::new(Storage::Fs, false)).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3() {
        pushes_need_the_token(Options::new(Storage::S3, false)).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_need_the_token_with_admin_token_reads() {
    let s = server(Options::new(Storage::Fs, false).admin_token(TOKEN).env("ADMIN_TOKEN_READS", "true")).await;
    let host = format!("127.0.0.1:{}", s.port());
    let images = Layout::build(3, 1 << 20);
    let dest = format!("docker://{host}/loc/app:v1");
    let creds = format!("ci:{TOKEN}");
    skopeo(&["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &images.reference("amd"), &dest]);
    let err = skopeo_fails(&["inspect", "--raw", "--tls-verify=false", &dest]);
    assert!(err.contains("unauthorized") || err.contains("authentication required"), "{err}");
    assert_eq!(remote_digest(&dest, &["--creds", &creds]), images.digest("amd"));
    let root = images.scratch("podman");
    let out = podman_unchecked(&root, &["pull", "--tls-verify=false", &format!("{host}/loc/app:v1")]);
    assert!(!out.status.success(), "anonymous pull must fail with ADMIN_TOKEN_READS");
    podman(&root, &["pull", "--tls-verify=false", "--creds", &creds, &format!("{host}/loc/app:v1")]);
}

/// The credential check itself, request by request (what the clients above rely on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_answer_the_basic_challenge_and_reads_stay_anonymous() {
    use artifactapi_e2e::oci_client::{assert_oci_error, Registry};
    for reads_too in [false, true] {
        let mut opts = Options::new(Storage::Fs, false).admin_token(TOKEN);
        if reads_too {
            opts = opts.env("ADMIN_TOKEN_READS", "true");
        }
        let s = server(opts).await;
        let anonymous = Registry::new(&s);
        let r = anonymous.send(Method::POST, "/v2/loc/app/blobs/uploads/").await;
        assert_oci_error(&r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "an anonymous push");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"artifactapi\""));
        let wrong = Registry::with_token(&s, "not-the-token");
        assert_eq!(wrong.send(Method::POST, "/v2/loc/app/blobs/uploads/").await.status, StatusCode::UNAUTHORIZED);
        let pusher = Registry::with_token(&s, TOKEN);
        let m = pusher.push_image("loc/app", "v1", b"{}", &[b"layer"]).await;
        let bearer = Registry { server: &s, auth: Some(format!("Bearer {TOKEN}")) };
        assert_eq!(bearer.send(Method::DELETE, "/v2/loc/app/manifests/v1").await.status, StatusCode::ACCEPTED);
        assert_eq!(
            pusher.put_manifest("loc/app", "v1", "application/vnd.oci.image.manifest.v1+json", &m).await.status,
            StatusCode::CREATED
        );
        let upload = pusher.start_upload("loc/app").await;
        assert_oci_error(&anonymous.get(&upload).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "an upload's status");
        let pull = anonymous.get("/v2/loc/app/manifests/v1").await;
        if reads_too {
            assert_oci_error(
                &pull,
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "an anonymous pull with ADMIN_TOKEN_READS",
            );
            assert_eq!(pusher.get("/v2/loc/app/manifests/v1").await.body.as_ref(), m.as_slice());
        } else {
            assert_eq!((pull.status, pull.body.as_ref()), (StatusCode::OK, m.as_slice()), "pulls are anonymous");
        }
    }
}

//! Local docker repositories with the real clients: images built with `umoci`, pushed and
//! pulled with `skopeo` and `podman` (vfs storage in a temporary root), with and without the
//! admin token.
//!
//! What a user sees: an image (and a two-platform index) pushed and pulled back with identical
//! digests and bytes, podman pushing what it pulled to another repository, a tag moved by
//! pushing it again, a delete, and pushes refused without the token while pulls stay anonymous
//! (unless `ADMIN_TOKEN_READS=true`). The raw protocol's edge cases are in
//! `docker_local_api.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use artifactapi_e2e::{pattern_bytes, sha256_hex, Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

const TOKEN: &str = "push-token";

fn run_unchecked(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} ({e}): .ci/install installs skopeo, umoci and podman from Debian")
    })
}

fn run(cmd: &mut Command) -> String {
    let out = run_unchecked(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo(args: &[&str]) -> String {
    run(Command::new("skopeo").args(args))
}

fn skopeo_fails(args: &[&str]) -> String {
    let out = run_unchecked(Command::new("skopeo").args(args));
    assert!(!out.status.success(), "skopeo {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// podman with its own vfs storage under `root`.
fn podman_cmd(root: &Path, args: &[&str]) -> Command {
    std::fs::create_dir_all(root).expect("podman root");
    let mut cmd = Command::new("podman");
    cmd.args(["--storage-driver", "vfs", "--root"])
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(args)
        .env("TMPDIR", root);
    cmd
}

fn podman(root: &Path, args: &[&str]) -> String {
    run(&mut podman_cmd(root, args))
}

/// An OCI layout built with umoci: `amd` and `arm` (each a layer of seeded bytes and a text
/// file) and `multi`, an OCI index of the two written beside them (umoci makes no indexes).
struct Images {
    dir: TempDir,
}

impl Images {
    fn build(seed: u64) -> Images {
        let dir = tempfile::Builder::new().prefix("aa-e2e-images-").tempdir().expect("temp dir");
        let images = Images { dir };
        let layout = images.layout();
        run(Command::new("umoci").args(["init", "--layout"]).arg(&layout));
        for (i, (tag, arch)) in [("amd", "amd64"), ("arm", "arm64")].into_iter().enumerate() {
            let image = format!("{}:{tag}", layout.display());
            run(Command::new("umoci").args(["new", "--image", &image]));
            let data = images.dir.path().join(format!("{tag}.bin"));
            std::fs::write(&data, pattern_bytes(2 << 20, seed * 10 + i as u64)).expect("layer file");
            run(Command::new("umoci").args(["insert", "--image", &image]).arg(&data).arg("/data.bin"));
            run(Command::new("umoci").args(["config", "--image", &image, "--os", "linux", "--architecture", arch]));
        }
        run(Command::new("umoci").args(["gc", "--layout"]).arg(&layout));
        images.add_index("multi", &[("amd", "amd64"), ("arm", "arm64")]);
        images
    }

    fn layout(&self) -> PathBuf {
        self.dir.path().join("layout")
    }

    fn reference(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.layout().display())
    }

    fn digest(&self, tag: &str) -> String {
        layout_digest(&self.layout(), tag)
    }

    fn add_index(&self, tag: &str, images: &[(&str, &str)]) {
        let index_json = self.layout().join("index.json");
        let mut top: Value = serde_json::from_slice(&std::fs::read(&index_json).expect("index.json")).expect("JSON");
        let manifests: Vec<Value> = images
            .iter()
            .map(|(t, arch)| {
                let e = entry(&top, t);
                json!({"mediaType": e["mediaType"], "digest": e["digest"], "size": e["size"],
                       "platform": {"architecture": arch, "os": "linux"}})
            })
            .collect();
        let index =
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let bytes = serde_json::to_vec(&index).expect("index");
        let hex = sha256_hex(&bytes);
        std::fs::write(self.layout().join("blobs/sha256").join(&hex), &bytes).expect("index blob");
        let e = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{hex}"),
                       "size": bytes.len(), "annotations": {"org.opencontainers.image.ref.name": tag}});
        top["manifests"].as_array_mut().expect("manifests").push(e);
        std::fs::write(index_json, serde_json::to_vec(&top).expect("index.json")).expect("write index.json");
    }

    fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn entry(index: &Value, tag: &str) -> Value {
    index["manifests"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag).cloned())
        .unwrap_or_else(|| panic!("no tag {tag} in {index}"))
}

/// The digest of `tag` in the OCI layout at `dir`.
fn layout_digest(dir: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json")).expect("JSON");
    entry(&index, tag)["digest"].as_str().expect("digest").to_string()
}

/// Every blob file of a layout, by name.
fn layout_blobs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("blobs/sha256"))
        .expect("blobs")
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("blob")))
        .collect();
    out.sort();
    out
}

/// The digest of what a tag names, from the registry's raw manifest.
fn remote_digest(reference: &str, creds: &[&str]) -> String {
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    args.extend_from_slice(creds);
    args.push(reference);
    format!("sha256:{}", sha256_hex(skopeo(&args).as_bytes()))
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
    let images = Images::build(1);
    let app = |tag: &str| format!("docker://{host}/loc/team/app:{tag}");

    // skopeo: an image and a two-platform index, pushed and pulled back identical.
    skopeo(&["copy", "--dest-tls-verify=false", &images.reference("amd"), &app("v1")]);
    skopeo(&["copy", "--all", "--dest-tls-verify=false", &images.reference("multi"), &app("multi")]);
    assert_eq!(remote_digest(&app("v1"), &[]), images.digest("amd"));
    assert_eq!(remote_digest(&app("multi"), &[]), images.digest("multi"));
    let pulled = images.scratch("pulled");
    skopeo(&["copy", "--all", "--src-tls-verify=false", &app("multi"), &format!("oci:{}:multi", pulled.display())]);
    assert_eq!(layout_digest(&pulled, "multi"), images.digest("multi"));
    let original: Vec<_> = layout_blobs(&images.layout());
    for (name, bytes) in layout_blobs(&pulled) {
        let same = original.iter().find(|(n, _)| *n == name).map(|(_, b)| b == &bytes);
        assert_eq!(same, Some(true), "pulled blob {name} is byte-identical to the pushed one");
    }
    let tags: Value =
        serde_json::from_str(&skopeo(&["list-tags", "--tls-verify=false", &format!("docker://{host}/loc/team/app")]))
            .expect("list-tags JSON");
    assert_eq!(tags["Tags"], json!(["multi", "v1"]));

    // podman: pull, push what it pulled to another repository, pull that back by digest.
    let root = images.scratch("podman");
    podman(&root, &["pull", "--tls-verify=false", &format!("{host}/loc/team/app:v1")]);
    let pulled_digest =
        podman(&root, &["image", "inspect", "--format", "{{.Digest}}", &format!("{host}/loc/team/app:v1")]);
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
    let images = Images::build(2);
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
    let out = run_unchecked(&mut podman_cmd(&root, &["push", "--tls-verify=false", &target]));
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
    let images = Images::build(3);
    let dest = format!("docker://{host}/loc/app:v1");
    let creds = format!("ci:{TOKEN}");
    skopeo(&["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &images.reference("amd"), &dest]);
    let err = skopeo_fails(&["inspect", "--raw", "--tls-verify=false", &dest]);
    assert!(err.contains("unauthorized") || err.contains("authentication required"), "{err}");
    assert_eq!(remote_digest(&dest, &["--creds", &creds]), images.digest("amd"));
    let root = images.scratch("podman");
    let out = run_unchecked(&mut podman_cmd(&root, &["pull", "--tls-verify=false", &format!("{host}/loc/app:v1")]));
    assert!(!out.status.success(), "anonymous pull must fail with ADMIN_TOKEN_READS");
    podman(&root, &["pull", "--tls-verify=false", "--creds", &creds, &format!("{host}/loc/app:v1")]);
}

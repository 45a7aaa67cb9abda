//! Images for the docker tests, built with the real tools, and the clients that move them.
//!
//! [`Layout::build`] makes an OCI image layout with `umoci`: two single-platform images
//! (`amd`: linux/amd64, `arm`: linux/arm64), each with a layer of `layer_bytes` seeded bytes and a
//! small text file, plus `multi`, an OCI index of the two written into the layout (umoci makes no
//! indexes). `skopeo copy` pushes them to a registry as OCI or, with `--format v2s2`, as Docker
//! schema 2 manifests and manifest lists.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::{pattern_bytes, sha256_hex};

/// An OCI image layout on disk.
#[derive(Debug)]
pub struct Layout {
    dir: TempDir,
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({e}): install it as .ci/install does (Debian's skopeo, umoci, podman)")
    });
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Layout {
    /// Builds `amd`, `arm` and `multi` (see the module doc); `seed` makes the content unique.
    pub fn build(seed: u64, layer_bytes: usize) -> Layout {
        let dir = tempfile::Builder::new().prefix("aa-e2e-oci-").tempdir().expect("layout dir");
        let layout = dir.path().join("layout");
        let image = |tag: &str| format!("{}:{tag}", layout.display());
        run(Command::new("umoci").args(["init", "--layout"]).arg(&layout), "umoci init");
        for (i, (tag, arch)) in [("amd", "amd64"), ("arm", "arm64")].into_iter().enumerate() {
            run(Command::new("umoci").args(["new", "--image", &image(tag)]), "umoci new");
            let data = dir.path().join(format!("{tag}.bin"));
            std::fs::write(&data, pattern_bytes(layer_bytes, seed * 10 + i as u64)).expect("layer file");
            run(
                Command::new("umoci").args(["insert", "--image", &image(tag)]).arg(&data).arg("/data.bin"),
                "umoci insert",
            );
            let text = dir.path().join(format!("{tag}.txt"));
            std::fs::write(&text, format!("image {tag} of seed {seed}\n")).expect("text file");
            run(
                Command::new("umoci").args(["insert", "--image", &image(tag)]).arg(&text).arg("/hello.txt"),
                "umoci insert",
            );
            let config = ["config", "--image", &image(tag), "--os", "linux", "--architecture", arch];
            run(Command::new("umoci").args(config), "umoci config");
        }
        run(Command::new("umoci").args(["gc", "--layout"]).arg(&layout), "umoci gc");
        let l = Layout { dir };
        l.add_index("multi", &[("amd", "amd64"), ("arm", "arm64")]);
        l
    }

    fn layout(&self) -> PathBuf {
        self.dir.path().join("layout")
    }

    fn index_json(&self) -> Value {
        let bytes = std::fs::read(self.layout().join("index.json")).expect("index.json");
        serde_json::from_slice(&bytes).expect("index.json is JSON")
    }

    /// The index.json entry of `tag`.
    fn entry(&self, tag: &str) -> Value {
        let index = self.index_json();
        let found = index["manifests"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag).cloned());
        found.unwrap_or_else(|| panic!("no tag {tag} in the layout"))
    }

    fn add_index(&self, tag: &str, images: &[(&str, &str)]) {
        let manifests: Vec<Value> = images
            .iter()
            .map(|(t, arch)| {
                let e = self.entry(t);
                json!({ "mediaType": e["mediaType"], "digest": e["digest"], "size": e["size"],
                        "platform": { "architecture": arch, "os": "linux" } })
            })
            .collect();
        let index = json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests });
        let bytes = serde_json::to_vec(&index).expect("serialise index");
        let hex = sha256_hex(&bytes);
        std::fs::write(self.layout().join("blobs/sha256").join(&hex), &bytes).expect("write index blob");
        let mut top = self.index_json();
        let entry = json!({ "mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{hex}"),
                            "size": bytes.len(), "annotations": { "org.opencontainers.image.ref.name": tag } });
        top["manifests"].as_array_mut().expect("manifests").push(entry);
        std::fs::write(self.layout().join("index.json"), serde_json::to_vec(&top).expect("index")).expect("write");
    }

    /// `oci:DIR:TAG` for skopeo.
    pub fn reference(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.layout().display())
    }

    /// The digest of `tag`'s manifest (or index) in the layout.
    pub fn digest(&self, tag: &str) -> String {
        self.entry(tag)["digest"].as_str().expect("digest").to_string()
    }

    /// Every blob of `tag`, as `sha256:...`: config and layers (of each image, for an index).
    pub fn blobs(&self, tag: &str) -> Vec<String> {
        let read = |digest: &str| -> Value {
            let hex = digest.trim_start_matches("sha256:");
            serde_json::from_slice(&std::fs::read(self.layout().join("blobs/sha256").join(hex)).expect("blob"))
                .expect("manifest JSON")
        };
        let top = read(&self.digest(tag));
        let manifests: Vec<Value> = match top["manifests"].as_array() {
            Some(ms) => ms.iter().map(|m| read(m["digest"].as_str().expect("digest"))).collect(),
            None => vec![top],
        };
        let mut out = Vec::new();
        for m in manifests {
            out.push(m["config"]["digest"].as_str().expect("config").to_string());
            for l in m["layers"].as_array().expect("layers") {
                out.push(l["digest"].as_str().expect("layer").to_string());
            }
        }
        out
    }

    /// The bytes of blob `digest` (`sha256:...`).
    pub fn blob(&self, digest: &str) -> Vec<u8> {
        std::fs::read(self.layout().join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).expect("blob")
    }

    /// A scratch directory inside the layout's temporary directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        let _ = std::fs::remove_dir_all(&p);
        p
    }
}

/// Runs `skopeo` with `args`; panics with its output on failure.
pub fn skopeo(args: &[&str]) -> Output {
    run(Command::new("skopeo").args(args), &format!("skopeo {}", args.join(" ")))
}

/// Runs `skopeo` with `args` and returns its output whatever the exit status.
pub fn skopeo_unchecked(args: &[&str]) -> Output {
    Command::new("skopeo").args(args).stdin(Stdio::null()).output().expect("run skopeo")
}

/// Runs `podman` with its storage (vfs) under `root`; panics with its output on failure.
pub fn podman(root: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("podman");
    cmd.arg("--storage-driver")
        .arg("vfs")
        .arg("--root")
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(args)
        .env("TMPDIR", root);
    std::fs::create_dir_all(root).expect("podman root");
    run(&mut cmd, &format!("podman {}", args.join(" ")))
}

/// Pushes `tag` of `layout` to `docker://{dest}` (`127.0.0.1:PORT/img:tag`) with skopeo;
/// `extra` adds flags (`--all`, `--format v2s2`).
pub fn push(layout: &Layout, tag: &str, dest: &str, extra: &[&str]) {
    let src = layout.reference(tag);
    let dst = format!("docker://{dest}");
    let mut args = vec!["copy", "--dest-tls-verify=false"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[src.as_str(), dst.as_str()]);
    skopeo(&args);
}

/// The `Accept` skopeo and podman send for manifests: every manifest type.
pub const ACCEPT_MANIFESTS: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

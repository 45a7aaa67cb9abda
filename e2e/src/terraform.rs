//! terraform for the end-to-end tests: the real CLI, run in a working directory of its own,
//! and a provider registry upstream the tests build themselves: provider zips, `SHA256SUMS`
//! and its binary detached signature made with the real `gpg` (checked with `gpgv`), served
//! as a static tree of registry documents by an [`Upstream`]. The terraform remote, local and
//! provider-install tests all use these.
//!
//! terraform talks to registries and mirrors over HTTPS only: the CLI runs with
//! `SSL_CERT_FILE` naming the test CA, a CLI configuration of the test's choosing
//! (`TF_CLI_CONFIG_FILE`), its own `HOME` and no update check, so nothing of the machine's
//! user leaks into a test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::{pattern_bytes, File, Upstream};

/// The terraform binary: `$TERRAFORM_BIN`, else `/usr/local/bin/terraform`; `None` (after a
/// loud message) when it is absent, so the caller skips.
pub fn terraform_bin(test: &str) -> Option<PathBuf> {
    let bin = std::env::var_os("TERRAFORM_BIN").map(PathBuf::from).unwrap_or_else(|| "/usr/local/bin/terraform".into());
    if bin.is_file() {
        return Some(bin);
    }
    eprintln!("!!!!! SKIPPED {test}: no terraform at {} (set TERRAFORM_BIN) !!!!!", bin.display());
    None
}

/// The provider binary of this build (`cargo build -p terraform-provider-artifactapi`, which
/// `make bin` runs): `$ARTIFACTAPI_PROVIDER_BIN`, else next to the server's binary.
pub fn provider_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ARTIFACTAPI_PROVIDER_BIN") {
        return PathBuf::from(p);
    }
    let bin = crate::server::binary().with_file_name("terraform-provider-artifactapi");
    assert!(
        bin.is_file(),
        "provider binary not found at {}: run `cargo build -p terraform-provider-artifactapi` first \
         (or set ARTIFACTAPI_PROVIDER_BIN)",
        bin.display()
    );
    bin
}

/// A gpg home with one Ed25519 signing key, removed (and its agent stopped) on drop.
pub struct Signer {
    home: TempDir,
    passphrase: String,
    /// The key's ID: the last 16 hex digits of its fingerprint (upper case).
    pub key_id: String,
    /// The armored public key, as registries give it in `signing_keys`.
    pub public_armor: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl Signer {
    /// A key without a passphrase.
    pub fn generate() -> Signer {
        Signer::with_passphrase("")
    }

    /// A key protected by `passphrase` (what an operator hands to `TF_SIGNING_KEY_PATH`).
    pub fn with_passphrase(passphrase: &str) -> Signer {
        let home = tempfile::Builder::new().prefix("aa-e2e-gpg-").tempdir().expect("gpg home");
        let mut signer =
            Signer { home, passphrase: passphrase.to_string(), key_id: String::new(), public_armor: String::new() };
        signer.gpg(
            &[
                "--passphrase",
                passphrase,
                "--quick-gen-key",
                "artifactapi e2e <e2e@example.invalid>",
                "ed25519",
                "sign",
                "never",
            ],
            None,
        );
        let listing = String::from_utf8_lossy(&signer.gpg(&["--with-colons", "--list-keys"], None)).to_string();
        let fpr = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:").map(|r| r.trim_matches(':').to_string()))
            .expect("the new key's fingerprint");
        let public = signer.gpg(&["--armor", "--export", &fpr], None);
        signer.key_id = fpr[fpr.len() - 16..].to_ascii_uppercase();
        signer.public_armor = String::from_utf8(public).expect("armored key");
        signer
    }

    /// The armored secret key, still protected by its passphrase.
    pub fn secret_armor(&self) -> String {
        let out = self.gpg(&["--passphrase", &self.passphrase, "--armor", "--export-secret-keys", &self.key_id], None);
        String::from_utf8(out).expect("armored secret key")
    }

    /// A binary detached signature over `data`.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.gpg(&["--passphrase", &self.passphrase, "--detach-sign", "--output", "-"], Some(data))
    }

    fn gpg(&self, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
        let (ok, stdout, stderr) = gpg(self.home.path(), args, stdin);
        assert!(ok, "gpg {args:?}: {stderr}");
        stdout
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").env("GNUPGHOME", self.home.path()).args(["--kill", "gpg-agent"]).status();
    }
}

/// Runs `gpg --batch` (passphrases from the command line) in gpg home `home`: whether it
/// succeeded, its standard output and its standard error.
fn gpg(home: &Path, args: &[&str], stdin: Option<&[u8]>) -> (bool, Vec<u8>, String) {
    let mut child = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--no-tty", "--pinentry-mode", "loopback"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gpg (apt-get install gnupg)");
    let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
    let mut pipe = child.stdin.take().expect("gpg stdin");
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut pipe, &input));
    let out = child.wait_with_output().expect("gpg output");
    writer.join().expect("gpg stdin writer").expect("write to gpg");
    (out.status.success(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Whether `sig` is a valid signature of exactly `data` by the armored public key `public`,
/// checked with `gpgv` (independently of artifactapi's own OpenPGP code); its output.
pub fn gpgv(public: &str, data: &[u8], sig: &[u8]) -> (bool, String) {
    let home = tempfile::Builder::new().prefix("aa-e2e-gpgv-").tempdir().expect("gpg home");
    let (ok, _, err) = gpg(home.path(), &["--import"], Some(public.as_bytes()));
    assert!(ok, "gpg --import: {err}");
    let keyring = home.path().join("trusted.gpg");
    let keyring_arg = keyring.display().to_string();
    let (ok, _, err) = gpg(home.path(), &["--export", "--output", &keyring_arg], None);
    assert!(ok, "gpg --export: {err}");
    let _ = Command::new("gpgconf").env("GNUPGHOME", home.path()).args(["--kill", "gpg-agent"]).status();
    let (data_path, sig_path) = (home.path().join("data"), home.path().join("data.sig"));
    std::fs::write(&data_path, data).expect("write the signed data");
    std::fs::write(&sig_path, sig).expect("write the signature");
    let out = Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring)
        .arg(&sig_path)
        .arg(&data_path)
        .output()
        .expect("run gpgv (apt-get install gpgv)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// One platform's zip of a provider version.
#[derive(Debug, Clone)]
pub struct Build {
    pub os: String,
    pub arch: String,
    pub filename: String,
    pub zip: Vec<u8>,
    pub sha256: String,
}

/// A provider zip holding `terraform-provider-{kind}_v{version}` of `size` bytes.
pub fn provider_zip(kind: &str, version: &str, size: usize, seed: u64) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o755);
    zip.start_file(format!("terraform-provider-{kind}_v{version}"), options).expect("zip entry");
    std::io::Write::write_all(&mut zip, &pattern_bytes(size, seed)).expect("zip body");
    zip.finish().expect("finish zip");
    out.into_inner()
}

/// A provider version: its builds, `SHA256SUMS` over them and its signature.
#[derive(Debug, Clone)]
pub struct Release {
    pub version: String,
    pub builds: Vec<Build>,
    pub sums: Vec<u8>,
    pub sig: Vec<u8>,
}

/// A provider's releases, signed by one key, as a registry serves them.
#[derive(Debug)]
pub struct Provider {
    pub namespace: String,
    pub kind: String,
    pub releases: Vec<Release>,
    pub signer: Signer,
}

impl Provider {
    /// `versions` × `platforms` builds; `size(version, os, arch)` is each binary's size.
    pub fn new(
        namespace: &str,
        kind: &str,
        versions: &[String],
        platforms: &[(&str, &str)],
        size: impl Fn(&str, &str, &str) -> usize,
    ) -> Provider {
        let signer = Signer::generate();
        let mut seed = 0;
        let releases = versions
            .iter()
            .map(|version| {
                let builds: Vec<Build> = platforms
                    .iter()
                    .map(|(os, arch)| {
                        seed += 1;
                        let zip = provider_zip(kind, version, size(version, os, arch), seed);
                        let sha256 = hex::encode(Sha256::digest(&zip));
                        let filename = format!("terraform-provider-{kind}_{version}_{os}_{arch}.zip");
                        Build { os: os.to_string(), arch: arch.to_string(), filename, zip, sha256 }
                    })
                    .collect();
                let sums: String = builds.iter().map(|b| format!("{}  {}\n", b.sha256, b.filename)).collect();
                let sig = signer.sign(sums.as_bytes());
                Release { version: version.clone(), builds, sums: sums.into_bytes(), sig }
            })
            .collect();
        Provider { namespace: namespace.into(), kind: kind.into(), releases, signer }
    }

    pub fn release(&self, version: &str) -> &Release {
        self.releases.iter().find(|r| r.version == version).expect("a release of the provider")
    }

    /// The `versions` document.
    pub fn versions_doc(&self) -> serde_json::Value {
        let versions: Vec<serde_json::Value> = self
            .releases
            .iter()
            .map(|r| {
                let platforms: Vec<_> =
                    r.builds.iter().map(|b| serde_json::json!({ "os": b.os, "arch": b.arch })).collect();
                serde_json::json!({ "version": r.version, "protocols": ["5.0", "6.0"], "platforms": platforms })
            })
            .collect();
        serde_json::json!({ "versions": versions })
    }

    /// Serves the provider on `registry` as a registry (discovery, `versions`, download
    /// documents, `SHA256SUMS` and signatures under `releases/`), the zips on `files` (another
    /// host) at `releases/{version}/{filename}`. `registry_base` is the registry's URL as its
    /// clients use it (ending in `/`). The three URLs of a download document are absolute on
    /// the other host (zip), absolute on the registry (`SHA256SUMS`) and root-relative
    /// (signature).
    pub fn publish(&self, registry: &Upstream, registry_base: &str, files: &Upstream) {
        let json =
            |v: &serde_json::Value| File::new(serde_json::to_vec(v).expect("JSON")).content_type("application/json");
        registry.put(".well-known/terraform.json", json(&serde_json::json!({ "providers.v1": "/v1/providers/" })));
        let api = format!("v1/providers/{}/{}", self.namespace, self.kind);
        registry.put(&format!("{api}/versions"), json(&self.versions_doc()));
        let keys = serde_json::json!({ "gpg_public_keys": [{ "key_id": self.signer.key_id, "ascii_armor": self.signer.public_armor }] });
        for r in &self.releases {
            let dir = format!("releases/{}/{}", self.kind, r.version);
            registry.put(&format!("{dir}/SHA256SUMS"), File::new(r.sums.clone()));
            registry.put(&format!("{dir}/SHA256SUMS.sig"), File::new(r.sig.clone()));
            for b in &r.builds {
                files.put(
                    &format!("releases/{}/{}", r.version, b.filename),
                    File::new(b.zip.clone()).content_type("application/zip"),
                );
                let doc = serde_json::json!({
                    "protocols": ["5.0", "6.0"], "os": b.os, "arch": b.arch, "filename": b.filename,
                    "download_url": files.url(&format!("releases/{}/{}", r.version, b.filename)),
                    "shasums_url": format!("{registry_base}{dir}/SHA256SUMS"),
                    "shasums_signature_url": format!("/{dir}/SHA256SUMS.sig"),
                    "shasum": b.sha256,
                    "signing_keys": keys,
                });
                registry.put(&format!("{api}/{}/download/{}/{}", r.version, b.os, b.arch), json(&doc));
            }
        }
    }
}

/// A terraform working directory with a configuration requiring one provider, and the
/// environment the CLI runs with.
pub struct Workdir {
    dir: TempDir,
    bin: PathBuf,
    env: Vec<(String, String)>,
}

impl Workdir {
    /// A directory whose `main.tf` requires `source` at `version` (under the local name of its
    /// type, so resources of the provider need no `provider` argument), the CLI configured by
    /// `cli_config` (HCL) and trusting the CA in `ca_file`.
    pub fn new(bin: &Path, source: &str, version: &str, cli_config: &str, ca_file: &Path) -> Workdir {
        let dir = tempfile::Builder::new().prefix("aa-e2e-tf-").tempdir().expect("terraform dir");
        let local_name = source.rsplit('/').next().unwrap_or(source);
        let main = format!(
            "terraform {{\n  required_providers {{\n    {local_name} = {{\n      source  = \"{source}\"\n      version = \"{version}\"\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("main.tf"), main).expect("main.tf");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let cli = dir.path().join("cli.tfrc");
        std::fs::write(&cli, cli_config).expect("CLI configuration");
        let env = vec![
            ("HOME".into(), home.display().to_string()),
            ("SSL_CERT_FILE".into(), ca_file.display().to_string()),
            ("TF_CLI_CONFIG_FILE".into(), cli.display().to_string()),
            ("CHECKPOINT_DISABLE".into(), "1".into()),
            ("TF_IN_AUTOMATION".into(), "1".into()),
        ];
        Workdir { dir, bin: bin.to_path_buf(), env }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes configuration file `name` beside `main.tf` (replacing it).
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("write a terraform configuration file");
    }

    /// Runs `terraform {args}` here: its output (stdout and stderr) and how long it took.
    pub fn run(&self, args: &[&str]) -> (Output, Duration) {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(self.dir.path()).env_clear().args(args);
        if let Some(p) = std::env::var_os("PATH") {
            cmd.env("PATH", p);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let started = Instant::now();
        let out = cmd.output().expect("run terraform");
        (out, started.elapsed())
    }

    /// Runs `terraform {args}` here: whether it succeeded, its output (stdout then stderr) and
    /// how long it took.
    pub fn terraform(&self, args: &[&str]) -> (bool, String, Duration) {
        let (out, took) = self.run(args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text, took)
    }

    /// `terraform init`; panics with its output unless it succeeds. Returns the output and the
    /// time it took.
    pub fn init(&self) -> (String, Duration) {
        let (ok, text, took) = self.terraform(&["init", "-input=false", "-no-color"]);
        assert!(ok, "terraform init failed in {}:\n{text}", self.path().display());
        (text, took)
    }

    /// The dependency lock file `terraform init` or `terraform providers lock` wrote ("" when
    /// there is none yet).
    pub fn lock_file(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(".terraform.lock.hcl")).unwrap_or_default()
    }
}

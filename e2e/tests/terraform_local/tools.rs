//! What the terraform local tests drive: a server serving HTTPS with a certificate of a test
//! CA, provider zips built on the spot, the real `terraform` (1.11, skipped loudly when absent)
//! in a home of its own, and GnuPG (`gpg`, `gpgv`) to make keys and check signatures
//! independently of artifactapi's own OpenPGP code.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use artifactapi_e2e::tls::TestCa;
use artifactapi_e2e::{fetch, pattern_bytes, Options, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const ADMIN: &str = "e2e-admin-token";
pub const TERRAFORM: &str = "/usr/local/bin/terraform";

/// Whether terraform is installed; says loudly why the test does nothing when it is not.
pub fn terraform_present(test: &str) -> bool {
    let present = Path::new(TERRAFORM).is_file();
    if !present {
        eprintln!(
            "SKIPPED {test}: {TERRAFORM} is not installed (terraform 1.11 cannot be installed from the registries)"
        );
    }
    present
}

/// A server that serves HTTPS on a port of its own beside plain HTTP (the tests' own client),
/// with `PUBLIC_URL` the HTTPS one at `localhost`, and the CA that signed its certificate.
pub struct TlsServer {
    pub server: Server,
    pub tls_port: u16,
    pub ca_pem: PathBuf,
    /// Holds the CA certificate file for as long as the server runs.
    _dir: tempfile::TempDir,
}

impl TlsServer {
    pub async fn start(opts: Options) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("artifactapi e2e terraform CA");
        let server = Server::start(opts.admin_token(ADMIN).tls_beside(&ca)).await;
        let ca_pem = ca.write_pem(dir.path(), "ca.pem");
        let https = server.https_url("");
        let tls_port = https.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the HTTPS port");
        TlsServer { server, tls_port, ca_pem, _dir: dir }
    }

    /// The host terraform addresses: `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port)
    }

    /// `url` (an absolute URL the server wrote, on its HTTPS port) on the plain port.
    pub fn plain(&self, url: &str) -> String {
        let prefix = format!("https://127.0.0.1:{}", self.tls_port);
        let path = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url} is not below {prefix}"));
        self.server.url(path)
    }
}

/// Creates terraform local `name` and a token with `write` on it; the token.
pub async fn local_with_writer(s: &Server, name: &str) -> String {
    s.create("/api/v2/locals", json!({ "name": name, "package_type": "terraform" })).await;
    s.token(&format!("{name}-ci"), &[(name, "write")]).await
}

/// A provider zip: `terraform-provider-{ty}_v{version}` (a shell script padded with
/// `padding` incompressible bytes, as a real provider binary is large), executable.
pub fn provider_zip(ty: &str, version: &str, os: &str, arch: &str, padding: usize) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .unix_permissions(0o755)
        .compression_method(zip::CompressionMethod::Stored);
    w.start_file(format!("terraform-provider-{ty}_v{version}"), opts).unwrap();
    writeln!(w, "#!/bin/sh\n# {ty} {version} {os} {arch}\nexit 1").unwrap();
    let seed = version.bytes().chain(os.bytes()).chain(arch.bytes()).fold(7u64, |h, b| h.wrapping_mul(31) + b as u64);
    w.write_all(&pattern_bytes(padding, seed)).unwrap();
    w.finish().unwrap().into_inner()
}

pub fn zip_name(ty: &str, version: &str, os: &str, arch: &str) -> String {
    format!("terraform-provider-{ty}_{version}_{os}_{arch}.zip")
}

/// `PUT /api/v1/local/{local}/{ty}/{file}` with `secret`.
pub async fn upload(
    s: &Server,
    local: &str,
    secret: &str,
    ty: &str,
    file: &str,
    body: Vec<u8>,
) -> artifactapi_e2e::Fetched {
    fetch(s.client().put(s.url(&format!("/api/v1/local/{local}/{ty}/{file}"))).bearer_auth(secret).body(body)).await
}

/// Uploads a zip of every platform of `version` at once; the upload answers, in order.
pub async fn upload_platforms(
    s: &Server,
    local: &str,
    secret: &str,
    ty: &str,
    version: &str,
    platforms: &[(&str, &str)],
    padding: usize,
) -> Vec<Value> {
    let uploads = platforms.iter().map(|(os, arch)| {
        let body = provider_zip(ty, version, os, arch, padding);
        async move { upload(s, local, secret, ty, &zip_name(ty, version, os, arch), body).await }
    });
    let answers = futures_util::future::join_all(uploads).await;
    answers
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
            r.json()
        })
        .collect()
}

/// A terraform working directory with a home and CLI configuration of its own.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    /// A configuration requiring `source` at `version`, as the README shows it.
    pub fn new(source: &str, version: &str) -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::write(dir.path().join("terraformrc"), "").unwrap();
        let w = Workdir { dir };
        w.require(source, version);
        w
    }

    pub fn require(&self, source: &str, version: &str) {
        let hcl = format!(
            "terraform {{\n  required_providers {{\n    artifactapi = {{\n      source  = \"{source}\"\n      version = \"{version}\"\n    }}\n  }}\n}}\n"
        );
        std::fs::write(self.dir.path().join("main.tf"), hcl).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs terraform with `args`, trusting `ca`; success, combined output and the time it took.
    pub async fn terraform(&self, ca: &Path, args: &[&str]) -> (bool, String, Duration) {
        let mut cmd = tokio::process::Command::new(TERRAFORM);
        cmd.args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path().join("home"))
            .env("TF_CLI_CONFIG_FILE", self.path().join("terraformrc"))
            .env("SSL_CERT_FILE", ca)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let t = Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
            .await
            .expect("terraform did not finish within 300 s")
            .expect("run terraform");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text, t.elapsed())
    }

    pub fn lock_file(&self) -> String {
        std::fs::read_to_string(self.path().join(".terraform.lock.hcl")).unwrap_or_default()
    }
}

/// A GnuPG home of its own.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        let home = tempfile::tempdir().unwrap();
        Gpg { home }
    }

    pub fn run(&self, args: &[&str], input: Option<&[u8]>) -> (bool, String) {
        use std::io::Write;
        let mut child = std::process::Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run gpg (install gnupg)");
        let mut stdin = child.stdin.take().unwrap();
        if let Some(input) = input {
            stdin.write_all(input).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Generates an Ed25519 signing key protected by `passphrase`; its armored secret key and
    /// its long key ID (upper case).
    pub fn generate(&self, passphrase: &str) -> (String, String) {
        let (ok, out) = self.run(
            &["--passphrase", passphrase, "--quick-gen-key", "Ops <ops@example.org>", "ed25519", "sign", "never"],
            None,
        );
        assert!(ok, "gpg --quick-gen-key: {out}");
        let (ok, listing) = self.run(&["--with-colons", "--list-secret-keys"], None);
        assert!(ok, "{listing}");
        let key_id = listing
            .lines()
            .find(|l| l.starts_with("sec:"))
            .and_then(|l| l.split(':').nth(4))
            .expect("a secret key in the listing")
            .to_ascii_uppercase();
        let (ok, armored) = self.run(&["--passphrase", passphrase, "--armor", "--export-secret-keys", &key_id], None);
        assert!(ok && armored.contains("BEGIN PGP PRIVATE KEY BLOCK"), "{armored}");
        (armored, key_id)
    }
}

/// Whether `sig` is a valid signature of exactly `data` by the armored public key `public`,
/// checked with `gpgv`; its output.
pub fn gpgv(public: &str, data: &[u8], sig: &[u8]) -> (bool, String) {
    let g = Gpg::new();
    let (ok, out) = g.run(&["--import"], Some(public.as_bytes()));
    assert!(ok, "gpg --import: {out}");
    let keyring = g.home.path().join("trusted.gpg");
    let (ok, out) = g.run(&["--export", "--output", keyring.to_str().unwrap()], None);
    assert!(ok, "{out}");
    let (data_path, sig_path) = (g.home.path().join("data"), g.home.path().join("data.sig"));
    std::fs::write(&data_path, data).unwrap();
    std::fs::write(&sig_path, sig).unwrap();
    let out = std::process::Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring)
        .arg(&sig_path)
        .arg(&data_path)
        .output()
        .expect("run gpgv (install gpgv)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

//! The Terraform provider installed from artifactapi's own registry, the way an operator does
//! it (issue 16): a server over HTTPS with a certificate of a test CA, a local terraform
//! repository, the provider binary of this build zipped and uploaded by the scripts `make
//! provider` and `make provider-publish` run (`terraform-provider/scripts/`), then the real
//! terraform 1.11 with no `dev_overrides` and the source address `127.0.0.1:PORT/providers/
//! artifactapi`: `terraform init` installs it (the lock file holds the zip's `zh:` hash and an
//! `h1:` hash, the output names the server's signing key ID) and `terraform apply` manages a
//! remote on the same server, after which a plan shows no changes.
//!
//! Needs `cargo build -p terraform-provider-artifactapi` (`make bin`); skipped, loudly, when
//! terraform is absent. Prints the package, publish and init times.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use artifactapi_e2e::terraform::{provider_binary, terraform_bin, Workdir};
use artifactapi_e2e::tls::TestCa;
use artifactapi_e2e::{sha256_hex, Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ADMIN: &str = "tf-install-admin-token";
const REPO: &str = "providers";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `terraform-provider/scripts/{name}`, the script the Makefile runs.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform-provider/scripts").join(name)
}

/// Runs `cmd`, asserting success; its standard output.
fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// terraform's platform name for this machine (`linux_amd64`), as `(os, arch)`.
fn platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (std::env::consts::OS, arch)
}

// Multi-threaded: terraform and the scripts run as blocking child processes for up to a
// minute, and the client's pooled connections must still see the server close them meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_installs_the_provider_from_a_local_registry_and_applies_with_it() {
    let test = "terraform_installs_the_provider_from_a_local_registry_and_applies_with_it";
    let Some(terraform) = terraform_bin(test) else { return };
    let provider = provider_binary();
    let ca = TestCa::new("artifactapi e2e provider install CA");
    let s = Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN).tls(&ca)).await;
    let files = tempfile::Builder::new().prefix("aa-e2e-tf-install-").tempdir().expect("temp dir");
    let ca_file = ca.write_pem(files.path(), "ca.pem");
    s.create("/api/v2/locals", json!({ "name": REPO, "package_type": "terraform" })).await;
    let publisher = s.token("provider-publisher", &[(REPO, "write")]).await;

    // make provider: the binary zipped as a registry wants it.
    let (os, arch) = platform();
    let started = Instant::now();
    let dist = files.path().join("dist");
    let zip = run("package.sh", Command::new(script("package.sh")).arg(&provider).arg(&dist).args([VERSION, os, arch]));
    let zip = PathBuf::from(zip.trim());
    let packaged = started.elapsed();
    assert_eq!(
        zip.file_name().and_then(|n| n.to_str()),
        Some(format!("terraform-provider-artifactapi_{VERSION}_{os}_{arch}.zip").as_str())
    );
    let zip_bytes = std::fs::read(&zip).expect("the provider zip");

    // make provider-publish: the upload over HTTPS, trusting the test CA (PROVIDER_CA).
    let started = Instant::now();
    let answer = run(
        "publish.sh",
        Command::new(script("publish.sh"))
            .arg(&zip)
            .env("ARTIFACTAPI_ENDPOINT", s.url(""))
            .env("ARTIFACTAPI_TOKEN", &publisher)
            .env("PROVIDER_REPO", REPO)
            .env("PROVIDER_CA", &ca_file),
    );
    let published = started.elapsed();
    let answer: Value = serde_json::from_str(answer.trim()).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(answer["provider"], format!("{REPO}/artifactapi"), "{answer}");
    assert_eq!(answer["version"], VERSION, "{answer}");
    assert_eq!(answer["shasum"], sha256_hex(&zip_bytes), "{answer}");
    let key_id = answer["key_id"].as_str().expect("the signing key ID").to_string();
    eprintln!("provider zip: {} bytes, packaged in {packaged:?}, published in {published:?}", zip_bytes.len());

    // terraform init with a bare source address naming this server: no CLI configuration.
    let source = format!("127.0.0.1:{}/{REPO}/artifactapi", s.port());
    let w = Workdir::new(&terraform, &source, VERSION, "", &ca_file);
    let (out, took) = w.init();
    eprintln!("terraform init of the published provider: {took:?}");
    assert!(out.contains(&format!("Installed {source} v{VERSION}")), "{out}");
    assert!(out.contains(&format!("key ID {key_id}")), "{out}");
    let lock = w.lock_file();
    assert!(lock.contains(&format!("provider \"{source}\"")), "{lock}");
    assert!(lock.contains(&format!("\"zh:{}\"", sha256_hex(&zip_bytes))), "{lock}");
    assert!(lock.contains("\"h1:"), "{lock}");

    // terraform apply with the installed provider manages a remote on the same server.
    w.write(
        "remote.tf",
        &format!(
            "provider \"artifactapi\" {{\n  endpoint = \"{}\"\n  token    = \"{ADMIN}\"\n  ca_cert  = file(\"{}\")\n}}\n\n\
             resource \"artifactapi_remote_generic\" \"releases\" {{\n  name        = \"releases\"\n  \
             base_url    = \"https://releases.example.com/\"\n  mutable_ttl = 600\n}}\n",
            s.url(""),
            ca_file.display()
        ),
    );
    let (apply, took) = w.run(&["apply", "-input=false", "-auto-approve", "-no-color"]);
    let text = format!("{}{}", String::from_utf8_lossy(&apply.stdout), String::from_utf8_lossy(&apply.stderr));
    assert!(apply.status.success(), "terraform apply failed:\n{text}\nserver log:\n{}", s.log_tail(20));
    eprintln!("terraform apply of one remote with the installed provider: {took:?}");
    let r = artifactapi_e2e::fetch(s.admin(Method::GET, "/api/v2/remotes/releases")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    let remote = r.json();
    assert_eq!(remote["base_url"], "https://releases.example.com/", "{remote}");
    assert_eq!(remote["mutable_ttl"], 600, "{remote}");

    let (plan, _) = w.run(&["plan", "-input=false", "-detailed-exitcode", "-no-color"]);
    let text = format!("{}{}", String::from_utf8_lossy(&plan.stdout), String::from_utf8_lossy(&plan.stderr));
    assert_eq!(plan.status.code(), Some(0), "a plan right after apply shows changes:\n{text}");
}

//! Runs the real `terraform` against a working directory of its own, with the provider binary
//! of this build installed through `dev_overrides` (a CLI configuration in
//! `TF_CLI_CONFIG_FILE`), configured by `ARTIFACTAPI_ENDPOINT` and `ARTIFACTAPI_TOKEN`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// The terraform executable: `$TERRAFORM`, `/usr/local/bin/terraform`, or `terraform` on PATH.
/// `None` (with a loud message) when there is none: terraform cannot be installed from the
/// registries this project uses.
pub fn terraform() -> Option<PathBuf> {
    let candidates = std::env::var_os("TERRAFORM")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/usr/local/bin/terraform")])
        .chain(
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(|d| d.join("terraform")),
        );
    for c in candidates {
        if c.is_file() {
            return Some(c);
        }
    }
    eprintln!("\n**********\nSKIPPED: terraform is not installed (set TERRAFORM or put it on PATH); the provider tests did not run\n**********\n");
    None
}

/// A terraform working directory.
pub struct Tf {
    pub terraform: PathBuf,
    pub dir: tempfile::TempDir,
    cli_config: PathBuf,
    endpoint: String,
    token: String,
}

/// What a terraform run gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    /// Both streams, for assertions on diagnostics (terraform writes them to stderr).
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The dev_overrides block installing `provider` as `artifactapi/artifactapi` and as
/// `hashicorp/artifactapi` (the implied source of a configuration without
/// `required_providers`, like the README's examples).
fn cli_config(provider: &Path) -> String {
    let dir = provider.parent().map(|d| d.display().to_string()).unwrap_or_default();
    format!(
        "provider_installation {{\n  dev_overrides {{\n    \"artifactapi/artifactapi\" = \"{dir}\"\n    \
         \"hashicorp/artifactapi\" = \"{dir}\"\n  }}\n  direct {{}}\n}}\n"
    )
}

impl Tf {
    /// A working directory for terraform against the server at `endpoint`, sending `token`.
    pub fn new(terraform: PathBuf, endpoint: &str, token: &str) -> Tf {
        let dir = tempfile::Builder::new().prefix("aa-e2e-tf-").tempdir().expect("terraform directory");
        let cli_config = dir.path().join("terraformrc");
        std::fs::write(&cli_config, cli_config_text()).expect("write the CLI configuration");
        Tf { terraform, dir, cli_config, endpoint: endpoint.to_string(), token: token.to_string() }
    }

    /// Writes `name` in the working directory (replacing it).
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("write a configuration file");
    }

    /// Runs `terraform ARGS` (with `-no-color`), returning what it did.
    pub fn run(&self, args: &[&str]) -> Run {
        let started = Instant::now();
        // Flags go right after the (sub)command: `state rm -no-color ADDR`, `plan -no-color`.
        let split = if args.first() == Some(&"state") { 2 } else { 1 }.min(args.len());
        let out: Output = std::process::Command::new(&self.terraform)
            .args(&args[..split])
            .arg("-no-color")
            .args(&args[split..])
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("ARTIFACTAPI_ENDPOINT", &self.endpoint)
            .env("ARTIFACTAPI_TOKEN", &self.token)
            .env_remove("RUST_BACKTRACE")
            .env_remove("TF_LOG")
            .output()
            .expect("terraform runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: started.elapsed(),
        }
    }

    /// `terraform plan -detailed-exitcode`: 0 no changes, 2 changes (asserted to be one of them).
    pub fn plan(&self) -> Run {
        let r = self.run(&["plan", "-input=false", "-detailed-exitcode"]);
        assert!(r.code == 0 || r.code == 2, "terraform plan failed:\n{}", r.all());
        r
    }

    /// `terraform plan` that must show no change.
    pub fn assert_no_changes(&self, after: &str) {
        let r = self.plan();
        assert_eq!(r.code, 0, "after {after}, plan shows changes:\n{}", r.all());
        assert!(r.stdout.contains("No changes."), "{}", r.stdout);
    }

    /// `terraform apply -auto-approve`, asserted to succeed.
    pub fn apply(&self) -> Run {
        let r = self.run(&["apply", "-input=false", "-auto-approve"]);
        assert_eq!(r.code, 0, "terraform apply failed:\n{}", r.all());
        r
    }

    /// `terraform apply -auto-approve`, asserted to fail; its output.
    pub fn apply_fails(&self) -> Run {
        let r = self.run(&["apply", "-input=false", "-auto-approve"]);
        assert_ne!(r.code, 0, "terraform apply succeeded where it must fail:\n{}", r.all());
        r
    }
}

fn cli_config_text() -> String {
    cli_config(&artifactapi_e2e::terraform::provider_binary())
}

/// The `Plan: A to add, C to change, D to destroy.` counts of a plan or apply output.
pub fn plan_counts(out: &str) -> Option<(u32, u32, u32)> {
    let line = out.lines().find(|l| l.starts_with("Plan: "))?;
    let nums: Vec<u32> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect();
    match nums.as_slice() {
        [a, c, d, ..] => Some((*a, *c, *d)),
        _ => None,
    }
}

/// An HTTPS front for a plain-HTTP server: TLS with a certificate of `ca` for 127.0.0.1 and
/// localhost, each connection forwarded to `backend_port`. Stops when dropped.
pub struct TlsFront {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    pub async fn start(ca: &artifactapi_e2e::tls::TestCa, backend_port: u16) -> TlsFront {
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(&["127.0.0.1", "localhost"]));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the TLS front");
        let port = listener.local_addr().expect("TLS front address").port();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut backend) = tokio::net::TcpStream::connect(("127.0.0.1", backend_port)).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut backend).await;
                });
            }
        });
        TlsFront { port, task }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

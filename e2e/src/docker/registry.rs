//! Debian's `docker-registry` (CNCF distribution 2.8.2) as a real upstream registry.
//!
//! Each instance gets its own storage directory, configuration file and log, and a free port on
//! 127.0.0.1 (the registry cannot bind port 0, so a free port is picked and start-up retried if
//! it was taken meanwhile). With credentials it requires basic auth (`auth: htpasswd`, bcrypt
//! entries from `htpasswd -B`, as the registry demands). [`Registry::stop`] and
//! [`Registry::start_again`] stop it and bring it back on the same port with the same storage.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::server::free_port;

const BIN: &str = "docker-registry";

/// A running `docker-registry`; killed on drop.
#[derive(Debug)]
pub struct Registry {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl Registry {
    /// Starts an open registry.
    pub async fn start() -> Registry {
        Registry::start_with(None).await
    }

    /// Starts a registry that requires basic auth with `user`/`password`.
    pub async fn start_with_basic(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password))).await
    }

    async fn start_with(basic: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::Builder::new().prefix("aa-e2e-registry-").tempdir().expect("registry dir");
        let auth = match basic {
            None => String::new(),
            Some((user, password)) => {
                let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().unwrap_or_else(|e| {
                    panic!("cannot run htpasswd ({e}): install Debian's apache2-utils, as .ci/install does")
                });
                assert!(out.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, &out.stdout).expect("write htpasswd");
                format!("auth:\n  htpasswd:\n    realm: e2e-registry\n    path: {}\n", path.display())
            }
        };
        let mut reg = Registry { child: None, port: 0, dir };
        for _ in 0..5 {
            reg.port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{}\n{auth}",
                reg.dir.path().join("storage").display(),
                reg.port
            );
            std::fs::write(reg.config_path(), config).expect("write registry config");
            if reg.spawn().await {
                return reg;
            }
        }
        panic!("docker-registry did not start; log:\n{}", reg.log());
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs the process and waits until `/v2/` answers; false if it exited (port taken).
    async fn spawn(&mut self) -> bool {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("registry log");
        let child = Command::new(BIN)
            .arg("serve")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {BIN} ({e}): install Debian's docker-registry, as .ci/install does")
            });
        self.child = Some(child);
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return false;
            }
            let probe = client.get(format!("{}/v2/", self.url())).timeout(Duration::from_secs(2)).send().await;
            if matches!(probe, Ok(r) if r.status() == 200 || r.status() == 401) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("docker-registry did not answer /v2/ within 20 s; log:\n{}", self.log());
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Stops the process (connections to the port are refused from now on).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same storage.
    pub async fn start_again(&mut self) {
        self.stop();
        assert!(self.spawn().await, "docker-registry did not restart on port {}; log:\n{}", self.port, self.log());
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(8).collect();
            eprintln!("----- docker-registry log tail -----");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

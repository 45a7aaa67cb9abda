//! A real S3 server for the S3 storage backend: `s3s-fs` (SigV4-checking, files in a temp dir)
//! on a free port of 127.0.0.1 with random keys.
//!
//! The binary is `$S3S_FS`, else `s3s-fs` on PATH, else the copy `.ci/install` puts under
//! `/var/cache/artifactapi/tools/cargo/bin`. A missing binary fails the test loudly: S3 tests
//! that silently skip would prove nothing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Finds the s3s-fs binary (`$S3S_FS`, the PATH, the tools cache) or panics saying how to get it.
pub fn binary() -> PathBuf {
    crate::installed_tool("S3S_FS", "s3s-fs")
}

/// A running s3s-fs; killed on drop.
#[derive(Debug)]
pub struct S3Server {
    child: Option<Child>,
    dir: TempDir,
    pub port: u16,
    pub access_key: String,
    pub secret_key: String,
}

impl S3Server {
    /// Starts s3s-fs and waits (up to 15 s) until it accepts connections.
    pub async fn start() -> S3Server {
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::Builder::new().prefix("aa-e2e-s3-").tempdir().expect("temp dir for s3s-fs");
            std::fs::create_dir(dir.path().join("root")).expect("s3s-fs root dir");
            let port = crate::server::free_port();
            let access_key = format!("AK{}", &uuid::Uuid::new_v4().simple().to_string()[..18]).to_uppercase();
            let secret_key = uuid::Uuid::new_v4().simple().to_string();
            let child = spawn(dir.path(), port, &access_key, &secret_key);
            let mut server = S3Server { child: Some(child), dir, port, access_key, secret_key };
            if server.wait_listening(Duration::from_secs(15)).await {
                return server;
            }
            last_log = std::fs::read_to_string(server.dir.path().join("s3s-fs.log")).unwrap_or_default();
            // Another process may have taken the port between probe and bind: try a new one.
        }
        panic!("s3s-fs did not start; its log:\n{last_log}");
    }

    /// Kills it (`SIGKILL`): connections reset, new ones refused; the objects stay on disk.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, keys and objects; waits until it accepts connections.
    pub async fn resume(&mut self) {
        self.stop();
        self.child = Some(spawn(self.dir.path(), self.port, &self.access_key, &self.secret_key));
        assert!(self.wait_listening(Duration::from_secs(15)).await, "s3s-fs did not come back on port {}", self.port);
    }

    async fn wait_listening(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// `127.0.0.1:PORT`, the form MINIO_ENDPOINT takes.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where s3s-fs keeps the buckets (one directory per bucket).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A bucket name no other test uses (S3 names: lower case, digits, '-').
    pub fn unique_bucket() -> String {
        format!("aa-e2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
    }

    /// The server's MINIO_* environment for `bucket` on this S3 server.
    pub fn env(&self, bucket: &str) -> Vec<(String, String)> {
        vec![
            ("MINIO_ENDPOINT".into(), self.endpoint()),
            ("MINIO_ACCESS_KEY".into(), self.access_key.clone()),
            ("MINIO_SECRET_KEY".into(), self.secret_key.clone()),
            ("MINIO_BUCKET".into(), bucket.to_string()),
            ("MINIO_SECURE".into(), "false".into()),
            ("MINIO_REGION".into(), "us-east-1".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs s3s-fs on `port` over `{dir}/root`, appending its output to `{dir}/s3s-fs.log`.
fn spawn(dir: &std::path::Path, port: u16, access_key: &str, secret_key: &str) -> Child {
    let bin = binary();
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("s3s-fs.log")).expect("s3s-fs log file");
    Command::new(&bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", access_key, "--secret-key", secret_key])
        .arg(dir.join("root"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

//! A real distributed S3 store for the replica suite: a private single-node Garage per test,
//! on free ports of 127.0.0.1, with its metadata and data in a temp dir.
//!
//! s3s-fs ([`crate::s3`]) is a thin S3 front over a directory; Garage is an S3 store as
//! deployments run it (its own metadata database, data split in blocks, multipart uploads,
//! server-side copies, SigV4 with its own region), so the replica suite runs on it to show that
//! what holds on s3s-fs holds on a store of that kind too. Garage starts with `--single-node
//! --default-bucket`, which sets up a one-node layout, imports the access key given in the
//! environment and creates the bucket with read, write and owner rights for that key before the
//! S3 API listens: once the port accepts connections the bucket is usable.
//!
//! The binary is `$GARAGE`, else `garage` on PATH, else the copy `.ci/install` puts under
//! `/var/cache/artifactapi/tools/cargo/bin`. A missing binary fails the test loudly. Garage is
//! a test tool only (AGPL): it runs as a separate process and is never linked.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The region Garage signs for ([`GarageServer::env`] gives it as `MINIO_REGION`).
pub const REGION: &str = "garage";

/// Finds the garage binary (`$GARAGE`, the PATH, the tools cache) or panics saying how to get it.
pub fn binary() -> PathBuf {
    crate::installed_tool("GARAGE", "garage")
}

/// A running single-node Garage with one bucket and one key allowed on it; killed and its
/// files removed on drop.
#[derive(Debug)]
pub struct GarageServer {
    child: Child,
    dir: TempDir,
    pub port: u16,
    pub access_key: String,
    pub secret_key: String,
    pub bucket: String,
}

/// The configuration file of a single node: metadata in LMDB, no compression (the tests'
/// bytes do not compress; it would only cost CPU), the S3 API and the RPC port on 127.0.0.1.
fn config(dir: &Path, s3_port: u16, rpc_port: u16) -> String {
    let rpc_secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    format!(
        r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "lmdb"
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{rpc_secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"
"#,
        meta = dir.join("meta").display(),
        data = dir.join("data").display(),
    )
}

impl GarageServer {
    /// Starts Garage with a new key and bucket and waits (up to 30 s) until its S3 API accepts
    /// connections.
    pub async fn start() -> GarageServer {
        let bin = binary();
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::Builder::new().prefix("aa-e2e-garage-").tempdir().expect("temp dir for garage");
            let (port, rpc_port) = (crate::server::free_port(), crate::server::free_port());
            let config_path = dir.path().join("garage.toml");
            std::fs::write(&config_path, config(dir.path(), port, rpc_port)).expect("write garage.toml");
            let log_path = dir.path().join("garage.log");
            let log = std::fs::File::create(&log_path).expect("garage log file");
            // Garage key ids are `GK` and 24 hex digits, secrets 64 hex digits.
            let access_key = format!("GK{}", &uuid::Uuid::new_v4().simple().to_string()[..24]);
            let secret_key = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
            let bucket = crate::s3::S3Server::unique_bucket();
            let child = Command::new(&bin)
                .arg("-c")
                .arg(&config_path)
                .args(["server", "--single-node", "--default-bucket"])
                .env("GARAGE_DEFAULT_ACCESS_KEY", &access_key)
                .env("GARAGE_DEFAULT_SECRET_KEY", &secret_key)
                .env("GARAGE_DEFAULT_BUCKET", &bucket)
                .env("RUST_LOG", "garage=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut server = GarageServer { child, dir, port, access_key, secret_key, bucket };
            if server.wait_listening(Duration::from_secs(30)).await {
                return server;
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            // A port may have been taken between probe and bind: try new ones.
        }
        panic!("garage did not start; its log:\n{last_log}");
    }

    async fn wait_listening(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
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

    /// Garage's output so far (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }

    /// The server's MINIO_* environment for the bucket: path-style requests signed for region
    /// `garage` (Garage refuses signatures for any other region).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("MINIO_ENDPOINT".into(), self.endpoint()),
            ("MINIO_ACCESS_KEY".into(), self.access_key.clone()),
            ("MINIO_SECRET_KEY".into(), self.secret_key.clone()),
            ("MINIO_BUCKET".into(), self.bucket.clone()),
            ("MINIO_SECURE".into(), "false".into()),
            ("MINIO_REGION".into(), REGION.into()),
        ]
    }
}

impl Drop for GarageServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- garage log -----\n{}\n----- end of garage log -----", self.log());
        }
    }
}

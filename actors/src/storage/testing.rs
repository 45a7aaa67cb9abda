//! A real S3 server for tests: starts `s3s-fs` on a free loopback port and stops it on drop.
//!
//! Behind the `testing` cargo feature so both this crate's tests and the end-to-end suite can
//! run the S3 backend against a real server that checks SigV4 signatures, instead of a mock.
//! The binary is looked up in `$S3S_FS`, then on `PATH`, then at
//! `/var/cache/artifactapi/tools/cargo/bin/s3s-fs` (where `.ci/install` puts it).

use std::ffi::OsString;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::s3::S3Settings;

/// Where `.ci/install` installs s3s-fs.
pub const DEFAULT_S3S_FS: &str = "/var/cache/artifactapi/tools/cargo/bin/s3s-fs";

const ACCESS_KEY: &str = "artifactapi-test";
const SECRET_KEY: &str = "artifactapi-test-secret";

/// A running s3s-fs with its own data directory; killed and cleaned up on drop.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

/// Finds the s3s-fs binary, or says how to get it.
pub fn s3s_fs_binary() -> io::Result<PathBuf> {
    find_s3s_fs(std::env::var_os("S3S_FS"), std::env::var_os("PATH"), Path::new(DEFAULT_S3S_FS))
}

fn find_s3s_fs(explicit: Option<OsString>, path: Option<OsString>, default: &Path) -> io::Result<PathBuf> {
    const HOW: &str = "`.ci/install` installs it (cargo install --locked --root \
                       /var/cache/artifactapi/tools/cargo s3s-fs@0.14.1 --features binary)";
    if let Some(p) = explicit.filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        let msg = format!("S3S_FS={} does not exist; {HOW}", p.display());
        return Err(io::Error::new(io::ErrorKind::NotFound, msg));
    }
    let on_path = path.iter().flat_map(std::env::split_paths).map(|dir| dir.join("s3s-fs")).find(|p| p.is_file());
    if let Some(p) = on_path {
        return Ok(p);
    }
    if default.is_file() {
        return Ok(default.to_path_buf());
    }
    let msg = format!("s3s-fs not found in $S3S_FS, on PATH or at {}; {HOW}", default.display());
    Err(io::Error::new(io::ErrorKind::NotFound, msg))
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl S3Server {
    /// Starts s3s-fs on a free port and waits (up to 20 s) until it accepts connections.
    /// Blocking; fine to call from a test's async body.
    pub fn start() -> io::Result<S3Server> {
        let binary = s3s_fs_binary()?;
        let mut last_error = None;
        // The port is free when picked but could be taken before s3s-fs binds it: retry.
        for _ in 0..3 {
            match Self::try_start(&binary) {
                Ok(server) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("s3s-fs did not start")))
    }

    fn try_start(binary: &Path) -> io::Result<S3Server> {
        let dir = std::env::temp_dir().join(format!("artifactapi-s3s-{}", uuid::Uuid::new_v4().simple()));
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        let log_path = dir.join("s3s-fs.log");
        let log = std::fs::File::create(&log_path)?;
        let port = free_port()?;
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut server = S3Server { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = server.child.try_wait()? {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(io::Error::other(format!("s3s-fs exited with {status}: {log}")));
            }
            if TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                let _ = server.child.kill();
                return Err(io::Error::new(io::ErrorKind::TimedOut, "s3s-fs did not listen within 20 s"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    pub fn access_key(&self) -> &str {
        ACCESS_KEY
    }

    pub fn secret_key(&self) -> &str {
        SECRET_KEY
    }

    /// The directory s3s-fs keeps its buckets in.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A bucket name no other test uses.
    pub fn unique_bucket() -> String {
        format!("t-{}", uuid::Uuid::new_v4().simple())
    }

    /// Settings for `bucket` on this server.
    pub fn settings(&self, bucket: &str) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint(),
            access_key: ACCESS_KEY.to_string(),
            secret_key: SECRET_KEY.to_string(),
            bucket: bucket.to_string(),
            secure: false,
            region: String::new(),
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_binary_or_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = find_s3s_fs(None, Some(OsString::new()), &missing).unwrap_err();
        assert!(err.to_string().contains(".ci/install"), "{err}");
        let err = find_s3s_fs(Some(missing.clone().into()), None, &missing).unwrap_err();
        assert!(err.to_string().contains(".ci/install"), "{err}");

        let bin = dir.path().join("s3s-fs");
        std::fs::write(&bin, b"").unwrap();
        assert_eq!(find_s3s_fs(None, Some(dir.path().into()), &missing).unwrap(), bin);
        assert_eq!(find_s3s_fs(Some(bin.clone().into()), None, &missing).unwrap(), bin);
        assert_eq!(find_s3s_fs(None, None, &bin).unwrap(), bin);
    }
}

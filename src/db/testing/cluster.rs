//! A private PostgreSQL server a test can stop and start again, for fault tests (does the
//! service heal after a database restart?). The shared server on 5432 must never be stopped.
//!
//! `initdb` refuses to run as root, so when the tests run as root the server programs run as
//! the `postgres` user (via `runuser`) in a data directory that user owns. The server listens on
//! 127.0.0.1 and a free port, with its socket in /tmp; dropping the cluster stops it and removes
//! its directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::db::DbSettings;

/// A private PostgreSQL cluster (test code: failures panic with the command's output).
#[derive(Debug)]
pub struct PrivateCluster {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivateCluster {
    /// Runs `initdb` in a new directory and picks a free port; the server is not started.
    pub fn init() -> PrivateCluster {
        let bin = server_bin_dir();
        let root = std::env::temp_dir().join(format!("aa-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
        let as_postgres = running_as_root();
        if as_postgres {
            check(Command::new("chown").arg("postgres:postgres").arg(&root), "chown");
        }
        // Free now; a race with another process taking it before `start` is possible but rare.
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let cluster = PrivateCluster { root, bin, port, as_postgres };
        let data = cluster.data_dir();
        cluster.run("initdb", &["-A", "trust", "-U", "postgres", "--no-sync", "-D", path_str(&data)]);
        cluster
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Settings for the cluster's `postgres` database.
    pub fn settings(&self, timeout: Duration) -> DbSettings {
        DbSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            user: "postgres".into(),
            password: String::new(),
            dbname: "postgres".into(),
            pool_size: 4,
            timeout,
        }
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let opts = format!("-p {} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off", self.port);
        let log = self.root.join("server.log");
        self.run("pg_ctl", &["-D", path_str(&self.data_dir()), "-o", &opts, "-l", path_str(&log), "-w", "start"]);
    }

    /// Stops the server (fast shutdown: open connections are closed) and waits for it.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", path_str(&self.data_dir()), "-m", "fast", "-w", "stop"]);
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        check(self.command(program).args(args), program);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.command("pg_ctl").args(["-D", path_str(&data), "-m", "immediate", "-w", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and `pg_ctl` in it.
fn server_bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "a private PostgreSQL needs initdb and pg_ctl under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
        ),
    }
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn check(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

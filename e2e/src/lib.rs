//! End-to-end test harness for artifactapi.
//!
//! The tests under `e2e/tests/` run the real `artifactapi` binary (built beforehand with
//! `cargo build -p artifactapi`) against real parts: a fresh PostgreSQL database per server, the
//! Redis at 127.0.0.1:6379 under a unique key namespace, a real S3 server (`s3s-fs`, or Garage
//! for the replica suite) for the S3 storage backend, and real HTTP upstream servers on 127.0.0.1 whose behaviour the tests switch
//! at run time (slow, reset mid-body, 5xx, down). Nothing here is a mock of artifactapi's
//! dependencies: what a test sees is what a client of a deployment would see.
//!
//! Run: `cargo build -p artifactapi && cargo test -p artifactapi-e2e`. Scenario tests exist
//! once per configuration (`fs`, `fs_redis`, `s3`, `s3_redis`; see [`matrix!`]), so
//! `cargo test -p artifactapi-e2e -- fs_redis` runs one configuration. Knobs (all optional):
//! `ARTIFACTAPI_BIN` (the binary), `S3S_FS` (the S3 server), `GARAGE` (Garage), `E2E_DBHOST`/`E2E_DBPORT`/
//! `E2E_DBUSER`/`E2E_DBPASS`, `E2E_REDIS_URL`, `E2E_RUST_LOG` (the server's RUST_LOG),
//! `E2E_SHOW_LOGS` (print every server's log tail, not only on failure).
//!
//! Modules, one concern each:
//! - [`server`]: start the binary with a configuration ([`Options`]), wait until it is live,
//!   stop it and clean up; two servers can share a database, storage and Redis (replicas).
//! - [`db`]: create and drop a unique PostgreSQL database.
//! - [`docker`]: a real registry upstream (`docker-registry`), a counting/token-demanding front
//!   for it, and images built with `umoci` (pushed and pulled with `skopeo` and `podman`).
//! - [`redis`]: a unique Redis key namespace, swept when dropped.
//! - [`s3`]: start `s3s-fs` on a free port.
//! - [`garage`]: start a single-node Garage with a key and a bucket on free ports.
//! - [`upstream`]: the upstream HTTP servers and their fault modes.
//! - [`counting`]: a counting reverse proxy in front of a real upstream server.
//! - [`gomod`]: module zips and the real `go` command, for the goproxy tests.
//! - [`helm`]: the real helm client (helm-sdkpy), with a Helm home of its own per client.
//! - [`client`]: response snapshots, streaming hashes and concurrent GETs.
//! - [`oci_client`]: a raw Registry API V2 client (uploads, manifests, OCI errors).
//! - [`prom`]: a strict parser of the Prometheus text format, for `/metrics`.
//! - [`rpm`]: packages built with `rpmbuild`, and `dnf --installroot` installing them.
//! - [`raw`]: a raw HTTP/1.1 request for paths an URL parser would normalise away.
//! - [`sse`]: a server-sent-event client for the live event stream.
//! - [`terraform`]: the real terraform CLI, and signed provider releases served as a registry.
//! - [`tls`]: a certificate authority made per test, for HTTPS upstreams and listeners.

pub mod client;
pub mod counting;
pub mod db;
pub mod docker;
pub mod faults;
pub mod garage;
pub mod gomod;
pub mod helm;
pub mod oci_client;
pub mod prom;
pub mod raw;
pub mod redis;
pub mod rpm;
pub mod s3;
pub mod server;
pub mod sse;
pub mod stall;
pub mod terraform;
pub mod tls;
pub mod upstream;

pub use client::{concurrent_gets, fetch, try_fetch, Digested, Fetched};
pub use server::{Options, Server, Storage};
pub use upstream::{File, Mode, Upstream};

use std::future::Future;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Where `.ci/install` puts the tools it builds (`cargo install --root`).
const TOOLS_BIN: &str = "/var/cache/artifactapi/tools/cargo/bin";

/// The test tool `name`: the path in `$env_var`, else the first on the PATH, else the one
/// `.ci/install` installed; panics saying how to get it when there is none.
pub fn installed_tool(env_var: &str, name: &str) -> std::path::PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return std::path::PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if let Some(p) = on_path {
        return p;
    }
    let installed = std::path::Path::new(TOOLS_BIN).join(name);
    assert!(
        installed.is_file(),
        "{name} not found (not in ${env_var}, not on PATH, not at {}): run `bash .ci/install` to install it",
        installed.display()
    );
    installed
}

/// Lower-case hex SHA-256 of `bytes`: the ETag artifactapi gives a cached object.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `len` deterministic, incompressible-looking bytes that differ for each `seed`.
pub fn pattern_bytes(len: usize, seed: u64) -> Vec<u8> {
    // xorshift64*: cheap, reproducible, and no two seeds give the same stream.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A JSON spec for a generic remote named `name` proxying `base_url`, to extend in a test.
pub fn generic_remote(name: &str, base_url: &str) -> serde_json::Value {
    serde_json::json!({ "name": name, "package_type": "generic", "base_url": base_url })
}

/// Starts an upstream and a server with one generic remote `gen` on it; `spec_extra` adds or
/// overrides fields of the remote's spec.
pub async fn with_generic_remote(opts: Options, spec_extra: serde_json::Value) -> (Server, Upstream) {
    let up = Upstream::start().await;
    let s = Server::start(opts).await;
    let mut spec = generic_remote("gen", &up.base_url());
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        spec.extend(extra.clone());
    }
    s.create_remote(spec).await;
    (s, up)
}

/// Calls `attempt` until it returns `Some`, at most until `timeout` has passed, pausing
/// `interval` between tries. For waiting on time-driven server state (TTLs, breaker periods)
/// that no event announces; panics naming `what` when the deadline passes.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, interval: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = attempt().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(interval).await;
    }
}

/// Expands `matrix!(scenario);` for `async fn scenario(opts: Options)` into a module of four
/// tests, one per configuration the foundation supports: `fs`, `fs_redis`, `s3`, `s3_redis`.
/// `matrix!(scenario, redis_only)` generates only the two configurations with Redis;
/// `matrix!(scenario, replicas)` the two of the replica suite, `fs_redis` and `garage_redis`
/// (S3 on Garage, a store as deployments run it, instead of s3s-fs).
#[macro_export]
macro_rules! matrix {
    ($scenario:ident) => {
        mod $scenario {
            $crate::matrix!(@test $scenario, fs, $crate::Storage::Fs, false);
            $crate::matrix!(@test $scenario, fs_redis, $crate::Storage::Fs, true);
            $crate::matrix!(@test $scenario, s3, $crate::Storage::S3, false);
            $crate::matrix!(@test $scenario, s3_redis, $crate::Storage::S3, true);
        }
    };
    ($scenario:ident, redis_only) => {
        mod $scenario {
            $crate::matrix!(@test $scenario, fs_redis, $crate::Storage::Fs, true);
            $crate::matrix!(@test $scenario, s3_redis, $crate::Storage::S3, true);
        }
    };
    ($scenario:ident, replicas) => {
        mod $scenario {
            $crate::matrix!(@test $scenario, fs_redis, $crate::Storage::Fs, true);
            $crate::matrix!(@test $scenario, garage_redis, $crate::Storage::Garage, true);
        }
    };
    (@test $scenario:ident, $name:ident, $storage:expr, $redis:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            super::$scenario($crate::Options::new($storage, $redis)).await
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn pattern_bytes_are_reproducible_and_seeded() {
        assert_eq!(pattern_bytes(1000, 1), pattern_bytes(1000, 1));
        assert_ne!(pattern_bytes(1000, 1), pattern_bytes(1000, 2));
        assert_eq!(pattern_bytes(13, 7).len(), 13);
        assert_eq!(&pattern_bytes(100, 3)[..13], &pattern_bytes(13, 3)[..]);
    }
}

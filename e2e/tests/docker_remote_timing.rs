//! Pull times through a docker remote next to pulling from docker-registry directly.
//!
//! Not a pass/fail test (timings on a shared machine are no assertion): it is `#[ignore]`d and
//! prints a table. Run it against a release binary:
//!
//! ```sh
//! cargo build --release -p artifactapi
//! ARTIFACTAPI_BIN=$CARGO_TARGET_DIR/release/artifactapi \
//!   cargo test -p artifactapi-e2e --test docker_remote_timing -- --ignored --nocapture
//! ```
//!
//! The image has one layer of `DOCKER_TIMING_MIB` MiB (default 64) of incompressible bytes and
//! a small one. Each row is the median of `RUNS` `skopeo copy` runs into a fresh `dir:` (and of
//! `podman pull` into fresh storage): directly from the registry; through the remote cold (the
//! first pull, every byte fetched upstream while it streams; one run, on a fresh remote each
//! time); and through the remote warm (everything from the cache).

use std::time::{Duration, Instant};

use artifactapi_e2e::docker::{podman, push, skopeo, Layout, Registry};
use artifactapi_e2e::{Options, Server, Storage};
use serde_json::json;

const RUNS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn skopeo_copy(layout: &Layout, src: &str) -> Duration {
    let dir = layout.scratch("timing-copy");
    let started = Instant::now();
    skopeo(&["copy", "--src-tls-verify=false", &format!("docker://{src}"), &format!("dir:{}", dir.display())]);
    started.elapsed()
}

fn podman_pull(layout: &Layout, src: &str) -> Duration {
    let root = layout.scratch("timing-podman");
    let started = Instant::now();
    podman(&root, &["pull", "--tls-verify=false", src]);
    let took = started.elapsed();
    let _ = std::fs::remove_dir_all(&root);
    took
}

async fn measure(storage: Storage) {
    let mib: usize = std::env::var("DOCKER_TIMING_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let layout = Layout::build(42, mib << 20);
    let reg = Registry::start().await;
    push(&layout, "amd", &format!("{}/app:1.0", reg.host()), &[]);
    let s = Server::start(Options::new(storage, false)).await;
    let direct = format!("{}/app:1.0", reg.host());
    let mut rows = Vec::new();
    type Client = fn(&Layout, &str) -> Duration;
    for (client, pull) in [("skopeo copy", skopeo_copy as Client), ("podman pull", podman_pull as Client)] {
        let d = median((0..RUNS).map(|_| pull(&layout, &direct)).collect());
        let mut cold = Vec::new();
        for i in 0..RUNS {
            let name = format!("{}-{i}", client.replace(' ', "-"));
            s.create_remote(json!({ "name": name, "package_type": "docker", "base_url": reg.url() })).await;
            cold.push(pull(&layout, &format!("127.0.0.1:{}/{name}/app:1.0", s.port())));
        }
        let via = format!("127.0.0.1:{}/{}-0/app:1.0", s.port(), client.replace(' ', "-"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let warm = median((0..RUNS).map(|_| pull(&layout, &via)).collect());
        rows.push((client, d, median(cold), warm));
    }
    println!("\ndocker pull times, {mib} MiB layer, {storage:?} storage, median of {RUNS}:");
    println!("{:<14}{:>12}{:>14}{:>14}", "client", "direct", "proxy cold", "proxy warm");
    for (client, d, c, w) in rows {
        println!(
            "{client:<14}{:>10.0}ms{:>12.0}ms{:>12.0}ms",
            d.as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e3,
            w.as_secs_f64() * 1e3
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints timings; run with --ignored against a release binary"]
async fn pull_times_fs() {
    measure(Storage::Fs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints timings; run with --ignored against a release binary"]
async fn pull_times_s3() {
    measure(Storage::S3).await
}

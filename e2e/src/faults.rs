//! What the fault tests check on every fault of a service artifactapi depends on: the
//! dependency's check in `/api/v2/health`, its `artifactapi_dependency_up` gauge in `/metrics`,
//! and its `dependency_down` / `dependency_up` events in the event feed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::prom::Scrape;
use crate::sse::EventStream;
use crate::Server;

/// How long a fault may take to show (the server checks its dependencies every second, each
/// check with a 3 s deadline).
pub const SHOWS_WITHIN: Duration = Duration::from_secs(20);

/// Opens an event stream of dependency events only.
pub async fn dependency_events(s: &Server) -> EventStream {
    match EventStream::open(s, "type=dependency_down,dependency_up").await {
        Ok(stream) => stream,
        Err(resp) => panic!("event stream: {}", resp.describe()),
    }
}

/// Waits for the `kind` (`dependency_down`, `dependency_up`) event of `dependency`; returns it.
pub async fn expect_event(stream: &mut EventStream, kind: &str, dependency: &str) -> Value {
    let what = format!("{kind} of {dependency}");
    let (event, _) = stream
        .until(&what, SHOWS_WITHIN, |e, json| e.event == kind && json["detail"]["dependency"] == dependency)
        .await;
    event
}

/// `artifactapi_dependency_up{dependency=...}` now.
pub async fn gauge(s: &Server, dependency: &str) -> f64 {
    let text = s.get("/metrics").await.text();
    let scrape = Scrape::parse(&text).unwrap_or_else(|e| panic!("/metrics: {e}"));
    scrape.sum("artifactapi_dependency_up", &[("dependency", dependency)])
}

/// `artifactapi_dependency_failures_total{dependency=...}` now.
pub async fn failures(s: &Server, dependency: &str) -> f64 {
    let text = s.get("/metrics").await.text();
    let scrape = Scrape::parse(&text).unwrap_or_else(|e| panic!("/metrics: {e}"));
    scrape.sum("artifactapi_dependency_failures_total", &[("dependency", dependency)])
}

/// Asserts `/api/v2/health` answers 503 with `dependency`'s check in error; returns the report.
pub async fn assert_health_error(s: &Server, dependency: &str) -> Value {
    let health = s.get("/api/v2/health").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{}", health.describe());
    let h = health.json();
    assert_eq!(h["checks"][dependency]["status"], "error", "{h}");
    h
}

/// Waits until `/api/v2/health` answers 200 again.
pub async fn wait_healthy(s: &Server) {
    crate::poll_until("health 200 again", SHOWS_WITHIN, Duration::from_millis(100), || async {
        (s.get("/api/v2/health").await.status == StatusCode::OK).then_some(())
    })
    .await;
}

/// A small tmpfs of the test's own (`mount -t tmpfs`, which needs root, as CI runs), to fill
/// up; unmounted on drop.
#[derive(Debug)]
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB on a new temp dir; panics when mounting is not permitted.
    pub fn mount(mib: u32) -> Tmpfs {
        let dir = tempfile::Builder::new().prefix("aa-e2e-tmpfs-").tempdir().expect("temp dir to mount on");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0755"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs (needs root, as CI runs): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes `name` until the filesystem is full; returns how many bytes it took.
    pub fn fill(&self, name: &str) -> u64 {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join(name)).expect("create the filler");
        let chunk = vec![0x5a_u8; 64 << 10];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => return written,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => return written, // ENOSPC
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
    }

    /// The staging files of every process using this tmpfs as its `DATA_DIR` (the files in
    /// each process's folder under `staging/`; lock files are not staging files).
    pub fn staged_files(&self) -> Vec<std::path::PathBuf> {
        let Ok(folders) = std::fs::read_dir(self.path().join("staging")) else { return Vec::new() };
        let folders = folders.flatten().filter(|e| e.path().is_dir());
        folders.flat_map(|f| std::fs::read_dir(f.path()).into_iter().flatten().flatten().map(|e| e.path())).collect()
    }

    /// Where the blob with this SHA-256 would lie (`blobs/sha256/{hash}`).
    pub fn blob_path(&self, sha256: &str) -> std::path::PathBuf {
        self.path().join("blobs").join("sha256").join(sha256)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

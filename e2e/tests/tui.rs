//! `artifactapi tui` in tmux (`send-keys`, `capture-pane`) against the real server: tabs switch,
//! an event arrives, an object is evicted after a confirmation (and the next request misses),
//! the screen follows a resize, a stopped server shows as a banner, and `q` quits cleanly.

use std::process::Command;
use std::time::{Duration, Instant};

use artifactapi_e2e::server::binary;
use artifactapi_e2e::{generic_remote, File, Options, Server, Storage, Upstream};

const ADMIN: &str = "e2e-tui-admin";

/// A tmux session running one command; killed on drop.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(name: &str, cmd: &[String]) -> Tmux {
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", name, "-x", "120", "-y", "32"])
            .args(cmd)
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux runs (apt-get install tmux)");
        assert!(status.success(), "tmux new-session");
        let _ = Command::new("tmux").args(["set-option", "-t", name, "remain-on-exit", "on"]).status();
        Tmux { name: name.to_string() }
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = Command::new("tmux").args(["send-keys", "-t", &self.name, k]).status();
            assert!(ok.is_ok_and(|s| s.success()), "send-keys {k}");
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux").args(["capture-pane", "-p", "-t", &self.name]).output().expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn query(&self, format: &str) -> String {
        let out =
            Command::new("tmux").args(["display-message", "-p", "-t", &self.name, format]).output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until the screen shows everything in `want`; panics with the screen otherwise.
    async fn wait_for(&self, want: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if want.iter().all(|w| screen.contains(w)) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the screen never showed {want:?}; it shows:\n{screen}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.name]).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_events_evict_resize_banner_quit() {
    let up = Upstream::start().await;
    up.put("/files/tui.bin", File::new(vec![5u8; 20_000]));
    let opts = Options::new(Storage::Fs, true).admin_token(ADMIN).env("ADMIN_TOKEN_READS", "true");
    let mut s = Server::start(opts).await;
    s.create_remote(generic_remote("watched", &up.base_url())).await;
    assert_eq!(s.proxy_get("watched", "files/tui.bin").await.x_cache(), "MISS");
    s.wait_cached("watched", "files/tui.bin").await;

    let cmd = vec![
        binary().display().to_string(),
        "tui".into(),
        "--endpoint".into(),
        s.url(""),
        "--token".into(),
        ADMIN.into(),
    ];
    let t = Tmux::start(&format!("aa-tui-{}", s.port()), &cmd);
    t.wait_for(&["1 Overview", "Requests", "Hit ratio", "q quit"]).await;

    t.keys(&["2"]);
    t.wait_for(&["Breaker", "watched", "closed", "Enter objects"]).await;

    t.keys(&["3"]);
    t.wait_for(&["Events (", "p pause"]).await;
    assert_eq!(s.proxy_get("watched", "files/tui.bin").await.x_cache(), "HIT");
    t.wait_for(&["cache_hit", "files/tui.bin"]).await;

    t.keys(&["2", "Enter"]);
    t.wait_for(&["Objects of watched", "files/tui.bin", "d evict"]).await;
    t.keys(&["d"]);
    t.wait_for(&["Evict files/tui.bin from watched?"]).await;
    t.keys(&["n"]);
    t.wait_for(&["d evict"]).await;
    assert_eq!(s.proxy_get("watched", "files/tui.bin").await.x_cache(), "HIT", "n kept it");
    t.keys(&["d", "y"]);
    t.wait_for(&["evicted files/tui.bin"]).await;
    assert_eq!(s.proxy_get("watched", "files/tui.bin").await.x_cache(), "MISS");

    t.keys(&["5"]);
    t.wait_for(&["Catalog", "postgresql", "Coordinator", "redis"]).await;

    let ok = Command::new("tmux").args(["resize-window", "-t", &t.name, "-x", "72", "-y", "20"]).status();
    assert!(ok.is_ok_and(|s| s.success()));
    t.keys(&["1"]);
    let screen = t.wait_for(&["Requests/s"]).await;
    let widest = screen.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 72, "drawn for the new width:\n{screen}");
    assert!(
        screen.lines().any(|l| l.starts_with('└') && l.chars().count() == 72),
        "borders span the new width:\n{screen}"
    );

    // The TUI's open event stream must not hold the graceful stop for its whole timeout.
    let stopping = Instant::now();
    let status = s.terminate().await;
    assert!(status.is_some_and(|s| s.success()), "clean stop: {status:?}");
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "stop took {:?} with an event stream open",
        stopping.elapsed()
    );
    t.wait_for(&["connection lost"]).await;

    t.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.query("#{pane_dead}") != "1" {
        assert!(Instant::now() < deadline, "q did not quit:\n{}", t.screen());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(t.query("#{pane_dead_status}"), "0", "exit status");
}

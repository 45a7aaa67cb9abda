//! A unique Redis key namespace per test server (and its replicas), on the shared Redis at
//! 127.0.0.1:6379 (`E2E_REDIS_URL` to change it).
//!
//! The server prefixes every key with `REDIS_NAMESPACE`, so parallel tests never see each
//! other's freshness keys, locks or breaker state. When the namespace is dropped its keys are
//! deleted, so repeated test runs do not fill the developer's Redis.

use redis::AsyncCommands;

/// The Redis URL the servers get.
pub fn url() -> String {
    std::env::var("E2E_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A key prefix no other test uses.
#[derive(Debug)]
pub struct Namespace {
    pub url: String,
    pub prefix: String,
}

impl Namespace {
    pub fn new() -> Namespace {
        Namespace { url: url(), prefix: format!("aa_e2e_{}", uuid::Uuid::new_v4().simple()) }
    }

    /// Keys currently under the prefix.
    pub async fn keys(&self) -> Result<Vec<String>, redis::RedisError> {
        keys(&self.url, &self.prefix).await
    }
}

async fn keys(url: &str, prefix: &str) -> Result<Vec<String>, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut keys = Vec::new();
    let mut iter: redis::AsyncIter<String> = conn.scan_match(format!("{prefix}*")).await?;
    while let Some(k) = iter.next_item().await {
        keys.push(k?);
    }
    Ok(keys)
}

async fn sweep(url: &str, prefix: &str) -> Result<(), redis::RedisError> {
    let keys = keys(url, prefix).await?;
    if keys.is_empty() {
        return Ok(());
    }
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    conn.del::<_, ()>(keys).await
}

impl Default for Namespace {
    fn default() -> Self {
        Namespace::new()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(sweep(&url, &prefix)).ok()
        })
        .join();
        if !matches!(done, Ok(Some(()))) {
            eprintln!("warning: could not delete Redis keys under {}", self.prefix);
        }
    }
}

/// A Redis server of one test's own (a child `redis-server` on a free port, nothing on disk),
/// for tests that stop and start it; the shared one stays up for every other test.
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Starts it on a free port and waits until it accepts connections.
    pub async fn start() -> PrivateRedis {
        let mut r = PrivateRedis { port: crate::server::free_port(), child: None };
        r.resume().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (`SIGKILL`): clients see their connections reset and new ones refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn resume(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        crate::poll_until(
            "a private redis-server",
            std::time::Duration::from_secs(10),
            std::time::Duration::from_millis(20),
            || async { tokio::net::TcpStream::connect(&addr).await.ok().map(|_| ()) },
        )
        .await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

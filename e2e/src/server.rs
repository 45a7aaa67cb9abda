//! Runs the real `artifactapi` binary for a test, with its own database, data directory, port,
//! Redis namespace and (for the S3 backend) S3 server, and cleans all of it up afterwards.
//!
//! The harness builds nothing: it runs `$ARTIFACTAPI_BIN`, else
//! `$CARGO_TARGET_DIR/debug/artifactapi`, else `<workspace>/target/debug/artifactapi`, so the
//! tests exercise the binary that ships. The process gets a cleared environment (plus PATH) so
//! a developer's shell cannot change what a test means; its output goes to a log file whose
//! tail is printed when a test fails. Two servers can share one database, data directory, S3
//! bucket and Redis namespace ([`Options::shared_with`]) to act as replicas of one deployment.
//! The S3 backend runs on s3s-fs ([`Storage::S3`]) or on Garage ([`Storage::Garage`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

use crate::client::{fetch, Fetched};
use crate::db::Database;
use crate::garage::GarageServer;
use crate::redis::Namespace;
use crate::s3::S3Server;
use crate::tls::TestCa;

/// How long a server may take to answer `/api/v2/health/live`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The storage backend a server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Fs,
    /// `STORAGE_BACKEND=s3` on s3s-fs.
    S3,
    /// `STORAGE_BACKEND=s3` on a single-node Garage.
    Garage,
}

/// What replicas of one deployment share; dropped (database, Redis keys, S3 server, files)
/// when the last of them stops.
#[derive(Debug)]
struct Shared {
    storage: Storage,
    db: Database,
    data_dir: TempDir,
    s3: Option<(S3Server, String)>,
    garage: Option<GarageServer>,
    redis: Option<Namespace>,
}

impl Shared {
    async fn create(storage: Storage, redis: bool) -> Shared {
        let s3 = async {
            match storage {
                Storage::S3 => Some((S3Server::start().await, S3Server::unique_bucket())),
                Storage::Fs | Storage::Garage => None,
            }
        };
        let garage = async {
            match storage {
                Storage::Garage => Some(GarageServer::start().await),
                Storage::Fs | Storage::S3 => None,
            }
        };
        let (db, s3, garage) = tokio::join!(Database::create(), s3, garage);
        let data_dir = tempfile::Builder::new().prefix("aa-e2e-data-").tempdir().expect("temp DATA_DIR");
        Shared { storage, db, data_dir, s3, garage, redis: redis.then(Namespace::new) }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.db.env();
        env.push(("DATA_DIR".into(), self.data_dir.path().display().to_string()));
        match (&self.s3, &self.garage) {
            (Some((s3, bucket)), _) => {
                env.push(("STORAGE_BACKEND".into(), "s3".into()));
                env.extend(s3.env(bucket));
            }
            (None, Some(garage)) => {
                env.push(("STORAGE_BACKEND".into(), "s3".into()));
                env.extend(garage.env());
            }
            (None, None) => env.push(("STORAGE_BACKEND".into(), "fs".into())),
        }
        if let Some(ns) = &self.redis {
            env.push(("REDIS_URL".into(), ns.url.clone()));
            env.push(("REDIS_NAMESPACE".into(), ns.prefix.clone()));
        }
        env
    }
}

/// How to run a server.
#[derive(Debug, Clone)]
pub struct Options {
    pub storage: Storage,
    pub redis: bool,
    pub admin_token: Option<String>,
    /// Extra environment, applied last (e.g. `BREAKER_THRESHOLD=2`).
    pub env: Vec<(String, String)>,
    /// Sets `REPLICA_URL` to the server's own `http://127.0.0.1:{port}` ([`Options::replica_url`]).
    pub replica_url: bool,
    share: Option<Arc<Shared>>,
    tls: Option<Arc<TlsFiles>>,
}

/// The HTTPS listener of a server: its certificate files (for 127.0.0.1 and localhost, signed
/// by a test CA) and that CA, which the harness's client trusts.
#[derive(Debug)]
struct TlsFiles {
    _dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca_pem: String,
    /// HTTPS on `TLS_LISTEN_ADDR` beside plain HTTP on `LISTEN_ADDR`, not instead of it.
    beside: bool,
}

impl TlsFiles {
    fn new(ca: &TestCa, beside: bool) -> TlsFiles {
        let dir = tempfile::Builder::new().prefix("aa-e2e-tls-").tempdir().expect("temp dir for TLS files");
        let (cert, key) = ca.write_server_pem(dir.path(), &["127.0.0.1", "localhost"]);
        TlsFiles { _dir: dir, cert, key, ca_pem: ca.pem(), beside }
    }
}

impl Options {
    pub fn new(storage: Storage, redis: bool) -> Options {
        Options { storage, redis, admin_token: None, env: Vec::new(), replica_url: false, share: None, tls: None }
    }

    /// Adds an environment variable for the server.
    pub fn env(mut self, key: &str, value: impl ToString) -> Options {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets `REPLICA_URL` to the server's own plain HTTP address, so the other replicas stream
    /// the fills it leads.
    pub fn replica_url(mut self) -> Options {
        self.replica_url = true;
        self
    }

    /// Sets ADMIN_TOKEN; the helpers of [`Server`] send it on writes.
    pub fn admin_token(mut self, token: &str) -> Options {
        self.admin_token = Some(token.to_string());
        self
    }

    /// Serves HTTPS on `LISTEN_ADDR` (`TLS_CERT`, `TLS_KEY`) with a certificate for 127.0.0.1 and
    /// localhost signed by `ca`; `PUBLIC_URL`, [`Server::url`] and [`Server::client`] use https.
    pub fn tls(mut self, ca: &TestCa) -> Options {
        self.tls = Some(Arc::new(TlsFiles::new(ca, false)));
        self
    }

    /// Serves HTTPS on `TLS_LISTEN_ADDR` (a second port, [`Server::https_url`]) beside plain
    /// HTTP on `LISTEN_ADDR` ([`Server::url`]); `PUBLIC_URL` is the HTTPS one.
    pub fn tls_beside(mut self, ca: &TestCa) -> Options {
        self.tls = Some(Arc::new(TlsFiles::new(ca, true)));
        self
    }

    /// Uses `other`'s database, data directory, storage and Redis namespace: a second replica.
    pub fn shared_with(mut self, other: &Server) -> Options {
        self.storage = other.shared.storage;
        self.redis = other.shared.redis.is_some();
        self.share = Some(other.shared.clone());
        self
    }

    /// `fs`, `s3+redis`, ...: for messages.
    pub fn label(&self) -> String {
        let storage = match self.storage {
            Storage::Fs => "fs",
            Storage::S3 => "s3",
            Storage::Garage => "garage",
        };
        if self.redis {
            format!("{storage}+redis")
        } else {
            storage.to_string()
        }
    }
}

/// The artifactapi binary the tests run; panics saying how to build it when it is missing.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ARTIFACTAPI_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    let bin = target.join("debug").join("artifactapi");
    assert!(
        bin.is_file(),
        "artifactapi binary not found at {}: run `cargo build -p artifactapi` first (or set ARTIFACTAPI_BIN)",
        bin.display()
    );
    bin
}

/// A free TCP port on 127.0.0.1 (free when asked; callers retry if it is taken meanwhile).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// A command for the binary with a cleared environment: PATH, HOME and the log settings only.
pub fn command() -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear();
    for key in ["PATH", "HOME", "TMPDIR"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.env("RUST_LOG", std::env::var("E2E_RUST_LOG").unwrap_or_else(|_| "info".into()));
    cmd.env("RUST_BACKTRACE", "1");
    cmd.env("NO_COLOR", "1");
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs the binary on `ports` (LISTEN_ADDR, and TLS_LISTEN_ADDR with [`Options::tls_beside`])
/// with the environment of `opts` and `shared`, logging to `log`.
fn spawn(ports: Ports, opts: &Options, shared: &Shared, log: std::fs::File) -> Child {
    let mut cmd = command();
    let port = ports.plain;
    cmd.env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("WORKERS", "2")
        .env("DB_POOL_SIZE", "4")
        .env("REPLICA_ID", format!("e2e-{port}"))
        .envs(shared.env());
    if let Some(t) = &opts.admin_token {
        cmd.env("ADMIN_TOKEN", t);
    }
    if opts.replica_url {
        cmd.env("REPLICA_URL", format!("http://127.0.0.1:{port}"));
    }
    if let Some(tls) = &opts.tls {
        cmd.env("TLS_CERT", &tls.cert).env("TLS_KEY", &tls.key);
        cmd.env("PUBLIC_URL", format!("https://127.0.0.1:{}", ports.https.unwrap_or(port)));
        if let Some(https) = ports.https {
            cmd.env("TLS_LISTEN_ADDR", format!("127.0.0.1:{https}"));
        }
    }
    cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
    cmd.stdout(log.try_clone().expect("clone log handle")).stderr(log);
    cmd.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", binary().display()))
}

/// The ports a server listens on.
#[derive(Debug, Clone, Copy)]
struct Ports {
    plain: u16,
    /// `TLS_LISTEN_ADDR`'s, with [`Options::tls_beside`].
    https: Option<u16>,
}

/// A running artifactapi process; killed on drop, and its resources released with the last
/// replica sharing them.
#[derive(Debug)]
pub struct Server {
    child: Child,
    port: u16,
    ports: Ports,
    label: String,
    log_path: PathBuf,
    client: reqwest::Client,
    admin_token: Option<String>,
    _logs: TempDir,
    shared: Arc<Shared>,
    opts: Options,
}

enum StartError {
    Exited(String),
    Timeout,
}

impl Server {
    /// Starts the binary and waits until `/api/v2/health/live` answers 200.
    pub async fn start(opts: Options) -> Server {
        let shared = match &opts.share {
            Some(s) => s.clone(),
            None => Arc::new(Shared::create(opts.storage, opts.redis).await),
        };
        let mut client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(120));
        if let Some(tls) = &opts.tls {
            let ca = reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).expect("the test CA");
            client = client.add_root_certificate(ca);
        }
        let client = client.build().expect("HTTP client");
        for attempt in 1..=3 {
            let logs = tempfile::Builder::new().prefix("aa-e2e-log-").tempdir().expect("temp dir for the log");
            let port = free_port();
            let ports = Ports { plain: port, https: opts.tls.as_ref().filter(|t| t.beside).map(|_| free_port()) };
            let log_path = logs.path().join(format!("artifactapi-{port}.log"));
            let log = std::fs::File::create(&log_path).expect("log file");
            let child = spawn(ports, &opts, &shared, log);
            let mut server = Server {
                child,
                port,
                ports,
                label: opts.label(),
                log_path,
                client: client.clone(),
                admin_token: opts.admin_token.clone(),
                _logs: logs,
                shared: shared.clone(),
                opts: opts.clone(),
            };
            match server.wait_live().await {
                Ok(()) => return server,
                Err(StartError::Exited(log)) if attempt < 3 && log.to_ascii_lowercase().contains("in use") => {
                    eprintln!("artifactapi: port {port} was taken, retrying on another");
                }
                Err(StartError::Exited(log)) => {
                    panic!("artifactapi ({}) exited during start-up; its log:\n{log}", opts.label())
                }
                Err(StartError::Timeout) => {
                    let tail = server.log_tail(80);
                    panic!(
                        "artifactapi ({}) did not answer /api/v2/health/live within {START_TIMEOUT:?}; log tail:\n{tail}",
                        opts.label()
                    )
                }
            }
        }
        unreachable!("the last attempt panics or returns")
    }

    /// Starts `n` replicas of one new deployment at the same moment (one database, data
    /// directory, storage and Redis namespace), as a rollout starting several pods at once does.
    pub async fn start_together(opts: Options, n: usize) -> Vec<Server> {
        let shared = Arc::new(Shared::create(opts.storage, opts.redis).await);
        let starts = (0..n).map(|_| {
            let mut o = opts.clone();
            o.share = Some(shared.clone());
            Server::start(o)
        });
        futures_util::future::join_all(starts).await
    }

    /// Kills the process (SIGKILL, as a crash or a node failure does; SIGTERM would wait for
    /// open event streams) and starts it again on the same port, with the same environment,
    /// appending to the same log; waits until it is live. Clients must come back by themselves.
    pub async fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new().append(true).open(&self.log_path).expect("log file");
        self.child = spawn(self.ports, &self.opts, &self.shared, log);
        if self.wait_live().await.is_err() {
            panic!("artifactapi did not come back after a restart; log tail:\n{}", self.log_tail(80));
        }
    }

    async fn wait_live(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = self.url("/api/v2/health/live");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(StartError::Exited(format!("(exit: {status})\n{}", self.log())));
            }
            let probe = self.client.get(&url).timeout(Duration::from_secs(2)).send().await;
            if matches!(probe, Ok(r) if r.status() == StatusCode::OK) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(StartError::Timeout)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id (for reading its memory figures in `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT{path}` (https with [`Options::tls`]).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.opts.tls.as_ref().is_some_and(|t| !t.beside) { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// `https://127.0.0.1:PORT{path}` on the HTTPS listener ([`Options::tls`] or
    /// [`Options::tls_beside`]); panics when the server has none.
    pub fn https_url(&self, path: &str) -> String {
        assert!(self.opts.tls.is_some(), "this server has no HTTPS listener (Options::tls)");
        format!("https://127.0.0.1:{}{path}", self.ports.https.unwrap_or(self.port))
    }

    /// The PEM of the CA that signed the HTTPS listener's certificate (for `SSL_CERT_FILE`,
    /// curl's `--cacert`); panics when the server has none.
    pub fn tls_ca_pem(&self) -> &str {
        &self.opts.tls.as_ref().expect("this server has no HTTPS listener (Options::tls)").ca_pem
    }

    /// The proxy URL of `path` on remote `remote`.
    pub fn proxy_url(&self, remote: &str, path: &str) -> String {
        self.url(&format!("/api/v1/remote/{remote}/{}", path.trim_start_matches('/')))
    }

    /// A client without proxies from the environment and with a 120 s request limit.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// GET of a server path, read to the end.
    pub async fn get(&self, path: &str) -> Fetched {
        fetch(self.client.get(self.url(path))).await
    }

    /// GET through remote `remote`, read to the end.
    pub async fn proxy_get(&self, remote: &str, path: &str) -> Fetched {
        fetch(self.client.get(self.proxy_url(remote, path))).await
    }

    /// GETs `path` through `remote` until it is served from the cache (HIT or REVALIDATED),
    /// at most 15 s; every answer on the way must be a 200. A MISS response ends when its last
    /// byte is sent, and the object is committed right around then: a request in that window
    /// may still join the fill as a MISS, so tests that need "cached now" wait here.
    pub async fn wait_cached(&self, remote: &str, path: &str) -> Fetched {
        let what = format!("{remote}/{path} to be served from the cache");
        crate::poll_until(&what, Duration::from_secs(15), Duration::from_millis(50), || async {
            let r = self.proxy_get(remote, path).await;
            assert_eq!(r.status, StatusCode::OK, "{remote}/{path}: {}", r.describe());
            matches!(r.x_cache(), "HIT" | "REVALIDATED").then_some(r)
        })
        .await
    }

    /// A request carrying the admin token (when the server has one).
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match &self.admin_token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// An admin request with a JSON body.
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Fetched {
        let body = serde_json::to_vec(body).expect("serialise JSON");
        fetch(self.admin(method, path).header("content-type", "application/json").body(body)).await
    }

    /// POST `path` (a management collection) with `spec`; asserts 201 and returns the answer.
    pub async fn create(&self, path: &str, spec: Value) -> Value {
        let resp = self.send_json(Method::POST, path, &spec).await;
        assert_eq!(resp.status, StatusCode::CREATED, "POST {path} {spec}: {}", resp.describe());
        resp.json()
    }

    /// POST /api/v2/tokens with `grants` (`[(repository, access)]`); the created token's JSON
    /// (`id`, `token` the secret, ...).
    pub async fn token_info(&self, name: &str, grants: &[(&str, &str)]) -> Value {
        let scopes: Vec<Value> =
            grants.iter().map(|(r, a)| serde_json::json!({ "repository": r, "access": a })).collect();
        let v = self.create("/api/v2/tokens", serde_json::json!({ "name": name, "scopes": scopes })).await;
        assert!(v["token"].as_str().is_some_and(|t| t.starts_with("aat_")), "{v}");
        v
    }

    /// A token with `grants` (`[(repository, access)]`); its secret.
    pub async fn token(&self, name: &str, grants: &[(&str, &str)]) -> String {
        self.token_info(name, grants).await["token"].as_str().unwrap_or_default().to_string()
    }

    /// POST /api/v2/remotes; asserts 201 and returns the created spec.
    pub async fn create_remote(&self, spec: Value) -> Value {
        let resp = self.send_json(Method::POST, "/api/v2/remotes", &spec).await;
        assert_eq!(resp.status, StatusCode::CREATED, "create remote {spec}: {}", resp.describe());
        resp.json()
    }

    /// PUT /api/v2/remotes/{name}; asserts 200.
    pub async fn update_remote(&self, name: &str, spec: Value) -> Value {
        let resp = self.send_json(Method::PUT, &format!("/api/v2/remotes/{name}"), &spec).await;
        assert_eq!(resp.status, StatusCode::OK, "update remote {spec}: {}", resp.describe());
        resp.json()
    }

    /// POST /api/v2/gc; asserts 200 and returns the report.
    pub async fn gc(&self, dry_run: bool, grace_seconds: Option<u64>) -> Value {
        let mut body = serde_json::json!({ "dry_run": dry_run });
        if let Some(g) = grace_seconds {
            body["grace_seconds"] = g.into();
        }
        let resp = self.send_json(Method::POST, "/api/v2/gc", &body).await;
        assert_eq!(resp.status, StatusCode::OK, "gc: {}", resp.describe());
        resp.json()
    }

    /// The process's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn storage(&self) -> Storage {
        self.shared.storage
    }

    /// DATA_DIR (blobs live under `blobs/sha256/` there with the fs backend).
    pub fn data_dir(&self) -> &Path {
        self.shared.data_dir.path()
    }

    /// Where s3s-fs keeps this server's bucket, with the S3 backend (`None` on fs, and on
    /// Garage, whose objects are no files).
    pub fn bucket_dir(&self) -> Option<PathBuf> {
        self.shared.s3.as_ref().map(|(s3, bucket)| s3.root().join(bucket))
    }

    /// The staging files under `DATA_DIR/staging` of every process sharing it (each stages in a
    /// folder of its own; lock files are not staging files).
    pub fn staged_files(&self) -> Vec<PathBuf> {
        let Ok(folders) = std::fs::read_dir(self.data_dir().join("staging")) else { return Vec::new() };
        let folders = folders.flatten().filter(|e| e.path().is_dir());
        folders.flat_map(|f| std::fs::read_dir(f.path()).into_iter().flatten().flatten().map(|e| e.path())).collect()
    }

    /// Where the blob with this SHA-256 lies on disk: `DATA_DIR/blobs/sha256/{hash}` (fs), or
    /// the object `blobs/sha256/{hash}` in s3s-fs's directory for the bucket (s3). Panics on
    /// Garage, whose objects are no files.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        assert!(self.shared.garage.is_none(), "blobs on Garage are no files: test through the server");
        let root = self.bucket_dir().unwrap_or_else(|| self.data_dir().to_path_buf());
        root.join("blobs").join("sha256").join(sha256)
    }

    /// The Redis key prefix (`REDIS_NAMESPACE`) of this deployment, when it has Redis.
    pub fn redis_namespace(&self) -> Option<&crate::redis::Namespace> {
        self.shared.redis.as_ref()
    }

    pub fn database_name(&self) -> &str {
        &self.shared.db.name
    }

    /// Asks the process to stop (SIGTERM, as an orchestrator does) and waits up to 60 s for it to
    /// exit; past that it is killed. Returns its exit status.
    pub async fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        if sent.is_ok_and(|s| s.success()) {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Some(status);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.kill()
    }

    /// Stops the process now (SIGKILL) and returns its exit status.
    pub fn kill(&mut self) -> Option<std::process::ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() || std::env::var_os("E2E_SHOW_LOGS").is_some() {
            eprintln!(
                "----- artifactapi ({}, port {}) log tail -----\n{}\n----- end of log -----",
                self.label,
                self.port,
                self.log_tail(60)
            );
        }
    }
}

//! Configuration from the environment (and the equivalent command-line flags).
//!
//! Every variable of the original artifactapi keeps its name and default, so an existing
//! deployment's environment works unchanged; the variables this implementation adds are listed
//! in README.md. A bad value stops the process with exit status 2 and one line naming the
//! variable: operators read that line in a crash-looping pod's log, so it must say what to fix.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use artifactapi_actors::remote::tls::{CaCertificates, TlsError};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Parser, Subcommand, ValueEnum};

/// Where blobs live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageBackend {
    /// Files under DATA_DIR.
    Fs,
    /// An S3 bucket (MinIO, Ceph RGW, AWS, Garage).
    S3,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "artifactapi", version, about = "Caching proxy and artifact registry for package repositories")]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on (`:8000` means every interface).
    #[arg(long = "listen-addr", id = "LISTEN_ADDR", env = "LISTEN_ADDR", default_value = ":8000", value_parser = parse_listen)]
    pub listen_addr: SocketAddr,

    /// PEM certificate chain of the HTTPS listener (with `TLS_KEY`): `LISTEN_ADDR` serves HTTPS,
    /// or `TLS_LISTEN_ADDR` does when it is set.
    #[arg(long = "tls-cert", id = "TLS_CERT", env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `TLS_CERT` (PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long = "tls-key", id = "TLS_KEY", env = "TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Address of an HTTPS listener beside plain HTTP on `LISTEN_ADDR` (needs `TLS_CERT`).
    #[arg(long = "tls-listen-addr", id = "TLS_LISTEN_ADDR", env = "TLS_LISTEN_ADDR", value_parser = parse_listen)]
    pub tls_listen_addr: Option<SocketAddr>,
    /// The HTTPS listener's configuration, loaded from `TLS_CERT` and `TLS_KEY` by [`Config::load`].
    #[arg(skip)]
    pub listen_tls: Option<Arc<rustls::ServerConfig>>,

    /// Base URL clients reach this server at; every absolute URL the server writes uses it.
    /// Default: http(s)://localhost:{port of the HTTPS listener, else of LISTEN_ADDR}.
    #[arg(long = "public-url", id = "PUBLIC_URL", env = "PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<url::Url>,

    /// When set, every write needs `Authorization: Bearer TOKEN`.
    #[arg(long = "admin-token", id = "ADMIN_TOKEN", env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    #[arg(long = "dbhost", id = "DBHOST", env = "DBHOST", default_value = "localhost")]
    pub db_host: String,
    #[arg(long = "dbport", id = "DBPORT", env = "DBPORT", default_value_t = 5432)]
    pub db_port: u16,
    #[arg(long = "dbuser", id = "DBUSER", env = "DBUSER", default_value = "artifacts")]
    pub db_user: String,
    #[arg(long = "dbpass", id = "DBPASS", env = "DBPASS", default_value = "", hide_env_values = true)]
    pub db_pass: String,
    #[arg(long = "dbname", id = "DBNAME", env = "DBNAME", default_value = "artifacts")]
    pub db_name: String,
    /// Maximum PostgreSQL connections per process.
    #[arg(long = "db-pool-size", id = "DB_POOL_SIZE", env = "DB_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    /// Seconds to wait for a database connection before answering 503.
    #[arg(long = "db-timeout", id = "DB_TIMEOUT", env = "DB_TIMEOUT", default_value = "5", value_parser = parse_secs)]
    pub db_timeout: Duration,

    /// Redis URL for shared coordination between replicas; unset: in-process coordination.
    #[arg(long = "redis-url", id = "REDIS_URL", env = "REDIS_URL", value_parser = parse_redis_url)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel (several deployments may share one Redis).
    #[arg(long = "redis-namespace", id = "REDIS_NAMESPACE", env = "REDIS_NAMESPACE", default_value = "")]
    pub redis_namespace: String,

    /// `fs` (files under DATA_DIR) or `s3` (the MINIO_* bucket).
    #[arg(long = "storage-backend", id = "STORAGE_BACKEND", env = "STORAGE_BACKEND", value_enum, default_value = "fs")]
    pub storage_backend: StorageBackend,
    /// Blobs (fs backend) and staging files (both backends).
    #[arg(long = "data-dir", id = "DATA_DIR", env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    #[arg(long = "minio-endpoint", id = "MINIO_ENDPOINT", env = "MINIO_ENDPOINT", default_value = "localhost:9000")]
    pub minio_endpoint: String,
    #[arg(
        long = "minio-access-key",
        id = "MINIO_ACCESS_KEY",
        env = "MINIO_ACCESS_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub minio_access_key: String,
    #[arg(
        long = "minio-secret-key",
        id = "MINIO_SECRET_KEY",
        env = "MINIO_SECRET_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub minio_secret_key: String,
    #[arg(long = "minio-bucket", id = "MINIO_BUCKET", env = "MINIO_BUCKET", default_value = "artifacts")]
    pub minio_bucket: String,
    #[arg(long = "minio-secure", id = "MINIO_SECURE", env = "MINIO_SECURE", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub minio_secure: bool,
    #[arg(long = "minio-region", id = "MINIO_REGION", env = "MINIO_REGION", default_value = "")]
    pub minio_region: String,

    /// Seconds an upstream 404 is remembered.
    #[arg(long = "negative-ttl", id = "NEGATIVE_TTL", env = "NEGATIVE_TTL", default_value = "60", value_parser = parse_secs)]
    pub negative_ttl: Duration,
    /// Seconds to wait for an upstream TCP/TLS connection.
    #[arg(long = "upstream-connect-timeout", id = "UPSTREAM_CONNECT_TIMEOUT", env = "UPSTREAM_CONNECT_TIMEOUT", default_value = "10", value_parser = parse_secs)]
    pub upstream_connect_timeout: Duration,
    /// Seconds an upstream may stay silent (waiting for headers or between body chunks).
    #[arg(long = "upstream-read-timeout", id = "UPSTREAM_READ_TIMEOUT", env = "UPSTREAM_READ_TIMEOUT", default_value = "30", value_parser = parse_secs)]
    pub upstream_read_timeout: Duration,
    /// A PEM file of CA certificates every upstream's TLS may chain to, besides the operating
    /// system's store (a private CA, a TLS-inspecting gateway).
    #[arg(long = "upstream-ca-file", id = "UPSTREAM_CA_FILE", env = "UPSTREAM_CA_FILE", value_parser = parse_ca_file)]
    pub upstream_ca_file: Option<UpstreamCa>,
    /// Consecutive upstream failures that open a remote's circuit breaker.
    #[arg(long = "breaker-threshold", id = "BREAKER_THRESHOLD", env = "BREAKER_THRESHOLD", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub breaker_threshold: u32,
    /// Seconds an open breaker fails fast before it lets one probe through.
    #[arg(long = "breaker-open", id = "BREAKER_OPEN", env = "BREAKER_OPEN", default_value = "30", value_parser = parse_secs)]
    pub breaker_open: Duration,
    /// Seconds a blob must be unreferenced before GC may delete it.
    #[arg(long = "gc-grace", id = "GC_GRACE", env = "GC_GRACE", default_value = "3600", value_parser = parse_secs)]
    pub gc_grace: Duration,
    /// Seconds between scheduled garbage collections (one replica at a time); 0 turns them off.
    #[arg(long = "gc-interval", id = "GC_INTERVAL", env = "GC_INTERVAL", default_value = "3600", value_parser = parse_secs)]
    pub gc_interval: Duration,
    /// Let `POST /api/v2/probe` reach private, loopback and link-local addresses that are not a
    /// configured remote's host.
    #[arg(long = "probe-allow-private", id = "PROBE_ALLOW_PRIVATE", env = "PROBE_ALLOW_PRIVATE", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub probe_allow_private: bool,
    /// Reads of repositories (proxy, virtual, local, `/v2` pulls) are open to anyone; `false`:
    /// each needs a token with `read` on the repository (needs `ADMIN_TOKEN`).
    #[arg(long = "anonymous-reads", id = "ANONYMOUS_READS", env = "ANONYMOUS_READS", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub anonymous_reads: bool,
    /// Reads of the management API also need the admin token (`/api/v2/health/live` stays open).
    #[arg(long = "admin-token-reads", id = "ADMIN_TOKEN_READS", env = "ADMIN_TOKEN_READS", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub admin_token_reads: bool,
    /// Largest file uploaded to a local repository (generic files, npm tarballs, wheels, charts,
    /// module zips), in bytes; larger ones get 413 and nothing is stored.
    #[arg(long = "local-max-upload", id = "LOCAL_MAX_UPLOAD", env = "LOCAL_MAX_UPLOAD", default_value_t = 10 << 30)]
    pub local_max_upload: u64,
    /// Package indexes rendered (rewritten or merged) at the same time; each needs memory of
    /// about twice its document's size while it runs.
    #[arg(long = "render-concurrency", id = "RENDER_CONCURRENCY", env = "RENDER_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub render_concurrency: u64,
    /// Bytes of small blobs (up to 256 KiB each) kept in memory; 0 turns the memory cache off.
    #[arg(long = "memory-cache", id = "MEMORY_CACHE", env = "MEMORY_CACHE", default_value_t = 64 << 20)]
    pub memory_cache: usize,
    /// Largest JSON body the management API accepts, in bytes.
    #[arg(long = "max-json-body", id = "MAX_JSON_BODY", env = "MAX_JSON_BODY", default_value_t = 1 << 20)]
    pub max_json_body: usize,
    /// Seconds between heartbeat comments on the event stream (`/api/v2/events`).
    #[arg(long = "events-heartbeat", id = "EVENTS_HEARTBEAT", env = "EVENTS_HEARTBEAT", default_value = "15", value_parser = parse_positive_secs)]
    pub events_heartbeat: Duration,
    /// Seconds a client has to send a new connection's request head (request line and
    /// headers); a slower one gets 408 and is disconnected (slowloris).
    #[arg(long = "client-header-timeout", id = "CLIENT_HEADER_TIMEOUT", env = "CLIENT_HEADER_TIMEOUT", default_value = "5", value_parser = parse_positive_secs)]
    pub client_header_timeout: Duration,
    /// Seconds an idle keep-alive connection stays open waiting for its next request.
    #[arg(long = "client-idle-timeout", id = "CLIENT_IDLE_TIMEOUT", env = "CLIENT_IDLE_TIMEOUT", default_value = "5", value_parser = parse_positive_secs)]
    pub client_idle_timeout: Duration,
    /// HTTP worker threads (default: one per core).
    #[arg(long = "workers", id = "WORKERS", env = "WORKERS")]
    pub workers: Option<usize>,
    /// Days access-log rows are kept; 0 keeps them forever.
    #[arg(
        long = "access-log-retention",
        id = "ACCESS_LOG_RETENTION",
        env = "ACCESS_LOG_RETENTION",
        default_value_t = 14
    )]
    pub access_log_retention: u32,
    /// Seconds a docker blob upload may stay idle (no chunk, no status request) before it is
    /// purged with its stored parts.
    #[arg(long = "docker-upload-max-age", id = "DOCKER_UPLOAD_MAX_AGE", env = "DOCKER_UPLOAD_MAX_AGE", default_value = "86400", value_parser = parse_positive_secs)]
    pub docker_upload_max_age: Duration,
    /// Largest manifest a local docker repository accepts, in bytes (at least 4 MiB, the
    /// distribution spec's minimum); larger ones are refused with 413.
    #[arg(long = "docker-max-manifest", id = "DOCKER_MAX_MANIFEST", env = "DOCKER_MAX_MANIFEST", default_value_t = DEFAULT_DOCKER_MAX_MANIFEST, value_parser = parse_max_manifest)]
    pub docker_max_manifest: usize,
    /// An armored OpenPGP private key (v4; Ed25519 or RSA) that signs what artifactapi
    /// publishes (terraform providers' SHA256SUMS). Unset: the key in the catalog, generated
    /// on the first start and shared by every replica.
    #[arg(long = "tf-signing-key-path", id = "TF_SIGNING_KEY_PATH", env = "TF_SIGNING_KEY_PATH")]
    pub tf_signing_key_path: Option<PathBuf>,
    /// The passphrase of the key in TF_SIGNING_KEY_PATH, when it is encrypted.
    #[arg(
        long = "tf-signing-key-passphrase",
        id = "TF_SIGNING_KEY_PASSPHRASE",
        env = "TF_SIGNING_KEY_PASSPHRASE",
        hide_env_values = true
    )]
    pub tf_signing_key_passphrase: Option<String>,
    /// The terraform plugin protocol versions advertised for providers uploaded to local
    /// terraform repositories (comma-separated `MAJOR.MINOR`).
    #[arg(long = "tf-provider-protocols", id = "TF_PROVIDER_PROTOCOLS", env = "TF_PROVIDER_PROTOCOLS", default_value = "5.0,6.0", value_parser = parse_protocols)]
    pub tf_provider_protocols: ProviderProtocols,
    /// This replica's own base URL as the other replicas reach it (internal address). When set,
    /// clients of the other replicas stream a fill this replica leads while it runs, instead of
    /// waiting for it to be committed.
    #[arg(long = "replica-url", id = "REPLICA_URL", env = "REPLICA_URL", value_parser = parse_public_url)]
    pub replica_url: Option<url::Url>,
    /// Name of this replica in events and logs (default: the host name and process id).
    #[arg(long = "replica-id", id = "REPLICA_ID", env = "REPLICA_ID")]
    pub replica_id: Option<String>,
}

/// `TF_PROVIDER_PROTOCOLS`: terraform plugin protocol versions (`5.0`, `6.0`), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderProtocols(pub Vec<String>);

/// `UPSTREAM_CA_FILE`: where it is and what it holds (read and checked at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCa {
    pub path: PathBuf,
    pub certificates: CaCertificates,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Watch a running server in the terminal (see src/tui/).
    Tui(TuiArgs),
}

/// `artifactapi tui --endpoint URL [--token TOKEN]`.
#[derive(Debug, Clone, clap::Args)]
pub struct TuiArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "ARTIFACTAPI_ENDPOINT")]
    pub endpoint: url::Url,
    /// A token for the management API (`ADMIN_TOKEN` or a scoped token); evicting needs admin.
    #[arg(long, env = "ARTIFACTAPI_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl Config {
    /// Parses the command line and environment; on a bad value prints one line naming the
    /// variable and exits with status 2.
    pub fn load() -> Config {
        let parsed = Config::try_parse().map_err(one_line).and_then(|c| c.validate().map(|()| c));
        match parsed.and_then(Config::load_listen_tls) {
            Ok(c) => c,
            Err(ConfigError::Clap(e)) => e.exit(),
            Err(ConfigError::Line(line)) => {
                eprintln!("artifactapi: {line}");
                std::process::exit(2)
            }
        }
    }

    /// Cross-field checks clap cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.storage_backend == StorageBackend::S3 {
            for (name, v) in [
                ("MINIO_ACCESS_KEY", &self.minio_access_key),
                ("MINIO_SECRET_KEY", &self.minio_secret_key),
                ("MINIO_BUCKET", &self.minio_bucket),
                ("MINIO_ENDPOINT", &self.minio_endpoint),
            ] {
                if v.is_empty() {
                    return Err(ConfigError::Line(format!("{name} must be set when STORAGE_BACKEND=s3")));
                }
            }
        }
        if matches!(&self.admin_token, Some(t) if t.trim().is_empty()) {
            return Err(ConfigError::Line("invalid ADMIN_TOKEN: empty (unset it to leave writes open)".into()));
        }
        if self.admin_token_reads && self.admin_token.is_none() {
            return Err(ConfigError::Line("ADMIN_TOKEN_READS=true needs ADMIN_TOKEN to be set".into()));
        }
        if self.tf_signing_key_passphrase.is_some() && self.tf_signing_key_path.is_none() {
            return Err(ConfigError::Line(
                "TF_SIGNING_KEY_PASSPHRASE is set but TF_SIGNING_KEY_PATH is not (the passphrase is for that key)"
                    .into(),
            ));
        }
        if !self.anonymous_reads && self.admin_token.is_none() {
            return Err(ConfigError::Line("ANONYMOUS_READS=false needs ADMIN_TOKEN to be set".into()));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => return Err(ConfigError::Line("TLS_CERT needs TLS_KEY to be set".into())),
            (None, Some(_)) => return Err(ConfigError::Line("TLS_KEY needs TLS_CERT to be set".into())),
            (None, None) if self.tls_listen_addr.is_some() => {
                return Err(ConfigError::Line("TLS_LISTEN_ADDR needs TLS_CERT and TLS_KEY to be set".into()))
            }
            _ => {}
        }
        if self.tls_listen_addr == Some(self.listen_addr) {
            return Err(ConfigError::Line("TLS_LISTEN_ADDR must differ from LISTEN_ADDR".into()));
        }
        Ok(())
    }

    /// Reads `TLS_CERT` and `TLS_KEY` into [`Config::listen_tls`] (when they are set).
    pub fn load_listen_tls(mut self) -> Result<Config, ConfigError> {
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let loaded = crate::tls::load(cert, key).map_err(|e| ConfigError::Line(e.to_string()))?;
            self.listen_tls = Some(loaded);
        }
        Ok(self)
    }

    /// Where HTTPS is served, if anywhere: `TLS_LISTEN_ADDR`, else `LISTEN_ADDR` when TLS is on.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.tls_cert.as_ref().map(|_| self.tls_listen_addr.unwrap_or(self.listen_addr))
    }

    /// PUBLIC_URL, or http(s)://localhost:{port}, always ending without a slash.
    pub fn public_base(&self) -> String {
        match (&self.public_url, self.https_addr()) {
            (Some(u), _) => u.as_str().trim_end_matches('/').to_string(),
            (None, Some(https)) => format!("https://localhost:{}", https.port()),
            (None, None) => format!("http://localhost:{}", self.listen_addr.port()),
        }
    }

    pub fn replica(&self) -> String {
        self.replica_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            format!("{}-{}", host.trim(), std::process::id())
        })
    }
}

/// A configuration error: clap's own (help, version) or one line naming the variable.
#[derive(Debug)]
pub enum ConfigError {
    Clap(clap::Error),
    Line(String),
}

/// Turns clap's multi-line error into `invalid NAME="value": reason`.
fn one_line(e: clap::Error) -> ConfigError {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return ConfigError::Clap(e);
    }
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    // clap renders the arg as `--flag <NAME>`; the variable is NAME.
    let name = arg.rsplit_once('<').map(|(_, n)| n.trim_end_matches('>').to_string()).unwrap_or(arg);
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let rendered = e.render().to_string();
    let reason = rendered
        .lines()
        .next()
        .unwrap_or_default()
        .rsplit_once("': ")
        .map(|(_, r)| r.to_string())
        .or_else(|| match e.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(v)) => Some(format!("expected one of {}", v.join(", "))),
            _ => None,
        })
        .unwrap_or_else(|| rendered.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string());
    if name.is_empty() {
        ConfigError::Line(reason)
    } else {
        ConfigError::Line(format!("invalid {name}={value:?}: {reason}"))
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let full = if let Some(port) = s.strip_prefix(':') { format!("0.0.0.0:{port}") } else { s.to_string() };
    full.parse().map_err(|_| "expected HOST:PORT or :PORT".to_string())
}

fn parse_public_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| e.to_string())?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err("expected an absolute http(s) URL".into());
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(u)
}

fn parse_redis_url(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s).map_err(|e| e.to_string())?;
    if !matches!(u.scheme(), "redis" | "rediss") {
        return Err("expected redis://HOST:PORT[/DB]".into());
    }
    Ok(s.to_string())
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.trim().parse::<u64>().map(Duration::from_secs).map_err(|_| "expected a whole number of seconds".to_string())
}

fn parse_positive_secs(s: &str) -> Result<Duration, String> {
    match parse_secs(s)? {
        d if d.is_zero() => Err("expected at least 1 second".to_string()),
        d => Ok(d),
    }
}

/// The default largest manifest a local docker repository accepts (the spec asks for at
/// least 4 MiB).
pub const DEFAULT_DOCKER_MAX_MANIFEST: usize = 8 << 20;

fn parse_max_manifest(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 4 << 20 => Ok(n),
        Ok(_) => Err("expected at least 4194304 bytes (4 MiB)".into()),
        Err(_) => Err("expected a number of bytes".into()),
    }
}

fn parse_ca_file(s: &str) -> Result<UpstreamCa, String> {
    let path = PathBuf::from(s);
    let certificates = CaCertificates::from_file(&path).map_err(|e| match e {
        TlsError::Read { reason, .. } => format!("cannot read the file ({reason})"),
        other => other.to_string(),
    })?;
    Ok(UpstreamCa { path, certificates })
}

fn parse_protocols(s: &str) -> Result<ProviderProtocols, String> {
    let mut out = Vec::new();
    for p in s.split(',').map(str::trim) {
        let ok = p.split_once('.').is_some_and(|(major, minor)| {
            [major, minor].iter().all(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if !ok {
            return Err(format!("expected comma-separated MAJOR.MINOR versions such as 5.0,6.0; {p:?} is none"));
        }
        if !out.iter().any(|q| q == p) {
            out.push(p.to_string());
        }
    }
    Ok(ProviderProtocols(out))
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

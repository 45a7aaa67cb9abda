//! The catalog in PostgreSQL: a connection pool, the migrations, and the queries on top.
//!
//! [`Db`] is the one handle every part of the service shares (it clones cheaply). It is built so
//! that PostgreSQL going away never hangs a request and never needs a service restart: every
//! wait for a connection is bounded by `DB_TIMEOUT` (then [`DbError::Unavailable`], a 503), and
//! connections the server closed are dropped and replaced on the next checkout, so the pool
//! heals by itself once the server is back.
//!
//! Modules: [`migrate`] (schema, under an advisory lock), [`catalog`] (what the actors need,
//! [`catalog::PgCatalog`]), [`repos`] (remote configuration), [`objects`] (the cached-object
//! browser and eviction), [`stats`] and [`access_log`] (request statistics and the access log),
//! [`docker_local`] (local docker repositories), [`virtuals`] and [`locals`] (their
//! configuration), [`membership`] (what virtuals may list, enforced by the schema and decided
//! in one transaction per write), [`testing`] (throw-away databases for tests).

pub mod access_log;
pub mod catalog;
pub mod docker_local;
mod error;
pub mod local_files;
pub mod local_packages;
pub mod local_versions;
pub mod locals;
pub mod membership;
pub mod migrate;
pub mod objects;
pub mod renders;
pub mod repos;
mod specs;
pub mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tokens;
pub mod virtuals;

#[cfg(test)]
mod catalog_tests;
#[cfg(test)]
mod membership_tests;
#[cfg(test)]
mod observe_tests;
#[cfg(test)]
mod recovery_tests;

use std::fmt;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub use catalog::PgCatalog;
pub use error::DbError;
pub use membership::MembershipError;

use crate::config::Config;

/// How long [`Db::connect`] keeps trying while the server does not answer yet.
pub const CONNECT_RETRY: Duration = Duration::from_secs(30);

/// Where the catalog lives and how to talk to it (DBHOST, DBPORT, DBUSER, DBPASS, DBNAME,
/// DB_POOL_SIZE, DB_TIMEOUT).
#[derive(Clone, PartialEq, Eq)]
pub struct DbSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub dbname: String,
    /// Maximum connections in the pool.
    pub pool_size: usize,
    /// Longest wait for a connection (checkout, connect, health check) before `Unavailable`.
    pub timeout: Duration,
}

impl fmt::Debug for DbSettings {
    /// Like the derived form, without the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl From<&Config> for DbSettings {
    fn from(c: &Config) -> Self {
        DbSettings {
            host: c.db_host.clone(),
            port: c.db_port,
            user: c.db_user.clone(),
            password: c.db_pass.clone(),
            dbname: c.db_name.clone(),
            pool_size: c.db_pool_size as usize,
            timeout: c.db_timeout,
        }
    }
}

impl DbSettings {
    /// The settings as operators set them, for error messages.
    pub fn describe(&self) -> String {
        format!("DBHOST={} DBPORT={} DBNAME={} DBUSER={}", self.host, self.port, self.dbname, self.user)
    }

    fn pg_config(&self) -> tokio_postgres::Config {
        let mut pg = tokio_postgres::Config::new();
        pg.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("artifactapi")
            .connect_timeout(self.timeout)
            // Notice a dead peer (host gone, network cut) within about 30 s instead of waiting
            // on it for the kernel's default of over two hours.
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(15))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3);
        if !self.password.is_empty() {
            pg.password(&self.password);
        }
        pg
    }
}

/// The shared database handle: a bounded, self-healing connection pool.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    settings: std::sync::Arc<DbSettings>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db").field("settings", &self.settings).field("pool", &self.pool.status()).finish()
    }
}

impl Db {
    /// Builds the pool without connecting.
    pub fn new(settings: DbSettings) -> Result<Db, DbError> {
        let manager = Manager::from_config(
            settings.pg_config(),
            NoTls,
            // `Fast` drops connections the server closed (restart, failover) at checkout; a
            // connection that breaks while in use fails that one request with `Unavailable`.
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(settings.timeout))
            .recycle_timeout(Some(settings.timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Query(format!("building the connection pool: {e}")))?;
        Ok(Db { pool, settings: std::sync::Arc::new(settings) })
    }

    /// Builds the pool and waits for the server to answer, retrying for [`CONNECT_RETRY`] so a
    /// database that starts together with the service is not fatal.
    pub async fn connect(settings: DbSettings) -> Result<Db, DbError> {
        Db::connect_within(settings, CONNECT_RETRY).await
    }

    /// [`Db::connect`] with an explicit retry window. Errors that waiting cannot fix (wrong
    /// password, unknown database) fail at once; all errors name the settings to check.
    pub async fn connect_within(settings: DbSettings, retry_for: Duration) -> Result<Db, DbError> {
        let db = Db::new(settings)?;
        let start = Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            let err = match db.pool.get().await {
                Ok(client) => match client.simple_query("SELECT 1").await {
                    Ok(_) => return Ok(db),
                    Err(e) => DbError::from(e),
                },
                Err(deadpool_postgres::PoolError::Backend(e)) => DbError::from(e),
                Err(e) => DbError::from(e),
            };
            let waited = start.elapsed();
            if !err.is_unavailable() || waited + delay > retry_for {
                let settings = db.settings.describe();
                let cause = err_text(&err);
                return Err(if err.is_unavailable() {
                    DbError::Unavailable(format!(
                        "cannot reach PostgreSQL after {}s ({settings}; check these settings): {cause}",
                        waited.as_secs()
                    ))
                } else {
                    DbError::Query(format!("cannot use PostgreSQL ({settings}; check these settings): {cause}"))
                });
            }
            tracing::warn!(
                settings = %db.settings.describe(),
                error = %err_text(&err),
                "PostgreSQL not reachable yet, retrying in {}ms",
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Applies pending migrations (see [`migrate`]).
    pub async fn migrate(&self) -> Result<Vec<u32>, DbError> {
        migrate::run(self, migrate::MIGRATIONS).await
    }

    /// One round trip to the server; the time it took.
    pub async fn ping(&self) -> Result<Duration, DbError> {
        let start = Instant::now();
        let client = self.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok(start.elapsed())
    }

    /// A pooled connection, or `Unavailable` within the timeout.
    pub async fn client(&self) -> Result<Object, DbError> {
        Ok(self.pool.get().await?)
    }

    pub fn settings(&self) -> &DbSettings {
        &self.settings
    }

    /// Pool occupancy, for health reports and metrics.
    pub fn status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }
}

/// The message of an error without its kind prefix (the caller adds its own).
fn err_text(e: &DbError) -> String {
    match e {
        DbError::Unavailable(m) | DbError::Query(m) | DbError::Conflict(m) | DbError::NotFound(m) => m.clone(),
    }
}

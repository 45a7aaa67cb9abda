//! Throw-away databases for tests (this crate's and the HTTP and end-to-end tests).
//!
//! Tests run in parallel against the one PostgreSQL of the machine (127.0.0.1:5432, user
//! `postgres`, trust authentication), so each test creates its own database, named
//! `aa_test_<uuid>`, and drops it at the end. Call [`TestDatabase::drop`]; if a test panics
//! first, `Drop` still removes the database (on a helper thread, since it cannot await).
//! [`cluster::PrivateCluster`] is a server of the test's own, for tests that stop it.

pub mod cluster;

use std::time::Duration;

use tokio_postgres::NoTls;

use super::{Db, DbSettings};

/// The server test databases are created on.
pub const TEST_HOST: &str = "127.0.0.1";
pub const TEST_PORT: u16 = 5432;
pub const TEST_USER: &str = "postgres";

/// A uniquely named database that exists until [`TestDatabase::drop`].
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates an empty database with a unique name. Panics (this is test code) when the test
    /// server cannot be reached, saying where it looked.
    pub async fn create() -> TestDatabase {
        let name = format!("aa_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_client().await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {}", super::error::render(&e)));
        TestDatabase { name, dropped: false }
    }

    /// Creates a database, connects to it and applies the migrations.
    pub async fn migrated() -> (TestDatabase, Db) {
        let tdb = TestDatabase::create().await;
        let db = Db::new(tdb.settings()).expect("pool");
        db.migrate().await.unwrap_or_else(|e| panic!("migrating {}: {e}", tdb.name));
        (tdb, db)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Settings for this database: a small pool and a short timeout.
    pub fn settings(&self) -> DbSettings {
        DbSettings {
            host: TEST_HOST.into(),
            port: TEST_PORT,
            user: TEST_USER.into(),
            password: String::new(),
            dbname: self.name.clone(),
            pool_size: 4,
            timeout: Duration::from_secs(5),
        }
    }

    /// Drops the database, closing any connections still open to it.
    pub async fn drop(mut self) {
        drop_database(&self.name).await;
        self.dropped = true;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let name = self.name.clone();
        // Not awaited by the test (it panicked or forgot): drop it on a runtime of our own.
        let cleanup = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(drop_database(&name));
            }
        });
        let _ = cleanup.join();
    }
}

/// A connection to the `postgres` maintenance database of the test server.
pub async fn admin_client() -> tokio_postgres::Client {
    let mut pg = tokio_postgres::Config::new();
    pg.host(TEST_HOST).port(TEST_PORT).user(TEST_USER).dbname("postgres").connect_timeout(Duration::from_secs(5));
    let (client, conn) = pg.connect(NoTls).await.unwrap_or_else(|e| {
        panic!(
            "tests need PostgreSQL at {TEST_HOST}:{TEST_PORT} (user {TEST_USER}, trust auth): {}",
            super::error::render(&e)
        )
    });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

async fn drop_database(name: &str) {
    let admin = admin_client().await;
    if let Err(e) = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await {
        eprintln!("DROP DATABASE {name}: {}", super::error::render(&e));
    }
}

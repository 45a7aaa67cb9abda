//! A unique PostgreSQL database per test server, created on the shared PostgreSQL at
//! 127.0.0.1:5432 (as `postgres`, trust auth) and dropped when its owner goes away.
//!
//! Every server gets an empty database so tests can run in parallel and see only their own
//! catalog; the server applies its migrations itself at start. The connection can be changed
//! with `E2E_DBHOST`, `E2E_DBPORT`, `E2E_DBUSER` and `E2E_DBPASS`.

use tokio_postgres::NoTls;

/// Where the test databases live.
#[derive(Debug, Clone)]
pub struct DbServer {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

impl DbServer {
    /// 127.0.0.1:5432 as postgres, or what the `E2E_DB*` variables say.
    pub fn from_env() -> DbServer {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        DbServer {
            host: var("E2E_DBHOST", "127.0.0.1"),
            port: var("E2E_DBPORT", "5432").parse().expect("E2E_DBPORT must be a port number"),
            user: var("E2E_DBUSER", "postgres"),
            password: var("E2E_DBPASS", ""),
        }
    }

    fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host).port(self.port).user(&self.user).dbname(dbname);
        if !self.password.is_empty() {
            c.password(&self.password);
        }
        c.connect_timeout(std::time::Duration::from_secs(10));
        c
    }

    /// A connection to `dbname`; panics with the server address when PostgreSQL is unreachable.
    pub async fn connect(&self, dbname: &str) -> tokio_postgres::Client {
        let (client, conn) = self.config(dbname).connect(NoTls).await.unwrap_or_else(|e| {
            panic!("cannot connect to PostgreSQL at {}:{} as {} (db {dbname}): {e}", self.host, self.port, self.user)
        });
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }
}

/// A database that exists as long as this value does.
#[derive(Debug)]
pub struct Database {
    pub server: DbServer,
    pub name: String,
}

impl Database {
    /// Creates `aa_e2e_<uuid>`.
    pub async fn create() -> Database {
        let server = DbServer::from_env();
        let name = format!("aa_e2e_{}", uuid::Uuid::new_v4().simple());
        let admin = server.connect("postgres").await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        Database { server, name }
    }

    /// Whether a database of this name exists.
    pub async fn exists(server: &DbServer, name: &str) -> bool {
        let admin = server.connect("postgres").await;
        let row = admin
            .query_one("SELECT count(*) FROM pg_database WHERE datname = $1", &[&name])
            .await
            .expect("query pg_database");
        row.get::<_, i64>(0) == 1
    }

    /// The server's DB* environment for this database.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DBHOST".into(), self.server.host.clone()),
            ("DBPORT".into(), self.server.port.to_string()),
            ("DBUSER".into(), self.server.user.clone()),
            ("DBPASS".into(), self.server.password.clone()),
            ("DBNAME".into(), self.name.clone()),
        ]
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread
        // with its own runtime does the async work and is joined.
        let (server, name) = (self.server.clone(), self.name.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let (client, conn) = server.config("postgres").connect(NoTls).await.ok()?;
                tokio::spawn(conn);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.ok()
            })
        })
        .join();
        if !matches!(done, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

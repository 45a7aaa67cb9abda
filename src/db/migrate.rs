//! Schema migrations: numbered plain SQL files under `migrations/`, compiled into the binary and
//! applied at start.
//!
//! Several replicas may start at the same moment against one database, so the whole run holds a
//! session-level `pg_advisory_lock` on one connection: the first replica applies what is
//! missing, the others wait and then find nothing left to do. Each migration runs in its own
//! transaction together with its `schema_migrations` row, so a failed migration leaves no trace
//! and the error names its file.

use std::collections::HashMap;

use deadpool_postgres::Object;
use sha2::{Digest as _, Sha256};

use super::{Db, DbError};

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    /// File name under `migrations/`.
    pub file: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. A new file must be added here (a test checks the directory).
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, file: "0001_init.sql", sql: include_str!("../../migrations/0001_init.sql") },
    Migration { version: 2, file: "0002_stats.sql", sql: include_str!("../../migrations/0002_stats.sql") },
    Migration {
        version: 3,
        file: "0003_docker_local.sql",
        sql: include_str!("../../migrations/0003_docker_local.sql"),
    },
    Migration {
        version: 4,
        file: "0004_virtual_members.sql",
        sql: include_str!("../../migrations/0004_virtual_members.sql"),
    },
    Migration {
        version: 5,
        file: "0005_rendered_documents.sql",
        sql: include_str!("../../migrations/0005_rendered_documents.sql"),
    },
    Migration { version: 6, file: "0006_tokens.sql", sql: include_str!("../../migrations/0006_tokens.sql") },
    Migration {
        version: 7,
        file: "0007_local_packages.sql",
        sql: include_str!("../../migrations/0007_local_packages.sql"),
    },
    Migration {
        version: 8,
        file: "0008_digest_aliases.sql",
        sql: include_str!("../../migrations/0008_digest_aliases.sql"),
    },
];

/// The advisory lock key of migration runs ("aa-migra" in ASCII).
const LOCK_KEY: i64 = 7016939642363015777;

/// Applies the migrations not yet recorded in `schema_migrations`; returns their versions.
pub async fn run(db: &Db, migrations: &[Migration]) -> Result<Vec<u32>, DbError> {
    let mut client = db.client().await?;
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY]).await?;
    let result = apply(&mut client, migrations).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]).await;
    if result.is_err() || unlocked.is_err() {
        // Never hand a connection that may still hold the lock back to the pool: closing it
        // releases every session lock.
        drop(Object::take(client));
    }
    result
}

async fn apply(client: &mut Object, migrations: &[Migration]) -> Result<Vec<u32>, DbError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                file       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let applied: HashMap<i32, String> = client
        .query("SELECT version, checksum FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.try_get::<_, i32>(0).and_then(|v| Ok((v, r.try_get::<_, String>(1)?))))
        .collect::<Result<_, _>>()?;
    let known = migrations.iter().map(|m| m.version as i32).max().unwrap_or(0);
    if let Some(newer) = applied.keys().filter(|v| **v > known).max() {
        tracing::warn!("the database has schema version {newer}, newer than this binary knows ({known})");
    }

    let mut done = Vec::new();
    for m in migrations {
        let version = m.version as i32;
        let checksum = hex::encode(Sha256::digest(m.sql.as_bytes()));
        if let Some(recorded) = applied.get(&version) {
            if *recorded != checksum {
                tracing::warn!(file = m.file, "migration changed after it was applied; the change is not applied");
            }
            continue;
        }
        let in_file = |e: DbError| named(m.file, e);
        let tx = client.transaction().await.map_err(|e| in_file(e.into()))?;
        tx.batch_execute(m.sql).await.map_err(|e| in_file(e.into()))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, file, checksum) VALUES ($1, $2, $3)",
            &[&version, &m.file, &checksum],
        )
        .await
        .map_err(|e| in_file(e.into()))?;
        tx.commit().await.map_err(|e| in_file(e.into()))?;
        tracing::info!(file = m.file, "applied migration");
        done.push(m.version);
    }
    Ok(done)
}

/// The same error, its message prefixed with the migration file.
fn named(file: &str, e: DbError) -> DbError {
    let prefix = |m: String| format!("migrations/{file}: {m}");
    match e {
        DbError::Unavailable(m) => DbError::Unavailable(prefix(m)),
        DbError::Query(m) => DbError::Query(prefix(m)),
        DbError::Conflict(m) => DbError::Query(prefix(m)),
        DbError::NotFound(m) => DbError::Query(prefix(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::TestDatabase;

    #[test]
    fn every_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.file).collect();
        assert_eq!(files, listed);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
            assert!(m.file.starts_with(&format!("{:04}_", m.version)), "{}", m.file);
        }
    }

    #[tokio::test]
    async fn concurrent_migrators_apply_each_migration_once() {
        let tdb = TestDatabase::create().await;
        // Four replicas starting together: separate pools, same database.
        let dbs: Vec<Db> = (0..4).map(|_| Db::new(tdb.settings()).unwrap()).collect();
        let runs = futures_util::future::join_all(dbs.iter().map(|db| db.migrate())).await;
        let mut applied = Vec::new();
        for r in runs {
            applied.extend(r.expect("every migrator succeeds"));
        }
        let all: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(applied, all, "each migration applied by exactly one migrator");
        let client = dbs[0].client().await.unwrap();
        let rows = client.query("SELECT version FROM schema_migrations ORDER BY version", &[]).await.unwrap();
        let recorded: Vec<u32> = rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect();
        assert_eq!(recorded, all);
        // The lock was released: a later run takes it and finds nothing to do.
        assert_eq!(dbs[1].migrate().await.unwrap(), Vec::<u32>::new());
        drop(client);
        drop(dbs);
        tdb.drop().await;
    }

    #[tokio::test]
    async fn a_failing_migration_names_its_file_and_leaves_no_trace() {
        let tdb = TestDatabase::create().await;
        let db = Db::new(tdb.settings()).unwrap();
        let bad = [
            Migration { version: 1, file: "0001_ok.sql", sql: "CREATE TABLE t1 (x int)" },
            Migration {
                version: 2,
                file: "0002_bad.sql",
                sql: "CREATE TABLE t2 (x int); SELECT nonsense FROM nowhere",
            },
        ];
        let err = run(&db, &bad).await.unwrap_err();
        assert!(matches!(&err, DbError::Query(m) if m.starts_with("migrations/0002_bad.sql: ")), "{err}");
        let client = db.client().await.unwrap();
        let versions: Vec<i32> = client
            .query("SELECT version FROM schema_migrations", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, vec![1]);
        let t2 = client.query_one("SELECT to_regclass('t2') IS NULL", &[]).await.unwrap();
        assert!(t2.get::<_, bool>(0), "the failed migration's table was rolled back");
        // The lock was not left behind on a pooled connection (the closed one's backend may
        // take a moment to exit).
        let held = "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                    WHERE l.locktype = 'advisory' AND d.datname = current_database()";
        let mut left = 1;
        for _ in 0..50 {
            left = client.query_one(held, &[]).await.unwrap().get::<_, i64>(0);
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(left, 0, "advisory lock still held");
        drop(client);
        drop(db);
        tdb.drop().await;
    }
}

//! Published versions and tags of local repositories (`local_packages`, `local_tags`), and the
//! generation of each local.
//!
//! Every write to a local (a file, a version, a tag) bumps its generation in the same
//! transaction, so "the state of this local" has a name: documents generated from it (an npm
//! packument, a simple page, an `index.yaml`, an `@v/list`) are rendered once per generation
//! and form. Publishing a version records its metadata and its files in one transaction: a
//! version is visible with all its files or not at all, and of two concurrent publishes of one
//! version exactly one wins (the other gets `Conflict`). An unpublished version keeps its row,
//! so it can never be published again.

use tokio_postgres::types::Json;
use tokio_postgres::Transaction;

use super::local_files::{insert_file, LocalFile, OnTaken};
use super::{Db, DbError};
pub use crate::formats::{LocalPackages, LocalTag, LocalVersion};

/// Bumps the generation of local `repo` (inside a write's transaction).
pub async fn bump(tx: &Transaction<'_>, repo: &str) -> Result<(), DbError> {
    tx.execute("UPDATE locals SET generation = generation + 1 WHERE name = $1", &[&repo]).await?;
    Ok(())
}

fn version(row: &tokio_postgres::Row) -> Result<LocalVersion, DbError> {
    let Json(metadata): Json<serde_json::Value> = row.try_get("metadata")?;
    let state: String = row.try_get("state")?;
    Ok(LocalVersion {
        package: row.try_get("package")?,
        version: row.try_get("version")?,
        metadata,
        published: state == "published",
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Db {
    /// The generation of local `repo` (0 for one that does not exist).
    pub async fn local_generation(&self, repo: &str) -> Result<i64, DbError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached("SELECT generation FROM locals WHERE name = $1").await?;
        Ok(client.query_opt(&stmt, &[&repo]).await?.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
    }

    /// Whether local `repo` has (or had: unpublished versions count) a version of `package`.
    pub async fn local_has_package(&self, repo: &str, package: &str) -> Result<bool, DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM local_packages WHERE repo = $1 AND package = $2)")
            .await?;
        Ok(client.query_one(&stmt, &[&repo, &package]).await?.try_get(0)?)
    }

    /// The versions and tags of `package` in local `repo` (every package: `None`), versions in
    /// the order they were published.
    pub async fn local_packages(&self, repo: &str, package: Option<&str>) -> Result<LocalPackages, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT package, version, metadata, state, created_at, updated_at FROM local_packages \
                 WHERE repo = $1 AND ($2::text IS NULL OR package = $2) ORDER BY package COLLATE \"C\", created_at, version",
                &[&repo, &package],
            )
            .await?;
        let versions = rows.iter().map(version).collect::<Result<Vec<_>, _>>()?;
        let rows = client
            .query(
                "SELECT package, tag, version FROM local_tags WHERE repo = $1 AND ($2::text IS NULL OR package = $2) \
                 ORDER BY package COLLATE \"C\", tag COLLATE \"C\"",
                &[&repo, &package],
            )
            .await?;
        let tags = rows
            .iter()
            .map(|r| Ok(LocalTag { package: r.try_get(0)?, tag: r.try_get(1)?, version: r.try_get(2)? }))
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(LocalPackages { versions, tags })
    }

    /// Publishes `version` of `package` with its metadata, its files and tags, in one
    /// transaction. `Conflict` when that version was ever published (or unpublished), or when a
    /// file's path is taken.
    pub async fn publish_local_version(
        &self,
        repo: &str,
        v: &LocalVersion,
        files: &[LocalFile],
        tags: &[LocalTag],
    ) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "INSERT INTO local_packages (repo, package, version, metadata) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repo, package, version) DO NOTHING",
                &[&repo, &v.package, &v.version, &Json(&v.metadata)],
            )
            .await?;
        if n == 0 {
            return Err(DbError::Conflict(format!("{}@{} was published before in {repo:?}", v.package, v.version)));
        }
        for f in files {
            if !insert_file(&tx, repo, f, OnTaken::Keep).await? {
                return Err(DbError::Conflict(format!("{:?} exists in {repo:?}", f.path)));
            }
        }
        for t in tags {
            set_tag(&tx, repo, t).await?;
        }
        bump(&tx, repo).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the metadata of a published version (npm deprecate, a PyPI yank).
    pub async fn update_local_metadata(
        &self,
        repo: &str,
        package: &str,
        version: &str,
        metadata: &serde_json::Value,
    ) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE local_packages SET metadata = $4, updated_at = now() \
                 WHERE repo = $1 AND package = $2 AND version = $3 AND state = 'published'",
                &[&repo, &package, &version, &Json(metadata)],
            )
            .await?;
        if n == 0 {
            return Err(DbError::NotFound(format!("{package}@{version} is not published in {repo:?}")));
        }
        bump(&tx, repo).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unpublishes a version: its files go, its row stays (so the version cannot come back),
    /// tags pointing at it go.
    pub async fn unpublish_local_version(
        &self,
        repo: &str,
        package: &str,
        version: &str,
        files: &[String],
    ) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE local_packages SET state = 'unpublished', updated_at = now() \
                 WHERE repo = $1 AND package = $2 AND version = $3 AND state = 'published'",
                &[&repo, &package, &version],
            )
            .await?;
        if n == 0 {
            return Err(DbError::NotFound(format!("{package}@{version} is not published in {repo:?}")));
        }
        tx.execute("DELETE FROM local_files WHERE repo = $1 AND path = ANY($2)", &[&repo, &files]).await?;
        tx.execute(
            "DELETE FROM local_tags WHERE repo = $1 AND package = $2 AND version = $3",
            &[&repo, &package, &version],
        )
        .await?;
        bump(&tx, repo).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Points tag `t.tag` of `t.package` at `t.version`.
    pub async fn set_local_tag(&self, repo: &str, t: &LocalTag) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        set_tag(&tx, repo, t).await?;
        bump(&tx, repo).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a tag; whether it existed.
    pub async fn delete_local_tag(&self, repo: &str, package: &str, tag: &str) -> Result<bool, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute("DELETE FROM local_tags WHERE repo = $1 AND package = $2 AND tag = $3", &[&repo, &package, &tag])
            .await?;
        bump(&tx, repo).await?;
        tx.commit().await?;
        Ok(n > 0)
    }
}

async fn set_tag(tx: &Transaction<'_>, repo: &str, t: &LocalTag) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO local_tags (repo, package, tag, version) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (repo, package, tag) DO UPDATE SET version = EXCLUDED.version, updated_at = now()",
        &[&repo, &t.package, &t.tag, &t.version],
    )
    .await?;
    Ok(())
}

//! Blob links: which repository may serve which blob of the shared store.
//!
//! A link is created when an upload into the repository finishes or a blob is mounted from
//! another repository, and removed by `DELETE /v2/.../blobs/{digest}`. It refers to the
//! `blobs` row (so GC deleting the blob deletes the link with it, and a link can only be made
//! to a blob that exists).

use artifactapi_actors::Digest;

use super::{to_i64, to_u64, Repository};
use crate::db::{Db, DbError};

impl Db {
    /// Records `alias` (a `sha512:` digest) as another name of blob `digest` (which must have a
    /// `blobs` row).
    pub async fn put_digest_alias(&self, alias: &str, digest: &Digest) -> Result<(), DbError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO digest_aliases (alias, digest) VALUES ($1, $2)                  ON CONFLICT (alias) DO UPDATE SET digest = EXCLUDED.digest",
                &[&alias, &digest.to_string()],
            )
            .await?;
        Ok(())
    }

    /// The blob `alias` names, if it was recorded.
    pub async fn digest_alias(&self, alias: &str) -> Result<Option<Digest>, DbError> {
        let client = self.client().await?;
        let row = client.query_opt("SELECT digest FROM digest_aliases WHERE alias = $1", &[&alias]).await?;
        row.map(|r| super::digest_of(&r, "digest")).transpose()
    }

    /// The size of blob `digest` if `repo` links it.
    pub async fn docker_blob(&self, repo: &Repository, digest: &Digest) -> Result<Option<u64>, DbError> {
        let client = self.client().await?;
        let stmt =
            client.prepare_cached("SELECT size FROM oci_blobs WHERE local = $1 AND image = $2 AND digest = $3").await?;
        let row = client.query_opt(&stmt, &[&repo.local, &repo.image, &digest.to_string()]).await?;
        row.map(|r| to_u64("size", r.try_get(0)?)).transpose()
    }

    /// Links blob `digest` (which must have a `blobs` row) to `repo`.
    pub async fn docker_link_blob(&self, repo: &Repository, digest: &Digest, size: u64) -> Result<(), DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO oci_blobs (local, image, digest, size) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (local, image, digest) DO NOTHING",
            )
            .await?;
        client.execute(&stmt, &[&repo.local, &repo.image, &digest.to_string(), &to_i64("size", size)?]).await?;
        Ok(())
    }

    /// Links to `repo` a blob that `from` links (a cross-repository mount), marking the blob
    /// as just used so GC leaves it for the grace period; its size, or `None` when `from` does
    /// not link it.
    pub async fn docker_mount_blob(
        &self,
        repo: &Repository,
        from: &Repository,
        digest: &Digest,
    ) -> Result<Option<u64>, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let text = digest.to_string();
        // The blob row first: locked until commit, so GC cannot delete it (and the link) meanwhile.
        let row = tx
            .query_opt(
                "UPDATE blobs SET last_seen = now() WHERE digest = $1 AND EXISTS \
                     (SELECT 1 FROM oci_blobs WHERE local = $2 AND image = $3 AND digest = $1) \
                 RETURNING size",
                &[&text, &from.local, &from.image],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let size: i64 = row.try_get(0)?;
        tx.execute(
            "INSERT INTO oci_blobs (local, image, digest, size) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (local, image, digest) DO NOTHING",
            &[&repo.local, &repo.image, &text, &size],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(to_u64("size", size)?))
    }

    /// Removes the link of `digest` from `repo`; whether there was one. The bytes stay in the
    /// store while anything else references them.
    pub async fn docker_unlink_blob(&self, repo: &Repository, digest: &Digest) -> Result<bool, DbError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM oci_blobs WHERE local = $1 AND image = $2 AND digest = $3",
                &[&repo.local, &repo.image, &digest.to_string()],
            )
            .await?;
        Ok(n > 0)
    }

    /// Whether `repo` has anything: a manifest or a blob.
    pub async fn docker_repo_exists(&self, repo: &Repository) -> Result<bool, DbError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM oci_manifests WHERE local = $1 AND image = $2) \
                     OR EXISTS (SELECT 1 FROM oci_blobs WHERE local = $1 AND image = $2)",
                &[&repo.local, &repo.image],
            )
            .await?;
        Ok(row.try_get(0)?)
    }
}

//! The repositories of local docker repositories, for `/v2/_catalog`.
//!
//! A registry repository (`{local}/{image}`) exists while it has at least one manifest: blobs
//! alone (an upload that was never followed by a manifest push) make no repository, as in the
//! reference registry. Names are listed in byte order (`COLLATE "C"`), after `last`.

use super::to_i64;
use crate::db::{Db, DbError};

impl Db {
    /// Up to `limit` registry names (`local/image`) of the locals `locals`, after `last`.
    pub async fn docker_repositories(
        &self,
        locals: &[String],
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT DISTINCT local || '/' || image COLLATE \"C\" AS name FROM oci_manifests \
                 WHERE local = ANY($1) \
                   AND ($2::text IS NULL OR (local || '/' || image) COLLATE \"C\" > $2::text COLLATE \"C\") \
                 ORDER BY name LIMIT $3",
                &[&locals, &last, &to_i64("limit", limit as u64)?],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

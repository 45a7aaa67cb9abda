//! The catalog of local docker repositories (tables of `migrations/0003_docker_local.sql`).
//!
//! A repository is a (local, image) pair ([`Repository`]). Bytes are blobs of the shared
//! content-addressable store; these queries record which repository links which blob
//! ([`blobs`]), the uploads in progress and their parts ([`uploads`]), and manifests, what they
//! reference, tags and referrers ([`manifests`]). What GC may delete follows from these rows
//! (see `REFERENCED` in [`super::catalog`]): a manifest keeps its own bytes and everything it
//! references; a link alone does not keep a blob past the grace period.
//!
//! Digests are stored in their OCI text form, `sha256:<hex>`, like the `blobs` table.

pub mod blobs;
pub mod manifests;
pub mod repos;
pub mod uploads;

#[cfg(test)]
mod tests;

use artifactapi_actors::Digest;
use tokio_postgres::Row;

use super::DbError;
pub use crate::docker_local::Repository;

fn to_i64(what: &str, v: u64) -> Result<i64, DbError> {
    i64::try_from(v).map_err(|_| DbError::Query(format!("{what} {v} out of range")))
}

fn to_u64(what: &str, v: i64) -> Result<u64, DbError> {
    u64::try_from(v).map_err(|_| DbError::Query(format!("negative {what} {v} in the catalog")))
}

fn digest_of(row: &Row, column: &str) -> Result<Digest, DbError> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e| DbError::Query(format!("{column} {text:?} in the catalog: {e}")))
}

fn digest_texts(digests: &[Digest]) -> Vec<String> {
    digests.iter().map(|d| d.to_string()).collect()
}

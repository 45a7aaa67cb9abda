//! Manifests, their references, tags and referrers.
//!
//! A manifest is stored in one transaction with everything it says: the references are
//! checked against the repository (blobs it links, manifests it has) while the referenced
//! blob rows are locked and marked as just used, so GC cannot delete a blob between the check
//! and the commit; then the manifest row, its reference rows and the tag are written. Manifests
//! are immutable: pushing the same digest again changes nothing but the tag.

use std::collections::{BTreeMap, HashMap};

use artifactapi_actors::Digest;
use tokio_postgres::types::Json;
use tokio_postgres::Row;

use super::{digest_of, digest_texts, to_i64, to_u64, Repository};
use crate::db::{Db, DbError};

/// A manifest as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub subject: Option<Digest>,
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// How a manifest is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestRef<'a> {
    Tag(&'a str),
    Digest(&'a Digest),
}

/// What a manifest to store references, with the sizes it claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    pub blobs: Vec<(Digest, u64)>,
    pub manifests: Vec<(Digest, u64)>,
}

/// Why [`Db::docker_put_manifest`] stored nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutRefused {
    /// A referenced blob or manifest is not in the repository.
    Unknown { digest: Digest, what: &'static str },
    /// A reference claims another size than the repository has.
    Size { digest: Digest, claimed: u64, actual: u64 },
    /// The manifest's own bytes are gone from the store's catalog (GC ran with no grace).
    Bytes(Digest),
}

const COLUMNS: &str = "m.digest, m.media_type, m.size, m.subject, m.artifact_type, m.annotations";

fn manifest_from_row(row: &Row) -> Result<ManifestRow, DbError> {
    let subject: Option<String> = row.try_get("subject")?;
    let annotations: Option<Json<BTreeMap<String, String>>> = row.try_get("annotations")?;
    Ok(ManifestRow {
        digest: digest_of(row, "digest")?,
        media_type: row.try_get("media_type")?,
        size: to_u64("size", row.try_get("size")?)?,
        subject: subject
            .map(|s| s.parse().map_err(|e| DbError::Query(format!("subject {s:?} in the catalog: {e}"))))
            .transpose()?,
        artifact_type: row.try_get("artifact_type")?,
        annotations: annotations.map(|j| j.0),
    })
}

/// Checks claimed sizes against what the repository has; the first missing or different one.
fn check_refs(claimed: &[(Digest, u64)], found: &HashMap<String, i64>, what: &'static str) -> Result<(), PutRefused> {
    for (digest, size) in claimed {
        match found.get(&digest.to_string()) {
            None => return Err(PutRefused::Unknown { digest: *digest, what }),
            Some(actual) if *actual != *size as i64 => {
                return Err(PutRefused::Size { digest: *digest, claimed: *size, actual: (*actual).max(0) as u64 })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

impl Db {
    /// Stores manifest `m` of `repo` (its bytes already committed as blob `m.digest`) with its
    /// references, and points `tag` at it.
    pub async fn docker_put_manifest(
        &self,
        repo: &Repository,
        m: &ManifestRow,
        refs: &References,
        tag: Option<&str>,
    ) -> Result<Result<(), PutRefused>, DbError> {
        let (local, image, digest) = (&repo.local, &repo.image, m.digest.to_string());
        let blob_digests: Vec<Digest> = refs.blobs.iter().map(|(d, _)| *d).collect();
        let manifest_digests: Vec<Digest> = refs.manifests.iter().map(|(d, _)| *d).collect();
        let mut locked = digest_texts(&blob_digests);
        locked.push(digest.clone());
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Lock and mark the blob rows first (in a fixed order, against deadlocks between pushes).
        let rows = tx
            .query(
                "UPDATE blobs SET last_seen = now() WHERE digest IN \
                     (SELECT digest FROM blobs WHERE digest = ANY($1) ORDER BY digest FOR UPDATE) \
                 RETURNING digest",
                &[&locked],
            )
            .await?;
        if !rows.iter().any(|r| r.get::<_, String>(0) == digest) {
            return Ok(Err(PutRefused::Bytes(m.digest)));
        }
        let linked: HashMap<String, i64> = tx
            .query(
                "SELECT l.digest, l.size FROM oci_blobs l JOIN blobs b ON b.digest = l.digest \
                 WHERE l.local = $1 AND l.image = $2 AND l.digest = ANY($3)",
                &[local, image, &digest_texts(&blob_digests)],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let children: HashMap<String, i64> = tx
            .query(
                "SELECT digest, size FROM oci_manifests WHERE local = $1 AND image = $2 AND digest = ANY($3)",
                &[local, image, &digest_texts(&manifest_digests)],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        if let Err(refused) =
            check_refs(&refs.blobs, &linked, "blob").and_then(|()| check_refs(&refs.manifests, &children, "manifest"))
        {
            return Ok(Err(refused));
        }
        tx.execute(
            "INSERT INTO oci_manifests (local, image, digest, media_type, size, subject, artifact_type, annotations) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (local, image, digest) DO NOTHING",
            &[
                local,
                image,
                &digest,
                &m.media_type,
                &to_i64("size", m.size)?,
                &m.subject.map(|d| d.to_string()),
                &m.artifact_type,
                &m.annotations.as_ref().map(Json),
            ],
        )
        .await?;
        let mut referenced = blob_digests;
        referenced.extend(manifest_digests);
        tx.execute(
            "INSERT INTO oci_manifest_refs (local, image, manifest, digest) \
             SELECT $1, $2, $3, d FROM unnest($4::text[]) AS d ON CONFLICT DO NOTHING",
            &[local, image, &digest, &digest_texts(&referenced)],
        )
        .await?;
        if let Some(tag) = tag {
            tx.execute(
                "INSERT INTO oci_tags (local, image, tag, digest) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (local, image, tag) DO UPDATE SET digest = EXCLUDED.digest, updated_at = now()",
                &[local, image, &tag, &digest],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The manifest `reference` names in `repo`.
    pub async fn docker_manifest(
        &self,
        repo: &Repository,
        reference: ManifestRef<'_>,
    ) -> Result<Option<ManifestRow>, DbError> {
        let client = self.client().await?;
        let row = match reference {
            ManifestRef::Digest(d) => {
                let sql =
                    format!("SELECT {COLUMNS} FROM oci_manifests m WHERE local = $1 AND image = $2 AND digest = $3");
                client.query_opt(&sql, &[&repo.local, &repo.image, &d.to_string()]).await?
            }
            ManifestRef::Tag(tag) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM oci_tags t JOIN oci_manifests m \
                         ON m.local = t.local AND m.image = t.image AND m.digest = t.digest \
                     WHERE t.local = $1 AND t.image = $2 AND t.tag = $3"
                );
                client.query_opt(&sql, &[&repo.local, &repo.image, &tag]).await?
            }
        };
        row.as_ref().map(manifest_from_row).transpose()
    }

    /// Deletes manifest `digest` of `repo` with its tags and references; whether it existed.
    pub async fn docker_delete_manifest(&self, repo: &Repository, digest: &Digest) -> Result<bool, DbError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM oci_manifests WHERE local = $1 AND image = $2 AND digest = $3",
                &[&repo.local, &repo.image, &digest.to_string()],
            )
            .await?;
        Ok(n > 0)
    }

    /// Deletes tag `tag` of `repo` (the manifest stays); whether it existed.
    pub async fn docker_delete_tag(&self, repo: &Repository, tag: &str) -> Result<bool, DbError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM oci_tags WHERE local = $1 AND image = $2 AND tag = $3",
                &[&repo.local, &repo.image, &tag],
            )
            .await?;
        Ok(n > 0)
    }

    /// Up to `limit` (image, tag, digest) rows of local `local`, by image then tag: what the
    /// dashboard lists.
    pub async fn docker_local_tags(&self, local: &str, limit: usize) -> Result<Vec<(String, String, String)>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT image, tag, digest FROM oci_tags WHERE local = $1 \
                 ORDER BY image COLLATE \"C\", tag COLLATE \"C\" LIMIT $2",
                &[&local, &to_i64("limit", limit as u64)?],
            )
            .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
    }

    /// Up to `limit` tags of `repo` after `last`, in byte order.
    pub async fn docker_tags(
        &self,
        repo: &Repository,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tag FROM oci_tags WHERE local = $1 AND image = $2 \
                     AND ($3::text IS NULL OR tag COLLATE \"C\" > $3::text COLLATE \"C\") \
                 ORDER BY tag COLLATE \"C\" LIMIT $4",
                &[&repo.local, &repo.image, &last, &to_i64("limit", limit as u64)?],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The manifests of `repo` whose subject is `subject`, optionally only those of one
    /// artifact type, oldest first.
    pub async fn docker_referrers(
        &self,
        repo: &Repository,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ManifestRow>, DbError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM oci_manifests m WHERE local = $1 AND image = $2 AND subject = $3 \
                 AND ($4::text IS NULL OR artifact_type = $4) ORDER BY created_at, digest"
        );
        let rows = client.query(&sql, &[&repo.local, &repo.image, &subject.to_string(), &artifact_type]).await?;
        rows.iter().map(manifest_from_row).collect()
    }
}

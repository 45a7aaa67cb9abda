//! Versions of local packages that change after they are first published: a terraform
//! provider version gains (or loses) a platform, and its record and signed `SHA256SUMS` change
//! with it.
//!
//! The change is a compare-and-set: the caller read the version's record, built the next one
//! (and stored the files it names) without holding anything, and [`Db::replace_local_version`]
//! writes it only if the record is still the one it read, with the new files, in one
//! transaction that bumps the local's generation. If another writer got there first the answer
//! is [`Replaced::Stale`] and the caller starts again from the new record; nothing is locked
//! while the caller signs or stores, and no change is ever lost.

use serde_json::Value;
use tokio_postgres::types::Json;

use super::local_files::{insert_file, LocalFile, OnTaken};
use super::local_packages::bump;
use super::{Db, DbError};

/// What [`Db::replace_local_version`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    Done,
    /// The version's record is no longer the one the caller read: nothing was written.
    Stale,
    /// A file that must be new exists already: nothing was written.
    FileTaken(String),
}

/// One version's change.
pub struct VersionChange<'a> {
    pub package: &'a str,
    pub version: &'a str,
    /// The record read (`None`: the version did not exist).
    pub previous: Option<&'a Value>,
    /// The record to write (`None`: the version goes).
    pub next: Option<&'a Value>,
    /// Files that must not exist yet (an uploaded zip).
    pub new_files: &'a [LocalFile],
    /// Content-addressed files: kept as they are when the path exists (same bytes).
    pub addressed_files: &'a [LocalFile],
    /// Paths of files that go.
    pub removed: &'a [String],
}

impl Db {
    /// Applies `c` to local `repo` if the version's record is still `c.previous`.
    pub async fn replace_local_version(&self, repo: &str, c: &VersionChange<'_>) -> Result<Replaced, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let (package, version) = (c.package, c.version);
        let n = match (c.previous, c.next) {
            (None, Some(next)) => {
                tx.execute(
                    "INSERT INTO local_packages (repo, package, version, metadata) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (repo, package, version) DO NOTHING",
                    &[&repo, &package, &version, &Json(next)],
                )
                .await?
            }
            (Some(previous), Some(next)) => {
                tx.execute(
                    "UPDATE local_packages SET metadata = $5, updated_at = now() \
                     WHERE repo = $1 AND package = $2 AND version = $3 AND state = 'published' AND metadata = $4",
                    &[&repo, &package, &version, &Json(previous), &Json(next)],
                )
                .await?
            }
            (Some(previous), None) => {
                tx.execute(
                    "DELETE FROM local_packages \
                     WHERE repo = $1 AND package = $2 AND version = $3 AND state = 'published' AND metadata = $4",
                    &[&repo, &package, &version, &Json(previous)],
                )
                .await?
            }
            (None, None) => return Ok(Replaced::Done),
        };
        if n == 0 {
            return Ok(Replaced::Stale);
        }
        for (files, exclusive) in [(c.new_files, true), (c.addressed_files, false)] {
            for f in files {
                let written = insert_file(&tx, repo, f, OnTaken::Keep).await?;
                if !written && exclusive {
                    return Ok(Replaced::FileTaken(f.path.clone()));
                }
            }
        }
        if !c.removed.is_empty() {
            tx.execute("DELETE FROM local_files WHERE repo = $1 AND path = ANY($2)", &[&repo, &c.removed]).await?;
        }
        bump(&tx, repo).await?;
        tx.commit().await?;
        Ok(Replaced::Done)
    }

    /// The record of `version` of `package` in local `repo`, if it is published.
    pub async fn local_version_record(
        &self,
        repo: &str,
        package: &str,
        version: &str,
    ) -> Result<Option<Value>, DbError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT metadata FROM local_packages \
                 WHERE repo = $1 AND package = $2 AND version = $3 AND state = 'published'",
                &[&repo, &package, &version],
            )
            .await?;
        Ok(row.map(|r| r.try_get::<_, Json<Value>>(0)).transpose()?.map(|Json(v)| v))
    }
}

#[cfg(test)]
mod tests {
    use artifactapi_actors::digest::Digest;
    use serde_json::json;

    use super::*;
    use crate::db::testing::TestDatabase;
    use crate::formats::PackageType;
    use crate::locals::LocalSpec;

    fn file(path: &str) -> LocalFile {
        LocalFile {
            path: path.into(),
            digest: Digest::of(path.as_bytes()),
            size: 1,
            content_type: None,
            updated_at: chrono::Utc::now(),
        }
    }

    fn change<'a>(
        previous: Option<&'a Value>,
        next: Option<&'a Value>,
        new_files: &'a [LocalFile],
        removed: &'a [String],
    ) -> VersionChange<'a> {
        VersionChange { package: "thing", version: "1.0.0", previous, next, new_files, addressed_files: &[], removed }
    }

    #[tokio::test]
    async fn changes_apply_only_to_the_record_they_read() {
        let (tdb, db) = TestDatabase::migrated().await;
        db.insert_local(&LocalSpec::new("tf", PackageType::Terraform)).await.unwrap();
        let (a, b, c) =
            (json!({"platforms": ["a"]}), json!({"platforms": ["a", "b"]}), json!({"platforms": ["a", "c"]}));
        let (fa, fb, fc) = ([file("thing/a.zip")], [file("thing/b.zip")], [file("thing/c.zip")]);
        let generation = db.local_generation("tf").await.unwrap();

        assert_eq!(db.replace_local_version("tf", &change(None, Some(&a), &fa, &[])).await.unwrap(), Replaced::Done);
        // A second writer that also saw no version loses, and stores nothing.
        assert_eq!(db.replace_local_version("tf", &change(None, Some(&c), &fc, &[])).await.unwrap(), Replaced::Stale);
        assert!(db.local_file("tf", "thing/c.zip").await.unwrap().is_none());
        // Of two writers that read `a`, the first wins; the other reads again and wins then.
        assert_eq!(
            db.replace_local_version("tf", &change(Some(&a), Some(&b), &fb, &[])).await.unwrap(),
            Replaced::Done
        );
        assert_eq!(
            db.replace_local_version("tf", &change(Some(&a), Some(&c), &fc, &[])).await.unwrap(),
            Replaced::Stale
        );
        assert_eq!(db.local_version_record("tf", "thing", "1.0.0").await.unwrap(), Some(b.clone()));
        // A file that must be new but exists: nothing written, the record stays.
        let taken = db.replace_local_version("tf", &change(Some(&b), Some(&c), &fa, &[])).await.unwrap();
        assert_eq!(taken, Replaced::FileTaken("thing/a.zip".into()));
        assert_eq!(db.local_version_record("tf", "thing", "1.0.0").await.unwrap(), Some(b.clone()));
        assert_eq!(db.local_generation("tf").await.unwrap(), generation + 2, "only the writes that landed count");
        // The version goes with its files.
        let removed = ["thing/a.zip".to_string(), "thing/b.zip".to_string()];
        assert_eq!(
            db.replace_local_version("tf", &change(Some(&b), None, &[], &removed)).await.unwrap(),
            Replaced::Done
        );
        assert_eq!(db.local_version_record("tf", "thing", "1.0.0").await.unwrap(), None);
        assert!(db.local_file("tf", "thing/a.zip").await.unwrap().is_none());
        drop(db);
        tdb.drop().await;
    }
}

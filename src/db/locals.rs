//! Local repository configuration in the `locals` table.
//!
//! `spec` holds the whole [`LocalSpec`] like remotes and virtuals do, so later settings of a
//! local need no migration. Names are unique across remotes, virtuals and locals (the schema's
//! trigger); a clash is a [`DbError::Conflict`]. Deleting a local deletes its `local_files`
//! rows in the same transaction; the blobs they referenced go at the next GC. A local that a
//! virtual lists can neither be deleted nor change its package type ([`super::membership`]).

use tokio_postgres::types::Json;

use super::membership::{lock_listed, MembershipError};
use super::specs::{conflict, StoredSpec};
use super::{Db, DbError};
use crate::locals::LocalSpec;

impl StoredSpec for LocalSpec {
    const KIND: &'static str = "local";
    const TABLE: &'static str = "locals";
    const PKEY: &'static str = "locals_pkey";
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

impl Db {
    /// Every local, sorted by name.
    pub async fn list_locals(&self) -> Result<Vec<LocalSpec>, DbError> {
        self.list_specs().await
    }

    pub async fn get_local(&self, name: &str) -> Result<Option<LocalSpec>, DbError> {
        self.get_spec(name).await
    }

    /// Creates a local; `Conflict` when any repository already has its name.
    pub async fn insert_local(&self, spec: &LocalSpec) -> Result<(), DbError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO locals (name, package_type, spec) VALUES ($1, $2, $3)",
                &[&spec.name, &spec.package_type.as_str(), &Json(spec)],
            )
            .await
            .map_err(|e| conflict::<LocalSpec>(&spec.name, e))?;
        Ok(())
    }

    /// Replaces the spec of local `name` (locals are not renamed): `NotFound` when there is
    /// none, `Listed` when virtuals list it and the package type would change. One transaction
    /// (see [`super::membership`]).
    pub async fn update_local(&self, name: &str, spec: &LocalSpec) -> Result<(), MembershipError> {
        let stored = LocalSpec { name: name.to_string(), ..spec.clone() };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let locked = lock_listed::<LocalSpec>(&tx, name)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("no local repository named \"{name}\"")))?;
        if locked.package_type != stored.package_type.as_str() && !locked.listed_by.is_empty() {
            return Err(MembershipError::Listed(locked.listed_by));
        }
        tx.execute(
            "UPDATE locals SET package_type = $2, spec = $3, updated_at = now() WHERE name = $1",
            &[&name, &stored.package_type.as_str(), &Json(&stored)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a local, its files and its request stats; whether it existed. `Listed` when
    /// virtuals list it. One transaction (see [`super::membership`]). The blobs its files
    /// referenced stay until GC finds them unreferenced.
    pub async fn delete_local(&self, name: &str) -> Result<bool, MembershipError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(locked) = lock_listed::<LocalSpec>(&tx, name).await? else {
            return Ok(false);
        };
        if !locked.listed_by.is_empty() {
            return Err(MembershipError::Listed(locked.listed_by));
        }
        tx.execute("DELETE FROM locals WHERE name = $1", &[&name]).await?;
        tx.execute("DELETE FROM local_files WHERE repo = $1", &[&name]).await?;
        tx.execute("DELETE FROM repo_stats WHERE repo = $1", &[&name]).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::TestDatabase;
    use crate::formats::PackageType;
    use crate::virtuals::VirtualSpec;

    fn local(name: &str, package_type: PackageType) -> LocalSpec {
        LocalSpec::new(name, package_type)
    }

    #[tokio::test]
    async fn round_trip_conflicts_files_and_delete() {
        let (tdb, db) = TestDatabase::migrated().await;
        let client = db.client().await.unwrap();
        client
            .execute("INSERT INTO remotes (name, package_type, spec) VALUES ('r1', 'generic', '{}')", &[])
            .await
            .unwrap();
        db.insert_local(&local("l2", PackageType::Docker)).await.unwrap();
        db.insert_local(&local("l1", PackageType::Generic)).await.unwrap();
        let err = db.insert_local(&local("l1", PackageType::Docker)).await.unwrap_err();
        assert!(matches!(&err, DbError::Conflict(m) if m.contains("local repository named \"l1\"")), "{err}");
        let err = db.insert_local(&local("r1", PackageType::Generic)).await.unwrap_err();
        assert!(matches!(&err, DbError::Conflict(m) if m.contains("remote repository named \"r1\"")), "{err}");
        let virt = VirtualSpec { name: "v1".into(), package_type: PackageType::Generic, members: vec!["l1".into()] };
        db.insert_virtual(&virt).await.unwrap();
        let err = db.insert_local(&local("v1", PackageType::Generic)).await.unwrap_err();
        assert!(matches!(&err, DbError::Conflict(m) if m.contains("virtual repository named \"v1\"")), "{err}");
        let err = db.insert_virtual(&VirtualSpec { name: "l2".into(), ..virt.clone() }).await.unwrap_err();
        assert!(
            matches!(&err, MembershipError::Db(DbError::Conflict(m)) if m.contains("local repository named \"l2\"")),
            "{err}"
        );

        assert_eq!(db.get_local("l1").await.unwrap(), Some(local("l1", PackageType::Generic)));
        let names: Vec<String> = db.list_locals().await.unwrap().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["l1", "l2"]);
        // A listed local keeps its type and stays; the refusal names the virtual.
        let err = db.update_local("l1", &local("l1", PackageType::Npm)).await.unwrap_err();
        assert!(matches!(&err, MembershipError::Listed(v) if v == &["v1"]), "{err}");
        let err = db.delete_local("l1").await.unwrap_err();
        assert!(matches!(&err, MembershipError::Listed(v) if v == &["v1"]), "{err}");
        db.update_local("l1", &local("l1", PackageType::Generic)).await.unwrap();

        db.update_local("l2", &local("ignored", PackageType::Helm)).await.unwrap();
        assert_eq!(db.get_local("l2").await.unwrap(), Some(local("l2", PackageType::Helm)));
        let ty: String =
            client.query_one("SELECT package_type FROM locals WHERE name = 'l2'", &[]).await.unwrap().get(0);
        assert_eq!(ty, "helm");
        let err = db.update_local("nope", &local("nope", PackageType::Helm)).await.unwrap_err();
        assert!(matches!(&err, MembershipError::Db(DbError::NotFound(_))), "{err}");

        for repo in ["l1", "l2"] {
            client
                .execute(
                    "INSERT INTO local_files (repo, path, digest, size) VALUES ($1, 'f', 'sha256:00', 1)",
                    &[&repo],
                )
                .await
                .unwrap();
            client.execute("INSERT INTO repo_stats (repo, requests) VALUES ($1, 1)", &[&repo]).await.unwrap();
        }
        assert!(db.delete_local("l2").await.unwrap());
        for table in ["local_files", "repo_stats"] {
            let left: Vec<String> = client
                .query(&format!("SELECT repo FROM {table} ORDER BY repo"), &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(left, ["l1"], "the deleted local's {table} rows go with it");
        }
        assert!(!db.delete_local("l2").await.unwrap());
        assert_eq!(db.get_local("l2").await.unwrap(), None);
        db.delete_virtual("v1").await.unwrap();
        assert!(db.delete_local("l1").await.unwrap(), "no longer listed");
        drop(client);
        drop(db);
        tdb.drop().await;
    }
}

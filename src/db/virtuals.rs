//! Virtual repository configuration in the `virtuals` table.
//!
//! `members` is stored in its own column (a JSON array, in order) so the catalog can answer
//! "which virtuals list this repository" when a remote is deleted; `spec` holds the whole
//! [`VirtualSpec`] like remotes do. Names are unique across remotes, virtuals and locals (the
//! schema's trigger); a clash is a [`DbError::Conflict`].

use tokio_postgres::types::Json;

use super::membership::MembershipError;
use super::specs::{conflict, StoredSpec};
use super::{Db, DbError};
use crate::formats::PackageType;
use crate::virtuals::{check_members, VirtualSpec};

impl StoredSpec for VirtualSpec {
    const KIND: &'static str = "virtual";
    const TABLE: &'static str = "virtuals";
    const PKEY: &'static str = "virtuals_pkey";
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

impl Db {
    /// Every virtual, sorted by name.
    pub async fn list_virtuals(&self) -> Result<Vec<VirtualSpec>, DbError> {
        self.list_specs().await
    }

    pub async fn get_virtual(&self, name: &str) -> Result<Option<VirtualSpec>, DbError> {
        self.get_spec(name).await
    }

    /// The package type of each named remote or local that exists (unparseable types are
    /// left out, as if the repository did not exist).
    pub async fn member_types(&self, names: &[String]) -> Result<Vec<(String, PackageType)>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, package_type FROM remotes WHERE name = ANY($1) \
                 UNION ALL SELECT name, package_type FROM locals WHERE name = ANY($1)",
                &[&names],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.try_get(0)?;
            let ty: String = row.try_get(1)?;
            if let Ok(t) = serde_json::from_value::<PackageType>(serde_json::Value::String(ty)) {
                out.push((name, t));
            }
        }
        Ok(out)
    }

    /// The virtuals listing `member`, sorted by name.
    pub async fn virtuals_listing(&self, member: &str) -> Result<Vec<String>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT name FROM virtuals WHERE members ? $1 ORDER BY name COLLATE \"C\"", &[&member])
            .await?;
        rows.iter().map(|r| r.try_get(0).map_err(DbError::from)).collect()
    }

    /// Creates a virtual: `Member` when a member is missing or of another type, `Conflict` when
    /// any repository already has its name.
    pub async fn insert_virtual(&self, spec: &VirtualSpec) -> Result<(), MembershipError> {
        self.check_virtual_members(spec).await?;
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO virtuals (name, package_type, members, spec) VALUES ($1, $2, $3, $4)",
                &[&spec.name, &spec.package_type.as_str(), &Json(&spec.members), &Json(spec)],
            )
            .await
            .map_err(|e| conflict::<VirtualSpec>(&spec.name, e))?;
        Ok(())
    }

    /// Replaces the spec of virtual `name` (virtuals are not renamed): `Member` when a member is
    /// missing or of another type, `NotFound` when there is no such virtual.
    pub async fn update_virtual(&self, name: &str, spec: &VirtualSpec) -> Result<(), MembershipError> {
        let stored = VirtualSpec { name: name.to_string(), ..spec.clone() };
        self.check_virtual_members(&stored).await?;
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE virtuals SET package_type = $2, members = $3, spec = $4, updated_at = now() WHERE name = $1",
                &[&name, &stored.package_type.as_str(), &Json(&stored.members), &Json(&stored)],
            )
            .await
            .map_err(DbError::from)?;
        if n == 0 {
            return Err(DbError::NotFound(format!("no virtual repository named \"{name}\"")).into());
        }
        Ok(())
    }

    async fn check_virtual_members(&self, spec: &VirtualSpec) -> Result<(), MembershipError> {
        let types = self.member_types(&spec.members).await?;
        let lookup = |m: &str| types.iter().find(|(n, _)| n == m).map(|(_, t)| *t);
        check_members(spec, lookup).map_err(MembershipError::Member)
    }

    /// Deletes a virtual and its request stats; whether it existed. A virtual caches nothing of
    /// its own (its members do).
    pub async fn delete_virtual(&self, name: &str) -> Result<bool, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx.execute("DELETE FROM virtuals WHERE name = $1", &[&name]).await?;
        if n > 0 {
            tx.execute("DELETE FROM repo_stats WHERE repo = $1", &[&name]).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::TestDatabase;

    fn virt(name: &str, members: &[&str]) -> VirtualSpec {
        VirtualSpec {
            name: name.into(),
            package_type: PackageType::Generic,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    /// The member error of a refused write.
    fn member_error(e: MembershipError) -> String {
        match e {
            MembershipError::Member(field) => field.to_string(),
            other => panic!("not a member error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn round_trip_conflicts_members_and_delete() {
        let (tdb, db) = TestDatabase::migrated().await;
        let client = db.client().await.unwrap();
        for (table, name, ty) in
            [("remotes", "r1", "generic"), ("remotes", "r2", "generic"), ("locals", "l1", "goproxy"), ("locals", "l2", "generic")]
        {
            let sql = format!("INSERT INTO {table} (name, package_type, spec) VALUES ($1, $2, '{{}}')");
            client.execute(&sql, &[&name, &ty]).await.unwrap();
        }
        db.insert_virtual(&virt("v2", &["r1"])).await.unwrap();
        db.insert_virtual(&virt("v1", &["r2", "r1"])).await.unwrap();
        let err = db.insert_virtual(&virt("v1", &["r1"])).await.unwrap_err();
        assert!(
            matches!(&err, MembershipError::Db(DbError::Conflict(m)) if m.contains("virtual repository named \"v1\"")),
            "{err}"
        );
        let err = db.insert_virtual(&virt("r1", &["r2"])).await.unwrap_err();
        assert!(
            matches!(&err, MembershipError::Db(DbError::Conflict(m)) if m.contains("remote repository named \"r1\"")),
            "{err}"
        );
        let refused: &[(&[&str], &str)] = &[
            (&["r1", "nope"], "members[1]: no remote or local repository named \"nope\""),
            (&["l1"], "members[0]: \"l1\" is a goproxy repository, the virtual is generic"),
            (&["r1", "v2"], "members[1]: no remote or local repository named \"v2\""),
        ];
        for (members, want) in refused {
            let err = db.insert_virtual(&virt("v3", members)).await.unwrap_err();
            assert_eq!(member_error(err), *want, "create {members:?}");
            let err = db.update_virtual("v1", &virt("v1", members)).await.unwrap_err();
            assert_eq!(member_error(err), *want, "update {members:?}");
        }
        assert_eq!(db.get_virtual("v3").await.unwrap(), None, "a refused create writes nothing");
        assert_eq!(db.get_virtual("v1").await.unwrap(), Some(virt("v1", &["r2", "r1"])), "a refused update neither");

        let names: Vec<String> = db.list_virtuals().await.unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["v1", "v2"]);
        assert_eq!(db.virtuals_listing("r1").await.unwrap(), ["v1", "v2"]);
        assert_eq!(db.virtuals_listing("r2").await.unwrap(), ["v1"]);

        db.update_virtual("v1", &virt("ignored", &["l2", "r1"])).await.unwrap();
        assert_eq!(db.get_virtual("v1").await.unwrap(), Some(virt("v1", &["l2", "r1"])));
        assert_eq!(db.virtuals_listing("r2").await.unwrap(), Vec::<String>::new());
        assert_eq!(db.virtuals_listing("l2").await.unwrap(), ["v1"]);
        // The virtual's own type changes with its members.
        let goproxy = VirtualSpec { package_type: PackageType::Goproxy, ..virt("v1", &["l1"]) };
        db.update_virtual("v1", &goproxy).await.unwrap();
        assert_eq!(db.get_virtual("v1").await.unwrap(), Some(goproxy));
        let err = db.update_virtual("nope", &virt("nope", &["r1"])).await.unwrap_err();
        assert!(matches!(&err, MembershipError::Db(DbError::NotFound(_))), "{err}");

        for repo in ["v1", "v2"] {
            client.execute("INSERT INTO repo_stats (repo, requests) VALUES ($1, 1)", &[&repo]).await.unwrap();
        }
        assert!(db.delete_virtual("v1").await.unwrap());
        let left: Vec<String> =
            client.query("SELECT repo FROM repo_stats", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(left, ["v2"], "the deleted virtual's stats go with it");
        assert!(!db.delete_virtual("v1").await.unwrap());
        assert_eq!(db.get_virtual("v1").await.unwrap(), None);
        drop(client);
        drop(db);
        tdb.drop().await;
    }
}

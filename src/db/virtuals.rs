//! Virtual repository configuration: the `virtuals` table and the `virtual_members` rows.
//!
//! `spec` holds the whole [`VirtualSpec`] like remotes do; the members are rows of
//! `virtual_members` whose foreign keys let a virtual list only remotes and locals of its own
//! package type, each once (see [`super::membership`] and `migrations/0004_virtual_members.sql`).
//! Specs are read through the `virtual_specs` view, which puts the rows back into `members` in
//! order, so what the registry serves is what the schema enforces. Creating or replacing a
//! virtual is one transaction: lock the members' rows, check them with [`check_members`] (the
//! `members[i]` messages the API answers with), write the virtual and its rows. Names are unique
//! across remotes, virtuals and locals (the schema's trigger); a clash is a
//! [`DbError::Conflict`].

use deadpool_postgres::Transaction;
use tokio_postgres::types::Json;

use super::membership::MembershipError;
use super::specs::{conflict, StoredSpec};
use super::{Db, DbError};
use crate::formats::PackageType;
use crate::virtuals::{check_members, VirtualSpec};

impl StoredSpec for VirtualSpec {
    const KIND: &'static str = "virtual";
    const TABLE: &'static str = "virtuals";
    const SOURCE: &'static str = "virtual_specs";
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

    /// The virtuals listing `member` (a remote or a local), sorted by name.
    pub async fn virtuals_listing(&self, member: &str) -> Result<Vec<String>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT virtual FROM virtual_members WHERE remote = $1 OR local = $1 ORDER BY virtual COLLATE \"C\"",
                &[&member],
            )
            .await?;
        rows.iter().map(|r| r.try_get(0).map_err(DbError::from)).collect()
    }

    /// Creates a virtual: `Member` when a member is missing or of another type, `Conflict` when
    /// any repository already has its name.
    pub async fn insert_virtual(&self, spec: &VirtualSpec) -> Result<(), MembershipError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let kinds = lock_members(&tx, spec).await?;
        tx.execute(
            "INSERT INTO virtuals (name, package_type, spec) VALUES ($1, $2, $3)",
            &[&spec.name, &spec.package_type.as_str(), &Json(spec)],
        )
        .await
        .map_err(|e| conflict::<VirtualSpec>(&spec.name, e))?;
        insert_members(&tx, spec, &kinds).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the spec and the members of virtual `name` (virtuals are not renamed): `Member`
    /// when a member is missing or of another type, `NotFound` when there is no such virtual.
    pub async fn update_virtual(&self, name: &str, spec: &VirtualSpec) -> Result<(), MembershipError> {
        let stored = VirtualSpec { name: name.to_string(), ..spec.clone() };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Replacements of one virtual take turns here, so each one's rows replace the other's.
        if tx.query_opt("SELECT 1 FROM virtuals WHERE name = $1 FOR UPDATE", &[&name]).await?.is_none() {
            return Err(DbError::NotFound(format!("no virtual repository named \"{name}\"")).into());
        }
        let kinds = lock_members(&tx, &stored).await?;
        // The rows go first: the virtual's package type is part of their key.
        tx.execute("DELETE FROM virtual_members WHERE virtual = $1", &[&name]).await?;
        tx.execute(
            "UPDATE virtuals SET package_type = $2, spec = $3, updated_at = now() WHERE name = $1",
            &[&name, &stored.package_type.as_str(), &Json(&stored)],
        )
        .await?;
        insert_members(&tx, &stored, &kinds).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a virtual (its member rows go with it) and its request stats; whether it
    /// existed. A virtual caches nothing of its own (its members do).
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

/// Which table a member is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Remote,
    Local,
}

/// Locks the rows of the remotes and locals `spec` lists `FOR SHARE` (none of them is deleted or
/// changes its type until this transaction ends), checks the members against them and returns
/// the table of each member, in order.
async fn lock_members(tx: &Transaction<'_>, spec: &VirtualSpec) -> Result<Vec<Kind>, MembershipError> {
    let mut found: Vec<(String, Kind, String)> = Vec::with_capacity(spec.members.len());
    // FOR SHARE cannot lock through a UNION: one statement per table.
    for (kind, sql) in [
        (Kind::Remote, "SELECT name, package_type FROM remotes WHERE name = ANY($1) FOR SHARE"),
        (Kind::Local, "SELECT name, package_type FROM locals WHERE name = ANY($1) FOR SHARE"),
    ] {
        for row in tx.query(sql, &[&spec.members]).await? {
            found.push((row.try_get(0)?, kind, row.try_get(1)?));
        }
    }
    let entry = |m: &str| found.iter().find(|(name, _, _)| name == m);
    // A type this binary does not know is no member of any virtual it writes.
    let lookup = |m: &str| entry(m).and_then(|(_, _, ty)| parse_type(ty));
    check_members(spec, lookup).map_err(MembershipError::Member)?;
    Ok(spec.members.iter().map(|m| entry(m).map_or(Kind::Remote, |(_, kind, _)| *kind)).collect())
}

fn parse_type(stored: &str) -> Option<PackageType> {
    PackageType::ALL.into_iter().find(|t| t.as_str() == stored)
}

/// Writes the member rows of `spec`, positions in list order.
async fn insert_members(tx: &Transaction<'_>, spec: &VirtualSpec, kinds: &[Kind]) -> Result<(), DbError> {
    let column = |want: Kind| -> Vec<Option<&str>> {
        spec.members.iter().zip(kinds).map(|(m, k)| (*k == want).then_some(m.as_str())).collect()
    };
    tx.execute(
        "INSERT INTO virtual_members (virtual, position, package_type, remote, local) \
         SELECT $1, (m.ord - 1)::integer, $2, m.remote, m.local \
         FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS m(remote, local, ord)",
        &[&spec.name, &spec.package_type.as_str(), &column(Kind::Remote), &column(Kind::Local)],
    )
    .await?;
    Ok(())
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
        for (table, name, ty) in [
            ("remotes", "r1", "generic"),
            ("remotes", "r2", "generic"),
            ("locals", "l1", "goproxy"),
            ("locals", "l2", "generic"),
        ] {
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

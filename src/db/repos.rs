//! Remote repository configuration in the `remotes` table.
//!
//! The stored spec is the full [`RemoteSpec`], upstream password included (the HTTP layer
//! redacts it on reads with [`RemoteSpec::redacted`]). The `name` column is the key: a spec is
//! always stored and returned with the name of its row. Names are unique across remotes,
//! virtuals and locals; the schema enforces that (see `migrations/0001_init.sql`), and a clash
//! of either kind is a [`DbError::Conflict`]. A remote that a virtual lists can neither be
//! deleted nor change its package type ([`super::membership`]).

use tokio_postgres::types::Json;

use super::membership::{lock_listed, MembershipError};
use super::specs::{conflict, StoredSpec};
use super::{Db, DbError};
use crate::remotes::RemoteSpec;

impl StoredSpec for RemoteSpec {
    const KIND: &'static str = "remote";
    const TABLE: &'static str = "remotes";
    const PKEY: &'static str = "remotes_pkey";
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

impl Db {
    /// Every remote, sorted by name.
    pub async fn list_remotes(&self) -> Result<Vec<RemoteSpec>, DbError> {
        self.list_specs().await
    }

    pub async fn get_remote(&self, name: &str) -> Result<Option<RemoteSpec>, DbError> {
        self.get_spec(name).await
    }

    /// Creates a remote; `Conflict` when any repository already has its name.
    pub async fn insert_remote(&self, spec: &RemoteSpec) -> Result<(), DbError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO remotes (name, package_type, spec) VALUES ($1, $2, $3)",
                &[&spec.name, &spec.package_type.as_str(), &Json(spec)],
            )
            .await
            .map_err(|e| conflict::<RemoteSpec>(&spec.name, e))?;
        Ok(())
    }

    /// Replaces the spec of remote `name` (`spec.name` is not used: remotes are not renamed):
    /// `NotFound` when there is none, `Listed` when virtuals list it and the package type
    /// would change. One transaction (see [`super::membership`]).
    pub async fn update_remote(&self, name: &str, spec: &RemoteSpec) -> Result<(), MembershipError> {
        let stored = RemoteSpec { name: name.to_string(), ..spec.clone() };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let locked = lock_listed::<RemoteSpec>(&tx, name)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("no remote repository named \"{name}\"")))?;
        if locked.package_type != stored.package_type.as_str() && !locked.listed_by.is_empty() {
            return Err(MembershipError::Listed(locked.listed_by));
        }
        tx.execute(
            "UPDATE remotes SET package_type = $2, spec = $3, updated_at = now() WHERE name = $1",
            &[&name, &stored.package_type.as_str(), &Json(&stored)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a remote, its cached objects (their blobs become garbage for GC) and its request
    /// stats; whether it existed. `Listed` when virtuals list it. One transaction (see
    /// [`super::membership`]).
    pub async fn delete_remote(&self, name: &str) -> Result<bool, MembershipError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(locked) = lock_listed::<RemoteSpec>(&tx, name).await? else {
            return Ok(false);
        };
        if !locked.listed_by.is_empty() {
            return Err(MembershipError::Listed(locked.listed_by));
        }
        tx.execute("DELETE FROM remotes WHERE name = $1", &[&name]).await?;
        tx.execute("DELETE FROM cached_objects WHERE repo = $1", &[&name]).await?;
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

    fn remote(name: &str) -> RemoteSpec {
        RemoteSpec {
            mutable_ttl: 600,
            patterns: vec!["^library/".into()],
            ban_tags_enabled: true,
            ban_tags: vec!["latest".into()],
            token_realm_hosts: vec!["auth.docker.io".into()],
            username: Some("user".into()),
            password: Some("secret".into()),
            allow_private_upstreams: true,
            ..RemoteSpec::new(name, PackageType::Docker, "https://registry-1.docker.io")
        }
    }

    #[tokio::test]
    async fn insert_get_list_keep_the_whole_spec() {
        let (tdb, db) = TestDatabase::migrated().await;
        assert_eq!(db.list_remotes().await.unwrap(), vec![]);
        for name in ["zeta", "alpha", "mid"] {
            db.insert_remote(&remote(name)).await.unwrap();
        }
        let got = db.get_remote("alpha").await.unwrap().unwrap();
        assert_eq!(got, remote("alpha"));
        assert_eq!(got.password.as_deref(), Some("secret"), "the stored spec keeps the password");
        assert_eq!(db.get_remote("nope").await.unwrap(), None);
        let names: Vec<String> = db.list_remotes().await.unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["alpha", "mid", "zeta"]);
        drop(db);
        tdb.drop().await;
    }

    #[tokio::test]
    async fn names_are_unique_across_every_kind() {
        let (tdb, db) = TestDatabase::migrated().await;
        db.insert_remote(&remote("hub")).await.unwrap();
        let err = db.insert_remote(&remote("hub")).await.unwrap_err();
        assert!(
            matches!(&err, DbError::Conflict(m) if m == "a remote repository named \"hub\" already exists"),
            "{err}"
        );

        let client = db.client().await.unwrap();
        client
            .execute("INSERT INTO virtuals (name, package_type, spec) VALUES ('v', 'docker', '{}')", &[])
            .await
            .unwrap();
        client
            .execute("INSERT INTO locals (name, package_type, spec) VALUES ('l', 'docker', '{}')", &[])
            .await
            .unwrap();
        for (name, kind) in [("v", "virtual"), ("l", "local")] {
            let err = db.insert_remote(&remote(name)).await.unwrap_err();
            let want = format!("a {kind} repository named \"{name}\" already exists");
            assert!(matches!(&err, DbError::Conflict(m) if *m == want), "{err}");
        }
        // And the other way round.
        let err = client
            .execute("INSERT INTO locals (name, package_type, spec) VALUES ('hub', 'docker', '{}')", &[])
            .await
            .unwrap_err();
        assert!(matches!(DbError::from(err), DbError::Conflict(_)));
        drop(client);
        drop(db);
        tdb.drop().await;
    }

    #[tokio::test]
    async fn concurrent_creations_of_one_name_in_two_kinds_do_not_both_succeed() {
        let (tdb, db) = TestDatabase::migrated().await;
        for i in 0..10 {
            let name = format!("race{i}");
            let local = async {
                let client = db.client().await.unwrap();
                client
                    .execute("INSERT INTO locals (name, package_type, spec) VALUES ($1, 'generic', '{}')", &[&name])
                    .await
                    .map_err(DbError::from)
            };
            let spec = remote(&name);
            let (a, b) = tokio::join!(db.insert_remote(&spec), local);
            assert!(a.is_ok() != b.is_ok(), "{name}: exactly one wins: {a:?} {b:?}");
        }
        drop(db);
        tdb.drop().await;
    }

    #[tokio::test]
    async fn update_replaces_and_misses_are_not_found() {
        let (tdb, db) = TestDatabase::migrated().await;
        db.insert_remote(&remote("hub")).await.unwrap();
        let mut changed = remote("other-name-ignored");
        changed.mutable_ttl = 60;
        changed.password = None;
        db.update_remote("hub", &changed).await.unwrap();
        let got = db.get_remote("hub").await.unwrap().unwrap();
        assert_eq!(got, RemoteSpec { name: "hub".into(), ..changed.clone() });
        assert_eq!(db.get_remote("other-name-ignored").await.unwrap(), None);
        let err = db.update_remote("nope", &changed).await.unwrap_err();
        assert!(matches!(&err, MembershipError::Db(DbError::NotFound(m)) if m.contains("\"nope\"")), "{err}");
        drop(db);
        tdb.drop().await;
    }

    #[tokio::test]
    async fn delete_says_whether_it_existed_and_drops_the_cache_entries() {
        let (tdb, db) = TestDatabase::migrated().await;
        db.insert_remote(&remote("hub")).await.unwrap();
        let client = db.client().await.unwrap();
        for repo in ["hub", "kept"] {
            client
                .execute(
                    "INSERT INTO cached_objects (repo, path, digest, size) VALUES ($1, 'a', 'sha256:00', 1)",
                    &[&repo],
                )
                .await
                .unwrap();
        }
        assert!(db.delete_remote("hub").await.unwrap());
        assert!(!db.delete_remote("hub").await.unwrap());
        assert_eq!(db.get_remote("hub").await.unwrap(), None);
        let left: Vec<String> =
            client.query("SELECT repo FROM cached_objects", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(left, ["kept"]);
        // The name is free again.
        db.insert_remote(&remote("hub")).await.unwrap();
        drop(client);
        drop(db);
        tdb.drop().await;
    }

    #[tokio::test]
    async fn a_listed_remote_keeps_its_type_and_stays() {
        let (tdb, db) = TestDatabase::migrated().await;
        db.insert_remote(&remote("hub")).await.unwrap();
        for name in ["v2", "v1"] {
            let spec =
                VirtualSpec { name: name.into(), package_type: PackageType::Docker, members: vec!["hub".into()] };
            db.insert_virtual(&spec).await.unwrap();
        }
        let err = db.delete_remote("hub").await.unwrap_err();
        assert!(matches!(&err, MembershipError::Listed(v) if v == &["v1", "v2"]), "{err}");
        let helm = RemoteSpec { package_type: PackageType::Helm, ..remote("hub") };
        let err = db.update_remote("hub", &helm).await.unwrap_err();
        assert!(matches!(&err, MembershipError::Listed(v) if v == &["v1", "v2"]), "{err}");
        assert_eq!(db.get_remote("hub").await.unwrap(), Some(remote("hub")), "nothing changed");
        // The same type is no change of membership.
        let shorter = RemoteSpec { mutable_ttl: 5, ..remote("hub") };
        db.update_remote("hub", &shorter).await.unwrap();
        // Once no virtual lists it, the type may change and the remote may go.
        for name in ["v1", "v2"] {
            db.delete_virtual(name).await.unwrap();
        }
        db.update_remote("hub", &helm).await.unwrap();
        assert!(db.delete_remote("hub").await.unwrap());
        drop(db);
        tdb.drop().await;
    }
}

//! Virtual membership against real PostgreSQL.
//!
//! The races between the writes it constrains: a remote or a local deleted, or its package type
//! changed, while a virtual is updated (or created) to list it. Whatever the interleaving,
//! exactly one of the two writes wins, the loser is refused with the error a sequential caller
//! would get (`Listed` naming the virtual, or `members[1]` naming the member), and no virtual
//! ever lists a repository that is missing or of another package type. Then the schema on its
//! own, written to with plain SQL, and the migration of the old JSON lists into rows.

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;

use super::testing::TestDatabase;
use super::{migrate, Db, MembershipError};
use crate::formats::PackageType;
use crate::locals::LocalSpec;
use crate::remotes::RemoteSpec;
use crate::virtuals::VirtualSpec;

/// Rounds per kind of race. Each round is a fresh member and virtual, so rounds are independent.
const ROUNDS: usize = 25;

fn remote(name: &str, package_type: PackageType) -> RemoteSpec {
    RemoteSpec { mutable_ttl: 600, ..RemoteSpec::new(name, package_type, "http://127.0.0.1:9") }
}

fn virt(name: &str, members: &[&str]) -> VirtualSpec {
    VirtualSpec {
        name: name.into(),
        package_type: PackageType::Generic,
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

/// What happens to the member while a virtual starts listing it.
#[derive(Debug, Clone, Copy)]
enum Change {
    DeleteRemote,
    DeleteLocal,
    RetypeRemote,
    RetypeLocal,
}

impl Change {
    /// Creates the member, a generic remote or local.
    async fn setup(self, db: &Db, name: &str) {
        match self {
            Change::DeleteRemote | Change::RetypeRemote => {
                db.insert_remote(&remote(name, PackageType::Generic)).await.unwrap()
            }
            Change::DeleteLocal | Change::RetypeLocal => {
                db.insert_local(&LocalSpec::new(name, PackageType::Generic)).await.unwrap()
            }
        }
    }

    async fn run(self, db: &Db, name: &str) -> Result<(), MembershipError> {
        let existed = match self {
            Change::DeleteRemote => db.delete_remote(name).await?,
            Change::DeleteLocal => db.delete_local(name).await?,
            Change::RetypeRemote => db.update_remote(name, &remote(name, PackageType::Goproxy)).await.map(|()| true)?,
            Change::RetypeLocal => {
                db.update_local(name, &LocalSpec::new(name, PackageType::Goproxy)).await.map(|()| true)?
            }
        };
        assert!(existed, "{self:?} {name}: the member existed");
        Ok(())
    }

    /// The refusal of a virtual listing `member` (at index 1) after this change.
    fn refusal(self, member: &str) -> String {
        match self {
            Change::DeleteRemote | Change::DeleteLocal => {
                format!("members[1]: no remote or local repository named {member:?}")
            }
            Change::RetypeRemote | Change::RetypeLocal => {
                format!("members[1]: {member:?} is a goproxy repository, the virtual is generic")
            }
        }
    }
}

/// How the virtual comes to list the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// An existing virtual (listing only `anchor`) is replaced by one listing the member too.
    Update,
    /// A new virtual listing `anchor` and the member is created.
    Create,
}

/// Virtuals listing a repository that is missing or of another package type, as
/// `virtual -> member` lines.
async fn broken_listings(db: &Db) -> Vec<String> {
    let mut broken = Vec::new();
    for v in db.list_virtuals().await.unwrap() {
        for m in &v.members {
            let ty = match db.get_remote(m).await.unwrap() {
                Some(r) => Some(r.package_type),
                None => db.get_local(m).await.unwrap().map(|l| l.package_type),
            };
            if ty != Some(v.package_type) {
                broken.push(format!("{} -> {m} ({ty:?})", v.name));
            }
        }
    }
    broken
}

/// Who won a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Winner {
    /// The member was deleted or retyped; the listing was refused naming the member.
    Change,
    /// The virtual lists the member; the change was refused naming the virtual.
    Listing,
}

/// One round: the change and the listing at once; who won, or what went wrong.
async fn round(db: &Db, change: Change, listing: Listing, i: usize) -> Result<Winner, String> {
    let (member, name) = (format!("m{i}"), format!("v{i}"));
    change.setup(db, &member).await;
    if listing == Listing::Update {
        db.insert_virtual(&virt(&name, &["anchor"])).await.unwrap();
    }
    let wanted = virt(&name, &["anchor", &member]);
    let list = async {
        match listing {
            Listing::Update => db.update_virtual(&name, &wanted).await,
            Listing::Create => db.insert_virtual(&wanted).await,
        }
    };
    let (changed, listed) = tokio::join!(change.run(db, &member), list);
    match (changed, listed) {
        (Ok(()), Err(MembershipError::Member(e))) if e.to_string() == change.refusal(&member) => Ok(Winner::Change),
        (Err(MembershipError::Listed(by)), Ok(())) if by == [name.clone()] => Ok(Winner::Listing),
        (changed, listed) => Err(format!("round {i}: {change:?} gave {changed:?}, {listing:?} gave {listed:?}")),
    }
}

#[tokio::test]
async fn a_member_changing_while_a_virtual_lists_it_never_leaves_a_broken_virtual() {
    let mut failures = Vec::new();
    for change in [Change::DeleteRemote, Change::DeleteLocal, Change::RetypeRemote, Change::RetypeLocal] {
        for listing in [Listing::Update, Listing::Create] {
            let (tdb, db) = TestDatabase::migrated().await;
            db.insert_remote(&remote("anchor", PackageType::Generic)).await.unwrap();
            let mut won = (0, 0);
            for i in 0..ROUNDS {
                match round(&db, change, listing, i).await {
                    Ok(Winner::Change) => won.0 += 1,
                    Ok(Winner::Listing) => won.1 += 1,
                    Err(failure) => failures.push(failure),
                }
            }
            // Which side wins depends on timing; both are right. Printed to see the mix.
            println!("{change:?}/{listing:?}: the change won {}, the listing won {}", won.0, won.1);
            let broken = broken_listings(&db).await;
            if !broken.is_empty() {
                failures.push(format!("{change:?}/{listing:?}: virtuals left listing {broken:?}"));
            }
            drop(db);
            tdb.drop().await;
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn the_schema_refuses_a_broken_member_whoever_writes() {
    let (tdb, db) = TestDatabase::migrated().await;
    db.insert_remote(&remote("r1", PackageType::Generic)).await.unwrap();
    db.insert_remote(&remote("g1", PackageType::Goproxy)).await.unwrap();
    db.insert_local(&LocalSpec::new("l1", PackageType::Generic)).await.unwrap();
    db.insert_virtual(&virt("v", &["r1", "l1"])).await.unwrap();
    db.insert_virtual(&VirtualSpec { package_type: PackageType::Goproxy, ..virt("w", &["g1"]) }).await.unwrap();
    let client = db.client().await.unwrap();
    let member = "INSERT INTO virtual_members (virtual, position, package_type, remote, local) VALUES";
    let cases: Vec<(String, SqlState)> = vec![
        ("DELETE FROM remotes WHERE name = 'r1'".into(), SqlState::FOREIGN_KEY_VIOLATION),
        ("DELETE FROM locals WHERE name = 'l1'".into(), SqlState::FOREIGN_KEY_VIOLATION),
        ("UPDATE remotes SET package_type = 'npm' WHERE name = 'r1'".into(), SqlState::FOREIGN_KEY_VIOLATION),
        ("UPDATE locals SET package_type = 'npm' WHERE name = 'l1'".into(), SqlState::FOREIGN_KEY_VIOLATION),
        ("UPDATE virtuals SET package_type = 'npm' WHERE name = 'v'".into(), SqlState::FOREIGN_KEY_VIOLATION),
        (format!("{member} ('v', 2, 'generic', 'nope', NULL)"), SqlState::FOREIGN_KEY_VIOLATION),
        (format!("{member} ('v', 2, 'generic', NULL, 'nope')"), SqlState::FOREIGN_KEY_VIOLATION),
        // A remote of another type, whichever type the row claims.
        (format!("{member} ('v', 2, 'generic', 'g1', NULL)"), SqlState::FOREIGN_KEY_VIOLATION),
        (format!("{member} ('v', 2, 'goproxy', 'g1', NULL)"), SqlState::FOREIGN_KEY_VIOLATION),
        // A virtual is no member; a local is no remote.
        (format!("{member} ('v', 2, 'goproxy', 'w', NULL)"), SqlState::FOREIGN_KEY_VIOLATION),
        (format!("{member} ('v', 2, 'generic', 'l1', NULL)"), SqlState::FOREIGN_KEY_VIOLATION),
        (format!("{member} ('v', 2, 'generic', 'r1', NULL)"), SqlState::UNIQUE_VIOLATION),
        (format!("{member} ('v', 1, 'generic', NULL, 'l1')"), SqlState::UNIQUE_VIOLATION),
        (format!("{member} ('v', 2, 'generic', NULL, NULL)"), SqlState::CHECK_VIOLATION),
        (format!("{member} ('v', -1, 'generic', 'r1', NULL)"), SqlState::CHECK_VIOLATION),
    ];
    for (sql, want) in cases {
        let err = client.execute(sql.as_str(), &[]).await.expect_err(&sql);
        assert_eq!(err.code(), Some(&want), "{sql}: {err}");
    }
    assert_eq!(db.get_virtual("v").await.unwrap(), Some(virt("v", &["r1", "l1"])), "nothing changed");
    // Deleting the virtual lets its members go.
    client.execute("DELETE FROM virtuals WHERE name = 'v'", &[]).await.unwrap();
    client.execute("DELETE FROM remotes WHERE name = 'r1'", &[]).await.unwrap();
    drop(client);
    drop(db);
    tdb.drop().await;
}

#[tokio::test]
async fn the_json_lists_become_rows_in_order() {
    let tdb = TestDatabase::create().await;
    let db = Db::new(tdb.settings()).unwrap();
    let before = migrate::MIGRATIONS.iter().position(|m| m.file == "0004_virtual_members.sql").unwrap();
    migrate::run(&db, &migrate::MIGRATIONS[..before]).await.unwrap();
    let client = db.client().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO remotes (name, package_type, spec) VALUES
                 ('r1', 'generic', '{}'), ('r2', 'generic', '{}'), ('g1', 'goproxy', '{}');
             INSERT INTO locals (name, package_type, spec) VALUES ('l1', 'generic', '{}');",
        )
        .await
        .unwrap();
    // As the JSON column held them, with what the race left behind: a member that is gone, one
    // of another type, one listed twice.
    let lists: [(&str, &str, &[&str]); 4] = [
        ("v1", "generic", &["r2", "l1", "gone", "r1", "g1", "r2"]),
        ("v2", "goproxy", &["g1"]),
        ("v3", "generic", &["gone"]),
        ("v4", "generic", &[]),
    ];
    for (name, ty, members) in lists {
        let spec = serde_json::json!({"name": name, "package_type": ty, "members": members});
        client
            .execute(
                "INSERT INTO virtuals (name, package_type, members, spec) VALUES ($1, $2, $3, $4)",
                &[&name, &ty, &Json(&members), &Json(&spec)],
            )
            .await
            .unwrap();
    }
    let rest: Vec<u32> = migrate::MIGRATIONS[before..].iter().map(|m| m.version).collect();
    assert_eq!(db.migrate().await.unwrap(), rest);

    let members = |name: &'static str| {
        let db = db.clone();
        async move { db.get_virtual(name).await.unwrap().unwrap().members }
    };
    assert_eq!(members("v1").await, ["r2", "l1", "r1"], "order kept, broken entries dropped");
    assert_eq!(members("v2").await, ["g1"]);
    assert_eq!(members("v3").await, Vec::<String>::new());
    assert_eq!(members("v4").await, Vec::<String>::new());
    let positions: Vec<i32> = client
        .query("SELECT position FROM virtual_members WHERE virtual = 'v1' ORDER BY position", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(positions, [0, 1, 2]);
    let Json(copy): Json<Vec<String>> =
        client.query_one("SELECT spec->'members' FROM virtuals WHERE name = 'v1'", &[]).await.unwrap().get(0);
    assert_eq!(copy, ["r2", "l1", "r1"], "the spec's copy says the same");
    let column =
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'virtuals' AND column_name = 'members'";
    assert_eq!(client.query_one(column, &[]).await.unwrap().get::<_, i64>(0), 0, "the JSON column is gone");
    // The migrated rows hold like any others.
    let err = db.delete_remote("r1").await.unwrap_err();
    assert!(matches!(&err, MembershipError::Listed(v) if v == &["v1"]), "{err}");
    let err = db.delete_remote("g1").await.unwrap_err();
    assert!(matches!(&err, MembershipError::Listed(v) if v == &["v2"]), "{err}");
    drop(client);
    drop(db);
    tdb.drop().await;
}

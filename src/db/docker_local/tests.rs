//! The local docker catalog against a real PostgreSQL (a throw-away database per test).

use artifactapi_actors::catalog::Catalog;
use artifactapi_actors::storage::PartKey;
use artifactapi_actors::Digest;
use chrono::Utc;
use uuid::Uuid;

use super::manifests::{ManifestRef, ManifestRow, PutRefused, References};
use super::uploads::Appended;
use super::Repository;
use crate::db::testing::TestDatabase;
use crate::db::{Db, PgCatalog};
use crate::formats::PackageType;
use crate::locals::LocalSpec;

async fn setup() -> (TestDatabase, Db, PgCatalog) {
    let (tdb, db) = TestDatabase::migrated().await;
    for name in ["loc", "other"] {
        db.insert_local(&LocalSpec::new(name, PackageType::Docker)).await.unwrap();
    }
    let catalog = PgCatalog::new(db.clone());
    (tdb, db, catalog)
}

fn repo(image: &str) -> Repository {
    Repository::new("loc", image)
}

/// A blob row as a commit leaves it.
async fn blob(catalog: &PgCatalog, bytes: &[u8]) -> Digest {
    let d = Digest::of(bytes);
    catalog.upsert_blob(&d, bytes.len() as u64).await.unwrap();
    d
}

fn manifest(digest: Digest, subject: Option<Digest>, artifact_type: Option<&str>) -> ManifestRow {
    ManifestRow {
        digest,
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 100,
        subject,
        artifact_type: artifact_type.map(String::from),
        annotations: None,
    }
}

#[tokio::test]
async fn uploads_append_in_order_and_finish_as_a_link() {
    let (tdb, db, catalog) = setup().await;
    let (app, other) = (repo("app"), repo("other"));
    let id = Uuid::new_v4();
    db.docker_create_upload(&app, id).await.unwrap();
    assert_eq!(db.docker_touch_upload(&app, id).await.unwrap(), Some(0));
    assert_eq!(db.docker_touch_upload(&other, id).await.unwrap(), None, "an upload belongs to its repository");
    assert_eq!(db.docker_upload(&other, id).await.unwrap(), None);

    let (p1, p2) = (PartKey::new(id), PartKey::new(id));
    let (d1, d2) = (Digest::of(b"0123456789"), Digest::of(b"abcde"));
    assert_eq!(db.docker_append_part(&app, 0, &p1, 10, &d1).await.unwrap(), Appended::Size(10));
    assert_eq!(db.docker_append_part(&app, 0, &p2, 5, &d2).await.unwrap(), Appended::OutOfOrder { size: 10 });
    assert_eq!(db.docker_append_part(&app, 11, &p2, 5, &d2).await.unwrap(), Appended::OutOfOrder { size: 10 });
    assert_eq!(db.docker_append_part(&other, 10, &p2, 5, &d2).await.unwrap(), Appended::Unknown);
    assert_eq!(db.docker_append_part(&app, 10, &p2, 5, &d2).await.unwrap(), Appended::Size(15));
    let state = db.docker_upload(&app, id).await.unwrap().unwrap();
    assert_eq!(state.size, 15);
    let parts: Vec<_> = state.parts.iter().map(|p| (p.offset, p.key, p.size, p.digest)).collect();
    assert_eq!(parts, vec![(0, p1, 10, d1), (10, p2, 5, d2)]);

    // Concurrent appends at the same offset: exactly one wins.
    let id2 = Uuid::new_v4();
    db.docker_create_upload(&app, id2).await.unwrap();
    let racers = (0..4).map(|_| {
        let (db, app) = (db.clone(), app.clone());
        async move { db.docker_append_part(&app, 0, &PartKey::new(id2), 3, &Digest::of(b"abc")).await.unwrap() }
    });
    let outcomes = futures_util::future::join_all(racers).await;
    assert_eq!(outcomes.iter().filter(|o| **o == Appended::Size(3)).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Appended::OutOfOrder { size: 3 }).count(), 3);

    let whole = blob(&catalog, b"0123456789abcde").await;
    db.docker_finish_upload(&app, id, &whole, 15).await.unwrap();
    assert_eq!(db.docker_upload(&app, id).await.unwrap(), None, "finished uploads are gone, parts too");
    assert_eq!(db.docker_blob(&app, &whole).await.unwrap(), Some(15));
    assert_eq!(db.docker_blob(&other, &whole).await.unwrap(), None);
    assert!(db.docker_repo_exists(&app).await.unwrap());
    assert!(!db.docker_repo_exists(&other).await.unwrap());

    assert!(db.docker_delete_upload(&app, id2).await.unwrap());
    assert!(!db.docker_delete_upload(&app, id2).await.unwrap());
    drop((db, catalog));
    tdb.drop().await;
}

#[tokio::test]
async fn idle_uploads_expire_and_live_ones_are_known() {
    let (tdb, db, _catalog) = setup().await;
    let app = repo("app");
    let (old, fresh) = (Uuid::new_v4(), Uuid::new_v4());
    db.docker_create_upload(&app, old).await.unwrap();
    db.docker_create_upload(&app, fresh).await.unwrap();
    let client = db.client().await.unwrap();
    client
        .execute("UPDATE oci_uploads SET updated_at = now() - interval '2 hours' WHERE id = $1", &[&old])
        .await
        .unwrap();
    let cutoff = Utc::now() - chrono::Duration::hours(1);
    assert_eq!(db.docker_live_uploads(&[old, fresh, Uuid::new_v4()]).await.unwrap().len(), 2);
    assert_eq!(db.docker_expire_uploads(cutoff, 10).await.unwrap(), vec![old]);
    assert_eq!(db.docker_expire_uploads(cutoff, 10).await.unwrap(), Vec::<Uuid>::new());
    assert_eq!(db.docker_live_uploads(&[old, fresh]).await.unwrap().into_iter().collect::<Vec<_>>(), vec![fresh]);
    // A touch restarts the clock.
    client
        .execute("UPDATE oci_uploads SET updated_at = now() - interval '2 hours' WHERE id = $1", &[&fresh])
        .await
        .unwrap();
    db.docker_touch_upload(&app, fresh).await.unwrap();
    assert!(db.docker_expire_uploads(cutoff, 10).await.unwrap().is_empty());
    drop((client, db));
    tdb.drop().await;
}

#[tokio::test]
async fn manifests_need_their_references_in_the_repository() {
    let (tdb, db, catalog) = setup().await;
    let (app, base) = (repo("app"), repo("base"));
    let (config, layer) = (blob(&catalog, b"config").await, blob(&catalog, b"layer").await);
    let m1 = manifest(blob(&catalog, b"manifest one").await, None, None);
    let refs = References { blobs: vec![(config, 6), (layer, 5)], manifests: vec![] };
    let unknown = db.docker_put_manifest(&app, &m1, &refs, Some("v1")).await.unwrap();
    assert_eq!(unknown, Err(PutRefused::Unknown { digest: config, what: "blob" }));
    db.docker_link_blob(&app, &config, 6).await.unwrap();
    db.docker_link_blob(&base, &layer, 5).await.unwrap();
    let unknown = db.docker_put_manifest(&app, &m1, &refs, Some("v1")).await.unwrap();
    assert_eq!(unknown, Err(PutRefused::Unknown { digest: layer, what: "blob" }), "linked elsewhere is not enough");
    assert_eq!(db.docker_mount_blob(&app, &base, &layer).await.unwrap(), Some(5));
    assert_eq!(db.docker_mount_blob(&app, &repo("nowhere"), &config).await.unwrap(), None);
    let wrong_size = References { blobs: vec![(config, 7)], manifests: vec![] };
    assert_eq!(
        db.docker_put_manifest(&app, &m1, &wrong_size, None).await.unwrap(),
        Err(PutRefused::Size { digest: config, claimed: 7, actual: 6 })
    );
    let missing_bytes = manifest(Digest::of(b"never committed"), None, None);
    assert_eq!(
        db.docker_put_manifest(&app, &missing_bytes, &refs, None).await.unwrap(),
        Err(PutRefused::Bytes(missing_bytes.digest))
    );
    assert_eq!(db.docker_manifest(&app, ManifestRef::Tag("v1")).await.unwrap(), None, "refusals store nothing");

    db.docker_put_manifest(&app, &m1, &refs, Some("v1")).await.unwrap().unwrap();
    db.docker_put_manifest(&app, &m1, &refs, Some("v1")).await.unwrap().unwrap();
    assert_eq!(db.docker_manifest(&app, ManifestRef::Tag("v1")).await.unwrap(), Some(m1.clone()));
    assert_eq!(db.docker_manifest(&app, ManifestRef::Digest(&m1.digest)).await.unwrap(), Some(m1.clone()));
    assert_eq!(db.docker_manifest(&base, ManifestRef::Digest(&m1.digest)).await.unwrap(), None);

    // An index needs its manifests in the repository.
    let index = ManifestRow {
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        ..manifest(blob(&catalog, b"index").await, None, None)
    };
    let other_child = Digest::of(b"not here");
    let idx_refs = References { blobs: vec![], manifests: vec![(m1.digest, 100), (other_child, 10)] };
    assert_eq!(
        db.docker_put_manifest(&app, &index, &idx_refs, Some("multi")).await.unwrap(),
        Err(PutRefused::Unknown { digest: other_child, what: "manifest" })
    );
    let idx_refs = References { blobs: vec![], manifests: vec![(m1.digest, 100)] };
    db.docker_put_manifest(&app, &index, &idx_refs, Some("multi")).await.unwrap().unwrap();

    // Tags move; deleting a manifest deletes its tags; deleting a tag keeps the manifest.
    let m2 = manifest(blob(&catalog, b"manifest two").await, None, None);
    db.docker_put_manifest(&app, &m2, &refs, Some("v1")).await.unwrap().unwrap();
    assert_eq!(db.docker_manifest(&app, ManifestRef::Tag("v1")).await.unwrap().unwrap().digest, m2.digest);
    db.docker_put_manifest(&app, &m2, &refs, Some("latest")).await.unwrap().unwrap();
    assert!(db.docker_delete_tag(&app, "latest").await.unwrap());
    assert!(!db.docker_delete_tag(&app, "latest").await.unwrap());
    assert!(db.docker_manifest(&app, ManifestRef::Digest(&m2.digest)).await.unwrap().is_some());
    assert!(db.docker_delete_manifest(&app, &m2.digest).await.unwrap());
    assert_eq!(db.docker_manifest(&app, ManifestRef::Tag("v1")).await.unwrap(), None);
    assert!(!db.docker_delete_manifest(&app, &m2.digest).await.unwrap());
    drop((db, catalog));
    tdb.drop().await;
}

#[tokio::test]
async fn tags_list_in_byte_order_and_referrers_filter() {
    let (tdb, db, catalog) = setup().await;
    let app = repo("team/app");
    let subject = blob(&catalog, b"subject").await;
    let m = manifest(subject, None, None);
    db.docker_put_manifest(&app, &m, &References::default(), None).await.unwrap().unwrap();
    for tag in ["b", "a", "B", "a.1", "_x", "10", "9"] {
        db.docker_put_manifest(&app, &m, &References::default(), Some(tag)).await.unwrap().unwrap();
    }
    let all = db.docker_tags(&app, None, 100).await.unwrap();
    assert_eq!(all, ["10", "9", "B", "_x", "a", "a.1", "b"]);
    assert_eq!(db.docker_tags(&app, Some("B"), 2).await.unwrap(), ["_x", "a"]);
    assert_eq!(db.docker_tags(&app, Some("b"), 2).await.unwrap(), Vec::<String>::new());
    assert!(db.docker_tags(&repo("none"), None, 10).await.unwrap().is_empty());

    let sig = manifest(blob(&catalog, b"sig").await, Some(subject), Some("application/vnd.example.sig"));
    let sbom = manifest(blob(&catalog, b"sbom").await, Some(subject), Some("application/vnd.example.sbom"));
    for r in [&sig, &sbom] {
        db.docker_put_manifest(&app, r, &References::default(), None).await.unwrap().unwrap();
    }
    let all: Vec<_> = db.docker_referrers(&app, &subject, None).await.unwrap().into_iter().map(|m| m.digest).collect();
    assert_eq!(all, vec![sig.digest, sbom.digest]);
    let sigs = db.docker_referrers(&app, &subject, Some("application/vnd.example.sig")).await.unwrap();
    assert_eq!(sigs, vec![sig.clone()]);
    assert!(db.docker_referrers(&repo("other"), &subject, None).await.unwrap().is_empty());
    drop((db, catalog));
    tdb.drop().await;
}

#[tokio::test]
async fn gc_keeps_what_manifests_reference_and_links_go_with_their_blob() {
    let (tdb, db, catalog) = setup().await;
    let app = repo("app");
    let (layer, lonely) = (blob(&catalog, b"layer").await, blob(&catalog, b"lonely").await);
    let m = manifest(blob(&catalog, b"manifest").await, None, None);
    db.docker_link_blob(&app, &layer, 5).await.unwrap();
    db.docker_link_blob(&app, &lonely, 6).await.unwrap();
    let refs = References { blobs: vec![(layer, 5)], manifests: vec![] };
    db.docker_put_manifest(&app, &m, &refs, Some("v1")).await.unwrap().unwrap();
    assert!(catalog.blob_referenced(&m.digest).await.unwrap(), "a manifest keeps its bytes");
    assert!(catalog.blob_referenced(&layer).await.unwrap(), "and what it references");
    assert!(!catalog.blob_referenced(&lonely).await.unwrap(), "a link alone keeps nothing");

    let future = Utc::now() + chrono::Duration::hours(1);
    let deleted = catalog.gc_delete_blob(&lonely, 6, future, Box::pin(async { Ok(()) })).await.unwrap();
    assert!(deleted);
    assert_eq!(db.docker_blob(&app, &lonely).await.unwrap(), None, "the link went with the blob");
    assert!(!catalog.gc_delete_blob(&layer, 5, future, Box::pin(async { Ok(()) })).await.unwrap());

    // Deleting the manifest frees its bytes and its layer.
    db.docker_delete_manifest(&app, &m.digest).await.unwrap();
    assert!(!catalog.blob_referenced(&m.digest).await.unwrap());
    assert!(!catalog.blob_referenced(&layer).await.unwrap());

    // Deleting the local removes every row of its repositories.
    let id = Uuid::new_v4();
    db.docker_create_upload(&app, id).await.unwrap();
    assert!(db.delete_local("loc").await.unwrap());
    assert_eq!(db.docker_blob(&app, &layer).await.unwrap(), None);
    assert!(db.docker_live_uploads(&[id]).await.unwrap().is_empty());
    drop((db, catalog));
    tdb.drop().await;
}

#[tokio::test]
async fn the_catalog_lists_repositories_with_manifests_in_byte_order() {
    let (tdb, db, catalog) = setup().await;
    let none = References { blobs: vec![], manifests: vec![] };
    for (local, image) in [("loc", "b"), ("loc", "a/z"), ("loc", "a"), ("other", "app"), ("loc", "a")] {
        let m = manifest(blob(&catalog, format!("{local}/{image}").as_bytes()).await, None, None);
        db.docker_put_manifest(&Repository::new(local, image), &m, &none, Some("v1")).await.unwrap().unwrap();
    }
    // Blobs alone make no repository.
    let layer = blob(&catalog, b"layer").await;
    db.docker_link_blob(&repo("blobs-only"), &layer, 5).await.unwrap();

    let both = ["loc".to_string(), "other".to_string()];
    let all = db.docker_repositories(&both, None, 100).await.unwrap();
    assert_eq!(all, ["loc/a", "loc/a/z", "loc/b", "other/app"]);
    assert_eq!(db.docker_repositories(&both, Some("loc/a"), 2).await.unwrap(), ["loc/a/z", "loc/b"]);
    assert_eq!(db.docker_repositories(&both, Some("other/app"), 2).await.unwrap(), Vec::<String>::new());
    assert_eq!(db.docker_repositories(&["other".to_string()], None, 100).await.unwrap(), ["other/app"]);
    assert!(db.docker_repositories(&[], None, 100).await.unwrap().is_empty());
    drop((db, catalog));
    tdb.drop().await;
}

#[tokio::test]
async fn digest_aliases_name_a_blob_and_go_with_it() {
    let (tdb, db, catalog) = setup().await;
    let d = blob(&catalog, b"aliased").await;
    let alias = format!("sha512:{}", "ab".repeat(64));
    assert_eq!(db.digest_alias(&alias).await.unwrap(), None);
    db.put_digest_alias(&alias, &d).await.unwrap();
    db.put_digest_alias(&alias, &d).await.unwrap();
    assert_eq!(db.digest_alias(&alias).await.unwrap(), Some(d));
    assert!(db.put_digest_alias(&alias, &Digest::of(b"no such blob")).await.is_err(), "only stored blobs");
    assert!(db.put_digest_alias("sha256:x", &d).await.is_err(), "only sha512 aliases");
    let future = Utc::now() + chrono::Duration::hours(1);
    assert!(catalog.gc_delete_blob(&d, 7, future, Box::pin(async { Ok(()) })).await.unwrap());
    assert_eq!(db.digest_alias(&alias).await.unwrap(), None, "the alias went with the blob");
    drop((db, catalog));
    tdb.drop().await;
}

//! Tests of [`super`]: signatures checked by sequoia's verifier, keys generated and loaded,
//! passphrases, keys that are refused, and the catalog's key made once by concurrent starts.

use clap::Parser;
use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::parse::Parse;
use openpgp::serialize::SerializeInto;
use openpgp::{Cert, Packet, PacketPile, Profile};

use super::*;
use crate::db::testing::TestDatabase;

/// Whether `sig` (binary or armored) is a valid signature of `data` by `public` (an armored
/// certificate), checked by sequoia independently of [`Signer`].
fn verifies(public: &str, sig: &[u8], data: &[u8]) -> Result<(), String> {
    let cert = Cert::from_bytes(public.as_bytes()).map_err(|e| e.to_string())?;
    let pile = PacketPile::from_bytes(sig).map_err(|e| e.to_string())?;
    let packets: Vec<Packet> = pile.into_children().collect();
    let [Packet::Signature(sig)] = &packets[..] else {
        return Err(format!("not one signature packet: {packets:?}"));
    };
    if sig.typ() != openpgp::types::SignatureType::Binary {
        return Err(format!("signature type {}", sig.typ()));
    }
    let policy = StandardPolicy::new();
    let valid = cert.with_policy(&policy, None).map_err(|e| e.to_string())?;
    let mut last = "no signing key".to_string();
    for key in valid.keys().for_signing() {
        match sig.verify_message(key.key(), data) {
            Ok(()) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

fn generated() -> (Generated, Signer) {
    let g = generate().unwrap();
    let s = Signer::from_armored(g.armored_private.as_bytes(), None).unwrap();
    (g, s)
}

#[test]
fn binary_and_armored_signatures_verify_over_exactly_the_bytes() {
    let (_, signer) = generated();
    let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let binary = signer.detached_binary(&data).unwrap();
    assert_ne!(binary[0], b'-', "binary, not armored");
    assert_eq!(binary[0] & 0x80, 0x80, "an OpenPGP packet");
    verifies(signer.public_armored(), &binary, &data).unwrap();

    let armored = signer.detached_armored(&data).unwrap();
    assert!(armored.starts_with("-----BEGIN PGP SIGNATURE-----"), "{armored}");
    assert!(armored.trim_end().ends_with("-----END PGP SIGNATURE-----"), "{armored}");
    verifies(signer.public_armored(), armored.as_bytes(), &data).unwrap();

    let mut other = data.clone();
    other[4096] ^= 1;
    assert!(verifies(signer.public_armored(), &binary, &other).is_err());
    assert!(verifies(signer.public_armored(), &binary, &data[1..]).is_err());
    let (_, stranger) = generated();
    assert!(verifies(stranger.public_armored(), &binary, &data).is_err());
}

#[test]
fn generated_keys_are_v4_ed25519_signing_primaries() {
    let (g, signer) = generated();
    let cert = Cert::from_bytes(g.armored_public.as_bytes()).unwrap();
    let primary = cert.primary_key().key();
    assert_eq!(primary.version(), 4);
    assert_eq!(primary.pk_algo(), openpgp::types::PublicKeyAlgorithm::EdDSA);
    assert!(!cert.is_tsk(), "the public form carries no secret");
    let policy = StandardPolicy::new();
    let valid = cert.with_policy(&policy, None).unwrap();
    assert!(valid.primary_key().for_signing(), "the primary key signs");
    assert_eq!(valid.primary_key().key_expiration_time(), None);
    assert!(signer.public_armored().starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert!(!signer.public_armored().contains("PRIVATE"));
}

#[test]
fn a_loaded_key_is_the_generated_one() {
    let (g, signer) = generated();
    assert_eq!(signer.key_id(), g.key_id);
    assert_eq!(signer.fingerprint(), g.fingerprint);
    assert_eq!(signer.key_id().len(), 16);
    assert_eq!(signer.fingerprint().len(), 40);
    for id in [signer.key_id(), signer.fingerprint()] {
        assert!(id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()), "{id}");
    }
    assert!(signer.fingerprint().ends_with(signer.key_id()), "a v4 key ID ends its fingerprint");
    // What the loaded key signs, the generated public key verifies.
    let sig = signer.detached_binary(b"SHA256SUMS").unwrap();
    verifies(&g.armored_public, &sig, b"SHA256SUMS").unwrap();
    let (_, other) = generated();
    assert_ne!(other.fingerprint(), signer.fingerprint());
}

fn encrypted_key(pass: &str, profile: Profile) -> String {
    let (cert, _) = CertBuilder::general_purpose(Some("ops <ops@example.org>"))
        .set_profile(profile)
        .unwrap()
        .set_password(Some(pass.into()))
        .generate()
        .unwrap();
    let armored = cert.as_tsk().armored().to_vec().unwrap();
    String::from_utf8(armored).unwrap()
}

#[test]
fn an_encrypted_key_needs_its_passphrase() {
    // general_purpose: the primary certifies, a subkey signs (what gpg makes by default).
    let armored = encrypted_key("correct horse", Profile::RFC4880);
    let err = Signer::from_armored(armored.as_bytes(), None).unwrap_err().to_string();
    assert!(err.contains("encrypted and no passphrase"), "{err}");
    let err = Signer::from_armored(armored.as_bytes(), Some("wrong")).unwrap_err().to_string();
    assert!(err.contains("passphrase does not decrypt"), "{err}");
    let signer = Signer::from_armored(armored.as_bytes(), Some("correct horse")).unwrap();
    let sig = signer.detached_binary(b"data").unwrap();
    verifies(signer.public_armored(), &sig, b"data").unwrap();
}

#[test]
fn unusable_keys_are_refused_with_the_reason() {
    let (g, _) = generated();
    let v6 = encrypted_key("p", Profile::RFC9580);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not a key".to_vec(), "not an OpenPGP key"),
        (Vec::new(), "not an OpenPGP key"),
        (g.armored_public.clone().into_bytes(), "no usable signing key"),
        (v6.into_bytes(), "a v6 key"),
    ];
    for (bytes, want) in cases {
        let err = Signer::from_armored(&bytes, Some("p")).unwrap_err().to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
}

fn config(args: &[&str]) -> Config {
    let mut argv = vec!["artifactapi"];
    argv.extend_from_slice(args);
    Config::try_parse_from(argv).unwrap()
}

async fn keys_in(db: &Db) -> Vec<String> {
    let client = db.client().await.unwrap();
    let rows = client.query("SELECT fingerprint FROM signing_keys", &[]).await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn concurrent_starts_on_one_database_make_one_key() {
    let (tdb, db) = TestDatabase::migrated().await;
    // Each "replica" has its own pool, as separate processes would.
    let replicas: Vec<Db> = (0..4).map(|_| Db::new(tdb.settings()).unwrap()).collect();
    let signers = futures_util::future::join_all(replicas.iter().map(keys::load_or_create)).await;
    let fingerprints: Vec<String> = signers.into_iter().map(|s| s.unwrap().fingerprint().to_string()).collect();
    assert!(fingerprints.iter().all(|f| *f == fingerprints[0]), "{fingerprints:?}");
    assert_eq!(keys_in(&db).await, vec![fingerprints[0].clone()]);
    // A later start reads it.
    let again = load(&config(&[]), &db).await.unwrap();
    assert_eq!(again.fingerprint(), fingerprints[0]);
    drop(replicas);
    drop(db);
    tdb.drop().await;
}

#[tokio::test]
async fn a_key_from_tf_signing_key_path_takes_precedence() {
    let (tdb, db) = TestDatabase::migrated().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.asc");
    std::fs::write(&path, encrypted_key("s3cret", Profile::RFC4880)).unwrap();
    let p = path.to_str().unwrap();

    let signer =
        load(&config(&["--tf-signing-key-path", p, "--tf-signing-key-passphrase", "s3cret"]), &db).await.unwrap();
    let supplied = Cert::from_bytes(std::fs::read(&path).unwrap().as_slice()).unwrap();
    assert_eq!(signer.fingerprint(), supplied.fingerprint().to_hex());
    assert!(keys_in(&db).await.is_empty(), "no key generated beside a supplied one");

    let err =
        load(&config(&["--tf-signing-key-path", p, "--tf-signing-key-passphrase", "nope"]), &db).await.unwrap_err();
    let line = err.to_string();
    assert!(line.starts_with(&format!("invalid TF_SIGNING_KEY_PATH={p:?}:")), "{line}");
    assert!(line.contains("TF_SIGNING_KEY_PASSPHRASE") && line.lines().count() == 1, "{line}");
    let missing = dir.path().join("absent.asc");
    let err = load(&config(&["--tf-signing-key-path", missing.to_str().unwrap()]), &db).await.unwrap_err();
    assert!(err.to_string().contains("cannot read it"), "{err}");
    drop(db);
    tdb.drop().await;
}

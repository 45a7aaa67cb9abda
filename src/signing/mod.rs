//! The server's OpenPGP key: it signs what artifactapi publishes for clients that check
//! signatures (terraform providers' `SHA256SUMS`, rpm repositories' `repomd.xml.asc`).
//!
//! There is one key per deployment, so every replica signs with the same key and clients
//! trust one key whatever replica answers. By default it lives in the catalog
//! (`signing_keys`): the first replica to start generates it (Ed25519, a v4 key whose primary
//! key signs, the form terraform accepts) under an advisory lock, so two replicas starting at
//! once still make exactly one ([`keys::load_or_create`]). `TF_SIGNING_KEY_PATH` (and
//! `TF_SIGNING_KEY_PASSPHRASE` when it is encrypted) supplies an armored private key instead
//! and takes precedence; a key that does not load or decrypt stops the start with one line
//! naming the variable ([`load`]).
//!
//! Signatures are detached: binary ([`Signer::detached_binary`], what terraform checks) or
//! armored ([`Signer::detached_armored`], what dnf reads). Signing is CPU work: the async
//! callers use [`Signer::sign_binary`] and [`Signer::sign_armored`], which run it on a
//! blocking thread.

pub mod keys;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use sequoia_openpgp as openpgp;

use openpgp::armor;
use openpgp::cert::prelude::*;
use openpgp::crypto::{KeyPair, Password};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::{Serialize, SerializeInto};
use openpgp::types::{KeyFlags, SignatureType};
use openpgp::{Packet, Profile};

use crate::config::Config;
use crate::db::{Db, DbError};

/// The User ID of generated keys.
pub const USER_ID: &str = "artifactapi signing key";

/// Why a key could not be loaded, made or used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The key `TF_SIGNING_KEY_PATH` names is unusable: the message names the variable.
    #[error("{0}")]
    Supplied(String),
    /// A key (stored or given) that is no usable signing key.
    #[error("OpenPGP key: {0}")]
    Key(String),
    #[error("signing key in the catalog: {0}")]
    Db(#[from] DbError),
    #[error("signing: {0}")]
    Sign(String),
}

impl From<tokio_postgres::Error> for SigningError {
    fn from(e: tokio_postgres::Error) -> Self {
        SigningError::Db(DbError::from(e))
    }
}

/// The server's signing key. Cheap to clone.
#[derive(Clone)]
pub struct Signer {
    inner: Arc<Inner>,
}

struct Inner {
    keypair: KeyPair,
    public_armored: String,
    key_id: String,
    fingerprint: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("key_id", &self.inner.key_id).finish_non_exhaustive()
    }
}

/// A newly generated key, as it is stored.
pub struct Generated {
    pub key_id: String,
    pub fingerprint: String,
    pub armored_private: String,
    pub armored_public: String,
}

/// Generates a key: Ed25519, v4, no expiry, the primary key certifying and signing.
pub fn generate() -> Result<Generated, SigningError> {
    let (cert, _revocation) = CertBuilder::new()
        .set_profile(Profile::RFC4880)
        .map_err(key_error)?
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_primary_key_flags(KeyFlags::empty().set_certification().set_signing())
        .set_validity_period(None::<std::time::Duration>)
        .add_userid(USER_ID)
        .generate()
        .map_err(key_error)?;
    let armored_private = String::from_utf8(cert.as_tsk().armored().to_vec().map_err(key_error)?).map_err(key_error)?;
    let armored_public = String::from_utf8(cert.armored().to_vec().map_err(key_error)?).map_err(key_error)?;
    Ok(Generated {
        key_id: cert.keyid().to_hex(),
        fingerprint: cert.fingerprint().to_hex(),
        armored_private,
        armored_public,
    })
}

/// An error of sequoia's (or of anything else displayable) about the key.
fn key_error(e: impl std::fmt::Display) -> SigningError {
    SigningError::Key(e.to_string())
}

impl Signer {
    /// The signer of the armored private key `armored` (decrypted with `passphrase` when it is
    /// encrypted). The key must be a v4 key with a usable, signing-capable (sub)key.
    pub fn from_armored(armored: &[u8], passphrase: Option<&str>) -> Result<Signer, SigningError> {
        let bad = |m: String| SigningError::Key(m);
        let cert = Cert::from_bytes(armored).map_err(|e| bad(format!("not an OpenPGP key: {e}")))?;
        if cert.primary_key().key().version() != 4 {
            return Err(bad(format!(
                "a v{} key; only v4 keys are accepted (terraform refuses v6 keys)",
                cert.primary_key().key().version()
            )));
        }
        let policy = StandardPolicy::new();
        let valid = cert.with_policy(&policy, None).map_err(|e| bad(format!("key not valid: {e}")))?;
        let key = valid
            .keys()
            .supported()
            .alive()
            .revoked(false)
            .for_signing()
            .secret()
            .next()
            .ok_or_else(|| bad("no usable signing key with its secret part (a public key only?)".into()))?
            .key()
            .clone();
        let key = if key.has_unencrypted_secret() {
            key
        } else {
            let pass =
                passphrase.ok_or_else(|| bad("the secret key is encrypted and no passphrase is given".into()))?;
            key.decrypt_secret(&Password::from(pass))
                .map_err(|_| bad("the passphrase does not decrypt the secret key".into()))?
        };
        let keypair = key.into_keypair().map_err(|e| bad(format!("secret key: {e}")))?;
        let public_armored = String::from_utf8(cert.armored().to_vec().map_err(key_error)?).map_err(key_error)?;
        let signer = Signer {
            inner: Arc::new(Inner {
                keypair,
                public_armored,
                key_id: cert.keyid().to_hex(),
                fingerprint: cert.fingerprint().to_hex(),
            }),
        };
        // A key that cannot make a signature its own public key verifies is refused now, not
        // at the first upload.
        let probe = signer.signature(b"artifactapi")?;
        probe
            .verify_message(signer.inner.keypair.public(), b"artifactapi")
            .map_err(|e| bad(format!("the key's signatures do not verify: {e}")))?;
        Ok(signer)
    }

    /// The armored public key (the whole certificate), as clients import it.
    pub fn public_armored(&self) -> &str {
        &self.inner.public_armored
    }

    /// The key ID, 16 upper-case hex digits, as terraform and gpg print it.
    pub fn key_id(&self) -> &str {
        &self.inner.key_id
    }

    /// The fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> &str {
        &self.inner.fingerprint
    }

    fn signature(&self, data: &[u8]) -> Result<openpgp::packet::Signature, SigningError> {
        let mut keypair = self.inner.keypair.clone();
        SignatureBuilder::new(SignatureType::Binary)
            .sign_message(&mut keypair, data)
            .map_err(|e| SigningError::Sign(e.to_string()))
    }

    /// A binary detached signature over exactly `data`. CPU work: from async code use
    /// [`Signer::sign_binary`].
    pub fn detached_binary(&self, data: &[u8]) -> Result<Vec<u8>, SigningError> {
        Packet::from(self.signature(data)?).to_vec().map_err(|e| SigningError::Sign(e.to_string()))
    }

    /// An armored detached signature over exactly `data` (`-----BEGIN PGP SIGNATURE-----`).
    /// CPU work: from async code use [`Signer::sign_armored`].
    pub fn detached_armored(&self, data: &[u8]) -> Result<String, SigningError> {
        let sig = Packet::from(self.signature(data)?);
        let fail = |e: std::io::Error| SigningError::Sign(e.to_string());
        let mut w = armor::Writer::new(Vec::new(), armor::Kind::Signature).map_err(fail)?;
        sig.serialize(&mut w).map_err(|e| SigningError::Sign(e.to_string()))?;
        let bytes = w.finalize().map_err(fail)?;
        String::from_utf8(bytes).map_err(|e| SigningError::Sign(e.to_string()))
    }

    /// [`Signer::detached_binary`] on a blocking thread.
    pub async fn sign_binary(&self, data: Vec<u8>) -> Result<Vec<u8>, SigningError> {
        let signer = self.clone();
        tokio::task::spawn_blocking(move || signer.detached_binary(&data))
            .await
            .map_err(|e| SigningError::Sign(e.to_string()))?
    }

    /// [`Signer::detached_armored`] on a blocking thread.
    pub async fn sign_armored(&self, data: Vec<u8>) -> Result<String, SigningError> {
        let signer = self.clone();
        tokio::task::spawn_blocking(move || signer.detached_armored(&data))
            .await
            .map_err(|e| SigningError::Sign(e.to_string()))?
    }
}

/// The key of this deployment: the one `TF_SIGNING_KEY_PATH` names, else the catalog's
/// (generated on the first start).
pub async fn load(config: &Config, db: &Db) -> Result<Signer, SigningError> {
    let Some(path) = config.tf_signing_key_path.clone() else {
        return keys::load_or_create(db).await;
    };
    let shown = path.display().to_string();
    let armored = std::fs::read(&path)
        .map_err(|e| SigningError::Supplied(format!("invalid TF_SIGNING_KEY_PATH={shown:?}: cannot read it ({e})")))?;
    let passphrase = config.tf_signing_key_passphrase.clone();
    let loaded = tokio::task::spawn_blocking(move || Signer::from_armored(&armored, passphrase.as_deref()))
        .await
        .map_err(|e| SigningError::Key(e.to_string()))?;
    loaded.map_err(|e| {
        let why = e.to_string();
        let why = why.strip_prefix("OpenPGP key: ").unwrap_or(&why);
        let var = if why.contains("passphrase") { " (TF_SIGNING_KEY_PASSPHRASE)" } else { "" };
        SigningError::Supplied(format!("invalid TF_SIGNING_KEY_PATH={shown:?}: {why}{var}"))
    })
}

//! The deployment's key in the catalog (`signing_keys`): read, or generated and stored by the
//! first replica that finds none.
//!
//! The read and the insert happen in one transaction holding a transaction-level advisory lock,
//! so of replicas starting at once one generates the key and the others wait for it and then
//! read it: there is never a second key. The lock goes with the transaction (commit, rollback
//! or a dropped connection), so a replica dying half-way leaves no lock behind. The private key
//! is stored unencrypted: the catalog is as trusted as the key (whoever can write it can change
//! what is served anyway).

use tokio_postgres::types::ToSql;

use super::{generate, Signer, SigningError};
use crate::db::Db;

/// The advisory lock key of key generation ("aa-sign!" in ASCII).
const LOCK_KEY: i64 = 0x6161_2d73_6967_6e21;

/// The catalog's key, generated and stored when there is none yet.
pub async fn load_or_create(db: &Db) -> Result<Signer, SigningError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await?;
    let row = tx.query_opt("SELECT armored_private FROM signing_keys ORDER BY created_at, id LIMIT 1", &[]).await?;
    let armored = match row {
        Some(row) => row.try_get::<_, String>(0)?,
        None => {
            let key = tokio::task::spawn_blocking(generate).await.map_err(|e| SigningError::Key(e.to_string()))??;
            let params: [&(dyn ToSql + Sync); 4] =
                [&key.key_id, &key.fingerprint, &key.armored_private, &key.armored_public];
            tx.execute(
                "INSERT INTO signing_keys (id, fingerprint, armored_private, armored_public) VALUES ($1, $2, $3, $4)",
                &params,
            )
            .await?;
            tracing::info!(key_id = %key.key_id, "generated the signing key");
            key.armored_private
        }
    };
    tx.commit().await?;
    tokio::task::spawn_blocking(move || Signer::from_armored(armored.as_bytes(), None))
        .await
        .map_err(|e| SigningError::Key(e.to_string()))?
}

//! Scoped tokens in the `tokens` table: created, listed, revoked, and loaded by every replica's
//! [`crate::auth::Authorizer`]. Only the SHA-256 of a secret is stored.

use tokio_postgres::types::Json;

use super::{Db, DbError};
use crate::auth::{Grant, TokenInfo};

fn info(row: &tokio_postgres::Row) -> Result<TokenInfo, DbError> {
    let Json(scopes): Json<Vec<Grant>> = row.try_get("scopes")?;
    Ok(TokenInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scopes,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    /// Stores a new token (the caller made its secret and hash).
    pub async fn insert_token(&self, token: &TokenInfo, secret_sha256: &str) -> Result<(), DbError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO tokens (id, name, secret_sha256, scopes, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&token.id, &token.name, &secret_sha256, &Json(&token.scopes), &token.expires_at, &token.created_at],
            )
            .await?;
        Ok(())
    }

    /// Every token, oldest first, without secrets.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT id, name, scopes, expires_at, created_at FROM tokens ORDER BY created_at, id", &[])
            .await?;
        rows.iter().map(info).collect()
    }

    /// Every token with the hash of its secret, for the authorizer.
    pub async fn load_tokens(&self) -> Result<(Vec<TokenInfo>, Vec<String>), DbError> {
        let client = self.client().await?;
        let rows =
            client.query("SELECT id, name, scopes, expires_at, created_at, secret_sha256 FROM tokens", &[]).await?;
        let mut tokens = Vec::with_capacity(rows.len());
        let mut hashes = Vec::with_capacity(rows.len());
        for row in &rows {
            tokens.push(info(row)?);
            hashes.push(row.try_get("secret_sha256")?);
        }
        Ok((tokens, hashes))
    }

    /// Revokes a token; whether it existed.
    pub async fn delete_token(&self, id: &uuid::Uuid) -> Result<bool, DbError> {
        let client = self.client().await?;
        Ok(client.execute("DELETE FROM tokens WHERE id = $1", &[id]).await? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;
    use crate::db::testing::TestDatabase;

    #[tokio::test]
    async fn tokens_round_trip_without_their_secret() {
        let (tdb, db) = TestDatabase::migrated().await;
        let t = TokenInfo {
            id: uuid::Uuid::new_v4(),
            name: "ci".into(),
            scopes: vec![Grant { repository: "npm-local".into(), access: Scope::Write }],
            expires_at: None,
            created_at: chrono::Utc::now(),
        };
        db.insert_token(&t, "abc").await.unwrap();
        let err = db.insert_token(&TokenInfo { id: uuid::Uuid::new_v4(), ..t.clone() }, "abc").await;
        assert!(err.is_err(), "two tokens cannot share a secret");
        let listed = db.list_tokens().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].id, &listed[0].scopes), (t.id, &t.scopes));
        assert_eq!(db.load_tokens().await.unwrap().1, vec!["abc".to_string()]);
        assert!(db.delete_token(&t.id).await.unwrap());
        assert!(!db.delete_token(&t.id).await.unwrap());
        assert!(db.list_tokens().await.unwrap().is_empty());
        drop(db);
        tdb.drop().await;
    }
}

//! Scoped tokens as the management API creates, lists and revokes them.
//!
//! A secret is `aat_` and 64 hex digits of randomness (two version-4 UUIDs, from the operating
//! system's generator); only its SHA-256 is stored, so the catalog cannot give it back. Tokens
//! are high-entropy random strings, so a plain hash is enough: nothing to stretch.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::Grant;
use crate::remotes::FieldError;

/// Most grants one token may carry.
pub const MAX_GRANTS: usize = 64;

/// A token to create (`POST /api/v2/tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// A label for people: who or what uses it.
    pub name: String,
    /// When it stops working (RFC 3339); never, when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    /// What it may do, on which repositories (`*`: all).
    pub scopes: Vec<Grant>,
}

/// A token as it is listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    #[schema(value_type = String)]
    pub id: uuid::Uuid,
    pub name: String,
    pub scopes: Vec<Grant>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

/// Why a token was not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Field(#[from] FieldError),
}

fn field(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

impl NewToken {
    /// Checks the request, naming the field: a name of 1-128 printable characters, 1 to
    /// [`MAX_GRANTS`] grants on repository names or `*`, an expiry in the future.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), TokenError> {
        let name_ok = !self.name.trim().is_empty()
            && self.name.chars().count() <= 128
            && !self.name.chars().any(char::is_control);
        if !name_ok {
            return Err(field("name", "1-128 printable characters").into());
        }
        if self.scopes.is_empty() || self.scopes.len() > MAX_GRANTS {
            return Err(field("scopes", format!("1 to {MAX_GRANTS} grants")).into());
        }
        for (i, g) in self.scopes.iter().enumerate() {
            if g.repository != "*" && !crate::paths::is_repo_name(&g.repository) {
                return Err(field(format!("scopes[{i}].repository"), "a repository name or \"*\"").into());
            }
        }
        if self.expires_at.is_some_and(|e| e <= now) {
            return Err(field("expires_at", "must be in the future").into());
        }
        Ok(())
    }
}

/// A new secret: `aat_` and 64 hex digits.
pub fn secret() -> String {
    format!("aat_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// What the catalog keeps of a secret.
pub fn hash(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

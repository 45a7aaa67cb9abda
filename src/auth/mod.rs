//! Who may do what: `ADMIN_TOKEN`, scoped tokens, and the credentials each client sends.
//!
//! A scoped token grants `read`, `write` or `admin` ([`Scope`], each implying the ones before it)
//! on repositories by name, or on every repository (`*`). Its secret is shown once, when it is
//! created, and stored as its SHA-256 only ([`tokens`]). `ADMIN_TOKEN` is the bootstrap
//! credential: admin on everything. Without `ADMIN_TOKEN` the server is open (every write
//! allowed, a warning at start), as before tokens existed.
//!
//! Each client sends its credential its own way, and all of them end up in an `Authorization`
//! header: npm's `_authToken` and curl as `Bearer TOKEN`; twine, pip, helm and docker as
//! `Basic base64(user:TOKEN)` with any user name ([`credential`]).
//!
//! Every replica keeps the tokens in memory ([`Authorizer`]), loaded from the catalog at start,
//! again whenever any replica announces a change on [`TOKENS_CHANNEL`], and every
//! [`RELOAD_EVERY`] in case an announcement was lost; so a revoked token stops working
//! everywhere within a second.

pub mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};

pub use tokens::{NewToken, TokenError, TokenInfo};

/// The coordinator channel on which replicas announce that tokens changed.
pub const TOKENS_CHANNEL: &str = "aa:tokens";

/// How often every replica reloads the tokens even without an announcement.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// What a grant allows. Each scope implies the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Download.
    Read,
    /// Publish, upload, tag, delete in a local repository.
    Write,
    /// Everything, the management API included (on `*`).
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// One grant of a token: `access` on `repository` (a repository name, or `*` for all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub repository: String,
    pub access: Scope,
}

impl Grant {
    fn covers(&self, repo: &str, need: Scope) -> bool {
        (self.repository == "*" || self.repository == repo) && self.access >= need
    }
}

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credential.
    Anonymous,
    /// `ADMIN_TOKEN`.
    Admin,
    /// A scoped token.
    Token { id: uuid::Uuid, name: String, grants: Vec<Grant> },
}

impl Principal {
    /// Whether this principal holds `need` on `repo` (a repository name, or `*` for the
    /// management API).
    pub fn allows(&self, repo: &str, need: Scope) -> bool {
        match self {
            Principal::Anonymous => false,
            Principal::Admin => true,
            Principal::Token { grants, .. } => grants.iter().any(|g| g.covers(repo, need)),
        }
    }

    /// The name to show in logs and `whoami`.
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::Admin => "admin",
            Principal::Token { name, .. } => name,
        }
    }
}

/// Why a request may not do what it asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential where one is needed (a 401 with the client's own challenge).
    #[error("authentication required: {0}")]
    Missing(String),
    /// A credential that is no known, current token (a 401).
    #[error("the credential is not valid: unknown, revoked or expired token")]
    Invalid,
    /// A valid credential without the scope (a 403 naming it).
    #[error("{who} lacks the {} scope on {repo:?}", need.as_str())]
    Forbidden { who: String, repo: String, need: Scope },
}

impl AuthError {
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing(_) | AuthError::Invalid => 401,
            AuthError::Forbidden { .. } => 403,
        }
    }
}

/// The secret an `Authorization` header carries: `Bearer SECRET`, or `Basic` with any user
/// name and the secret as password. `None` for no header or another scheme.
pub fn credential(authorization: Option<&str>) -> Option<String> {
    let value = authorization?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let t = rest.trim();
        return (!t.is_empty()).then(|| t.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_string());
    }
    None
}

/// A token as every replica keeps it.
#[derive(Debug, Clone)]
struct Known {
    id: uuid::Uuid,
    name: String,
    grants: Vec<Grant>,
    expires_at: Option<chrono::DateTime<Utc>>,
}

/// The credentials of this replica: `ADMIN_TOKEN` and the scoped tokens, by the SHA-256 of
/// their secret.
pub struct Authorizer {
    admin: Option<String>,
    anonymous_reads: bool,
    tokens: RwLock<HashMap<String, Known>>,
}

impl Authorizer {
    pub fn new(admin: Option<String>, anonymous_reads: bool) -> Arc<Authorizer> {
        Arc::new(Authorizer { admin, anonymous_reads, tokens: RwLock::new(HashMap::new()) })
    }

    /// Whether writes need a credential at all (`ADMIN_TOKEN` is set).
    pub fn enforcing(&self) -> bool {
        self.admin.is_some()
    }

    /// Replaces the known tokens.
    pub fn load(&self, tokens: Vec<TokenInfo>, hashes: Vec<String>) {
        let map = tokens
            .into_iter()
            .zip(hashes)
            .map(|(t, h)| (h, Known { id: t.id, name: t.name, grants: t.scopes, expires_at: t.expires_at }))
            .collect();
        if let Ok(mut known) = self.tokens.write() {
            *known = map;
        }
    }

    /// Who the `Authorization` header `authorization` says the request is.
    pub fn principal(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let Some(secret) = credential(authorization) else { return Ok(Principal::Anonymous) };
        if let Some(admin) = &self.admin {
            if crate::http::auth::constant_time_eq(secret.as_bytes(), admin.as_bytes()) {
                return Ok(Principal::Admin);
            }
        }
        let hash = tokens::hash(&secret);
        let known = self.tokens.read().ok().and_then(|t| t.get(&hash).cloned());
        match known {
            Some(k) if k.expires_at.is_none_or(|e| e > Utc::now()) => {
                Ok(Principal::Token { id: k.id, name: k.name, grants: k.grants })
            }
            _ => Err(AuthError::Invalid),
        }
    }

    /// Checks that the request may do `need` on `repo` (`*` for the management API).
    pub fn require(&self, authorization: Option<&str>, repo: &str, need: Scope) -> Result<Principal, AuthError> {
        let open = match need {
            Scope::Read => self.anonymous_reads || !self.enforcing(),
            Scope::Write | Scope::Admin => !self.enforcing(),
        };
        self.decide(authorization, repo, need, open)
    }

    /// As [`Authorizer::require`], but a read needs a grant even when reads are anonymous
    /// (docker locals with `ADMIN_TOKEN_READS=true`).
    pub fn require_always(&self, authorization: Option<&str>, repo: &str, need: Scope) -> Result<Principal, AuthError> {
        self.decide(authorization, repo, need, !self.enforcing())
    }

    fn decide(&self, authorization: Option<&str>, repo: &str, need: Scope, open: bool) -> Result<Principal, AuthError> {
        let principal = match self.principal(authorization) {
            // Without ADMIN_TOKEN nothing is guarded: a client that sends a stale or made-up
            // token (npm always sends its `_authToken`) is simply anonymous.
            Err(AuthError::Invalid) if !self.enforcing() => Principal::Anonymous,
            other => other?,
        };
        if open || principal.allows(repo, need) {
            return Ok(principal);
        }
        match principal {
            Principal::Anonymous => {
                Err(AuthError::Missing(format!("{} access to {repo:?} needs a token", need.as_str())))
            }
            p => Err(AuthError::Forbidden { who: p.name().to_string(), repo: repo.to_string(), need }),
        }
    }
}

/// Loads the tokens from the catalog into `auth` (a failure keeps the tokens known before).
pub async fn reload(auth: &Authorizer, db: &crate::db::Db) {
    match db.load_tokens().await {
        Ok((tokens, hashes)) => auth.load(tokens, hashes),
        Err(e) => tracing::warn!(error = %e, "could not reload tokens; keeping the ones known"),
    }
}

/// Keeps `auth` in step with the catalog: reloads on every announcement on
/// [`TOKENS_CHANNEL`] and every [`RELOAD_EVERY`].
pub fn follow(auth: Arc<Authorizer>, db: crate::db::Db, coord: Arc<dyn artifactapi_actors::coord::Coordinator>) {
    use futures_util::StreamExt;
    let (a, d) = (auth.clone(), db.clone());
    actix_rt::spawn(async move {
        loop {
            tokio::time::sleep(RELOAD_EVERY).await;
            reload(&a, &d).await;
        }
    });
    actix_rt::spawn(async move {
        loop {
            match coord.subscribe(TOKENS_CHANNEL).await {
                Ok(mut changes) => {
                    // Anything announced while not subscribed is caught up at once.
                    reload(&auth, &db).await;
                    while changes.next().await.is_some() {
                        reload(&auth, &db).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot follow token changes; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests;

//! The rule that ties the repository tables together: a virtual lists only remotes and locals
//! that exist and have its package type.
//!
//! The schema enforces it (`migrations/0004_virtual_members.sql`): members are rows of
//! `virtual_members` with foreign keys to the member and to the virtual, both including the
//! package type, so no interleaving of writes can leave a virtual listing a repository that is
//! gone or of another type. The operations on top take row locks so that the loser of a race
//! gets the answer a sequential caller would get, not a foreign-key error:
//!
//! - listing (creating or replacing a virtual) locks the members' rows `FOR SHARE` before it
//!   checks them, so none of them is deleted or retyped until the virtual is written;
//! - deleting a remote or a local, or changing its package type, locks its row `FOR UPDATE`
//!   first ([`lock_listed`]), then reads which virtuals list it in a statement of its own: a
//!   virtual that was listing it has committed by then and is seen, and one that starts later
//!   waits for this transaction and then finds the member gone or changed.
//!
//! Every such write is one transaction and answers with a [`MembershipError`] when the rule
//! refuses it, so the HTTP layer only words the answer.

use deadpool_postgres::Transaction;

use super::specs::StoredSpec;
use super::DbError;
use crate::remotes::FieldError;

/// Why a write was refused for the sake of virtual membership.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// A member of the virtual does not exist or has another package type (`members[i]: ...`,
    /// from [`crate::virtuals::check_members`]).
    #[error("{0}")]
    Member(FieldError),
    /// These virtuals (sorted by name) list the repository: it can be neither deleted nor
    /// change its package type.
    #[error("listed by virtual {}", quoted(.0))]
    Listed(Vec<String>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for MembershipError {
    fn from(e: tokio_postgres::Error) -> Self {
        MembershipError::Db(e.into())
    }
}

/// `"a", "b"`: names as messages show them.
pub fn quoted(names: &[String]) -> String {
    names.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
}

/// A remote or local row locked for deletion or a change of package type.
pub(super) struct Locked {
    /// Its package type as stored.
    pub package_type: String,
    /// The virtuals listing it, sorted by name.
    pub listed_by: Vec<String>,
}

/// Locks remote or local `name` (`T` says which) `FOR UPDATE` and reads what a deletion or a
/// change of type must know; `None` when there is no such repository.
pub(super) async fn lock_listed<T: StoredSpec>(tx: &Transaction<'_>, name: &str) -> Result<Option<Locked>, DbError> {
    let sql = format!("SELECT package_type FROM {} WHERE name = $1 FOR UPDATE", T::TABLE);
    let Some(row) = tx.query_opt(&sql, &[&name]).await? else {
        return Ok(None);
    };
    let package_type: String = row.try_get(0)?;
    // A statement of its own, after the lock: it sees every listing committed before it.
    let sql = format!("SELECT virtual FROM virtual_members WHERE {} = $1 ORDER BY virtual COLLATE \"C\"", T::KIND);
    let listed_by = tx.query(&sql, &[&name]).await?.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
    Ok(Some(Locked { package_type, listed_by }))
}

//! The rule that ties the repository tables together: a virtual lists only remotes and locals
//! that exist and have its package type.
//!
//! Every write the rule constrains (creating or replacing a virtual, deleting a remote or a
//! local, changing a remote's or a local's package type) is one catalog operation that answers
//! with a [`MembershipError`] when the rule refuses it, so the HTTP layer only words the answer.

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

/// `"a", "b"`: names as messages show them.
pub fn quoted(names: &[String]) -> String {
    names.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
}

//! Database errors, sorted by what the caller should do about them.
//!
//! Callers never see driver errors: every failure is one of four kinds. `Unavailable` means the
//! database cannot be reached right now (pool timeout, connection refused or closed, server
//! shutting down) and becomes a 503 that a client may retry; `Conflict` and `NotFound` are
//! answers about the data (409, 404); `Query` is everything else (a bug or a broken schema, 500).

use artifactapi_actors::catalog::CatalogError;
use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// A catalog database error.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement failed for another reason.
    #[error("database query failed: {0}")]
    Query(String),
    /// The row already exists (a unique constraint was violated).
    #[error("{0}")]
    Conflict(String),
    /// The row does not exist.
    #[error("{0}")]
    NotFound(String),
}

impl DbError {
    /// Whether waiting and trying again may help.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }
}

/// SQLSTATEs that mean "the server cannot serve us right now" rather than "this query is wrong".
fn unavailable_state(code: &SqlState) -> bool {
    let c = code.code();
    // 08: connection exception; 53: insufficient resources (too many connections, disk full);
    // 57P01-57P03: admin shutdown, crash shutdown, cannot connect now (starting up).
    c.starts_with("08") || c.starts_with("53") || matches!(c, "57P01" | "57P02" | "57P03")
}

/// Whether an error is about the connection, not the statement: no server error, but the
/// connection is closed, an I/O error happened, or the driver timed out.
fn connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    // Connect timeouts carry no source; the driver's Display is the only sign of them.
    e.to_string().starts_with("timeout waiting for server")
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let mut msg = format!("{}: {}", db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                msg.push_str(&format!(" ({detail})"));
            }
            return if *db.code() == SqlState::UNIQUE_VIOLATION {
                DbError::Conflict(db.message().to_string())
            } else if unavailable_state(db.code()) {
                DbError::Unavailable(msg)
            } else {
                DbError::Query(msg)
            };
        }
        if connection_error(&e) {
            DbError::Unavailable(render(&e))
        } else {
            DbError::Query(render(&e))
        }
    }
}

impl From<PoolError> for DbError {
    /// Not getting a connection is always `Unavailable`: the request cannot proceed now, but
    /// may once the database answers again.
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => match DbError::from(e) {
                DbError::Unavailable(m) | DbError::Query(m) | DbError::Conflict(m) | DbError::NotFound(m) => {
                    DbError::Unavailable(m)
                }
            },
            PoolError::Timeout(kind) => DbError::Unavailable(format!("timed out waiting for a connection ({kind:?})")),
            other => DbError::Unavailable(other.to_string()),
        }
    }
}

impl From<DbError> for CatalogError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(m) => CatalogError::Unavailable(m),
            other => CatalogError::Query(other.to_string()),
        }
    }
}

/// The driver's message with its causes (`error connecting to server: Connection refused`).
pub(crate) fn render(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_states_are_the_connection_ones() {
        for (code, want) in [
            (SqlState::ADMIN_SHUTDOWN, true),
            (SqlState::CANNOT_CONNECT_NOW, true),
            (SqlState::TOO_MANY_CONNECTIONS, true),
            (SqlState::CONNECTION_FAILURE, true),
            (SqlState::UNIQUE_VIOLATION, false),
            (SqlState::SYNTAX_ERROR, false),
            (SqlState::UNDEFINED_TABLE, false),
        ] {
            assert_eq!(unavailable_state(&code), want, "{}", code.code());
        }
    }

    #[test]
    fn catalog_errors_keep_the_unavailable_kind() {
        assert!(matches!(CatalogError::from(DbError::Unavailable("x".into())), CatalogError::Unavailable(_)));
        assert!(matches!(CatalogError::from(DbError::Query("x".into())), CatalogError::Query(_)));
        assert!(matches!(CatalogError::from(DbError::Conflict("x".into())), CatalogError::Query(_)));
    }
}

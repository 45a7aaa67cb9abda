//! What the three repository tables (`remotes`, `virtuals`, `locals`) share: a `name` key and
//! the whole spec as JSON in `spec`. One place decodes a row into its spec and turns a
//! primary-key clash into a message naming the kind of repository.

use serde::de::DeserializeOwned;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use tokio_postgres::Row;

use super::{Db, DbError};

/// A repository spec stored in one of the repository tables.
pub(super) trait StoredSpec: DeserializeOwned {
    /// `remote`, `virtual` or `local`, for messages; for remotes and locals also the column of
    /// `virtual_members` that names them.
    const KIND: &'static str;
    /// The table: `remotes`, `virtuals` or `locals`.
    const TABLE: &'static str;
    /// What specs are read from: the table, or a view that completes its rows (`name`, `spec`).
    const SOURCE: &'static str = Self::TABLE;
    /// The table's primary-key constraint, e.g. `remotes_pkey`.
    const PKEY: &'static str;
    /// The row's name wins over whatever name the stored JSON carries.
    fn set_name(&mut self, name: String);
}

/// Decodes a `(name, spec)` row.
pub(super) fn spec_from_row<T: StoredSpec>(row: &Row) -> Result<T, DbError> {
    let name: String = row.try_get("name")?;
    let Json(mut spec): Json<T> = row
        .try_get("spec")
        .map_err(|e| DbError::Query(format!("stored spec of {} {name:?}: {}", T::KIND, super::error::render(&e))))?;
    spec.set_name(name);
    Ok(spec)
}

impl Db {
    /// Every spec of one repository table, sorted by name.
    pub(super) async fn list_specs<T: StoredSpec>(&self) -> Result<Vec<T>, DbError> {
        let client = self.client().await?;
        let sql = format!("SELECT name, spec FROM {} ORDER BY name COLLATE \"C\"", T::SOURCE);
        let rows = client.query(&sql, &[]).await?;
        rows.iter().map(spec_from_row::<T>).collect()
    }

    /// The spec named `name` in one repository table.
    pub(super) async fn get_spec<T: StoredSpec>(&self, name: &str) -> Result<Option<T>, DbError> {
        let client = self.client().await?;
        let sql = format!("SELECT name, spec FROM {} WHERE name = $1", T::SOURCE);
        let row = client.query_opt(&sql, &[&name]).await?;
        row.as_ref().map(spec_from_row::<T>).transpose()
    }
}

/// Turns a clash on the table's primary key into a `Conflict` naming the repository.
pub(super) fn conflict<T: StoredSpec>(name: &str, e: tokio_postgres::Error) -> DbError {
    let is_pk =
        e.code() == Some(&SqlState::UNIQUE_VIOLATION) && e.as_db_error().and_then(|d| d.constraint()) == Some(T::PKEY);
    if is_pk {
        DbError::Conflict(format!("a {} repository named \"{name}\" already exists", T::KIND))
    } else {
        DbError::from(e)
    }
}

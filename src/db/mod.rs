//! The catalog in PostgreSQL (to be written).

//! Test doubles shared by the integration tests of this crate.

pub mod memory_catalog;

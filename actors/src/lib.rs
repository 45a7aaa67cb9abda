//! The actor core of artifactapi.
//!
//! This crate holds everything that moves bytes and owns long-lived state, and nothing that
//! speaks HTTP to clients: it never depends on actix-web or on the service crate. The service
//! crate (`src/`) parses requests, decides what a path means for its package type, and then asks
//! the actors here to fetch, cache and store:
//!
//! - [`remote::RemoteActor`], one per configured remote: the upstream client, the circuit
//!   breaker, freshness and in-flight coalescing of cold fetches through a spool file.
//! - [`storage::StorageActor`], one per process: the only way bytes become visible in the
//!   content-addressable store, and the garbage collector.
//! - [`storage::BlobStore`]: the content-addressable store itself (filesystem or S3).
//!
//! The catalog (PostgreSQL) and the coordinator (Redis or in-process) are reached through the
//! [`catalog::Catalog`] and [`coord::Coordinator`] traits, implemented by the service crate.

pub mod apk;
pub mod catalog;
pub mod coord;
pub mod digest;
pub mod events;
pub mod integrity;
pub mod memory;
pub mod remote;
pub mod storage;

pub use digest::Digest;

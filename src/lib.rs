//! artifactapi: a caching proxy and artifact registry for package repositories.
//!
//! The service crate: configuration, the HTTP surface, the package formats, the catalog
//! (PostgreSQL) and the coordinator (Redis or in-process). The actors that fetch, cache and
//! store live in the `artifactapi-actors` crate.

pub mod auth;
pub mod config;
pub mod coord;
pub mod db;
pub mod docker_local;
pub mod events;
pub mod formats;
pub mod gc_schedule;
pub mod http;
pub mod locals;
pub mod objects;
pub mod observe;
pub mod paths;
pub mod probe;
pub mod registry;
pub mod remotes;
pub mod serve;
pub mod server;
pub mod signing;
pub mod state;
pub mod tls;
pub mod tui;
pub mod ui;
pub mod virtuals;

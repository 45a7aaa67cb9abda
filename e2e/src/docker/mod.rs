//! Docker/OCI test parts: a real registry upstream, a front that counts (and can demand tokens),
//! and images built with the real tools.
//!
//! - [`registry`]: Debian's `docker-registry` (CNCF distribution 2.8) on a free port, with its
//!   storage in a temporary directory, optionally with `htpasswd` (basic) auth.
//! - [`front`]: a small HTTP server in front of a registry that records every request (so tests
//!   count upstream blob GETs), can demand Bearer tokens it issues itself from a token endpoint on
//!   another address (recording whether credentials reached it), can corrupt one blob, and can
//!   go down and come back.
//! - [`images`]: OCI layouts built with `umoci` (single-platform images, plus a two-platform index
//!   written next to them), and `skopeo`/`podman` runs with their output on failure.

pub mod front;
pub mod images;
pub mod registry;

pub use front::{Front, FrontAuth, FrontSeen};
pub use images::{podman, push, skopeo, skopeo_unchecked, Layout, ACCEPT_MANIFESTS};
pub use registry::Registry;

//! rpm remotes whose `primary.xml` places packages on other hosts (`xml:base`): the snapshot
//! clients are served names a copy of primary without those bases, so dnf downloads every
//! package through the remote ([`crate::formats::rpm::rebase`]).
//!
//! When a new upstream `repomd.xml` becomes the snapshot and its primary (already fetched and
//! checked) lists a package with an `xml:base`, a copy of primary without the bases is made
//! (one streamed pass), stored under its own checksum, and the snapshot becomes a copy of
//! `repomd.xml` naming it. The upstream's copy is kept beside the snapshot (variant
//! [`SOURCE`]): packages are looked up in the upstream's primary, so the remote fetches each
//! from the host its `xml:base` names, under the private-address rule of every fetch a remote
//! makes from a host other than its own. A rewritten `repomd.xml` is no longer the one the
//! upstream signed: such a snapshot is served without `repomd.xml.asc` (`404`), so clients
//! that require a signed repository (`repo_gpgcheck=1`) refuse it rather than trust it.

use std::io::Write;

use artifactapi_actors::catalog::{CachedObject, Catalog, ObjectKey};
use artifactapi_actors::digest::{Digest, Hasher};

use super::documents::read_whole;
use super::{ServeError, Service};
use crate::db::PgCatalog;
use crate::formats::rpm::rebase::{replace_data, strip_bases, Replacement};
use crate::formats::rpm::repomd::{DataFile, MetadataError};
use crate::formats::rpm::repomd_path;
use crate::formats::Rendered;
use crate::registry::RemoteEntry;

/// The variant of the upstream's `repomd.xml` copy the current snapshot was made from.
pub const SOURCE: &str = "rpm-snapshot-source";

/// Largest `repomd.xml` rewritten (real ones are a few KB).
const MAX_REPOMD: u64 = 4 << 20;

/// A writer that hashes and counts what passes into it.
struct Hashing<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A primary copied without its bases: the gzip bytes, the digest and size of its contents,
/// and how many bases were removed.
struct Stripped {
    gz: Vec<u8>,
    open_digest: Digest,
    open_size: u64,
    stripped: u64,
}

fn catalog_error(e: impl std::fmt::Display) -> ServeError {
    ServeError::Unavailable(format!("catalog: {e}"))
}

impl Service {
    /// The key of the upstream copy the snapshot of `dir` was made from.
    pub(super) fn rpm_source_key(entry: &RemoteEntry, dir: &str) -> ObjectKey {
        ObjectKey::new(&entry.remote.spec.name, repomd_path(dir), SOURCE)
    }

    /// The upstream `repomd.xml` the snapshot `snapshot` of `dir` was made from (the snapshot
    /// itself when it was not rewritten, or was published before sources were recorded).
    pub(super) async fn rpm_source(
        &self,
        entry: &RemoteEntry,
        dir: &str,
        snapshot: CachedObject,
    ) -> Result<CachedObject, ServeError> {
        let catalog = PgCatalog::new(self.db.clone());
        Ok(catalog.lookup(&Self::rpm_source_key(entry, dir)).await.map_err(catalog_error)?.unwrap_or(snapshot))
    }

    /// The `repomd.xml` to serve for the upstream copy `incoming` of `dir`, whose data files
    /// `files` are all committed: `incoming` itself, or a copy naming a primary without the
    /// `xml:base`s that would send clients to other hosts.
    pub(super) async fn rpm_served_copy(
        &self,
        entry: &RemoteEntry,
        dir: &str,
        incoming: &CachedObject,
        files: &[DataFile],
    ) -> Result<CachedObject, ServeError> {
        let name = &entry.remote.spec.name;
        let Some(primary) = files.iter().find(|f| f.kind == "primary") else { return Ok(incoming.clone()) };
        let object = self.rpm_data_file(entry, dir, primary).await?;
        let based = match self.rpm_index(&object, &primary.href).await? {
            Some(index) => index.values().any(|e| e.as_ref().is_some_and(|e| e.base.is_some())),
            // Too large to index: the stripping pass below tells.
            None => true,
        };
        if !based {
            return Ok(incoming.clone());
        }
        let stripped = self
            .rpm_read(&object, &primary.href, |input| {
                let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                let mut out = Hashing { inner: gz, hasher: Hasher::new() };
                let stripped = strip_bases(input, &mut out)?;
                let (open_digest, open_size) = out.hasher.clone().finish();
                let gz = out.inner.finish().map_err(|e| MetadataError::Xml(format!("compressing: {e}")))?;
                Ok(Stripped { gz, open_digest, open_size, stripped })
            })
            .await?;
        if stripped.stripped == 0 {
            return Ok(incoming.clone());
        }
        let stored = self.renders.store(&Rendered::new(stripped.gz, "application/gzip")).await?;
        let href = format!("repodata/{}-primary.xml.gz", stored.digest.hex());
        let new = Replacement {
            href: href.clone(),
            sha256: stored.digest.hex(),
            size: stored.size,
            open_sha256: stripped.open_digest.hex(),
            open_size: stripped.open_size,
        };
        let catalog = PgCatalog::new(self.db.clone());
        let variant = format!("{:?}", artifactapi_actors::integrity::Integrity::Sha256(stored.digest));
        let copy = CachedObject {
            key: ObjectKey::new(name, format!("{dir}{href}"), variant),
            digest: stored.digest,
            size: stored.size,
            content_type: Some("application/gzip".into()),
            upstream_etag: None,
            upstream_last_modified: None,
            mutable: false,
            fetched_at: chrono::Utc::now(),
        };
        catalog.put_object(&copy).await.map_err(catalog_error)?;
        let what = format!("remote {name}: {:?}", incoming.key.path);
        if incoming.size > MAX_REPOMD {
            return Err(ServeError::BadGateway(format!("{what} is larger than {MAX_REPOMD} bytes")));
        }
        let body = read_whole(&*self.store, &what, &incoming.digest, incoming.size).await?;
        let rewritten =
            replace_data(&body, "primary", &new).map_err(|e| ServeError::BadGateway(format!("{what}: {e}")))?;
        let stored = self.renders.store(&Rendered::new(rewritten, "text/xml")).await?;
        tracing::info!(repo = %name, dir, bases = stripped.stripped, "rpm: primary served without xml:base");
        Ok(CachedObject {
            digest: stored.digest,
            size: stored.size,
            content_type: Some("text/xml".into()),
            upstream_etag: None,
            upstream_last_modified: None,
            ..incoming.clone()
        })
    }
}

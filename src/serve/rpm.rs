//! rpm remotes: one consistent snapshot per repository directory.
//!
//! A dnf client reads `repodata/repomd.xml`, then the data files it names, then packages that
//! `primary` lists. If the proxy served a new `repomd.xml` while it still had only the old data
//! files (or the reverse), the client would fail on a checksum mismatch or, worse, install from
//! a mix of two states. So each repository directory has two copies of its `repomd.xml`:
//!
//! - the upstream's latest copy (variant `""`), a held document like any other: fetched,
//!   parsed before it is cached, revalidated after `mutable_ttl`;
//! - the *snapshot* (variant [`SNAPSHOT`]), the copy clients are served. A new upstream copy
//!   becomes the snapshot only after every data file it names was fetched, checked against its
//!   checksum and committed (each under its path and checksum, so snapshots never share a copy
//!   even when the upstream reuses file names). If one of them is missing or does not match,
//!   the request answers 502 and the old snapshot stays, with all its files.
//!
//! Data files are served from the snapshot's `repomd.xml`; packages are looked up in the
//! snapshot's `primary` (read as a stream, see [`crate::formats::rpm::primary`]) and checked
//! against its checksum before they are cached; an `xml:base` sends the fetch there, and the
//! primary clients are served has none ([`super::rpm_rebase`]). A repository on a mirror that
//! the remote's mirror lists or metalinks name (`_mirror/...`, [`super::rpm_mirrors`]) is served
//! the same way, fetched from that mirror.

use std::sync::Arc;

use artifactapi_actors::catalog::{CachedObject, Catalog, ObjectKey};
use artifactapi_actors::remote::{CacheStatus, FetchOutcome};
use futures_util::{StreamExt, TryStreamExt};

use super::documents::{blocking, read_whole};
use super::fetch::{held, key, upstream_url};
use super::kept::Kept;
use super::{Outcome, ServeError, Service};
use crate::db::PgCatalog;
use crate::formats::files::file_target;
use crate::formats::rpm::primary::{self, Index, PackageEntry};
use crate::formats::rpm::repomd::{self, plain_relative, DataFile, MetadataError};
use crate::formats::rpm::{compression, mirrors, package_dirs, repomd_path, Endpoint, Rpm};
use crate::formats::{Doc, Target};
use crate::paths::RepoPath;
use crate::registry::RemoteEntry;

/// The variant of the `repomd.xml` copy clients are served.
pub const SNAPSHOT: &str = "rpm-snapshot";
/// The variant of the snapshot before it, whose data files are still served to clients that
/// read its `repomd.xml` just before the switch.
pub const PREVIOUS: &str = "rpm-snapshot-previous";

/// Largest `repomd.xml` read (real ones are a few KB).
const MAX_REPOMD: u64 = 4 << 20;

/// How long a data file that streamed to its end may take to appear in the catalog.
const COMMIT_POLL: std::time::Duration = std::time::Duration::from_millis(20);
const COMMIT_POLLS: u32 = 1500;

fn catalog_error(e: impl std::fmt::Display) -> ServeError {
    ServeError::Unavailable(format!("catalog: {e}"))
}

/// The URL of `href` below `base` (an `xml:base`), if that is an http(s) URL.
fn below(base: &str, href: &str) -> Option<String> {
    let base = if base.ends_with('/') { base.to_string() } else { format!("{base}/") };
    let u = url::Url::parse(&base).ok()?.join(href).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.to_string())
}

/// Where `target` is upstream: on its mirror for a path below `_mirror/`, else below the base
/// URL.
fn rpm_url(entry: &RemoteEntry, target: &Target) -> String {
    mirrors::mirror_url(&target.upstream).unwrap_or_else(|| upstream_url(entry, target))
}

impl Service {
    /// A request to an rpm remote, already parsed and allowed by the remote's access rules.
    pub(super) async fn rpm(&self, entry: &RemoteEntry, e: &Endpoint) -> Result<Outcome, ServeError> {
        let (e, mirrored) = match e {
            Endpoint::Mirrors { .. } => return self.rpm_mirrors(entry, e).await,
            Endpoint::Mirrored { url, inner } => {
                self.rpm_mirror_allowed(entry, url).await?;
                (inner.as_ref(), true)
            }
            e => (e, false),
        };
        match e {
            Endpoint::Repomd { dir, .. } => {
                let (snapshot, status) = self.rpm_snapshot(entry, dir).await?;
                Ok(Outcome::stored(&snapshot, status))
            }
            Endpoint::Data { path, dir } => {
                let rel = &path.as_str()[dir.len()..];
                let (snapshot, _) = self.rpm_current(entry, dir).await?;
                let mut file = self.rpm_files(entry, &snapshot).await?.into_iter().find(|f| f.href == rel);
                if file.is_none() {
                    // A client that read the previous repomd.xml just before the switch.
                    let key = ObjectKey::new(&entry.remote.spec.name, repomd_path(dir), PREVIOUS);
                    let catalog = PgCatalog::new(self.db.clone());
                    if let Some(previous) = catalog.lookup(&key).await.map_err(catalog_error)? {
                        file = self.rpm_files(entry, &previous).await?.into_iter().find(|f| f.href == rel);
                    }
                }
                let file = file.filter(|f| f.base.is_none()).ok_or_else(|| {
                    ServeError::NotFound(format!(
                        "{}: {:?} is not named by the current or the previous snapshot's repomd.xml",
                        entry.remote.spec.name,
                        path.as_str()
                    ))
                })?;
                let object = self.rpm_data_file(entry, dir, &file).await?;
                Ok(Outcome::stored(&object, CacheStatus::Hit))
            }
            Endpoint::Signature { path, dir } => {
                let (snapshot, status) = self.rpm_current(entry, dir).await?;
                let target = Target { variant: snapshot.digest.hex(), ..file_target(path) };
                let catalog = PgCatalog::new(self.db.clone());
                match catalog.lookup(&key(entry, &target)).await.map_err(catalog_error)? {
                    Some(signature) => Ok(Outcome::stored(&signature, status)),
                    None => Err(ServeError::NotFound(format!(
                        "{}: the current snapshot's repomd.xml has no signature upstream",
                        entry.remote.spec.name
                    ))),
                }
            }
            Endpoint::Package(path) => self.rpm_package(entry, e, path).await,
            Endpoint::Other(path) if mirrored => Err(ServeError::NotFound(format!(
                "{}: {:?}: only repositories are served from mirrors",
                entry.remote.spec.name,
                path.as_str()
            ))),
            Endpoint::Other(path) => self.bytes(&Rpm, entry, e, file_target(path)).await,
            Endpoint::Mirrors { .. } | Endpoint::Mirrored { .. } => {
                Err(ServeError::Internal(format!("{}: a mirror path inside a mirror path", entry.remote.spec.name)))
            }
        }
    }

    fn rpm_snapshot_key(entry: &RemoteEntry, dir: &str) -> ObjectKey {
        ObjectKey::new(&entry.remote.spec.name, repomd_path(dir), SNAPSHOT)
    }

    /// The snapshot of `dir` as it is, or a first one when there is none yet.
    async fn rpm_current(&self, entry: &RemoteEntry, dir: &str) -> Result<(CachedObject, CacheStatus), ServeError> {
        let catalog = PgCatalog::new(self.db.clone());
        match catalog.lookup(&Self::rpm_snapshot_key(entry, dir)).await.map_err(catalog_error)? {
            Some(snapshot) => Ok((snapshot, CacheStatus::Hit)),
            None => self.rpm_snapshot(entry, dir).await,
        }
    }

    /// The data files the `repomd.xml` copy `object` names.
    async fn rpm_files(&self, entry: &RemoteEntry, object: &CachedObject) -> Result<Vec<DataFile>, ServeError> {
        let what = format!("remote {}: {:?}", entry.remote.spec.name, object.key.path);
        if object.size > MAX_REPOMD {
            return Err(ServeError::BadGateway(format!("{what} is larger than {MAX_REPOMD} bytes")));
        }
        let body = read_whole(&*self.store, &what, &object.digest, object.size).await?;
        repomd::parse(&body).map_err(|e| ServeError::BadGateway(format!("{what}: {e}")))
    }

    /// The snapshot clients of `dir` are served: the upstream's latest `repomd.xml` once all
    /// its data files are committed, else the previous snapshot.
    async fn rpm_snapshot(&self, entry: &RemoteEntry, dir: &str) -> Result<(CachedObject, CacheStatus), ServeError> {
        let name = &entry.remote.spec.name;
        let catalog = PgCatalog::new(self.db.clone());
        let snap_key = Self::rpm_snapshot_key(entry, dir);
        let current = catalog.lookup(&snap_key).await.map_err(catalog_error)?;
        let path = RepoPath::from_decoded(&repomd_path(dir))
            .map_err(|e| ServeError::Internal(format!("{name}: repomd path of {dir:?}: {e}")))?;
        let e = Endpoint::Repomd { path: path.clone(), dir: dir.to_string() };
        let target = file_target(&path).document(&Doc { variant: "", accept: "" });
        let url = rpm_url(entry, &target);
        let (incoming, status) = match self.source_at(&Rpm, entry, &e, &target, url).await {
            Ok(found) => found,
            Err(err) => {
                return match current {
                    // The upstream is down or sent a broken repomd.xml: the snapshot stays.
                    Some(snapshot) if !matches!(err, ServeError::NotFound(_) | ServeError::Gone(_)) => {
                        tracing::warn!(repo = %name, dir, error = %err, "rpm: serving the previous snapshot");
                        Ok((snapshot, CacheStatus::Stale))
                    }
                    _ => Err(err),
                };
            }
        };
        if let Some(snapshot) = current.as_ref() {
            let source = self.rpm_source(entry, dir, snapshot.clone()).await?;
            if source.digest == incoming.digest {
                return Ok((snapshot.clone(), status));
            }
        }
        let files = self.rpm_files(entry, &incoming).await?;
        let repomd = path.as_str();
        let fetches = files.iter().map(|file| async move {
            self.rpm_data_file(entry, dir, file).await.map_err(|err| {
                ServeError::BadGateway(format!(
                    "{name}: {repomd:?} names {:?}, which could not be fetched and checked ({}): the previous snapshot stays",
                    file.href,
                    err
                ))
            })
        });
        futures_util::future::try_join_all(fetches).await?;
        self.rpm_signature(entry, dir, &incoming).await.map_err(|err| {
            ServeError::BadGateway(format!("{name}: the signature of {repomd:?}: {err}: the previous snapshot stays"))
        })?;
        let served = self.rpm_served_copy(entry, dir, &incoming, &files).await?;
        if let Some(current) = current {
            let key = ObjectKey::new(name, repomd_path(dir), PREVIOUS);
            catalog.put_object(&CachedObject { key, ..current }).await.map_err(catalog_error)?;
        }
        let source = CachedObject { key: Self::rpm_source_key(entry, dir), mutable: true, ..incoming };
        catalog.put_object(&source).await.map_err(catalog_error)?;
        let snapshot = CachedObject { key: snap_key, mutable: true, ..served };
        catalog.put_object(&snapshot).await.map_err(catalog_error)?;
        tracing::info!(repo = %name, dir, files = files.len(), "rpm: new snapshot");
        Ok((snapshot, status))
    }

    /// The data file `file` of `dir`, committed: from the cache, or fetched, checked against
    /// the checksum `repomd.xml` gives it, and cached before this returns.
    pub(super) async fn rpm_data_file(
        &self,
        entry: &RemoteEntry,
        dir: &str,
        file: &DataFile,
    ) -> Result<CachedObject, ServeError> {
        let name = &entry.remote.spec.name;
        if !plain_relative(&file.href) {
            return Err(ServeError::BadGateway(format!("{name}: data file {:?} is no plain relative path", file.href)));
        }
        let path = RepoPath::from_decoded(&format!("{dir}{}", file.href))
            .map_err(|e| ServeError::BadGateway(format!("{name}: data file {:?}: {e}", file.href)))?;
        let target = Target { variant: file.variant(), ..file_target(&path) };
        let object_key = key(entry, &target);
        if let Some(object) = self.hot(entry, &object_key) {
            return Ok(object);
        }
        let url = match &file.base {
            Some(base) => below(base, &file.href)
                .ok_or_else(|| ServeError::BadGateway(format!("{name}: xml:base {base:?} is no http(s) URL")))?,
            None => rpm_url(entry, &target),
        };
        let e = Endpoint::Data { path, dir: dir.to_string() };
        let fetched = self.send(&Rpm, entry, &e, &target, url, Some(file.checksum.clone())).await?;
        self.rpm_committed(entry, &target, fetched).await
    }

    /// The upstream's `repomd.xml.asc` for the `repomd.xml` copy `repomd`, if it has one,
    /// cached under that copy's digest before the copy becomes the snapshot.
    async fn rpm_signature(
        &self,
        entry: &RemoteEntry,
        dir: &str,
        repomd: &CachedObject,
    ) -> Result<Option<CachedObject>, ServeError> {
        let name = &entry.remote.spec.name;
        let path = RepoPath::from_decoded(&format!("{}.asc", repomd_path(dir)))
            .map_err(|e| ServeError::Internal(format!("{name}: signature path of {dir:?}: {e}")))?;
        let target = Target { variant: repomd.digest.hex(), ..file_target(&path) };
        if let Some(object) = self.hot(entry, &key(entry, &target)) {
            return Ok(Some(object));
        }
        let url = rpm_url(entry, &target);
        let e = Endpoint::Signature { path, dir: dir.to_string() };
        match self.send(&Rpm, entry, &e, &target, url, None).await? {
            FetchOutcome::NotFound { .. } => Ok(None),
            fetched => self.rpm_committed(entry, &target, fetched).await.map(Some),
        }
    }

    /// The object a fetch of `target` committed: a streamed body is read to its end first (the
    /// fill checks it and commits it as the bytes pass).
    async fn rpm_committed(
        &self,
        entry: &RemoteEntry,
        target: &Target,
        fetched: FetchOutcome,
    ) -> Result<CachedObject, ServeError> {
        let name = &entry.remote.spec.name;
        let object_key = key(entry, target);
        match fetched {
            FetchOutcome::Download(mut download) => {
                // Read to the end: the fill checks the checksum and commits as the bytes pass.
                while let Some(chunk) = download.body.next().await {
                    chunk.map_err(|e| ServeError::BadGateway(format!("{name}: {:?}: {e}", target.path)))?;
                }
                // The fill commits right after the last byte passed: wait for the row.
                let catalog = PgCatalog::new(self.db.clone());
                for _ in 0..COMMIT_POLLS {
                    if let Some(object) = catalog.lookup(&object_key).await.map_err(catalog_error)? {
                        return Ok(object);
                    }
                    tokio::time::sleep(COMMIT_POLL).await;
                }
                Err(ServeError::BadGateway(format!("{name}: {:?} was not committed", target.path)))
            }
            other => held(name, other, &target.path).map(|(object, _)| object),
        }
    }

    /// A package: from the cache, or from where the snapshot's `primary` says, checked against
    /// its checksum before it is cached.
    async fn rpm_package(&self, entry: &RemoteEntry, e: &Endpoint, path: &RepoPath) -> Result<Outcome, ServeError> {
        let name = &entry.remote.spec.name;
        let target = file_target(path);
        if let Some(object) = self.hot(entry, &key(entry, &target)) {
            return Ok(Outcome::stored(&object, CacheStatus::Hit));
        }
        let (dir, snapshot) = self.rpm_snapshot_of(entry, path.as_str()).await?;
        // Packages are looked up in the upstream's own primary, with its xml:base.
        let source = self.rpm_source(entry, &dir, snapshot).await?;
        let files = self.rpm_files(entry, &source).await?;
        let primary = files
            .iter()
            .find(|f| f.kind == "primary")
            .ok_or_else(|| ServeError::BadGateway(format!("{name}: {:?} names no primary", source.key.path)))?;
        let object = self.rpm_data_file(entry, &dir, primary).await?;
        let rel = path.as_str()[dir.len()..].to_string();
        let found = self.rpm_find(&object, &primary.href, rel).await?.ok_or_else(|| {
            ServeError::NotFound(format!("{name}: {:?} is not listed in {:?}", path.as_str(), primary.href))
        })?;
        let PackageEntry { href, base, checksum } = found;
        let url = match base {
            Some(base) => below(&base, &href)
                .ok_or_else(|| ServeError::BadGateway(format!("{name}: xml:base {base:?} is no http(s) URL")))?,
            None => rpm_url(entry, &target),
        };
        let fetched = self.send(&Rpm, entry, e, &target, url, Some(checksum)).await?;
        super::fetch::outcome(name, fetched, &target.path, None)
    }

    /// The repository directory of package `path` and its snapshot: the nearest ancestor
    /// folder that has one, else the root's (fetched now if need be).
    async fn rpm_snapshot_of(&self, entry: &RemoteEntry, path: &str) -> Result<(String, CachedObject), ServeError> {
        let catalog = PgCatalog::new(self.db.clone());
        for dir in package_dirs(path) {
            if let Some(snapshot) = catalog.lookup(&Self::rpm_snapshot_key(entry, &dir)).await.map_err(catalog_error)? {
                return Ok((dir, snapshot));
            }
        }
        let (snapshot, _) = self.rpm_snapshot(entry, "").await?;
        Ok((String::new(), snapshot))
    }

    /// The index of the stored `primary` data file `object` (named `name` upstream), made by
    /// one streamed read on a blocking thread the first time and kept; `None` for a primary
    /// too large to index.
    pub(super) async fn rpm_index(&self, object: &CachedObject, name: &str) -> Result<Option<Arc<Index>>, ServeError> {
        if let Some(index) = self.rpm_indexes.get(&object.digest) {
            return Ok(Some(index));
        }
        let index = self.rpm_read(object, name, move |input| primary::index(input, MAX_INDEXED)).await?;
        Ok(index.map(|index| self.rpm_indexes.put(object.digest, Arc::new(index))))
    }

    /// Looks `href` up in the stored `primary` data file `object` (named `name` upstream):
    /// in its index ([`Service::rpm_index`]), or as a stream for a primary too large to index.
    async fn rpm_find(
        &self,
        object: &CachedObject,
        name: &str,
        href: String,
    ) -> Result<Option<PackageEntry>, ServeError> {
        let Some(index) = self.rpm_index(object, name).await? else {
            return self.rpm_read(object, name, move |input| primary::find(input, &href)).await;
        };
        match index.get(&href) {
            None => Ok(None),
            Some(Some(entry)) => Ok(Some(entry.clone())),
            Some(None) => Err(ServeError::BadGateway(format!("{name}: {href:?} has no checksum of a known algorithm"))),
        }
    }

    /// Runs `read` on the decompressed stored data file `object` (named `name` upstream), as a
    /// stream on a blocking thread.
    pub(super) async fn rpm_read<T: Send + 'static>(
        &self,
        object: &CachedObject,
        name: &str,
        read: impl FnOnce(Box<dyn std::io::BufRead>) -> Result<T, MetadataError> + Send + 'static,
    ) -> Result<T, ServeError> {
        let _permit = self.renders.permit().await?;
        let stream = self
            .store
            .open(&object.digest, None)
            .await
            .map_err(|e| ServeError::Unavailable(format!("storage: {name}: {e}")))?;
        let reader = tokio_util::io::StreamReader::new(stream.map_err(std::io::Error::other));
        let bridge = tokio_util::io::SyncIoBridge::new(reader);
        let what = name.to_string();
        blocking(move || compression::decompressed(&what, bridge).and_then(read))
            .await?
            .map_err(|e| ServeError::BadGateway(format!("{name}: {e}")))
    }
}

/// Most packages of one `primary.xml` indexed in memory (about 150 bytes each).
const MAX_INDEXED: usize = 100_000;
/// How many `primary.xml` indexes are kept, the most recently made first.
const KEPT: usize = 2;

/// The indexes of the `primary.xml` files packages were last looked up in, by digest: a
/// `dnf install` of many packages reads its primary once, not once per package.
pub type PrimaryIndexes = Kept<Index>;

pub fn primary_indexes() -> PrimaryIndexes {
    Kept::new(KEPT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_base_resolves_like_dnf() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("http://m/el9/", "Packages/a.rpm", Some("http://m/el9/Packages/a.rpm")),
            ("http://m/el9", "Packages/a.rpm", Some("http://m/el9/Packages/a.rpm")),
            ("file:///etc/", "passwd", None),
            ("not a url", "a.rpm", None),
        ];
        for (base, href, want) in cases {
            assert_eq!(below(base, href).as_deref(), *want, "{base} {href}");
        }
    }
}

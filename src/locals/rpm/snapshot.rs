//! The metadata of an rpm local, generated from its packages' records after every change and
//! published as one snapshot.
//!
//! Why stored files rather than documents rendered on request like the other locals'
//! (`crate::serve::locals`): `repomd.xml` names its data files by their checksums, and a client
//! reads `repomd.xml` first and the data files after. A rendered document lives for one
//! generation of the local, so an upload between those two reads would leave the client with a
//! `repomd.xml` whose files are gone. Here each generation's data files are stored as the
//! local's files under content-addressed names (`repodata/{sha256}-primary.xml.gz`), and
//! `repomd.xml` (with its signature, `repomd.xml.asc`) is replaced in the same transaction that adds them: a
//! client sees the old `repomd.xml` with its old files or the new one with its new files, never
//! a mix. The previous snapshot's data files are kept, so a client that read the old
//! `repomd.xml` just before the switch still gets them; older ones go (their blobs to GC).
//!
//! Generating reads the state at one generation of the local and publishes only if the local
//! is still at that generation; when a concurrent write moved it, the state is read again.
//! Every write regenerates after its own change is committed, so the last one always
//! publishes a snapshot that includes every change.

use super::REPODATA;
use crate::db::local_files::LocalFile;
use crate::formats::rpm::package::Package;
use crate::formats::rpm::repodata::{self, Generated};
use crate::formats::rpm::repomd;
use crate::locals::bodies::read_file;
use crate::locals::files::LocalFiles;
use crate::locals::LocalError;

/// Where the snapshot's `repomd.xml` is.
pub const REPOMD: &str = "repodata/repomd.xml";
/// The armored detached signature of `repomd.xml` by the server's key ([`crate::signing`]),
/// replaced with it in the same transaction.
pub const SIGNATURE: &str = "repodata/repomd.xml.asc";
/// The server's armored public key, what `gpgkey=` points at for `repo_gpgcheck=1`.
pub const KEY: &str = "repodata/repomd.xml.key";
/// How often a snapshot is generated again when concurrent writes moved the local meanwhile
/// (each of those writes then regenerates too).
const ATTEMPTS: usize = 5;
/// Largest `repomd.xml` read back.
const MAX_REPOMD: u64 = 1 << 20;

/// The packages' records of local `repo`, in location order.
fn records(packages: &crate::formats::LocalPackages) -> Result<Vec<Package>, LocalError> {
    let mut out = packages
        .published()
        .map(|v| {
            serde_json::from_value::<Package>(v.metadata.clone())
                .map_err(|e| LocalError::Internal(format!("the record of {} {}: {e}", v.package, v.version)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(out)
}

/// The data files the current `repomd.xml` of `repo` names (none when there is none yet).
async fn current_files(files: &LocalFiles, repo: &str) -> Result<Vec<String>, LocalError> {
    let Some(file) = files.db.local_file(repo, REPOMD).await? else { return Ok(Vec::new()) };
    let body = read_file(files, &file, MAX_REPOMD).await?;
    let named = repomd::parse(&body).map_err(|e| LocalError::Internal(format!("{repo}: stored {REPOMD}: {e}")))?;
    Ok(named.into_iter().map(|d| d.href).collect())
}

/// Generates the metadata of local `repo` from what it holds now and publishes it.
pub async fn regenerate(files: &LocalFiles, repo: &str) -> Result<(), LocalError> {
    for _ in 0..ATTEMPTS {
        let generation = files.db.local_generation(repo).await?;
        let packages = records(&files.db.local_packages(repo, None).await?)?;
        let mut keep = current_files(files, repo).await?;
        let now = chrono::Utc::now().timestamp();
        let count = packages.len();
        let generated = tokio::task::spawn_blocking(move || repodata::generate(&packages, now))
            .await
            .map_err(|e| LocalError::Internal(format!("generating repodata: {e}")))?
            .map_err(|e| LocalError::Internal(format!("generating repodata: {e}")))?;
        let stored = store(files, &generated).await?;
        keep.extend(stored.iter().map(|f| f.path.clone()));
        if files.db.publish_local_snapshot(repo, generation, REPODATA, &stored, &keep).await? {
            tracing::info!(repo, packages = count, "rpm: new repodata snapshot");
            return Ok(());
        }
    }
    // Writes kept arriving: the last of them publishes the snapshot that includes this one.
    tracing::info!(repo, "rpm: repodata left to a later write");
    Ok(())
}

/// Commits the generated files to the blob store; their file records.
async fn store(files: &LocalFiles, g: &Generated) -> Result<Vec<LocalFile>, LocalError> {
    let mut out = Vec::with_capacity(g.data.len() + 1);
    for d in &g.data {
        let committed = files.commit_bytes(&d.body).await?;
        out.push(LocalFiles::file(&d.href, &committed, Some("application/gzip")));
    }
    let committed = files.commit_bytes(&g.repomd).await?;
    out.push(LocalFiles::file(REPOMD, &committed, Some("text/xml")));
    let signature = files
        .signer
        .sign_armored(g.repomd.clone())
        .await
        .map_err(|e| LocalError::Internal(format!("signing {REPOMD}: {e}")))?;
    let committed = files.commit_bytes(signature.as_bytes()).await?;
    out.push(LocalFiles::file(SIGNATURE, &committed, Some("application/pgp-signature")));
    let committed = files.commit_bytes(files.signer.public_armored().as_bytes()).await?;
    out.push(LocalFiles::file(KEY, &committed, Some("application/pgp-keys")));
    Ok(out)
}

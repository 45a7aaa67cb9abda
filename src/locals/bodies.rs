//! Small bodies held in memory, with a limit: metadata documents of uploads (a Go module's
//! `.info` and `.mod`, a chart's provenance file) and such documents read back from the blob
//! store. File bodies never come through here: they are staged ([`super::files`]).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::files::LocalFiles;
use super::LocalError;
use crate::db::local_files::LocalFile;

/// The whole of `body`, refusing more than `limit` bytes (413).
pub async fn read_limited<S, E>(mut body: S, limit: u64) -> Result<Vec<u8>, LocalError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| LocalError::Body(e.to_string()))?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(LocalError::TooLarge { limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The bytes of a stored file of at most `limit` bytes.
pub async fn read_file(files: &LocalFiles, file: &LocalFile, limit: u64) -> Result<Vec<u8>, LocalError> {
    if file.size > limit {
        return Err(LocalError::TooLarge { limit });
    }
    let unavailable = |e: &dyn std::fmt::Display| LocalError::Unavailable(format!("reading {:?}: {e}", file.path));
    let body = files.store.open(&file.digest, None).await.map_err(|e| unavailable(&e))?;
    read_limited(body, limit).await.map_err(|e| match e {
        LocalError::Body(m) => unavailable(&m),
        other => other,
    })
}

//! The storage actor: the only way bytes become visible in the store (placeholder API).

use std::sync::Arc;

use actix::prelude::*;

use super::{BlobStore, Staged, StoreError};
use crate::catalog::{CachedObject, Catalog, CatalogError};
use crate::digest::Digest;

/// Publish a staged file (and optionally record a cached object).
#[derive(Message)]
#[rtype(result = "Result<Committed, CommitError>")]
pub struct Commit {
    pub staged: Staged,
    pub expected: Option<Digest>,
    pub object: Option<CachedObject>,
}

#[derive(Debug, Clone, Copy)]
pub struct Committed {
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

pub struct StorageActor {
    pub store: Arc<dyn BlobStore>,
    pub catalog: Arc<dyn Catalog>,
}

impl Actor for StorageActor {
    type Context = Context<Self>;
}

impl Handler<Commit> for StorageActor {
    type Result = AtomicResponse<Self, Result<Committed, CommitError>>;

    fn handle(&mut self, c: Commit, _ctx: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let catalog = self.catalog.clone();
        AtomicResponse::new(Box::pin(
            async move {
                if let Some(expected) = c.expected {
                    if expected != c.staged.digest {
                        c.staged.discard().await;
                        return Err(StoreError::DigestMismatch { expected, actual: c.staged.digest }.into());
                    }
                }
                let created = catalog.upsert_blob(&c.staged.digest, c.staged.size).await?;
                if created || store.stat(&c.staged.digest).await?.is_none() {
                    store.publish(&c.staged.path, &c.staged.digest, c.staged.size).await?;
                } else {
                    c.staged.discard().await;
                }
                if let Some(obj) = &c.object {
                    catalog.put_object(obj).await?;
                }
                Ok(Committed { digest: c.staged.digest, size: c.staged.size })
            }
            .into_actor(self),
        ))
    }
}

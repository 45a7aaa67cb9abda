//! Where rendered documents are in the blob store (`rendered_documents`), for the serving
//! service's renderings (`crate::serve::renders`).
//!
//! A row names the blob of one rendering; the foreign key to `blobs` deletes the row when
//! garbage collection deletes the blob, so a row found here always names bytes that exist.

use artifactapi_actors::digest::Digest;

use super::{Db, DbError};
use crate::formats::Doc;

/// What a rendering is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenderKey {
    /// The repository whose URLs the rendering carries (a remote, or a virtual for merges).
    pub repo: String,
    /// The upstream URL of the document (for a merge: the request path in the virtual).
    pub url: String,
    pub doc: Doc,
    /// The digest of what was rendered: the upstream copy (for a merge: of the members'
    /// renderings, in order).
    pub source: Digest,
}

impl RenderKey {
    pub fn new(repo: &str, url: &str, doc: Doc, source: Digest) -> RenderKey {
        RenderKey { repo: repo.to_string(), url: url.to_string(), doc, source }
    }

    /// The form as the catalog stores it.
    pub fn form(&self) -> String {
        format!("{}|{}", self.doc.variant, self.doc.accept)
    }
}

/// A rendering in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRef {
    pub digest: Digest,
    pub size: u64,
    pub content_type: String,
}

impl Db {
    /// The stored rendering of `key`, if any.
    pub async fn find_render(&self, key: &RenderKey) -> Result<Option<RenderedRef>, DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT digest, size, content_type FROM rendered_documents \
                 WHERE repo = $1 AND url = $2 AND form = $3 AND source = $4",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&key.repo, &key.url, &key.form(), &key.source.to_string()]).await?;
        let Some(row) = row else { return Ok(None) };
        let digest: String = row.try_get(0)?;
        let digest = digest.parse::<Digest>().map_err(|e| DbError::Query(format!("rendered_documents.digest: {e}")))?;
        let size: i64 = row.try_get(1)?;
        let size = u64::try_from(size).map_err(|_| DbError::Query(format!("rendered_documents.size {size}")))?;
        Ok(Some(RenderedRef { digest, size, content_type: row.try_get(2)? }))
    }

    /// Records where the rendering of `key` is (its blob was committed just before).
    pub async fn put_render(&self, key: &RenderKey, rendered: &RenderedRef) -> Result<(), DbError> {
        let size = i64::try_from(rendered.size).map_err(|_| DbError::Query(format!("size {}", rendered.size)))?;
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO rendered_documents (repo, url, form, source, digest, size, content_type) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (repo, url, form, source) DO UPDATE \
                 SET digest = EXCLUDED.digest, size = EXCLUDED.size, content_type = EXCLUDED.content_type",
                &[
                    &key.repo,
                    &key.url,
                    &key.form(),
                    &key.source.to_string(),
                    &rendered.digest.to_string(),
                    &size,
                    &rendered.content_type,
                ],
            )
            .await?;
        Ok(())
    }

    /// Marks a blob as just used (`last_seen = now()`); false when it no longer exists.
    pub async fn touch_blob(&self, digest: &Digest) -> Result<bool, DbError> {
        let client = self.client().await?;
        let n = client.execute("UPDATE blobs SET last_seen = now() WHERE digest = $1", &[&digest.to_string()]).await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::TestDatabase;

    #[tokio::test]
    async fn renderings_are_found_again_and_go_with_their_blob() {
        let (tdb, db) = TestDatabase::migrated().await;
        let doc = Doc { variant: "abbreviated", accept: "application/vnd.npm.install-v1+json" };
        let key = RenderKey::new("npm", "http://up/p", doc, Digest::of(b"upstream copy"));
        let rendered =
            RenderedRef { digest: Digest::of(b"rendered"), size: 8, content_type: "application/json".into() };
        assert_eq!(db.find_render(&key).await.unwrap(), None);
        let err = db.put_render(&key, &rendered).await.unwrap_err();
        assert!(err.to_string().contains("foreign key"), "a rendering needs its blob: {err}");
        let client = db.client().await.unwrap();
        client
            .execute("INSERT INTO blobs (digest, size) VALUES ($1, 8)", &[&rendered.digest.to_string()])
            .await
            .unwrap();
        db.put_render(&key, &rendered).await.unwrap();
        db.put_render(&key, &rendered).await.unwrap();
        assert_eq!(db.find_render(&key).await.unwrap(), Some(rendered.clone()));
        let other_form = RenderKey { doc: Doc { variant: "", accept: "application/json" }, ..key.clone() };
        assert_eq!(db.find_render(&other_form).await.unwrap(), None);
        assert!(db.touch_blob(&rendered.digest).await.unwrap());
        client.execute("DELETE FROM blobs WHERE digest = $1", &[&rendered.digest.to_string()]).await.unwrap();
        assert_eq!(db.find_render(&key).await.unwrap(), None, "the row goes with its blob");
        assert!(!db.touch_blob(&rendered.digest).await.unwrap());
        drop(client);
        drop(db);
        tdb.drop().await;
    }
}

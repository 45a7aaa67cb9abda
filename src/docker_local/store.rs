//! Blobs and manifests of local docker repositories: reads, mounts, manifest pushes, deletes,
//! tags and referrers, on top of the catalog and the shared store.
//!
//! A manifest push reads the body (at most `max_manifest` bytes, checked by the caller while
//! reading), parses it ([`super::manifest`]), commits its exact bytes as a blob through the
//! storage actor, and then records it with its references in one catalog transaction that
//! refuses references the repository does not have (`MANIFEST_BLOB_UNKNOWN`). Bytes committed
//! for a manifest the catalog then refuses are referenced by nothing and go at the next GC.

use std::collections::BTreeMap;

use artifactapi_actors::storage::Commit;
use artifactapi_actors::Digest;
use bytes::Bytes;
use serde::Serialize;

use super::manifest::{self, OCI_INDEX};
use super::tags::{self, Page, Pagination};
use super::upload::DockerLocal;
use super::{Error, Repository};
use crate::db::docker_local::manifests::{ManifestRef, ManifestRow, PutRefused, References};
use crate::formats::docker::grammar::sha512_of;
use crate::formats::docker::OciDigest;

/// How a manifest is named in a request (a digest may be a `sha512:` one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(OciDigest),
}

/// A stored manifest, as the push answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The SHA-256 the manifest is stored under.
    pub digest: Digest,
    /// The digest the client named it by (its SHA-256 unless it pushed by `sha512:`).
    pub named: OciDigest,
    pub subject: Option<Digest>,
}

/// One entry of a referrers answer (an OCI descriptor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The referrers answer: an OCI image index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrersIndex {
    pub schema_version: u32,
    pub media_type: &'static str,
    pub manifests: Vec<Descriptor>,
}

impl DockerLocal {
    /// The size of blob `digest` of `repo`.
    pub async fn blob_size(&self, repo: &Repository, digest: &Digest) -> Result<u64, Error> {
        self.db.docker_blob(repo, digest).await?.ok_or(Error::BlobUnknown((*digest).into()))
    }

    /// `DELETE .../blobs/{digest}`: unlinks the blob from the repository.
    pub async fn delete_blob(&self, repo: &Repository, digest: &Digest) -> Result<(), Error> {
        match self.db.docker_unlink_blob(repo, digest).await? {
            true => Ok(()),
            false => Err(Error::BlobUnknown((*digest).into())),
        }
    }

    /// `POST ?mount=&from=`: links a blob of `from` to `repo`; its size, or `None` when `from`
    /// does not have it (the caller then starts an ordinary upload).
    pub async fn mount(&self, repo: &Repository, from: &Repository, digest: &Digest) -> Result<Option<u64>, Error> {
        Ok(self.db.docker_mount_blob(repo, from, digest).await?)
    }

    /// `PUT .../manifests/{reference}` with the whole body (already size-checked).
    pub async fn put_manifest(
        &self,
        repo: &Repository,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Pushed, Error> {
        let parsed = manifest::parse(&body, content_type).map_err(|e| Error::ManifestInvalid(e.0))?;
        let digest = Digest::of(&body);
        let named = match reference {
            Reference::Tag(_) => OciDigest::Sha256(digest),
            Reference::Digest(named) => {
                let actual = match named {
                    OciDigest::Sha256(_) => OciDigest::Sha256(digest),
                    OciDigest::Sha512(_) => OciDigest::Sha512(sha512_of(&body)),
                };
                if actual != *named {
                    return Err(Error::DigestInvalid(format!("the manifest's bytes are {actual}, not {named}")));
                }
                actual
            }
        };
        let mut w = self.staging.create().await.map_err(|e| Error::Store(e.into()))?;
        if let Err(e) = w.write(&body).await {
            w.abort().await;
            return Err(Error::Store(e.into()));
        }
        let staged = w.finish().await.map_err(|e| Error::Store(e.into()))?;
        self.storage.send(Commit { staged, expected: Some(digest), object: None }).await??;
        if let OciDigest::Sha512(_) = named {
            self.db.put_digest_alias(&named.to_string(), &digest).await?;
        }
        let row = ManifestRow {
            digest,
            media_type: parsed.media_type,
            size: body.len() as u64,
            subject: parsed.subject,
            artifact_type: parsed.artifact_type,
            annotations: parsed.annotations,
        };
        let refs = References {
            blobs: parsed.blobs.iter().map(|r| (r.digest, r.size)).collect(),
            manifests: parsed.manifests.iter().map(|r| (r.digest, r.size)).collect(),
        };
        let tag = match reference {
            Reference::Tag(t) => Some(t.as_str()),
            Reference::Digest(_) => None,
        };
        match self.db.docker_put_manifest(repo, &row, &refs, tag).await? {
            Ok(()) => Ok(Pushed { digest, named, subject: row.subject }),
            Err(PutRefused::Unknown { digest, what }) => Err(Error::ManifestBlobUnknown { digest, what }),
            Err(PutRefused::Size { digest, claimed, actual }) => Err(Error::ManifestInvalid(format!(
                "the manifest says {digest} has {claimed} bytes, but it has {actual}"
            ))),
            Err(PutRefused::Bytes(d)) => {
                Err(Error::Actor(format!("manifest bytes {d} were collected meanwhile; retry")))
            }
        }
    }

    /// The manifest `reference` names in `repo`.
    pub async fn manifest(&self, repo: &Repository, reference: &Reference) -> Result<ManifestRow, Error> {
        let found = match reference {
            Reference::Tag(t) => self.db.docker_manifest(repo, ManifestRef::Tag(t)).await?,
            Reference::Digest(named) => match self.resolve(named).await? {
                Some(d) => self.db.docker_manifest(repo, ManifestRef::Digest(&d)).await?,
                None => None,
            },
        };
        found.ok_or_else(|| Error::ManifestUnknown(describe(reference)))
    }

    /// `DELETE .../manifests/{reference}`: by digest the manifest (and its tags), by tag the tag.
    pub async fn delete_manifest(&self, repo: &Repository, reference: &Reference) -> Result<(), Error> {
        let deleted = match reference {
            Reference::Digest(named) => match self.resolve(named).await? {
                Some(d) => self.db.docker_delete_manifest(repo, &d).await?,
                None => false,
            },
            Reference::Tag(t) => self.db.docker_delete_tag(repo, t).await?,
        };
        if deleted {
            Ok(())
        } else {
            Err(Error::ManifestUnknown(describe(reference)))
        }
    }

    /// `GET .../tags/list`: one page of tags; `NAME_UNKNOWN` for a repository with nothing.
    pub async fn tags(&self, repo: &Repository, p: &Pagination) -> Result<Page, Error> {
        let fetched =
            if p.n == 0 { Vec::new() } else { self.db.docker_tags(repo, p.last.as_deref(), p.fetch()).await? };
        if fetched.is_empty() && !self.db.docker_repo_exists(repo).await? {
            return Err(Error::NameUnknown(repo.to_string()));
        }
        Ok(tags::page(fetched, p))
    }

    /// `GET .../referrers/{digest}`: the manifests whose subject is `subject`.
    pub async fn referrers(
        &self,
        repo: &Repository,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ReferrersIndex, Error> {
        let rows = self.db.docker_referrers(repo, subject, artifact_type).await?;
        let manifests = rows
            .into_iter()
            .map(|m| Descriptor {
                media_type: m.media_type,
                digest: m.digest.to_string(),
                size: m.size,
                artifact_type: m.artifact_type,
                annotations: m.annotations,
            })
            .collect();
        Ok(ReferrersIndex { schema_version: 2, media_type: OCI_INDEX, manifests })
    }
}

fn describe(reference: &Reference) -> String {
    match reference {
        Reference::Tag(t) => format!("tag {t:?}"),
        Reference::Digest(d) => d.to_string(),
    }
}

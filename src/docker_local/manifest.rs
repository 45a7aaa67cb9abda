//! Reading a pushed manifest: its media type, what it references, what the referrers API
//! needs to know about it. Pure: bytes and a header in, a [`Manifest`] or a reason out.
//!
//! The bytes are kept exactly as pushed (their digest is the manifest's name); this module only
//! reads them. It deserialises into small typed structs that skip every field it does not
//! need, so memory stays proportional to the manifest (the body size is capped before it gets
//! here) and a deeply nested or oddly typed document is refused with serde's message.
//!
//! The media type is the `Content-Type` the client sent, or the manifest's own `mediaType`
//! when the header is absent or generic (`application/json`); when both are specific they must
//! agree. Without either, an OCI document is recognised by its shape (`manifests` → index,
//! otherwise an image manifest), as the OCI image spec allows `mediaType` to be left out.
//! Docker schema 1 is refused: nothing current pushes it and it cannot be verified.

use std::collections::BTreeMap;
use std::str::FromStr;

use artifactapi_actors::Digest;
use serde::Deserialize;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_V1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
/// Content types that say nothing about which manifest this is.
const GENERIC: &[&str] = &["application/json", "application/octet-stream", "text/plain"];

/// What kind of document a media type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An image manifest (OCI or Docker schema 2): a config and layers.
    Image,
    /// An index or Docker manifest list: other manifests.
    Index,
    /// Any other media type (artifacts): referenced descriptors are read wherever they are.
    Other,
}

impl Kind {
    pub fn of(media_type: &str) -> Kind {
        match media_type {
            OCI_MANIFEST | DOCKER_MANIFEST => Kind::Image,
            OCI_INDEX | DOCKER_LIST => Kind::Index,
            _ => Kind::Other,
        }
    }
}

/// A blob or manifest a manifest points at, with the size it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    pub digest: Digest,
    pub size: u64,
}

/// What artifactapi needs to know of a pushed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub kind: Kind,
    /// Config and layers that must be blobs of the repository (foreign layers, those with
    /// `urls`, are left out: their bytes live elsewhere by design).
    pub blobs: Vec<Reference>,
    /// Manifests of an index that must be manifests of the repository.
    pub manifests: Vec<Reference>,
    /// The manifest this one refers to (signatures, SBOMs, attestations).
    pub subject: Option<Digest>,
    /// `artifactType`, or for an image manifest without one its config's media type (the
    /// referrers API's rule).
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Why a manifest is refused (all are `MANIFEST_INVALID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: i64,
    #[serde(default)]
    urls: Vec<String>,
}

impl RawDescriptor {
    fn reference(&self, field: &str) -> Result<Reference, Invalid> {
        let digest = Digest::from_str(&self.digest)
            .map_err(|e| invalid(format!("{field}: digest {:?}: {e}", truncate(&self.digest))))?;
        let size = u64::try_from(self.size).map_err(|_| invalid(format!("{field}: negative size {}", self.size)))?;
        Ok(Reference { digest, size })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// The media type of a `Content-Type` value, lower case without parameters; `None` when absent
/// or generic.
pub fn specific_content_type(header: Option<&str>) -> Option<String> {
    let value = header?.split(';').next()?.trim().to_ascii_lowercase();
    (!value.is_empty() && !GENERIC.contains(&value.as_str())).then_some(value)
}

/// Reads a pushed manifest. `content_type` is the request's `Content-Type` header.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, Invalid> {
    let raw: RawManifest =
        serde_json::from_slice(body).map_err(|e| invalid(format!("not a manifest JSON object: {e}")))?;
    let header = specific_content_type(content_type);
    let media_type = match (header, raw.media_type.as_deref()) {
        (Some(h), Some(m)) if h != m => {
            return Err(invalid(format!("Content-Type {h:?} differs from the manifest's mediaType {m:?}")))
        }
        (Some(h), _) => h,
        (None, Some(m)) if !m.is_empty() => m.to_string(),
        (None, _) if raw.manifests.is_some() => OCI_INDEX.to_string(),
        (None, _) => OCI_MANIFEST.to_string(),
    };
    if DOCKER_V1.contains(&media_type.as_str()) || raw.schema_version == Some(1) {
        return Err(invalid("Docker schema 1 manifests are not accepted; push schema 2 or OCI"));
    }
    let kind = Kind::of(&media_type);
    if kind != Kind::Other && raw.schema_version != Some(2) {
        return Err(invalid(format!("schemaVersion must be 2, not {:?}", raw.schema_version)));
    }
    let mut blobs = Vec::new();
    match (kind, &raw.config, &raw.layers) {
        (Kind::Image, None, _) => return Err(invalid("an image manifest needs a config")),
        (Kind::Image, _, None) => return Err(invalid("an image manifest needs layers")),
        (Kind::Index, _, _) if raw.manifests.is_none() => return Err(invalid("an index needs manifests")),
        _ => {}
    }
    if let Some(config) = &raw.config {
        blobs.push(config.reference("config")?);
    }
    for (i, layer) in raw.layers.iter().flatten().enumerate() {
        let r = layer.reference(&format!("layers[{i}]"))?;
        if layer.urls.is_empty() {
            blobs.push(r);
        }
    }
    let manifests = raw
        .manifests
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, m)| m.reference(&format!("manifests[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let subject = raw.subject.as_ref().map(|s| s.reference("subject")).transpose()?.map(|r| r.digest);
    let artifact_type = match (&raw.artifact_type, kind) {
        (Some(t), _) if !t.is_empty() => Some(t.clone()),
        (_, Kind::Image) => raw.config.as_ref().and_then(|c| c.media_type.clone()),
        _ => None,
    };
    Ok(Manifest { media_type, kind, blobs, manifests, subject, artifact_type, annotations: raw.annotations })
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;

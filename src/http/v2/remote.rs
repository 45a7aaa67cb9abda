//! Remote docker repositories on `/v2`: a pull-through cache of one upstream registry.
//!
//! The handler reads top to bottom as the request path: refuse writes (a remote is pulled
//! from, never pushed to), map the image name to the upstream's (Docker Hub's `library/`),
//! apply the remote's `patterns`/`blocklist` to that name and its `ban_tags` to pulls by tag,
//! work out what to ask the upstream for ([`Target`]: catalog path, variant, upstream URL,
//! forwarded `Accept`, the digest the bytes must have), classify, then serve a hot object or ask
//! the remote's actor.
//!
//! The catalog path of an object is its upstream path relative to the registry root
//! (`v2/library/alpine/manifests/3.19`), so the type's classification applies unchanged: tag
//! manifests, tag lists and referrers are mutable, blobs and manifests by digest immutable. A tag
//! manifest is cached once per set of accepted manifest types (see
//! [`crate::formats::docker::media`]) and revalidated with a HEAD that compares digests. Blobs
//! and manifests by digest are verified against their digest before they are published.
//!
//! Answers carry the upstream's exact bytes and `Content-Type`, and `Docker-Content-Digest`
//! computed here (the bytes' SHA-256, which for a digest request was checked to be the one
//! asked for). A miss on a manifest, tag list or referrers list is read whole first (bounded),
//! so its digest is known before the answer starts; a blob streams while it is cached, and a
//! HEAD of an uncached blob waits for the fill to finish (so a digest mismatch is a clean 502).

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use artifactapi_actors::catalog::{CachedObject, ObjectKey};
use artifactapi_actors::remote::{CacheStatus, Download, Fetch, FetchOutcome};
use artifactapi_actors::Digest;
use futures_util::StreamExt;

use super::error::{OciCode, OciError};
use crate::formats::docker::media::ManifestAccept;
use crate::formats::docker::{hub, Endpoint, ImageName, Op, Reference, ReferrersFilter, TagsPage};
use crate::formats::{self, Class, PackageType};
use crate::http::serve;
use crate::registry::RemoteEntry;
use crate::remotes::{Denied, Remote};
use crate::state::AppState;

/// Largest manifest, tag list or referrers list read whole on a miss.
pub const MAX_METADATA_BYTES: usize = 16 << 20;

const ALLOW: &str = "GET, HEAD";
const DIGEST_HEADER: &str = "docker-content-digest";

/// What an endpoint is, for responses and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TagManifest,
    DigestManifest,
    Blob,
    Tags,
    Referrers,
}

/// What one request asks the upstream for.
#[derive(Debug)]
struct Target {
    kind: Kind,
    /// Catalog path: the upstream path below the registry root.
    path: String,
    variant: String,
    url: String,
    accept: Option<String>,
    expected: Option<Digest>,
}

/// Serves one `/v2` request to the remote `entry`.
pub async fn handle(
    req: &HttpRequest,
    state: &AppState,
    entry: &RemoteEntry,
    endpoint: Endpoint,
) -> Result<HttpResponse, OciError> {
    let remote = &entry.remote;
    let name = remote.spec.name.as_str();
    refuse_writes(req.method(), name, &endpoint.op)?;
    let image = hub::upstream_name(&remote.base_url, &endpoint.name);
    check_access(remote, &image)?;
    check_ban(remote, &endpoint.op)?;
    let target = target(req, remote, &image, &endpoint.op)?;
    let class = formats::classify(PackageType::Docker, remote.rules.override_class(&target.path), &target.path);
    let key = ObjectKey::new(name, target.path.as_str(), target.variant.as_str());
    if let Some(object) = entry.hot.hit(&key) {
        return cached(req, state, &object, CacheStatus::Hit).await;
    }
    let fetch = Fetch {
        path: key.path,
        variant: key.variant,
        mutable: class == Class::Mutable,
        upstream_url: target.url.clone(),
        forward_headers: target.accept.iter().map(|a| ("Accept".to_string(), a.clone())).collect(),
        expected: target.expected,
        revalidate_by_digest: target.kind == Kind::TagManifest,
        token_scope: Some(format!("repository:{image}:pull")),
    };
    let outcome =
        entry.addr.send(fetch).await.map_err(|e| OciError::new(OciCode::Unavailable, format!("remote {name}: {e}")))?;
    match outcome {
        FetchOutcome::Cached { object, status } => cached(req, state, &object, status).await,
        FetchOutcome::Download(download) => downloaded(req, download, &target).await,
        FetchOutcome::NotFound { status } => Err(not_found(&target, &endpoint, status)),
        FetchOutcome::Failed(e) => Err(e.into()),
    }
}

/// A remote is only pulled from: uploads, pushes and deletes are 405 `UNSUPPORTED`.
fn refuse_writes(method: &Method, name: &str, op: &Op) -> Result<(), OciError> {
    let upload = matches!(op, Op::UploadStart | Op::Upload(_));
    if upload || (method != Method::GET && method != Method::HEAD) {
        let message = format!(
            "{name} is a remote repository (a pull-through cache): {method} {} is not supported; push to a local docker repository",
            if upload { "of an upload" } else { "" }
        );
        return Err(OciError::new(OciCode::Unsupported, message.replace("  ", " ")).with_header(header::ALLOW, ALLOW));
    }
    Ok(())
}

/// The remote's `blocklist` and `patterns`, applied to the upstream image name.
fn check_access(remote: &Remote, image: &ImageName) -> Result<(), OciError> {
    let name = &remote.spec.name;
    remote.rules.check_access(image.as_str()).map_err(|d| {
        let message = match d {
            Denied::Blocklisted(rule) => format!("image {image} matches blocklist rule {rule:?} of remote {name}"),
            Denied::NotAllowed => format!("image {image} matches none of the patterns of remote {name}"),
        };
        OciError::new(OciCode::Denied, message).with_detail(serde_json::json!({ "name": image.as_str() }))
    })
}

/// `ban_tags`: pulls of a banned tag are refused; pulls by digest are not affected.
fn check_ban(remote: &Remote, op: &Op) -> Result<(), OciError> {
    let spec = &remote.spec;
    let Op::Manifest(Reference::Tag(tag)) = op else { return Ok(()) };
    if spec.ban_tags_enabled && spec.ban_tags.iter().any(|t| t == tag.as_str()) {
        let message =
            format!("tag {:?} is banned on remote {} (ban_tags); pull by digest instead", tag.as_str(), spec.name);
        return Err(OciError::new(OciCode::Denied, message)
            .with_detail(serde_json::json!({ "tag": tag.as_str(), "ban_tags": spec.ban_tags })));
    }
    Ok(())
}

/// The registry root of a base URL: the base itself, or its parent when it was configured
/// with a trailing `v2/`.
fn registry_root(base_url: &str) -> &str {
    base_url.strip_suffix("v2/").filter(|r| r.ends_with('/') && r.contains("://")).unwrap_or(base_url)
}

fn target(req: &HttpRequest, remote: &Remote, image: &ImageName, op: &Op) -> Result<Target, OciError> {
    let query = req.query_string();
    let (kind, path, variant, query, accept, expected) = match op {
        Op::Manifest(Reference::Tag(tag)) => {
            let accept =
                ManifestAccept::from_headers(req.headers().get_all(header::ACCEPT).filter_map(|v| v.to_str().ok()));
            let path = format!("v2/{image}/manifests/{tag}");
            (Kind::TagManifest, path, accept.variant(), String::new(), accept.header(), None)
        }
        Op::Manifest(Reference::Digest(d)) => {
            // The bytes are fixed by the digest: ask for every type so any manifest comes back.
            let path = format!("v2/{image}/manifests/{d}");
            (Kind::DigestManifest, path, String::new(), String::new(), Some(ManifestAccept::every_type()), Some(*d))
        }
        Op::Blob(d) => (Kind::Blob, format!("v2/{image}/blobs/{d}"), String::new(), String::new(), None, Some(*d)),
        Op::Tags => {
            let page = TagsPage::parse(query)?.canonical();
            (Kind::Tags, format!("v2/{image}/tags/list"), page.clone(), page, None, None)
        }
        Op::Referrers(d) => {
            let filter = ReferrersFilter::parse(query)?.canonical();
            let accept = Some("application/vnd.oci.image.index.v1+json".to_string());
            (Kind::Referrers, format!("v2/{image}/referrers/{d}"), filter.clone(), filter, accept, None)
        }
        Op::UploadStart | Op::Upload(_) => {
            return Err(OciError::new(OciCode::Unsupported, "uploads go to local repositories"))
        }
    };
    let mut url = format!("{}{path}", registry_root(&remote.base_url));
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    Ok(Target { kind, path, variant, url, accept, expected })
}

fn set_header(resp: &mut HttpResponse, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

/// A cached object, with its digest.
async fn cached(
    req: &HttpRequest,
    state: &AppState,
    object: &CachedObject,
    status: CacheStatus,
) -> Result<HttpResponse, OciError> {
    let mut resp = serve::cached(req, state.store.as_ref(), object, status).await?;
    set_header(&mut resp, DIGEST_HEADER, &object.digest.to_string());
    Ok(resp)
}

/// A miss: metadata read whole (so its digest is known), blobs streamed.
async fn downloaded(req: &HttpRequest, download: Download, target: &Target) -> Result<HttpResponse, OciError> {
    let head = download.head.clone();
    let mut body = download.body;
    let mut resp = if target.kind == Kind::Blob && req.method() == Method::GET {
        serve::download_response(req, Download { head, body })
    } else if target.kind == Kind::Blob {
        // HEAD: the length once the fill has the whole (verified) blob.
        let mut length = 0u64;
        while let Some(chunk) = body.next().await {
            length += chunk.map_err(transfer_failed)?.len() as u64;
        }
        let mut builder = HttpResponse::build(StatusCode::OK);
        builder.insert_header(("X-Cache", CacheStatus::Miss.as_str()));
        builder
            .insert_header((header::CONTENT_TYPE, head.content_type.as_deref().unwrap_or("application/octet-stream")));
        serve::head_only(builder, Some(length))
    } else {
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.map_err(transfer_failed)?);
            if bytes.len() > MAX_METADATA_BYTES {
                return Err(OciError::new(
                    OciCode::Unknown,
                    format!("upstream answer larger than {MAX_METADATA_BYTES} bytes for {}", target.path),
                )
                .with_status(StatusCode::BAD_GATEWAY));
            }
        }
        let digest = Digest::of(&bytes);
        let mut builder = HttpResponse::build(StatusCode::OK);
        builder.insert_header(("X-Cache", CacheStatus::Miss.as_str()));
        builder.insert_header((header::CONTENT_TYPE, head.content_type.as_deref().unwrap_or("application/json")));
        builder.insert_header((header::ETAG, format!("\"{}\"", digest.hex())));
        builder.insert_header((DIGEST_HEADER, digest.to_string()));
        // A sized body: actix writes its Content-Length, and no body bytes for HEAD.
        return Ok(builder.body(bytes));
    };
    if let Some(d) = target.expected {
        set_header(&mut resp, DIGEST_HEADER, &d.to_string());
    }
    Ok(resp)
}

fn transfer_failed(e: std::io::Error) -> OciError {
    OciError::new(OciCode::Unknown, e.to_string()).with_status(StatusCode::BAD_GATEWAY)
}

fn not_found(target: &Target, endpoint: &Endpoint, status: u16) -> OciError {
    let name = endpoint.name.as_str();
    let (code, message, detail) = match (&endpoint.op, target.kind) {
        (Op::Manifest(r), _) => (
            OciCode::ManifestUnknown,
            format!("manifest {r} of {name} not found upstream"),
            serde_json::json!({ "name": name, "reference": r.to_string() }),
        ),
        (Op::Blob(d), _) => (
            OciCode::BlobUnknown,
            format!("blob {d} of {name} not found upstream"),
            serde_json::json!({ "name": name, "digest": d.to_string() }),
        ),
        (_, Kind::Referrers) => (
            OciCode::NameUnknown,
            format!("the upstream lists no referrers for {name} ({status})"),
            serde_json::json!({ "name": name }),
        ),
        _ => (OciCode::NameUnknown, format!("image {name} not found upstream"), serde_json::json!({ "name": name })),
    };
    OciError::new(code, message).with_detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_roots() {
        let cases = [
            ("http://127.0.0.1:5000/", "http://127.0.0.1:5000/"),
            ("https://registry-1.docker.io/", "https://registry-1.docker.io/"),
            ("https://mirror.example/v2/", "https://mirror.example/"),
            ("https://mirror.example/prefix/v2/", "https://mirror.example/prefix/"),
            ("https://mirror.example/notv2/", "https://mirror.example/notv2/"),
        ];
        for (base, root) in cases {
            assert_eq!(registry_root(base), root, "{base}");
        }
    }

    #[test]
    fn writes_to_a_remote_are_unsupported() {
        let dg = Digest::of(b"x");
        let cases: Vec<(Method, Op, bool)> = vec![
            (Method::GET, Op::Blob(dg), true),
            (Method::HEAD, Op::Tags, true),
            (Method::PUT, Op::Blob(dg), false),
            (Method::DELETE, Op::Blob(dg), false),
            (Method::POST, Op::UploadStart, false),
            (Method::GET, Op::UploadStart, false),
            (Method::PATCH, Op::Tags, false),
        ];
        for (method, op, ok) in cases {
            let got = refuse_writes(&method, "hub", &op);
            assert_eq!(got.is_ok(), ok, "{method} {op:?}");
            if let Err(e) = got {
                assert_eq!((e.code, e.status), (OciCode::Unsupported, StatusCode::METHOD_NOT_ALLOWED));
                assert!(!e.message.contains("  "), "{}", e.message);
            }
        }
    }
}

//! `/v2/...`: the Docker Registry HTTP API V2 (OCI distribution spec), for every docker
//! repository.
//!
//! `/v2/` answers 200 (the client's API check). Every other path is split into the artifactapi
//! repository (its first segment) and the rest, which the docker format parses once into a
//! typed request (image name, operation, accepted manifest types, listing query; see
//! [`crate::formats::docker`]). The router then looks the repository up by name and hands the
//! parsed request to the handler of its kind:
//!
//! - remote → [`remote::handle`] (pull-through cache through the serving service; pulls only),
//! - local → [`local::handle`] (a registry of its own; push and pull),
//! - virtual → [`virtuals::handle`] (the first member that has it; merged tag lists; no pushes).
//!
//! `/v2/_catalog` lists the repositories of the docker locals the caller may read
//! ([`catalog::handle`]).
//!
//! Every answer carries `Docker-Distribution-API-Version: registry/2.0`; every error is an
//! [`OciError`] (`{"errors":[{"code","message","detail"}]}`). Requests are recorded like the
//! proxy's ([`crate::observe::Tap`]).

pub mod catalog;
pub mod error;
pub mod local;
pub mod remote;
pub mod virtuals;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

pub use error::{OciCode, OciError};

use super::proxy;
use crate::formats::docker::{Docker, V2Route};
use crate::formats::{Format, PackageType, ProtocolError};
use crate::observe::body::RecordedBody;
use crate::observe::Tap;
use crate::state::AppState;

/// Registers `/v2` and `/v2/...`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v2", web::route().to(v2)).route("/v2/{tail:.*}", web::route().to(v2));
}

/// Every `/v2` request.
#[utoipa::path(get, path = "/v2/{repository}/{path}", tag = "registry",
    params(("repository" = String, Path, description = "An artifactapi docker repository (remote or local)"),
        ("path" = String, Path, description = "`{image}/manifests/{reference}`, `{image}/blobs/{digest}`, \
            `{image}/tags/list`, `{image}/referrers/{digest}`, `{image}/blobs/uploads/...`")),
    responses((status = 200, description = "The Docker Registry HTTP API V2 (OCI distribution spec); `X-Cache` says \
            how a remote served it"),
        (status = 400, description = "`{\"errors\":[{\"code\",\"message\",\"detail\"}]}`: NAME_INVALID, TAG_INVALID, DIGEST_INVALID"),
        (status = 403, description = "DENIED (access rules, banned tag)"),
        (status = 404, description = "NAME_UNKNOWN, MANIFEST_UNKNOWN, BLOB_UNKNOWN"),
        (status = 405, description = "UNSUPPORTED (writes to a remote)"),
        (status = 502, description = "UNKNOWN (upstream failure or digest mismatch)")))]
pub async fn v2(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse<RecordedBody> {
    let mut tap = state.observe.tap(&req);
    let mut unavailable = Vec::new();
    let mut resp = route(&req, payload, &state, &mut tap, &mut unavailable)
        .await
        .unwrap_or_else(|e| actix_web::ResponseError::error_response(&e));
    resp.headers_mut()
        .insert(HeaderName::from_static(error::API_VERSION_HEADER), HeaderValue::from_static(error::API_VERSION));
    if let (false, Ok(v)) = (unavailable.is_empty(), HeaderValue::from_str(&unavailable.join(","))) {
        resp.headers_mut().insert(HeaderName::from_static(proxy::UNAVAILABLE_HEADER), v);
    }
    tap.send(resp)
}

/// A refused request in the registry's error format.
fn endpoint_error<E: ProtocolError + std::fmt::Display>(e: E) -> OciError {
    let status = actix_web::http::StatusCode::from_u16(e.status()).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    OciError::new(OciCode::parse(e.code()).unwrap_or(OciCode::Unknown), e.to_string()).with_status(status)
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    tap: &mut Tap,
    unavailable: &mut Vec<String>,
) -> Result<HttpResponse, OciError> {
    let (repo, tail) = match V2Route::parse(req.uri().path())? {
        V2Route::Base => return base(req, state),
        V2Route::Catalog => return catalog::handle(req, state).await,
        V2Route::Repo { repo, tail } => (repo, tail),
    };
    tap.target(repo, tail);
    let accept = proxy::accept_values(req);
    let request = proxy::request(req, repo, tail, &accept);
    let parsed = Docker.parse(&request).map_err(endpoint_error)?;
    let registry = &state.registry;
    if let Some(entry) = registry.get(repo) {
        let t = entry.remote.spec.package_type;
        check_docker(repo, "remote", t)?;
        tap.known(state.observe.repo(repo, t));
        local::auth::require_read(req, state, repo, false)?;
        return remote::handle(req, state, &entry, request.method, &parsed).await;
    }
    if let Some(local) = registry.get_local(repo) {
        let t = local.package_type;
        check_docker(repo, "local", t)?;
        tap.known(state.observe.repo(repo, t));
        return local::handle(req, payload, state, local, parsed.endpoint).await;
    }
    if let Some(virt) = registry.get_virtual(repo) {
        check_docker(repo, "virtual", virt.package_type)?;
        tap.known(state.observe.repo(repo, virt.package_type));
        return virtuals::handle(req, state, &virt, request.method, &parsed, unavailable).await;
    }
    Err(OciError::name_unknown(format!("repository {repo:?} not found"))
        .with_detail(serde_json::json!({ "name": repo })))
}

/// `GET|HEAD /v2/`: this is a registry, and pulls need no credentials.
/// The version check (`/v2/`). With `ADMIN_TOKEN` set it challenges requests without the
/// credential: docker, podman and skopeo send credentials only to a registry whose ping asked
/// for them, and go on anonymously (pulls) after a challenge when they have none.
fn base(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, OciError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(OciError::method_not_allowed(req.method().as_str(), "GET, HEAD", "/v2/"));
    }
    if !local::auth::has_credential(req, state) {
        return Err(local::auth::challenge());
    }
    Ok(HttpResponse::Ok().content_type("application/json").body("{}"))
}

fn check_docker(name: &str, kind: &str, t: PackageType) -> Result<(), OciError> {
    if t == PackageType::Docker {
        Ok(())
    } else {
        Err(OciError::name_unknown(format!("repository {name:?} is a {t} {kind}, not a docker repository")))
    }
}

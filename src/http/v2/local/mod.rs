//! Local docker repositories on `/v2`: artifactapi as a registry of its own (push and pull).
//!
//! The router ([`super::route`]) has already parsed the path into an [`Endpoint`] (repository,
//! image name and operation; the method and query are the handler's) and found that
//! `endpoint.repo` is a local repository of type docker. Nothing here yet: every request is
//! answered `UNSUPPORTED`.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::{OciCode, OciError};
use crate::formats::docker::Endpoint;
use crate::locals::LocalSpec;
use crate::state::AppState;

/// Serves one `/v2` request to the local docker repository `local`. `payload` is the request
/// body as a stream (no size limit is applied before this point).
pub async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    local: Arc<LocalSpec>,
    endpoint: Endpoint,
) -> Result<HttpResponse, OciError> {
    let _ = (req, payload, state, endpoint);
    Err(OciError::new(OciCode::Unsupported, format!("local docker repository {:?} is not served yet", local.name)))
}

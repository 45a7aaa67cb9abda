//! Remote docker repositories on `/v2`: a pull-through cache of one upstream registry.

use actix_web::{HttpRequest, HttpResponse};

use super::error::{OciCode, OciError};
use crate::formats::docker::Endpoint;
use crate::registry::RemoteEntry;
use crate::state::AppState;

/// Serves one `/v2` request to the remote `entry`.
pub async fn handle(
    req: &HttpRequest,
    state: &AppState,
    entry: &RemoteEntry,
    endpoint: Endpoint,
) -> Result<HttpResponse, OciError> {
    let _ = (req, state, endpoint);
    Err(OciError::new(OciCode::Unsupported, format!("remote {:?} is not served on /v2 yet", entry.remote.spec.name)))
}

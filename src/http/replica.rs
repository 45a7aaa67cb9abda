//! `GET /_replica/fills/{id}`: a fill this replica leads, streamed to another replica.
//!
//! The other half of cross-replica streaming (see `artifactapi_actors::remote::replica`): a
//! replica waiting on this one's fetch reads the fill here while it runs. The route sits outside
//! `/api/v2` and its read guard because its credential is the fill's own token (the
//! `X-Artifactapi-Fill-Token` header, handed out through the coordinator only); it serves
//! nothing but fills in progress, so it opens no way around repository access rules. A
//! malformed id or `Range` is a 400; an unknown id and a wrong token are the same 404.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::remote::replica::{parse_fill_id, parse_from, TOKEN_HEADER};

use super::error::ApiError;
use crate::state::AppState;

/// Streams fill `id` from the offset its `Range: bytes=N-` names (0 without one); the body
/// ends cleanly only once the fill is committed, and is cut if it fails.
pub async fn fill(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_fill_id(&id).ok_or_else(|| ApiError::BadRequest("invalid fill id".into()))?;
    let range = match req.headers().get(header::RANGE) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| ApiError::BadRequest("invalid Range".into()))?),
    };
    let from = parse_from(range).ok_or_else(|| ApiError::BadRequest("Range must be bytes=N-".into()))?;
    let token = req.headers().get(TOKEN_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let body = state.replicas.tail(id, token, from).map_err(|e| ApiError::Missing(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

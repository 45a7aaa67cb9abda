//! `GET /api/v2/events`: the live event stream, as server-sent events.
//!
//! The handler parses the filter (a bad one is a 400 before any stream opens), registers a
//! client with this replica's event fan-out and streams what it receives (see
//! [`crate::events`]). The response is never compressed or buffered: each event is written
//! when it happens.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::events::{sse, Filter};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v2/events", tag = "operations",
    params(("repo" = Option<String>, Query, description = "comma-separated repositories"),
        ("type" = Option<String>, Query, description = "comma-separated event types")),
    responses((status = 200, description = "Server-sent events, one JSON object per event", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody)))]
pub async fn stream(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let filter = Filter::parse(req.query_string()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(event_stream(&state, filter).await)
}

/// The events `filter` lets through, as a server-sent event stream (the API's and the
/// dashboard's live feeds).
pub async fn event_stream(state: &AppState, filter: Filter) -> HttpResponse {
    let listener = state.events.listen().await;
    let body = sse::stream(listener, filter, state.config.events_heartbeat, state.replica.clone());
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Compression would buffer events; `identity` also keeps compressing middleware off.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        // Tells nginx-style reverse proxies not to buffer the stream either.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

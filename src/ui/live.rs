//! The live feeds of the dashboard's script, behind the dashboard's login: the event stream
//! (the very stream of `GET /api/v2/events`: same filter parser, same fan-out, same framing) and
//! the figures of `GET /api/v2/stats`. They exist because a browser sends the login cookie, not
//! an `Authorization` header, and the API takes only the header.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::UiError;
use super::session::Session;
use crate::events::{sse, Filter};
use crate::state::AppState;

/// `GET /ui/live/events[?repo=&type=]`.
pub async fn events(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    Session::open(&req, &state)?;
    let filter = Filter::parse(req.query_string()).map_err(|e| UiError::BadRequest(e.to_string()))?;
    let listener = state.events.listen().await;
    let body = sse::stream(listener, filter, state.config.events_heartbeat, state.replica.clone());
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// `GET /ui/live/stats`: the stats report as JSON.
pub async fn stats(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    Session::open(&req, &state)?;
    let report = state.observe.stats(&state.db, &state.coord, state.registry.names(), None).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(report))
}

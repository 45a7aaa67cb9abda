//! The live feeds of the dashboard's script, behind the dashboard's login: the event stream
//! (the very stream of `GET /api/v2/events`: same filter parser, same fan-out, same framing) and
//! the figures of `GET /api/v2/stats`. They exist because a browser sends the login cookie, not
//! an `Authorization` header, and the API takes only the header.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::UiError;
use super::session::Session;
use crate::events::Filter;
use crate::state::AppState;

/// `GET /ui/live/events[?repo=&type=]`.
pub async fn events(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    Session::open(&req, &state)?;
    let filter = Filter::parse(req.query_string()).map_err(|e| UiError::BadRequest(e.to_string()))?;
    Ok(crate::http::events::event_stream(&state, filter).await)
}

/// `GET /ui/live/stats`: the stats report as JSON.
pub async fn stats(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    Session::open(&req, &state)?;
    let report = state.observe.stats(&state.db, &state.coord, state.registry.names(), None).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(report))
}

//! `GET /metrics`, `GET /api/v2/stats` and `GET /api/v2/access-log`: what the proxy did, for
//! Prometheus and for operators. The figures come from [`crate::observe`]; these handlers parse
//! the query string (strictly: see [`crate::observe::query`]) and render.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::auth::require_read;
use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::observe::metrics::CONTENT_TYPE;
use crate::observe::query;
use crate::observe::scrape::ScrapeInputs;
use crate::state::AppState;

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, body = ErrorBody)))]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // Outside the `/api/v2` scope, so its read guard does not apply: check here.
    require_read(&req, &state)?;
    let remotes = state.registry.names();
    let rate_limits =
        remotes.iter().filter_map(|name| state.registry.rate_limit(name).map(|r| (name.clone(), r))).collect();
    let inputs = ScrapeInputs {
        db: &state.db,
        coord: &state.coord,
        remotes,
        rate_limits,
        events_dropped: state.events.dropped(),
        replica_streams: state.replicas.counts(),
    };
    let text = state.observe.render_metrics(inputs).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}

#[utoipa::path(get, path = "/api/v2/stats", tag = "operations",
    params(("repo" = Option<String>, Query, description = "only this repository")),
    responses((status = 200, description = "Per repository and total counters, storage totals", body = Object),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stats(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let only = query::stats_repo(req.query_string()).map_err(|e| ApiError::BadRequest(e.0))?;
    let report = state.observe.stats(&state.db, &state.coord, state.registry.names(), only.as_deref()).await?;
    match report {
        Some(r) => Ok(HttpResponse::Ok().json(r)),
        None => Err(ApiError::not_found("repository", only.unwrap_or_default())),
    }
}

#[utoipa::path(get, path = "/api/v2/access-log", tag = "operations",
    params(("repo" = Option<String>, Query), ("status" = Option<String>, Query, description = "a code or a class like 5xx"),
        ("cache" = Option<String>, Query, description = "HIT | MISS | STALE | REVALIDATED"),
        ("since" = Option<String>, Query, description = "RFC 3339"), ("until" = Option<String>, Query, description = "RFC 3339"),
        ("path_prefix" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1..=1000"),
        ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Flushed access-log rows, newest first", body = Object),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn access_log(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let filter = query::access_filter(req.query_string()).map_err(|e| ApiError::BadRequest(e.0))?;
    if let Some(repo) = &filter.repo {
        if !state.db.repo_exists(repo).await? {
            return Err(ApiError::not_found("repository", repo.clone()));
        }
    }
    let entries = state.db.query_access_log(&filter).await?;
    let full_page = entries.len() == filter.limit as usize;
    let next_cursor = entries.last().filter(|_| full_page).map(|e| e.id.to_string());
    Ok(HttpResponse::Ok().json(json!({ "entries": entries, "next_cursor": next_cursor })))
}

//! Health and garbage collection.
//!
//! `/api/v2/health` asks every dependency for a round trip, concurrently and each with a
//! deadline, and answers 503 naming the one that failed. It also lists `warnings`: settings
//! that work but weaken the service (a remote that does not verify its upstream's TLS
//! certificate), which leave the status 200. `/api/v2/health/live` only says the
//! process serves HTTP (for load balancers that must not take a replica out because the shared
//! database blinked). `POST /api/v2/gc` runs the storage actor's mark-and-sweep on demand.

use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::storage::{Gc, GcError};
use serde::Deserialize;
use serde_json::json;

use super::auth::{read_body, require_admin};
use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::remotes::parse_json;
use crate::state::AppState;

const CHECK_DEADLINE: Duration = Duration::from_secs(3);

/// One dependency's round trip: `{"backend", "status", "latency_ms", "error"?}`.
async fn check<F, E>(backend: &str, f: F) -> serde_json::Value
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let result = tokio::time::timeout(CHECK_DEADLINE, f).await;
    let mut v = json!({"backend": backend, "status": "ok"});
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => v["error"] = e.to_string().into(),
        Err(_) => v["error"] = format!("no answer within {CHECK_DEADLINE:?}").into(),
    }
    if v.get("error").is_some() {
        v["status"] = "error".into();
    }
    v["latency_ms"] = (started.elapsed().as_secs_f64() * 1000.0).into();
    v
}

#[utoipa::path(get, path = "/api/v2/health", tag = "operations",
    responses((status = 200, description = "Every dependency answered", body = Object),
        (status = 503, description = "A dependency failed; the body names it", body = Object)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let (ok, body) = health_report(&state).await;
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Whether every dependency answered, and the health document (`/api/v2/health`, the
/// dashboard's overview).
pub async fn health_report(state: &AppState) -> (bool, serde_json::Value) {
    let (database, storage, coordinator) = tokio::join!(
        check("postgresql", async { state.db.ping().await.map(|_| ()) }),
        check(state.store.kind(), state.store.ping()),
        check(state.coord.kind(), state.coord.ping()),
    );
    let ok = [&database, &storage, &coordinator].iter().all(|c| c["status"] == "ok");
    let body = json!({
        "status": if ok { "ok" } else { "error" },
        "replica": state.replica,
        "checks": {"database": database, "storage": storage, "coordinator": coordinator},
        "warnings": warnings(state),
        "upstreams": upstreams(state).await,
    });
    (ok, body)
}

/// The remotes whose upstream is failing, as this replica saw them: each one's breaker when it
/// is not closed (shared by every replica) and its last upstream failure (a 404 is an answer,
/// not a failure). An upstream fault leaves the status `ok`: the replica still serves, stale
/// copies included, and a load balancer must not take every replica out because one upstream
/// is down.
async fn upstreams(state: &AppState) -> serde_json::Value {
    use artifactapi_actors::remote::breaker::BreakerState;
    let names = state.registry.names();
    let breakers = crate::observe::scrape::breaker_states(&state.coord, &names).await;
    let recent = state.observe.recent();
    let mut out = serde_json::Map::new();
    for name in names {
        let failure = recent.last_failure(&name);
        let breaker = breakers.get(&name).copied().filter(|b| *b != BreakerState::Closed);
        if failure.is_some() || breaker.is_some() {
            out.insert(name, json!({ "breaker": breaker, "last_failure": failure }));
        }
    }
    serde_json::Value::Object(out)
}

/// Settings that weaken the service without breaking it: `{"remote", "setting", "message"}`.
fn warnings(state: &AppState) -> Vec<serde_json::Value> {
    let insecure = state.registry.insecure_remotes();
    insecure
        .iter()
        .map(|r| {
            let message = format!(
                "remote {} does not verify the TLS certificate of its upstream {}: anyone on the path can read and \
                 change what it caches",
                r.spec.name, r.base_url
            );
            json!({"remote": r.spec.name, "setting": "tls_insecure_skip_verify", "message": message})
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v2/health/live", tag = "operations",
    responses((status = 200, description = "The process serves HTTP", body = Object)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GcRequest {
    #[serde(default)]
    dry_run: bool,
    grace_seconds: Option<u64>,
}

#[utoipa::path(post, path = "/api/v2/gc", tag = "operations", request_body(content = Object,
        description = "`{\"dry_run\": bool, \"grace_seconds\": N}`, both optional"),
    responses((status = 200, description = "The GC report", body = Object), (status = 400, body = ErrorBody),
        (status = 409, description = "A garbage collection is already running", body = ErrorBody)))]
pub async fn gc(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let body = read_body(&req, payload, state.config.max_json_body).await?;
    let request: GcRequest = if body.is_empty() {
        GcRequest::default()
    } else {
        parse_json(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?
    };
    let grace = request.grace_seconds.map(Duration::from_secs).unwrap_or(state.config.gc_grace);
    let report = state
        .storage
        .send(Gc { dry_run: request.dry_run, grace })
        .await
        .map_err(|e| ApiError::Unavailable(format!("storage actor: {e}")))?
        .map_err(gc_error)?;
    Ok(HttpResponse::Ok().json(report))
}

/// A sweep already running is the caller's conflict (`409`, try again later); a store or
/// catalog that does not answer is `503`.
fn gc_error(e: GcError) -> ApiError {
    match e {
        GcError::Busy => ApiError::Conflict(e.to_string()),
        GcError::Store(_) | GcError::Catalog(_) => ApiError::Unavailable(format!("gc: {e}")),
    }
}

//! `/ui/`: the figures an operator looks at first (requests, hit ratio, bytes served and saved,
//! storage and what deduplication saves), this replica's health (PostgreSQL, the coordinator,
//! the store), every repository's line, and a live chart (inline SVG) of requests per second and
//! hit ratio over the last 15 minutes, drawn by the script from the event stream.
//!
//! Elements the script updates carry `data-fig` names, the keys of `/ui/live/stats`.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use super::error::UiError;
use super::remotes::breaker_badge;
use super::session::Session;
use super::{fmt, layout};
use crate::http::system::health_report;
use crate::observe::history::STEP_SECS;
use crate::state::AppState;

fn card(title: &str, fig: &str, value: String, sub: Markup) -> Markup {
    html! {
        div.card {
            h2 { (title) }
            p.big data-fig=(fig) { (value) }
            p { (sub) }
        }
    }
}

fn health_row(name: &str, check: &Value) -> Markup {
    let ok = check["status"] == "ok";
    html! {
        tr {
            th scope="row" { (name) " " span.muted { (check["backend"].as_str().unwrap_or("")) } }
            td { span class={"badge " (if ok { "ok" } else { "bad" })} { (if ok { "ok" } else { "error" }) } }
            td.num { (format!("{:.1}", check["latency_ms"].as_f64().unwrap_or(0.0))) " ms" }
            td { (check["error"].as_str().unwrap_or("")) }
        }
    }
}

/// The chart frame with this replica's history of the last 15 minutes (`[[bucket, hits,
/// misses], ...]`); the script draws it and adds what the event stream brings.
fn chart(history: &[(i64, u64, u64)]) -> Markup {
    let data = serde_json::to_string(history).unwrap_or_else(|_| "[]".into());
    html! {
        figure.chart {
            figcaption #chart-title { "Requests per second and hit ratio, last 15 minutes (this replica's count, then live from the event stream)" }
            svg #chart viewBox="0 0 900 220" role="img" aria-labelledby="chart-title" preserveAspectRatio="none"
                data-history=(data) data-step=(STEP_SECS) {
                g.grid {
                    line x1="0" y1="10" x2="900" y2="10" {}
                    line x1="0" y1="105" x2="900" y2="105" {}
                    line x1="0" y1="200" x2="900" y2="200" {}
                }
                polyline #chart-rps.rps points="" {}
                polyline #chart-hit.hit points="" {}
            }
            div.legend {
                span.key.rps { "requests/s (max " span #chart-max { "0" } ")" }
                span.key.hit { "hit ratio (0–100 %)" }
                span.muted { "15 min ago ← → now" }
            }
        }
    }
}

/// `GET /ui/`.
pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    let (report, (healthy, health)) = tokio::join!(
        state.observe.stats(&state.db, &state.coord, state.registry.names(), None),
        health_report(&state),
    );
    let report = report?.ok_or_else(|| UiError::Internal("no statistics".into()))?;
    let history = state.observe.history();
    let t = &report.total;
    let saved = t.counts.bytes_served.saturating_sub(t.counts.bytes_fetched);
    let s = &report.storage;
    let body = html! {
        h1 { "Overview" }
        div.cards #figures {
            (card("Requests", "requests", t.counts.requests.to_string(), html! {
                span data-fig="hits" { (t.counts.hits) } " hits · " span data-fig="misses" { (t.counts.misses) } " misses" }))
            (card("Hit ratio", "hit_ratio", fmt::ratio(t.hit_ratio), html! {
                span data-fig="stale" { (t.counts.stale) } " stale · " span data-fig="revalidated" { (t.counts.revalidated) } " revalidated" }))
            (card("Bytes served", "bytes_served", fmt::bytes(t.counts.bytes_served), html! {
                span data-fig="bytes_saved" { (fmt::bytes(saved)) } " not fetched again" }))
            (card("Storage", "bytes", fmt::bytes(s.totals.bytes), html! {
                span data-fig="blobs" { (s.totals.blobs) } " blobs · dedup saves " span data-fig="dedup" { (fmt::signed_bytes(s.dedup_saving_bytes)) } }))
        }
        (chart(&history))
        section aria-labelledby="health-h" {
            h2 #health-h { "Health of replica " code { (health["replica"].as_str().unwrap_or("")) } " "
                span class={"badge " (if healthy { "ok" } else { "bad" })} { (if healthy { "ok" } else { "degraded" }) } }
            div.scroll { table #health {
                caption.sr-only { "Dependencies and their round trips" }
                thead { tr { th scope="col" { "Dependency" } th scope="col" { "Status" } th.num scope="col" { "Round trip" } th scope="col" { "Error" } } }
                tbody {
                    (health_row("Catalog", &health["checks"]["database"]))
                    (health_row("Coordinator", &health["checks"]["coordinator"]))
                    (health_row("Storage", &health["checks"]["storage"]))
                }
            } }
            @for w in health["warnings"].as_array().into_iter().flatten() {
                p.warn role="alert" { (w["message"].as_str().unwrap_or("")) }
            }
        }
        section aria-labelledby="repos-h" {
            h2 #repos-h { "Repositories" }
            div.scroll { table #repo-figures {
                caption.sr-only { "Figures per repository" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Type" } th scope="col" { "Breaker" }
                    th.num scope="col" { "Requests" } th.num scope="col" { "Hit ratio" } th.num scope="col" { "Served" } th.num scope="col" { "Stored" } } }
                tbody { @for r in &report.repositories {
                    @let link = match r.kind.as_str() { "remote" => "/ui/remotes/", "local" => "/ui/locals/", _ => "/ui/virtuals#v-" };
                    tr data-repo=(r.name) {
                        th scope="row" { a href={(link) (fmt::query_value(&r.name))} { (r.name) } }
                        td { (r.kind) } td { (r.package_type) }
                        td { @if r.kind == "remote" { (breaker_badge(&r.name, r.breaker)) } }
                        td.num data-repo-fig="requests" { (r.figures.counts.requests) }
                        td.num data-repo-fig="hit_ratio" { (fmt::ratio(r.figures.hit_ratio)) }
                        td.num data-repo-fig="bytes_served" { (fmt::bytes(r.figures.counts.bytes_served)) }
                        td.num { (fmt::bytes(r.figures.bytes_stored)) }
                    }
                } }
            } }
        }
    };
    Ok(layout::page(&session, "/ui/", "Overview", body))
}

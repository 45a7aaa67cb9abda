//! `/ui/gc`: garbage collection of the blob store: the last run's report (as this replica saw
//! it), a dry run and a run (admin, CSRF-checked forms), each answered with its report.

use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::storage::{Gc, GcReport};
use chrono::Utc;
use maud::{html, Markup};

use super::error::UiError;
use super::session::{field, Session};
use super::{fmt, layout};
use crate::state::AppState;

fn report_table(r: &GcReport) -> Markup {
    html! {
        table.kv #gc-report {
            tr { th scope="row" { "Kind" } td { @if r.dry_run { "dry run (nothing deleted)" } @else { "run" } } }
            tr { th scope="row" { "Blobs scanned" } td { (r.scanned) } }
            tr { th scope="row" { @if r.dry_run { "Would delete" } @else { "Deleted" } } td { (r.deleted) " (" (fmt::bytes(r.deleted_bytes)) ")" } }
            tr { th scope="row" { "Kept, referenced" } td { (r.kept_referenced) } }
            tr { th scope="row" { "Kept, within the grace period" } td { (r.kept_recent) } }
            tr { th scope="row" { "Failed deletions" } td { (r.failed) } }
            tr { th scope="row" { "Took" } td { (r.duration_ms) " ms" } }
        }
    }
}

fn render(state: &AppState, session: &Session, result: Option<Markup>) -> HttpResponse {
    let last = state.observe.recent().last_gc();
    let now = Utc::now();
    let body = html! {
        h1 { "Garbage collection" }
        p { "Deletes blobs that no cached object, local file or upload references, once they are older than the grace period ("
            (state.config.gc_grace.as_secs()) " s)." }
        @if let Some(r) = result { section.result role="status" { h2 { "Result" } (r) } }
        @if session.can_admin {
            div.row {
                form method="post" action="/ui/gc" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    input type="hidden" name="dry_run" value="1";
                    button #gc-dry type="submit" { "Dry run" }
                }
                form method="post" action="/ui/gc" data-confirm="Delete every unreferenced blob past the grace period?" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button.danger #gc-run type="submit" { "Run garbage collection" }
                }
            }
        } @else {
            p.muted { "Running it needs an admin login." }
        }
        h2 { "Last run on this replica" }
        @match last.as_ref().and_then(|e| e.detail.clone().map(|d| (e.time, d))) {
            Some((at, detail)) => {
                p { (fmt::time(at)) " (" (fmt::relative(at, now)) ")" }
                @match serde_json::from_value::<GcReportView>(detail) {
                    Ok(v) => (report_table(&v.into())),
                    Err(_) => p.muted { "(report unreadable)" },
                }
            },
            None => p.muted { "None since this replica started." },
        }
    };
    layout::page(session, "/ui/gc", "Garbage collection", body)
}

/// The report as its `gc_run` event carries it.
#[derive(serde::Deserialize)]
struct GcReportView {
    scanned: u64,
    deleted: u64,
    deleted_bytes: u64,
    kept_referenced: u64,
    kept_recent: u64,
    failed: u64,
    dry_run: bool,
    duration_ms: u64,
}

impl From<GcReportView> for GcReport {
    fn from(v: GcReportView) -> GcReport {
        GcReport {
            scanned: v.scanned,
            deleted: v.deleted,
            deleted_bytes: v.deleted_bytes,
            kept_referenced: v.kept_referenced,
            kept_recent: v.kept_recent,
            failed: v.failed,
            dry_run: v.dry_run,
            duration_ms: v.duration_ms,
        }
    }
}

/// `GET /ui/gc`.
pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    Ok(render(&state, &session, None))
}

/// `POST /ui/gc` (`dry_run=1` for a dry run).
pub async fn run(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let (session, fields) = Session::post(&req, payload, &state).await?;
    session.require_admin()?;
    let dry_run = field(&fields, "dry_run") == Some("1");
    let result = state
        .storage
        .send(Gc { dry_run, grace: state.config.gc_grace })
        .await
        .map_err(|e| UiError::Unavailable(format!("storage actor: {e}")))?;
    let shown = match result {
        Ok(report) => report_table(&report),
        Err(e) => html! { p.error role="alert" { "Garbage collection failed: " (e.to_string()) } },
    };
    Ok(render(&state, &session, Some(shown)))
}

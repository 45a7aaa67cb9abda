//! `/ui/events`: the live event stream as a table that grows at the top, filtered by repository,
//! type and cache status in the browser, with a pause button. The page itself is static; the
//! script fills it from `/ui/live/events` and reconnects (with `Last-Event-ID`, as every
//! `EventSource` does) when the server restarts.

use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::events::EventKind;
use maud::html;

use super::error::UiError;
use super::layout;
use super::session::Session;
use crate::state::AppState;

/// `GET /ui/events`.
pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    let names = state.registry.names();
    let body = html! {
        h1 { "Live events" }
        noscript { p.error { "The live feed needs JavaScript; the " a href="/ui/access-log" { "access log" } " does not." } }
        form #event-filters.row {
            label for="f-repo" { "Repository" }
            select #f-repo { option value="" { "all" } @for n in &names { option value=(n) { (n) } } }
            label for="f-type" { "Type" }
            select #f-type { option value="" { "all" } @for k in EventKind::ALL { option value=(k.as_str()) { (k.as_str()) } } }
            label for="f-cache" { "Cache status" }
            select #f-cache {
                option value="" { "all" }
                option value="HIT" { "HIT" } option value="MISS" { "MISS" }
                option value="STALE" { "STALE" } option value="REVALIDATED" { "REVALIDATED" }
            }
            button #pause type="button" aria-pressed="false" { "Pause" }
            button #clear type="button" { "Clear" }
        }
        p.muted #event-count role="status" aria-live="polite" { "Waiting for events…" }
        div.scroll.events {
            table #event-table data-live-table="1" {
                caption.sr-only { "Events, newest first" }
                thead { tr { th scope="col" { "Time" } th scope="col" { "Type" } th scope="col" { "Repository" }
                    th scope="col" { "Path" } th scope="col" { "Status" } th.num scope="col" { "Size" } th.num scope="col" { "ms" }
                    th scope="col" { "Replica" } } }
                tbody {}
            }
        }
    };
    Ok(layout::page(&session, "/ui/events", "Live events", body))
}

//! `/ui/access-log`: the flushed access log, newest first, with the API's filters (repository,
//! status or class, cache status, path prefix, time range) and paging by cursor. The query is
//! parsed by the API's own parser, so the page accepts exactly what `/api/v2/access-log` does.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::error::UiError;
use super::session::Session;
use super::{fmt, layout};
use crate::observe::query::access_filter;
use crate::state::AppState;

const FIELDS: [&str; 7] = ["repo", "status", "cache", "path_prefix", "since", "until", "cursor"];

/// `GET /ui/access-log`.
pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    // Empty fields of the form are left out, as if not given.
    let given: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(k, v)| FIELDS.contains(&k.as_ref()) && !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let value = |k: &str| given.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str());
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&given).finish();
    let filter = access_filter(format!("{query}&limit=100").trim_start_matches('&'));
    let (entries, error) = match filter {
        Ok(f) => (state.db.query_access_log(&f).await?, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let next = (entries.len() == 100).then(|| entries.last().map(|e| e.id.to_string())).flatten().map(|cursor| {
        let mut pairs: Vec<(&str, &str)> = FIELDS[..6].iter().map(|k| (*k, value(k))).collect();
        pairs.push(("cursor", &cursor));
        format!("/ui/access-log{}", fmt::query(&pairs))
    });
    let names = state.registry.names();
    let body = html! {
        h1 { "Access log" }
        form.row method="get" action="/ui/access-log" {
            label for="a-repo" { "Repository" }
            select #a-repo name="repo" { option value="" { "all" }
                @for n in &names { option value=(n) selected[value("repo") == n] { (n) } } }
            label for="a-status" { "Status" }
            input #a-status name="status" size="5" value=(value("status")) placeholder="404, 5xx";
            label for="a-cache" { "Cache" }
            select #a-cache name="cache" { option value="" { "all" }
                @for c in ["HIT", "MISS", "STALE", "REVALIDATED"] { option value=(c) selected[value("cache").eq_ignore_ascii_case(c)] { (c) } } }
            label for="a-prefix" { "Path prefix" }
            input #a-prefix name="path_prefix" value=(value("path_prefix"));
            label for="a-since" { "Since" }
            input #a-since name="since" value=(value("since")) placeholder="2024-05-01T12:00:00Z";
            label for="a-until" { "Until" }
            input #a-until name="until" value=(value("until")) placeholder="RFC 3339";
            button type="submit" { "Filter" }
        }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        p.muted { "Rows are written in batches, a few seconds after the request." }
        div.scroll { table #access-table {
            caption.sr-only { "Access log, newest first" }
            thead { tr { th scope="col" { "Time" } th scope="col" { "Repository" } th scope="col" { "Method" } th scope="col" { "Path" }
                th.num scope="col" { "Status" } th scope="col" { "Cache" } th.num scope="col" { "Bytes" } th.num scope="col" { "ms" } th scope="col" { "Client" } } }
            tbody { @for e in &entries { tr {
                td { (fmt::time(e.at)) } td { (e.repo) } td { (e.method) } td { code { (e.path) } }
                td.num { (e.status) } td { (e.cache_status.as_deref().unwrap_or("")) }
                td.num { (fmt::bytes(e.bytes.max(0) as u64)) } td.num { (e.duration_ms) } td { (e.client.as_deref().unwrap_or("")) }
            } } }
        } }
        @if entries.is_empty() && error.is_none() { p.muted { "No rows match." } }
        @if let Some(href) = next {
            p { a rel="next" href=(href) { "Older →" } }
        }
    };
    Ok(layout::page(&session, "/ui/access-log", "Access log", body))
}

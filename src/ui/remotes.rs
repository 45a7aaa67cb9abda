//! `/ui/remotes`: every remote with its type, upstream, breaker and figures; and a remote's own
//! page: configuration (without the password), breaker with the last upstream failure and when
//! it lets a probe through again, figures, a probe form, and the object browser ([`super::objects`]).

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use artifactapi_actors::remote::BreakerState;
use chrono::{DateTime, TimeZone, Utc};
use maud::{html, Markup};
use serde_json::Value;

use super::error::UiError;
use super::session::{field, Session};
use super::{fmt, layout, objects};
use crate::observe::scrape;
use crate::observe::stats::RepoReport;
use crate::probe::{self, ProbeError, ProbeRequest};
use crate::state::AppState;

/// The breaker as a labelled badge (the text says it; the colour only repeats it).
pub fn breaker_badge(remote: &str, state: Option<BreakerState>) -> Markup {
    let (class, text) = match state {
        Some(BreakerState::Closed) => ("ok", "closed"),
        Some(BreakerState::HalfOpen) => ("warn", "half-open"),
        Some(BreakerState::Open) => ("bad", "open"),
        None => ("", "unknown"),
    };
    html! { span class={"badge " (class)} data-breaker=(text) data-for=(remote) { (text) } }
}

/// The figures of every repository by name (from the same report as `/api/v2/stats`).
pub async fn reports(state: &AppState) -> Result<HashMap<String, RepoReport>, UiError> {
    let report = state.observe.stats(&state.db, &state.coord, state.registry.names(), None).await?;
    Ok(report.map(|r| r.repositories.into_iter().map(|r| (r.name.clone(), r)).collect()).unwrap_or_default())
}

/// `GET /ui/remotes`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    let (specs, figures) = tokio::try_join!(async { Ok(state.db.list_remotes().await?) }, reports(&state))?;
    let body = html! {
        h1 { "Remotes" }
        @if specs.is_empty() {
            p { "No remotes yet. Create one with " code { "POST /api/v2/remotes" } "." }
        } @else {
            div.scroll {
                table #remotes {
                    caption.sr-only { "Remotes, their upstreams, breakers and figures" }
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Upstream" }
                        th scope="col" { "Breaker" } th.num scope="col" { "Requests" } th.num scope="col" { "Hit ratio" }
                        th.num scope="col" { "Served" } th.num scope="col" { "Stored" }
                    } }
                    tbody {
                        @for spec in &specs {
                            @let f = figures.get(&spec.name);
                            tr data-repo=(spec.name) {
                                th scope="row" { a href={"/ui/remotes/" (spec.name)} { (spec.name) } }
                                td { (spec.package_type.as_str()) }
                                td.url { (spec.base_url) }
                                td { (breaker_badge(&spec.name, f.and_then(|f| f.breaker))) }
                                td.num { (f.map_or(0, |f| f.figures.counts.requests)) }
                                td.num { (fmt::ratio(f.and_then(|f| f.figures.hit_ratio))) }
                                td.num { (fmt::bytes(f.map_or(0, |f| f.figures.counts.bytes_served))) }
                                td.num { (fmt::bytes(f.map_or(0, |f| f.figures.bytes_stored))) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, "/ui/remotes", "Remotes", body))
}

fn millis(ms: u64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()
}

/// A configuration value as text: strings bare, lists one per line, the rest as JSON.
fn config_value(v: &Value) -> Markup {
    match v {
        Value::String(s) => html! { (s) },
        Value::Array(items) if items.is_empty() => html! { span.muted { "none" } },
        Value::Array(items) => {
            html! { ul.plain { @for i in items { li { code { (i.as_str().map_or_else(|| i.to_string(), str::to_string)) } } } } }
        }
        other => html! { code { (other.to_string()) } },
    }
}

/// What the remote page shows besides the browser: a probe's result or a finished action.
pub enum Extra {
    None,
    Notice(String),
    Probe(Markup),
}

/// The remote page, for `GET` and after a probe.
pub async fn render(
    state: &AppState,
    session: &Session,
    name: &str,
    objects_query: &str,
    extra: Extra,
) -> Result<HttpResponse, UiError> {
    let entry = state.registry.get(name).ok_or_else(|| UiError::NotFound(format!("no remote named {name:?}")))?;
    let spec = entry.remote.spec.redacted();
    let (figures, breaker, browser) = tokio::join!(
        reports(state),
        scrape::breaker_detail(&state.coord, name),
        objects::browser(state, session, &entry, objects_query),
    );
    let figures = figures?;
    let browser = browser?;
    let f = figures.get(name);
    let failure = state.observe.recent().last_failure(name);
    let now = Utc::now();
    let config = match serde_json::to_value(&spec) {
        Ok(Value::Object(map)) => map,
        _ => Default::default(),
    };
    let body = html! {
        h1 { "Remote " (name) }
        @match &extra {
            Extra::Notice(n) => p.notice role="status" { (n) },
            _ => {},
        }
        div.cards {
            div.card { h2 { "Breaker" }
                p.big { (breaker_badge(name, breaker.map(|b| b.0))) }
                @if let Some((BreakerState::Open | BreakerState::HalfOpen, Some(until))) = breaker {
                    @if let Some(t) = millis(until) {
                        p #reopens { "Lets a probe through " (fmt::relative(t, now)) " (" (fmt::time(t)) ")" }
                    }
                }
            }
            div.card { h2 { "Requests" } p.big { (f.map_or(0, |f| f.figures.counts.requests)) }
                p { "hit ratio " (fmt::ratio(f.and_then(|f| f.figures.hit_ratio))) } }
            div.card { h2 { "Bytes" } p.big { (fmt::bytes(f.map_or(0, |f| f.figures.counts.bytes_served))) }
                p { "served; " (fmt::bytes(f.map_or(0, |f| f.figures.counts.bytes_fetched))) " fetched" } }
            div.card { h2 { "Stored" } p.big { (fmt::bytes(f.map_or(0, |f| f.figures.bytes_stored))) }
                p { (f.map_or(0, |f| f.figures.objects)) " objects" } }
        }
        section aria-labelledby="last-error" {
            h2 #last-error { "Last upstream error" }
            @if let Some(e) = &failure {
                p.error #upstream-error {
                    (fmt::time(e.time)) " (" (fmt::relative(e.time, now)) "): "
                    @if let Some(s) = e.status { "status " (s) " " }
                    @if let Some(p) = &e.path { "for " code { (p) } " " }
                    @if let Some(d) = &e.detail { "— " (d.as_str().map_or_else(|| d.to_string(), str::to_string)) }
                }
            } @else {
                p.muted { "None seen by this replica since it started." }
            }
        }
        details.config {
            summary { "Configuration" }
            table.kv {
                @for (k, v) in &config {
                    tr { th scope="row" { (k) } td { (config_value(v)) } }
                }
            }
        }
        section aria-labelledby="probe-h" {
            h2 #probe-h { "Probe the upstream" }
            p.muted { "Asks the upstream for a path without caching anything." }
            @if session.can_admin {
                form.row method="post" action={"/ui/remotes/" (name) "/probe"} {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="probe-path" { "Path" }
                    input #probe-path type="text" name="path" required placeholder="e.g. simple/requests/";
                    button type="submit" { "Probe" }
                }
            } @else {
                p.muted { "Probing needs an admin login." }
            }
            @if let Extra::Probe(result) = &extra { (result) }
        }
        (browser)
    };
    Ok(layout::page(session, "/ui/remotes", &format!("Remote {name}"), body))
}

/// `GET /ui/remotes/{name}`.
pub async fn page(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    let done = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.into_owned());
    let extra = done.map_or(Extra::None, Extra::Notice);
    render(&state, &session, &name, req.query_string(), extra).await
}

fn probe_result(path: &str, report: &Value) -> Markup {
    let allowed = report["access"]["allowed"].as_bool().unwrap_or(true);
    html! {
        div #probe-result.result role="status" {
            h3 { "Probe of " code { (path) } }
            p {
                @match report["status"].as_u64() {
                    Some(status) => { "Upstream answered " strong { (status) } }
                    None => { strong.error { "No answer" } }
                }
                " in " (format!("{:.0}", report["total_ms"].as_f64().unwrap_or(0.0))) " ms, "
                (fmt::bytes(report["size"].as_u64().unwrap_or(0)))
                @if report["complete"] == false { " (incomplete)" }
                "; classified " (report["classification"]["class"].as_str().unwrap_or("?"))
                @if !allowed { "; " span.error { "refused by the remote's rules" } }
                "."
            }
            @if let Some(e) = report["error"].as_str() { p.error { (e) } }
            details { summary { "Full report" } pre { (serde_json::to_string_pretty(report).unwrap_or_default()) } }
        }
    }
}

/// `POST /ui/remotes/{name}/probe`: the probe's report shown on the remote page.
pub async fn probe(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let (session, fields) = Session::post(&req, payload, &state).await?;
    session.require_admin()?;
    let path = field(&fields, "path").unwrap_or("").to_string();
    let request =
        ProbeRequest { remote: Some(name.to_string()), config: None, path: path.clone(), timeout_seconds: None };
    let result = match probe::prepare(request, &state.registry, state.config.probe_allow_private).await {
        Ok(prepared) => {
            let report =
                probe::run(prepared, state.config.upstream_connect_timeout, state.config.upstream_read_timeout).await;
            probe_result(&path, &serde_json::to_value(report).unwrap_or_default())
        }
        Err(ProbeError::UnknownRemote(n)) => return Err(UiError::NotFound(format!("no remote named {n:?}"))),
        Err(e) => html! { p.error #probe-result role="alert" { (e.to_string()) } },
    };
    render(&state, &session, &name, "", Extra::Probe(result)).await
}

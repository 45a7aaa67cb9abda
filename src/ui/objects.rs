//! The object browser of a remote's page (prefix search, sort by path or last access, paging
//! by cursor: the API's parser and queries) and eviction of one object, a prefix or everything.
//!
//! Each eviction is two steps that work without JavaScript: the link opens a confirmation page
//! saying what will go (with the count), whose button posts the form (CSRF-checked, `admin`).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use maud::{html, Markup};

use super::error::UiError;
use super::session::{field, Session};
use super::{fmt, layout};
use crate::db::objects::{EvictTarget, Order, Sort};
use crate::objects::query::{check_prefix, encode_cursor, parse_list};
use crate::objects::{evict, ObjectView, SortKey};
use crate::paths::RepoPath;
use crate::registry::RemoteEntry;
use crate::state::AppState;

/// The browser's own parameters out of a page's query string (which carries others too).
fn browser_query(query: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if matches!(k.as_ref(), "prefix" | "sort" | "order" | "cursor") && !v.is_empty() {
            s.append_pair(&k, &v);
        }
    }
    s.finish()
}

/// The browser section of a remote's page.
pub async fn browser(state: &AppState, session: &Session, entry: &RemoteEntry, query: &str) -> Result<Markup, UiError> {
    let name = entry.remote.spec.name.as_str();
    let q = parse_list(&browser_query(query)).map_err(|e| UiError::BadRequest(format!("object browser: {e}")))?;
    let limit = 50u32;
    let prefix = q.prefix.as_deref();
    let (mut rows, total) = tokio::try_join!(
        state.db.list_objects(name, prefix, q.sort, q.order, q.after.as_ref(), limit + 1),
        state.db.count_objects(name, prefix),
    )?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = match rows.last() {
        Some(last) if more => Some(encode_cursor(&SortKey::of(last, q.sort), q.order)),
        _ => None,
    };
    let objects: Vec<ObjectView> = rows.into_iter().map(|r| ObjectView::new(r, &entry.remote.spec)).collect();
    let sort = match q.sort {
        Sort::Path => "path",
        Sort::LastAccess => "last_access",
    };
    let order = match q.order {
        Order::Asc => "asc",
        Order::Desc => "desc",
    };
    let prefix = prefix.unwrap_or("");
    let base = format!("/ui/remotes/{}", fmt::query_value(name));
    let now = Utc::now();
    Ok(html! {
        section #objects aria-labelledby="objects-h" {
            h2 #objects-h { "Cached objects" }
            form.row method="get" action=(base) role="search" {
                label for="prefix" { "Path prefix" }
                input #prefix type="search" name="prefix" value=(prefix) placeholder="e.g. simple/";
                label for="sort" { "Sort by" }
                select #sort name="sort" {
                    option value="path" selected[sort == "path"] { "path" }
                    option value="last_access" selected[sort == "last_access"] { "last access" }
                }
                label for="order" { "Order" }
                select #order name="order" {
                    option value="asc" selected[order == "asc"] { "ascending" }
                    option value="desc" selected[order == "desc"] { "descending" }
                }
                button type="submit" { "Show" }
            }
            p #objects-total {
                (total) " object" @if total != 1 { "s" }
                @if !prefix.is_empty() { " under " code { (prefix) } }
                @if session.can_admin && total > 0 {
                    " · "
                    @if prefix.is_empty() {
                        a.danger #evict-all href={(base) "/evict" (fmt::query(&[("all", "1")]))} { "Evict all" }
                    } @else {
                        a.danger #evict-prefix href={(base) "/evict" (fmt::query(&[("prefix", prefix)]))} { "Evict everything under this prefix" }
                    }
                }
            }
            @if !objects.is_empty() {
                div.scroll {
                    table #object-table {
                        caption.sr-only { "Cached objects of " (name) }
                        thead { tr {
                            th scope="col" { "Path" } th scope="col" { "Variant" } th.num scope="col" { "Size" }
                            th scope="col" { "Kind" } th.num scope="col" { "Hits" } th scope="col" { "Last access" }
                            th scope="col" { "Expires" }
                            @if session.can_admin { th scope="col" { span.sr-only { "Actions" } } }
                        } }
                        tbody {
                            @for o in &objects {
                                tr data-path=(o.path) {
                                    th scope="row" { code { (o.path) } }
                                    td { (o.variant) }
                                    td.num { (fmt::bytes(o.size)) }
                                    td { @if o.mutable { "mutable" } @else { "immutable" } }
                                    td.num { (o.hits) }
                                    td title=(fmt::time(o.last_access)) { (fmt::relative(o.last_access, now)) }
                                    td { @if let Some(e) = o.expires_at { (fmt::relative(e, now)) } @else { "never" } }
                                    @if session.can_admin {
                                        td { a.danger href={(base) "/evict" (fmt::query(&[("path", &o.path)]))}
                                            aria-label={"Evict " (o.path)} { "Evict" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(cursor) = next {
                p { a rel="next" #next-page href={(base) (fmt::query(&[("prefix", prefix), ("sort", sort), ("order", order), ("cursor", &cursor)]))} { "Next page →" } }
            }
        }
    })
}

/// What an eviction form asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    All,
    Prefix(String),
    Path(RepoPath),
}

/// Reads the target out of `path=`, `prefix=` or `all=1` (exactly one).
fn target(pairs: &[(String, String)]) -> Result<Target, UiError> {
    let get = |k: &str| field(pairs, k).filter(|v| !v.is_empty());
    match (get("path"), get("prefix"), get("all")) {
        (Some(p), None, None) => RepoPath::from_decoded(p)
            .map(Target::Path)
            .map_err(|e| UiError::BadRequest(format!("path: invalid path: {e}"))),
        (None, Some(p), None) => {
            check_prefix(p).map_err(|e| UiError::BadRequest(e.to_string()))?;
            Ok(Target::Prefix(p.to_string()))
        }
        (None, None, Some("1")) => Ok(Target::All),
        _ => Err(UiError::BadRequest("give one of path, prefix or all=1".into())),
    }
}

impl Target {
    fn db(&self) -> EvictTarget<'_> {
        match self {
            Target::All => EvictTarget::All,
            Target::Prefix(p) => EvictTarget::Prefix(p),
            Target::Path(p) => EvictTarget::Path(p.as_str()),
        }
    }

    fn describe(&self) -> Markup {
        match self {
            Target::All => html! { "every cached object" },
            Target::Prefix(p) => html! { "every cached object under " code { (p) } },
            Target::Path(p) => html! { "every variant of " code { (p.as_str()) } },
        }
    }

    fn hidden(&self) -> Markup {
        match self {
            Target::All => html! { input type="hidden" name="all" value="1"; },
            Target::Prefix(p) => html! { input type="hidden" name="prefix" value=(p); },
            Target::Path(p) => html! { input type="hidden" name="path" value=(p.as_str()); },
        }
    }
}

fn remote(state: &AppState, name: &str) -> Result<RemoteEntry, UiError> {
    state.registry.get(name).ok_or_else(|| UiError::NotFound(format!("no remote named {name:?}")))
}

fn pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// `GET /ui/remotes/{name}/evict?path=|prefix=|all=1`: the confirmation.
pub async fn confirm(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    session.require_admin()?;
    remote(&state, &name)?;
    let target = target(&pairs(req.query_string()))?;
    let count = match &target {
        Target::All => state.db.count_objects(&name, None).await?,
        Target::Prefix(p) => state.db.count_objects(&name, Some(p)).await?,
        Target::Path(_) => 1,
    };
    let back = format!("/ui/remotes/{}", fmt::query_value(&name));
    let body = html! {
        h1 { "Evict from " (name.as_str()) "?" }
        p { "This removes " (target.describe()) " from the cache of " strong { (name.as_str()) }
            @if !matches!(target, Target::Path(_)) { " (" (count) " object" @if count != 1 { "s" } ")" }
            ". The next request for them goes to the upstream again." }
        form.row method="post" action={(back) "/evict"} {
            input type="hidden" name="csrf" value=(session.csrf);
            (target.hidden())
            button.danger #confirm-evict type="submit" { "Evict" }
            a href=(back) { "Cancel" }
        }
    };
    Ok(layout::page(&session, "/ui/remotes", "Confirm eviction", body))
}

/// `POST /ui/remotes/{name}/evict`: evicts, then back to the remote's page saying what went.
pub async fn evict(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let (session, fields) = Session::post(&req, payload, &state).await?;
    session.require_admin()?;
    let entry = remote(&state, &name)?;
    let target = target(&fields)?;
    let gone = evict::evict(&state, &entry, target.db()).await?;
    tracing::info!(who = session.principal.name(), repo = %name, evicted = gone.count, "evicted from the dashboard");
    let done = format!(
        "Evicted {} object{} ({}).",
        gone.count,
        if gone.count == 1 { "" } else { "s" },
        fmt::bytes(gone.bytes)
    );
    let to = format!("/ui/remotes/{}{}", fmt::query_value(&name), fmt::query(&[("done", &done)]));
    Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn eviction_targets_are_checked_like_the_api() {
        assert_eq!(target(&p(&[("all", "1")])).unwrap(), Target::All);
        assert_eq!(target(&p(&[("prefix", "simple/")])).unwrap(), Target::Prefix("simple/".into()));
        assert!(matches!(target(&p(&[("path", "a/b c.txt")])).unwrap(), Target::Path(p) if p.as_str() == "a/b c.txt"));
        let refused: &[&[(&str, &str)]] = &[
            &[],
            &[("all", "yes")],
            &[("path", "../etc/passwd")],
            &[("path", "a/../../b")],
            &[("path", "a\\..\\b")],
            &[("path", "a\0b")],
            &[("prefix", "../")],
            &[("path", "a"), ("prefix", "b")],
            &[("path", "a"), ("all", "1")],
        ];
        for case in refused {
            assert!(matches!(target(&p(case)), Err(UiError::BadRequest(_))), "{case:?}");
        }
    }

    #[test]
    fn the_browser_keeps_only_its_own_parameters() {
        assert_eq!(browser_query("done=Evicted+1&prefix=a%2Fb&sort=path&x=1&cursor="), "prefix=a%2Fb&sort=path");
    }
}

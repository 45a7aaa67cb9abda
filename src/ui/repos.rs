//! `/ui/virtuals` and `/ui/locals`: virtual repositories with their members in the order requests
//! try them, and local repositories with what they hold (files by folder, published package
//! versions and tags, docker images and tags).

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::error::UiError;
use super::remotes::reports;
use super::session::Session;
use super::{fmt, layout};
use crate::formats::PackageType;
use crate::state::AppState;

/// Most rows of a local's listing shown on one page.
const LISTING_LIMIT: usize = 500;

/// A link to a member, wherever it lives.
fn member_link(state: &AppState, name: &str) -> Markup {
    if state.registry.get(name).is_some() {
        html! { a href={"/ui/remotes/" (fmt::query_value(name))} { (name) } " " span.muted { "(remote)" } }
    } else if state.registry.get_local(name).is_some() {
        html! { a href={"/ui/locals/" (fmt::query_value(name))} { (name) } " " span.muted { "(local)" } }
    } else {
        html! { (name) " " span.muted { "(missing)" } }
    }
}

/// `GET /ui/virtuals`.
pub async fn virtuals(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    let (specs, figures) = tokio::try_join!(async { Ok(state.db.list_virtuals().await?) }, reports(&state))?;
    let body = html! {
        h1 { "Virtuals" }
        @if specs.is_empty() {
            p { "No virtual repositories yet (" code { "POST /api/v2/virtuals" } ")." }
        }
        @for spec in &specs {
            @let f = figures.get(&spec.name);
            section.repo data-repo=(spec.name) aria-labelledby={"v-" (spec.name)} {
                h2 #{"v-" (spec.name)} { (spec.name) " " span.badge { (spec.package_type.as_str()) } }
                p { (f.map_or(0, |f| f.figures.counts.requests)) " requests, hit ratio "
                    (fmt::ratio(f.and_then(|f| f.figures.hit_ratio))) ", "
                    (fmt::bytes(f.map_or(0, |f| f.figures.counts.bytes_served))) " served" }
                p.muted { "Members, in the order requests try them:" }
                ol.members { @for m in &spec.members { li { (member_link(&state, m)) } } }
            }
        }
    };
    Ok(layout::page(&session, "/ui/virtuals", "Virtuals", body))
}

/// `GET /ui/locals`.
pub async fn locals(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    let (specs, figures) = tokio::try_join!(async { Ok(state.db.list_locals().await?) }, reports(&state))?;
    let body = html! {
        h1 { "Locals" }
        @if specs.is_empty() {
            p { "No local repositories yet (" code { "POST /api/v2/locals" } ")." }
        } @else {
            div.scroll { table #locals {
                caption.sr-only { "Local repositories" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th.num scope="col" { "Requests" }
                    th.num scope="col" { "Stored" } th scope="col" { "Overwrite" } } }
                tbody { @for spec in &specs {
                    @let f = figures.get(&spec.name);
                    tr data-repo=(spec.name) {
                        th scope="row" { a href={"/ui/locals/" (fmt::query_value(&spec.name))} { (spec.name) } }
                        td { (spec.package_type.as_str()) }
                        td.num { (f.map_or(0, |f| f.figures.counts.requests)) }
                        td.num { (fmt::bytes(f.map_or(0, |f| f.figures.bytes_stored))) }
                        td { @if spec.allow_overwrite { "allowed" } @else { "refused" } }
                    }
                } }
            } }
        }
    };
    Ok(layout::page(&session, "/ui/locals", "Locals", body))
}

/// The folder `dir` of a generic local.
async fn files(state: &AppState, name: &str, dir: &str) -> Result<Markup, UiError> {
    let dir = if dir.is_empty() || dir.ends_with('/') { dir.to_string() } else { format!("{dir}/") };
    let folder = state.db.local_folder(name, &dir, LISTING_LIMIT as i64).await?;
    let base = format!("/ui/locals/{}", fmt::query_value(name));
    let parent = dir.trim_end_matches('/').rsplit_once('/').map_or(String::new(), |(p, _)| format!("{p}/"));
    Ok(html! {
        h2 { "Files in " code { "/" (dir) } }
        @if !dir.is_empty() { p { a href={(base) (fmt::query(&[("dir", &parent)]))} { "↑ up" } } }
        @if folder.files.is_empty() && folder.folders.is_empty() { p.muted { "Empty." } }
        ul.plain { @for f in &folder.folders {
            @let sub = format!("{dir}{f}/");
            li { a href={(base) (fmt::query(&[("dir", &sub)]))} { "📁 " (f) "/" } }
        } }
        @if !folder.files.is_empty() {
            div.scroll { table #files {
                caption.sr-only { "Files" }
                thead { tr { th scope="col" { "Path" } th.num scope="col" { "Size" } th scope="col" { "Type" } th scope="col" { "Updated" } th scope="col" { "SHA-256" } } }
                tbody { @for f in &folder.files { tr {
                    th scope="row" { a href={"/api/v1/local/" (fmt::path(name)) "/" (fmt::path(&f.path))} { code { (f.path) } } }
                    td.num { (fmt::bytes(f.size)) }
                    td { (f.content_type.as_deref().unwrap_or("")) }
                    td { (fmt::time(f.updated_at)) }
                    td { code.digest { (f.digest.to_string()) } }
                } } }
            } }
        }
    })
}

/// Published versions and tags of a package local.
async fn packages(state: &AppState, name: &str) -> Result<Markup, UiError> {
    let all = state.db.local_packages(name, None).await?;
    let versions: Vec<_> = all.versions.iter().take(LISTING_LIMIT).collect();
    Ok(html! {
        h2 { "Packages and versions" }
        @if versions.is_empty() { p.muted { "Nothing published yet." } }
        @else {
            div.scroll { table #packages {
                caption.sr-only { "Package versions" }
                thead { tr { th scope="col" { "Package" } th scope="col" { "Version" } th scope="col" { "Tags" } th scope="col" { "State" } th scope="col" { "Published" } } }
                tbody { @for v in &versions { tr {
                    th scope="row" { (v.package) }
                    td { (v.version) }
                    td { @for t in all.tags.iter().filter(|t| t.package == v.package && t.version == v.version) { span.badge { (t.tag) } " " } }
                    td { @if v.published { "published" } @else { "unpublished" } }
                    td { (fmt::time(v.created_at)) }
                } } }
            } }
        }
    })
}

/// Images and tags of a docker local.
async fn images(state: &AppState, name: &str) -> Result<Markup, UiError> {
    let tags = state.db.docker_local_tags(name, LISTING_LIMIT).await?;
    Ok(html! {
        h2 { "Repositories and tags" }
        @if tags.is_empty() { p.muted { "Nothing pushed yet." } }
        @else {
            div.scroll { table #images {
                caption.sr-only { "Images and tags" }
                thead { tr { th scope="col" { "Image" } th scope="col" { "Tag" } th scope="col" { "Manifest digest" } } }
                tbody { @for (image, tag, digest) in &tags { tr {
                    th scope="row" { (image) } td { (tag) } td { code.digest { (digest) } }
                } } }
            } }
        }
    })
}

/// `GET /ui/locals/{name}[?dir=]`.
pub async fn local(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let session = Session::open(&req, &state)?;
    let spec = state
        .registry
        .get_local(&name)
        .ok_or_else(|| UiError::NotFound(format!("no local named {:?}", name.as_str())))?;
    let dir = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "dir")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if dir.split('/').any(|s| s == ".." || s == ".") || dir.contains(['\\', '\0']) {
        return Err(UiError::BadRequest(format!("dir: {dir:?} is not a folder path")));
    }
    let content = match spec.package_type {
        PackageType::Docker => images(&state, &name).await?,
        PackageType::Generic => files(&state, &name, &dir).await?,
        _ => packages(&state, &name).await?,
    };
    let body = html! {
        h1 { "Local " (name.as_str()) " " span.badge { (spec.package_type.as_str()) } }
        p.muted { "Uploads " @if spec.allow_overwrite { "may" } @else { "may not" } " overwrite a path that has a file." }
        (content)
    };
    Ok(layout::page(&session, "/ui/locals", &format!("Local {}", name.as_str()), body))
}

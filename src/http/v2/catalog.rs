//! `GET /v2/_catalog?n=&last=`: the repositories of the local docker repositories.
//!
//! Only locals hold repositories of their own (a remote's are its upstream's, which a
//! pull-through cache does not list), so the catalog names `{local}/{image}` for every image
//! with a manifest in a docker local the caller may read (the same rule as a pull from it),
//! in byte order, `n` at a time after `last`, with a `Link` to the next page as for tag lists.

use actix_web::http::{header, Method};
use actix_web::{HttpRequest, HttpResponse};

use super::error::{OciCode, OciError};
use super::local::auth;
use crate::docker_local::tags::{catalog_link, page, Pagination, MAX_PAGE};
use crate::formats::docker::CatalogPage;
use crate::formats::PackageType;
use crate::state::AppState;

/// `GET|HEAD /v2/_catalog`.
pub async fn handle(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, OciError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(OciError::method_not_allowed(req.method().as_str(), "GET, HEAD", "/v2/_catalog"));
    }
    let q = CatalogPage::parse(req.query_string())?;
    let readable: Vec<String> = state
        .registry
        .locals()
        .into_iter()
        .filter(|l| l.package_type == PackageType::Docker)
        .filter(|l| auth::require_read(req, state, &l.name, state.config.admin_token_reads).is_ok())
        .map(|l| l.name.clone())
        .collect();
    let p = Pagination { n: q.n.map_or(MAX_PAGE, |n| n as usize), last: q.last };
    let fetched = state
        .db
        .docker_repositories(&readable, p.last.as_deref(), p.fetch())
        .await
        .map_err(|e| OciError::from(crate::docker_local::Error::Db(e)))?;
    let listed = page(fetched, &p);
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CONTENT_TYPE, "application/json"));
    if let Some(after) = &listed.next_after {
        resp.insert_header((header::LINK, catalog_link(p.n, after)));
    }
    let body = serde_json::to_vec(&serde_json::json!({ "repositories": listed.tags }))
        .map_err(|e| OciError::new(OciCode::Unknown, e.to_string()))?;
    if req.method() == Method::HEAD {
        return Ok(super::local::head_only(resp, body.len() as u64));
    }
    Ok(resp.body(body))
}

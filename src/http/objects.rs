//! `/api/v2/remotes/{name}/objects[/{path}]`: browse and evict a remote's cached objects.
//!
//! `GET` lists one keyset-paginated page (see [`crate::objects::query`] for the parameters);
//! `DELETE` evicts every object, those under `?prefix=`, or every variant of one path (see
//! [`crate::objects::evict`]). Evictions need the admin token. The single-object path is taken
//! from the raw request line and checked like a proxy path, so no decoding can hide a `..`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::auth::require_admin;
use super::error::ApiError;
use super::openapi::ErrorBody;
use crate::db::objects::EvictTarget;
use crate::objects::query::{encode_cursor, parse_evict, parse_list};
use crate::objects::{evict, ObjectView, SortKey};
use crate::paths::RepoPath;
use crate::registry::RemoteEntry;
use crate::state::AppState;

const PREFIX: &str = "/api/v2/remotes/";

fn remote(state: &AppState, name: &str) -> Result<RemoteEntry, ApiError> {
    state.registry.get(name).ok_or_else(|| ApiError::not_found("remote", name))
}

#[utoipa::path(get, path = "/api/v2/remotes/{name}/objects", tag = "objects",
    params(("name" = String, Path), ("prefix" = Option<String>, Query), ("sort" = Option<String>, Query, description = "path | last_access"),
        ("order" = Option<String>, Query, description = "asc | desc"), ("limit" = Option<u32>, Query, description = "1..=1000"),
        ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "`{objects, next_cursor, total}`", body = Object),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let entry = remote(&state, &name)?;
    let q = parse_list(req.query_string()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let prefix = q.prefix.as_deref();
    let (mut rows, total) = tokio::try_join!(
        state.db.list_objects(&name, prefix, q.sort, q.order, q.after.as_ref(), q.limit + 1),
        state.db.count_objects(&name, prefix),
    )?;
    let more = rows.len() > q.limit as usize;
    rows.truncate(q.limit as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(encode_cursor(&SortKey::of(last, q.sort), q.order)),
        _ => None,
    };
    let spec = &entry.remote.spec;
    let objects: Vec<ObjectView> = rows.into_iter().map(|r| ObjectView::new(r, spec)).collect();
    Ok(HttpResponse::Ok().json(json!({ "objects": objects, "next_cursor": next_cursor, "total": total })))
}

#[utoipa::path(delete, path = "/api/v2/remotes/{name}/objects", tag = "objects",
    params(("name" = String, Path), ("prefix" = Option<String>, Query)),
    responses((status = 200, description = "`{evicted, bytes}`", body = Object), (status = 404, body = ErrorBody)))]
pub async fn evict_all(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let entry = remote(&state, &name)?;
    let prefix = parse_evict(req.query_string()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let target = prefix.as_deref().map_or(EvictTarget::All, EvictTarget::Prefix);
    let gone = evict::evict(&state, &entry, target).await?;
    Ok(HttpResponse::Ok().json(json!({ "evicted": gone.count, "bytes": gone.bytes })))
}

/// Splits `/api/v2/remotes/{name}/objects/{tail}` (raw) into the name and the encoded tail.
fn split_object(raw: &str) -> Option<(&str, &str)> {
    let (name, rest) = raw.strip_prefix(PREFIX)?.split_once('/')?;
    Some((name, rest.strip_prefix("objects/")?))
}

#[utoipa::path(delete, path = "/api/v2/remotes/{name}/objects/{path}", tag = "objects",
    params(("name" = String, Path), ("path" = String, Path)),
    responses((status = 200, description = "`{evicted, bytes}`", body = Object), (status = 404, body = ErrorBody)))]
pub async fn evict_one(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let (name, tail) = split_object(req.uri().path())
        .ok_or_else(|| ApiError::BadRequest("expected /api/v2/remotes/{name}/objects/{path}".into()))?;
    let entry = remote(&state, name)?;
    if !req.query_string().is_empty() {
        return Err(ApiError::BadRequest("query: evicting one object takes no parameters".into()));
    }
    let path = RepoPath::parse(tail).map_err(|e| ApiError::BadRequest(format!("invalid path: {e}")))?;
    let gone = evict::evict(&state, &entry, EvictTarget::Path(path.as_str())).await?;
    if gone.count == 0 {
        return Err(ApiError::Missing(format!("{:?} is not cached in remote {name:?}", path.as_str())));
    }
    Ok(HttpResponse::Ok().json(json!({ "evicted": gone.count, "bytes": gone.bytes })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_name_and_raw_object_path() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("/api/v2/remotes/r/objects/a/b.txt", Some(("r", "a/b.txt"))),
            ("/api/v2/remotes/r/objects/%2e%2e/x", Some(("r", "%2e%2e/x"))),
            ("/api/v2/remotes/r/objects/", Some(("r", ""))),
            ("/api/v2/remotes/r/objects", None),
            ("/api/v2/remotes/r/other/x", None),
            ("/api/v1/remote/r/x", None),
        ];
        for (raw, want) in cases {
            assert_eq!(split_object(raw), *want, "{raw}");
        }
    }
}

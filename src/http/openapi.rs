//! The OpenAPI document of the HTTP API, generated from the handlers' annotations.
//!
//! Every handler carries a `#[utoipa::path]` next to its code, so the document changes with the
//! code; `GET /api/v2/openapi.json` serves it. A test walks the routes actix-web actually
//! registers and fails if one of the management routes is missing from the document.

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::OpenApi;

use crate::formats::PackageType;
use crate::locals::LocalSpec;
use crate::remotes::RemoteSpec;
use crate::virtuals::VirtualSpec;

/// The body of every error answer of the management API and the generic proxy.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, naming the field, rule or repository concerned.
    pub error: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "artifactapi", description = "Caching proxy and artifact registry for package repositories"),
    paths(
        super::proxy::remote,
        super::remotes::list,
        super::remotes::get,
        super::remotes::create,
        super::remotes::replace,
        super::remotes::delete,
        super::proxy::virtual_repo,
        super::local::local,
        super::v2::v2,
        super::virtuals::list,
        super::virtuals::get,
        super::virtuals::create,
        super::virtuals::replace,
        super::virtuals::delete,
        super::locals::list,
        super::locals::get,
        super::locals::create,
        super::locals::replace,
        super::locals::delete,
        super::local_pypi::yank,
        super::local_pypi::unyank,
        super::objects::list,
        super::objects::evict_all,
        super::objects::evict_one,
        super::system::health,
        super::system::live,
        super::system::gc,
        super::probe::probe,
        super::signing::signing_key,
        super::tokens::create,
        super::tokens::list,
        super::tokens::delete,
        super::events::stream,
        super::observe::metrics,
        super::observe::stats,
        super::observe::access_log,
        openapi_json,
    ),
    components(schemas(
        RemoteSpec,
        VirtualSpec,
        LocalSpec,
        PackageType,
        ErrorBody,
        crate::auth::NewToken,
        crate::auth::TokenInfo,
        crate::auth::Grant,
        crate::auth::Scope,
        super::tokens::CreatedToken,
        crate::locals::pypi::yank::YankRequest,
        crate::locals::pypi::yank::YankReply,
        super::signing::SigningKey
    ))
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/api/v2/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use actix_web::{test as actix_test, web, App, HttpResponse};

    use super::*;

    /// `{name}` and `{path:.*}` both become `{name}` / `{path}`, as OpenAPI writes them.
    fn normalise(path: &str) -> String {
        let mut out = String::new();
        let mut rest = path;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
            let inner = &rest[start + 1..end];
            out.push('{');
            out.push_str(inner.split(':').next().unwrap_or(inner));
            out.push('}');
            rest = rest.get(end + 1..).unwrap_or("");
        }
        out.push_str(rest);
        out
    }

    /// Every (method, path) actix-web routes under the management API and `/metrics`.
    async fn registered_routes() -> BTreeSet<(String, String)> {
        async fn report(tree: web::Data<actix_web::introspection::IntrospectionTree>) -> HttpResponse {
            HttpResponse::Ok().body(tree.report_as_json())
        }
        let app = actix_test::init_service(
            App::new().route("/__routes", web::get().to(report)).configure(crate::http::configure),
        )
        .await;
        let body =
            actix_test::call_and_read_body(&app, actix_test::TestRequest::get().uri("/__routes").to_request()).await;
        let items: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("introspection JSON");
        let mut routes = BTreeSet::new();
        for item in items {
            let path = item["full_path"].as_str().unwrap_or_default().to_string();
            if !(path.starts_with("/api/") || path == "/metrics") || path.starts_with("/__") {
                continue;
            }
            for m in item["methods"].as_array().into_iter().flatten() {
                routes.insert((m.as_str().unwrap_or_default().to_lowercase(), normalise(&path)));
            }
        }
        routes
    }

    #[actix_rt::test]
    async fn every_route_is_in_the_document() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("document");
        let routes = registered_routes().await;
        assert!(routes.len() >= 14, "introspection found too few routes: {routes:?}");
        let missing: Vec<_> =
            routes.iter().filter(|(method, path)| doc["paths"][path.as_str()][method.as_str()].is_null()).collect();
        assert!(missing.is_empty(), "routes missing from the OpenAPI document: {missing:?}");
    }

    #[test]
    fn normalises_actix_patterns() {
        assert_eq!(normalise("/api/v2/remotes/{name}/objects/{path:.*}"), "/api/v2/remotes/{name}/objects/{path}");
        assert_eq!(normalise("/api/v2/health"), "/api/v2/health");
    }
}

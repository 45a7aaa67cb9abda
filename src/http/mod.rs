//! The HTTP surface, one module per area; handlers are thin and call into the layers below.
//!
//! Routes (see README.md for the whole API):
//! - `/api/v1/remote/{name}/{path}`: the caching proxy ([`proxy`], answers by [`respond`]).
//! - `/api/v2/remotes[/{name}]`: remote CRUD ([`remotes`]).
//! - `/api/v1/virtual/{name}/{path}`, `/api/v2/virtuals[/{name}]`: virtual repositories
//!   ([`proxy`], [`virtuals`]).
//! - `/api/v2/locals[/{name}]`: local repository configuration ([`locals`]).
//! - `/api/v1/local/{name}/{path}`: local repositories' files and indexes ([`local`]).
//! - `/.well-known/terraform.json`, `/terraform/providers/v1/...`: the provider registry of
//!   terraform locals ([`terraform_registry`]).
//! - `/api/v2/signing-key`: the server's OpenPGP public key ([`signing`]).
//! - `/api/v2/health[/live]`, `POST /api/v2/gc`: operations ([`system`]).
//! - `/api/v2/events`: the live event stream ([`events`]).
//! - `/api/v2/remotes/{name}/objects[/{path}]`: cached-object browser and eviction ([`objects`]).
//! - `POST /api/v2/probe`: probe an upstream without caching ([`probe`]).
//! - `/api/v2/tokens[/{id}]`: scoped tokens ([`tokens`]).
//! - `/metrics`, `/api/v2/stats`, `/api/v2/access-log`: observation ([`observe`]).
//! - `/v2/...`: the Docker Registry HTTP API V2 for docker remotes and locals ([`v2`]).
//! - `GET /api/v2/openapi.json`: the OpenAPI document of all of it ([`openapi`]).
//! - `GET /_replica/fills/{id}`: a fill in progress, streamed to another replica ([`replica`]).
//!
//! Every GET of the `/api/v2` scope passes [`auth::guard_reads`] (`ADMIN_TOKEN_READS`); `/metrics`
//! checks it itself.

pub mod auth;
pub mod error;
pub mod events;
pub mod local;
pub mod local_pypi;
pub mod locals;
pub mod objects;
pub mod observe;
pub mod openapi;
pub mod probe;
pub mod proxy;
pub mod remotes;
pub mod replica;
pub mod respond;
pub mod signing;
pub mod system;
pub mod terraform_registry;
pub mod tokens;
pub mod v2;
pub mod virtuals;

use std::future::{ready, Ready};

use actix_web::{web, HttpRequest, HttpResponse};

use error::ApiError;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v2")
            .wrap(actix_web::middleware::from_fn(auth::guard_reads))
            .service(web::resource("/health").get(system::health).default_service(web::to(not_allowed("GET"))))
            .service(web::resource("/health/live").get(system::live).default_service(web::to(not_allowed("GET"))))
            .service(web::resource("/gc").post(system::gc).default_service(web::to(not_allowed("POST"))))
            .service(web::resource("/events").get(events::stream).default_service(web::to(not_allowed("GET"))))
            .service(web::resource("/stats").get(observe::stats).default_service(web::to(not_allowed("GET"))))
            .service(web::resource("/access-log").get(observe::access_log).default_service(web::to(not_allowed("GET"))))
            .service(
                web::resource("/remotes")
                    .get(remotes::list)
                    .post(remotes::create)
                    .default_service(web::to(not_allowed("GET, POST"))),
            )
            .service(
                web::resource("/remotes/{name}")
                    .get(remotes::get)
                    .put(remotes::replace)
                    .delete(remotes::delete)
                    .default_service(web::to(not_allowed("GET, PUT, DELETE"))),
            )
            .service(
                web::resource("/virtuals")
                    .get(virtuals::list)
                    .post(virtuals::create)
                    .default_service(web::to(not_allowed("GET, POST"))),
            )
            .service(
                web::resource("/virtuals/{name}")
                    .get(virtuals::get)
                    .put(virtuals::replace)
                    .delete(virtuals::delete)
                    .default_service(web::to(not_allowed("GET, PUT, DELETE"))),
            )
            .service(
                web::resource("/locals")
                    .get(locals::list)
                    .post(locals::create)
                    .default_service(web::to(not_allowed("GET, POST"))),
            )
            .service(
                web::resource("/locals/{name}")
                    .get(locals::get)
                    .put(locals::replace)
                    .delete(locals::delete)
                    .default_service(web::to(not_allowed("GET, PUT, DELETE"))),
            )
            .service(
                web::resource("/locals/{name}/pypi/yank")
                    .post(local_pypi::yank)
                    .default_service(web::to(not_allowed("POST"))),
            )
            .service(
                web::resource("/locals/{name}/pypi/unyank")
                    .post(local_pypi::unyank)
                    .default_service(web::to(not_allowed("POST"))),
            )
            .service(
                web::resource("/remotes/{name}/objects")
                    .get(objects::list)
                    .delete(objects::evict_all)
                    .default_service(web::to(not_allowed("GET, DELETE"))),
            )
            .service(
                web::resource("/remotes/{name}/objects/{path:.*}")
                    .delete(objects::evict_one)
                    .default_service(web::to(not_allowed("DELETE"))),
            )
            .service(
                web::resource("/tokens")
                    .get(tokens::list)
                    .post(tokens::create)
                    .default_service(web::to(not_allowed("GET, POST"))),
            )
            .service(
                web::resource("/tokens/{id}").delete(tokens::delete).default_service(web::to(not_allowed("DELETE"))),
            )
            .service(web::resource("/probe").post(probe::probe).default_service(web::to(not_allowed("POST"))))
            .service(
                web::resource("/signing-key").get(signing::signing_key).default_service(web::to(not_allowed("GET"))),
            )
            .service(
                web::resource("/openapi.json").get(openapi::openapi_json).default_service(web::to(not_allowed("GET"))),
            ),
    )
    .service(web::resource("/metrics").get(observe::metrics).default_service(web::to(not_allowed("GET"))))
    .service(web::resource("/_replica/fills/{id}").get(replica::fill).default_service(web::to(not_allowed("GET"))))
    .route("/api/v1/remote/{tail:.*}", web::route().to(proxy::remote))
    .route("/api/v1/virtual/{tail:.*}", web::route().to(proxy::virtual_repo))
    .route("/api/v1/local/{tail:.*}", web::route().to(local::local))
    .route("/.well-known/terraform.json", web::route().to(terraform_registry::discovery))
    .route("/terraform/providers/v1/{tail:.*}", web::route().to(terraform_registry::providers))
    .configure(v2::configure)
    .default_service(web::to(not_found));
}

/// A handler answering 405 with the resource's allowed methods.
fn not_allowed(allow: &'static str) -> impl Fn(HttpRequest) -> Ready<Result<HttpResponse, ApiError>> + Clone {
    move |req| ready(Err(ApiError::MethodNotAllowed { method: req.method().to_string(), allow }))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::Missing(format!("no route for {} {}", req.method(), req.uri().path())))
}

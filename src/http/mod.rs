//! The HTTP surface, one module per area; handlers are thin and call into the layers below.
//!
//! Routes (see README.md for the whole API):
//! - `/api/v1/remote/{name}/{path}`: the caching proxy ([`proxy`]).
//! - `/api/v2/remotes[/{name}]`: remote CRUD ([`remotes`]).
//! - `/api/v2/health[/live]`, `POST /api/v2/gc`: operations ([`system`]).
//! - `/metrics`, `/api/v2/stats`, `/api/v2/access-log`: observation ([`observe`]).

pub mod auth;
pub mod error;
pub mod observe;
pub mod proxy;
pub mod remotes;
pub mod serve;
pub mod system;

use std::future::{ready, Ready};

use actix_web::{web, HttpRequest, HttpResponse};

use error::ApiError;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v2")
            .service(web::resource("/health").get(system::health).default_service(web::to(not_allowed("GET"))))
            .service(web::resource("/health/live").get(system::live).default_service(web::to(not_allowed("GET"))))
            .service(web::resource("/gc").post(system::gc).default_service(web::to(not_allowed("POST"))))
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
            ),
    )
    .service(web::resource("/metrics").get(observe::metrics).default_service(web::to(not_allowed("GET"))))
    .route("/api/v1/remote/{tail:.*}", web::route().to(proxy::remote))
    .default_service(web::to(not_found));
}

/// A handler answering 405 with the resource's allowed methods.
fn not_allowed(allow: &'static str) -> impl Fn(HttpRequest) -> Ready<Result<HttpResponse, ApiError>> + Clone {
    move |req| ready(Err(ApiError::MethodNotAllowed { method: req.method().to_string(), allow }))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::Missing(format!("no route for {} {}", req.method(), req.uri().path())))
}

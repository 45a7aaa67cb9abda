//! The web dashboard at `/ui/`: server-rendered pages (maud) over the same services the
//! management API uses (the catalog, the registry, the observer, the coordinator, the storage
//! actor), never over HTTP to itself. It is served by the binary: the stylesheet and one small
//! plain JavaScript file are compiled in ([`assets`]); nothing is fetched from elsewhere.
//!
//! Every page works without JavaScript; the script only adds the live parts (figures, chart and
//! events table fed by an `EventSource`, see [`live`]) and confirmation prompts.
//!
//! Pages, one module each: [`overview`], [`remotes`] (list, a remote's page and probe),
//! [`objects`] (the object browser and eviction), [`repos`] (virtuals and locals), [`events`],
//! [`access`] (access log), [`gc`]. [`session`] holds the login cookie and the CSRF token of the
//! write forms; [`layout`] the page frame; [`error`] the one error type, rendered as a page.
//!
//! Handlers stay thin: they parse the request with the parsers the API uses
//! (`objects::query`, `observe::query`), ask the services, and render.

pub mod access;
pub mod assets;
pub mod error;
pub mod events;
pub mod fmt;
pub mod gc;
pub mod layout;
pub mod live;
pub mod objects;
pub mod overview;
pub mod remotes;
pub mod repos;
pub mod session;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use error::UiError;

/// Registers the dashboard's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui", web::get().to(to_root)).service(
        web::scope("/ui")
            .route("/", web::get().to(overview::page))
            .route("/assets/{file}", web::get().to(assets::serve))
            .route("/login", web::get().to(session::login_form))
            .route("/login", web::post().to(session::login))
            .route("/logout", web::post().to(session::logout))
            .route("/remotes", web::get().to(remotes::list))
            .route("/remotes/{name}", web::get().to(remotes::page))
            .route("/remotes/{name}/probe", web::post().to(remotes::probe))
            .route("/remotes/{name}/evict", web::get().to(objects::confirm))
            .route("/remotes/{name}/evict", web::post().to(objects::evict))
            .route("/virtuals", web::get().to(repos::virtuals))
            .route("/locals", web::get().to(repos::locals))
            .route("/locals/{name}", web::get().to(repos::local))
            .route("/events", web::get().to(events::page))
            .route("/access-log", web::get().to(access::page))
            .route("/gc", web::get().to(gc::page))
            .route("/gc", web::post().to(gc::run))
            .route("/live/events", web::get().to(live::events))
            .route("/live/stats", web::get().to(live::stats))
            .default_service(web::to(not_found)),
    );
}

async fn to_root() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/ui/")).finish()
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, UiError> {
    Err(UiError::NotFound(format!("no page at {}", req.uri().path())))
}

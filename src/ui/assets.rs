//! The stylesheet and the script, compiled into the binary (`include_str!`): no CDN, no build
//! step. Their paths carry a hash of the content, so browsers may keep them for a year and
//! still get a new version after an upgrade.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..6])
}

static CSS_NAME: LazyLock<String> = LazyLock::new(|| format!("ui-{}.css", short_hash(CSS)));
static JS_NAME: LazyLock<String> = LazyLock::new(|| format!("ui-{}.js", short_hash(JS)));

/// Where pages link the stylesheet.
pub static CSS_PATH: LazyLock<String> = LazyLock::new(|| format!("/ui/assets/{}", *CSS_NAME));
/// Where pages load the script.
pub static JS_PATH: LazyLock<String> = LazyLock::new(|| format!("/ui/assets/{}", *JS_NAME));

/// `GET /ui/assets/{file}`: only the current names; anything else is a 404.
pub async fn serve(file: web::Path<String>) -> HttpResponse {
    let (body, kind) = if *file == *CSS_NAME {
        (CSS, "text/css; charset=utf-8")
    } else if *file == *JS_NAME {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return HttpResponse::NotFound().content_type("text/plain").body("no such asset");
    };
    HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(body)
}

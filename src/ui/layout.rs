//! The frame of every page: head (embedded stylesheet and script), a skip link, the navigation
//! with the current page marked, who is logged in, and the page's own content.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::session::Session;

/// The sections of the navigation: (path, label).
const NAV: [(&str, &str); 7] = [
    ("/ui/", "Overview"),
    ("/ui/remotes", "Remotes"),
    ("/ui/virtuals", "Virtuals"),
    ("/ui/locals", "Locals"),
    ("/ui/events", "Live events"),
    ("/ui/access-log", "Access log"),
    ("/ui/gc", "Garbage collection"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · artifactapi" }
            link rel="stylesheet" href=(assets::CSS_PATH.as_str());
            script src=(assets::JS_PATH.as_str()) defer {}
        }
    }
}

fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ))
        .body(markup.into_string())
}

/// A page with the navigation; `section` is the path of the navigation entry to mark.
pub fn page(session: &Session, section: &str, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-csrf=(session.csrf) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "artifactapi" }
                    nav aria-label="Sections" {
                        ul {
                            @for (path, label) in NAV {
                                li {
                                    @if path == section {
                                        a href=(path) aria-current="page" { (label) }
                                    } @else {
                                        a href=(path) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span #live-status.live-status role="status" aria-live="polite" { "" }
                        @if session.logged_in {
                            span { "Logged in as " strong { (session.principal.name()) } }
                            form.inline method="post" action="/ui/logout" {
                                input type="hidden" name="csrf" value=(session.csrf);
                                button.link type="submit" { "Log out" }
                            }
                        } @else if session.guarded {
                            a href="/ui/login" { "Log in" }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    };
    session.finish(html_response(StatusCode::OK, markup))
}

/// A page without navigation (login, errors).
pub fn bare(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/ui/" { "artifactapi" } }
                main #main { (body) }
            }
        }
    };
    html_response(status, markup)
}

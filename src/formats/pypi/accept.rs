//! PEP 691 content negotiation: which form of a simple page a client gets.
//!
//! The JSON form (`application/vnd.pypi.simple.v1+json`) and the HTML form (PEP 503, as
//! `application/vnd.pypi.simple.v1+html` or the legacy `text/html`) are chosen by the `Accept`
//! header's q-values; the most specific media range that matches a form gives its q. On a tie
//! the form named first in the header wins, and without any preference (no header, `*/*`,
//! nothing acceptable) the answer is HTML, which every client understands.

use std::cmp::Reverse;

/// A form of a simple page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    /// HTML announced as `application/vnd.pypi.simple.v1+html`.
    HtmlV1,
    /// HTML announced as `text/html` (what a client that asked only for `text/html` gets).
    TextHtml,
}

pub const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";
pub const HTML_TYPE: &str = "application/vnd.pypi.simple.v1+html";
pub const TEXT_HTML_TYPE: &str = "text/html; charset=utf-8";

/// The media types of each form, most specific first.
const JSON_TYPES: [&str; 2] = [JSON_TYPE, "application/vnd.pypi.simple.latest+json"];
const HTML_TYPES: [&str; 2] = [HTML_TYPE, "application/vnd.pypi.simple.latest+html"];

/// How well one media range matches: (specificity, q, position in the header).
type Score = (u8, f32, usize);

fn parse_q(params: &str) -> f32 {
    params
        .split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
        .and_then(|(_, v)| v.trim().parse::<f32>().ok())
        .filter(|q| q.is_finite())
        .map_or(1.0, |q| q.clamp(0.0, 1.0))
}

/// The best match of `types` (exact types) in the header: its specificity decides, then its q.
fn best(ranges: &[(String, f32)], types: &[&str]) -> Option<Score> {
    let mut best: Option<Score> = None;
    for (i, (range, q)) in ranges.iter().enumerate() {
        let specificity = types
            .iter()
            .filter_map(|t| {
                let (major, _) = t.split_once('/').unwrap_or((t, ""));
                if range == t {
                    Some(3)
                } else if range.strip_suffix("/*") == Some(major) {
                    Some(2)
                } else if range == "*/*" {
                    Some(1)
                } else {
                    None
                }
            })
            .max();
        if let Some(s) = specificity {
            if best.is_none_or(|(bs, _, _)| s > bs) {
                best = Some((s, *q, i));
            }
        }
    }
    best
}

/// The form to answer a request with this `Accept` header.
pub fn negotiate(accept: Option<&str>) -> Form {
    let Some(accept) = accept else { return Form::TextHtml };
    let ranges: Vec<(String, f32)> = accept
        .split(',')
        .take(64)
        .map(|r| {
            let (range, params) = r.split_once(';').unwrap_or((r, ""));
            (range.trim().to_ascii_lowercase(), parse_q(params))
        })
        .filter(|(r, _)| !r.is_empty())
        .collect();
    let json = best(&ranges, &JSON_TYPES).filter(|s| s.1 > 0.0);
    let v1 = best(&ranges, &HTML_TYPES).filter(|s| s.1 > 0.0);
    let text = best(&ranges, &["text/html"]).filter(|s| s.1 > 0.0);
    // The HTML form's q is the better of its two spellings, and that spelling is the content type.
    let html = match (v1, text) {
        (Some(a), Some(b)) if (a.1, Reverse(a.2)) > (b.1, Reverse(b.2)) => Some((Form::HtmlV1, a)),
        (Some(a), None) => Some((Form::HtmlV1, a)),
        (_, Some(b)) => Some((Form::TextHtml, b)),
        (None, None) => None,
    };
    match (json, html) {
        (Some(j), Some((form, h))) => {
            // Higher q wins; on equal q the range listed first; `*/*` alone for both: HTML.
            if j.1 > h.1 || (j.1 == h.1 && j.2 < h.2) {
                Form::Json
            } else {
                form
            }
        }
        (Some(_), None) => Form::Json,
        (None, Some((form, _))) => form,
        (None, None) => Form::TextHtml,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Form::*;

    #[test]
    fn clients_get_the_form_they_prefer() {
        let cases: &[(Option<&str>, Form)] = &[
            (None, TextHtml),
            (Some(""), TextHtml),
            (Some("*/*"), TextHtml),
            (Some("text/html"), TextHtml),
            (Some("application/vnd.pypi.simple.v1+json"), Json),
            (Some("application/vnd.pypi.simple.latest+json"), Json),
            (Some("application/vnd.pypi.simple.v1+html"), HtmlV1),
            (Some("application/vnd.pypi.simple.latest+html"), HtmlV1),
            // pip 22.2 and later
            (
                Some("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"),
                Json,
            ),
            // uv
            (
                Some("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"),
                Json,
            ),
            (Some("application/vnd.pypi.simple.v1+json;q=0.5, text/html"), TextHtml),
            (Some("application/vnd.pypi.simple.v1+json;q=0, */*"), TextHtml),
            (Some("text/html;q=0, application/vnd.pypi.simple.v1+json;q=0.1"), Json),
            (Some("application/*;q=0.9, text/html;q=0.5"), HtmlV1),
            (Some("application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.9"), TextHtml),
            (Some("APPLICATION/VND.PYPI.SIMPLE.V1+JSON"), Json),
            (Some("text/html, application/vnd.pypi.simple.v1+json"), TextHtml),
            (Some("application/vnd.pypi.simple.v1+json, text/html"), Json),
            (Some("application/vnd.pypi.simple.v1+json;q=abc"), Json),
            (Some("image/png"), TextHtml),
            (Some(",,;;q=,"), TextHtml),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(*accept), *want, "{accept:?}");
        }
    }
}

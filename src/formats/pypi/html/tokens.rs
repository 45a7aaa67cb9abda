//! A tolerant HTML tokenizer for index pages: start tags with their attributes (names lower
//! case, values with character references decoded), end tags, and text.
//!
//! It follows the HTML tokenizer where index pages need it (quoted and unquoted attribute
//! values, the first of two equal attribute names wins, comments, doctype and processing
//! instructions skipped, `script`/`style` contents skipped, a `<` that starts no tag is text)
//! and refuses what would leave the rest of the page ambiguous: a tag, attribute value or
//! comment still open at the end of the body.

use std::borrow::Cow;

/// One piece of a page.
#[derive(Debug, PartialEq, Eq)]
pub enum Token<'a> {
    Start { name: String, attrs: Attrs },
    End { name: String },
    Text(Cow<'a, str>),
}

/// The attributes of a tag, names lower case, in page order.
pub type Attrs = Vec<(String, String)>;

/// Calls `on` for each token of `html`, stopping at the first error (its own or `on`'s).
pub fn scan<'a>(html: &'a str, mut on: impl FnMut(Token<'a>) -> Result<(), String>) -> Result<(), String> {
    let b = html.as_bytes();
    let mut pos = 0;
    while pos < b.len() {
        let Some(lt) = html[pos..].find('<').map(|i| pos + i) else {
            on(Token::Text(decode(&html[pos..])))?;
            break;
        };
        if lt > pos {
            on(Token::Text(decode(&html[pos..lt])))?;
        }
        let rest = &html[lt..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            let end = comment.find("-->").ok_or("unterminated comment")?;
            pos = lt + 4 + end + 3;
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            pos = lt + rest.find('>').ok_or("unterminated declaration")? + 1;
        } else if rest.starts_with("</") && b.get(lt + 2).is_some_and(u8::is_ascii_alphabetic) {
            let name = tag_name(&rest[2..]);
            pos = lt + rest.find('>').ok_or_else(|| format!("unterminated end tag </{name}"))? + 1;
            on(Token::End { name })?;
        } else if b.get(lt + 1).is_some_and(u8::is_ascii_alphabetic) {
            let (name, attrs, len) = start_tag(&rest[1..])?;
            pos = lt + 1 + len;
            if name == "script" || name == "style" {
                let close = format!("</{name}");
                pos = find_ignoring_case(&html[pos..], &close).map_or(b.len(), |i| pos + i);
            }
            on(Token::Start { name, attrs })?;
        } else {
            on(Token::Text(Cow::Borrowed("<")))?;
            pos = lt + 1;
        }
    }
    Ok(())
}

fn find_ignoring_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn tag_name(s: &str) -> String {
    let end = s.find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>').unwrap_or(s.len());
    s[..end].to_ascii_lowercase()
}

/// A start tag after its `<`: name, attributes, and the bytes it took up to and with `>`.
fn start_tag(s: &str) -> Result<(String, Attrs, usize), String> {
    let name = tag_name(s);
    let b = s.as_bytes();
    let mut i = name.len();
    let mut attrs: Attrs = Vec::new();
    let unterminated = || format!("unterminated tag <{name}");
    loop {
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace() || *c == b'/') {
            i += 1;
        }
        match b.get(i) {
            None => return Err(unterminated()),
            Some(b'>') => return Ok((name, attrs, i + 1)),
            Some(_) => {}
        }
        let start = i;
        i += 1; // the first character of a name may be anything but whitespace, '/', '>'
        while b.get(i).is_some_and(|c| !c.is_ascii_whitespace() && !matches!(c, b'/' | b'>' | b'=')) {
            i += 1;
        }
        let attr = s[start..i].to_ascii_lowercase();
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let mut value = String::new();
        if b.get(i) == Some(&b'=') {
            i += 1;
            while b.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            match b.get(i) {
                Some(q @ (b'"' | b'\'')) => {
                    let close = s[i + 1..]
                        .find(*q as char)
                        .ok_or_else(|| format!("unterminated {attr:?} attribute value in <{name}"))?;
                    value = decode(&s[i + 1..i + 1 + close]).into_owned();
                    i += close + 2;
                }
                Some(_) => {
                    let v = i;
                    while b.get(i).is_some_and(|c| !c.is_ascii_whitespace() && *c != b'>') {
                        i += 1;
                    }
                    value = decode(&s[v..i]).into_owned();
                }
                None => return Err(unterminated()),
            }
        }
        if !attrs.iter().any(|(n, _)| *n == attr) {
            attrs.push((attr, value));
        }
    }
}

/// Decodes character references (`&amp;`, `&#62;`, `&#x3E;` and the few named ones an index
/// uses); an `&` that starts no known reference stays as it is.
pub fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let reference = rest[1..].find(';').filter(|&n| n <= 32).map(|n| &rest[1..n + 1]);
        let decoded = reference.and_then(|r| match r {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => {
                let n = match r.strip_prefix('#')? {
                    hex if hex.starts_with(['x', 'X']) => u32::from_str_radix(&hex[1..], 16).ok()?,
                    dec => dec.parse::<u32>().ok()?,
                };
                Some(char::from_u32(n).filter(|c| *c != '\0').unwrap_or('\u{fffd}'))
            }
        });
        match (decoded, reference) {
            (Some(c), Some(r)) => {
                out.push(c);
                rest = &rest[r.len() + 2..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

//! The HTML tokenizer index pages are read with: `html5gum`, a WHATWG-conformant tokenizer,
//! giving this module's reader start tags with their attributes (names lower case, values
//! with character references decoded, the first of two equal names winning), end tags and
//! text, in page order.
//!
//! Everything a browser tolerates is tolerated (a `<` that starts no tag is text, unknown
//! character references stay as they are, comments, doctypes and processing instructions give
//! no token), and `script`/`style` contents are skipped (the tokenizer reads them as raw text
//! the way a browser does, so an anchor inside a script is no link). What is refused is a page
//! that ends inside a tag, an attribute value, a comment or a doctype: the rest of it would be
//! ambiguous, so such a page (a truncated download) is never cached.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
use html5gum::{Emitter, Error, ForwardingEmitter, Span, State, Tokenizer};

/// One piece of a page.
#[derive(Debug, PartialEq, Eq)]
pub enum Token<'a> {
    Start { name: String, attrs: Attrs },
    End { name: String },
    Text(Cow<'a, str>),
}

/// The attributes of a tag, names lower case, in page order.
pub type Attrs = Vec<(String, String)>;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where the tokenizer is, as far as a message about a page that ends too early needs it.
#[derive(Debug, Default)]
struct Open {
    /// The tag being read: whether it is an end tag, and its name.
    tag: Option<(bool, Vec<u8>)>,
    /// The name of the attribute being read.
    attribute: Option<Vec<u8>>,
    /// Why the page cannot be read, once known.
    fatal: Option<String>,
}

/// The callback emitter, with a `<` that starts no tag flushed as its own text token, and the
/// state kept for messages about a page that ends in the middle of something.
struct Emit<'h, E> {
    inner: E,
    open: Rc<RefCell<Open>>,
    html: &'h str,
}

impl<E: Emitter> ForwardingEmitter for Emit<'_, E> {
    type Token = E::Token;

    fn inner(&mut self) -> &mut impl Emitter<Token = Self::Token> {
        &mut self.inner
    }

    fn emit_string(&mut self, s: &[u8]) {
        // A `<` that starts no tag is a text token of its own; other characters are gathered
        // into runs by the callback emitter, which hands them on at a tag or its end-of-file
        // flush.
        let lone = s == b"<";
        if lone {
            self.inner.emit_eof();
        }
        self.inner.emit_string(s);
        if lone {
            self.inner.emit_eof();
        }
    }

    fn init_start_tag(&mut self) {
        self.open.borrow_mut().tag = Some((false, Vec::new()));
        self.inner.init_start_tag();
    }

    fn init_end_tag(&mut self) {
        self.open.borrow_mut().tag = Some((true, Vec::new()));
        self.inner.init_end_tag();
    }

    fn push_tag_name(&mut self, s: &[u8]) {
        if let Some((_, name)) = self.open.borrow_mut().tag.as_mut() {
            name.extend_from_slice(s);
        }
        self.inner.push_tag_name(s);
    }

    fn init_attribute(&mut self) {
        self.open.borrow_mut().attribute = Some(Vec::new());
        self.inner.init_attribute();
    }

    fn push_attribute_name(&mut self, s: &[u8]) {
        if let Some(name) = self.open.borrow_mut().attribute.as_mut() {
            name.extend_from_slice(s);
        }
        self.inner.push_attribute_name(s);
    }

    fn emit_current_tag(&mut self) -> Option<State> {
        let mut open = self.open.borrow_mut();
        (open.tag, open.attribute) = (None, None);
        drop(open);
        self.inner.emit_current_tag()
    }

    fn emit_error(&mut self, error: Error) {
        let mut open = self.open.borrow_mut();
        if open.fatal.is_none() {
            open.fatal = fatal(error, &open, self.html);
        }
        drop(open);
        self.inner.emit_error(error);
    }
}

/// The message for a page that ends inside something; `None` for the errors a browser
/// recovers from.
fn fatal(error: Error, open: &Open, html: &str) -> Option<String> {
    match error {
        Error::EofInComment => Some("unterminated comment".into()),
        Error::EofInDoctype => Some("unterminated declaration".into()),
        Error::EofInTag => {
            let (end, name) = open.tag.as_ref().map(|(end, n)| (*end, text(n))).unwrap_or_default();
            if end {
                return Some(format!("unterminated end tag </{name}"));
            }
            let quoted = open.attribute.as_ref().filter(|_| value_left_open(html));
            Some(match quoted {
                Some(attr) => format!("unterminated {:?} attribute value in <{name}", text(attr)),
                None => format!("unterminated tag <{name}"),
            })
        }
        _ => None,
    }
}

/// Whether a page that ends inside a tag ends inside a quoted attribute value: its last quote
/// opens a value (it follows an `=`), since no quote comes after it.
fn value_left_open(html: &str) -> bool {
    html.rfind(['"', '\'']).is_some_and(|q| html[..q].trim_end().ends_with('='))
}

/// Calls `on` for each token of `html`, stopping at the first error (its own or `on`'s).
pub fn scan<'a>(html: &'a str, mut on: impl FnMut(Token<'a>) -> Result<(), String>) -> Result<(), String> {
    let open = Rc::new(RefCell::new(Open::default()));
    let mut tag: Option<(String, Attrs)> = None;
    let mut duplicate = false;
    let mut raw_text = false;
    let callback = move |event: CallbackEvent<'_>, _span: Span<()>| -> Option<Token<'static>> {
        match event {
            CallbackEvent::OpenStartTag { name } => tag = Some((text(name), Vec::new())),
            CallbackEvent::AttributeName { name } => {
                let name = text(name);
                if let Some((_, attrs)) = tag.as_mut() {
                    duplicate = attrs.iter().any(|(n, _)| *n == name);
                    if !duplicate {
                        attrs.push((name, String::new()));
                    }
                }
            }
            CallbackEvent::AttributeValue { value } if !duplicate => {
                if let Some((_, value_slot)) = tag.as_mut().and_then(|(_, attrs)| attrs.last_mut()) {
                    *value_slot = text(value);
                }
            }
            CallbackEvent::CloseStartTag { .. } => {
                let (name, attrs) = tag.take()?;
                raw_text = matches!(name.as_str(), "script" | "style");
                return Some(Token::Start { name, attrs });
            }
            CallbackEvent::EndTag { name } => {
                raw_text = false;
                return Some(Token::End { name: text(name) });
            }
            CallbackEvent::String { value } if !raw_text => return Some(Token::Text(Cow::Owned(text(value)))),
            _ => {}
        }
        None
    };
    let mut inner = CallbackEmitter::new(callback);
    inner.naively_switch_states(true);
    let emitter = Emit { inner, open: Rc::clone(&open), html };
    for token in Tokenizer::new_with_emitter(html, emitter) {
        let Ok(token) = token;
        if let Some(why) = open.borrow_mut().fatal.take() {
            return Err(why);
        }
        on(token)?;
    }
    let fatal = open.borrow_mut().fatal.take();
    fatal.map_or(Ok(()), Err)
}

/// Decodes character references the way the tokenizer decodes them in text and attribute
/// values (`&amp;`, `&#62;`, `&#x3E;`, the named references of the HTML standard; an `&` that
/// starts no reference stays as it is): the tests pin that behaviour here.
#[cfg(test)]
pub fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let callback = |event: CallbackEvent<'_>, _span: Span<()>| -> Option<String> {
        match event {
            CallbackEvent::String { value } => Some(text(value)),
            _ => None,
        }
    };
    // RCDATA: references are decoded and no `<` starts markup (no end tag is "appropriate").
    let mut tokenizer = Tokenizer::new_with_emitter(s, CallbackEmitter::new(callback));
    tokenizer.set_state(State::RcData);
    for piece in tokenizer {
        let Ok(piece) = piece;
        out.push_str(&piece);
    }
    Cow::Owned(out)
}

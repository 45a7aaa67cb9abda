//! A server-sent-event client for `GET /api/v2/events`: a line parser that follows the
//! WHATWG event-stream rules (CR, LF or CRLF line ends; `field: value` with one optional space;
//! comments; an event dispatched at a blank line; `data` lines joined with `\n`), and a stream
//! reader on top of reqwest that hands out events and comments as they arrive.
//!
//! Tests use [`EventStream::expect_in_order`] to check that a scripted sequence of actions
//! produced the expected events in that order, whatever else was interleaved.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use crate::client::Fetched;
use crate::Server;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    /// The `event:` field (`message` when absent).
    pub event: String,
    pub data: String,
}

impl SseEvent {
    /// `data` as JSON; panics naming the event when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event data is not JSON ({e}): {self:?}"))
    }
}

/// What the parser produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event(SseEvent),
    /// A comment line's text (after `:` and one optional space).
    Comment(String),
    /// A `retry:` field.
    Retry(u64),
}

/// Incremental event-stream parser: feed it bytes as they come.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    /// The previous chunk ended with CR: a following LF belongs to the same line end.
    after_cr: bool,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parses what `bytes` completes; keeps any unfinished line for the next call.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Item> {
        let mut out = Vec::new();
        for &b in bytes {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    let line = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
                    self.line(&line, &mut out);
                }
                _ => self.buf.push(b),
            }
        }
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<Item>) {
        if line.is_empty() {
            let event = self.event.take();
            if let Some(mut data) = self.data.take() {
                data.pop(); // the line break after the last data line
                let event = event.unwrap_or_else(|| "message".to_string());
                out.push(Item::Event(SseEvent { id: self.id.clone(), event, data }));
            }
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            out.push(Item::Comment(comment.strip_prefix(' ').unwrap_or(comment).to_string()));
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    out.push(Item::Retry(ms));
                }
            }
            _ => {}
        }
    }
}

/// An open event stream.
pub struct EventStream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: Parser,
    pending: std::collections::VecDeque<Item>,
    pub headers: reqwest::header::HeaderMap,
}

impl EventStream {
    /// Opens `GET /api/v2/events?{query}` on `server`; `Err` with the answer when it is not
    /// a 200. Returns once the server's greeting comment arrived, so the stream is live.
    pub async fn open(server: &Server, query: &str) -> Result<EventStream, Fetched> {
        let client = reqwest::Client::builder().no_proxy().build().expect("HTTP client");
        let url = if query.is_empty() {
            server.url("/api/v2/events")
        } else {
            server.url(&format!("/api/v2/events?{query}"))
        };
        let resp = client.get(url).send().await.expect("event stream request");
        if resp.status() != StatusCode::OK {
            let (status, headers) = (resp.status(), resp.headers().clone());
            let body = resp.bytes().await.unwrap_or_default();
            return Err(Fetched { status, headers, body });
        }
        let headers = resp.headers().clone();
        let mut stream = EventStream {
            body: resp.bytes_stream().boxed(),
            parser: Parser::new(),
            pending: Default::default(),
            headers,
        };
        match stream.next_item(Duration::from_secs(10)).await {
            Some(Item::Retry(_)) => {}
            other => panic!("expected the stream to start with `retry:`, got {other:?}"),
        }
        match stream.next_item(Duration::from_secs(10)).await {
            Some(Item::Comment(c)) if c.starts_with("artifactapi events") => Ok(stream),
            other => panic!("expected the greeting comment, got {other:?}"),
        }
    }

    /// The next item, or `None` when nothing arrives within `timeout` (panics if the stream ends).
    pub async fn next_item(&mut self, timeout: Duration) -> Option<Item> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await.ok()?;
            match chunk {
                Some(Ok(bytes)) => self.pending.extend(self.parser.push(&bytes)),
                Some(Err(e)) => panic!("event stream failed: {e}"),
                None => panic!("event stream ended"),
            }
        }
    }

    /// The next event (comments skipped), or `None` within `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_item(left).await? {
                Item::Event(e) => return Some(e),
                Item::Comment(_) | Item::Retry(_) => {}
            }
        }
    }

    /// Reads events until one satisfies `want`, at most `timeout`; returns it and every event
    /// read before it. Panics naming `what` and what was seen when it does not come.
    pub async fn until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut want: impl FnMut(&SseEvent, &Value) -> bool,
    ) -> (Value, Vec<Value>) {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(event) = self.next_event(left).await else {
                panic!("no {what} within {timeout:?}; events seen meanwhile: {before:#?}")
            };
            let json = event.json();
            assert_eq!(json["type"].as_str(), Some(event.event.as_str()), "event name and type differ: {event:?}");
            if want(&event, &json) {
                return (json, before);
            }
            before.push(json);
        }
    }

    /// Expects events matching `expected` in this order (other events may come in between);
    /// each is `(type, fields)` where every field of the `fields` object must be equal in the
    /// event. Returns the matched events.
    pub async fn expect_in_order(&mut self, expected: &[(&str, Value)], timeout: Duration) -> Vec<Value> {
        let mut found = Vec::new();
        for (kind, fields) in expected {
            let what = format!("{kind} event with {fields}");
            let (event, _) = self.until(&what, timeout, |e, json| e.event == *kind && has_fields(json, fields)).await;
            found.push(event);
        }
        found
    }
}

/// Whether `json` has every field of the object `fields` with the same value.
pub fn has_fields(json: &Value, fields: &Value) -> bool {
    fields.as_object().is_none_or(|f| f.iter().all(|(k, v)| json.get(k) == Some(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: Option<&str>, event: &str, data: &str) -> Item {
        Item::Event(SseEvent { id: id.map(str::to_string), event: event.to_string(), data: data.to_string() })
    }

    #[test]
    fn parses_the_event_stream_format() {
        let cases: Vec<(&str, Vec<Item>)> = vec![
            ("data: x\n\n", vec![ev(None, "message", "x")]),
            ("id: 3\nevent: gc_run\ndata: {}\n\n", vec![ev(Some("3"), "gc_run", "{}")]),
            ("data:a\ndata: b\n\n", vec![ev(None, "message", "a\nb")]),
            ("data: a\r\ndata: b\r\n\r\n", vec![ev(None, "message", "a\nb")]),
            ("data: a\rdata: b\r\r", vec![ev(None, "message", "a\nb")]),
            (": heartbeat\n\n", vec![Item::Comment("heartbeat".into())]),
            (":x\n", vec![Item::Comment("x".into())]),
            ("retry: 3000\n", vec![Item::Retry(3000)]),
            ("event: only\n\n", vec![]),
            ("data: unfinished\n", vec![]),
            ("unknown: field\ndata: y\n\n", vec![ev(None, "message", "y")]),
            ("data: with: colon\n\n", vec![ev(None, "message", "with: colon")]),
            ("data\ndata\n\n", vec![ev(None, "message", "\n")]),
        ];
        for (input, want) in cases {
            assert_eq!(Parser::new().push(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn keeps_state_across_chunks_and_ids_across_events() {
        let mut p = Parser::new();
        let input = "id: 1\nevent: a\ndata: {\"k\":\r\n\r\nevent: b\ndata: 2\n\n";
        let mut out = Vec::new();
        for b in input.as_bytes() {
            out.extend(p.push(&[*b]));
        }
        assert_eq!(out, vec![ev(Some("1"), "a", "{\"k\":"), ev(Some("1"), "b", "2")]);
    }

    #[test]
    fn field_matching() {
        let e = serde_json::json!({"type": "fetch_completed", "size": 3, "repository": "r"});
        assert!(has_fields(&e, &serde_json::json!({})));
        assert!(has_fields(&e, &serde_json::json!({"size": 3, "repository": "r"})));
        assert!(!has_fields(&e, &serde_json::json!({"size": 4})));
        assert!(!has_fields(&e, &serde_json::json!({"path": "x"})));
    }
}

//! The TUI's network side, on a thread of its own with a small tokio runtime: it polls the
//! management API (stats, health, remotes) every two seconds, follows the event stream
//! (reconnecting with `Last-Event-ID` when it drops), and runs what keys ask for (objects of a
//! remote, evict). Everything it learns goes to the drawing loop as [`Update`]s; a failure
//! becomes the banner until a request succeeds again.

use std::sync::mpsc::Sender;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::app::{Request, Update};

const POLL: Duration = Duration::from_secs(2);
const RECONNECT: Duration = Duration::from_secs(2);
/// Largest API answer read (a page of objects, the stats of many repositories).
const MAX_BODY: usize = 16 << 20;

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// A JSON answer; 503 of the health check counts as an answer.
    async fn json(&self, method: reqwest::Method, path: &str) -> Result<Value, String> {
        let resp = self.request(method, path).send().await.map_err(|e| format!("{}: {e}", self.base))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_BODY {
            return Err(format!("{path}: answer larger than {MAX_BODY} bytes"));
        }
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() || (path == "/api/v2/health" && status.as_u16() == 503) {
            return Ok(value);
        }
        let message = value["error"]["message"].as_str().or(value["error"].as_str()).unwrap_or("").to_string();
        Err(format!("{path}: {status} {message}"))
    }
}

/// Starts the network thread; returns where keys send their requests.
pub fn start(base: String, token: Option<String>, updates: Sender<Update>) -> Result<UnboundedSender<Request>, String> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let api = Api { http, base: base.trim_end_matches('/').to_string(), token };
    let (tx, rx) = unbounded_channel();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("tui-network".into())
        .spawn(move || {
            runtime.block_on(async move {
                let (refresh_tx, refresh_rx) = unbounded_channel();
                tokio::join!(
                    poll(api.clone(), updates.clone(), refresh_rx),
                    events(api.clone(), updates.clone()),
                    commands(api, updates, rx, refresh_tx),
                );
            })
        })
        .map_err(|e| e.to_string())?;
    Ok(tx)
}

/// Stats, health and remotes, every [`POLL`] or when asked.
async fn poll(api: Api, out: Sender<Update>, mut refresh: UnboundedReceiver<()>) {
    loop {
        let (stats, health, remotes) = tokio::join!(
            api.json(reqwest::Method::GET, "/api/v2/stats"),
            api.json(reqwest::Method::GET, "/api/v2/health"),
            api.json(reqwest::Method::GET, "/api/v2/remotes"),
        );
        let result = (|| {
            let remotes = remotes?.as_array().cloned().unwrap_or_default();
            Ok::<_, String>((stats?, health?, remotes))
        })();
        let sent = match result {
            Ok((stats, health, remotes)) => {
                out.send(Update::Stats(stats)).is_ok()
                    && out.send(Update::Health(health)).is_ok()
                    && out.send(Update::Remotes(remotes)).is_ok()
                    && out.send(Update::Connection(Ok(()))).is_ok()
            }
            Err(e) => out.send(Update::Connection(Err(e))).is_ok(),
        };
        if !sent {
            return; // the drawing loop is gone
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = refresh.recv() => {}
        }
    }
}

/// One SSE event's `data` lines, joined, once a blank line ends it.
#[derive(Default)]
struct SseParser {
    line: Vec<u8>,
    data: Vec<String>,
    id: Option<String>,
}

impl SseParser {
    /// Feeds bytes; returns the `data` of each event they complete.
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut done = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let line = String::from_utf8_lossy(&self.line).trim_end_matches('\r').to_string();
            self.line.clear();
            if line.is_empty() {
                if !self.data.is_empty() {
                    done.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(d) = line.strip_prefix("data:") {
                self.data.push(d.strip_prefix(' ').unwrap_or(d).to_string());
            } else if let Some(id) = line.strip_prefix("id:") {
                self.id = Some(id.trim().to_string());
            }
        }
        done
    }
}

/// Follows `/api/v2/events`, reconnecting after [`RECONNECT`] whenever it drops.
async fn events(api: Api, out: Sender<Update>) {
    let mut last_id: Option<String> = None;
    loop {
        let mut req = api.request(reqwest::Method::GET, "/api/v2/events").header("Accept", "text/event-stream");
        if let Some(id) = &last_id {
            req = req.header("Last-Event-ID", id.as_str());
        }
        let why = match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                let mut parser = SseParser::default();
                let mut body = resp.bytes_stream();
                loop {
                    match body.next().await {
                        Some(Ok(chunk)) => {
                            for data in parser.feed(&chunk) {
                                if let Ok(v) = serde_json::from_str::<Value>(&data) {
                                    if out.send(Update::Event(v)).is_err() {
                                        return;
                                    }
                                }
                            }
                            last_id = parser.id.clone().or(last_id);
                        }
                        Some(Err(e)) => break format!("event stream lost: {e}"),
                        None => break "event stream ended".to_string(),
                    }
                }
            }
            Ok(resp) => format!("/api/v2/events: {}", resp.status()),
            Err(e) => format!("{}: {e}", api.base),
        };
        if out.send(Update::Connection(Err(format!("{why}; reconnecting")))).is_err() {
            return;
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// Runs what keys ask for.
async fn commands(api: Api, out: Sender<Update>, mut rx: UnboundedReceiver<Request>, refresh: UnboundedSender<()>) {
    while let Some(req) = rx.recv().await {
        let update = match req {
            Request::Refresh => {
                let _ = refresh.send(());
                continue;
            }
            Request::Objects { remote } => objects(&api, &remote).await,
            Request::Evict { remote, path } => {
                let encoded = crate::ui::fmt::path(&path);
                let target = format!("/api/v2/remotes/{}/objects/{encoded}", crate::ui::fmt::path(&remote));
                let notice = match api.json(reqwest::Method::DELETE, &target).await {
                    Ok(v) => format!("evicted {path} ({} object(s))", v["evicted"].as_u64().unwrap_or(0)),
                    Err(e) => format!("evict failed: {e}"),
                };
                if out.send(Update::Notice(notice)).is_err() {
                    return;
                }
                objects(&api, &remote).await
            }
        };
        if out.send(update).is_err() {
            return;
        }
    }
}

async fn objects(api: &Api, remote: &str) -> Update {
    let path =
        format!("/api/v2/remotes/{}/objects?limit=200&sort=last_access&order=desc", crate::ui::fmt::path(remote));
    match api.json(reqwest::Method::GET, &path).await {
        Ok(v) => Update::Objects {
            remote: remote.to_string(),
            objects: v["objects"].as_array().cloned().unwrap_or_default(),
            total: v["total"].as_u64().unwrap_or(0),
        },
        Err(e) => Update::Notice(format!("objects of {remote}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b"retry: 3000\n: hello\n\nid: 4\nevent: cache_hit\nda").is_empty());
        assert_eq!(p.feed(b"ta: {\"a\":1}\r\n\r\n"), vec!["{\"a\":1}".to_string()]);
        assert_eq!(p.id.as_deref(), Some("4"));
        assert_eq!(p.feed(b"data: a\ndata: b\n\n: heartbeat\n\n"), vec!["a\nb".to_string()]);
    }
}

//! The TUI's state and what each key does to it: pure (no terminal, no network), so the key
//! handling is tested by tables of cases. Network work the keys ask for comes out as
//! [`Request`]s; what the network brings comes in as [`Update`]s.

use std::collections::VecDeque;

use serde_json::Value;

/// The tabs, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Remotes,
    Events,
    Objects,
    Health,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Overview, Tab::Remotes, Tab::Events, Tab::Objects, Tab::Health];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Remotes => "Remotes",
            Tab::Events => "Events",
            Tab::Objects => "Objects",
            Tab::Health => "Health",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// What the network side brings.
#[derive(Debug, Clone)]
pub enum Update {
    /// `/api/v2/stats`.
    Stats(Value),
    /// `/api/v2/health` (also when it answers 503).
    Health(Value),
    /// `/api/v2/remotes`.
    Remotes(Vec<Value>),
    /// One page of `/api/v2/remotes/{name}/objects`.
    Objects { remote: String, objects: Vec<Value>, total: u64 },
    /// One event of the stream.
    Event(Value),
    /// The connection works again, or failed (the banner).
    Connection(Result<(), String>),
    /// What an action did, for the footer.
    Notice(String),
}

/// What a key asks the network side to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Objects { remote: String },
    Evict { remote: String, path: String },
    Refresh,
}

/// Most events kept.
const MAX_EVENTS: usize = 1000;
/// Samples of the requests/s sparkline (one per stats poll).
const SPARK: usize = 120;

#[derive(Debug, Default)]
pub struct App {
    pub tab: usize,
    pub stats: Option<Value>,
    pub health: Option<Value>,
    pub remotes: Vec<Value>,
    pub remote_sel: usize,
    /// The remote whose objects the Objects tab shows.
    pub objects_of: Option<String>,
    pub objects: Vec<Value>,
    pub objects_total: u64,
    pub object_sel: usize,
    pub events: VecDeque<Value>,
    pub paused: bool,
    /// The events filter (a substring of type, repository or path); `Some` while typing it.
    pub filter: String,
    pub typing_filter: bool,
    /// The object waiting for `y` to be evicted.
    pub confirm: Option<(String, String)>,
    /// Set while the server cannot be reached.
    pub banner: Option<String>,
    pub notice: Option<String>,
    /// Requests per second between stats polls.
    pub rates: VecDeque<u64>,
    last_requests: Option<(u64, std::time::Instant)>,
    pub quit: bool,
}

impl App {
    pub fn current(&self) -> Tab {
        Tab::ALL[self.tab % Tab::ALL.len()]
    }

    /// Takes in what the network brought.
    pub fn update(&mut self, u: Update) {
        match u {
            Update::Stats(v) => {
                let now = std::time::Instant::now();
                let requests = v["total"]["requests"].as_u64().unwrap_or(0);
                if let Some((before, at)) = self.last_requests {
                    let secs = now.duration_since(at).as_secs_f64().max(0.001);
                    let rate = (requests.saturating_sub(before) as f64 / secs).round() as u64;
                    self.rates.push_back(rate);
                    while self.rates.len() > SPARK {
                        self.rates.pop_front();
                    }
                }
                self.last_requests = Some((requests, now));
                self.stats = Some(v);
            }
            Update::Health(v) => self.health = Some(v),
            Update::Remotes(r) => {
                self.remotes = r;
                self.remote_sel = self.remote_sel.min(self.remotes.len().saturating_sub(1));
            }
            Update::Objects { remote, objects, total } => {
                if self.objects_of.as_deref() == Some(remote.as_str()) {
                    self.objects = objects;
                    self.objects_total = total;
                    self.object_sel = self.object_sel.min(self.objects.len().saturating_sub(1));
                }
            }
            Update::Event(e) => {
                if !self.paused {
                    self.events.push_front(e);
                    self.events.truncate(MAX_EVENTS);
                }
            }
            Update::Connection(Ok(())) => self.banner = None,
            Update::Connection(Err(e)) => self.banner = Some(e),
            Update::Notice(n) => self.notice = Some(n),
        }
    }

    /// The events the filter lets through, newest first.
    pub fn visible_events(&self) -> impl Iterator<Item = &Value> {
        let f = self.filter.to_lowercase();
        self.events.iter().filter(move |e| {
            f.is_empty()
                || ["type", "repository", "path"]
                    .iter()
                    .any(|k| e[*k].as_str().is_some_and(|s| s.to_lowercase().contains(&f)))
        })
    }

    /// Handles a key (crossterm's name for it: `q`, `Tab`, `Up`, `Enter`, ...).
    pub fn key(&mut self, key: &str) -> Option<Request> {
        self.notice = None;
        if self.typing_filter {
            match key {
                "Enter" | "Esc" => self.typing_filter = false,
                "Backspace" => {
                    self.filter.pop();
                }
                k if k.chars().count() == 1 => self.filter.push_str(k),
                _ => {}
            }
            return None;
        }
        if let Some((remote, path)) = self.confirm.take() {
            return (key == "y").then_some(Request::Evict { remote, path });
        }
        match key {
            "q" | "Ctrl-c" => self.quit = true,
            "Tab" | "Right" => self.tab = (self.tab + 1) % Tab::ALL.len(),
            "BackTab" | "Left" => self.tab = (self.tab + Tab::ALL.len() - 1) % Tab::ALL.len(),
            "1" | "2" | "3" | "4" | "5" => self.tab = key.parse::<usize>().unwrap_or(1) - 1,
            "r" => return Some(Request::Refresh),
            "Up" | "k" => self.move_sel(-1),
            "Down" | "j" => self.move_sel(1),
            "Enter" if self.current() == Tab::Remotes => {
                let name = self.remotes.get(self.remote_sel)?["name"].as_str()?.to_string();
                self.objects_of = Some(name.clone());
                self.objects.clear();
                self.object_sel = 0;
                self.tab = Tab::Objects.index();
                return Some(Request::Objects { remote: name });
            }
            "d" if self.current() == Tab::Objects => {
                let remote = self.objects_of.clone()?;
                let path = self.objects.get(self.object_sel)?["path"].as_str()?.to_string();
                self.confirm = Some((remote, path));
            }
            "p" if self.current() == Tab::Events => self.paused = !self.paused,
            "/" if self.current() == Tab::Events => self.typing_filter = true,
            "c" if self.current() == Tab::Events => self.events.clear(),
            _ => {}
        }
        None
    }

    fn move_sel(&mut self, by: isize) {
        let (sel, len) = match self.current() {
            Tab::Remotes => (&mut self.remote_sel, self.remotes.len()),
            Tab::Objects => (&mut self.object_sel, self.objects.len()),
            _ => return,
        };
        *sel = sel.saturating_add_signed(by).min(len.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app() -> App {
        let mut a = App::default();
        a.update(Update::Remotes(vec![json!({"name": "a"}), json!({"name": "b"})]));
        a
    }

    #[test]
    fn keys_switch_tabs_and_quit() {
        let cases: &[(&[&str], Tab)] = &[
            (&[], Tab::Overview),
            (&["Tab"], Tab::Remotes),
            (&["Tab", "Tab", "Tab", "Tab", "Tab"], Tab::Overview),
            (&["BackTab"], Tab::Health),
            (&["3"], Tab::Events),
            (&["5", "Left"], Tab::Objects),
            (&["9"], Tab::Overview),
        ];
        for (keys, want) in cases {
            let mut a = app();
            for k in *keys {
                a.key(k);
            }
            assert_eq!(a.current(), *want, "{keys:?}");
        }
        let mut a = app();
        a.key("q");
        assert!(a.quit);
    }

    #[test]
    fn a_remote_opens_its_objects_and_eviction_needs_y() {
        let mut a = app();
        a.key("2");
        a.key("Down");
        a.key("Down");
        assert_eq!(a.remote_sel, 1, "stops at the last remote");
        assert_eq!(a.key("Enter"), Some(Request::Objects { remote: "b".into() }));
        assert_eq!(a.current(), Tab::Objects);
        a.update(Update::Objects { remote: "other".into(), objects: vec![json!({"path": "x"})], total: 1 });
        assert!(a.objects.is_empty(), "pages of another remote are ignored");
        a.update(Update::Objects { remote: "b".into(), objects: vec![json!({"path": "f/1"})], total: 1 });
        assert_eq!(a.key("d"), None);
        assert_eq!(a.confirm, Some(("b".into(), "f/1".into())));
        assert_eq!(a.key("n"), None, "anything but y cancels");
        assert_eq!(a.confirm, None);
        a.key("d");
        assert_eq!(a.key("y"), Some(Request::Evict { remote: "b".into(), path: "f/1".into() }));
    }

    #[test]
    fn events_filter_and_pause() {
        let mut a = app();
        a.key("3");
        a.update(Update::Event(json!({"type": "cache_hit", "repository": "a", "path": "x"})));
        a.update(Update::Event(json!({"type": "fetch_completed", "repository": "b", "path": "y"})));
        for k in ["/", "h", "i", "t", "Enter"] {
            a.key(k);
        }
        assert_eq!(a.filter, "hit");
        assert_eq!(a.visible_events().count(), 1);
        a.key("p");
        a.update(Update::Event(json!({"type": "cache_hit"})));
        assert_eq!(a.events.len(), 2, "paused");
        a.key("p");
        a.update(Update::Event(json!({"type": "cache_hit"})));
        assert_eq!(a.events.len(), 3);
    }

    #[test]
    fn lost_connections_show_until_back() {
        let mut a = app();
        a.update(Update::Connection(Err("connection refused".into())));
        assert_eq!(a.banner.as_deref(), Some("connection refused"));
        a.update(Update::Connection(Ok(())));
        assert_eq!(a.banner, None);
    }
}

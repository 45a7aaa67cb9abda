//! Events: what happened, for the live event stream, metrics and logs.
//!
//! Actors describe what they did as [`Event`]s and hand them to an [`EventSink`]; the service
//! crate publishes them through the coordinator so every replica's subscribers see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    FetchStarted,
    FetchCompleted,
    FetchFailed,
    CacheHit,
    CacheStale,
    Revalidated,
    Coalesced,
    BreakerOpened,
    BreakerHalfOpen,
    BreakerClosed,
    ConfigCreated,
    ConfigUpdated,
    ConfigDeleted,
    Eviction,
    GcRun,
    PushCompleted,
}

/// One event, as published on the bus and sent to SSE subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Filled in by the sink.
    #[serde(default)]
    pub replica: String,
    pub time: DateTime<Utc>,
}

impl Event {
    pub fn new(kind: EventKind) -> Self {
        Event {
            kind,
            repository: None,
            path: None,
            status: None,
            size: None,
            duration_ms: None,
            detail: None,
            replica: String::new(),
            time: Utc::now(),
        }
    }

    pub fn repo(mut self, repo: &str) -> Self {
        self.repository = Some(repo.to_string());
        self
    }

    pub fn path(mut self, path: &str) -> Self {
        self.path = Some(path.to_string());
        self
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    pub fn duration(mut self, d: std::time::Duration) -> Self {
        self.duration_ms = Some(d.as_millis() as u64);
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// Where actors send events. Emitting never blocks and never fails the caller.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: Event);
}

/// A sink that drops everything (tests, tools).
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) {}
}

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
    /// A service this replica depends on (`detail.dependency`: `database`, `storage`,
    /// `coordinator`) stopped answering.
    DependencyDown,
    /// It answers again.
    DependencyUp,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 18] = [
        EventKind::FetchStarted,
        EventKind::FetchCompleted,
        EventKind::FetchFailed,
        EventKind::CacheHit,
        EventKind::CacheStale,
        EventKind::Revalidated,
        EventKind::Coalesced,
        EventKind::BreakerOpened,
        EventKind::BreakerHalfOpen,
        EventKind::BreakerClosed,
        EventKind::ConfigCreated,
        EventKind::ConfigUpdated,
        EventKind::ConfigDeleted,
        EventKind::Eviction,
        EventKind::GcRun,
        EventKind::PushCompleted,
        EventKind::DependencyDown,
        EventKind::DependencyUp,
    ];

    /// The wire name (`fetch_completed`), as in the JSON `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::FetchStarted => "fetch_started",
            EventKind::FetchCompleted => "fetch_completed",
            EventKind::FetchFailed => "fetch_failed",
            EventKind::CacheHit => "cache_hit",
            EventKind::CacheStale => "cache_stale",
            EventKind::Revalidated => "revalidated",
            EventKind::Coalesced => "coalesced",
            EventKind::BreakerOpened => "breaker_opened",
            EventKind::BreakerHalfOpen => "breaker_half_open",
            EventKind::BreakerClosed => "breaker_closed",
            EventKind::ConfigCreated => "config_created",
            EventKind::ConfigUpdated => "config_updated",
            EventKind::ConfigDeleted => "config_deleted",
            EventKind::Eviction => "eviction",
            EventKind::GcRun => "gc_run",
            EventKind::PushCompleted => "push_completed",
            EventKind::DependencyDown => "dependency_down",
            EventKind::DependencyUp => "dependency_up",
        }
    }

    /// The kind with this wire name.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
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

    /// Whether events of `kind` would go anywhere now. Emitters of high-volume kinds (cache
    /// hits) ask first so they do not even build an event nobody listens to; the answer is a
    /// cached flag, cheap enough for the hot path.
    fn wants(&self, _kind: EventKind) -> bool {
        true
    }
}

/// A sink that drops everything (tests, tools).
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_the_json_and_round_trip() {
        for kind in EventKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::Value::String(kind.as_str().to_string()), "{kind:?}");
            assert_eq!(EventKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::from_name("FetchStarted"), None);
        assert_eq!(EventKind::from_name(""), None);
        let names: std::collections::HashSet<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), EventKind::ALL.len(), "duplicate wire names");
    }
}

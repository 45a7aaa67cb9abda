//! What the upstream serves at one path: bytes and the headers that go with them.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

/// One file the upstream serves.
#[derive(Debug, Clone)]
pub struct File {
    pub body: Bytes,
    pub content_type: String,
    /// The full ETag header value, quotes included (`"v1"`).
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
    /// Status to answer with (200 by default; e.g. 410 for a removed file).
    pub status: u16,
    /// Further response headers (`Location` of a redirect, a `WWW-Authenticate` challenge).
    pub headers: Vec<(String, String)>,
}

impl File {
    pub fn new(body: impl Into<Bytes>) -> File {
        File {
            body: body.into(),
            content_type: "application/octet-stream".into(),
            etag: None,
            last_modified: None,
            status: 200,
            headers: Vec::new(),
        }
    }

    /// A redirect (`status` 301, 302, 307, ...) to `location`.
    pub fn redirect(status: u16, location: &str) -> File {
        File::new("").status(status).header("location", location)
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> File {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn content_type(mut self, ct: &str) -> File {
        self.content_type = ct.to_string();
        self
    }

    /// Sets a strong ETag; `tag` is given without quotes.
    pub fn etag(mut self, tag: &str) -> File {
        self.etag = Some(format!("\"{tag}\""));
        self
    }

    /// Sets Last-Modified (rounded down to whole seconds, as HTTP dates are).
    pub fn last_modified(mut self, t: SystemTime) -> File {
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.last_modified = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        self
    }

    pub fn status(mut self, status: u16) -> File {
        self.status = status;
        self
    }
}

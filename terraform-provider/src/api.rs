//! The management API client: JSON over HTTP(S) to `/api/v2`, with the admin or scoped token
//! as `Authorization: Bearer`, trusting the system's roots plus an optional CA (`ca_cert`).
//!
//! Errors keep the server's message (`{"error": "patterns[1]: invalid regex: ..."}`), which the
//! resources turn into a diagnostic on the attribute it names.

use std::time::Duration;

use reqwest::{Method, StatusCode};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The provider configuration cannot make a client.
    #[error("{0}")]
    Config(String),
    /// No answer: connection refused, TLS, timeout.
    #[error("{method} {url}: {message}")]
    Transport { method: Method, url: String, message: String },
    /// An answer other than the one expected; `message` is the server's `error`, or the body.
    #[error("{method} {url}: HTTP {status}: {message}")]
    Status { method: Method, url: String, status: StatusCode, message: String },
    /// A 2xx answer whose body is not the JSON expected.
    #[error("{method} {url}: unreadable answer: {message}")]
    Decode { method: Method, url: String, message: String },
}

impl ApiError {
    /// The server's own message for a refused request (400, 409, ...), `None` otherwise.
    pub fn server_message(&self) -> Option<&str> {
        match self {
            ApiError::Status { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// A configured client of one artifactapi server.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    /// The endpoint, without a trailing slash.
    base: String,
    token: Option<String>,
}

impl Api {
    /// A client of `endpoint` (`https://artifacts.example.com`), sending `token`, trusting the
    /// system's roots and `ca_cert` (PEM text) when given.
    pub fn new(endpoint: &str, token: Option<String>, ca_cert: Option<&str>) -> Result<Api, ApiError> {
        let url = url::Url::parse(endpoint).map_err(|e| ApiError::Config(format!("endpoint: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ApiError::Config("endpoint: must be an absolute http(s) URL".into()));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("terraform-provider-artifactapi/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_cert {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| ApiError::Config(format!("ca_cert: not PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err(ApiError::Config("ca_cert: no certificate in the PEM text".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| ApiError::Config(format!("HTTP client: {e}")))?;
        Ok(Api { client, base: endpoint.trim_end_matches('/').to_string(), token })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, Vec<u8>), ApiError> {
        let url = format!("{}/api/v2/{path}", self.base);
        let mut req = self.client.request(method.clone(), &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let transport = |e: reqwest::Error| ApiError::Transport {
            method: method.clone(),
            url: url.clone(),
            message: error_chain(&e),
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        Ok((status, bytes.to_vec()))
    }

    fn status_error(method: Method, path: &str, status: StatusCode, body: &[u8], base: &str) -> ApiError {
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned());
        ApiError::Status { method, url: format!("{base}/api/v2/{path}"), status, message }
    }

    fn decode(&self, method: Method, path: &str, body: &[u8]) -> Result<serde_json::Value, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::Decode {
            method,
            url: format!("{}/api/v2/{path}", self.base),
            message: e.to_string(),
        })
    }

    /// GET `path` below `/api/v2/`; `None` for a 404.
    pub async fn get(&self, path: &str) -> Result<Option<serde_json::Value>, ApiError> {
        let (status, body) = self.call(Method::GET, path, None).await?;
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => self.decode(Method::GET, path, &body).map(Some),
            s => Err(Self::status_error(Method::GET, path, s, &body, &self.base)),
        }
    }

    /// POST or PUT `body` to `path`; the JSON answer of a 2xx.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let (status, answer) = self.call(method.clone(), path, Some(body)).await?;
        if status.is_success() {
            self.decode(method, path, &answer)
        } else {
            Err(Self::status_error(method, path, status, &answer, &self.base))
        }
    }

    /// DELETE `path`; `false` when it was already gone (404).
    pub async fn delete(&self, path: &str) -> Result<bool, ApiError> {
        let (status, body) = self.call(Method::DELETE, path, None).await?;
        match status {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            s => Err(Self::status_error(Method::DELETE, path, s, &body, &self.base)),
        }
    }
}

/// An error with its causes, `a: b: c` (reqwest's own message hides the TLS or DNS reason).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

//! A raw Registry API V2 client for the local docker repository tests: every request spelled
//! out (so tests drive chunked uploads, out-of-order chunks, wrong digests and hostile input
//! exactly as they want), every answer read whole into a [`Fetched`].

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::{fetch, sha256_hex, Fetched, Server};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// `sha256:{hex}` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// A descriptor of `bytes` with `media_type`.
pub fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": digest(bytes), "size": bytes.len() })
}

/// An OCI image manifest of a config and layers (as bytes).
pub fn image_manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let layers: Vec<Value> = layers.iter().map(|l| descriptor(OCI_LAYER, l)).collect();
    let m = json!({ "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config), "layers": layers });
    serde_json::to_vec(&m).expect("serialise manifest")
}

/// The OCI error code of an error answer (`errors[0].code`); panics when it is no OCI error.
pub fn error_code(r: &Fetched) -> String {
    let body: Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not an OCI error ({e}): {}", r.describe()));
    body["errors"][0]["code"].as_str().unwrap_or_else(|| panic!("no errors[0].code in {}", r.describe())).to_string()
}

/// Asserts status and OCI error code.
pub fn assert_oci_error(r: &Fetched, status: StatusCode, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.describe());
    assert_eq!(error_code(r), code, "{what}: {}", r.describe());
    let e = &serde_json::from_slice::<Value>(&r.body).expect("JSON")["errors"][0];
    assert!(e["message"].is_string() && e.get("detail").is_some(), "{what}: code, message, detail: {}", r.describe());
}

/// A client of one server's `/v2`, optionally sending credentials.
pub struct Registry<'a> {
    pub server: &'a Server,
    /// The `Authorization` header value to send.
    pub auth: Option<String>,
}

impl<'a> Registry<'a> {
    pub fn new(server: &'a Server) -> Registry<'a> {
        Registry { server, auth: None }
    }

    /// Sends basic auth with any user and `token` as the password.
    pub fn with_token(server: &'a Server, token: &str) -> Registry<'a> {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{token}"));
        Registry { server, auth: Some(format!("Basic {basic}")) }
    }

    /// A request to `path` (absolute `/v2/...`, or a full URL from a `Location`).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http") { path.to_string() } else { self.server.url(path) };
        let req = self.server.client().request(method, url);
        match &self.auth {
            Some(a) => req.header("authorization", a),
            None => req,
        }
    }

    pub async fn send(&self, method: Method, path: &str) -> Fetched {
        fetch(self.request(method, path)).await
    }

    /// `POST /v2/{name}/blobs/uploads/`: asserts 202 and returns the upload's `Location`.
    pub async fn start_upload(&self, name: &str) -> String {
        let r = self.send(Method::POST, &format!("/v2/{name}/blobs/uploads/")).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "start upload to {name}: {}", r.describe());
        r.header("location").expect("Location").to_string()
    }

    /// `PATCH` a chunk to an upload, with `Content-Range` when `range` is given.
    pub async fn patch(&self, location: &str, range: Option<(u64, u64)>, bytes: &[u8]) -> Fetched {
        let mut req = self.request(Method::PATCH, location).header("content-type", "application/octet-stream");
        if let Some((start, end)) = range {
            req = req.header("content-range", format!("{start}-{end}"));
        }
        fetch(req.body(bytes.to_vec())).await
    }

    /// `PUT {location}?digest=` with an optional last chunk.
    pub async fn close(&self, location: &str, digest: &str, last: &[u8]) -> Fetched {
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let req = self.request(Method::PUT, &url).header("content-type", "application/octet-stream");
        fetch(req.body(last.to_vec())).await
    }

    /// A monolithic upload (`POST ?digest=`): asserts 201 and returns the digest.
    pub async fn push_blob(&self, name: &str, bytes: &[u8]) -> String {
        let d = digest(bytes);
        let url = format!("/v2/{name}/blobs/uploads/?digest={d}");
        let r = fetch(self.request(Method::POST, &url).body(bytes.to_vec())).await;
        assert_eq!(r.status, StatusCode::CREATED, "monolithic upload to {name}: {}", r.describe());
        assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
        d
    }

    /// `PUT /v2/{name}/manifests/{reference}` with `content_type`.
    pub async fn put_manifest(&self, name: &str, reference: &str, content_type: &str, bytes: &[u8]) -> Fetched {
        let req = self
            .request(Method::PUT, &format!("/v2/{name}/manifests/{reference}"))
            .header("content-type", content_type)
            .body(bytes.to_vec());
        fetch(req).await
    }

    /// Pushes a config, the layers and an image manifest tagged `tag`; asserts 201 and returns
    /// the manifest's bytes.
    pub async fn push_image(&self, name: &str, tag: &str, config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
        self.push_blob(name, config).await;
        for l in layers {
            self.push_blob(name, l).await;
        }
        let m = image_manifest(config, layers);
        let r = self.put_manifest(name, tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status, StatusCode::CREATED, "manifest {name}:{tag}: {}", r.describe());
        m
    }

    pub async fn get(&self, path: &str) -> Fetched {
        self.send(Method::GET, path).await
    }
}

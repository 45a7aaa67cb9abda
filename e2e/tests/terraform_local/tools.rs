//! What the terraform local tests drive beside the shared terraform harness
//! ([`artifactapi_e2e::terraform`]: the CLI, provider zips, gpg and gpgv): a server serving
//! HTTPS with a certificate of a test CA, and uploads of provider zips to a local.

use std::path::PathBuf;

use artifactapi_e2e::terraform;
pub use artifactapi_e2e::terraform::{gpgv, terraform_bin, Signer, Workdir};
use artifactapi_e2e::tls::TestCa;
use artifactapi_e2e::{fetch, Options, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const ADMIN: &str = "e2e-admin-token";

/// A server that serves HTTPS on a port of its own beside plain HTTP (the tests' own client),
/// with `PUBLIC_URL` the HTTPS one at `localhost`, and the CA that signed its certificate.
pub struct TlsServer {
    pub server: Server,
    pub tls_port: u16,
    pub ca_pem: PathBuf,
    /// Holds the CA certificate file for as long as the server runs.
    _dir: tempfile::TempDir,
}

impl TlsServer {
    pub async fn start(opts: Options) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("artifactapi e2e terraform CA");
        let server = Server::start(opts.admin_token(ADMIN).tls_beside(&ca)).await;
        let ca_pem = ca.write_pem(dir.path(), "ca.pem");
        let https = server.https_url("");
        let tls_port = https.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the HTTPS port");
        TlsServer { server, tls_port, ca_pem, _dir: dir }
    }

    /// The host terraform addresses: `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port)
    }

    /// `url` (an absolute URL the server wrote, on its HTTPS port) on the plain port.
    pub fn plain(&self, url: &str) -> String {
        let prefix = format!("https://127.0.0.1:{}", self.tls_port);
        let path = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url} is not below {prefix}"));
        self.server.url(path)
    }
}

/// Creates terraform local `name` and a token with `write` on it; the token.
pub async fn local_with_writer(s: &Server, name: &str) -> String {
    s.create("/api/v2/locals", json!({ "name": name, "package_type": "terraform" })).await;
    s.token(&format!("{name}-ci"), &[(name, "write")]).await
}

/// The zip of `ty` `version` for `os`/`arch`: a binary of `size` incompressible bytes that
/// differ per version and platform.
pub fn provider_zip(ty: &str, version: &str, os: &str, arch: &str, size: usize) -> Vec<u8> {
    let seed = version.bytes().chain(os.bytes()).chain(arch.bytes()).fold(7u64, |h, b| h.wrapping_mul(31) + b as u64);
    terraform::provider_zip(ty, version, size, seed)
}

pub fn zip_name(ty: &str, version: &str, os: &str, arch: &str) -> String {
    format!("terraform-provider-{ty}_{version}_{os}_{arch}.zip")
}

/// `PUT /api/v1/local/{local}/{ty}/{file}` with `secret`.
pub async fn upload(
    s: &Server,
    local: &str,
    secret: &str,
    ty: &str,
    file: &str,
    body: Vec<u8>,
) -> artifactapi_e2e::Fetched {
    fetch(s.client().put(s.url(&format!("/api/v1/local/{local}/{ty}/{file}"))).bearer_auth(secret).body(body)).await
}

/// Uploads a zip of every platform of `version` at once; the upload answers, in order.
pub async fn upload_platforms(
    s: &Server,
    local: &str,
    secret: &str,
    ty: &str,
    version: &str,
    platforms: &[(&str, &str)],
    padding: usize,
) -> Vec<Value> {
    let uploads = platforms.iter().map(|(os, arch)| {
        let body = provider_zip(ty, version, os, arch, padding);
        async move { upload(s, local, secret, ty, &zip_name(ty, version, os, arch), body).await }
    });
    let answers = futures_util::future::join_all(uploads).await;
    answers
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
            r.json()
        })
        .collect()
}

//! The HTTPS listener: the server certificate and key of `TLS_CERT` and `TLS_KEY`, loaded into
//! a rustls server configuration. actix-web's listener offers `h2` then `http/1.1` by ALPN
//! itself (its `http2` feature), so the configuration names no protocols.
//!
//! Some clients talk to registries over HTTPS only (terraform refuses a plain-HTTP provider
//! registry or network mirror), so artifactapi can terminate TLS itself instead of needing a
//! reverse proxy in front. The files are read once at start: a certificate or key that does
//! not load stops the process with one line naming the variable, which is what an operator
//! reads in a crash-looping pod's log.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use rustls::ServerConfig;

/// Why the listener's certificate or key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenTlsError {
    /// `var` is `TLS_CERT` or `TLS_KEY`.
    #[error("invalid {var}={path:?}: {reason}")]
    File { var: &'static str, path: String, reason: String },
    #[error("invalid TLS_KEY={key:?}: it is not the private key of TLS_CERT={cert:?} ({reason})")]
    Mismatch { cert: String, key: String, reason: String },
}

/// Reads `cert` (a PEM chain: the server certificate first, then intermediates) and `key` (a
/// PEM private key: PKCS#8, PKCS#1 RSA or SEC1 EC) into a server configuration.
pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ListenTlsError> {
    let chain = read_chain(cert)?;
    let private = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_err = |reason: String| ListenTlsError::File { var: "TLS_KEY", path: key.display().to_string(), reason };
    provider.key_provider.load_private_key(private.clone_key()).map_err(|e| key_err(format!("unusable key ({e})")))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| key_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| ListenTlsError::Mismatch {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(Arc::new(config))
}

/// The PEM blocks of a file, in order.
fn sections(var: &'static str, path: &Path) -> Result<Vec<(SectionKind, Vec<u8>)>, ListenTlsError> {
    let err = |reason: String| ListenTlsError::File { var, path: path.display().to_string(), reason };
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read the file ({e})")))?;
    let mut reader = std::io::Cursor::new(bytes);
    let mut found = Vec::new();
    loop {
        match pem::from_buf(&mut reader) {
            Ok(Some(section)) => found.push(section),
            Ok(None) => return Ok(found),
            Err(e) => return Err(err(format!("malformed PEM ({e})"))),
        }
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, ListenTlsError> {
    let chain: Vec<CertificateDer<'static>> = sections("TLS_CERT", path)?
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if chain.is_empty() {
        return Err(ListenTlsError::File {
            var: "TLS_CERT",
            path: path.display().to_string(),
            reason: "no PEM certificate found (expected -----BEGIN CERTIFICATE----- blocks)".into(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ListenTlsError> {
    for (kind, der) in sections("TLS_KEY", path)? {
        let key = match kind {
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
            _ => continue,
        };
        return Ok(key);
    }
    Err(ListenTlsError::File {
        var: "TLS_KEY",
        path: path.display().to_string(),
        reason: "no PEM private key found (expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)".into(),
    })
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;

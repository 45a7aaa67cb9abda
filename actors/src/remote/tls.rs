//! Which certificates an upstream's TLS must chain to, and the rustls client configurations
//! built from them.
//!
//! Behind a TLS-inspecting gateway, or with upstreams on a private CA, a compiled-in root list
//! fails every HTTPS upstream while curl and pip on the same machine succeed. So the trust is
//! what those tools use:
//!
//! - the operating system's store ([`rustls_native_certs`]: the platform's bundle, or
//!   `SSL_CERT_FILE` / `SSL_CERT_DIR` when they are set, as OpenSSL reads them);
//! - plus `UPSTREAM_CA_FILE`, a PEM bundle added for every remote;
//! - plus a remote's own `tls_ca` (PEM text), for that remote only;
//! - or, for one remote, no verification at all (`tls_insecure_skip_verify`), which the caller
//!   reports loudly (log, the remote's JSON, `/api/v2/health`).
//!
//! A rustls [`ClientConfig`] is `Send + Sync` and costs a root-store build, so [`TrustStore`]
//! builds one per distinct setting and hands the same `Arc` to every remote that uses it (the
//! awc client around it is per actor, since awc is not `Send`). Entries are held weakly: a
//! setting no remote uses any more is dropped with its last client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::{self, SectionKind};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// ALPN protocols offered to upstreams, as awc's own default connector offers them.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why PEM text is not a usable set of CA certificates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("no PEM certificate found (expected -----BEGIN CERTIFICATE----- blocks)")]
    NoCertificate,
    #[error("PEM block {index} is a {kind}, not a certificate (only CA certificates belong here, never a key)")]
    NotCertificate { index: usize, kind: &'static str },
    #[error("malformed PEM: {0}")]
    Pem(String),
    #[error("certificate {index} is not a usable CA certificate: {reason}")]
    BadCertificate { index: usize, reason: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot build a TLS client configuration: {0}")]
    Config(String),
}

fn kind_name(kind: SectionKind) -> &'static str {
    match kind {
        SectionKind::Certificate => "CERTIFICATE",
        SectionKind::PublicKey => "PUBLIC KEY",
        SectionKind::RsaPrivateKey => "RSA PRIVATE KEY",
        SectionKind::PrivateKey => "PRIVATE KEY",
        SectionKind::EcPrivateKey => "EC PRIVATE KEY",
        SectionKind::Crl => "X509 CRL",
        SectionKind::Csr => "CERTIFICATE REQUEST",
        _ => "non-certificate block",
    }
}

/// CA certificates from PEM text: at least one, each one usable as a trust anchor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CaCertificates(Arc<[CertificateDer<'static>]>);

impl CaCertificates {
    /// Parses PEM text. Text outside the blocks is ignored (bundles often carry comments);
    /// any block that is not a certificate is refused, so a key pasted by mistake is never
    /// stored.
    pub fn from_pem(text: &str) -> Result<CaCertificates, TlsError> {
        let mut reader = std::io::Cursor::new(text.as_bytes());
        let mut certs = Vec::new();
        let mut index = 0;
        loop {
            let section = pem::from_buf(&mut reader).map_err(|e| TlsError::Pem(pem_error(&e)))?;
            let Some((kind, der)) = section else { break };
            index += 1;
            if kind != SectionKind::Certificate {
                return Err(TlsError::NotCertificate { index, kind: kind_name(kind) });
            }
            let cert = CertificateDer::from(der);
            RootCertStore::empty()
                .add(cert.clone())
                .map_err(|e| TlsError::BadCertificate { index, reason: e.to_string() })?;
            certs.push(cert);
        }
        if certs.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        Ok(CaCertificates(certs.into()))
    }

    /// Reads and parses a PEM file (`UPSTREAM_CA_FILE`).
    pub fn from_file(path: &std::path::Path) -> Result<CaCertificates, TlsError> {
        let read_err = |reason: String| TlsError::Read { path: path.display().to_string(), reason };
        let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| read_err("not a text (PEM) file".into()))?;
        CaCertificates::from_pem(&text)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn certs(&self) -> &[CertificateDer<'static>] {
        &self.0
    }
}

fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a block has no end line {:?}", String::from_utf8_lossy(end_marker))
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed BEGIN line {:?}", String::from_utf8_lossy(line).trim())
        }
        pem::Error::Base64Decode(why) => format!("bad base64 in a block ({why})"),
        other => other.to_string(),
    }
}

/// How one remote's TLS is verified (its part of [`super::RemoteSettings`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RemoteTls {
    /// CA certificates trusted for this remote besides the shared ones (`tls_ca`).
    pub extra_ca: Option<CaCertificates>,
    /// Accept any certificate (`tls_insecure_skip_verify`).
    pub skip_verify: bool,
}

/// The trust every remote shares, and the client configurations built on it.
pub struct TrustStore {
    provider: Arc<CryptoProvider>,
    /// The operating system's store plus `UPSTREAM_CA_FILE`.
    roots: Arc<RootCertStore>,
    base: Arc<ClientConfig>,
    built: Mutex<HashMap<RemoteTls, Weak<ClientConfig>>>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustStore").field("roots", &self.roots.len()).finish_non_exhaustive()
    }
}

/// What [`TrustStore::load`] found, for the start-up log.
#[derive(Debug, Clone, Default)]
pub struct TrustReport {
    /// Certificates taken from the operating system's store.
    pub system: usize,
    /// Problems reading the operating system's store (unreadable files, bad entries).
    pub system_errors: Vec<String>,
    /// Certificates from `UPSTREAM_CA_FILE`.
    pub extra: usize,
}

impl TrustStore {
    /// The operating system's store plus `extra` (`UPSTREAM_CA_FILE`).
    pub fn load(extra: Option<&CaCertificates>) -> Result<(TrustStore, TrustReport), TlsError> {
        let native = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (system, _) = roots.add_parsable_certificates(native.certs);
        let mut report =
            TrustReport { system, system_errors: native.errors.iter().map(ToString::to_string).collect(), extra: 0 };
        if let Some(extra) = extra {
            for cert in extra.certs() {
                roots.add(cert.clone()).map_err(|e| TlsError::Config(e.to_string()))?;
            }
            report.extra = extra.len();
        }
        Ok((TrustStore::with_roots(roots)?, report))
    }

    /// Exactly these roots (tests).
    pub fn with_roots(roots: RootCertStore) -> Result<TrustStore, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(roots);
        let base = Arc::new(verified(&provider, roots.clone())?);
        Ok(TrustStore { provider, roots, base, built: Mutex::new(HashMap::new()) })
    }

    /// The client configuration for `tls`: the same `Arc` for every caller with the same
    /// setting while any of them holds it.
    pub fn client_config(&self, tls: &RemoteTls) -> Arc<ClientConfig> {
        if *tls == RemoteTls::default() {
            return self.base.clone();
        }
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(config) = built.get(tls).and_then(Weak::upgrade) {
            return config;
        }
        let config = match self.build(tls) {
            Ok(config) => Arc::new(config),
            Err(e) => {
                // Certificates were checked when the remote was validated; should a build still
                // fail, the shared trust (fewer roots, never more) is what is left.
                tracing::error!(error = %e, "TLS configuration of a remote failed; using the shared trust only");
                return self.base.clone();
            }
        };
        built.retain(|_, w| w.strong_count() > 0);
        built.insert(tls.clone(), Arc::downgrade(&config));
        config
    }

    fn build(&self, tls: &RemoteTls) -> Result<ClientConfig, TlsError> {
        if tls.skip_verify {
            let builder = ClientConfig::builder_with_provider(self.provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            let verifier = Arc::new(NoVerification(self.provider.clone()));
            let mut config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
            config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
            return Ok(config);
        }
        let mut roots = (*self.roots).clone();
        for (i, cert) in tls.extra_ca.iter().flat_map(CaCertificates::certs).enumerate() {
            roots.add(cert.clone()).map_err(|e| TlsError::BadCertificate { index: i + 1, reason: e.to_string() })?;
        }
        verified(&self.provider, Arc::new(roots))
    }

    /// How many certificates the shared trust holds.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }
}

fn verified(provider: &Arc<CryptoProvider>, roots: Arc<RootCertStore>) -> Result<ClientConfig, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Accepts any server certificate (`tls_insecure_skip_verify`). The handshake signatures are
/// still checked, so the connection is at least with the holder of the certificate shown.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS failure inside an error chain, if there is one (a rustls error wrapped in the I/O
/// error the connector reports).
pub fn tls_failure<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                return Some(tls);
            }
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;

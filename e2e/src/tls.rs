//! A certificate authority made for one test, and the server certificates it signs.
//!
//! Upstreams behind a private CA (or a TLS-inspecting gateway) are what the upstream TLS trust
//! settings exist for, so the tests make such a CA on the spot (rcgen, ECDSA P-256): its PEM
//! goes into `UPSTREAM_CA_FILE`, a remote's `tls_ca` or `SSL_CERT_FILE`, and its server
//! certificates into an HTTPS [`crate::Upstream`]. Nothing is read from or written to the
//! machine's own trust store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;

/// A throwaway certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA whose certificate names `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        TestCa { issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate") }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to `dir/name` and returns the path.
    pub fn write_pem(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.pem()).expect("write the CA certificate");
        path
    }

    /// A certificate for `hosts` (IP addresses or DNS names) signed by this CA, and its key.
    fn server_cert(&self, hosts: &[&str]) -> (rcgen::Certificate, KeyPair) {
        let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server certificate parameters");
        params.distinguished_name.push(DnType::CommonName, hosts.first().copied().unwrap_or("upstream"));
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("server certificate");
        (cert, key)
    }

    /// A certificate for `hosts` signed by this CA, as PEM files for `TLS_CERT` (the chain:
    /// server certificate, then the CA's) and `TLS_KEY`, written into `dir`.
    pub fn write_server_pem(&self, dir: &Path, hosts: &[&str]) -> (PathBuf, PathBuf) {
        let (cert, key) = self.server_cert(hosts);
        let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&cert_path, format!("{}{}", cert.pem(), self.pem())).expect("write the server certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("write the server key");
        (cert_path, key_path)
    }

    /// A rustls server configuration with a certificate for `hosts` (IP addresses or DNS
    /// names) signed by this CA, speaking HTTP/1.1.
    pub fn server_config(&self, hosts: &[&str]) -> Arc<ServerConfig> {
        let (cert, key) = self.server_cert(hosts);
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone(), self.issuer.der().clone()], private)
            .expect("server TLS configuration");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

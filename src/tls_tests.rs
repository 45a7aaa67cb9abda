//! Tests of [`super::load`]: a certificate and key made here (rcgen) load;
//! every way the files can be wrong gives one line naming the variable.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, KeyPair};

use super::*;

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files { dir: tempfile::tempdir().unwrap() }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// A self-signed certificate for localhost and its key, PEM.
fn pair() -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap().self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn error_of(cert: &Path, key: &Path) -> String {
    let e = load(cert, key).expect_err("must not load");
    let line = e.to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    line
}

#[test]
fn a_certificate_and_its_key_load() {
    let f = Files::new();
    let (cert, key) = pair();
    let config = load(&f.write("cert.pem", &cert), &f.write("key.pem", &key)).unwrap();
    // The listener adds h2 and http/1.1 itself; protocols named here would be offered twice.
    assert!(config.alpn_protocols.is_empty());
    // A chain file may carry other blocks (a key pasted after the chain): only certificates count.
    let both = f.write("both.pem", &format!("{cert}{key}"));
    load(&both, &both).unwrap();
}

#[test]
fn bad_files_name_the_variable() {
    let f = Files::new();
    let (cert, key) = pair();
    let (other_cert, _) = pair();
    let cert_path = f.write("cert.pem", &cert);
    let key_path = f.write("key.pem", &key);
    let missing = f.dir.path().join("missing.pem");
    let truncated = f.write("truncated.pem", cert.lines().take(3).collect::<Vec<_>>().join("\n").as_str());
    let not_pem = f.write("text.txt", "hello\n");
    let bogus_key = f.write("bogus-key.pem", "-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----\n");
    let other = f.write("other.pem", &other_cert);
    let cases: Vec<(&Path, &Path, &str)> = vec![
        (&missing, &key_path, "invalid TLS_CERT=\"/"),
        (&truncated, &key_path, "invalid TLS_CERT="),
        (&not_pem, &key_path, "invalid TLS_CERT="),
        (&key_path, &key_path, "invalid TLS_CERT="),
        (&cert_path, &missing, "invalid TLS_KEY="),
        (&cert_path, &not_pem, "invalid TLS_KEY="),
        (&cert_path, &cert_path, "invalid TLS_KEY="),
        (&cert_path, &bogus_key, "invalid TLS_KEY="),
        (&other, &key_path, "invalid TLS_KEY="),
    ];
    for (cert, key, want) in cases {
        let line = error_of(cert, key);
        assert!(line.starts_with(want), "{} + {}: {line}", cert.display(), key.display());
    }
    assert!(error_of(&missing, &key_path).contains("cannot read the file"));
    assert!(error_of(&truncated, &key_path).contains("malformed PEM"));
    assert!(error_of(&not_pem, &key_path).contains("no PEM certificate"));
    assert!(error_of(&cert_path, &cert_path).contains("no PEM private key"));
    assert!(error_of(&other, &key_path).contains("not the private key of TLS_CERT"));
}

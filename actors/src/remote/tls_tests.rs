//! Tests of [`super`]: which PEM texts are CA certificates, and one configuration per setting.

use std::sync::Arc;

use super::*;

const CA: &str = include_str!("../../testdata/ca.pem");

fn block(label: &str, body: &str) -> String {
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

#[test]
fn pem_texts_as_ca_certificates() {
    let junk_der = "AAECAwQFBgcICQ=="; // valid base64 of bytes that are no certificate
    let key = block("PRIVATE KEY", "MC4CAQAwBQYDK2VwBCIEIA==");
    let cases: Vec<(String, Result<usize, &str>)> = vec![
        (CA.to_string(), Ok(1)),
        (format!("# internal root\n{CA}\nsome comment\n{CA}"), Ok(2)),
        (CA.replace('\n', "\r\n"), Ok(1)),
        (String::new(), Err("no PEM certificate found")),
        ("   \n".into(), Err("no PEM certificate found")),
        ("not a certificate at all".into(), Err("no PEM certificate found")),
        (block("X509 CRL", "AAEC"), Err("PEM block 1 is a X509 CRL, not a certificate")),
        (key.clone(), Err("PEM block 1 is a PRIVATE KEY, not a certificate")),
        (format!("{CA}{key}"), Err("PEM block 2 is a PRIVATE KEY, not a certificate")),
        (block("CERTIFICATE", "%%% not base64 %%%"), Err("malformed PEM: bad base64")),
        ("-----BEGIN CERTIFICATE-----\nAAEC\n".into(), Err("malformed PEM: a block has no end line")),
        ("-----BEGIN CERTIFICATE----\nAAEC\n".into(), Err("malformed PEM: malformed BEGIN line")),
        (block("CERTIFICATE", junk_der), Err("certificate 1 is not a usable CA certificate")),
        (format!("{CA}{}", block("CERTIFICATE", junk_der)), Err("certificate 2 is not a usable CA certificate")),
    ];
    for (text, want) in cases {
        let got = CaCertificates::from_pem(&text).map(|c| c.len()).map_err(|e| e.to_string());
        match (&got, want) {
            (Ok(n), Ok(m)) => assert_eq!(*n, m, "{text:?}"),
            (Err(e), Err(m)) => assert!(e.starts_with(m), "{text:?}: {e}"),
            _ => panic!("{text:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn ca_files_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("ca.pem");
    std::fs::write(&good, CA).unwrap();
    assert_eq!(CaCertificates::from_file(&good).unwrap().len(), 1);
    let missing = CaCertificates::from_file(&dir.path().join("nope.pem")).unwrap_err().to_string();
    assert!(missing.starts_with("cannot read ") && missing.contains("nope.pem"), "{missing}");
    let binary = dir.path().join("ca.der");
    std::fs::write(&binary, [0x30, 0x82, 0xff, 0xfe]).unwrap();
    let e = CaCertificates::from_file(&binary).unwrap_err().to_string();
    assert!(e.contains("not a text (PEM) file"), "{e}");
}

#[test]
fn one_client_configuration_per_setting() {
    let store = TrustStore::with_roots(RootCertStore::empty()).unwrap();
    let ca = CaCertificates::from_pem(CA).unwrap();
    let plain = RemoteTls::default();
    let with_ca = RemoteTls { extra_ca: Some(ca.clone()), skip_verify: false };
    let skip = RemoteTls { extra_ca: None, skip_verify: true };

    assert!(Arc::ptr_eq(&store.client_config(&plain), &store.client_config(&plain)));
    let a = store.client_config(&with_ca);
    let b =
        store.client_config(&RemoteTls { extra_ca: Some(CaCertificates::from_pem(CA).unwrap()), ..with_ca.clone() });
    assert!(Arc::ptr_eq(&a, &b), "the same certificates share one configuration");
    let s = store.client_config(&skip);
    assert!(!Arc::ptr_eq(&a, &s) && !Arc::ptr_eq(&s, &store.client_config(&plain)));
    assert_eq!(a.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);

    // Held weakly: once no remote uses a setting, it is built anew when asked again.
    let weak = Arc::downgrade(&a);
    drop((a, b));
    assert!(weak.upgrade().is_none());
    let again = store.client_config(&with_ca);
    assert_eq!(store.built.lock().unwrap().len(), 2, "the dropped entry was replaced, not added to");
    drop(again);
}

#[test]
fn the_shared_trust_counts_what_it_loaded() {
    let ca = CaCertificates::from_pem(CA).unwrap();
    let (store, report) = TrustStore::load(Some(&ca)).unwrap();
    assert_eq!(report.extra, 1);
    assert_eq!(store.root_count(), report.system + 1);
}

//! Tests of [`super`]: validation naming the field, access rules, overrides, TLS fields.

use super::*;

fn spec(json: serde_json::Value) -> Result<Remote, String> {
    let s: RemoteSpec = parse_json(json.to_string().as_bytes()).map_err(|e| e.to_string())?;
    s.validate().map_err(|e| e.to_string())
}

#[test]
fn accepts_the_seed_examples() {
    let r = spec(serde_json::json!({
        "name": "github", "package_type": "generic", "base_url": "https://github.com",
        "immutable_ttl": 0, "mutable_ttl": 7200,
        "patterns": ["ducaale/xh/.*/xh-.*-x86_64-unknown-linux-musl.tar.gz$"],
        "mutable_patterns": [".*/archive/refs/heads/.*\\.tar\\.gz$"]
    }))
    .unwrap();
    assert_eq!(r.base_url, "https://github.com/");
    let r = spec(serde_json::json!({
        "name": "dockerhub", "package_type": "docker", "base_url": "https://registry-1.docker.io",
        "ban_tags_enabled": true, "ban_tags": ["latest"], "patterns": ["^library/postgres"]
    }))
    .unwrap();
    assert_eq!(r.spec.mutable_ttl, 3600);
}

#[test]
fn rejects_bad_fields_by_name() {
    let base = || serde_json::json!({"name": "r", "package_type": "generic", "base_url": "http://x"});
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            {
                let mut v = base();
                v["name"] = "../x".into();
                v
            },
            "name:",
        ),
        (
            {
                let mut v = base();
                v["name"] = "".into();
                v
            },
            "name:",
        ),
        (
            {
                let mut v = base();
                v["name"] = "A".into();
                v
            },
            "name:",
        ),
        (
            {
                let mut v = base();
                v["base_url"] = "ftp://x".into();
                v
            },
            "base_url:",
        ),
        (
            {
                let mut v = base();
                v["base_url"] = "not a url".into();
                v
            },
            "base_url:",
        ),
        (
            {
                let mut v = base();
                v["base_url"] = "http://u:p@x".into();
                v
            },
            "base_url:",
        ),
        (
            {
                let mut v = base();
                v["patterns"] = serde_json::json!(["ok", "(unclosed"]);
                v
            },
            "patterns[1]: invalid regex",
        ),
        (
            {
                let mut v = base();
                v["blocklist"] = serde_json::json!(["["]);
                v
            },
            "blocklist[0]: invalid regex",
        ),
        (
            {
                let mut v = base();
                v["mutable_ttl"] = serde_json::json!(u64::MAX);
                v
            },
            "mutable_ttl:",
        ),
        (
            {
                let mut v = base();
                v["mutable_ttl"] = serde_json::json!(-5);
                v
            },
            "mutable_ttl",
        ),
        (
            {
                let mut v = base();
                v["package_type"] = "maven".into();
                v
            },
            "unknown variant `maven`",
        ),
        (
            {
                let mut v = base();
                v["colour"] = "red".into();
                v
            },
            "unknown field `colour`",
        ),
        (
            {
                let mut v = base();
                v["password"] = "p".into();
                v
            },
            "username:",
        ),
    ];
    for (json, want) in cases {
        let err = spec(json.clone()).expect_err(&json.to_string());
        assert!(err.contains(want), "{json}: {err}");
    }
}

#[test]
fn access_rules_check_the_blocklist_first() {
    let r = spec(serde_json::json!({
        "name": "r", "package_type": "generic", "base_url": "http://x",
        "patterns": ["^pub/"], "blocklist": ["secret"]
    }))
    .unwrap();
    assert_eq!(r.rules.check_access("pub/a.txt"), Ok(()));
    assert_eq!(r.rules.check_access("pub/secret.txt"), Err(Denied::Blocklisted("secret".into())));
    assert_eq!(r.rules.check_access("other/a.txt"), Err(Denied::NotAllowed));
}

#[test]
fn overrides_prefer_mutable() {
    let r = spec(serde_json::json!({
        "name": "r", "package_type": "generic", "base_url": "http://x",
        "mutable_patterns": ["latest"], "immutable_patterns": ["\\.tar\\.gz$"]
    }))
    .unwrap();
    assert_eq!(r.rules.override_class("a/latest.tar.gz"), Some(true));
    assert_eq!(r.rules.override_class("a/1.0.tar.gz"), Some(false));
    assert_eq!(r.rules.override_class("a/1.0.zip"), None);
}

#[test]
fn token_realm_hosts_are_host_names_and_hub_implies_its_own() {
    let with = |hosts: serde_json::Value, base: &str| {
        spec(serde_json::json!({"name": "r", "package_type": "docker", "base_url": base, "token_realm_hosts": hosts}))
    };
    let r = with(
        serde_json::json!(["auth.example", "Tokens.Example:8443", "127.0.0.1", "[::1]:5000", "auth.example:443"]),
        "https://reg.example",
    )
    .unwrap();
    assert_eq!(
        r.token_realm_hosts(),
        ["auth.example", "tokens.example:8443", "127.0.0.1", "[::1]:5000", "auth.example:443"]
    );
    let hub = with(serde_json::json!([]), "https://registry-1.docker.io").unwrap();
    assert_eq!(hub.token_realm_hosts(), ["auth.docker.io"]);
    for bad in [
        "",
        "https://auth.example",
        "auth.example/token",
        "user@auth.example",
        "a b",
        "auth.example:x",
        "*.example",
        "a..b",
        "::1",
        "[::1",
        "auth.example:0",
    ] {
        let err = with(serde_json::json!([bad]), "https://reg.example").unwrap_err();
        assert!(err.starts_with("token_realm_hosts[0]:"), "{bad:?}: {err}");
    }
    let json = serde_json::to_value(with(serde_json::json!([]), "https://reg.example").unwrap().spec).unwrap();
    assert!(json.get("token_realm_hosts").is_none(), "empty lists are not shown");
}

const CA: &str = include_str!("../actors/testdata/ca.pem");

#[test]
fn tls_fields_are_checked_and_shown() {
    let with = |extra: serde_json::Value| {
        let mut v = serde_json::json!({"name": "r", "package_type": "generic", "base_url": "https://x"});
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        spec(v)
    };
    let r = with(serde_json::json!({ "tls_ca": CA })).unwrap();
    assert_eq!(r.tls().extra_ca.map(|c| c.len()), Some(1));
    assert!(!r.tls().skip_verify);
    let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
    let junk = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (serde_json::json!({ "tls_ca": "" }), "tls_ca: no PEM certificate found"),
        (serde_json::json!({ "tls_ca": "   " }), "tls_ca: no PEM certificate found"),
        (serde_json::json!({ "tls_ca": "MIIBnDCCAUOgAwIBAgIU" }), "tls_ca: no PEM certificate found"),
        (serde_json::json!({ "tls_ca": key }), "tls_ca: PEM block 1 is a PRIVATE KEY, not a certificate"),
        (serde_json::json!({ "tls_ca": junk }), "tls_ca: certificate 1 is not a usable CA certificate"),
        (serde_json::json!({ "tls_ca": CA.replace("-----END", "-----FIN") }), "tls_ca: malformed PEM"),
        (serde_json::json!({ "tls_ca": CA, "tls_insecure_skip_verify": true }), "tls_ca: has no effect"),
        (serde_json::json!({ "tls_ca": 5 }), "tls_ca: invalid type"),
        (serde_json::json!({ "tls_insecure_skip_verify": "yes" }), "tls_insecure_skip_verify: invalid type"),
        (serde_json::json!({ "allow_private_upstreams": 1 }), "allow_private_upstreams: invalid type"),
    ];
    for (extra, want) in cases {
        let err = with(extra.clone()).expect_err(&extra.to_string());
        assert!(err.starts_with(want), "{extra}: {err}");
    }
    // The flags are always shown, off by default; the CA only when set.
    let plain = serde_json::to_value(with(serde_json::json!({})).unwrap().spec).unwrap();
    assert_eq!(plain["tls_insecure_skip_verify"], false);
    assert_eq!(plain["allow_private_upstreams"], false);
    assert!(plain.get("tls_ca").is_none());
    let loud = with(serde_json::json!({ "tls_insecure_skip_verify": true, "allow_private_upstreams": true }));
    let loud = serde_json::to_value(loud.unwrap().spec).unwrap();
    assert_eq!((&loud["tls_insecure_skip_verify"], &loud["allow_private_upstreams"]), (&true.into(), &true.into()));
}

#[test]
fn reads_never_show_the_password() {
    let r = spec(serde_json::json!({"name": "r", "package_type": "generic", "base_url": "http://x", "username": "u", "password": "p"})).unwrap();
    let json = serde_json::to_value(r.spec.redacted()).unwrap();
    assert_eq!(json["username"], "u");
    assert!(json.get("password").is_none());
}

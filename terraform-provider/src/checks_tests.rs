use super::*;
use crate::values::from_json;

fn obj(json: serde_json::Value) -> Obj {
    match from_json(&json) {
        ValueAny::Map(m) => m,
        _ => panic!("not an object: {json}"),
    }
}

/// Runs `check` on each case; `want` is `None` for a clean configuration, else the field and a
/// part of the message of the first error.
fn run(check: fn(&Obj) -> Vec<FieldError>, cases: Vec<(serde_json::Value, Option<(&str, &str)>)>) {
    for (json, want) in cases {
        let got = check(&obj(json.clone()));
        match (got.first(), want) {
            (None, None) => {}
            (Some(e), Some((field, part))) => {
                assert_eq!(e.field, field, "{json}: {got:?}");
                assert!(e.message.contains(part), "{json}: {:?} lacks {part:?}", e.message);
            }
            (got, want) => panic!("{json}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn remotes_are_checked_like_the_server_does() {
    let base = |extra: serde_json::Value| {
        let mut o = serde_json::json!({"name": "github", "base_url": "https://github.com", "mutable_ttl": 7200});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            o[k] = v;
        }
        o
    };
    let unknown_ok = {
        let mut o = obj(base(serde_json::json!({})));
        o.insert("patterns".into(), ValueAny::List(vec![ValueAny::Unknown, ValueAny::String("(".into())]));
        o
    };
    assert_eq!(remote(&unknown_ok).first().map(|e| e.field.as_str()), Some("patterns[1]"));
    run(
        remote,
        vec![
            (base(serde_json::json!({})), None),
            (base(serde_json::json!({"patterns": ["ducaale/xh/.*/xh-.*-x86_64-unknown-linux-musl.tar.gz$"]})), None),
            (base(serde_json::json!({"mutable_patterns": [".*/archive/refs/heads/.*\\.tar\\.gz$"]})), None),
            (base(serde_json::json!({"patterns": ["ok", "(unclosed"]})), Some(("patterns[1]", "invalid regex"))),
            (base(serde_json::json!({"blocklist": ["[z-a]"]})), Some(("blocklist[0]", "invalid regex"))),
            (base(serde_json::json!({"mutable_patterns": ["*"]})), Some(("mutable_patterns[0]", "invalid regex"))),
            (base(serde_json::json!({"immutable_patterns": ["a{99999999}"]})), Some(("immutable_patterns[0]", ""))),
            (base(serde_json::json!({"name": "GitHub"})), Some(("name", "1-64 characters"))),
            (base(serde_json::json!({"name": "../x"})), Some(("name", "1-64 characters"))),
            (base(serde_json::json!({"name": "a".repeat(65)})), Some(("name", "1-64 characters"))),
            (base(serde_json::json!({"name": "a\u{0}b"})), Some(("name", "1-64 characters"))),
            (base(serde_json::json!({"base_url": "github.com"})), Some(("base_url", "relative URL"))),
            (base(serde_json::json!({"base_url": "ftp://github.com"})), Some(("base_url", "absolute http(s)"))),
            (base(serde_json::json!({"base_url": "https://x/?a=1"})), Some(("base_url", "query or fragment"))),
            (base(serde_json::json!({"base_url": "https://u:p@x/"})), Some(("base_url", "credentials"))),
            (base(serde_json::json!({"mutable_ttl": -1})), Some(("mutable_ttl", "0 to"))),
            (base(serde_json::json!({"immutable_ttl": MAX_TTL + 1})), Some(("immutable_ttl", "0 to"))),
            (base(serde_json::json!({"immutable_ttl": MAX_TTL})), None),
            (base(serde_json::json!({"password": "s"})), Some(("username", "required when password"))),
            (base(serde_json::json!({"username": "u", "password": "s"})), None),
            (base(serde_json::json!({"ban_tags": ["latest", ""]})), Some(("ban_tags[1]", "1-128"))),
            (base(serde_json::json!({"ban_tags": ["x".repeat(129)]})), Some(("ban_tags[0]", "1-128"))),
            (base(serde_json::json!({"token_realm_hosts": ["auth.example.com:443", "[::1]:8443"]})), None),
            (base(serde_json::json!({"token_realm_hosts": ["a/b"]})), Some(("token_realm_hosts[0]", "not a host"))),
            (base(serde_json::json!({"token_realm_hosts": ["h:0"]})), Some(("token_realm_hosts[0]", "not a host"))),
            (
                base(serde_json::json!({"tls_ca": "PEM", "tls_insecure_skip_verify": true})),
                Some(("tls_ca", "no effect")),
            ),
        ],
    );
}

#[test]
fn virtuals_are_checked_like_the_server_does() {
    let many: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("m{i}")).collect();
    let v = |members: serde_json::Value| serde_json::json!({"name": "v", "package_type": "helm", "members": members});
    run(
        virtual_repo,
        vec![
            (v(serde_json::json!(["jetstack", "bitnami"])), None),
            (v(serde_json::json!(many[..MAX_MEMBERS])), None),
            (v(serde_json::json!([])), Some(("members", "1 to 32"))),
            (v(serde_json::json!(many)), Some(("members", "1 to 32"))),
            (v(serde_json::json!(["a", "a"])), Some(("members[1]", "listed twice"))),
            (v(serde_json::json!(["v"])), Some(("members[0]", "the virtual itself"))),
            (v(serde_json::json!(["a", "../x"])), Some(("members[1]", "1-64 characters"))),
            (v(serde_json::json!(["a", "%2e%2e"])), Some(("members[1]", "1-64 characters"))),
            (
                serde_json::json!({"name": "v", "package_type": "maven", "members": ["a"]}),
                Some(("package_type", "maven")),
            ),
        ],
    );
}

#[test]
fn locals_and_tokens_are_checked() {
    run(
        local,
        vec![
            (serde_json::json!({"name": "internal", "package_type": "generic"}), None),
            (serde_json::json!({"name": "in/ternal", "package_type": "generic"}), Some(("name", "1-64"))),
            (serde_json::json!({"name": "l", "package_type": "maven"}), Some(("package_type", "unknown package type"))),
        ],
    );
    let t = |scopes: serde_json::Value, expires: serde_json::Value| serde_json::json!({"name": "ci", "scopes": scopes, "expires_at": expires});
    let grant = |r: &str, a: &str| serde_json::json!([{"repository": r, "access": a}]);
    run(
        token,
        vec![
            (t(grant("*", "admin"), serde_json::Value::Null), None),
            (t(grant("providers", "write"), serde_json::json!("2030-01-31T00:00:00Z")), None),
            (t(grant("providers", "write"), serde_json::json!("2030-01-31T00:00:00.5+02:00")), None),
            (t(grant("providers", "write"), serde_json::json!("2030-01-31")), Some(("expires_at", "RFC 3339"))),
            (
                t(grant("providers", "write"), serde_json::json!("2030-01-31T00:00:00")),
                Some(("expires_at", "RFC 3339")),
            ),
            (t(grant("../x", "read"), serde_json::Value::Null), Some(("scopes[0].repository", "repository name"))),
            (t(grant("x", "owner"), serde_json::Value::Null), Some(("scopes[0].access", "read, write, admin"))),
            (t(serde_json::json!([]), serde_json::Value::Null), Some(("scopes", "1 to 64"))),
            (serde_json::json!({"name": " ", "scopes": grant("*", "read")}), Some(("name", "printable"))),
            (serde_json::json!({"name": "a\u{7}", "scopes": grant("*", "read")}), Some(("name", "printable"))),
        ],
    );
}

#[test]
fn rfc3339_spellings_of_one_instant_are_equal() {
    let cases: &[(&str, &str, bool)] = &[
        ("2099-01-31T00:00:00Z", "2099-01-31T00:00:00+00:00", true),
        ("2099-01-31T01:00:00+01:00", "2099-01-31T00:00:00Z", true),
        ("2099-01-30T19:30:00-04:30", "2099-01-31T00:00:00z", true),
        ("2030-03-01T00:00:00.500Z", "2030-03-01T00:00:00.5Z", true),
        ("2030-03-01T00:00:00Z", "2030-02-28T00:00:00Z", false),
        ("2030-03-01T00:00:00.1Z", "2030-03-01T00:00:00Z", false),
    ];
    for (a, b, same) in cases {
        let (x, y) = (rfc3339_instant(a), rfc3339_instant(b));
        assert!(x.is_some() && y.is_some(), "{a} {b}");
        assert_eq!(x == y, *same, "{a} {b}");
    }
    assert_eq!(rfc3339_instant("1970-01-01T00:00:00Z"), Some((0, String::new())));
    assert_eq!(rfc3339_instant("2000-03-01T00:00:00Z").map(|i| i.0), Some(951_868_800));
    for bad in ["2030-13-01T00:00:00Z", "2030-01-01 00:00:00Z", "2030-01-01T00:00:00", "2030-01-01T00:00:00+0100"] {
        assert_eq!(rfc3339_instant(bad), None, "{bad}");
    }
}

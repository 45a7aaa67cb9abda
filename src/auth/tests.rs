//! Tables for credentials, grants and the decisions of the [`Authorizer`].

use base64::Engine as _;
use chrono::{Duration, Utc};

use super::tokens::{hash, NewToken, TokenInfo};
use super::*;

fn basic(user_pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
}

#[test]
fn every_client_sends_its_secret_its_own_way() {
    let cases: Vec<(Option<String>, Option<&str>)> = vec![
        (None, None),
        (Some("Bearer aat_1".into()), Some("aat_1")),
        (Some("bearer  aat_1 ".into()), Some("aat_1")),
        (Some(basic("npm:aat_1")), Some("aat_1")),
        (Some(basic("__token__:aat_1")), Some("aat_1")),
        (Some(basic(":aat_1")), Some("aat_1")),
        (Some(basic("user:pa:ss")), Some("pa:ss")),
        (Some(basic("user:")), None),
        (Some(basic("aat_1")), None),
        (Some("Basic !!!".into()), None),
        (Some("Bearer ".into()), None),
        (Some("Token aat_1".into()), None),
        (Some("aat_1".into()), None),
    ];
    for (header, want) in cases {
        assert_eq!(credential(header.as_deref()).as_deref(), want, "{header:?}");
    }
}

fn token(name: &str, grants: &[(&str, Scope)], expires_in: Option<Duration>) -> TokenInfo {
    TokenInfo {
        id: uuid::Uuid::new_v4(),
        name: name.into(),
        scopes: grants.iter().map(|(r, s)| Grant { repository: r.to_string(), access: *s }).collect(),
        expires_at: expires_in.map(|d| Utc::now() + d),
        created_at: Utc::now(),
    }
}

#[test]
fn decisions_follow_the_grants() {
    let auth = Authorizer::new(Some("root-secret".into()), true);
    let tokens = vec![
        token("ci", &[("npm-local", Scope::Write), ("pypi-local", Scope::Read)], None),
        token("ops", &[("*", Scope::Admin)], None),
        token("old", &[("*", Scope::Admin)], Some(Duration::seconds(-1))),
    ];
    auth.load(tokens, vec![hash("ci-secret"), hash("ops-secret"), hash("old-secret")]);
    let bearer = |s: &str| Some(format!("Bearer {s}"));
    type Case = (Option<String>, &'static str, Scope, Result<&'static str, u16>);
    let cases: Vec<Case> = vec![
        (bearer("ci-secret"), "npm-local", Scope::Write, Ok("ci")),
        (bearer("ci-secret"), "npm-local", Scope::Read, Ok("ci")),
        (bearer("ci-secret"), "npm-local", Scope::Admin, Err(403)),
        (bearer("ci-secret"), "pypi-local", Scope::Write, Err(403)),
        (bearer("ci-secret"), "other", Scope::Write, Err(403)),
        (bearer("ci-secret"), "*", Scope::Admin, Err(403)),
        (bearer("ops-secret"), "anything", Scope::Write, Ok("ops")),
        (bearer("ops-secret"), "*", Scope::Admin, Ok("ops")),
        (bearer("old-secret"), "anything", Scope::Read, Err(401)),
        (bearer("unknown"), "npm-local", Scope::Read, Err(401)),
        (Some(basic("x:root-secret")), "*", Scope::Admin, Ok("admin")),
        (None, "npm-local", Scope::Write, Err(401)),
        (None, "npm-local", Scope::Read, Ok("anonymous")),
    ];
    for (header, repo, need, want) in cases {
        let got = auth.require(header.as_deref(), repo, need);
        let got = got.as_ref().map(|p| p.name()).map_err(|e| e.status());
        assert_eq!(got, want, "{header:?} {repo} {need:?}");
    }
    let e = auth.require(bearer("ci-secret").as_deref(), "pypi-local", Scope::Write).unwrap_err();
    assert_eq!(e.to_string(), "ci lacks the write scope on \"pypi-local\"");
}

#[test]
fn reads_need_a_grant_only_without_anonymous_reads_and_nothing_without_admin_token() {
    let closed = Authorizer::new(Some("root".into()), false);
    closed.load(vec![token("reader", &[("*", Scope::Read)], None)], vec![hash("r")]);
    assert_eq!(closed.require(None, "npm-local", Scope::Read).unwrap_err().status(), 401);
    assert!(closed.require(Some("Bearer r"), "npm-local", Scope::Read).is_ok());
    assert_eq!(closed.require(Some("Bearer r"), "npm-local", Scope::Write).unwrap_err().status(), 403);
    let open = Authorizer::new(None, true);
    assert!(!open.enforcing());
    assert_eq!(open.require(None, "npm-local", Scope::Write), Ok(Principal::Anonymous));
    assert_eq!(open.require(None, "*", Scope::Admin), Ok(Principal::Anonymous));
    let made_up = Some("Bearer not-needed");
    assert_eq!(open.require(made_up, "npm-local", Scope::Write), Ok(Principal::Anonymous), "npm's stale token");
    assert_eq!(closed.require(made_up, "npm-local", Scope::Read).unwrap_err().status(), 401);
}

#[test]
fn new_tokens_are_checked_naming_the_field() {
    let now = Utc::now();
    let ok = NewToken {
        name: "ci".into(),
        expires_at: Some(now + Duration::days(30)),
        scopes: vec![Grant { repository: "*".into(), access: Scope::Read }],
    };
    assert_eq!(ok.validate(now), Ok(()));
    let cases: Vec<(NewToken, &str)> = vec![
        (NewToken { name: " ".into(), ..ok.clone() }, "name:"),
        (NewToken { name: "a\nb".into(), ..ok.clone() }, "name:"),
        (NewToken { name: "n".repeat(129), ..ok.clone() }, "name:"),
        (NewToken { scopes: vec![], ..ok.clone() }, "scopes:"),
        (
            NewToken { scopes: vec![Grant { repository: "../x".into(), access: Scope::Read }], ..ok.clone() },
            "scopes[0].repository:",
        ),
        (NewToken { expires_at: Some(now - Duration::seconds(1)), ..ok.clone() }, "expires_at:"),
    ];
    for (t, want) in cases {
        let err = t.validate(now).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err} should start with {want}");
    }
    assert!(tokens::secret().starts_with("aat_") && tokens::secret().len() == 68);
    assert_ne!(tokens::secret(), tokens::secret());
}

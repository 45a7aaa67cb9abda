//! The npm endpoints about the caller rather than a package, answered before any scope is
//! checked: `npm whoami`, `npm ping` and `npm login`.
//!
//! artifactapi has tokens, not accounts. `npm whoami` (`GET -/whoami`) answers the name of the
//! token npm sends as `_authToken`. `npm login` (`PUT -/user/org.couchdb.user:NAME`, after the
//! web login's `POST -/v1/login` is answered 404 so npm falls back to it) works the way
//! Artifactory users know from its identity tokens: the password is an existing token's secret,
//! and the answer hands that same secret back as the token npm stores. Any other password is a
//! 401 saying so; no account is ever created, and a token is never made here (an admin makes
//! one with `POST /api/v2/tokens`).

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Authorizer, Principal};
use crate::formats::Method;
use crate::locals::{LocalError, UploadBody, WriteReply};
use crate::paths::RepoPath;

/// Most bytes of a login body.
const MAX_LOGIN: usize = 64 * 1024;

/// An account endpoint of an npm local.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// `GET -/whoami`.
    Whoami,
    /// `GET -/ping`.
    Ping,
    /// `PUT -/user/org.couchdb.user:{name}` (and its `/-rev/{rev}` form).
    Login(String),
    /// `POST -/v1/login`: npm's web login, not offered.
    WebLogin,
}

impl Account {
    /// The account endpoint `raw` (below the local, percent-encoded) is, if it is one.
    pub fn parse(method: Method, raw: &str) -> Option<Account> {
        let path = RepoPath::parse(raw).ok()?;
        let path = path.as_str();
        match (method, path) {
            (Method::Get | Method::Head, "-/whoami") => Some(Account::Whoami),
            (Method::Get | Method::Head, "-/ping") => Some(Account::Ping),
            (Method::Post, "-/v1/login") => Some(Account::WebLogin),
            (Method::Put, _) => {
                let user = path.strip_prefix("-/user/org.couchdb.user:")?;
                let user = user.split_once("/-rev/").map_or(user, |(u, _)| u);
                Some(Account::Login(user.to_string()))
            }
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    password: String,
}

/// How to log in, as npm shows it.
const HOW: &str = "log in with an artifactapi token as the password (an admin creates one with POST /api/v2/tokens), \
                   or set it in .npmrc as //HOST/api/v1/local/NAME/:_authToken=TOKEN";

/// Answers account endpoint `a` of local `repo` for the request with `authorization`.
pub async fn answer(
    auth: &Authorizer,
    repo: &str,
    a: Account,
    authorization: Option<&str>,
    mut body: UploadBody,
) -> Result<WriteReply, LocalError> {
    match a {
        Account::Ping => Ok(WriteReply::json(200, &json!({}))),
        Account::Whoami => match auth.principal(authorization) {
            Ok(Principal::Anonymous) => {
                Err(LocalError::Unauthorized(format!("npm whoami needs a token on {repo}: {HOW}")))
            }
            Ok(p) => Ok(WriteReply::json(200, &json!({ "username": p.name() }))),
            Err(e) => Err(LocalError::Unauthorized(format!("{e}: {HOW}"))),
        },
        Account::WebLogin => Err(LocalError::NotFound(format!("web login is not offered by {repo}: {HOW}"))),
        Account::Login(user) => {
            let mut text = Vec::new();
            while let Some(chunk) = body.next().await {
                text.extend_from_slice(&chunk.map_err(LocalError::Body)?);
                if text.len() > MAX_LOGIN {
                    return Err(LocalError::TooLarge { limit: MAX_LOGIN as u64 });
                }
            }
            let login: Login = serde_json::from_slice(&text)
                .map_err(|e| LocalError::Invalid(format!("the login body is not valid JSON: {e}")))?;
            let header = format!("Bearer {}", login.password);
            match auth.principal(Some(&header)) {
                Ok(Principal::Anonymous) | Err(_) => Err(LocalError::Unauthorized(format!(
                    "no account {user:?} here: artifactapi has tokens, not accounts; {HOW}"
                ))),
                Ok(p) => Ok(WriteReply::json(
                    201,
                    &json!({ "ok": true, "id": format!("org.couchdb.user:{user}"), "token": login.password,
                             "message": format!("logged in as token {:?}", p.name()) }),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_endpoints_parse() {
        let cases: &[(Method, &str, Option<Account>)] = &[
            (Method::Get, "-/whoami", Some(Account::Whoami)),
            (Method::Head, "-/ping", Some(Account::Ping)),
            (Method::Post, "-/v1/login", Some(Account::WebLogin)),
            (Method::Put, "-/user/org.couchdb.user:bob", Some(Account::Login("bob".into()))),
            (Method::Put, "-/user/org.couchdb.user:bob/-rev/1-x", Some(Account::Login("bob".into()))),
            (Method::Put, "-/user/org.couchdb.user:a%40b.c", Some(Account::Login("a@b.c".into()))),
            (Method::Put, "-/user/..%2f..", None),
            (Method::Put, "x", None),
            (Method::Get, "x", None),
            (Method::Delete, "-/whoami", None),
        ];
        for (method, path, want) in cases {
            assert_eq!(&Account::parse(*method, path), want, "{method} {path}");
        }
    }

    fn empty(text: &str) -> UploadBody {
        Box::pin(futures_util::stream::iter([Ok(bytes::Bytes::from(text.to_string()))]))
    }

    #[actix_rt::test]
    async fn whoami_and_login_answer_for_tokens_only() {
        let auth = Authorizer::new(Some("admin-secret".into()), true);
        let who = answer(&auth, "l", Account::Whoami, Some("Bearer admin-secret"), empty("")).await.unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&who.body).unwrap()["username"], "admin");
        let anon = answer(&auth, "l", Account::Whoami, None, empty("")).await.unwrap_err();
        assert_eq!(anon.status(), 401);
        let bad = answer(&auth, "l", Account::Whoami, Some("Bearer nope"), empty("")).await.unwrap_err();
        assert_eq!(bad.status(), 401);

        let login = |pw: &str| json!({ "name": "bob", "password": pw, "type": "user" }).to_string();
        let ok = answer(&auth, "l", Account::Login("bob".into()), None, empty(&login("admin-secret"))).await.unwrap();
        assert_eq!(ok.status, 201);
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&ok.body).unwrap()["token"], "admin-secret");
        let refused = answer(&auth, "l", Account::Login("bob".into()), None, empty(&login("guess"))).await.unwrap_err();
        assert_eq!(refused.status(), 401);
        assert!(refused.to_string().contains("POST /api/v2/tokens"), "{refused}");
        let broken = answer(&auth, "l", Account::Login("bob".into()), None, empty("{")).await.unwrap_err();
        assert_eq!(broken.status(), 400);
    }
}

//! `artifactapi_token`: a scoped token (`/api/v2/tokens`), and its data source.
//!
//! The API creates and revokes tokens but never changes one, so every attribute replaces it.
//! The secret is answered once, on creation: it is kept in the state (sensitive) for outputs
//! and other providers' configuration, and is null for an imported token. Reads list the tokens
//! and look the id up: a revoked token reads as null and is planned again.

use async_trait::async_trait;
use reqwest::Method;
use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType, Block, Description, Schema};
use tf_provider::value::{Value, ValueAny, ValueEmpty};
use tf_provider::{AttributePath, DataSource, Diagnostics, Resource};

use crate::provider::Shared;
use crate::repo::{api, report, State};
use crate::values::{from_json, known_str, to_json, Obj};

const ATTRIBUTES: [&str; 6] = ["id", "name", "scopes", "expires_at", "token", "created_at"];
/// What the configuration sets; a change to any of them replaces the token.
const CONFIGURED: [&str; 3] = ["name", "scopes", "expires_at"];
/// What the server sets.
const COMPUTED: [&str; 3] = ["id", "token", "created_at"];

fn schema(data: bool) -> Schema {
    let grant = AttributeType::Object(
        [("repository".to_string(), AttributeType::String), ("access".to_string(), AttributeType::String)].into(),
    );
    let attr = |ty: AttributeType, constraint: AttributeConstraint, sensitive: bool, doc: &str| Attribute {
        attr_type: ty,
        description: Description::plain(doc),
        constraint,
        sensitive,
        deprecated: false,
    };
    use AttributeConstraint::{Computed, OptionalComputed, Required};
    let given = |c: AttributeConstraint| if data { Computed } else { c };
    let mut attributes: std::collections::HashMap<String, Attribute> = [
        ("id", attr(AttributeType::String, Computed, false, "The token's id.")),
        ("name", attr(AttributeType::String, Required, false, "A label: who or what uses it.")),
        (
            "scopes",
            attr(
                AttributeType::List(Box::new(grant)),
                given(Required),
                false,
                "Grants: access (read, write, admin) on a repository or \"*\".",
            ),
        ),
        (
            "expires_at",
            attr(AttributeType::String, given(OptionalComputed), false, "When it stops working (RFC 3339)."),
        ),
        ("created_at", attr(AttributeType::String, Computed, false, "When it was created.")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if !data {
        attributes.insert(
            "token".into(),
            attr(AttributeType::String, Computed, true, "The secret, answered once on creation (null when imported)."),
        );
    }
    let description = Description::plain("A scoped token of artifactapi.");
    Schema { version: 1, block: Block { attributes, description, ..Block::default() } }
}

/// The state of a listed token; `keep` gives what the list does not say (the secret, and the
/// expiry as the configuration wrote it).
fn from_listed(listed: &serde_json::Value, keep: Option<&Obj>) -> Obj {
    let mut state = Obj::new();
    for key in ["id", "name", "scopes", "expires_at", "created_at"] {
        state.insert(key.into(), listed.get(key).map(from_json).unwrap_or(ValueAny::Null));
    }
    let kept = |k: &str| keep.and_then(|o| o.get(k)).cloned();
    state.insert("token".into(), kept("token").unwrap_or(ValueAny::Null));
    if let Some(e) = kept("expires_at").filter(|e| !matches!(e, ValueAny::Null)) {
        if !matches!(state.get("expires_at"), Some(ValueAny::Null) | None) {
            state.insert("expires_at".into(), e);
        }
    }
    state
}

/// Every token, as listed.
async fn list(shared: &Shared, diags: &mut Diagnostics) -> Option<Vec<serde_json::Value>> {
    let api = api(shared, diags)?;
    match api.get("tokens").await {
        Ok(Some(serde_json::Value::Array(all))) => Some(all),
        Ok(_) => {
            diags.root_error_short("GET /api/v2/tokens did not answer a list");
            None
        }
        Err(e) => {
            report(diags, "cannot list tokens", &e, &[]);
            None
        }
    }
}

/// The token whose id, or else whose name, is `key` (a name must be unique).
fn find<'a>(all: &'a [serde_json::Value], key: &str) -> Result<Option<&'a serde_json::Value>, String> {
    if let Some(t) = all.iter().find(|t| t["id"] == key) {
        return Ok(Some(t));
    }
    let named: Vec<&serde_json::Value> = all.iter().filter(|t| t["name"] == key).collect();
    match named.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(format!("{} tokens are named {key:?}: give the id", named.len())),
    }
}

/// The `artifactapi_token` resource.
pub struct TokenResource {
    pub api: Shared,
}

fn check(diags: &mut Diagnostics, config: &Obj) {
    for e in crate::checks::token(config) {
        let path = crate::values::field_path(&e.field, &ATTRIBUTES).unwrap_or_default();
        diags.error(format!("invalid {}", e.field), e.message, path);
    }
}

#[async_trait]
impl Resource for TokenResource {
    type State<'a> = State;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema(false))
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: State) -> Option<()> {
        if let Value::Value(c) = &config {
            check(diags, c);
        }
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: State,
        p: ValueEmpty,
        _m: ValueEmpty,
    ) -> Option<(State, ValueEmpty)> {
        let Value::Value(prior) = state else { return Some((Value::Null, p)) };
        let id = known_str(&prior, "id").unwrap_or_default().to_string();
        let all = list(&self.api, diags).await?;
        let state = match all.iter().find(|t| t["id"] == id.as_str()) {
            Some(t) => Value::Value(from_listed(t, Some(&prior))),
            None => Value::Null,
        };
        Some((state, p))
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        _p: State,
        config: State,
        _m: ValueEmpty,
    ) -> Option<(State, ValueEmpty)> {
        let Value::Value(mut planned) = config else { return Some((Value::Null, ValueEmpty::Null)) };
        check(diags, &planned);
        for key in COMPUTED {
            planned.insert(key.into(), ValueAny::Unknown);
        }
        Some((Value::Value(planned), ValueEmpty::Null))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: State,
        _proposed: State,
        config: State,
        p: ValueEmpty,
        _m: ValueEmpty,
    ) -> Option<(State, ValueEmpty, Vec<AttributePath>)> {
        let (Value::Value(prior), Value::Value(mut planned)) = (prior, config) else {
            return Some((Value::Null, p, Vec::new()));
        };
        check(diags, &planned);
        // The server answers the expiry in its own spelling (`...Z`): the same instant written
        // otherwise in the configuration is no change.
        if let (Some(was), Some(now)) = (known_str(&prior, "expires_at"), known_str(&planned, "expires_at")) {
            let instant = crate::checks::rfc3339_instant;
            if was != now && instant(was).is_some() && instant(was) == instant(now) {
                planned.insert("expires_at".into(), ValueAny::String(was.to_string()));
            }
        }
        let replace: Vec<AttributePath> =
            CONFIGURED.iter().filter(|k| prior.get(**k) != planned.get(**k)).map(|k| AttributePath::new(*k)).collect();
        for key in COMPUTED {
            let v =
                if replace.is_empty() { prior.get(key).cloned().unwrap_or(ValueAny::Null) } else { ValueAny::Unknown };
            planned.insert(key.into(), v);
        }
        Some((Value::Value(planned), p, replace))
    }

    async fn plan_destroy<'a>(
        &self,
        _d: &mut Diagnostics,
        _prior: State,
        p: ValueEmpty,
        _m: ValueEmpty,
    ) -> Option<ValueEmpty> {
        Some(p)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: State,
        _config: State,
        p: ValueEmpty,
        _m: ValueEmpty,
    ) -> Option<(State, ValueEmpty)> {
        let Value::Value(planned) = planned else { return None };
        let mut body = serde_json::Map::new();
        for key in CONFIGURED {
            match planned.get(key).map(to_json) {
                Some(Some(serde_json::Value::Null)) | None => {}
                Some(Some(v)) => {
                    body.insert(key.into(), v);
                }
                Some(None) => {
                    diags.error_short("still unknown at apply", AttributePath::new(key));
                    return None;
                }
            }
        }
        let api = api(&self.api, diags)?;
        let created = match api.send(Method::POST, "tokens", &serde_json::Value::Object(body)).await {
            Ok(c) => c,
            Err(e) => {
                report(diags, "artifactapi refused the token", &e, &ATTRIBUTES);
                return None;
            }
        };
        let mut state = from_listed(&created, Some(&planned));
        state.insert("token".into(), created.get("token").map(from_json).unwrap_or(ValueAny::Null));
        Some((Value::Value(state), p))
    }

    async fn update<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: State,
        planned: State,
        _config: State,
        p: ValueEmpty,
        _m: ValueEmpty,
    ) -> Option<(State, ValueEmpty)> {
        Some((planned, p))
    }

    async fn destroy<'a>(&self, diags: &mut Diagnostics, prior: State, _p: ValueEmpty, _m: ValueEmpty) -> Option<()> {
        let Value::Value(prior) = prior else { return Some(()) };
        let id = known_str(&prior, "id").unwrap_or_default().to_string();
        let api = api(&self.api, diags)?;
        match api.delete(&format!("tokens/{id}")).await {
            Ok(_) => Some(()),
            Err(e) => {
                report(diags, &format!("cannot revoke token {id}"), &e, &[]);
                None
            }
        }
    }

    async fn import<'a>(&self, diags: &mut Diagnostics, id: String) -> Option<(State, ValueEmpty)> {
        let all = list(&self.api, diags).await?;
        match find(&all, &id) {
            Ok(Some(t)) => Some((Value::Value(from_listed(t, None)), ValueEmpty::Null)),
            Ok(None) => {
                diags.root_error_short(format!("import: no token with id or name {id:?}"));
                None
            }
            Err(m) => {
                diags.root_error_short(format!("import: {m}"));
                None
            }
        }
    }
}

/// The `artifactapi_token` data source: the token named `name` (without its secret).
pub struct TokenData {
    pub api: Shared,
}

#[async_trait]
impl DataSource for TokenData {
    type State<'a> = State;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema(true))
    }

    async fn read<'a>(&self, diags: &mut Diagnostics, config: State, _m: ValueEmpty) -> Option<State> {
        let name = match &config {
            Value::Value(c) => known_str(c, "name").unwrap_or_default().to_string(),
            _ => String::new(),
        };
        let all = list(&self.api, diags).await?;
        match find(&all, &name) {
            Ok(Some(t)) => {
                let mut state = from_listed(t, None);
                state.remove("token");
                Some(Value::Value(state))
            }
            Ok(None) => {
                diags.error_short(format!("no token named {name:?}"), AttributePath::new("name"));
                None
            }
            Err(m) => {
                diags.error_short(m, AttributePath::new("name"));
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;

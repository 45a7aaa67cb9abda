//! One resource and one data source implementation for every repository kind (remotes of each
//! package type, virtuals, locals), driven by the kind's attribute table ([`crate::kinds`]).
//!
//! Reads go to the API every time: a change made through the API shows in the next plan, and a
//! repository deleted outside Terraform reads as null, which Terraform plans to create again.
//! A refused write (`400 {"error": "members[1]: ..."}`) becomes a diagnostic on that attribute.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;
use tf_provider::schema::Schema;
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, DataSource, Diagnostics, Resource};

use crate::api::{Api, ApiError};
use crate::kinds::Kind;
use crate::plan::{body, from_api, plan};
use crate::provider::Shared;
use crate::values::{known_str, split_field_message, Obj};

/// The state of a resource: an object, or null when it is gone.
pub type State = Value<Obj>;

/// A repository resource of one kind.
pub struct RepoResource {
    pub kind: Arc<Kind>,
    pub api: Shared,
}

/// Adds a diagnostic for a failed call: on the attribute the server's message names, when it
/// names one of `attributes`.
pub fn report(diags: &mut Diagnostics, what: &str, e: &ApiError, attributes: &[&str]) {
    match e.server_message().map(|m| split_field_message(m, attributes)) {
        Some((Some(path), message)) => diags.error(format!("{what}: {message}"), e.to_string(), path),
        _ => diags.root_error(what.to_string(), e.to_string()),
    }
}

/// The configured client, or an error diagnostic.
pub fn api(shared: &Shared, diags: &mut Diagnostics) -> Option<Api> {
    let api = shared.read().ok().and_then(|g| g.clone());
    if api.is_none() {
        diags.root_error_short("the artifactapi provider is not configured");
    }
    api
}

impl RepoResource {
    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.kind.collection)
    }

    /// Adds the plan-time checks' errors of `config`.
    fn check(&self, diags: &mut Diagnostics, config: &Obj) {
        for e in (self.kind.check)(config) {
            let path = crate::values::field_path(&e.field, &self.kind.names()).unwrap_or_default();
            diags.error(format!("invalid {}", e.field), e.message, path);
        }
    }

    /// The state of repository `name` from the API (`Null` when it does not exist).
    async fn fetch(&self, diags: &mut Diagnostics, name: &str, secrets: Option<&Obj>) -> Option<State> {
        let api = api(&self.api, diags)?;
        match api.get(&self.path(name)).await {
            Ok(None) => Some(Value::Null),
            Ok(Some(answer)) => Some(Value::Value(from_api(&self.kind, &answer, secrets))),
            Err(e) => {
                report(diags, &format!("cannot read {} {name:?}", self.kind.noun), &e, &[]);
                None
            }
        }
    }

    /// POST (create) or PUT (update) the planned state; the state the server answers.
    async fn write(&self, diags: &mut Diagnostics, method: Method, planned: State) -> Option<(State, ValueEmpty)> {
        let Value::Value(planned) = planned else {
            diags.root_error_short("nothing planned");
            return None;
        };
        let name = known_str(&planned, "name").unwrap_or_default().to_string();
        let Some(body) = body(&self.kind, &planned) else {
            diags.root_error_short(format!("{} {name:?}: a value is still unknown at apply", self.kind.noun));
            return None;
        };
        let api = api(&self.api, diags)?;
        let path = if method == Method::POST { self.kind.collection.to_string() } else { self.path(&name) };
        match api.send(method, &path, &body).await {
            Ok(answer) => Some((Value::Value(from_api(&self.kind, &answer, Some(&planned))), ValueEmpty::Null)),
            Err(e) => {
                report(diags, &format!("artifactapi refused {} {name:?}", self.kind.noun), &e, &self.kind.names());
                None
            }
        }
    }
}

#[async_trait]
impl Resource for RepoResource {
    type State<'a> = State;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(self.kind.resource_schema())
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: State) -> Option<()> {
        if let Value::Value(config) = &config {
            self.check(diags, config);
        }
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: State,
        private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<(State, ValueEmpty)> {
        let Value::Value(prior) = state else { return Some((Value::Null, private)) };
        let name = known_str(&prior, "name").unwrap_or_default().to_string();
        let state = self.fetch(diags, &name, Some(&prior)).await?;
        Some((state, private))
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        _proposed: State,
        config: State,
        _meta: ValueEmpty,
    ) -> Option<(State, ValueEmpty)> {
        let Value::Value(config) = config else { return Some((Value::Null, ValueEmpty::Null)) };
        self.check(diags, &config);
        Some((Value::Value(plan(&self.kind, &config, None).0), ValueEmpty::Null))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: State,
        _proposed: State,
        config: State,
        private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<(State, ValueEmpty, Vec<AttributePath>)> {
        let Value::Value(config) = config else { return Some((Value::Null, private, Vec::new())) };
        self.check(diags, &config);
        let prior = match prior {
            Value::Value(p) => Some(p),
            _ => None,
        };
        let (planned, replace) = plan(&self.kind, &config, prior.as_ref());
        let replace = replace.into_iter().map(AttributePath::new).collect();
        Some((Value::Value(planned), private, replace))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: State,
        private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<ValueEmpty> {
        Some(private)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: State,
        _config: State,
        _private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<(State, ValueEmpty)> {
        self.write(diags, Method::POST, planned).await
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        _prior: State,
        planned: State,
        _config: State,
        _private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<(State, ValueEmpty)> {
        self.write(diags, Method::PUT, planned).await
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: State,
        _private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<()> {
        let Value::Value(prior) = prior else { return Some(()) };
        let name = known_str(&prior, "name").unwrap_or_default().to_string();
        let api = api(&self.api, diags)?;
        match api.delete(&self.path(&name)).await {
            Ok(_) => Some(()),
            Err(e) => {
                report(diags, &format!("cannot delete {} {name:?}", self.kind.noun), &e, &[]);
                None
            }
        }
    }

    async fn import<'a>(&self, diags: &mut Diagnostics, id: String) -> Option<(State, ValueEmpty)> {
        if !crate::checks::is_repo_name(&id) {
            diags.root_error_short(format!("import {}: {id:?} is not a repository name", self.kind.noun));
            return None;
        }
        let state = match self.fetch(diags, &id, None).await? {
            Value::Value(s) => s,
            _ => {
                diags.root_error_short(format!("import: no {} named {id:?}", self.kind.noun));
                return None;
            }
        };
        if let (Some(want), Some(got)) = (self.kind.fixed_type, known_str(&state, "package_type")) {
            if want != got {
                diags.root_error_short(format!(
                    "import: {id:?} is a {got} remote; import it as artifactapi_remote_{got}, not as a {want} remote"
                ));
                return None;
            }
        }
        Some((Value::Value(state), ValueEmpty::Null))
    }
}

/// A repository data source of one kind: the repository named `name`, read from the API.
pub struct RepoData {
    pub kind: Arc<Kind>,
    pub api: Shared,
}

#[async_trait]
impl DataSource for RepoData {
    type State<'a> = State;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(self.kind.data_schema())
    }

    async fn read<'a>(&self, diags: &mut Diagnostics, config: State, _meta: ValueEmpty) -> Option<State> {
        let name = match &config {
            Value::Value(c) => known_str(c, "name").unwrap_or_default().to_string(),
            _ => String::new(),
        };
        let api = api(&self.api, diags)?;
        let answer = match api.get(&format!("{}/{name}", self.kind.collection)).await {
            Ok(Some(a)) => a,
            Ok(None) => {
                diags.error_short(format!("no {} named {name:?}", self.kind.noun), AttributePath::new("name"));
                return None;
            }
            Err(e) => {
                report(diags, &format!("cannot read {} {name:?}", self.kind.noun), &e, &[]);
                return None;
            }
        };
        let mut state = from_api(&self.kind, &answer, None);
        if let (Some(want), Some(got)) = (self.kind.fixed_type, known_str(&state, "package_type")) {
            if want != got {
                diags.error_short(format!("{name:?} is a {got} remote, not {want}"), AttributePath::new("name"));
                return None;
            }
        }
        state.retain(|k, _| self.kind.fields.iter().any(|f| f.name == k && !f.secret));
        Some(Value::Value(state))
    }
}

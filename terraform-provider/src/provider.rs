//! The provider: its configuration (`endpoint`, `token`, `ca_cert`, with `ARTIFACTAPI_ENDPOINT`
//! and `ARTIFACTAPI_TOKEN` as fallbacks) and the resources and data sources it serves.
//!
//! Terraform asks for the schemas before it configures the provider, so the resources are made
//! first and share one slot ([`Shared`]) that `configure` fills with the API client.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType, Block, Description, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, DynamicDataSource, DynamicResource, Provider};

use crate::api::Api;
use crate::kinds::{Kind, REMOTE_TYPES};
use crate::repo::{RepoData, RepoResource};
use crate::token::{TokenData, TokenResource};

/// The API client, once the provider is configured.
pub type Shared = Arc<RwLock<Option<Api>>>;

/// The provider's configuration block.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub endpoint: Value<String>,
    #[serde(default)]
    pub token: Value<String>,
    #[serde(default)]
    pub ca_cert: Value<String>,
}

/// The artifactapi provider.
#[derive(Default)]
pub struct ArtifactApi {
    api: Shared,
}

fn attr(doc: &str, sensitive: bool) -> Attribute {
    Attribute {
        attr_type: AttributeType::String,
        description: Description::plain(doc),
        constraint: AttributeConstraint::Optional,
        sensitive,
        deprecated: false,
    }
}

/// A configured value, else the environment variable `env` (empty counts as unset).
fn or_env(v: &Value<String>, env: &str) -> Option<String> {
    match v {
        Value::Value(s) if !s.is_empty() => Some(s.clone()),
        _ => std::env::var(env).ok().filter(|s| !s.is_empty()),
    }
}

#[async_trait]
impl Provider for ArtifactApi {
    type Config<'a> = Config;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let attributes = [
            (
                "endpoint",
                attr("Base URL of artifactapi, e.g. https://artifacts.example.com (env ARTIFACTAPI_ENDPOINT).", false),
            ),
            ("token", attr("ADMIN_TOKEN or a token with admin on \"*\" (env ARTIFACTAPI_TOKEN).", true)),
            ("ca_cert", attr("PEM CA certificates to trust besides the system's, for a private CA.", false)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let description = Description::plain("Manages artifactapi repositories and tokens.");
        Some(Schema { version: 1, block: Block { attributes, description, ..Block::default() } })
    }

    async fn configure<'a>(&self, diags: &mut Diagnostics, _tf_version: String, config: Config) -> Option<()> {
        let Some(endpoint) = or_env(&config.endpoint, "ARTIFACTAPI_ENDPOINT") else {
            diags.error_short(
                "endpoint is required: set it in the provider block or in ARTIFACTAPI_ENDPOINT",
                AttributePath::new("endpoint"),
            );
            return None;
        };
        let token = or_env(&config.token, "ARTIFACTAPI_TOKEN");
        let ca = match &config.ca_cert {
            Value::Value(s) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        };
        match Api::new(&endpoint, token, ca) {
            Ok(api) => {
                if let Ok(mut slot) = self.api.write() {
                    *slot = Some(api);
                }
                Some(())
            }
            Err(e) => {
                let text = e.to_string();
                let attribute = if text.starts_with("ca_cert") { "ca_cert" } else { "endpoint" };
                diags.error_short(text, AttributePath::new(attribute));
                None
            }
        }
    }

    fn get_resources(&self, _diags: &mut Diagnostics) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        let mut all: HashMap<String, Box<dyn DynamicResource>> = HashMap::new();
        for t in REMOTE_TYPES {
            let kind = Arc::new(Kind::remote(t));
            all.insert(format!("remote_{t}"), Box::new(RepoResource { kind, api: self.api.clone() }));
        }
        all.insert(
            "virtual".into(),
            Box::new(RepoResource { kind: Arc::new(Kind::virtual_repo()), api: self.api.clone() }),
        );
        all.insert("local".into(), Box::new(RepoResource { kind: Arc::new(Kind::local()), api: self.api.clone() }));
        all.insert("token".into(), Box::new(TokenResource { api: self.api.clone() }));
        Some(all)
    }

    fn get_data_sources(&self, _diags: &mut Diagnostics) -> Option<HashMap<String, Box<dyn DynamicDataSource>>> {
        let mut all: HashMap<String, Box<dyn DynamicDataSource>> = HashMap::new();
        for t in REMOTE_TYPES {
            let kind = Arc::new(Kind::remote(t));
            all.insert(format!("remote_{t}"), Box::new(RepoData { kind, api: self.api.clone() }));
        }
        all.insert(
            "virtual".into(),
            Box::new(RepoData { kind: Arc::new(Kind::virtual_repo()), api: self.api.clone() }),
        );
        all.insert("local".into(), Box::new(RepoData { kind: Arc::new(Kind::local()), api: self.api.clone() }));
        all.insert("token".into(), Box::new(TokenData { api: self.api.clone() }));
        Some(all)
    }
}

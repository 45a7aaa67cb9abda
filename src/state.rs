//! What every handler can reach: configuration, the catalog, the store, the actors.
//!
//! Built once at start (see [`crate::server`]) and shared by all HTTP workers behind
//! `web::Data`.

use std::sync::Arc;

use actix::Addr;
use artifactapi_actors::coord::Coordinator;
use artifactapi_actors::events::{Event, EventKind, EventSink};
use artifactapi_actors::storage::{BlobStore, StagingArea, StorageActor};

use crate::config::Config;
use crate::db::Db;
use crate::events::EventBus;
use crate::observe::Observer;
use crate::registry::Registry;

/// The coordinator channel on which replicas announce configuration changes (payload: the
/// repository name); every replica then reloads that repository from the catalog.
pub const CONFIG_CHANNEL: &str = "aa:config";

/// The coordinator channel on which replicas announce evictions (payload: JSON with the
/// repository and path prefix); every replica then drops its hot objects under that prefix.
pub const EVICT_CHANNEL: &str = "aa:evict";

pub struct AppState {
    pub config: Arc<Config>,
    pub replica: String,
    pub db: Db,
    pub coord: Arc<dyn Coordinator>,
    pub store: Arc<dyn BlobStore>,
    pub storage: Addr<StorageActor>,
    /// Where request bodies are staged before they are committed (local docker uploads).
    pub staging: StagingArea,
    pub registry: Arc<Registry>,
    pub events: Arc<EventBus>,
    /// Request recording: stats, metrics, access log.
    pub observe: Arc<Observer>,
    /// The one request path of remotes and virtuals.
    pub serve: Arc<crate::serve::Service>,
    /// Credentials: `ADMIN_TOKEN` and the scoped tokens.
    pub auth: Arc<crate::auth::Authorizer>,
    /// The deployment's OpenPGP key ([`crate::signing`]).
    pub signer: crate::signing::Signer,
    /// Fills this replica streams to the other replicas (`/_replica/fills/{id}`).
    pub replicas: Arc<artifactapi_actors::remote::replica::ReplicaFills>,
}

impl AppState {
    /// The files of local repositories.
    pub fn local_files(&self) -> crate::locals::files::LocalFiles {
        crate::locals::files::LocalFiles {
            db: self.db.clone(),
            store: self.store.clone(),
            storage: self.storage.clone(),
            staging: self.staging.clone(),
            max_upload: self.config.local_max_upload,
            signer: self.signer.clone(),
            terraform_protocols: self.config.tf_provider_protocols.0.clone(),
        }
    }

    /// The operations of local docker repositories.
    pub fn docker_local(&self) -> crate::docker_local::upload::DockerLocal {
        crate::docker_local::upload::DockerLocal {
            db: self.db.clone(),
            store: self.store.clone(),
            storage: self.storage.clone(),
            staging: self.staging.clone(),
            max_manifest: self.config.docker_max_manifest,
            max_blob: self.config.local_max_upload,
        }
    }

    /// A repository's configuration changed: tell the other replicas and the event stream.
    pub async fn config_changed(&self, name: &str, kind: EventKind) {
        self.announce_config(name).await;
        self.events.emit(Event::new(kind).repo(name));
    }

    /// Tokens changed: reload them here and tell the other replicas.
    pub async fn tokens_changed(&self) {
        crate::auth::reload(&self.auth, &self.db).await;
        if let Err(e) = self.coord.publish(crate::auth::TOKENS_CHANNEL, "changed").await {
            tracing::warn!(error = %e, "could not announce a token change to other replicas");
        }
    }

    /// Tells the other replicas that a repository's configuration changed.
    pub async fn announce_config(&self, name: &str) {
        if let Err(e) = self.coord.publish(CONFIG_CHANNEL, name).await {
            tracing::warn!(repo = name, error = %e, "could not announce configuration change to other replicas");
        }
    }
}

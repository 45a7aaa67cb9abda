//! Start-up: connect the parts, start the actors once, serve HTTP.
//!
//! Order matters: the catalog is migrated before anything reads it, the storage actor exists
//! before any remote actor (they commit through it), and remotes are loaded from the catalog
//! before the listener opens, so the first request already finds them.

use std::sync::Arc;

use actix::{Actor, Arbiter};
use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::{web, App, HttpServer};
use artifactapi_actors::coord::Coordinator;
use artifactapi_actors::remote::replica::ReplicaFills;
use artifactapi_actors::remote::tls::TrustStore;
use artifactapi_actors::remote::RemoteDeps;
use artifactapi_actors::storage::fs::FsStore;
use artifactapi_actors::storage::s3::{S3Settings, S3Store};
use artifactapi_actors::storage::{BlobStore, MemoryCached, StagingArea, StorageActor};
use futures_util::StreamExt;

use crate::auth::Authorizer;
use crate::config::{Config, StorageBackend};
use crate::db::{Db, DbSettings, PgCatalog};
use crate::events::EventBus;
use crate::observe::Observer;
use crate::registry::{Registry, RemoteDefaults};
use crate::serve::{Renders, Service};
use crate::state::{AppState, CONFIG_CHANNEL};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("database: {0}")]
    Database(String),
    #[error("coordinator (REDIS_URL): {0}")]
    Coordinator(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("metrics: {0}")]
    Metrics(String),
    /// The signing key: the message names the variable when the key was supplied.
    #[error("signing key: {0}")]
    Signing(String),
    #[error("upstream TLS: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
}

async fn open_store(config: &Config) -> Result<Arc<dyn BlobStore>, StartError> {
    let store = open_backend(config).await?;
    if config.memory_cache == 0 {
        return Ok(store);
    }
    Ok(Arc::new(MemoryCached::new(store, config.memory_cache)))
}

async fn open_backend(config: &Config) -> Result<Arc<dyn BlobStore>, StartError> {
    match config.storage_backend {
        StorageBackend::Fs => {
            let store = FsStore::new(&config.data_dir).map_err(|e| StartError::Storage(e.to_string()))?;
            Ok(Arc::new(store))
        }
        StorageBackend::S3 => {
            let store = S3Store::new(S3Settings {
                endpoint: config.minio_endpoint.clone(),
                access_key: config.minio_access_key.clone(),
                secret_key: config.minio_secret_key.clone(),
                bucket: config.minio_bucket.clone(),
                secure: config.minio_secure,
                region: config.minio_region.clone(),
            })
            .map_err(|e| StartError::Storage(e.to_string()))?;
            store.ensure_bucket().await.map_err(|e| StartError::Storage(e.to_string()))?;
            Ok(Arc::new(store))
        }
    }
}

/// The upstream TLS trust: the operating system's store plus `UPSTREAM_CA_FILE`.
fn load_trust(config: &Config) -> Result<TrustStore, StartError> {
    let extra = config.upstream_ca_file.as_ref();
    let (trust, report) =
        TrustStore::load(extra.map(|u| &u.certificates)).map_err(|e| StartError::Tls(e.to_string()))?;
    for e in &report.system_errors {
        tracing::warn!(error = %e, "reading the operating system's CA certificates");
    }
    let file = extra.map(|u| u.path.display().to_string());
    tracing::info!(system = report.system, upstream_ca_file = ?file, extra = report.extra, "upstream TLS trust loaded");
    if trust.root_count() == 0 {
        tracing::warn!(
            "no CA certificates: the operating system's store is empty and UPSTREAM_CA_FILE is not set, so every \
             https upstream will fail (install ca-certificates, or set SSL_CERT_FILE or UPSTREAM_CA_FILE)"
        );
    }
    if extra.is_some() && config.storage_backend == StorageBackend::S3 {
        // rust-s3 builds its HTTP client itself and accepts no extra roots.
        tracing::warn!(
            "UPSTREAM_CA_FILE does not apply to the S3 endpoint: its client trusts the operating system's store \
             (or SSL_CERT_FILE/SSL_CERT_DIR) only"
        );
    }
    Ok(trust)
}

/// Runs the server until it is stopped.
pub async fn run(config: Config) -> Result<(), StartError> {
    let config = Arc::new(config);
    let replica = config.replica();
    if config.admin_token.is_none() {
        tracing::warn!("ADMIN_TOKEN is not set: every write (configuration, uploads, GC) is open to anyone who can reach this server");
    }
    let data_err = |source| StartError::DataDir { path: config.data_dir.display().to_string(), source };
    std::fs::create_dir_all(&config.data_dir).map_err(data_err)?;
    let staging = StagingArea::new(config.data_dir.join("staging")).map_err(data_err)?;

    let db = Db::connect(DbSettings::from(config.as_ref())).await.map_err(|e| StartError::Database(e.to_string()))?;
    db.migrate().await.map_err(|e| StartError::Database(e.to_string()))?;
    let signer = crate::signing::load(&config, &db).await.map_err(|e| StartError::Signing(e.to_string()))?;
    tracing::info!(key_id = signer.key_id(), "signing key loaded");
    let coord = crate::coord::build(config.redis_url.as_deref(), &config.redis_namespace)
        .await
        .map_err(|e| StartError::Coordinator(e.to_string()))?;
    let store = open_store(&config).await?;
    let catalog = Arc::new(PgCatalog::new(db.clone()));
    let events = EventBus::start(coord.clone(), replica.clone());
    let bus = events.clone();
    let (observe, background) = Observer::new(events.clone()).map_err(|e| StartError::Metrics(e.to_string()))?;
    observe.start(background, db.clone(), config.access_log_retention);
    // The actors' events feed the metrics and stats on their way to the bus.
    let sink = observe.sink(events.clone());
    let storage = StorageActor::new(store.clone(), catalog.clone(), sink.clone()).start();
    crate::observe::dependencies::start(db.clone(), store.clone(), coord.clone(), sink.clone());

    let threads = config.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let arbiters = (0..threads).map(|_| Arbiter::new().handle()).collect();
    // Whole-document work (checks before caching, renderings) at most this many at once.
    let documents = Arc::new(tokio::sync::Semaphore::new(config.render_concurrency as usize));
    let trust = Arc::new(load_trust(&config)?);
    let replicas = ReplicaFills::new(config.replica_url.as_ref().map(|u| u.as_str().to_string()));
    let deps = RemoteDeps {
        catalog,
        coord: coord.clone(),
        storage: storage.clone(),
        staging: staging.clone(),
        events: sink,
        documents: documents.clone(),
        trust,
        rate_limits: Default::default(),
        store: store.clone(),
        replicas: replicas.clone(),
    };
    let registry = Arc::new(Registry::new(arbiters, deps, RemoteDefaults::from(config.as_ref())));
    load_remotes(&db, &registry).await.map_err(StartError::Database)?;
    load_virtuals(&db, &registry).await.map_err(StartError::Database)?;
    load_locals(&db, &registry).await.map_err(StartError::Database)?;
    follow_config_changes(coord.clone(), db.clone(), registry.clone());
    crate::objects::evict::follow_evictions(coord.clone(), registry.clone());
    crate::gc_schedule::start(config.gc_interval, config.gc_grace, coord.clone(), storage.clone());
    crate::docker_local::purge::start(config.docker_upload_max_age, coord.clone(), db.clone(), store.clone());

    let renders = Arc::new(Renders::new(staging.clone(), storage.clone(), db.clone(), documents, config.gc_grace));
    let serve = Arc::new(Service::new(registry.clone(), db.clone(), store.clone(), renders, config.public_base()));
    let auth = Authorizer::new(config.admin_token.clone(), config.anonymous_reads);
    crate::auth::reload(&auth, &db).await;
    crate::auth::follow(auth.clone(), db.clone(), coord.clone());
    let state = web::Data::new(AppState {
        config: config.clone(),
        replica,
        db: db.clone(),
        coord,
        store,
        storage,
        staging,
        registry,
        events,
        observe: observe.clone(),
        serve,
        auth,
        signer,
        replicas,
    });
    let addr = config.listen_addr;
    let https = config.https_addr();
    tracing::info!(%addr, https = ?https, public_url = %config.public_base(), storage = ?config.storage_backend, "artifactapi listening");
    let builder = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(tracing_actix_web::TracingLogger::default())
            .configure(crate::ui::configure)
            .configure(crate::http::configure)
    })
    .workers(threads)
    // Slowloris and idle connections: a new connection's request head must arrive within
    // CLIENT_HEADER_TIMEOUT (else 408 and close), an idle keep-alive connection is closed after
    // CLIENT_IDLE_TIMEOUT. Heads over actix-http's fixed limits (128 KiB or 96 header lines)
    // get 431; bodies are limited per route (413) and streamed, never buffered.
    .client_request_timeout(config.client_header_timeout)
    .keep_alive(config.client_idle_timeout)
    // Headers and body go out in separate writes: without TCP_NODELAY every keep-alive request
    // would wait for the client's delayed ACK (about 40 ms).
    .on_connect(|conn, _| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        } else if let Some(tls) = conn.downcast_ref::<TlsStream<actix_web::rt::net::TcpStream>>() {
            let _ = tls.get_ref().0.set_nodelay(true);
        }
    })
    // Signals are handled below: event streams never end by themselves, so they are closed
    // before the graceful stop, which would otherwise wait its whole timeout for them.
    .disable_signals();
    // Plain HTTP on LISTEN_ADDR, or HTTPS there when TLS is on and TLS_LISTEN_ADDR is unset;
    // HTTPS on TLS_LISTEN_ADDR beside plain HTTP when it is set.
    let listen = |addr: std::net::SocketAddr| move |source| StartError::Listen { addr: addr.to_string(), source };
    let builder = match (&config.listen_tls, config.tls_listen_addr) {
        (None, _) => builder.bind(addr).map_err(listen(addr))?,
        (Some(tls), None) => builder.bind_rustls_0_23(addr, (**tls).clone()).map_err(listen(addr))?,
        (Some(tls), Some(https)) => {
            builder.bind(addr).map_err(listen(addr))?.bind_rustls_0_23(https, (**tls).clone()).map_err(listen(https))?
        }
    };
    let server = builder.run();
    let handle = server.handle();
    actix_rt::spawn(async move {
        stop_signal().await;
        tracing::info!("stopping: closing event streams, finishing requests in flight");
        bus.close();
        handle.stop(true).await;
    });
    let served = server.await.map_err(|source| StartError::Listen { addr: addr.to_string(), source });
    // Stopped (SIGTERM, SIGINT): keep the counts and access log rows still in memory.
    observe.flush(&db).await;
    served
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal() {
    let term = async {
        match actix_rt::signal::unix::signal(actix_rt::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = actix_rt::signal::ctrl_c() => {}
    }
}

/// Starts an actor for every remote in the catalog.
async fn load_remotes(db: &Db, registry: &Registry) -> Result<(), String> {
    for spec in db.list_remotes().await.map_err(|e| e.to_string())? {
        let name = spec.name.clone();
        match spec.validate() {
            Ok(remote) => registry.upsert(remote),
            Err(e) => tracing::error!(remote = %name, error = %e, "stored remote is invalid; not started"),
        }
    }
    Ok(())
}

/// Registers every virtual in the catalog.
async fn load_virtuals(db: &Db, registry: &Registry) -> Result<(), String> {
    for spec in db.list_virtuals().await.map_err(|e| e.to_string())? {
        registry.upsert_virtual(spec);
    }
    Ok(())
}

/// Reloads a virtual from the catalog after an announcement naming no remote.
async fn reload_virtual(db: &Db, registry: &Registry, name: &str) {
    match db.get_virtual(name).await {
        Ok(Some(spec)) => registry.upsert_virtual(spec),
        Ok(None) => {
            registry.remove_virtual(name);
        }
        Err(e) => tracing::warn!(virtual_repo = %name, error = %e, "could not reload announced virtual"),
    }
}

/// Registers every local in the catalog.
async fn load_locals(db: &Db, registry: &Registry) -> Result<(), String> {
    for spec in db.list_locals().await.map_err(|e| e.to_string())? {
        registry.upsert_local(spec);
    }
    Ok(())
}

/// Reloads a local from the catalog after an announcement naming no remote.
async fn reload_local(db: &Db, registry: &Registry, name: &str) {
    match db.get_local(name).await {
        Ok(Some(spec)) => registry.upsert_local(spec),
        Ok(None) => {
            registry.remove_local(name);
        }
        Err(e) => tracing::warn!(local_repo = %name, error = %e, "could not reload announced local"),
    }
}

/// Reloads a remote (or virtual or local: names are unique across kinds) from the catalog whenever a replica announces a change to it.
fn follow_config_changes(coord: Arc<dyn Coordinator>, db: Db, registry: Arc<Registry>) {
    actix_rt::spawn(async move {
        loop {
            let mut changes = match coord.subscribe(CONFIG_CHANNEL).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot follow configuration changes; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    continue;
                }
            };
            while let Some(name) = changes.next().await {
                match db.get_remote(&name).await {
                    Ok(Some(spec)) => match spec.validate() {
                        Ok(remote) => registry.upsert(remote),
                        Err(e) => tracing::error!(remote = %name, error = %e, "announced remote is invalid"),
                    },
                    Ok(None) => {
                        registry.remove(&name);
                        reload_virtual(&db, &registry, &name).await;
                        reload_local(&db, &registry, &name).await;
                    }
                    Err(e) => tracing::warn!(remote = %name, error = %e, "could not reload announced remote"),
                }
            }
        }
    });
}

//! The running remotes: one [`RemoteActor`] per configured remote, kept in step with the catalog.
//!
//! Handlers look remotes up here by name (a read lock and a clone of two `Arc`s). Creating,
//! updating or deleting a remote through the management API updates this map at once, and tells
//! the other replicas through the coordinator so they reload that remote from the catalog. Actors
//! are spread over a fixed set of arbiters (threads) so upstream traffic of different remotes
//! does not share one thread. Virtual repositories live here too (only their specs: a virtual
//! has no actor; requests go through its members' actors), and so do locals (their specs).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::{Actor, Addr, ArbiterHandle};
use artifactapi_actors::remote::tls::TrustStore;
use artifactapi_actors::remote::{HotObjects, Reconfigure, RemoteActor, RemoteDeps, RemoteSettings, Shutdown};

use crate::config::Config;
use crate::locals::LocalSpec;
use crate::remotes::Remote;
use crate::virtuals::VirtualSpec;

/// Settings every remote shares, from the environment.
#[derive(Debug, Clone)]
pub struct RemoteDefaults {
    pub negative_ttl: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub breaker_threshold: u32,
    pub breaker_open: Duration,
}

impl From<&Config> for RemoteDefaults {
    fn from(c: &Config) -> Self {
        RemoteDefaults {
            negative_ttl: c.negative_ttl,
            connect_timeout: c.upstream_connect_timeout,
            read_timeout: c.upstream_read_timeout,
            breaker_threshold: c.breaker_threshold,
            breaker_open: c.breaker_open,
        }
    }
}

/// A running remote.
#[derive(Clone)]
pub struct RemoteEntry {
    pub remote: Arc<Remote>,
    pub addr: Addr<RemoteActor>,
    /// Objects handlers may serve without asking the actor.
    pub hot: Arc<HotObjects>,
}

pub struct Registry {
    remotes: RwLock<HashMap<String, RemoteEntry>>,
    virtuals: RwLock<HashMap<String, Arc<VirtualSpec>>>,
    locals: RwLock<HashMap<String, Arc<LocalSpec>>>,
    arbiters: Vec<ArbiterHandle>,
    deps: RemoteDeps,
    defaults: RemoteDefaults,
}

impl Registry {
    pub fn new(arbiters: Vec<ArbiterHandle>, deps: RemoteDeps, defaults: RemoteDefaults) -> Self {
        Registry {
            remotes: RwLock::new(HashMap::new()),
            virtuals: RwLock::new(HashMap::new()),
            locals: RwLock::new(HashMap::new()),
            arbiters,
            deps,
            defaults,
        }
    }

    pub fn get(&self, name: &str) -> Option<RemoteEntry> {
        self.remotes.read().ok()?.get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.remotes.read().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    /// The upstream TLS trust every remote (and every probe) uses.
    /// The quota each remote's upstream last announced (`ratelimit-limit`/`-remaining`).
    pub fn rate_limit(&self, name: &str) -> Option<artifactapi_actors::remote::ratelimit::RateLimit> {
        self.deps.rate_limits.get(name)
    }

    pub fn trust(&self) -> &Arc<TrustStore> {
        &self.deps.trust
    }

    /// The remotes that do not verify their upstream's TLS certificate, sorted by name.
    pub fn insecure_remotes(&self) -> Vec<Arc<Remote>> {
        let mut found: Vec<Arc<Remote>> = match self.remotes.read() {
            Ok(map) => {
                map.values().filter(|e| e.remote.spec.tls_insecure_skip_verify).map(|e| e.remote.clone()).collect()
            }
            Err(_) => Vec::new(),
        };
        found.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        found
    }

    fn settings(&self, remote: &Remote) -> RemoteSettings {
        let spec = &remote.spec;
        RemoteSettings {
            name: spec.name.clone(),
            base_url: remote.base_url.clone(),
            credentials: spec.username.clone().map(|u| (u, spec.password.clone().unwrap_or_default())),
            token_realm_hosts: remote.token_realm_hosts(),
            allow_private_upstreams: spec.allow_private_upstreams,
            tls: remote.tls(),
            immutable_ttl: Duration::from_secs(spec.immutable_ttl),
            mutable_ttl: Duration::from_secs(spec.mutable_ttl),
            negative_ttl: self.defaults.negative_ttl,
            connect_timeout: self.defaults.connect_timeout,
            read_timeout: self.defaults.read_timeout,
            breaker_threshold: self.defaults.breaker_threshold,
            breaker_open: self.defaults.breaker_open,
        }
    }

    /// Starts the remote's actor, or hands the running one its new configuration.
    pub fn upsert(&self, remote: Remote) {
        let settings = self.settings(&remote);
        let name = remote.spec.name.clone();
        let Ok(mut map) = self.remotes.write() else { return };
        let (addr, hot) = match map.get(&name) {
            Some(entry) => {
                entry.addr.do_send(Reconfigure(settings));
                (entry.addr.clone(), entry.hot.clone())
            }
            None => {
                let deps = self.deps.clone();
                let hot = HotObjects::new();
                let shared = hot.clone();
                let idx = name.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
                let addr = match self.arbiters.get(idx % self.arbiters.len().max(1)) {
                    Some(arbiter) => {
                        RemoteActor::start_in_arbiter(arbiter, move |_| RemoteActor::new(settings, deps, shared))
                    }
                    None => RemoteActor::new(settings, deps, shared).start(),
                };
                (addr, hot)
            }
        };
        map.insert(name, RemoteEntry { remote: Arc::new(remote), addr, hot });
    }

    /// Stops and forgets a remote.
    pub fn remove(&self, name: &str) -> bool {
        let removed = self.remotes.write().ok().and_then(|mut m| m.remove(name));
        match removed {
            Some(entry) => {
                entry.addr.do_send(Shutdown);
                true
            }
            None => false,
        }
    }

    pub fn get_virtual(&self, name: &str) -> Option<Arc<VirtualSpec>> {
        self.virtuals.read().ok()?.get(name).cloned()
    }

    /// Adds or replaces a virtual; requests started before keep the members they read.
    pub fn upsert_virtual(&self, spec: VirtualSpec) {
        if let Ok(mut map) = self.virtuals.write() {
            map.insert(spec.name.clone(), Arc::new(spec));
        }
    }

    pub fn remove_virtual(&self, name: &str) -> bool {
        self.virtuals.write().ok().and_then(|mut m| m.remove(name)).is_some()
    }

    pub fn get_local(&self, name: &str) -> Option<Arc<LocalSpec>> {
        self.locals.read().ok()?.get(name).cloned()
    }

    /// Every local, in no particular order.
    pub fn locals(&self) -> Vec<Arc<LocalSpec>> {
        self.locals.read().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Adds or replaces a local.
    pub fn upsert_local(&self, spec: LocalSpec) {
        if let Ok(mut map) = self.locals.write() {
            map.insert(spec.name.clone(), Arc::new(spec));
        }
    }

    pub fn remove_local(&self, name: &str) -> bool {
        self.locals.write().ok().and_then(|mut m| m.remove(name)).is_some()
    }
}

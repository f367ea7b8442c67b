//! Clients for many workspaces or tenants, built once each and cached.
//!
//! A tenant named `prod` is configured, in order, by a caller-supplied
//! resolver, by `DATABRICKS_PROD_*` environment variables (`DATABRICKS_PROD_HOST`,
//! `DATABRICKS_PROD_TOKEN`, any attribute), or by the `prod` profile of the
//! config file. Tenants never see each other's variables, nor the process's
//! plain `DATABRICKS_*` ones.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::WorkspaceClient;

/// Default number of cached tenants.
pub const DEFAULT_CAPACITY: usize = 100;

/// Environment variables a tenant may still read: where its config file and CLI are.
const SHARED_VARS: &[&str] = &["HOME", "USERPROFILE", "PATH", "DATABRICKS_CONFIG_FILE"];

type ResolveFuture = Pin<Box<dyn Future<Output = Result<Config>> + Send>>;
type Resolver = Arc<dyn Fn(String) -> ResolveFuture + Send + Sync>;

struct Entry {
    cell: Arc<OnceCell<WorkspaceClient>>,
    last_used: u64,
    touched: Instant,
}

/// A bounded cache of workspace clients by tenant name.
#[derive(Clone)]
pub struct ClientRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
    idle_ttl: Option<Duration>,
    resolver: Option<Resolver>,
    environment: Option<HashMap<String, String>>,
    clock: AtomicU64,
    builds: AtomicU64,
}

impl fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("tenants", &self.len())
            .field("capacity", &self.inner.capacity)
            .field("idle_ttl", &self.inner.idle_ttl)
            .finish()
    }
}

impl Default for ClientRegistry {
    fn default() -> Self {
        Self::builder().build()
    }
}

/// Configures a [`ClientRegistry`].
#[derive(Default)]
pub struct ClientRegistryBuilder {
    capacity: Option<usize>,
    idle_ttl: Option<Duration>,
    resolver: Option<Resolver>,
    environment: Option<HashMap<String, String>>,
}

impl fmt::Debug for ClientRegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistryBuilder").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl ClientRegistryBuilder {
    /// Keep at most `capacity` clients; the least recently used goes first.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// Rebuild a client not used for `ttl`.
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = Some(ttl);
        self
    }

    /// Configure tenants with `resolve` (a tenant store, a secret manager, ...).
    /// A failed resolution is not cached.
    pub fn resolver<F, Fut>(mut self, resolve: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Config>> + Send + 'static,
    {
        self.resolver = Some(Arc::new(move |name| Box::pin(resolve(name))));
        self
    }

    /// Read tenant variables from `vars` instead of the process environment.
    pub fn environment<K: Into<String>, V: Into<String>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self {
        self.environment = Some(vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    /// The registry.
    pub fn build(self) -> ClientRegistry {
        ClientRegistry {
            inner: Arc::new(Inner {
                entries: Mutex::new(HashMap::new()),
                capacity: self.capacity.unwrap_or(DEFAULT_CAPACITY),
                idle_ttl: self.idle_ttl,
                resolver: self.resolver,
                environment: self.environment,
                clock: AtomicU64::new(0),
                builds: AtomicU64::new(0),
            }),
        }
    }
}

/// `prod-eu` -> `DATABRICKS_PROD_EU_`.
pub fn env_prefix(tenant: &str) -> String {
    let name: String =
        tenant.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("DATABRICKS_{name}_")
}

impl ClientRegistry {
    /// Start configuring a registry.
    pub fn builder() -> ClientRegistryBuilder {
        ClientRegistryBuilder::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client of `tenant`, built on first use. Concurrent first calls
    /// share one build.
    pub async fn get(&self, tenant: &str) -> Result<WorkspaceClient> {
        let cell = self.slot(tenant);
        let result = cell.get_or_try_init(|| self.build_client(tenant.to_string())).await.cloned();
        if result.is_err() {
            // Do not keep a failed tenant: the next call resolves it again.
            let mut entries = self.entries();
            if entries.get(tenant).is_some_and(|e| Arc::ptr_eq(&e.cell, &cell) && !cell.initialized()) {
                entries.remove(tenant);
            }
        }
        result
    }

    /// The cache slot of `tenant`: touched, renewed after the idle TTL, and
    /// the least recently used tenant evicted when over capacity.
    fn slot(&self, tenant: &str) -> Arc<OnceCell<WorkspaceClient>> {
        let tick = self.inner.clock.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut entries = self.entries();
        let expired = self
            .inner
            .idle_ttl
            .is_some_and(|ttl| entries.get(tenant).is_some_and(|e| now.duration_since(e.touched) > ttl));
        if expired {
            entries.remove(tenant);
        }
        if !entries.contains_key(tenant) && entries.len() >= self.inner.capacity {
            if let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| k.clone()) {
                entries.remove(&oldest);
            }
        }
        let entry = entries.entry(tenant.to_string()).or_insert_with(|| Entry {
            cell: Arc::new(OnceCell::new()),
            last_used: tick,
            touched: now,
        });
        entry.last_used = tick;
        entry.touched = now;
        entry.cell.clone()
    }

    async fn build_client(&self, tenant: String) -> Result<WorkspaceClient> {
        self.inner.builds.fetch_add(1, Ordering::Relaxed);
        let config = match &self.inner.resolver {
            Some(resolve) => resolve(tenant.clone()).await?,
            None => self.config_from_environment(&tenant)?,
        };
        WorkspaceClient::new(config).await.map_err(|e| e.context(format!("tenant {tenant}")))
    }

    /// The tenant's own `DATABRICKS_<TENANT>_<ATTRIBUTE>` variables when they
    /// name a host, else the profile named after the tenant; never the
    /// file's `DEFAULT` profile. Only known attribute names count, so tenant
    /// `prod` does not take `DATABRICKS_PROD_EU_HOST` (tenant `prod-eu`).
    fn config_from_environment(&self, tenant: &str) -> Result<Config> {
        let vars: Vec<(String, String)> = match &self.inner.environment {
            Some(vars) => vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            // Variables that are not UTF-8 cannot be Databricks settings: skipped.
            None => {
                std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
            }
        };
        let prefix = env_prefix(tenant);
        let mut scoped: HashMap<String, String> =
            vars.iter().filter(|(k, _)| SHARED_VARS.contains(&k.as_str())).cloned().collect();
        for (key, value) in &vars {
            let Some(rest) = key.strip_prefix(&prefix) else { continue };
            let name = format!("DATABRICKS_{rest}");
            if crate::config::ATTRIBUTES.iter().any(|a| a.env == Some(name.as_str())) {
                scoped.insert(name, value.clone());
            }
        }
        let has_host = scoped.contains_key("DATABRICKS_HOST");
        let builder = Config::builder().environment(scoped);
        if has_host {
            return builder.build();
        }
        let no_profile = |detail: &str| {
            Error::config(format!(
                "tenant {tenant}: no {prefix}HOST variable and no usable [{tenant}] profile: {detail}"
            ))
        };
        let config = builder.profile(tenant).build().map_err(|e| no_profile(e.message()))?;
        if config.host().is_none() {
            return Err(no_profile("the profile gives no host (or the config file does not exist)"));
        }
        Ok(config)
    }

    /// Tenants currently cached.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// True when no tenant is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `tenant` is cached (built or being built).
    pub fn contains(&self, tenant: &str) -> bool {
        self.entries().contains_key(tenant)
    }

    /// Drop `tenant`'s client (e.g. after rotating its credentials).
    pub fn invalidate(&self, tenant: &str) {
        self.entries().remove(tenant);
    }

    /// How many clients were built (or attempted) so far.
    pub fn builds(&self) -> u64 {
        self.inner.builds.load(Ordering::Relaxed)
    }
}

static DEFAULT_CLIENT: OnceCell<WorkspaceClient> = OnceCell::const_new();

impl WorkspaceClient {
    /// The process-wide default client, configured from the environment on
    /// first use; concurrent first callers share one build, a failure is not kept.
    pub async fn shared() -> Result<WorkspaceClient> {
        DEFAULT_CLIENT.get_or_try_init(WorkspaceClient::from_env).await.cloned()
    }

    /// A client for the named profile of the config file (environment variables still win).
    pub async fn profile(name: &str) -> Result<WorkspaceClient> {
        WorkspaceClient::new(Config::from_profile(name)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(env_prefix("prod"), "DATABRICKS_PROD_");
        assert_eq!(env_prefix("acme-eu.1"), "DATABRICKS_ACME_EU_1_");
    }
}

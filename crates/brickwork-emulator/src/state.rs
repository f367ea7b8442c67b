//! The emulated workspace's state: one [`World`] behind one lock, advanced
//! by [`World::advance`] (each service's due work, from its stored
//! deadlines) on every request and by a background ticker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::services::{
    catalog, clusters, commands, dbfs, jobs, libraries, permissions, pipelines, policies, pools, repos, scim, secrets,
    serving, tokens, uploads, warehouses, workspace, Event, REGISTRY,
};
use crate::settings::Settings;

/// Where the ids of [`World::next_id`] lie: all of one length (16 digits),
/// so the permissions index, keyed by text, holds them in number order, and
/// a page token naming an id outside it was not issued here.
pub const ID_RANGE: std::ops::Range<i64> = 1_000_000_000_000_000..10_000_000_000_000_000;

/// Milliseconds since the epoch, as Databricks timestamps are.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_name: String,
    pub admin: bool,
}

/// An OAuth access token the emulator issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub caller: Caller,
    pub expires_at: Instant,
}

/// Users, tokens and service principals.
#[derive(Debug, Default)]
pub struct Identity {
    pub pats: HashMap<String, Caller>,
    pub oauth_tokens: HashMap<String, IssuedToken>,
    /// When issued tokens expire: they leave the map then.
    pub oauth_expiring: crate::schedule::Deadlines<String>,
    pub grants: crate::services::oauth::Grants,
}

/// Request and fault counters, readable through the admin API. Bumped by
/// every request on every thread: kept on cache lines of their own, so the
/// state read beside them is not fetched again after each bump.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Counters {
    pub requests: AtomicU64,
    pub faults_before: AtomicU64,
    pub faults_after: AtomicU64,
    pub rate_limited: AtomicU64,
    pub unauthenticated: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything in the workspace.
#[derive(Debug)]
pub struct World {
    pub settings: Arc<Settings>,
    /// What stored data may take (the `AppState`'s, shared): documents
    /// stored under the lock count against it here.
    pub budget: Arc<crate::storage::Budget>,
    pub identity: Identity,
    pub directory: scim::Directory,
    pub clusters: clusters::Clusters,
    pub jobs: jobs::Jobs,
    pub workspace: workspace::Tree,
    pub secrets: secrets::Secrets,
    pub tokens: tokens::Tokens,
    pub permissions: permissions::Permissions,
    pub policies: policies::Policies,
    pub pools: pools::Pools,
    pub pipelines: pipelines::Pipelines,
    pub repos: repos::Repos,
    pub files: dbfs::FileStore,
    pub uploads: uploads::Uploads,
    pub warehouses: warehouses::Warehouses,
    pub catalog: catalog::Catalog,
    pub serving: serving::Endpoints,
    pub libraries: libraries::Libraries,
    pub commands: commands::Commands,
    next_id: i64,
    /// Announced by one service, not yet delivered to the others.
    events: Vec<Event>,
}

impl World {
    pub fn new(settings: Arc<Settings>, budget: Arc<crate::storage::Budget>) -> Self {
        let mut world = World {
            identity: Identity::default(),
            directory: scim::Directory::default(),
            clusters: clusters::Clusters::default(),
            jobs: jobs::Jobs::default(),
            workspace: workspace::Tree::new(&budget),
            secrets: secrets::Secrets::default(),
            tokens: tokens::Tokens::default(),
            permissions: permissions::Permissions::default(),
            policies: policies::Policies::default(),
            pools: pools::Pools::default(),
            pipelines: pipelines::Pipelines::default(),
            repos: repos::Repos::default(),
            files: dbfs::FileStore::new(&budget),
            uploads: uploads::Uploads::default(),
            warehouses: warehouses::Warehouses::default(),
            catalog: catalog::Catalog::seeded(&settings.user_name, &settings.volumes, &budget),
            serving: serving::Endpoints::default(),
            libraries: libraries::Libraries::default(),
            commands: commands::Commands::default(),
            // Ids as long as real ones (16 digits, past 2^31 and 2^32 but
            // below 2^53), so a client that keeps them in 32 bits or a JSON
            // float fails here first.
            next_id: fastrand::i64(1_000_000_000_000_000..2_000_000_000_000_000),
            events: Vec::new(),
            settings: settings.clone(),
            budget,
        };
        let admin = Caller { user_name: settings.user_name.clone(), admin: true };
        world.identity.pats.insert(settings.token.clone(), admin.clone());
        world.ensure_user(&admin.user_name, true);
        for user in &settings.users {
            world.identity.pats.insert(user.token.clone(), Caller { user_name: user.user_name.clone(), admin: false });
            world.ensure_user(&user.user_name, false);
        }
        for sp in &settings.service_principals {
            world.ensure_service_principal(&sp.client_id, sp.admin);
        }
        // A federation policy's principal exists from the start, as the one
        // it was made for in a real account.
        for policy in &settings.federation_policies {
            let admin =
                settings.service_principals.iter().any(|sp| sp.client_id == policy.service_principal && sp.admin);
            world.ensure_service_principal(&policy.service_principal, admin);
        }
        world
    }

    /// A fresh int64 id (job, run, object ids share one sequence).
    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Carry out what every service has due by `now`, then deliver the
    /// events that caused.
    pub fn advance(&mut self, now: Instant) {
        for service in REGISTRY {
            service.advance(self, now);
        }
        self.deliver_events();
    }

    /// Tell the other services of a change (delivered once the current
    /// request's work on the world is done).
    pub fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    fn deliver_events(&mut self) {
        // Delivering may announce more: until none is left.
        while !self.events.is_empty() {
            for event in std::mem::take(&mut self.events) {
                for service in REGISTRY {
                    service.on_event(self, &event);
                }
            }
        }
    }
}

/// Shared between handlers: one reference count for all of it, as each
/// request clones the state for every layer and handler it passes.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What the handlers share.
pub struct Shared {
    world: Mutex<World>,
    pub settings: Arc<Settings>,
    pub counters: Counters,
    pub faults: crate::faults::FaultEngine,
    /// What stored file data may take, and what it takes now.
    pub budget: Arc<crate::storage::Budget>,
    /// Each federation policy's keys, decoded once (beside
    /// `settings.federation_policies`, in its order).
    pub trusted_keys: Vec<crate::federation::KeySet>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// `trusted_keys`: each federation policy's keys, in the policies' order.
    pub fn new(settings: Settings, trusted_keys: Vec<crate::federation::KeySet>) -> Self {
        let settings = Arc::new(settings);
        let budget = crate::storage::Budget::new(settings.max_stored_bytes);
        AppState(Arc::new(Shared {
            world: Mutex::new(World::new(settings.clone(), budget.clone())),
            faults: crate::faults::FaultEngine::new(settings.faults.clone()),
            counters: Counters::default(),
            budget,
            settings,
            trusted_keys,
        }))
    }

    /// Lock the world, bring it up to date, and run `f` on it; the events
    /// `f` announced are delivered before the lock is let go.
    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut world = self.lock();
        world.advance(Instant::now());
        let result = f(&mut world);
        world.deliver_events();
        result
    }

    /// Read the world as it stands, without advancing it: for reads that
    /// compare their own deadlines with the clock (authentication checks each
    /// credential's expiry itself), so a request advances the world once.
    pub fn read<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panicking handler must not take the whole emulator down with it.
        self.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What the admin API reports.
    pub fn snapshot(&self) -> Snapshot {
        let c = &self.counters;
        let faults = self.faults.stats();
        let faults_by_request = self.faults.stats_by_request();
        self.with(|w| Snapshot {
            requests: c.requests.load(Ordering::Relaxed),
            faults_injected_before: c.faults_before.load(Ordering::Relaxed),
            faults_injected_after: c.faults_after.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            unauthenticated: c.unauthenticated.load(Ordering::Relaxed),
            faults_by_kind: faults,
            faults_by_request,
            live_clusters: w.clusters.live_count(),
            clusters_total: w.clusters.total(),
            jobs: w.jobs.job_count(),
            active_runs: w.jobs.active_run_count(),
            warehouses_running: w.warehouses.running_count(),
            open_uploads: w.uploads.open_count(),
            open_dbfs_handles: w.files.open_handles(self.settings.minute()),
            stored_bytes: self.budget.used(),
            stored_name_bytes: w.workspace.name_bytes() + w.files.name_bytes(),
            runs_kept: w.jobs.run_count(),
            execution_contexts: w.commands.context_count(),
            clusters_with_libraries: w.libraries.cluster_count(),
            tokens: w.tokens.count(),
            access_control_lists: w.permissions.count(),
            services: REGISTRY.iter().map(|s| s.name()).collect(),
        })
    }
}

/// Counters and gauges for tests that assert nothing leaked.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub requests: u64,
    pub faults_injected_before: u64,
    pub faults_injected_after: u64,
    pub rate_limited: u64,
    pub unauthenticated: u64,
    pub faults_by_kind: std::collections::BTreeMap<String, u64>,
    /// Faults by kind and request, e.g. `"internal_error POST /api/2.2/jobs/create"`.
    pub faults_by_request: std::collections::BTreeMap<String, u64>,
    /// Clusters not yet TERMINATED (and not permanently deleted).
    pub live_clusters: usize,
    /// Clusters that still exist (terminated ones included).
    pub clusters_total: usize,
    pub jobs: usize,
    pub active_runs: usize,
    pub warehouses_running: usize,
    /// Multipart uploads initiated and neither completed nor aborted.
    pub open_uploads: usize,
    /// DBFS write handles created and neither closed nor expired.
    pub open_dbfs_handles: usize,
    /// Bytes counted against the storage budget: file data (files, parts
    /// of open uploads, open DBFS handles), stored documents and records.
    pub stored_bytes: u64,
    /// Of those, what the workspace's and DBFS's paths take (an empty
    /// folder is not free).
    pub stored_name_bytes: u64,
    /// Job runs kept, active and finished (until retention drops them).
    pub runs_kept: usize,
    /// Command execution contexts open.
    pub execution_contexts: usize,
    /// Clusters with libraries installed.
    pub clusters_with_libraries: usize,
    /// Personal access tokens made through the API and still live.
    pub tokens: usize,
    /// Objects with an access control list of their own.
    pub access_control_lists: usize,
    /// The services this emulator serves, by name.
    pub services: Vec<&'static str>,
}

//! A Databricks workspace on the laptop: a real HTTP server with clusters,
//! jobs and runs, workspace objects, secrets, DBFS/Files, SQL warehouses and
//! statements, SCIM and OAuth, plus seeded fault injection.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emulator = brickwork_emulator::Emulator::start().await?;
//! println!("workspace at {} with token {}", emulator.url(), emulator.token());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Each emulator is one workspace with its own port and tokens; start
//! several for multi-workspace tests. Timing knobs (transition delays, task
//! duration, the length of a minute for auto-termination) keep tests fast.

mod api;
mod auth;
mod faults;
mod federation;
mod ids;
mod index;
mod notebook;
mod schedule;
pub mod serve;
mod services;
mod settings;
mod shapes;
mod state;
mod storage;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, Uri};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use federation::IdTokenIssuer;
pub use settings::{
    ConsentMode, Fault, FaultRule, FaultSettings, FederationPolicySpec, Phase, ServicePrincipalSpec, Settings, UserSpec,
};
pub use state::Snapshot;

use api::ApiError;
use state::AppState;

/// How often state machines advance when nobody is asking.
const TICK: Duration = Duration::from_millis(25);

/// Entry point: [`Emulator::start`] with defaults or [`Emulator::builder`].
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Start a workspace on a free loopback port with default settings.
    pub async fn start() -> std::io::Result<EmulatorHandle> {
        Self::builder().start().await
    }

    /// Configure before starting.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder { settings: Settings::default(), addr: SocketAddr::from(([127, 0, 0, 1], 0)) }
    }
}

/// Settings of an emulator about to start.
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    settings: Settings,
    addr: SocketAddr,
}

impl EmulatorBuilder {
    /// Replace all settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Listen on this address (default `127.0.0.1:0`, a free port).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The admin user's personal access token (default: generated).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.settings.token = token.into();
        self
    }

    /// Time each cluster and warehouse transition takes.
    pub fn transition_delay(mut self, delay: Duration) -> Self {
        self.settings.transition_delay_ms = delay.as_millis() as u64;
        self
    }

    /// Time a job task runs once its compute is ready.
    pub fn task_duration(mut self, duration: Duration) -> Self {
        self.settings.task_duration_ms = duration.as_millis() as u64;
        self
    }

    /// Length of an emulated minute (auto-termination, auto-stop).
    pub fn minute(mut self, minute: Duration) -> Self {
        self.settings.minute_ms = minute.as_millis() as u64;
        self
    }

    /// Lifetime of issued OAuth tokens.
    pub fn oauth_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.oauth_token_lifetime_secs = lifetime.as_secs();
        self
    }

    /// Lifetime of each OAuth refresh token, in emulated minutes.
    pub fn refresh_token_lifetime_minutes(mut self, minutes: u32) -> Self {
        self.settings.refresh_token_lifetime_minutes = minutes;
        self
    }

    /// Add an admin service principal for OAuth M2M.
    pub fn service_principal(mut self, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        self.settings.service_principals.push(ServicePrincipalSpec {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            admin: true,
        });
        self
    }

    /// Let token exchange accept ID tokens matching `policy`.
    pub fn federation_policy(mut self, policy: FederationPolicySpec) -> Self {
        self.settings.federation_policies.push(policy);
        self
    }

    /// How the U2M consent page answers.
    pub fn oauth_consent(mut self, mode: ConsentMode) -> Self {
        self.settings.oauth_consent = mode;
        self
    }

    /// Add a non-admin user with this token.
    pub fn user(mut self, user_name: impl Into<String>, token: impl Into<String>) -> Self {
        self.settings.users.push(UserSpec { user_name: user_name.into(), token: token.into() });
        self
    }

    /// Start with the Unity Catalog volume `catalog.schema.volume` (and its
    /// catalog and schema), so Files API paths under it may be used at once.
    pub fn volume(mut self, full_name: impl Into<String>) -> Self {
        self.settings.volumes.push(full_name.into());
        self
    }

    /// How many emulated minutes terminated clusters are kept, unless pinned
    /// (default 30 days).
    pub fn terminated_cluster_retention_minutes(mut self, minutes: u32) -> Self {
        self.settings.terminated_cluster_retention_minutes = minutes;
        self
    }

    /// How many emulated minutes finished job runs are kept (default 60 days).
    pub fn run_retention_minutes(mut self, minutes: u32) -> Self {
        self.settings.run_retention_minutes = minutes;
        self
    }

    /// The most bytes of file data held at once (default 8 GiB).
    pub fn max_stored_bytes(mut self, bytes: u64) -> Self {
        self.settings.max_stored_bytes = bytes;
        self
    }

    /// Fault injection and per-principal rate limit.
    pub fn faults(mut self, faults: FaultSettings) -> Self {
        self.settings.faults = faults;
        self
    }

    /// Bind, start serving, and return a handle.
    pub async fn start(mut self) -> std::io::Result<EmulatorHandle> {
        // Each policy's keys, decoded once: a set no token could meet stops the start.
        let trusted_keys = self
            .settings
            .federation_policies
            .iter()
            .map(|policy| {
                federation::KeySet::parse(&policy.jwks_json).map_err(|why| {
                    let message = format!("federation policy for {:?}: {why}", policy.service_principal);
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        if self.settings.token.is_empty() {
            self.settings.token = ids::pat();
        }
        if self.settings.admin_token.is_empty() {
            self.settings.admin_token = ids::pat();
        }
        let listener = TcpListener::bind(self.addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = AppState::new(self.settings, trusted_keys);
        let app = router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("emulator stopped: {e}");
            }
        });
        let ticking = state.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
                ticking.with(|_| ());
            }
        });
        Ok(EmulatorHandle { url, state, stop: Some(stop), server: Some(server), ticker })
    }
}

fn router(state: AppState) -> Router {
    services::routes()
        .merge(services::admin::routes().route_layer(from_fn_with_state(state.clone(), services::admin::guard)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), auth::layer))
        .layer(from_fn_with_state(state.clone(), faults::layer))
        .layer(from_fn(run_to_completion))
        .with_state(state)
}

/// A request the server has read is carried out even when the client hangs
/// up meanwhile, as a real workspace does (hyper would drop the handler): a
/// client that gave up on a create still finds its cluster later.
async fn run_to_completion(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => ApiError::new(500, "INTERNAL_ERROR", format!("the request handler failed: {e}")).into_response(),
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(404, "ENDPOINT_NOT_FOUND", format!("No API found for '{method} {}'", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(405, "ENDPOINT_NOT_FOUND", format!("No API found for '{method} {}'", uri.path()))
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct EmulatorHandle {
    url: String,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    ticker: JoinHandle<()>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppState")
    }
}

impl EmulatorHandle {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin user's personal access token.
    pub fn token(&self) -> &str {
        &self.state.settings.token
    }

    /// The bearer token of the admin API (`/__admin/*`).
    pub fn admin_token(&self) -> &str {
        &self.state.settings.admin_token
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.state.settings
    }

    /// Counters and gauges (requests, faults, live clusters, ...).
    pub fn counters(&self) -> Snapshot {
        self.state.snapshot()
    }

    /// Replace the fault rules at run time.
    pub fn set_faults(&self, faults: FaultSettings) {
        self.state.faults.set(faults);
    }

    /// Stop serving and wait for the server to finish.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.ticker.abort();
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

//! The emulator's knobs: timing, identities and fault injection.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// File data held at once unless configured: room for a few large
/// transfers, well below a laptop's memory.
pub const DEFAULT_MAX_STORED_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// How the emulated workspace behaves. Loadable from a JSON config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Personal access token of the admin user (generated when empty).
    pub token: String,
    /// Bearer token of the emulator's own admin API, `/__admin/*` (generated
    /// when empty). Not a workspace credential: no user holds it.
    pub admin_token: String,
    /// Serve `/__admin/*` to peers beyond loopback too (default: loopback
    /// only, with a loopback `Host`, so a web page cannot reach it through
    /// DNS rebinding).
    pub admin_remote: bool,
    /// The admin user's name.
    pub user_name: String,
    /// Extra non-admin users: `(user_name, token)`.
    pub users: Vec<UserSpec>,
    /// OAuth service principals usable with client credentials.
    pub service_principals: Vec<ServicePrincipalSpec>,
    /// Which ID tokens OAuth token exchange accepts, and for whom.
    pub federation_policies: Vec<FederationPolicySpec>,
    /// What `/oidc/v1/authorize` does: show a consent page (default), or
    /// approve or deny at once.
    pub oauth_consent: ConsentMode,
    /// Lifetime of OAuth access tokens, in seconds.
    pub oauth_token_lifetime_secs: u64,
    /// Lifetime of each OAuth refresh token, in emulated minutes (an app
    /// integration's `refresh_token_ttl_in_minutes`; 90 days by default).
    pub refresh_token_lifetime_minutes: u32,
    /// Time each cluster or warehouse transition takes, in milliseconds.
    pub transition_delay_ms: u64,
    /// Time a job task runs once its compute is ready, in milliseconds.
    pub task_duration_ms: u64,
    /// Length of an emulated minute (auto-termination), in milliseconds.
    pub minute_ms: u64,
    /// Workspace id announced by `/.well-known/databricks-config`.
    pub workspace_id: String,
    /// Terminated clusters are kept this many emulated minutes, unless
    /// pinned (Databricks keeps 30 days).
    pub terminated_cluster_retention_minutes: u32,
    /// Unity Catalog volumes the workspace starts with (`catalog.schema.volume`,
    /// made with their catalog and schema), beside catalog `main`.
    pub volumes: Vec<String>,
    /// Finished job runs are kept this many emulated minutes (Databricks
    /// keeps 60 days of run history).
    pub run_retention_minutes: u32,
    /// The most bytes of file data (DBFS, volumes, upload parts) held at
    /// once; past it, writes are refused with `RESOURCE_EXHAUSTED`.
    pub max_stored_bytes: u64,
    /// Fault injection.
    pub faults: FaultSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token: String::new(),
            admin_token: String::new(),
            admin_remote: false,
            user_name: "admin@example.com".to_string(),
            users: Vec::new(),
            service_principals: Vec::new(),
            federation_policies: Vec::new(),
            oauth_consent: ConsentMode::default(),
            oauth_token_lifetime_secs: 3600,
            refresh_token_lifetime_minutes: 90 * 24 * 60,
            transition_delay_ms: 300,
            task_duration_ms: 200,
            minute_ms: 60_000,
            workspace_id: "900800700600".to_string(),
            volumes: Vec::new(),
            terminated_cluster_retention_minutes: 30 * 24 * 60,
            run_retention_minutes: 60 * 24 * 60,
            max_stored_bytes: DEFAULT_MAX_STORED_BYTES,
            faults: FaultSettings::default(),
        }
    }
}

/// The longest delay and the longest emulated minute taken: any deadline
/// built from them (a minute times a `u32` of minutes included) stays far
/// inside what an `Instant` holds, so no setting can make time arithmetic panic.
const MAX_DELAY_MS: u64 = 10 * 365 * 24 * 3600 * 1000;
const MAX_MINUTE_MS: u64 = 24 * 3600 * 1000;

impl Settings {
    pub fn transition_delay(&self) -> Duration {
        Duration::from_millis(self.transition_delay_ms.min(MAX_DELAY_MS))
    }

    pub fn task_duration(&self) -> Duration {
        Duration::from_millis(self.task_duration_ms.min(MAX_DELAY_MS))
    }

    pub fn minute(&self) -> Duration {
        Duration::from_millis(self.minute_ms.clamp(1, MAX_MINUTE_MS))
    }

    /// How long an issued OAuth access token lasts, in whole seconds.
    pub fn oauth_token_lifetime(&self) -> Duration {
        Duration::from_secs(self.oauth_token_lifetime_secs.min(MAX_DELAY_MS / 1000))
    }

    /// How long a refresh token lasts.
    pub fn refresh_token_lifetime(&self) -> Duration {
        self.minute().saturating_mul(self.refresh_token_lifetime_minutes).min(Duration::from_millis(MAX_DELAY_MS))
    }
}

/// A non-admin user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserSpec {
    pub user_name: String,
    pub token: String,
}

/// A service principal for OAuth M2M.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServicePrincipalSpec {
    pub client_id: String,
    pub client_secret: String,
    /// Whether it has workspace admin rights (default true).
    #[serde(default = "yes")]
    pub admin: bool,
}

/// A service principal federation policy: an ID token from `issuer` whose
/// `sub` is `subject`, whose `aud` is one of `audiences` (empty: the
/// workspace's token endpoint URL) and which a key of `jwks_json` signed is
/// exchanged for a token of `service_principal` (a client id).
/// [`IdTokenIssuer`](crate::IdTokenIssuer) makes keys and tokens for tests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FederationPolicySpec {
    pub service_principal: String,
    pub issuer: String,
    pub subject: String,
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The issuer's public keys as a JSON Web Key Set (`{"keys": [...]}`;
    /// RSA or EC keys, RS/PS/ES algorithms). Required: the emulator cannot
    /// fetch an issuer's keys, and a token whose signature no one checked
    /// would let anyone who knows the policy sign in.
    pub jwks_json: String,
}

/// The answer of the authorization endpoint (U2M login).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// A consent page whose form posts `decision=approve|deny` with the
    /// signing-in `user_name` and one of their tokens as `password`: what a
    /// person fills in or a test posts.
    #[default]
    Prompt,
    /// Redirect at once with a code for the admin user.
    Approve,
    /// Redirect at once with `error=access_denied`.
    Deny,
}

fn yes() -> bool {
    true
}

/// Seeded, per-route fault injection and a per-principal rate limit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSettings {
    /// Seed of the random source, so a run is reproducible.
    pub seed: u64,
    /// Rules, first match wins per phase.
    pub rules: Vec<FaultRule>,
    /// Requests per second allowed per authenticated principal, whatever
    /// token it uses (`None`: unlimited).
    pub rate_limit_per_principal: Option<u32>,
}

/// Inject `fault` with `probability` on requests whose path starts with
/// `path_prefix` (and, when set, of `method` and whose query holds `query`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    /// Path prefix, e.g. `/api/2.2/jobs/` (empty: every API path).
    #[serde(default)]
    pub path_prefix: String,
    /// Only this HTTP method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Chance from 0.0 to 1.0.
    pub probability: f64,
    /// What happens.
    pub fault: Fault,
    /// Before the handler (nothing changes) or after it (the change is
    /// applied, the response is lost or replaced).
    #[serde(default)]
    pub phase: Phase,
    /// Fire at most this many times (`None`: no limit), e.g. two dropped
    /// downloads and then a clean one.
    #[serde(default)]
    pub times: Option<u64>,
    /// Only requests whose query string contains this text, e.g.
    /// `action=complete-upload` (any query when absent).
    #[serde(default)]
    pub query: Option<String>,
}

/// An injected failure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fault {
    /// 429 `REQUEST_LIMIT_EXCEEDED` with `Retry-After`.
    TooManyRequests {
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    /// 503 `TEMPORARILY_UNAVAILABLE`.
    Unavailable,
    /// 500 `INTERNAL_ERROR`.
    InternalError,
    /// The connection is dropped without a complete response.
    DropConnection,
    /// The handler's answer goes out, but the connection drops after the
    /// first `after_bytes` bytes of its body (phase `after` only).
    TruncateBody { after_bytes: u64 },
    /// Extra latency.
    Latency { ms: u64 },
}

fn one() -> u64 {
    1
}

/// When a fault applies relative to the handler.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Before,
    After,
}

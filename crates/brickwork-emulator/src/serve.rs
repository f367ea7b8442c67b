//! The emulator as a command: its flags ([`ServeArgs`]) and [`serve`], shared
//! by the `brickwork-emulator` binary and `brickwork emulator`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::{Emulator, FaultRule, Settings};

/// How to serve the workspace: address, identities, timing and faults.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Admin personal access token (generated when absent).
    #[arg(long)]
    token: Option<String>,
    /// Bearer token of the emulator's admin API, `/__admin/*` (generated
    /// when absent).
    #[arg(long)]
    admin_token: Option<String>,
    /// Serve the admin API to non-loopback peers too.
    #[arg(long)]
    admin_remote: bool,
    /// JSON file with settings (see `Settings`); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Milliseconds each cluster/warehouse transition takes.
    #[arg(long)]
    transition_delay_ms: Option<u64>,
    /// Milliseconds a job task runs.
    #[arg(long)]
    task_duration_ms: Option<u64>,
    /// Milliseconds in an emulated minute (auto-termination).
    #[arg(long)]
    minute_ms: Option<u64>,
    /// Lifetime of OAuth tokens in seconds.
    #[arg(long)]
    oauth_token_lifetime_secs: Option<u64>,
    /// Lifetime of each OAuth refresh token in emulated minutes (default 90 days).
    #[arg(long)]
    refresh_token_lifetime_minutes: Option<u32>,
    /// OAuth service principal as CLIENT_ID:CLIENT_SECRET (repeatable).
    #[arg(long = "service-principal")]
    service_principals: Vec<String>,
    /// A federation policy for token exchange as JSON (repeatable), e.g.
    /// `'{"service_principal":"my-sp","issuer":"https://token.actions.githubusercontent.com","subject":"repo:acme/etl:ref:refs/heads/main","jwks_json":"{\"keys\":[...]}"}'`
    /// (`jwks_json`: the issuer's public keys, which must have signed the token).
    #[arg(long = "federation-policy")]
    federation_policies: Vec<String>,
    /// What the U2M consent page does: prompt (default), approve or deny.
    #[arg(long)]
    oauth_consent: Option<String>,
    /// Non-admin user as USER_NAME:TOKEN (repeatable).
    #[arg(long = "user")]
    users: Vec<String>,
    /// Seed for fault injection.
    #[arg(long)]
    fault_seed: Option<u64>,
    /// A fault rule as JSON, e.g. '{"path_prefix":"/api/2.2/jobs/","probability":0.1,"fault":{"kind":"unavailable"}}'.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Requests per second allowed per authenticated principal (user or service principal).
    #[arg(long)]
    rate_limit_per_principal: Option<u32>,
    /// A Unity Catalog volume to start with, as catalog.schema.volume
    /// (repeatable); Files API paths must name an existing volume.
    #[arg(long = "volume")]
    volumes: Vec<String>,
    /// Most bytes of file data held at once (default 8 GiB); writes past it
    /// are refused with RESOURCE_EXHAUSTED.
    #[arg(long)]
    max_stored_bytes: Option<u64>,
}

/// The settings these flags (and `--config`) describe.
pub fn settings(args: &ServeArgs) -> Result<Settings, String> {
    let mut s: Settings = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("invalid config {}: {e}", path.display()))?
        }
        None => Settings::default(),
    };
    if let Some(t) = &args.token {
        s.token = t.clone();
    }
    if let Some(t) = &args.admin_token {
        s.admin_token = t.clone();
    }
    s.admin_remote |= args.admin_remote;
    s.transition_delay_ms = args.transition_delay_ms.unwrap_or(s.transition_delay_ms);
    s.task_duration_ms = args.task_duration_ms.unwrap_or(s.task_duration_ms);
    s.minute_ms = args.minute_ms.unwrap_or(s.minute_ms);
    s.oauth_token_lifetime_secs = args.oauth_token_lifetime_secs.unwrap_or(s.oauth_token_lifetime_secs);
    s.refresh_token_lifetime_minutes = args.refresh_token_lifetime_minutes.unwrap_or(s.refresh_token_lifetime_minutes);
    s.max_stored_bytes = args.max_stored_bytes.unwrap_or(s.max_stored_bytes);
    s.volumes.extend(args.volumes.iter().cloned());
    for sp in &args.service_principals {
        let (id, secret) = sp
            .split_once(':')
            .ok_or_else(|| format!("--service-principal {sp:?}: expected CLIENT_ID:CLIENT_SECRET"))?;
        s.service_principals.push(crate::ServicePrincipalSpec {
            client_id: id.into(),
            client_secret: secret.into(),
            admin: true,
        });
    }
    for user in &args.users {
        let (name, token) = user.split_once(':').ok_or_else(|| format!("--user {user:?}: expected USER_NAME:TOKEN"))?;
        s.users.push(crate::UserSpec { user_name: name.into(), token: token.into() });
    }
    for policy in &args.federation_policies {
        let parsed = serde_json::from_str(policy).map_err(|e| format!("--federation-policy {policy:?}: {e}"))?;
        s.federation_policies.push(parsed);
    }
    if let Some(mode) = &args.oauth_consent {
        s.oauth_consent = serde_json::from_value(serde_json::Value::String(mode.clone()))
            .map_err(|_| format!("--oauth-consent {mode:?}: expected prompt, approve or deny"))?;
    }
    if let Some(seed) = args.fault_seed {
        s.faults.seed = seed;
    }
    for rule in &args.faults {
        let parsed: FaultRule = serde_json::from_str(rule).map_err(|e| format!("--fault {rule:?}: {e}"))?;
        s.faults.rules.push(parsed);
    }
    if args.rate_limit_per_principal.is_some() {
        s.faults.rate_limit_per_principal = args.rate_limit_per_principal;
    }
    Ok(s)
}

/// Serve until Ctrl-C: the first line on stdout is one JSON object with
/// `url`, `token` and `admin_token` (and the first service principal's `client_id` and
/// `client_secret`); `name` prefixes errors on stderr.
pub async fn serve(args: &ServeArgs, name: &str) -> ExitCode {
    let settings = match settings(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let handle = match Emulator::builder().settings(settings).addr(args.addr).start().await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{name}: cannot listen on {}: {e}", args.addr);
            return ExitCode::from(1);
        }
    };
    // `url` first, as documented; values are JSON-escaped.
    let mut ready = format!(
        "{{\"url\":{},\"token\":{},\"admin_token\":{}",
        json!(handle.url()),
        json!(handle.token()),
        json!(handle.admin_token())
    );
    if let Some(sp) = handle.settings().service_principals.first() {
        ready.push_str(&format!(
            ",\"client_id\":{},\"client_secret\":{}",
            json!(sp.client_id),
            json!(sp.client_secret)
        ));
    }
    println!("{ready}}}");
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    ExitCode::SUCCESS
}

//! `brickwork auth ...`: what the configuration resolves to, and browser login.

use std::sync::Arc;
use std::time::Duration;

use brickwork::auth::{AuthContext, DefaultCredentials, ExternalBrowser};
use brickwork::config::ATTRIBUTES;
use brickwork::{Client, Config};
use clap::Subcommand;
use serde_json::{json, Map, Value};

use crate::{config, Cli, Output};

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Show the resolved host, auth method, user, and where each setting came from (secrets masked).
    Describe,
    /// Log in through the browser (OAuth U2M) and keep the login in the
    /// official CLI's token cache (~/.databricks/token-cache.json).
    Login {
        /// Loopback port for the login redirect (the official CLI's client is registered for 8020).
        #[arg(long, default_value_t = 8020)]
        port: u16,
        /// Seconds to wait for the login to finish.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

pub async fn run(cli: &Cli, command: &AuthCommand) -> brickwork::Result<()> {
    match command {
        AuthCommand::Describe => describe(cli).await,
        AuthCommand::Login { port, timeout } => login(cli, *port, Duration::from_secs(*timeout)).await,
    }
}

async fn describe(cli: &Cli) -> brickwork::Result<()> {
    let cfg = config(cli, None)?;
    // Describing must never block on a person: a browser login is used only
    // when the cache holds one.
    let chain = DefaultCredentials::default().replace(Arc::new(ExternalBrowser::default().cached_only()));
    let (cfg, auth_type, outcome) = match Client::builder().config(cfg.clone()).credentials(chain).build().await {
        Ok(client) => {
            let me = client.api().get::<Value>("/api/2.0/preview/scim/v2/Me", &()).await;
            let user = me.map(|me| me["userName"].as_str().unwrap_or_default().to_string());
            (client.config().clone(), Some(client.auth_type()), user)
        }
        Err(err) => (cfg, None, Err(err)),
    };
    let settings = configuration(&cfg);
    match cli.output {
        Output::Json => {
            let mut answer = json!({
                "status": if outcome.is_ok() { "success" } else { "error" },
                "details": {"host": cfg.host(), "auth_type": auth_type, "configuration": settings},
            });
            match &outcome {
                Ok(user) => answer["username"] = json!(user),
                Err(err) => answer["error"] = json!({"kind": format!("{:?}", err.kind()), "message": err.message()}),
            }
            println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
        }
        Output::Text => {
            println!("Host: {}", cfg.host().unwrap_or("(none)"));
            if let Ok(user) = &outcome {
                println!("User: {user}");
            }
            println!("Authenticated with: {}", auth_type.unwrap_or("(none)"));
            println!("-----");
            println!("Current configuration:");
            for (name, setting) in &settings {
                let source = setting["source"].as_str().map(|s| format!(" (from {s})")).unwrap_or_default();
                println!("  ✓ {name}: {}{source}", setting["value"].as_str().unwrap_or_default());
            }
        }
    }
    outcome.map(drop)
}

/// Each attribute set, secrets masked, with where it came from.
fn configuration(cfg: &Config) -> Map<String, Value> {
    ATTRIBUTES
        .iter()
        .filter_map(|spec| {
            let value = cfg.shown(spec.name)?;
            let source = cfg.source(spec.name).map(ToString::to_string);
            Some((spec.name.to_string(), json!({"value": value, "source": source})))
        })
        .collect()
}

async fn login(cli: &Cli, port: u16, timeout: Duration) -> brickwork::Result<()> {
    let cfg = config(cli, Some("external-browser"))?;
    let settings = *cfg.settings();
    let ctx = AuthContext::new(settings.http_timeout, settings.skip_verify)?;
    ExternalBrowser::default().with_port(port).with_login_timeout(timeout).login(&cfg, &ctx).await?;
    let host = cfg.host().unwrap_or_default();
    match cli.output {
        Output::Json => println!("{}", json!({"status": "success", "host": host})),
        Output::Text => println!("Logged in to {host}; the login is kept in ~/.databricks/token-cache.json"),
    }
    Ok(())
}

//! `brickwork auth ...`: what the configuration resolves to, the profiles,
//! the credentials to hand to other tools, and browser login.

use std::sync::Arc;
use std::time::Duration;

use brickwork::auth::{AuthContext, DefaultCredentials, ExternalBrowser};
use brickwork::config::ATTRIBUTES;
use brickwork::{Client, Config};
use clap::Subcommand;
use serde_json::{json, Map, Value};

use crate::{CliError, Output, Session};

/// How long `auth profiles` gives each profile to answer.
const PROFILE_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Show the resolved host, auth method, user, and where each setting came from (secrets masked).
    Describe,
    /// Print the configuration as the environment variables that give it,
    /// secrets included: `{"env": {"DATABRICKS_HOST": ...}}`.
    Env,
    /// List the profiles of ~/.databrickscfg, each checked against its workspace.
    Profiles {
        /// Do not call each workspace: only read the file.
        #[arg(long)]
        skip_validate: bool,
    },
    /// Print an access token for the configured workspace (OAuth methods
    /// refresh it first when due).
    Token,
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

pub async fn run(session: &Session, command: &AuthCommand) -> Result<(), CliError> {
    match command {
        AuthCommand::Describe => describe(session).await,
        AuthCommand::Env => env(session).await,
        AuthCommand::Profiles { skip_validate } => profiles(session, *skip_validate).await,
        AuthCommand::Token => token(session).await,
        AuthCommand::Login { port, timeout } => login(session, *port, Duration::from_secs(*timeout)).await,
    }
}

/// A client whose browser login never opens a browser: commands that only
/// look must not wait for a person.
async fn client_without_browser(cfg: Config) -> brickwork::Result<Client> {
    let chain = DefaultCredentials::default().replace(Arc::new(ExternalBrowser::default().cached_only()));
    Client::builder().config(cfg).credentials(chain).build().await
}

/// The call that proves a login works. A workspace says who is calling;
/// an accounts console has no such call, so listing its workspaces is the
/// proof and the user is the configured one, if any.
fn identity_path(cfg: &Config) -> String {
    match cfg.account_id().filter(|_| cfg.is_account_client()) {
        Some(account) => format!("/api/2.0/accounts/{account}/workspaces"),
        None => "/api/2.0/preview/scim/v2/Me".to_string(),
    }
}

/// The calling user's name, once the login has been proven by a call.
async fn whoami(client: &Client) -> brickwork::Result<String> {
    let answer = client.api().get::<Value>(&identity_path(client.config()), &()).await?;
    let name =
        if client.config().is_account_client() { client.config().get("username") } else { answer["userName"].as_str() };
    Ok(name.unwrap_or_default().to_string())
}

async fn describe(session: &Session) -> Result<(), CliError> {
    let cfg = session.config(None)?;
    let (cfg, auth_type, outcome) = match client_without_browser(cfg.clone()).await {
        Ok(client) => {
            let user = whoami(&client).await;
            (client.config().clone(), Some(client.auth_type()), user)
        }
        Err(err) => (cfg, None, Err(err)),
    };
    let settings = configuration(&cfg);
    let printer = session.printer();
    match session.output() {
        Output::Json => {
            let mut answer = json!({
                "status": if outcome.is_ok() { "success" } else { "error" },
                "details": {"host": cfg.host(), "auth_type": auth_type, "configuration": settings},
            });
            match &outcome {
                Ok(user) => answer["username"] = json!(user),
                Err(err) => answer["error"] = json!({"kind": format!("{:?}", err.kind()), "message": err.message()}),
            }
            printer.json(&answer)?;
        }
        Output::Text => {
            let mut lines = vec![format!("Host: {}", cfg.host().unwrap_or("(none)"))];
            if let Ok(user) = &outcome {
                lines.push(format!("User: {user}"));
            }
            lines.push(format!("Authenticated with: {}", auth_type.unwrap_or("(none)")));
            lines.push("-----".into());
            lines.push("Current configuration:".into());
            for (name, setting) in &settings {
                let source = setting["source"].as_str().map(|s| format!(" (from {s})")).unwrap_or_default();
                lines.push(format!("  ✓ {name}: {}{source}", setting["value"].as_str().unwrap_or_default()));
            }
            crate::output::lines(&lines)?;
        }
    }
    outcome.map(drop).map_err(CliError::from)
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

async fn env(session: &Session) -> Result<(), CliError> {
    // The configuration must authenticate, as the official CLI checks.
    let client = client_without_browser(session.config(None)?).await?;
    let cfg = client.config();
    let mut vars = Map::new();
    for spec in ATTRIBUTES {
        let (Some(var), Some(value)) = (spec.env, cfg.expose_secret(spec.name)) else { continue };
        vars.insert(var.to_string(), Value::String(value.to_string()));
    }
    vars.insert("DATABRICKS_AUTH_TYPE".into(), Value::String(client.auth_type().to_string()));
    session.printer().json(&json!({ "env": vars }))
}

async fn profiles(session: &Session, skip_validate: bool) -> Result<(), CliError> {
    // Where the file is: the configured one, even if its profile is broken.
    let base = session.config(None).or_else(|_| file_only().build())?;
    let (path, names) = base.profile_names()?;
    let mut rows = Vec::new();
    for name in names {
        rows.push(profile_row(&name, skip_validate).await);
    }
    match session.output() {
        Output::Json => session.printer().json(&json!({ "profiles": rows })),
        Output::Text => {
            if rows.is_empty() {
                return crate::output::lines(&[format!("No profiles in {}", path.display())]);
            }
            let mut listing = session.printer().listing(&["name", "host", "auth_type", "valid"]);
            for row in rows {
                listing.push(row)?;
            }
            listing.finish()
        }
    }
}

/// A configuration from the config file alone: DATABRICKS_HOST,
/// DATABRICKS_TOKEN and the like would otherwise fill (or conflict with)
/// every profile listed.
fn file_only() -> brickwork::config::ConfigBuilder {
    const FILE_ONLY: &[&str] = &["HOME", "USERPROFILE", "PATH", "DATABRICKS_CONFIG_FILE", "DATABRICKS_CLI_PATH"];
    Config::builder().environment(std::env::vars().filter(|(k, _)| FILE_ONLY.contains(&k.as_str())))
}

/// One profile: its host and cloud, and whether it authenticates and
/// answers (within a few seconds) unless `skip_validate`.
async fn profile_row(name: &str, skip_validate: bool) -> Value {
    let cfg = match file_only().profile(name).build() {
        Ok(cfg) => cfg,
        Err(err) => return json!({"name": name, "valid": false, "error": err.message()}),
    };
    let cloud = if cfg.is_azure() {
        "azure"
    } else if cfg.is_gcp() {
        "gcp"
    } else {
        "aws"
    };
    let mut row = json!({"name": name, "host": cfg.host(), "account_id": cfg.account_id(), "cloud": cloud});
    row["auth_type"] = json!(cfg.auth_type());
    if skip_validate {
        return row;
    }
    let check = async {
        let client = client_without_browser(cfg).await?;
        whoami(&client).await?;
        Ok::<_, brickwork::Error>(client.auth_type())
    };
    match tokio::time::timeout(PROFILE_CHECK_TIMEOUT, check).await {
        Ok(Ok(auth_type)) => {
            row["auth_type"] = json!(auth_type);
            row["valid"] = json!(true);
        }
        Ok(Err(err)) => {
            row["valid"] = json!(false);
            row["error"] = json!(err.message());
        }
        Err(_) => {
            row["valid"] = json!(false);
            row["error"] = json!(format!("no answer within {PROFILE_CHECK_TIMEOUT:?}"));
        }
    }
    row
}

async fn token(session: &Session) -> Result<(), CliError> {
    let client = client_without_browser(session.config(None)?).await?;
    let headers = client.api().auth_headers().await?;
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some((token_type, access_token)) =
        authorization.split_once(' ').filter(|(t, _)| t.eq_ignore_ascii_case("bearer"))
    else {
        return Err(CliError::from(brickwork::Error::auth(format!(
            "{} gives no bearer token to print",
            client.auth_type()
        ))));
    };
    // JSON in both modes, as the official CLI prints it.
    session.printer().json(&json!({"access_token": access_token, "token_type": token_type}))
}

async fn login(session: &Session, port: u16, timeout: Duration) -> Result<(), CliError> {
    let cfg = session.config(Some("external-browser"))?;
    let settings = *cfg.settings();
    let ctx = AuthContext::new(settings.http_timeout, settings.skip_verify)?;
    ExternalBrowser::default().with_port(port).with_login_timeout(timeout).login(&cfg, &ctx).await?;
    let host = cfg.host().unwrap_or_default();
    match session.output() {
        Output::Json => session.printer().json(&json!({"status": "success", "host": host})),
        Output::Text => {
            crate::output::lines(&[format!("Logged in to {host}; the login is kept in ~/.databricks/token-cache.json")])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let vars = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::builder().environment(vars).build().expect("a valid configuration")
    }

    #[test]
    fn an_accounts_console_is_proven_by_its_workspaces_and_a_workspace_by_who_am_i() {
        let account = config(&[
            ("DATABRICKS_HOST", "https://accounts.cloud.databricks.com"),
            ("DATABRICKS_ACCOUNT_ID", "abc-123"),
            ("DATABRICKS_TOKEN", "t"),
        ]);
        assert_eq!(identity_path(&account), "/api/2.0/accounts/abc-123/workspaces");
        let workspace = config(&[("DATABRICKS_HOST", "https://dbc-1.cloud.databricks.com"), ("DATABRICKS_TOKEN", "t")]);
        assert_eq!(identity_path(&workspace), "/api/2.0/preview/scim/v2/Me");
    }
}

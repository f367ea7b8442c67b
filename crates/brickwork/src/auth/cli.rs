//! `databricks-cli`: tokens from `databricks auth token --host ...`, i.e. a
//! login the user made with the official CLI (`databricks auth login`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::{AuthContext, CredentialStrategy, CredentialsProvider, Token, TokenCache, TokenSource};
use crate::config::Config;
use crate::error::{Error, Result};

/// Tokens from the official `databricks` CLI (needs `host` and the CLI on
/// `PATH`, or `databricks_cli_path`).
#[derive(Debug, Clone, Copy)]
pub struct DatabricksCli;

#[async_trait]
impl CredentialStrategy for DatabricksCli {
    fn auth_type(&self) -> &'static str {
        "databricks-cli"
    }

    async fn configure(&self, cfg: &Config, _: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let Some(host) = cfg.host() else {
            return Ok(None);
        };
        let Some(program) = find_cli(cfg) else {
            tracing::debug!("databricks CLI not found");
            return Ok(None);
        };
        let mut args = vec!["auth".to_string(), "token".to_string(), "--host".to_string(), host.to_string()];
        if cfg.is_account_client() {
            if let Some(account_id) = cfg.account_id() {
                args.extend(["--account-id".to_string(), account_id.to_string()]);
            }
        }
        let source = Arc::new(CliTokenSource { program, args });
        match source.token().await {
            Ok(first) => Ok(Some(Arc::new(TokenCache::with_token(source, first)))),
            // Not logged in with OAuth: let the chain move on.
            Err(e) if e.message().contains("databricks OAuth is not") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `databricks_cli_path` (a path, or a name looked up on `PATH`), else `databricks` on `PATH`.
fn find_cli(cfg: &Config) -> Option<PathBuf> {
    let name = cfg.get("databricks_cli_path").unwrap_or("databricks");
    if name.contains(std::path::MAIN_SEPARATOR) {
        return Some(PathBuf::from(name)).filter(|p| p.is_file());
    }
    let path = cfg.env_var("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[derive(Debug)]
struct CliTokenSource {
    program: PathBuf,
    args: Vec<String>,
}

#[derive(Deserialize)]
struct CliToken {
    access_token: String,
    #[serde(default)]
    token_type: String,
    expiry: String,
}

#[async_trait]
impl TokenSource for CliTokenSource {
    async fn token(&self) -> Result<Token> {
        let output = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| Error::auth(format!("cannot run {}: {e}", self.program.display())))?;
        if !output.status.success() {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let message: Vec<&str> = [stdout.trim(), stderr.trim()].into_iter().filter(|s| !s.is_empty()).collect();
            return Err(Error::auth(format!("cannot get access token: {}", message.join("\n"))));
        }
        let parsed: CliToken = serde_json::from_slice(&output.stdout)
            .map_err(|e| Error::auth(format!("cannot unmarshal CLI result: {e}")))?;
        let expiry = parse_expiry(&parsed.expiry)
            .ok_or_else(|| Error::auth(format!("cannot unmarshal CLI result: invalid expiry {:?}", parsed.expiry)))?;
        Ok(Token::expiring_at(parsed.access_token, parsed.token_type, expiry))
    }
}

/// RFC 3339 with an offset, or a naive `YYYY-MM-DD[T ]HH:MM:SS[.frac]` taken as UTC.
fn parse_expiry(raw: &str) -> Option<SystemTime> {
    if let Ok(t) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Some(t.into());
    }
    let naive = raw.trim_end_matches('Z').split('.').next()?.replace(' ', "T");
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(&naive, format).ok().map(|t| t.assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_formats() {
        assert!(parse_expiry("2030-10-18T10:44:26.187541+02:00").is_some());
        assert!(parse_expiry("2030-10-18T10:44:26Z").is_some());
        assert!(parse_expiry("2030-10-18 10:44:26").is_some());
        assert!(parse_expiry("tomorrow").is_none());
    }
}

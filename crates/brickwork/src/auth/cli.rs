//! `databricks-cli`: tokens from `databricks auth token --host ...`, i.e. a
//! login the user made with the official CLI (`databricks auth login`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

    fn needs(&self) -> &'static [&'static str] {
        &["host"]
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some("with the databricks CLI on PATH (or databricks_cli_path), logged in with `databricks auth login`")
    }

    async fn configure(&self, cfg: &Config, _: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let Some(host) = cfg.host() else {
            return Ok(None);
        };
        let Some(program) = find_cli(cfg) else {
            tracing::debug!("databricks CLI not found (or only the legacy pip CLI)");
            return Ok(None);
        };
        let version = cli_version(&program).await;
        let args = token_args(cfg, host, version);
        let timeout = cfg.settings().http_timeout;
        let source = Arc::new(CliTokenSource { program, args, timeout });
        match source.token().await {
            Ok(first) => Ok(Some(Arc::new(TokenCache::with_token(source, first)))),
            // Not logged in with OAuth: let the chain move on.
            Err(e) if e.message().contains("databricks OAuth is not") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// First CLI versions with `auth token --profile` and `--force-refresh`.
const CLI_WITH_PROFILE: (i64, i64, i64) = (0, 207, 1);
const CLI_WITH_FORCE_REFRESH: (i64, i64, i64) = (0, 296, 0);
/// How long `databricks version` may take (a first run can scan the disk).
const VERSION_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `auth token` for the configured profile when the CLI knows `--profile`
/// (the host alone may match another login), else for the host; with
/// `--force-refresh` when the CLI has it, so a refresh is a new token.
fn token_args(cfg: &Config, host: &str, version: (i64, i64, i64)) -> Vec<String> {
    let mut args = vec!["auth".to_string(), "token".to_string()];
    match cfg.profile() {
        Some(profile) if version >= CLI_WITH_PROFILE => args.extend(["--profile".to_string(), profile.to_string()]),
        _ => {
            args.extend(["--host".to_string(), host.to_string()]);
            if cfg.is_account_client() {
                if let Some(account_id) = cfg.account_id() {
                    args.extend(["--account-id".to_string(), account_id.to_string()]);
                }
            }
        }
    }
    if version >= CLI_WITH_FORCE_REFRESH {
        args.push("--force-refresh".to_string());
    }
    args
}

/// `databricks version --output json` as (major, minor, patch); unknown
/// (`-1`s, so no optional flag is used) if it fails or takes too long.
async fn cli_version(program: &Path) -> (i64, i64, i64) {
    let probe = tokio::process::Command::new(program).args(["version", "--output", "json"]).kill_on_drop(true).output();
    let output = match tokio::time::timeout(VERSION_PROBE_TIMEOUT, probe).await {
        Ok(Ok(output)) if output.status.success() => output.stdout,
        _ => {
            tracing::warn!("cannot tell the Databricks CLI's version: using only the flags every version has");
            return (-1, -1, -1);
        }
    };
    let parsed: serde_json::Value = serde_json::from_slice(&output).unwrap_or_default();
    let part = |k: &str| parsed.get(k).and_then(serde_json::Value::as_i64);
    match (part("Major"), part("Minor"), part("Patch")) {
        (Some(a), Some(b), Some(c)) => (a, b, c),
        _ => (-1, -1, -1),
    }
}

/// `databricks_cli_path` (a path, or a name looked up on `PATH`), else
/// `databricks` on `PATH`, skipping the legacy pip CLI (`databricks-cli`,
/// which has no `auth token`).
fn find_cli(cfg: &Config) -> Option<PathBuf> {
    let name = cfg.get("databricks_cli_path").unwrap_or("databricks");
    if name.contains(std::path::MAIN_SEPARATOR) {
        return Some(PathBuf::from(name)).filter(|p| p.is_file() && !is_legacy_cli(p));
    }
    find_on_path(cfg, name, |p| !is_legacy_cli(p))
}

/// The pip CLI is a small Python entry script; the Go CLI is megabytes.
fn is_legacy_cli(path: &Path) -> bool {
    const GO_CLI_MIN_SIZE: u64 = 1024 * 1024;
    const LEGACY_MARKER: &[u8] = b"from databricks_cli.cli import ";
    if path.metadata().is_ok_and(|m| m.len() >= GO_CLI_MIN_SIZE) {
        return false;
    }
    std::fs::read(path).is_ok_and(|content| content.windows(LEGACY_MARKER.len()).any(|w| w == LEGACY_MARKER))
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
    /// A CLI that hangs fails the token request instead of every call.
    timeout: Duration,
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
        let stdout = run_command(&self.program, &self.args, self.timeout).await?;
        let parsed: CliToken =
            serde_json::from_slice(&stdout).map_err(|e| Error::auth(format!("cannot unmarshal CLI result: {e}")))?;
        let expiry = parse_expiry(&parsed.expiry)
            .ok_or_else(|| Error::auth(format!("cannot unmarshal CLI result: invalid expiry {:?}", parsed.expiry)))?;
        Ok(Token::expiring_at(parsed.access_token, parsed.token_type, expiry))
    }
}

/// Run a token-printing command (`databricks auth token`, `az account
/// get-access-token`) and return its standard output; a failure carries
/// what it printed, and a command that hangs is killed after `timeout`.
pub(super) async fn run_command(program: &Path, args: &[String], timeout: Duration) -> Result<Vec<u8>> {
    run(program, args, timeout, Stdout::ShownOnFailure).await
}

/// [`run_command`] for a program whose output holds the secret even when it
/// fails (the runtime's Python prints the token, then may exit non-zero): a
/// failure carries its exit status and standard error only.
pub(super) async fn run_command_with_secret_output(
    program: &Path,
    args: &[String],
    timeout: Duration,
) -> Result<Vec<u8>> {
    run(program, args, timeout, Stdout::Secret).await
}

/// Whether a failed command's standard output may go into the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stdout {
    ShownOnFailure,
    Secret,
}

/// Attempts at starting a helper whose file is still open for writing.
const BUSY_ATTEMPTS: u32 = 5;

async fn run(program: &Path, args: &[String], timeout: Duration, stdout: Stdout) -> Result<Vec<u8>> {
    let output = tokio::time::timeout(timeout, output_of(program, args))
        .await
        .map_err(|_| Error::auth(format!("{} did not answer within {timeout:?}", program.display())))?
        .map_err(|e| Error::auth(format!("cannot run {}: {e}", program.display())))?;
    if !output.status.success() {
        let printed = match stdout {
            Stdout::ShownOnFailure => String::from_utf8_lossy(&output.stdout),
            Stdout::Secret => std::borrow::Cow::Borrowed(""),
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message: Vec<&str> = [printed.trim(), stderr.trim()].into_iter().filter(|s| !s.is_empty()).collect();
        if message.is_empty() {
            return Err(Error::auth(format!(
                "cannot get access token: {} exited with {}",
                program.display(),
                output.status
            )));
        }
        return Err(Error::auth(format!("cannot get access token: {}", message.join("\n"))));
    }
    Ok(output.stdout)
}

/// Run `program` to its end. A helper that was just written (by an
/// installer, a provisioning script, another thread of this process) can be
/// refused with "text file busy" for as long as any process still holds it
/// open for writing: a child forked meanwhile keeps a copy of that handle
/// until it executes. That passes within milliseconds, so it is tried again.
async fn output_of(program: &Path, args: &[String]) -> std::io::Result<std::process::Output> {
    let mut attempt = 1;
    loop {
        match tokio::process::Command::new(program).args(args).kill_on_drop(true).output().await {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempt < BUSY_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// The first executable named `name` on the `PATH` this config sees that `accept`s.
pub(super) fn find_on_path(cfg: &Config, name: &str, accept: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let path = cfg.env_var("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p) && accept(p))
}

/// RFC 3339 with an offset, or a naive `YYYY-MM-DD[T ]HH:MM:SS[.frac]` taken as UTC.
pub(super) fn parse_expiry(raw: &str) -> Option<SystemTime> {
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

    #[cfg(unix)]
    #[tokio::test]
    async fn a_helper_still_open_for_writing_for_a_moment_is_run_once_it_is_released() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("helper");
        let mut writing = std::fs::File::create(&path).expect("create");
        writing.write_all(b"#!/bin/sh\necho ready\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // The handle a writer (or a child forked meanwhile) still holds.
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            drop(writing);
        });
        let out = run_command(&path, &[], Duration::from_secs(10)).await.expect("run once released");
        assert_eq!(out, b"ready\n");
        released.join().expect("thread");
    }
}

//! `runtime` and `runtime-oauth`: inside a Databricks notebook or job
//! (`DATABRICKS_RUNTIME_VERSION` is set), the credentials the runtime gives
//! the code it runs.
//!
//! The runtime hands them out through its Python package (`dbruntime`), which
//! only Python can call. brickwork asks the runtime's own interpreter, as it
//! asks `az` or the `databricks` CLI for theirs: a short script prints the
//! workspace URL and the `Authorization` header, as JSON, to this process.
//! `runtime` sends that token; `runtime-oauth` (when `scopes` are set)
//! exchanges it at the workspace's token endpoint for an OAuth token of
//! those scopes, asking the runtime again at each refresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::cli::{find_on_path, run_command_with_secret_output};
use super::oauth::{exchange_token_cache, IdTokenSource};
use super::{
    decline_unless_chosen, AuthContext, CredentialStrategy, CredentialsProvider, OidcEndpoints, Token, TokenCache,
    TokenSource, WithDiscoveredHost,
};
use crate::config::{normalize_host, Config};
use crate::error::{Error, Result};

/// The interpreter Databricks Runtime installs for notebooks and jobs.
const RUNTIME_PYTHON: &str = "/databricks/python3/bin/python3";
/// The runtime is asked again after this long by default: its tokens rotate.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(300);
const WHERE: &str =
    "inside a Databricks notebook or job (DATABRICKS_RUNTIME_VERSION set, the runtime's Python present)";

/// Asks the runtime, through `dbruntime`, for the workspace and its token.
/// Tries the unified provider, then the native one, then the REPL context,
/// as the runtime offers them (one that is missing makes way for the next;
/// one that fails ends the search with the name of its exception, never its
/// message, which may hold a credential); prints `{}` when none answers.
const ASK_RUNTIME: &str = r#"
import json
def answer():
    try:
        from dbruntime.sdk_credential_provider import init_runtime_native_unified
        host, account_id, workspace_id, headers = init_runtime_native_unified()
        if host:
            return {"host": host, "headers": headers(), "account_id": account_id, "workspace_id": workspace_id}
    except ImportError:
        pass
    except Exception as e:
        return {"error": type(e).__name__}
    try:
        from dbruntime.sdk_credential_provider import init_runtime_native_auth
        host, headers = init_runtime_native_auth()
        if host:
            return {"host": host, "headers": headers()}
    except ImportError:
        pass
    except Exception as e:
        return {"error": type(e).__name__}
    try:
        from dbruntime.databricks_repl_context import get_context
        context = get_context()
        if context is not None and context.workspaceUrl and context.apiToken:
            url = context.workspaceUrl
            host = url if "://" in url else "https://" + url
            return {"host": host, "headers": {"Authorization": "Bearer " + context.apiToken}}
    except ImportError:
        pass
    except Exception as e:
        return {"error": type(e).__name__}
    return {}
print(json.dumps(answer()))
"#;

/// The runtime's Python, asked for credentials.
#[derive(Debug, Clone)]
pub(super) struct RuntimeBridge {
    python: PathBuf,
    timeout: Duration,
}

/// What the runtime answered.
#[derive(Deserialize)]
struct RuntimeAnswer {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl RuntimeBridge {
    /// In the runtime (`DATABRICKS_RUNTIME_VERSION`), its Python: `python`
    /// when given, else the runtime's install path, else `python3` on `PATH`.
    fn find(cfg: &Config, python: Option<&Path>) -> std::result::Result<Option<RuntimeBridge>, Error> {
        if cfg.env_var("DATABRICKS_RUNTIME_VERSION").is_none_or(|v| v.trim().is_empty()) {
            return Ok(None);
        }
        let python = match python {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(RUNTIME_PYTHON))
                .filter(|p| p.is_file())
                .or_else(|| find_on_path(cfg, "python3", |_| true)),
        };
        let python = python.ok_or_else(|| Error::auth("no Python interpreter of the Databricks runtime was found"))?;
        Ok(Some(RuntimeBridge { python, timeout: cfg.settings().http_timeout }))
    }

    async fn ask(&self) -> Result<(String, String)> {
        let stdout =
            run_command_with_secret_output(&self.python, &["-c".to_string(), ASK_RUNTIME.to_string()], self.timeout)
                .await?;
        // The position only: a serde message may quote the token.
        let answer: RuntimeAnswer = serde_json::from_slice(&stdout).map_err(|e| {
            Error::auth(format!(
                "the Databricks runtime answered invalid JSON (line {} column {})",
                e.line(),
                e.column()
            ))
        })?;
        if let Some(error) = answer.error {
            return Err(Error::auth(format!("the Databricks runtime's credential provider failed: {error}")));
        }
        let host = answer.host.filter(|h| !h.is_empty()).ok_or_else(|| {
            Error::auth("the Databricks runtime offers no credentials to this process (no workspace URL)")
        })?;
        let authorization = answer
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value.trim().to_string())
            .ok_or_else(|| Error::auth("the Databricks runtime answered without an Authorization header"))?;
        Ok((normalize_host(&host), authorization))
    }

    /// The bearer token the runtime gives this notebook or job.
    pub(super) async fn notebook_token(&self) -> Result<String> {
        let (_, authorization) = self.ask().await?;
        bearer(&authorization).map(str::to_string)
    }
}

fn bearer(authorization: &str) -> Result<&str> {
    match authorization.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(Error::auth("the Databricks runtime's Authorization header is not a bearer token")),
    }
}

/// The runtime's workspace, unless a different host was configured (its
/// token would be sent to a workspace that does not know it).
fn runtime_host(cfg: &Config, runtime_host: &str) -> std::result::Result<Option<String>, Error> {
    match cfg.host().map(normalize_host) {
        None => Ok(Some(runtime_host.to_string())),
        Some(configured) if configured == runtime_host => Ok(None),
        Some(configured) => Err(Error::auth(format!(
            "the Databricks runtime is in workspace {runtime_host}, not the configured {configured}"
        ))),
    }
}

const DISCOVERED_FROM: &str = "the Databricks runtime";

/// The runtime's own token for this notebook or job (`runtime`).
#[derive(Debug, Clone)]
pub struct Runtime {
    python: Option<PathBuf>,
    ask_again_after: Duration,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime { python: None, ask_again_after: ASK_AGAIN_AFTER }
    }
}

impl Runtime {
    /// Ask this Python interpreter instead of looking for the runtime's.
    pub fn with_python(python: impl Into<PathBuf>) -> Self {
        Runtime { python: Some(python.into()), ..Runtime::default() }
    }

    /// Ask the runtime for a new token this often (default 5 minutes).
    pub fn ask_again_after(mut self, interval: Duration) -> Self {
        self.ask_again_after = interval;
        self
    }
}

#[async_trait]
impl CredentialStrategy for Runtime {
    fn auth_type(&self) -> &'static str {
        "runtime"
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some(WHERE)
    }

    async fn configure(&self, cfg: &Config, _: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let bridge = match RuntimeBridge::find(cfg, self.python.as_deref()) {
            Ok(Some(bridge)) => bridge,
            Ok(None) => return Ok(None),
            Err(e) => return decline_unless_chosen(cfg, self.auth_type(), e),
        };
        let first = match bridge.ask().await.and_then(|(host, auth)| Ok((runtime_host(cfg, &host)?, auth))) {
            Ok(answer) => answer,
            Err(e) => return decline_unless_chosen(cfg, self.auth_type(), e),
        };
        let (host, authorization) = first;
        let token = match bearer(&authorization) {
            Ok(token) => Token::new(token, "Bearer", Some(self.ask_again_after)),
            Err(e) => return decline_unless_chosen(cfg, self.auth_type(), e),
        };
        let notebook_tokens = NotebookTokens { bridge, ask_again_after: self.ask_again_after };
        let tokens = TokenCache::with_token(Arc::new(notebook_tokens), token);
        Ok(Some(Arc::new(WithDiscoveredHost::new(tokens, host, DISCOVERED_FROM))))
    }
}

/// The runtime's token, asked again at each refresh.
#[derive(Debug)]
struct NotebookTokens {
    bridge: RuntimeBridge,
    ask_again_after: Duration,
}

#[async_trait]
impl TokenSource for NotebookTokens {
    async fn token(&self) -> Result<Token> {
        Ok(Token::new(self.bridge.notebook_token().await?, "Bearer", Some(self.ask_again_after)))
    }
}

/// The runtime's token exchanged for an OAuth token of the configured
/// `scopes` (`runtime-oauth`).
#[derive(Debug, Clone, Default)]
pub struct RuntimeOAuth {
    python: Option<PathBuf>,
}

impl RuntimeOAuth {
    /// Ask this Python interpreter instead of looking for the runtime's.
    pub fn with_python(python: impl Into<PathBuf>) -> Self {
        RuntimeOAuth { python: Some(python.into()) }
    }
}

#[async_trait]
impl CredentialStrategy for RuntimeOAuth {
    fn auth_type(&self) -> &'static str {
        "runtime-oauth"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["scopes"]
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some(WHERE)
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        if !cfg.is_set("scopes") {
            return Ok(None);
        }
        let bridge = match RuntimeBridge::find(cfg, self.python.as_deref()) {
            Ok(Some(bridge)) => bridge,
            Ok(None) => return Ok(None),
            Err(e) => return decline_unless_chosen(cfg, self.auth_type(), e),
        };
        let discovered = match bridge.ask().await.and_then(|(host, _)| Ok((runtime_host(cfg, &host)?, host))) {
            Ok(answer) => answer,
            Err(e) => return decline_unless_chosen(cfg, self.auth_type(), e),
        };
        let (discovered, workspace) = discovered;
        let endpoints = OidcEndpoints {
            token_endpoint: format!("{workspace}/oidc/v1/token"),
            authorization_endpoint: String::new(),
        };
        let tokens = exchange_token_cache(cfg, ctx, endpoints, IdTokenSource::Notebook(bridge));
        // Scopes set in the runtime ask for a narrower token: a refused
        // exchange is an error, never a silent step to the notebook's
        // full-access token (`runtime`), as in the official SDKs.
        tokens.token().await?;
        Ok(Some(Arc::new(WithDiscoveredHost::new(tokens, discovered, DISCOVERED_FROM))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_headers_are_taken() {
        assert_eq!(bearer("Bearer abc").ok(), Some("abc"));
        assert_eq!(bearer("bearer  abc ").ok(), Some("abc"));
        assert!(bearer("Basic abc").is_err());
        assert!(bearer("Bearer ").is_err());
    }
}

//! `model-serving`: inside a Databricks model serving endpoint, the OAuth
//! token the platform mounts for the model's dependencies, read again every
//! few minutes because the platform rotates it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::{
    decline_unless_chosen, AuthContext, CredentialStrategy, CredentialsProvider, Token, TokenCache, TokenSource,
    WithDiscoveredHost,
};
use crate::config::Config;
use crate::error::{Error, Result};

/// Where the platform mounts the token.
pub const MODEL_SERVING_TOKEN_FILE: &str = "/var/credentials-secret/model-dependencies-oauth-token";
/// Moves the token file (a container that mounts it elsewhere, or a test of
/// a whole program): not an official variable.
const TOKEN_FILE_OVERRIDE: &str = "BRICKWORK_MODEL_SERVING_TOKEN_FILE";
/// The file is read again after this long, as the official SDKs do.
const REREAD_AFTER: Duration = Duration::from_secs(300);
/// A read that races the platform's rewrite is tried once more after this.
const RETRY_READ_AFTER: Duration = Duration::from_millis(500);

/// The model serving environment's token (`IS_IN_DB_MODEL_SERVING_ENV` or
/// `IS_IN_DATABRICKS_MODEL_SERVING_ENV` is `true` and the token file
/// exists); the host, when none is configured, from
/// `DATABRICKS_MODEL_SERVING_HOST_URL` or `DB_MODEL_SERVING_HOST_URL`. The
/// token file is the platform's mount unless `BRICKWORK_MODEL_SERVING_TOKEN_FILE`
/// or [`ModelServing::with_token_file`] names another.
#[derive(Debug, Clone)]
pub struct ModelServing {
    token_file: Option<PathBuf>,
    reread_after: Duration,
}

impl Default for ModelServing {
    fn default() -> Self {
        ModelServing { token_file: None, reread_after: REREAD_AFTER }
    }
}

impl ModelServing {
    /// Read the token from `path` instead of the platform's mount (tests,
    /// or a serving container that mounts it elsewhere).
    pub fn with_token_file(path: impl Into<PathBuf>) -> Self {
        ModelServing { token_file: Some(path.into()), ..ModelServing::default() }
    }

    /// Read the file again after `interval` instead of 5 minutes.
    pub fn reread_after(mut self, interval: Duration) -> Self {
        self.reread_after = interval;
        self
    }
}

#[async_trait]
impl CredentialStrategy for ModelServing {
    fn auth_type(&self) -> &'static str {
        "model-serving"
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some("inside a Databricks model serving endpoint (IS_IN_DB_MODEL_SERVING_ENV=true and its token file mounted)")
    }

    async fn configure(&self, cfg: &Config, _: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let flag = |name: &str| cfg.env_var(name).is_some_and(|v| v == "true");
        let in_serving = flag("IS_IN_DB_MODEL_SERVING_ENV") || flag("IS_IN_DATABRICKS_MODEL_SERVING_ENV");
        let token_file = self.token_file.clone().unwrap_or_else(|| {
            cfg.env_var(TOKEN_FILE_OVERRIDE).map_or_else(|| PathBuf::from(MODEL_SERVING_TOKEN_FILE), PathBuf::from)
        });
        if !in_serving || !token_file.is_file() {
            return Ok(None);
        }
        let host = match cfg.host() {
            Some(_) => None,
            None => {
                cfg.env_var("DATABRICKS_MODEL_SERVING_HOST_URL").or_else(|| cfg.env_var("DB_MODEL_SERVING_HOST_URL"))
            }
        };
        let source = Arc::new(TokenFile { path: token_file, reread_after: self.reread_after });
        let first = match source.token().await {
            Ok(token) => token,
            Err(e) => return decline_unless_chosen(cfg, self.auth_type(), e),
        };
        tracing::info!("using the model serving environment's token");
        let tokens = TokenCache::with_token(source, first);
        Ok(Some(Arc::new(WithDiscoveredHost::new(tokens, host, "the model serving environment"))))
    }
}

#[derive(Debug)]
struct TokenFile {
    path: PathBuf,
    reread_after: Duration,
}

#[async_trait]
impl TokenSource for TokenFile {
    async fn token(&self) -> Result<Token> {
        match read_token(&self.path, self.reread_after) {
            Ok(token) => Ok(token),
            Err(e) => {
                tracing::debug!("retrying the model serving token read: {e}");
                tokio::time::sleep(RETRY_READ_AFTER).await;
                read_token(&self.path, self.reread_after)
            }
        }
    }
}

/// `{"OAUTH_TOKEN": [{"oauthTokenValue": "..."}]}`, kept for `reread_after`.
fn read_token(path: &Path, reread_after: Duration) -> Result<Token> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::auth(format!("cannot read the model serving token file {}: {e}", path.display())))?;
    let parsed: Value = serde_json::from_str(&text)
        .map_err(|e| Error::auth(format!("the model serving token file is not JSON: {e}")))?;
    let token = parsed
        .pointer("/OAUTH_TOKEN/0/oauthTokenValue")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::auth("the model serving token file has no OAUTH_TOKEN[0].oauthTokenValue"))?;
    Ok(Token::new(token, "Bearer", Some(reread_after)))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[tokio::test]
    async fn each_refresh_reads_the_file_again_and_bad_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("brickwork-serving-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token");
        let write = |value: &str| {
            std::fs::write(&path, format!(r#"{{"OAUTH_TOKEN":[{{"oauthTokenValue":"{value}"}}]}}"#)).expect("write")
        };
        let source = TokenFile { path: path.clone(), reread_after: REREAD_AFTER };
        write("first");
        assert_eq!(source.token().await.expect("first").access_token().expose_secret(), "first");
        write("rotated");
        assert_eq!(source.token().await.expect("rotated").access_token().expose_secret(), "rotated");
        for bad in ["not json", r#"{"OAUTH_TOKEN":[]}"#, r#"{"OAUTH_TOKEN":[{"oauthTokenValue":""}]}"#] {
            std::fs::write(&path, bad).expect("write");
            assert!(read_token(&path, REREAD_AFTER).is_err(), "{bad}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! [`Client`]: configuration, credentials and transport in one cheap handle.

use std::fmt;
use std::sync::Arc;

use crate::auth::{AuthContext, DefaultCredentials};
use crate::config::{Config, ConfigBuilder};
use crate::error::{Error, Result};
use crate::transport::{ApiClient, ApiClientParts, RetryPolicy};

/// A configured, authenticated Databricks client. Clones share one
/// connection pool, token cache and rate limiter.
#[derive(Clone)]
pub struct Client {
    config: Arc<Config>,
    api: ApiClient,
    auth_type: &'static str,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("config", &self.config).field("auth_type", &self.auth_type).finish()
    }
}

impl Client {
    /// Resolve configuration from the environment and `~/.databrickscfg`,
    /// then credentials, as the official SDKs do.
    pub async fn from_env() -> Result<Client> {
        Self::builder().build().await
    }

    /// A client for an already resolved configuration.
    pub async fn new(config: Config) -> Result<Client> {
        Self::builder().config(config).build().await
    }

    /// Customise credentials, retries or the `User-Agent`.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The raw transport, for endpoints without a typed wrapper.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The resolved configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The auth type that was selected (`pat`, `oauth-m2m`, ...).
    pub fn auth_type(&self) -> &'static str {
        self.auth_type
    }
}

enum ConfigInput {
    Resolved(Config),
    Builder(ConfigBuilder),
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    config: ConfigInput,
    credentials: DefaultCredentials,
    retry: RetryPolicy,
    product: Option<(String, String)>,
    user_agent_extra: Vec<(String, String)>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            config: ConfigInput::Builder(Config::builder()),
            credentials: DefaultCredentials::default(),
            retry: RetryPolicy::default(),
            product: None,
            user_agent_extra: Vec::new(),
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder").field("retry", &self.retry).finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Use this resolved configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = ConfigInput::Resolved(config);
        self
    }

    /// Resolve this configuration builder at [`build`](Self::build).
    pub fn config_builder(mut self, builder: ConfigBuilder) -> Self {
        self.config = ConfigInput::Builder(builder);
        self
    }

    /// Replace the credential chain (e.g. to add a custom strategy).
    pub fn credentials(mut self, chain: DefaultCredentials) -> Self {
        self.credentials = chain;
        self
    }

    /// Backoff settings (the budget and attempt limit come from the config).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Name the application in the `User-Agent` (`my-app/1.2 brickwork/...`).
    pub fn product(mut self, name: &str, version: &str) -> Self {
        self.product = Some((sanitize(name), sanitize(version)));
        self
    }

    /// Add a `key/value` segment to the `User-Agent`.
    pub fn user_agent_extra(mut self, key: &str, value: &str) -> Self {
        self.user_agent_extra.push((sanitize(key), sanitize(value)));
        self
    }

    /// Resolve configuration and credentials and build the client.
    pub async fn build(self) -> Result<Client> {
        let config = match self.config {
            ConfigInput::Resolved(config) => config,
            ConfigInput::Builder(builder) => builder.build()?,
        };
        let settings = *config.settings();
        let ctx = AuthContext::new(settings.http_timeout, settings.skip_verify)?;
        let resolved = self.credentials.resolve(&config, &ctx).await?;
        let config = match (config.host(), resolved.provider.discovered_host()) {
            (None, Some((found, from))) => config.with_discovered_host(found, from),
            _ => config,
        };
        let host = config.host().ok_or_else(|| config.wrap(Error::config("host is not configured")))?;
        reqwest::Url::parse(host).map_err(|e| config.wrap(Error::config(format!("invalid host {host:?}: {e}"))))?;
        let user_agent = user_agent(self.product.as_ref(), &self.user_agent_extra, resolved.auth_type);
        let api = ApiClient::new(ApiClientParts {
            base_url: host.to_string(),
            credentials: resolved.provider,
            user_agent,
            workspace_id: config.get("workspace_id").map(str::to_string),
            retry: self.retry,
            settings,
        })?;
        tracing::debug!(host, auth_type = resolved.auth_type, "client ready");
        Ok(Client { config: Arc::new(config), api, auth_type: resolved.auth_type })
    }
}

/// `[product/ver ]brickwork/<ver> os/<os> arch/<arch> [k/v ...] auth/<type>`,
/// the shape of the official SDKs' header.
fn user_agent(product: Option<&(String, String)>, extra: &[(String, String)], auth_type: &str) -> String {
    let mut parts = Vec::new();
    if let Some((name, version)) = product {
        parts.push(format!("{name}/{version}"));
    }
    parts.push(format!("brickwork/{}", env!("CARGO_PKG_VERSION")));
    parts.push(format!("os/{}", std::env::consts::OS));
    parts.push(format!("arch/{}", std::env::consts::ARCH));
    parts.extend(extra.iter().map(|(k, v)| format!("{k}/{v}")));
    parts.push(format!("auth/{auth_type}"));
    parts.join(" ")
}

/// User-Agent segments allow `[0-9A-Za-z_.+-]` only, as in the official SDKs.
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "_.+-".contains(c) { c } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_shape() {
        let ua = user_agent(Some(&("etl".into(), "1.0".into())), &[("team".into(), "data".into())], "pat");
        assert!(ua.starts_with("etl/1.0 brickwork/"));
        assert!(ua.contains(" team/data ") && ua.ends_with(" auth/pat"));
        assert_eq!(sanitize("my app/1"), "my-app-1");
    }
}

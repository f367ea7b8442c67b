//! Credentials: the unified-auth chain of the official SDKs.
//!
//! A [`CredentialStrategy`] looks at a [`Config`] and either declines (`Ok(None)`:
//! it lacks what it needs) or returns a [`CredentialsProvider`] that signs
//! requests. [`DefaultCredentials`] tries strategies in the official order, or
//! only the one named by `auth_type`. New auth types (Azure, GCP, U2M, ...)
//! are new strategies: the transport only ever sees a `CredentialsProvider`.
//!
//! Implemented, in the official order: `pat`, `basic`, `metadata-service`,
//! `oauth-m2m`, `env-oidc`, `file-oidc`, `github-oidc`, `azure-msi` (the Go
//! SDK's; the Python SDK has none), `azure-client-secret`,
//! `github-oidc-azure`, `azure-cli`, `azure-devops-oidc`, `external-browser`,
//! `databricks-cli`, `runtime-oauth`, `runtime`,
//! `google-credentials`, `google-id`, `model-serving`.

mod azure;
mod cli;
mod gcp;
mod metadata_service;
mod model_serving;
mod oauth;
mod runtime;
mod static_credentials;
mod token;
mod u2m;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;

pub use azure::{AzureCli, AzureClientSecret, AzureMsi, GitHubOidcAzure};
pub use cli::DatabricksCli;
pub use gcp::{GoogleCredentials, GoogleId};
pub use metadata_service::MetadataService;
pub use model_serving::{ModelServing, MODEL_SERVING_TOKEN_FILE};
pub use oauth::{CiOidc, OAuthM2m, OidcEndpoints, WorkloadIdentityFederation};
pub use runtime::{Runtime, RuntimeOAuth};
pub use static_credentials::{Basic, Pat};
pub use token::{Token, TokenCache, TokenSource};
pub use u2m::{ExternalBrowser, CLI_CLIENT_ID};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::transport::{read_limited, BodyError};

/// Where the unified-auth documentation lives; named in "cannot configure" errors.
pub const AUTH_DOCS_URL: &str =
    "https://docs.databricks.com/en/dev-tools/auth.html#databricks-client-unified-authentication";

/// Signs requests: returns the headers (usually `Authorization`) to add.
#[async_trait]
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// Headers for the next request; may refresh a token first.
    async fn headers(&self) -> Result<HeaderMap>;

    /// The workspace host found while configuring, for a configuration that
    /// named none, and where it was found (Azure: looked up from
    /// `azure_workspace_resource_id`; model serving: its environment).
    fn discovered_host(&self) -> Option<(&str, &'static str)> {
        None
    }
}

/// One auth method of the chain.
#[async_trait]
pub trait CredentialStrategy: Send + Sync + fmt::Debug {
    /// The `auth_type` name, e.g. `pat` or `oauth-m2m`.
    fn auth_type(&self) -> &'static str;

    /// Attributes this method cannot do without; named in the error when it
    /// was chosen by `auth_type` but did not apply.
    fn needs(&self) -> &'static [&'static str] {
        &[]
    }

    /// Where else it applies only (a CI job, a cloud, a program on `PATH`).
    fn applies_when(&self) -> Option<&'static str> {
        None
    }

    /// A provider when `cfg` has what this method needs, `Ok(None)` when it
    /// does not, an error when it applies but fails.
    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>>;
}

/// What strategies may use while configuring: an HTTP client for discovery
/// and token endpoints (no auth, no retries of its own).
#[derive(Clone, Debug)]
pub struct AuthContext {
    pub(crate) http: reqwest::Client,
    /// For reading where a login page redirects (the Azure tenant).
    pub(crate) no_redirect: reqwest::Client,
}

impl AuthContext {
    /// A context whose HTTP calls time out after `timeout`.
    pub fn new(timeout: Duration, skip_verify: bool) -> Result<Self> {
        let build = |redirects: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .timeout(timeout)
                .danger_accept_invalid_certs(skip_verify)
                .redirect(redirects)
                .build()
                .map_err(|e| Error::config(format!("cannot build HTTP client: {e}")).with_source(e))
        };
        Ok(AuthContext {
            http: build(reqwest::redirect::Policy::default())?,
            no_redirect: build(reqwest::redirect::Policy::none())?,
        })
    }
}

/// The result of resolving credentials: which method won, and its provider.
#[derive(Clone, Debug)]
pub struct ResolvedCredentials {
    /// The auth type that applied (goes into the `User-Agent`).
    pub auth_type: &'static str,
    /// Signs each request.
    pub provider: Arc<dyn CredentialsProvider>,
}

/// The credential chain: first applicable strategy wins.
#[derive(Clone, Debug)]
pub struct DefaultCredentials {
    strategies: Vec<Arc<dyn CredentialStrategy>>,
}

impl Default for DefaultCredentials {
    fn default() -> Self {
        DefaultCredentials {
            strategies: vec![
                Arc::new(Pat),
                Arc::new(Basic),
                Arc::new(MetadataService),
                Arc::new(OAuthM2m),
                Arc::new(WorkloadIdentityFederation::env()),
                Arc::new(WorkloadIdentityFederation::file()),
                Arc::new(CiOidc::github()),
                Arc::new(AzureMsi),
                Arc::new(AzureClientSecret),
                Arc::new(GitHubOidcAzure),
                Arc::new(AzureCli),
                Arc::new(CiOidc::azure_devops()),
                Arc::new(ExternalBrowser::default()),
                Arc::new(DatabricksCli),
                Arc::new(RuntimeOAuth::default()),
                Arc::new(Runtime::default()),
                Arc::new(GoogleCredentials),
                Arc::new(GoogleId),
                Arc::new(ModelServing::default()),
            ],
        }
    }
}

impl DefaultCredentials {
    /// A chain of exactly these strategies, tried in order.
    pub fn with_strategies(strategies: Vec<Arc<dyn CredentialStrategy>>) -> Self {
        DefaultCredentials { strategies }
    }

    /// Add a strategy at the end of the chain.
    pub fn push(mut self, strategy: Arc<dyn CredentialStrategy>) -> Self {
        self.strategies.push(strategy);
        self
    }

    /// Put `strategy` in the place of the one of the same auth type (added
    /// at the end when there is none), e.g. a browser login that never opens
    /// a browser.
    pub fn replace(mut self, strategy: Arc<dyn CredentialStrategy>) -> Self {
        match self.strategies.iter_mut().find(|s| s.auth_type() == strategy.auth_type()) {
            Some(slot) => *slot = strategy,
            None => self.strategies.push(strategy),
        }
        self
    }

    /// Auth types this chain can produce, in order.
    pub fn auth_types(&self) -> Vec<&'static str> {
        self.strategies.iter().map(|s| s.auth_type()).collect()
    }

    /// Pick credentials for `cfg`. Errors are prefixed like the official
    /// SDKs' (`default auth: ...`) and name what was configured.
    pub async fn resolve(&self, cfg: &Config, ctx: &AuthContext) -> Result<ResolvedCredentials> {
        self.try_resolve(cfg, ctx).await.map_err(|e| cfg.wrap(e))
    }

    async fn try_resolve(&self, cfg: &Config, ctx: &AuthContext) -> Result<ResolvedCredentials> {
        let forced = cfg.auth_type();
        if let Some(forced) = forced {
            if !self.strategies.iter().any(|s| s.auth_type() == forced) {
                return Err(Error::config(format!(
                    "auth type {forced:?} is not supported by brickwork; supported: {}",
                    self.auth_types().join(", ")
                )));
            }
        }
        for strategy in &self.strategies {
            let auth_type = strategy.auth_type();
            if forced.is_some_and(|f| f != auth_type) {
                continue;
            }
            tracing::debug!(auth_type, "attempting to configure auth");
            match strategy.configure(cfg, ctx).await {
                Ok(Some(provider)) => return Ok(ResolvedCredentials { auth_type, provider }),
                Ok(None) if forced.is_some() => return Err(does_not_apply(strategy.as_ref(), cfg)),
                Ok(None) => continue,
                Err(e) => {
                    let kind = if e.kind() == crate::ErrorKind::Transport { e.kind() } else { crate::ErrorKind::Auth };
                    return Err(Error::new(kind, format!("default auth: {auth_type}: {}", e.message())));
                }
            }
        }
        Err(Error::auth(format!(
            "default auth: cannot configure default credentials, please check {AUTH_DOCS_URL} to configure credentials for your preferred authentication method"
        )))
    }
}

/// Why the method `auth_type` chose did not apply: the attributes it
/// lacks, else the conditions it needs.
fn does_not_apply(strategy: &dyn CredentialStrategy, cfg: &Config) -> Error {
    let auth_type = strategy.auth_type();
    let missing: Vec<&str> = strategy.needs().iter().copied().filter(|n| !cfg.is_set(n)).collect();
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!("it needs {} (not set)", missing.join(", ")));
    }
    if let Some(condition) = strategy.applies_when() {
        why.push(format!("it applies only {condition}"));
    }
    if why.is_empty() {
        why.push("it does not apply to this configuration".to_string());
    }
    Error::auth(format!("default auth: {auth_type} was chosen by auth_type but cannot be used: {}", why.join("; ")))
}

/// A method that found it cannot work here: the chain moves on, unless
/// `auth_type` chose this method, in which case the user sees why.
pub(crate) fn decline_unless_chosen(
    cfg: &Config,
    auth_type: &str,
    why: Error,
) -> Result<Option<Arc<dyn CredentialsProvider>>> {
    if cfg.auth_type() == Some(auth_type) {
        return Err(why);
    }
    tracing::debug!(auth_type, "does not apply: {why}");
    Ok(None)
}

/// A failed call to a discovery, token or metadata endpoint, kept as a
/// transport error so the API call that needed the token is retried like any
/// other. The URL is left out of the message (a metadata-service URL is a
/// secret); `context` says what may be shown.
pub(crate) fn http_failure(context: impl fmt::Display, e: reqwest::Error) -> Error {
    let e = e.without_url();
    let connect = e.is_connect();
    Error::transport(format!("{context}: {e}"), connect, e)
}

/// Discovery, metadata and token answers are small; anything bigger is hostile.
const AUTH_RESPONSE_LIMIT: u64 = 1024 * 1024;

/// Attempts of one call to an auth endpoint (discovery, host metadata, token).
const AUTH_ATTEMPTS: u32 = 4;

/// Send a request to an auth endpoint, retrying throttling (429), server
/// errors (5xx) and network failures with a short jittered backoff; the last
/// answer (status and body) or failure is returned. For discovery and for
/// grants that just mint another token, repeating is harmless.
pub(crate) async fn send_auth_request(
    what: &str,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, bytes::Bytes)> {
    send_auth_request_replaying(what, Replay::Always, request).await
}

/// Send a grant that can be redeemed only once (an authorization code, a
/// rotating refresh token): it is repeated only when the server cannot have
/// acted on it (no connection, or a 429/503 refusal). Repeating one whose
/// answer was lost would spend it for nothing and lose the login.
pub(crate) async fn send_single_use_grant(
    what: &str,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, bytes::Bytes)> {
    send_auth_request_replaying(what, Replay::UnlessReceived, request).await
}

/// When a failed auth request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    Always,
    UnlessReceived,
}

async fn send_auth_request_replaying(
    what: &str,
    replay: Replay,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, bytes::Bytes)> {
    let mut attempt = 1;
    loop {
        let outcome = match request().send().await {
            Ok(response) => {
                let status = response.status();
                match read_limited(response, AUTH_RESPONSE_LIMIT).await {
                    Ok(body) => Ok((status, body)),
                    Err(BodyError::Read(e)) => Err(http_failure(format!("cannot read {what}"), e)),
                    Err(BodyError::TooLarge) => {
                        return Err(Error::new(
                            crate::ErrorKind::ResponseTooLarge,
                            format!("{what}: answer larger than {AUTH_RESPONSE_LIMIT} bytes"),
                        ))
                    }
                }
            }
            Err(e) => Err(http_failure(format!("{what} failed"), e)),
        };
        let transient = match (&outcome, replay) {
            (Ok((status, _)), Replay::Always) => status.as_u16() == 429 || status.is_server_error(),
            (Ok((status, _)), Replay::UnlessReceived) => matches!(status.as_u16(), 429 | 503),
            (Err(_), Replay::Always) => true,
            (Err(e), Replay::UnlessReceived) => e.is_connect_failure(),
        };
        if !transient || attempt >= AUTH_ATTEMPTS {
            return outcome;
        }
        let delay = Duration::from_millis(100 * 2u64.pow(attempt - 1));
        tracing::debug!(attempt, "retrying {what}");
        tokio::time::sleep(delay + delay.mul_f64(fastrand::f64())).await;
        attempt += 1;
    }
}

/// Tokens for a workspace found while configuring, for a configuration
/// that named none.
#[derive(Debug)]
pub(crate) struct WithDiscoveredHost {
    tokens: TokenCache,
    host: Option<String>,
    from: &'static str,
}

impl WithDiscoveredHost {
    /// `host` (when `Some`) was found in `from`.
    pub(crate) fn new(tokens: TokenCache, host: Option<String>, from: &'static str) -> Self {
        WithDiscoveredHost { tokens, host, from }
    }
}

#[async_trait]
impl CredentialsProvider for WithDiscoveredHost {
    async fn headers(&self) -> Result<HeaderMap> {
        self.tokens.headers().await
    }

    fn discovered_host(&self) -> Option<(&str, &'static str)> {
        self.host.as_deref().map(|h| (h, self.from))
    }
}

/// Config attributes that must all be set for a strategy to apply.
pub(crate) fn has_all(cfg: &Config, names: &[&str]) -> bool {
    names.iter().all(|n| cfg.is_set(n))
}

/// A header value marked sensitive so it never shows in `Debug`; `None`
/// when it has characters a header cannot carry.
pub(crate) fn sensitive_header_value(value: &str) -> Option<reqwest::header::HeaderValue> {
    let mut header = reqwest::header::HeaderValue::from_str(value).ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// `Authorization: <value>`, sensitive.
pub(crate) fn authorization_header(value: &str) -> Result<HeaderMap> {
    let header = sensitive_header_value(value)
        .ok_or_else(|| Error::auth("credential contains characters not allowed in an HTTP header"))?;
    let mut headers = HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, header);
    Ok(headers)
}

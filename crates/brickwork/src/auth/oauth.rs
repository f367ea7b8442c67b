//! OAuth against the Databricks OIDC endpoints: machine-to-machine client
//! credentials (`oauth-m2m`) and workload identity federation
//! (`env-oidc`, `file-oidc`: an ID token exchanged for a Databricks token).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::{
    decline_unless_chosen, has_all, send_auth_request, AuthContext, CredentialStrategy, CredentialsProvider, Token,
    TokenCache, TokenSource,
};
use crate::config::{normalize_host, Config, HostType};
use crate::error::{Error, ErrorKind, Result};

const DEFAULT_SCOPES: &str = "all-apis";
const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const SUBJECT_TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const REQUESTED_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const SUBJECT_TOKEN_TYPE_PAT: &str = "urn:databricks:params:oauth:token-type:personal-access-token";

/// The endpoints of an OIDC authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OidcEndpoints {
    /// Where tokens are requested.
    pub token_endpoint: String,
    /// Where users are sent to log in (U2M).
    #[serde(default)]
    pub authorization_endpoint: String,
}

impl OidcEndpoints {
    /// Discover the endpoints for `cfg`: the explicit `discovery_url`, else the
    /// `oidc_endpoint` announced by `/.well-known/databricks-config`, else the
    /// conventional workspace or account OIDC root.
    pub async fn discover(cfg: &Config, ctx: &AuthContext) -> Result<OidcEndpoints> {
        let url = match cfg.get("discovery_url") {
            Some(url) => url.to_string(),
            None => discovery_url(cfg, ctx).await?,
        };
        let what = format!("the OIDC discovery document {url}");
        let (status, body) = send_auth_request(&what, || ctx.http.get(&url)).await?;
        if !status.is_success() {
            return Err(Error::auth(format!("OIDC discovery document {url} answered HTTP {}", status.as_u16())));
        }
        serde_json::from_slice(&body)
            .map_err(|e| Error::auth(format!("OIDC discovery document {url} is not valid: {e}")))
    }
}

async fn discovery_url(cfg: &Config, ctx: &AuthContext) -> Result<String> {
    let host = cfg.host().ok_or_else(|| Error::config("host is required for OAuth"))?;
    let account_id = cfg.account_id();
    let root = match host_metadata_oidc_root(host, ctx).await {
        Some(root) if root.contains("{account_id}") => {
            let account_id = account_id
                .ok_or_else(|| Error::config("account_id is required to resolve discovery_url from host metadata"))?;
            root.replace("{account_id}", account_id)
        }
        Some(root) => root,
        None if cfg.host_type() == HostType::Accounts => {
            let account_id = account_id.ok_or_else(|| Error::config("account_id is required for account OAuth"))?;
            format!("{host}/oidc/accounts/{account_id}")
        }
        None => format!("{host}/oidc"),
    };
    Ok(format!("{}/.well-known/oauth-authorization-server", root.trim_end_matches('/')))
}

/// The `oidc_endpoint` from the host's unauthenticated metadata, best effort.
async fn host_metadata_oidc_root(host: &str, ctx: &AuthContext) -> Option<String> {
    let url = format!("{}/.well-known/databricks-config", normalize_host(host));
    let (status, body) = send_auth_request("host metadata", || ctx.http.get(&url)).await.ok()?;
    if !status.is_success() {
        tracing::debug!(status = status.as_u16(), "no host metadata");
        return None;
    }
    let meta: Value = serde_json::from_slice(&body).ok()?;
    meta.get("oidc_endpoint").and_then(Value::as_str).map(str::to_string)
}

/// Machine-to-machine OAuth with a service principal's client id and secret.
#[derive(Debug, Clone, Copy)]
pub struct OAuthM2m;

#[async_trait]
impl CredentialStrategy for OAuthM2m {
    fn auth_type(&self) -> &'static str {
        "oauth-m2m"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["host", "client_id", "client_secret"]
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        if !has_all(cfg, &["host", "client_id", "client_secret"]) {
            return Ok(None);
        }
        token_provider(cfg, ctx, Grant::ClientCredentials).await
    }
}

/// Workload identity federation: exchange an ID token from an environment
/// variable (`env-oidc`) or a file (`file-oidc`) for a Databricks token.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadIdentityFederation {
    from_file: bool,
}

impl WorkloadIdentityFederation {
    /// ID token from `DATABRICKS_OIDC_TOKEN` (or the variable named by `oidc_token_env`).
    pub fn env() -> Self {
        WorkloadIdentityFederation { from_file: false }
    }

    /// ID token from the file at `oidc_token_filepath`.
    pub fn file() -> Self {
        WorkloadIdentityFederation { from_file: true }
    }

    fn id_token_source(&self, cfg: &Config) -> Option<IdTokenSource> {
        if self.from_file {
            return cfg.get("oidc_token_filepath").map(|p| IdTokenSource::File(PathBuf::from(p)));
        }
        let var = cfg.get("oidc_token_env").unwrap_or("DATABRICKS_OIDC_TOKEN").to_string();
        Some(IdTokenSource::Env { var, env: cfg.clone() })
    }
}

#[async_trait]
impl CredentialStrategy for WorkloadIdentityFederation {
    fn auth_type(&self) -> &'static str {
        if self.from_file {
            "file-oidc"
        } else {
            "env-oidc"
        }
    }

    fn needs(&self) -> &'static [&'static str] {
        if self.from_file {
            &["host", "oidc_token_filepath"]
        } else {
            &["host"]
        }
    }

    fn applies_when(&self) -> Option<&'static str> {
        (!self.from_file)
            .then_some("with an ID token in DATABRICKS_OIDC_TOKEN, or in the variable oidc_token_env names")
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        if !has_all(cfg, &["host"]) {
            return Ok(None);
        }
        let Some(id_tokens) = self.id_token_source(cfg) else {
            return Ok(None);
        };
        // No ID token available: this method does not apply here.
        if let Err(e) = id_tokens.read(&ctx.http).await {
            tracing::debug!(auth_type = self.auth_type(), "no OIDC ID token: {e}");
            return Ok(None);
        }
        token_provider(cfg, ctx, Grant::TokenExchange(Box::new(id_tokens))).await
    }
}

/// Which CI system's ID token [`CiOidc`] exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CiSystem {
    GitHub,
    AzureDevOps,
}

/// Federation from a CI job (`github-oidc`, `azure-devops-oidc`): the job's
/// OIDC ID token, asked from the CI system at each refresh, exchanged at
/// the workspace's (or account's) token endpoint for the service principal
/// `client_id`. Applies only inside such a job (its variables are set).
#[derive(Debug, Clone, Copy)]
pub struct CiOidc {
    system: CiSystem,
}

impl CiOidc {
    /// GitHub Actions (`ACTIONS_ID_TOKEN_REQUEST_URL` and `_TOKEN`, set when
    /// the workflow has `id-token: write`). The audience is `token_audience`,
    /// else the token endpoint.
    pub fn github() -> Self {
        CiOidc { system: CiSystem::GitHub }
    }

    /// Azure DevOps pipelines (`SYSTEM_ACCESSTOKEN`,
    /// `SYSTEM_TEAMFOUNDATIONCOLLECTIONURI`, `SYSTEM_TEAMPROJECTID`,
    /// `SYSTEM_PLANID`, `SYSTEM_JOBID`, `SYSTEM_HOSTTYPE`).
    pub fn azure_devops() -> Self {
        CiOidc { system: CiSystem::AzureDevOps }
    }

    /// The ID token source, or why this job is not such a CI job. A GitHub
    /// source without `token_audience` gets its audience once the token
    /// endpoint is known ([`IdTokenSource::default_audience`]).
    fn id_token_source(&self, cfg: &Config) -> std::result::Result<IdTokenSource, String> {
        match self.system {
            CiSystem::GitHub => IdTokenSource::github(cfg, cfg.get("token_audience").unwrap_or_default()),
            CiSystem::AzureDevOps => {
                const NAMES: [&str; 6] = [
                    "SYSTEM_ACCESSTOKEN",
                    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
                    "SYSTEM_TEAMPROJECTID",
                    "SYSTEM_HOSTTYPE",
                    "SYSTEM_PLANID",
                    "SYSTEM_JOBID",
                ];
                let values = NAMES.map(|n| cfg.env_var(n));
                let missing: Vec<&str> =
                    NAMES.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
                if !missing.is_empty() {
                    return Err(format!("not in an Azure DevOps job: {} not set", missing.join(", ")));
                }
                let [token, collection, project, hub, plan, job] = values.map(Option::unwrap_or_default);
                let endpoint = format!(
                    "{}/{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/jobs/{job}/oidctoken?api-version=7.2-preview.1",
                    collection.trim_end_matches('/')
                );
                Ok(IdTokenSource::AzureDevOps { endpoint, access_token: SecretString::from(token) })
            }
        }
    }
}

#[async_trait]
impl CredentialStrategy for CiOidc {
    fn auth_type(&self) -> &'static str {
        match self.system {
            CiSystem::GitHub => "github-oidc",
            CiSystem::AzureDevOps => "azure-devops-oidc",
        }
    }

    fn needs(&self) -> &'static [&'static str] {
        &["host", "client_id"]
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some(match self.system {
            CiSystem::GitHub => "in a GitHub Actions job with `permissions: id-token: write`",
            CiSystem::AzureDevOps => {
                "in an Azure DevOps pipeline job (SYSTEM_ACCESSTOKEN and the SYSTEM_* job variables set)"
            }
        })
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        if !has_all(cfg, &["host", "client_id"]) {
            return Ok(None);
        }
        // The variables are checked first: outside CI nothing is fetched.
        let mut id_tokens = match self.id_token_source(cfg) {
            Ok(source) => source,
            Err(why) => {
                tracing::debug!(auth_type = self.auth_type(), "{why}");
                return Ok(None);
            }
        };
        let endpoints = OidcEndpoints::discover(cfg, ctx).await?;
        id_tokens.default_audience(&endpoints.token_endpoint);
        if let Err(e) = id_tokens.read(&ctx.http).await {
            return decline_unless_chosen(cfg, self.auth_type(), e);
        }
        Ok(Some(Arc::new(token_cache(cfg, ctx, endpoints, Grant::TokenExchange(Box::new(id_tokens))))))
    }
}

/// A cached token from the discovered token endpoint.
async fn token_provider(cfg: &Config, ctx: &AuthContext, grant: Grant) -> Result<Option<Arc<dyn CredentialsProvider>>> {
    let endpoints = OidcEndpoints::discover(cfg, ctx).await?;
    Ok(Some(Arc::new(token_cache(cfg, ctx, endpoints, grant))))
}

/// A cached token exchanged for `subject` at `endpoints`.
pub(super) fn exchange_token_cache(
    cfg: &Config,
    ctx: &AuthContext,
    endpoints: OidcEndpoints,
    subject: IdTokenSource,
) -> TokenCache {
    token_cache(cfg, ctx, endpoints, Grant::TokenExchange(Box::new(subject)))
}

/// A cached token from `endpoints`. Only the client credentials grant sends
/// the client secret; federation has no secret.
fn token_cache(cfg: &Config, ctx: &AuthContext, endpoints: OidcEndpoints, grant: Grant) -> TokenCache {
    let client_secret = match grant {
        Grant::ClientCredentials => cfg.expose("client_secret").unwrap_or_default(),
        Grant::TokenExchange(_) => "",
    };
    let source = TokenRequest {
        http: ctx.http.clone(),
        token_endpoint: endpoints.token_endpoint,
        client_id: cfg.get("client_id").unwrap_or_default().to_string(),
        client_secret: SecretString::from(client_secret.to_string()),
        grant,
        scopes: scopes(cfg),
        authorization_details: cfg.get("authorization_details").map(str::to_string),
    };
    TokenCache::new(Arc::new(source))
}

fn scopes(cfg: &Config) -> String {
    scope_list(cfg).join(" ")
}

/// The configured scopes (comma or space separated), sorted and
/// deduplicated, `all-apis` when none.
pub(super) fn scope_list(cfg: &Config) -> Vec<String> {
    let raw = cfg.get("scopes").unwrap_or(DEFAULT_SCOPES);
    let mut scopes: Vec<String> = raw.split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_string).collect();
    scopes.sort_unstable();
    scopes.dedup();
    if scopes.is_empty() {
        scopes.push(DEFAULT_SCOPES.to_string());
    }
    scopes
}

/// Where the subject token of an exchange comes from (an ID token for
/// federation, or the runtime's own token); read again at every refresh
/// because such tokens rotate.
pub(super) enum IdTokenSource {
    Env {
        var: String,
        env: Config,
    },
    File(PathBuf),
    /// GitHub Actions: `GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>`
    /// with the job's request token answers `{"value": <ID token>}`.
    GitHub {
        request_url: String,
        request_token: SecretString,
        audience: String,
    },
    /// Azure DevOps: `POST <collection><project>/_apis/distributedtask/hubs/
    /// <hub>/plans/<plan>/jobs/<job>/oidctoken` with the job's access token
    /// answers `{"oidcToken": <ID token>}` (its audience is fixed).
    AzureDevOps {
        endpoint: String,
        access_token: SecretString,
    },
    /// Inside the Databricks runtime: the token it gives the notebook or
    /// job, exchanged as a personal access token.
    Notebook(super::runtime::RuntimeBridge),
}

impl fmt::Debug for IdTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdTokenSource::Env { var, .. } => write!(f, "Env({var})"),
            IdTokenSource::File(path) => write!(f, "File({})", path.display()),
            IdTokenSource::GitHub { audience, .. } => write!(f, "GitHub(audience {audience})"),
            IdTokenSource::AzureDevOps { .. } => write!(f, "AzureDevOps"),
            IdTokenSource::Notebook(_) => write!(f, "Notebook"),
        }
    }
}

impl IdTokenSource {
    /// The GitHub Actions job's ID token for `audience` (empty: set later by
    /// [`default_audience`](Self::default_audience)), or why this is not
    /// such a job.
    pub(super) fn github(cfg: &Config, audience: &str) -> std::result::Result<IdTokenSource, String> {
        let (Some(request_url), Some(request_token)) =
            (cfg.env_var("ACTIONS_ID_TOKEN_REQUEST_URL"), cfg.env_var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
        else {
            return Err(
                "not in GitHub Actions with id-token: write (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN are not set)"
                    .into(),
            );
        };
        let request_token = SecretString::from(request_token);
        Ok(IdTokenSource::GitHub { request_url, request_token, audience: audience.to_string() })
    }

    /// Ask for an ID token for `token_endpoint` unless an audience was configured.
    fn default_audience(&mut self, token_endpoint: &str) {
        if let IdTokenSource::GitHub { audience, .. } = self {
            if audience.is_empty() {
                *audience = token_endpoint.to_string();
            }
        }
    }

    fn subject_token_type(&self) -> &'static str {
        match self {
            IdTokenSource::Notebook(_) => SUBJECT_TOKEN_TYPE_PAT,
            _ => SUBJECT_TOKEN_TYPE_JWT,
        }
    }

    pub(super) async fn read(&self, http: &reqwest::Client) -> Result<SecretString> {
        let token = match self {
            IdTokenSource::Env { var, env } => {
                env.env_var(var).ok_or_else(|| Error::auth(format!("environment variable {var} is not set")))?
            }
            IdTokenSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| Error::auth(format!("cannot read OIDC token file {}: {e}", path.display())))?,
            IdTokenSource::GitHub { request_url, request_token, audience } => {
                let mut url = reqwest::Url::parse(request_url)
                    .map_err(|e| Error::auth(format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {e}")))?;
                url.query_pairs_mut().append_pair("audience", audience);
                let request = || http.get(url.clone()).bearer_auth(request_token.expose_secret());
                ci_id_token("the GitHub Actions ID token request", request, "value").await?
            }
            IdTokenSource::AzureDevOps { endpoint, access_token } => {
                let request = || {
                    http.post(endpoint)
                        .bearer_auth(access_token.expose_secret())
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body("")
                };
                ci_id_token("the Azure DevOps OIDC token request", request, "oidcToken").await?
            }
            IdTokenSource::Notebook(bridge) => bridge.notebook_token().await?,
        };
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::auth(format!("{self:?}: the OIDC ID token is empty")));
        }
        Ok(SecretString::from(token.to_string()))
    }
}

/// Ask a CI system for the job's ID token, found in `field` of its answer.
async fn ci_id_token(what: &str, request: impl Fn() -> reqwest::RequestBuilder, field: &str) -> Result<String> {
    let (status, body) = send_auth_request(what, request).await?;
    if !status.is_success() {
        return Err(Error::auth(format!("{what} answered HTTP {}", status.as_u16())));
    }
    let answer: Value =
        serde_json::from_slice(&body).map_err(|e| Error::auth(format!("{what} answered invalid JSON: {e}")))?;
    answer
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::auth(format!("{what} answered without \"{field}\"")))
}

#[derive(Debug)]
enum Grant {
    ClientCredentials,
    /// Boxed: a source carries its HTTP settings, and the grant is made once.
    TokenExchange(Box<IdTokenSource>),
}

/// A POST to the token endpoint.
struct TokenRequest {
    http: reqwest::Client,
    token_endpoint: String,
    client_id: String,
    client_secret: SecretString,
    grant: Grant,
    scopes: String,
    authorization_details: Option<String>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("grant", &self.grant)
            .finish()
    }
}

#[async_trait]
impl TokenSource for TokenRequest {
    async fn token(&self) -> Result<Token> {
        let mut form: Vec<(&str, String)> = vec![("scope", self.scopes.clone())];
        let basic = matches!(self.grant, Grant::ClientCredentials);
        match &self.grant {
            Grant::ClientCredentials => {
                form.push(("grant_type", GRANT_CLIENT_CREDENTIALS.to_string()));
            }
            Grant::TokenExchange(id_tokens) => {
                form.push(("grant_type", GRANT_TOKEN_EXCHANGE.to_string()));
                form.push(("subject_token_type", id_tokens.subject_token_type().to_string()));
                if matches!(**id_tokens, IdTokenSource::Notebook(_)) {
                    form.push(("requested_token_type", REQUESTED_ACCESS_TOKEN.to_string()));
                }
                form.push(("subject_token", id_tokens.read(&self.http).await?.expose_secret().to_string()));
                if !self.client_id.is_empty() {
                    form.push(("client_id", self.client_id.clone()));
                }
            }
        }
        if let Some(details) = &self.authorization_details {
            form.push(("authorization_details", details.clone()));
        }
        let request = || {
            let request = self.http.post(&self.token_endpoint).form(&form);
            if basic {
                request.basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            } else {
                request
            }
        };
        let what = format!("the token request to {}", self.token_endpoint);
        let (status, body) = send_auth_request(&what, request).await?;
        if !status.is_success() {
            return Err(token_endpoint_error(status.as_u16(), &body));
        }
        parse_token_response(&body)
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<Value>,
}

/// `expires_in` may be a number or a numeric string. A token without a
/// usable lifetime (missing, malformed, negative) is refused: cached, it
/// would be used forever. Huge lifetimes are clamped by [`Token::new`].
pub(super) fn parse_token_response(body: &[u8]) -> Result<Token> {
    let parsed: TokenResponse =
        serde_json::from_slice(body).map_err(|e| Error::auth(format!("invalid token response: {e}")))?;
    let seconds = match &parsed.expires_in {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let lifetime = seconds
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
        .ok_or_else(|| Error::auth("token response has no valid expires_in: refusing a token that never expires"))?;
    Ok(Token::new(parsed.access_token, parsed.token_type, Some(lifetime)))
}

/// RFC 6749 `{"error", "error_description"}` or Okta-style `{"errorCode",
/// "errorSummary"}`. Entra ID's trace and correlation ids are cut from the
/// description, its `error_uri` (the fix) kept.
pub(super) fn token_endpoint_error(status: u16, body: &[u8]) -> Error {
    let kind = if matches!(status, 429 | 503) { ErrorKind::TooManyRequests } else { ErrorKind::Auth };
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let field = |a: &str, b: &str| {
                v.get(a).or_else(|| v.get(b)).and_then(Value::as_str).unwrap_or("unknown").replace("\r\n", " ")
            };
            let description = field("errorSummary", "error_description");
            let description = description.split(" Trace ID:").next().unwrap_or_default().trim_end();
            let see = v.get("error_uri").and_then(Value::as_str).map(|uri| format!(" See {uri}")).unwrap_or_default();
            format!("{}: {description}{see}", field("errorCode", "error"))
        }
        Err(_) => format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(256)])),
    };
    Error::new(kind, format!("token request failed: {message}")).with_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_accepts_string_expiry() {
        let t = parse_token_response(br#"{"access_token":"a","token_type":"Bearer","expires_in":"3600"}"#);
        assert!(t.is_ok_and(|t| t.expires_in().is_some_and(|d| d > Duration::from_secs(3590))));
        let t = parse_token_response(br#"{"access_token":"a","expires_in":60}"#);
        assert!(t.is_ok_and(|t| t.token_type() == "Bearer"));
        assert!(parse_token_response(b"not json").is_err());
    }

    #[test]
    fn tokens_that_would_never_expire_are_refused_and_huge_lifetimes_clamped() {
        for body in [
            r#"{"access_token":"a"}"#,
            r#"{"access_token":"a","expires_in":null}"#,
            r#"{"access_token":"a","expires_in":-5}"#,
            r#"{"access_token":"a","expires_in":"soon"}"#,
        ] {
            let err = parse_token_response(body.as_bytes()).expect_err(body);
            assert_eq!(err.kind(), ErrorKind::Auth, "{body}");
        }
        let t = parse_token_response(br#"{"access_token":"a","expires_in":1e19}"#).expect("clamped");
        assert!(t.expires_in().is_some_and(|d| d <= Duration::from_secs(366 * 24 * 3600)));
        assert!(t.is_fresh());
    }

    #[test]
    fn token_endpoint_errors_are_readable() {
        let e = token_endpoint_error(
            401,
            br#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
        );
        assert_eq!(e.message(), "token request failed: invalid_client: Client authentication failed");
        assert_eq!(e.kind(), ErrorKind::Auth);
    }
}

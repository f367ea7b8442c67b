//! Azure Databricks: Microsoft Entra ID tokens for the Azure Databricks
//! application, from a service principal's secret (`azure-client-secret`), a
//! GitHub Actions ID token (`github-oidc-azure`), the Azure CLI
//! (`azure-cli`) or a managed identity (`azure-msi`).
//!
//! All of them work on hosts of an Azure zone, or on any host when the cloud
//! is declared Azure (`cloud`, or `azure_workspace_resource_id`). Without a
//! host, `azure_workspace_resource_id` is looked up in Azure Resource Manager
//! for the workspace URL. Endpoints follow `azure_environment`; Entra ID can
//! be moved with `AZURE_AUTHORITY_HOST` and Resource Manager with
//! `BRICKWORK_AZURE_RESOURCE_MANAGER_ENDPOINT` (sovereign clouds, local fakes).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::cli::{find_on_path, run_command};
use super::oauth::{parse_token_response, token_endpoint_error, IdTokenSource};
use super::token::{epoch_time, jwt_claims};
use super::{
    decline_unless_chosen, has_all, send_auth_request, sensitive_header_value, AuthContext, CredentialStrategy,
    CredentialsProvider, Token, TokenCache, TokenSource,
};
use crate::config::{azure_by_name, Config};
use crate::error::{Error, Result};

const RESOURCE_ID_HEADER: &str = "X-Databricks-Azure-Workspace-Resource-Id";
const MANAGEMENT_TOKEN_HEADER: &str = "X-Databricks-Azure-SP-Management-Token";
/// Moves Resource Manager (brickwork's own variable: the Azure SDKs have none).
const RESOURCE_MANAGER_OVERRIDE: &str = "BRICKWORK_AZURE_RESOURCE_MANAGER_ENDPOINT";
/// The audience Entra ID expects of a federated GitHub Actions ID token.
const GITHUB_AZURE_AUDIENCE: &str = "api://AzureADTokenExchange";
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The Azure CLI gives a naive local expiry only in versions before 2.54;
/// such a token is kept this long, well inside the 5 minutes the CLI
/// always leaves on the tokens it hands out.
const AZ_NAIVE_EXPIRY_LIFETIME: Duration = Duration::from_secs(4 * 60);
/// Managed identity endpoints answer locally and fast.
const MSI_TIMEOUT: Duration = Duration::from_secs(10);

/// The endpoints of this configuration's Azure cloud.
#[derive(Debug, Clone)]
struct AzureEndpoints {
    /// The Entra ID application of Azure Databricks: the resource of its tokens.
    login_app_id: String,
    /// Entra ID, ending with `/`.
    active_directory: String,
    /// Resource Manager: the resource of tokens for it.
    resource_manager: String,
    /// Where Resource Manager is reached (moved by the override, unlike the resource).
    resource_manager_url: String,
    /// The resource of the management token sent beside a service principal's.
    service_management: String,
}

impl AzureEndpoints {
    /// `None` when the configuration is not Azure Databricks.
    fn for_config(cfg: &Config) -> Result<Option<AzureEndpoints>> {
        // Checked only on Azure: a stray ARM_ENVIRONMENT must not break
        // another cloud's chain.
        if !cfg.is_azure() {
            return Ok(None);
        }
        if let Some(name) = cfg.get("azure_environment") {
            if azure_by_name(name).is_none() {
                return Err(Error::config(format!(
                    "azure_environment {name:?} is not one of PUBLIC, USGOVERNMENT, CHINA"
                )));
            }
        }
        let env = cfg.environment();
        let (Some(app), Some(azure)) = (env.azure_application_id, env.azure_environment) else {
            return Ok(None);
        };
        let authority = cfg.env_var("AZURE_AUTHORITY_HOST").unwrap_or_else(|| azure.active_directory_endpoint.into());
        Ok(Some(AzureEndpoints {
            login_app_id: app.to_string(),
            active_directory: format!("{}/", authority.trim_end_matches('/')),
            resource_manager: azure.resource_manager_endpoint.to_string(),
            resource_manager_url: cfg
                .env_var(RESOURCE_MANAGER_OVERRIDE)
                .unwrap_or_else(|| azure.resource_manager_endpoint.into()),
            service_management: azure.service_management_endpoint.to_string(),
        }))
    }

    fn token_url(&self, tenant: &str) -> String {
        format!("{}{tenant}/oauth2/token", self.active_directory)
    }
}

/// The tenant: `azure_tenant_id`, else the first path segment of where the
/// workspace's `login_path` redirects (Azure Databricks sends its login
/// pages to `<entra id>/<tenant>/oauth2/...`).
async fn tenant_id(cfg: &Config, ctx: &AuthContext, login_path: &str) -> Option<String> {
    if let Some(tenant) = cfg.get("azure_tenant_id") {
        return Some(tenant.to_string());
    }
    let url = format!("{}{login_path}", cfg.host()?);
    let response = match ctx.no_redirect.get(&url).send().await {
        Ok(response) if response.status().is_redirection() => response,
        Ok(response) => {
            tracing::debug!(status = response.status().as_u16(), "no tenant redirect from {url}");
            return None;
        }
        Err(e) => {
            tracing::debug!("cannot load the tenant from {url}: {}", e.without_url());
            return None;
        }
    };
    let location = response.headers().get(reqwest::header::LOCATION)?.to_str().ok()?;
    let tenant = reqwest::Url::parse(location).ok()?.path_segments()?.next()?.to_string();
    tracing::debug!(tenant, "loaded the tenant from the workspace's login redirect");
    (!tenant.is_empty()).then_some(tenant)
}

/// The tenant, or an error naming the attribute that would give it.
async fn required_tenant_id(cfg: &Config, ctx: &AuthContext, login_path: &str) -> Result<String> {
    tenant_id(cfg, ctx, login_path).await.ok_or_else(|| {
        Error::config("azure_tenant_id is not set and cannot be read from the workspace's login redirect")
    })
}

/// The workspace host of `azure_workspace_resource_id`, when no host is
/// configured: Resource Manager's `properties.workspaceUrl` for it.
async fn resolve_host(
    cfg: &Config,
    ctx: &AuthContext,
    endpoints: &AzureEndpoints,
    arm_tokens: &dyn TokenSource,
) -> Result<Option<String>> {
    let (None, Some(resource_id)) = (cfg.host(), cfg.get("azure_workspace_resource_id")) else {
        return Ok(None);
    };
    let token = arm_tokens.token().await?;
    let url = format!("{}{resource_id}?api-version=2018-04-01", endpoints.resource_manager_url.trim_end_matches('/'));
    let what = "the workspace lookup in Azure Resource Manager";
    let authorization = token.authorization()?;
    let (status, body) = send_auth_request(what, || ctx.http.get(&url).headers(authorization.clone())).await?;
    let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() {
        let field = |name: &str| answer.pointer(&format!("/error/{name}")).and_then(Value::as_str).unwrap_or("");
        return Err(Error::auth(format!(
            "cannot resolve the workspace of azure_workspace_resource_id {resource_id}: HTTP {}: {} {}",
            status.as_u16(),
            field("code"),
            field("message").trim_end_matches('.'),
        ))
        .with_status(status.as_u16()));
    }
    let url = answer
        .pointer("/properties/workspaceUrl")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::auth(format!("Azure Resource Manager has no workspaceUrl for {resource_id}")))?;
    tracing::debug!(host = url, "resolved the workspace host from its Azure resource id");
    Ok(Some(format!("https://{url}")))
}

/// A token source and the token it already gave, if any.
type FirstToken = (Arc<dyn TokenSource>, Option<Token>);

/// Signs requests with an Entra ID token, the workspace resource id and,
/// for service principals, a management token.
#[derive(Debug)]
struct AzureCredentials {
    tokens: TokenCache,
    management: Option<TokenCache>,
    resource_id: Option<String>,
    host: Option<String>,
}

impl AzureCredentials {
    /// Each source comes with the token it gave while configuring, if any;
    /// `host` is the one looked up for a configuration without one.
    fn new(cfg: &Config, tokens: FirstToken, management: Option<FirstToken>, host: Option<String>) -> Self {
        let cache = |(source, first): FirstToken| TokenCache::holding(source, first);
        AzureCredentials {
            tokens: cache(tokens),
            management: management.map(cache),
            resource_id: cfg.get("azure_workspace_resource_id").map(str::to_string),
            host,
        }
    }

    /// A service principal's or managed identity's: Azure Databricks and
    /// management tokens from `source_for`, which also gives the Resource
    /// Manager token that looks the host up when none is configured.
    async fn of_service_principal(
        cfg: &Config,
        ctx: &AuthContext,
        endpoints: &AzureEndpoints,
        source_for: impl Fn(&str) -> Arc<dyn TokenSource>,
    ) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let host = resolve_host(cfg, ctx, endpoints, &*source_for(&endpoints.resource_manager)).await?;
        let tokens = (source_for(&endpoints.login_app_id), None);
        let management = (source_for(&endpoints.service_management), None);
        Ok(Some(Arc::new(AzureCredentials::new(cfg, tokens, Some(management), host))))
    }
}

#[async_trait]
impl CredentialsProvider for AzureCredentials {
    async fn headers(&self) -> Result<HeaderMap> {
        let mut headers = self.tokens.token().await?.authorization()?;
        if let Some(resource_id) = &self.resource_id {
            let value = HeaderValue::from_str(resource_id)
                .map_err(|_| Error::config("azure_workspace_resource_id has characters not allowed in a header"))?;
            headers.insert(RESOURCE_ID_HEADER, value);
        }
        if let Some(management) = &self.management {
            let token = management.token().await?;
            let value = sensitive_header_value(token.access_token().expose_secret())
                .ok_or_else(|| Error::auth("the management token has characters not allowed in a header"))?;
            headers.insert(MANAGEMENT_TOKEN_HEADER, value);
        }
        Ok(headers)
    }

    fn discovered_host(&self) -> Option<(&str, &'static str)> {
        self.host.as_deref().map(|h| (h, "azure_workspace_resource_id"))
    }
}

/// How a service principal proves itself to Entra ID.
enum ClientProof {
    Secret(SecretString),
    /// A federated ID token, fetched again at every refresh.
    Assertion(IdTokenSource),
}

/// Entra ID client credentials for one resource (the v1 endpoint, which
/// takes `resource`).
struct EntraClientCredentials {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    proof: Arc<ClientProof>,
    resource: String,
}

impl fmt::Debug for EntraClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenSource for EntraClientCredentials {
    async fn token(&self) -> Result<Token> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", self.client_id.clone()),
            ("resource", self.resource.clone()),
        ];
        match &*self.proof {
            ClientProof::Secret(secret) => form.push(("client_secret", secret.expose_secret().to_string())),
            ClientProof::Assertion(id_tokens) => {
                form.push(("client_assertion_type", JWT_BEARER_ASSERTION.to_string()));
                form.push(("client_assertion", id_tokens.read(&self.http).await?.expose_secret().to_string()));
            }
        }
        let what = format!("the Entra ID token request for {}", self.resource);
        let (status, body) = send_auth_request(&what, || self.http.post(&self.token_url).form(&form)).await?;
        if !status.is_success() {
            return Err(token_endpoint_error(status.as_u16(), &body));
        }
        parse_token_response(&body)
    }
}

fn entra_source(
    ctx: &AuthContext,
    endpoints: &AzureEndpoints,
    tenant: &str,
    client_id: &str,
    proof: &Arc<ClientProof>,
) -> impl Fn(&str) -> Arc<dyn TokenSource> {
    let (http, token_url, client_id, proof) =
        (ctx.http.clone(), endpoints.token_url(tenant), client_id.to_string(), proof.clone());
    move |resource| {
        Arc::new(EntraClientCredentials {
            http: http.clone(),
            token_url: token_url.clone(),
            client_id: client_id.clone(),
            proof: proof.clone(),
            resource: resource.to_string(),
        })
    }
}

/// A service principal's client secret in Entra ID (`azure_client_id`,
/// `azure_client_secret`, `azure_tenant_id`, the last read from the
/// workspace when unset). Sends the management token too.
#[derive(Debug, Clone, Copy)]
pub struct AzureClientSecret;

#[async_trait]
impl CredentialStrategy for AzureClientSecret {
    fn auth_type(&self) -> &'static str {
        "azure-client-secret"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["azure_client_id", "azure_client_secret"]
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some("on Azure Databricks, with a host or azure_workspace_resource_id")
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        if !has_all(cfg, self.needs()) || !(cfg.is_set("host") || cfg.is_set("azure_workspace_resource_id")) {
            return Ok(None);
        }
        let Some(endpoints) = AzureEndpoints::for_config(cfg)? else {
            return Ok(None);
        };
        let tenant = required_tenant_id(cfg, ctx, "/aad/auth").await?;
        let secret = SecretString::from(cfg.expose("azure_client_secret").unwrap_or_default().to_string());
        let client_id = cfg.get("azure_client_id").unwrap_or_default();
        let source_for = entra_source(ctx, &endpoints, &tenant, client_id, &Arc::new(ClientProof::Secret(secret)));
        tracing::info!(client_id, "using an Entra ID service principal");
        AzureCredentials::of_service_principal(cfg, ctx, &endpoints, source_for).await
    }
}

/// A GitHub Actions ID token federated with an Entra ID application
/// (`azure_client_id`; the job needs `id-token: write`).
#[derive(Debug, Clone, Copy)]
pub struct GitHubOidcAzure;

#[async_trait]
impl CredentialStrategy for GitHubOidcAzure {
    fn auth_type(&self) -> &'static str {
        "github-oidc-azure"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["host", "azure_client_id"]
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some("on Azure Databricks, in a GitHub Actions job with `permissions: id-token: write`")
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        if !has_all(cfg, self.needs()) {
            return Ok(None);
        }
        let id_tokens = match IdTokenSource::github(cfg, GITHUB_AZURE_AUDIENCE) {
            Ok(source) => source,
            Err(why) => {
                tracing::debug!(auth_type = self.auth_type(), "{why}");
                return Ok(None);
            }
        };
        let Some(endpoints) = AzureEndpoints::for_config(cfg)? else {
            return Ok(None);
        };
        if let Err(e) = id_tokens.read(&ctx.http).await {
            return decline_unless_chosen(cfg, self.auth_type(), e);
        }
        let tenant = required_tenant_id(cfg, ctx, "/oidc/oauth2/v2.0/authorize").await?;
        let client_id = cfg.get("azure_client_id").unwrap_or_default();
        let proof = Arc::new(ClientProof::Assertion(id_tokens));
        let source = entra_source(ctx, &endpoints, &tenant, client_id, &proof)(&endpoints.login_app_id);
        tracing::info!(client_id, "using a GitHub Actions ID token federated with Entra ID");
        Ok(Some(Arc::new(TokenCache::new(source))))
    }
}

/// Tokens from the Azure CLI's login (`az login`): `az` on `PATH`. As in
/// the Go SDK, `az` is asked for the tenant when it is known (set, or read
/// from the workspace), and for the subscription of
/// `azure_workspace_resource_id` only when it is not (`az` refuses both
/// together); a service principal is asked again without the tenant (a
/// federated login), a managed identity never with it. A service
/// principal's login also sends a management token.
#[derive(Debug, Clone, Copy)]
pub struct AzureCli;

#[async_trait]
impl CredentialStrategy for AzureCli {
    fn auth_type(&self) -> &'static str {
        "azure-cli"
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some("on Azure Databricks, with the Azure CLI (`az`) on PATH and logged in (`az login`)")
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let Some(endpoints) = AzureEndpoints::for_config(cfg)? else {
            return Ok(None);
        };
        let Some(program) = find_on_path(cfg, "az", |_| true) else {
            tracing::debug!("the Azure CLI (az) is not on PATH");
            return Ok(None);
        };
        let timeout = cfg.settings().http_timeout;
        let login = az_login_kind(&program, timeout).await;
        let subscription = cfg
            .get("azure_workspace_resource_id")
            .and_then(|id| id.split('/').nth(2))
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let tenant = tenant_id(cfg, ctx, "/aad/auth").await;
        let az = AzCli { program, tenant, subscription, login, timeout };
        let (tokens, first) = match az.source_for(&endpoints.login_app_id).await {
            Ok(found) => found,
            Err(e) => return decline_unless_chosen(cfg, self.auth_type(), e),
        };
        let management = if is_persons_token(&first) {
            None
        } else {
            match az.source_for(&endpoints.service_management).await {
                Ok(found) => Some(found),
                Err(e) => {
                    tracing::debug!("not sending a management token: {e}");
                    None
                }
            }
        };
        let host = match cfg.host() {
            Some(_) => None,
            None => resolve_host(cfg, ctx, &endpoints, &*az.source_for(&endpoints.resource_manager).await?.0).await?,
        };
        tracing::info!("using the Azure CLI's login");
        let management = management.map(|(source, first)| (source, Some(first)));
        Ok(Some(Arc::new(AzureCredentials::new(cfg, (tokens, Some(first)), management, host))))
    }
}

/// Who the Azure CLI is logged in as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AzLogin {
    Person,
    ServicePrincipal,
    ManagedIdentity,
}

/// How to ask the Azure CLI for tokens.
#[derive(Debug, Clone)]
struct AzCli {
    program: PathBuf,
    tenant: Option<String>,
    subscription: Option<String>,
    login: AzLogin,
    timeout: Duration,
}

impl AzCli {
    /// A token source for `resource`, and its first token.
    async fn source_for(&self, resource: &str) -> Result<(Arc<dyn TokenSource>, Token)> {
        let source = AzCliTokenSource { az: self.clone(), resource: resource.to_string() };
        let first = source.token().await?;
        Ok((Arc::new(source), first))
    }

    /// The scoping flags to try, in order.
    fn attempts(&self) -> Vec<Vec<String>> {
        let flag = |name: &str, value: &String| vec![name.to_string(), value.clone()];
        match (&self.tenant, &self.subscription) {
            (Some(_), _) if self.login == AzLogin::ManagedIdentity => vec![vec![]],
            (Some(tenant), _) if self.login == AzLogin::ServicePrincipal => vec![flag("--tenant", tenant), vec![]],
            (Some(tenant), _) => vec![flag("--tenant", tenant)],
            (None, Some(subscription)) => vec![flag("--subscription", subscription), vec![]],
            (None, None) => vec![vec![]],
        }
    }
}

#[derive(Debug)]
struct AzCliTokenSource {
    az: AzCli,
    resource: String,
}

/// `az account get-access-token` output.
#[derive(Deserialize)]
struct AzToken {
    #[serde(rename = "accessToken")]
    access_token: String,
    #[serde(rename = "tokenType", default)]
    token_type: String,
    /// Seconds since the epoch (Azure CLI 2.54 and later).
    #[serde(default)]
    expires_on: Option<Value>,
    /// Naive local time (all versions).
    #[serde(rename = "expiresOn", default)]
    expires_on_local: Option<String>,
}

#[async_trait]
impl TokenSource for AzCliTokenSource {
    async fn token(&self) -> Result<Token> {
        let base = ["account", "get-access-token", "--resource", &self.resource, "--output", "json"].map(String::from);
        let mut outcome = Err(Error::auth("the Azure CLI was not asked"));
        for scope in self.az.attempts() {
            let args: Vec<String> = base.iter().cloned().chain(scope).collect();
            outcome = run_command(&self.az.program, &args, self.az.timeout).await;
            match &outcome {
                Ok(_) => break,
                Err(e) => tracing::debug!("az {}: {e}", args.join(" ")),
            }
        }
        let stdout = outcome?;
        let parsed: AzToken = serde_json::from_slice(&stdout)
            .map_err(|e| Error::auth(format!("cannot read the Azure CLI's token: {e}")))?;
        if let Some(at) = parsed.expires_on.as_ref().and_then(epoch_time) {
            return Ok(Token::expiring_at(parsed.access_token, parsed.token_type, at));
        }
        if parsed.expires_on_local.is_none() {
            return Err(Error::auth("the Azure CLI's token has no expiry"));
        }
        Ok(Token::new(parsed.access_token, parsed.token_type, Some(AZ_NAIVE_EXPIRY_LIFETIME)))
    }
}

/// `az account show`: a system- or user-assigned identity is a managed
/// identity, another `servicePrincipal` a service principal; anything else
/// (or no answer) a person.
async fn az_login_kind(program: &std::path::Path, timeout: Duration) -> AzLogin {
    let args = ["account", "show", "--output", "json"].map(String::from);
    let Ok(stdout) = run_command(program, &args, timeout).await else {
        return AzLogin::Person;
    };
    let account: Value = serde_json::from_slice(&stdout).unwrap_or_default();
    let user = |field: &str| account.pointer(&format!("/user/{field}")).and_then(Value::as_str);
    match (user("type"), user("name")) {
        (Some("servicePrincipal"), Some("systemAssignedIdentity" | "userAssignedIdentity")) => AzLogin::ManagedIdentity,
        (Some("servicePrincipal"), _) => AzLogin::ServicePrincipal,
        _ => AzLogin::Person,
    }
}

/// A person's login has a `upn` (user principal name) claim; a service
/// principal's or managed identity's has none.
fn is_persons_token(token: &Token) -> bool {
    jwt_claims(token.access_token().expose_secret()).is_some_and(|claims| claims.contains_key("upn"))
}

/// A managed identity of the Azure machine, App Service or Functions app
/// (`azure_use_msi = true`; `azure_client_id` picks a user-assigned
/// identity). App Service's `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` are used
/// when set, else the instance metadata service, which
/// `AZURE_POD_IDENTITY_AUTHORITY_HOST` moves as it does for the Azure SDKs.
#[derive(Debug, Clone, Copy)]
pub struct AzureMsi;

#[async_trait]
impl CredentialStrategy for AzureMsi {
    fn auth_type(&self) -> &'static str {
        "azure-msi"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["azure_use_msi"]
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some("on Azure Databricks, with azure_use_msi = true and a host or azure_workspace_resource_id")
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        if !cfg.flag("azure_use_msi")? || !(cfg.is_set("host") || cfg.is_set("azure_workspace_resource_id")) {
            return Ok(None);
        }
        let Some(endpoints) = AzureEndpoints::for_config(cfg)? else {
            return Ok(None);
        };
        let endpoint = MsiEndpoint::for_config(cfg);
        let client_id = cfg.get("azure_client_id").map(str::to_string);
        let source_for = |resource: &str| -> Arc<dyn TokenSource> {
            Arc::new(MsiTokenSource {
                http: ctx.http.clone(),
                endpoint: endpoint.clone(),
                resource: resource.to_string(),
                client_id: client_id.clone(),
            })
        };
        tracing::info!("using an Azure managed identity");
        AzureCredentials::of_service_principal(cfg, ctx, &endpoints, source_for).await
    }
}

#[derive(Clone)]
enum MsiEndpoint {
    /// App Service and Functions: `IDENTITY_ENDPOINT` with `X-IDENTITY-HEADER`.
    AppService { url: String, secret: SecretString },
    /// The instance metadata service, `<base>/metadata/identity/oauth2/token`.
    Imds { base: String },
}

impl fmt::Debug for MsiEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsiEndpoint::AppService { url, .. } => write!(f, "AppService({url})"),
            MsiEndpoint::Imds { base } => write!(f, "Imds({base})"),
        }
    }
}

impl MsiEndpoint {
    fn for_config(cfg: &Config) -> MsiEndpoint {
        // Service Fabric sets these two as well, with a thumbprint, and
        // speaks another protocol: it is left to the metadata service.
        let service_fabric = cfg.env_var("IDENTITY_SERVER_THUMBPRINT").is_some();
        if let (Some(url), Some(secret), false) =
            (cfg.env_var("IDENTITY_ENDPOINT"), cfg.env_var("IDENTITY_HEADER"), service_fabric)
        {
            return MsiEndpoint::AppService { url, secret: SecretString::from(secret) };
        }
        let base = cfg.env_var("AZURE_POD_IDENTITY_AUTHORITY_HOST").unwrap_or_else(|| "http://169.254.169.254".into());
        MsiEndpoint::Imds { base: base.trim_end_matches('/').to_string() }
    }
}

#[derive(Debug)]
struct MsiTokenSource {
    http: reqwest::Client,
    endpoint: MsiEndpoint,
    resource: String,
    client_id: Option<String>,
}

#[async_trait]
impl TokenSource for MsiTokenSource {
    async fn token(&self) -> Result<Token> {
        let mut query = vec![("resource", self.resource.as_str())];
        if let Some(client_id) = &self.client_id {
            query.push(("client_id", client_id));
        }
        let (url, api_version, (header, value)) = match &self.endpoint {
            MsiEndpoint::AppService { url, secret } => {
                let secret = sensitive_header_value(secret.expose_secret())
                    .ok_or_else(|| Error::config("IDENTITY_HEADER has characters not allowed in a header"))?;
                (url.clone(), "2019-08-01", ("X-IDENTITY-HEADER", secret))
            }
            MsiEndpoint::Imds { base } => {
                let url = format!("{base}/metadata/identity/oauth2/token");
                (url, "2018-02-01", ("Metadata", HeaderValue::from_static("true")))
            }
        };
        let request = || {
            let request = self.http.get(&url).query(&[("api-version", api_version)]).query(&query);
            request.header(header, value.clone()).timeout(MSI_TIMEOUT)
        };
        let what = format!("the managed identity token request ({:?})", self.endpoint);
        let (status, body) = send_auth_request(&what, request).await?;
        if !status.is_success() {
            return Err(token_endpoint_error(status.as_u16(), &body));
        }
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|e| Error::auth(format!("invalid managed identity token response: {e}")))?;
        match (answer.get("access_token").and_then(Value::as_str), answer.get("expires_on").and_then(epoch_time)) {
            (Some(access), Some(at)) => {
                let token_type = answer.get("token_type").and_then(Value::as_str).unwrap_or_default();
                Ok(Token::expiring_at(access, token_type, at))
            }
            _ => parse_token_response(&body),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    #[test]
    fn a_persons_login_is_told_by_its_upn_claim() {
        let encode = |claims: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        let person = Token::new(format!("h.{}.s", encode(r#"{"upn":"ann@contoso.com"}"#)), "Bearer", None);
        let robot = Token::new(format!("h.{}.s", encode(r#"{"appid":"x"}"#)), "Bearer", None);
        assert!(is_persons_token(&person));
        assert!(!is_persons_token(&robot));
        assert!(!is_persons_token(&Token::new("opaque", "Bearer", None)));
    }
}

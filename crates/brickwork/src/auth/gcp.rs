//! Databricks on Google Cloud: a Google ID token for the workspace, plus a
//! Google access token in `X-Databricks-GCP-SA-Access-Token` (needed by
//! some account operations, best effort), from a service account key
//! (`google-credentials`) or by impersonating `google_service_account`
//! with the caller's application default credentials (`google-id`).
//!
//! Key files name their own token endpoint (`token_uri`); the metadata
//! server moves with `GCE_METADATA_HOST` as in Google's libraries, and the
//! IAM credentials API with `BRICKWORK_GOOGLE_IAM_CREDENTIALS_ENDPOINT`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use reqwest::header::HeaderMap;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::oauth::{parse_token_response, token_endpoint_error};
use super::token::{epoch_time, jwt_claims};
use super::{
    has_all, send_auth_request, sensitive_header_value, AuthContext, CredentialStrategy, CredentialsProvider, Token,
    TokenCache, TokenSource,
};
use crate::config::Config;
use crate::error::{Error, Result};

const ACCESS_TOKEN_HEADER: &str = "X-Databricks-GCP-SA-Access-Token";
/// The scopes of the access token sent beside the ID token.
const GCP_SCOPES: [&str; 2] =
    ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/compute"];
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const IAM_CREDENTIALS_OVERRIDE: &str = "BRICKWORK_GOOGLE_IAM_CREDENTIALS_ENDPOINT";
const IAM_CREDENTIALS: &str = "https://iamcredentials.googleapis.com";
/// Self-signed assertions ask for tokens of the longest life Google grants.
const ASSERTION_LIFETIME: u64 = 3600;
/// How long the metadata server may take; off Google Cloud it is absent.
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);

/// A service account key (`google_credentials`: the key file's path or its
/// JSON). The ID token is for the workspace host.
#[derive(Debug, Clone, Copy)]
pub struct GoogleCredentials;

#[async_trait]
impl CredentialStrategy for GoogleCredentials {
    fn auth_type(&self) -> &'static str {
        "google-credentials"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["host", "google_credentials"]
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let (true, Some(raw), Some(host)) = (has_all(cfg, self.needs()), cfg.expose("google_credentials"), cfg.host())
        else {
            return Ok(None);
        };
        let key = Arc::new(ServiceAccountKey::load(raw)?);
        tracing::info!(client_email = key.client_email, "using a Google service account key");
        let source = |want: Want| -> Arc<dyn TokenSource> {
            Arc::new(SignedAssertion { http: ctx.http.clone(), key: key.clone(), want })
        };
        let id_tokens = source(Want::IdToken { audience: host.to_string() });
        let access_tokens = source(Want::AccessToken { scopes: &GCP_SCOPES });
        Ok(Some(Arc::new(GoogleHeaders::new(id_tokens, access_tokens))))
    }
}

/// Impersonation of `google_service_account` through the IAM credentials
/// API, as the caller's application default credentials
/// (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's login, or the metadata server).
#[derive(Debug, Clone, Copy)]
pub struct GoogleId;

#[async_trait]
impl CredentialStrategy for GoogleId {
    fn auth_type(&self) -> &'static str {
        "google-id"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["host", "google_service_account"]
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some("with Google application default credentials allowed to impersonate google_service_account")
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let (true, Some(account), Some(host)) =
            (has_all(cfg, self.needs()), cfg.get("google_service_account"), cfg.host())
        else {
            return Ok(None);
        };
        let caller = Arc::new(application_default_credentials(cfg, ctx).await?);
        let iam = cfg.env_var(IAM_CREDENTIALS_OVERRIDE).unwrap_or_else(|| IAM_CREDENTIALS.to_string());
        let account_url = format!("{}/v1/projects/-/serviceAccounts/{account}", iam.trim_end_matches('/'));
        let source = |want: Want| -> Arc<dyn TokenSource> {
            Arc::new(Impersonation {
                http: ctx.http.clone(),
                caller: caller.clone(),
                account_url: account_url.clone(),
                want,
            })
        };
        let id_tokens = source(Want::IdToken { audience: host.to_string() });
        let access_tokens = source(Want::AccessToken { scopes: &GCP_SCOPES });
        tracing::info!(service_account = account, "impersonating a Google service account");
        Ok(Some(Arc::new(GoogleHeaders::new(id_tokens, access_tokens))))
    }
}

/// The ID token as the bearer, and the access token when it can be had.
#[derive(Debug)]
struct GoogleHeaders {
    id_tokens: TokenCache,
    access_tokens: TokenCache,
}

impl GoogleHeaders {
    fn new(id_tokens: Arc<dyn TokenSource>, access_tokens: Arc<dyn TokenSource>) -> Self {
        GoogleHeaders { id_tokens: TokenCache::new(id_tokens), access_tokens: TokenCache::new(access_tokens) }
    }
}

#[async_trait]
impl CredentialsProvider for GoogleHeaders {
    async fn headers(&self) -> Result<HeaderMap> {
        let mut headers = self.id_tokens.token().await?.authorization()?;
        // Only some account operations need it, and the caller may not be
        // allowed to mint it: as in the official SDKs, that is no failure.
        match self.access_tokens.token().await {
            Ok(token) => {
                if let Some(value) = sensitive_header_value(token.access_token().expose_secret()) {
                    headers.insert(ACCESS_TOKEN_HEADER, value);
                }
            }
            Err(e) => tracing::warn!("no Google access token for {ACCESS_TOKEN_HEADER}: {e}"),
        }
        Ok(headers)
    }
}

/// A service account key, its private key held only as a signer.
struct ServiceAccountKey {
    client_email: String,
    private_key_id: String,
    token_uri: Option<String>,
    signer: RsaKeyPair,
}

/// The fields of a key file that matter here.
#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    token_uri: Option<String>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey").field("client_email", &self.client_email).finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// From a file when the value names one, else from the value itself,
    /// as the official SDKs read it; the key is checked now. The value is a
    /// secret, so it is never quoted: not even as a path that failed.
    fn load(raw: &str) -> Result<ServiceAccountKey> {
        let path = PathBuf::from(raw.trim());
        if path.is_file() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::config(format!("cannot read the google_credentials file: {e}")))?;
            return Self::parse(&text);
        }
        Self::parse(raw.trim_start_matches('\u{feff}'))
    }

    fn parse(text: &str) -> Result<ServiceAccountKey> {
        // serde_json's messages quote no values, so none of the key leaks.
        let file: KeyFile = serde_json::from_str(text).map_err(|e| {
            Error::config(format!("google_credentials is neither a key file nor service account key JSON: {e}"))
        })?;
        let der = pem_body(&file.private_key)
            .ok_or_else(|| Error::config("google_credentials: private_key is not a PEM private key"))?;
        let signer = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| Error::config(format!("google_credentials: private_key is not an RSA PKCS#8 key: {e}")))?;
        Ok(ServiceAccountKey {
            client_email: file.client_email,
            private_key_id: file.private_key_id,
            token_uri: file.token_uri,
            signer,
        })
    }

    fn token_uri(&self) -> &str {
        self.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI)
    }

    /// A signed JWT assertion with these claims, issued by the account.
    fn assertion(&self, mut claims: serde_json::Map<String, Value>) -> Result<String> {
        let signer = &self.signer;
        let now = unix_now();
        claims.insert("iss".into(), self.client_email.clone().into());
        claims.insert("aud".into(), self.token_uri().into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + ASSERTION_LIFETIME).into());
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.private_key_id});
        let signing_input = format!("{}.{}", b64(&header), b64(&Value::Object(claims)));
        let mut signature = vec![0; signer.public().modulus_len()];
        signer
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| Error::auth("cannot sign the service account assertion"))?;
        Ok(format!("{signing_input}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// The DER bytes between a PEM block's BEGIN and END lines.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok().filter(|der| !der.is_empty())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// What a self-signed assertion is exchanged for.
#[derive(Debug, Clone)]
enum Want {
    /// An ID token whose audience is the workspace.
    IdToken { audience: String },
    /// An access token with these scopes.
    AccessToken { scopes: &'static [&'static str] },
}

/// A service account's own JWT exchanged at its `token_uri`.
#[derive(Debug)]
struct SignedAssertion {
    http: reqwest::Client,
    key: Arc<ServiceAccountKey>,
    want: Want,
}

#[async_trait]
impl TokenSource for SignedAssertion {
    async fn token(&self) -> Result<Token> {
        let mut claims = serde_json::Map::new();
        match &self.want {
            Want::IdToken { audience } => {
                claims.insert("sub".into(), self.key.client_email.clone().into());
                claims.insert("target_audience".into(), audience.clone().into());
            }
            Want::AccessToken { scopes } => {
                claims.insert("scope".into(), scopes.join(" ").into());
            }
        }
        let form = [("grant_type", JWT_BEARER_GRANT.to_string()), ("assertion", self.key.assertion(claims)?)];
        let what = "the Google token request";
        let (status, body) = send_auth_request(what, || self.http.post(self.key.token_uri()).form(&form)).await?;
        if !status.is_success() {
            return Err(token_endpoint_error(status.as_u16(), &body));
        }
        match self.want {
            Want::IdToken { .. } => id_token_response(&body, "id_token"),
            Want::AccessToken { .. } => parse_token_response(&body),
        }
    }
}

/// An ID token from `field` of a JSON answer, expiring when its `exp` claim says.
fn id_token_response(body: &[u8], field: &str) -> Result<Token> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| Error::auth(format!("invalid Google ID token response: {e}")))?;
    let id_token = answer
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::auth(format!("the Google ID token response has no {field}")))?;
    let exp = jwt_claims(id_token).and_then(|claims| claims.get("exp").and_then(epoch_time)).ok_or_else(|| {
        Error::auth("the Google ID token has no valid exp claim: refusing a token that never expires")
    })?;
    Ok(Token::expiring_at(id_token, "Bearer", exp))
}

/// The caller's application default credentials, as Google's libraries
/// find them: the key or login file `GOOGLE_APPLICATION_CREDENTIALS` names,
/// gcloud's `application_default_credentials.json`, else the metadata
/// server of the Google Cloud machine this runs on.
async fn application_default_credentials(cfg: &Config, ctx: &AuthContext) -> Result<TokenCache> {
    let gcloud_dir = cfg
        .env_var("CLOUDSDK_CONFIG")
        .map(PathBuf::from)
        .or_else(|| cfg.env_var("HOME").map(|home| PathBuf::from(home).join(".config/gcloud")));
    let file = match cfg.env_var("GOOGLE_APPLICATION_CREDENTIALS") {
        Some(path) => Some(PathBuf::from(path)),
        None => gcloud_dir.map(|dir| dir.join("application_default_credentials.json")).filter(|p| p.is_file()),
    };
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::config(format!("cannot read Google credentials {}: {e}", path.display())))?;
        let kind: Value = serde_json::from_str(&text)
            .map_err(|e| Error::config(format!("Google credentials {} are not JSON: {e}", path.display())))?;
        return match kind.get("type").and_then(Value::as_str) {
            Some("service_account") => Ok(TokenCache::new(Arc::new(SignedAssertion {
                http: ctx.http.clone(),
                key: Arc::new(ServiceAccountKey::parse(&text)?),
                want: Want::AccessToken { scopes: &[CLOUD_PLATFORM] },
            }))),
            Some("authorized_user") => {
                let login: AuthorizedUserFile = serde_json::from_value(kind).map_err(|e| {
                    Error::config(format!("Google credentials {} are not a gcloud login: {e}", path.display()))
                })?;
                Ok(TokenCache::new(Arc::new(RefreshGrant { http: ctx.http.clone(), login: login.into() })))
            }
            other => Err(Error::config(format!(
                "Google credentials {} are of type {other:?}: only service_account and authorized_user are supported",
                path.display()
            ))),
        };
    }
    let host = cfg.env_var("GCE_METADATA_HOST").unwrap_or_else(|| "metadata.google.internal".to_string());
    let url = format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token");
    let metadata = Arc::new(MetadataServer { http: ctx.http.clone(), url });
    // Asked once now to know it is there; that token is kept.
    let first = metadata.token().await.map_err(|e| {
        Error::config(format!(
            "no Google application default credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, gcloud has no application default login, and the metadata server did not answer ({})",
            e.message()
        ))
    })?;
    Ok(TokenCache::with_token(metadata, first))
}

/// A gcloud user login (`gcloud auth application-default login`).
#[derive(Deserialize)]
struct AuthorizedUserFile {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    #[serde(default)]
    token_uri: Option<String>,
}

struct AuthorizedUser {
    client_id: String,
    client_secret: SecretString,
    refresh_token: SecretString,
    token_uri: Option<String>,
}

impl From<AuthorizedUserFile> for AuthorizedUser {
    fn from(file: AuthorizedUserFile) -> Self {
        AuthorizedUser {
            client_id: file.client_id,
            client_secret: SecretString::from(file.client_secret),
            refresh_token: SecretString::from(file.refresh_token),
            token_uri: file.token_uri,
        }
    }
}

struct RefreshGrant {
    http: reqwest::Client,
    login: AuthorizedUser,
}

impl fmt::Debug for RefreshGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshGrant").field("client_id", &self.login.client_id).finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenSource for RefreshGrant {
    async fn token(&self) -> Result<Token> {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", &self.login.client_id),
            ("client_secret", self.login.client_secret.expose_secret()),
            ("refresh_token", self.login.refresh_token.expose_secret()),
        ];
        let url = self.login.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI);
        let (status, body) = send_auth_request("the Google token refresh", || self.http.post(url).form(&form)).await?;
        if !status.is_success() {
            return Err(token_endpoint_error(status.as_u16(), &body));
        }
        parse_token_response(&body)
    }
}

/// The default service account of a Google Cloud machine.
#[derive(Debug)]
struct MetadataServer {
    http: reqwest::Client,
    url: String,
}

#[async_trait]
impl TokenSource for MetadataServer {
    async fn token(&self) -> Result<Token> {
        let request = || self.http.get(&self.url).header("Metadata-Flavor", "Google").timeout(METADATA_TIMEOUT);
        let (status, body) = send_auth_request("the Google metadata server", request).await?;
        if !status.is_success() {
            return Err(token_endpoint_error(status.as_u16(), &body));
        }
        parse_token_response(&body)
    }
}

/// A call of the IAM credentials API as the caller: an ID token
/// (`generateIdToken`) or access token (`generateAccessToken`) of the
/// impersonated account.
struct Impersonation {
    http: reqwest::Client,
    caller: Arc<TokenCache>,
    /// `<IAM credentials>/v1/projects/-/serviceAccounts/<account>`.
    account_url: String,
    want: Want,
}

impl fmt::Debug for Impersonation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Impersonation").field("account_url", &self.account_url).field("want", &self.want).finish()
    }
}

#[async_trait]
impl TokenSource for Impersonation {
    async fn token(&self) -> Result<Token> {
        let authorization = self.caller.token().await?.authorization()?;
        let (url, body) = match &self.want {
            Want::IdToken { audience } => {
                (format!("{}:generateIdToken", self.account_url), json!({"audience": audience, "includeEmail": true}))
            }
            Want::AccessToken { scopes } => {
                (format!("{}:generateAccessToken", self.account_url), json!({"scope": scopes}))
            }
        };
        let request = || self.http.post(&url).headers(authorization.clone()).json(&body);
        let (status, body) = send_auth_request("the IAM credentials request", request).await?;
        if !status.is_success() {
            let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
            let message = answer.pointer("/error/message").and_then(Value::as_str).unwrap_or("no reason given");
            return Err(Error::auth(format!(
                "cannot impersonate the service account: HTTP {}: {message}",
                status.as_u16()
            ))
            .with_status(status.as_u16()));
        }
        if let Want::IdToken { .. } = self.want {
            return id_token_response(&body, "token");
        }
        let answer: Value =
            serde_json::from_slice(&body).map_err(|e| Error::auth(format!("invalid IAM credentials response: {e}")))?;
        let (Some(access), Some(expire)) = (
            answer.get("accessToken").and_then(Value::as_str),
            answer.get("expireTime").and_then(Value::as_str).and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
        ) else {
            return Err(Error::auth("the IAM credentials response has no accessToken and expireTime"));
        };
        Ok(Token::expiring_at(access, "Bearer", expire.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_rsa_pkcs8_are_configuration_errors_without_the_key() {
        let bad = json!({"client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"});
        let err = ServiceAccountKey::parse(&bad.to_string()).expect_err("not a key");
        assert!(err.message().contains("not an RSA PKCS#8 key") && !err.message().contains("bm90"), "{err}");
        assert!(ServiceAccountKey::parse("{}").is_err());
        let err = ServiceAccountKey::load("/no/such/key.json").expect_err("neither");
        assert!(err.message().contains("neither a key file nor") && !err.message().contains("/no/such"), "{err}");
    }

    #[test]
    fn id_tokens_expire_when_their_claim_says_and_need_one() {
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!("h.{}.s", b64(&format!(r#"{{"exp":{}}}"#, unix_now() + 600)));
        let parsed = id_token_response(json!({"id_token": token}).to_string().as_bytes(), "id_token").expect("ok");
        assert!(parsed.expires_in().is_some_and(|d| d > Duration::from_secs(590)));
        let no_exp = format!("h.{}.s", b64("{}"));
        assert!(id_token_response(json!({"id_token": no_exp}).to_string().as_bytes(), "id_token").is_err());
        assert!(id_token_response(b"[]", "id_token").is_err());
    }
}

//! `metadata-service`: tokens served by a local Databricks metadata service
//! (`DATABRICKS_METADATA_SERVICE_URL`), as used by the official IDE plugins.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::token::epoch_time;
use super::{
    has_all, send_auth_request, AuthContext, CredentialStrategy, CredentialsProvider, Token, TokenCache, TokenSource,
};
use crate::config::Config;
use crate::error::{Error, Result};

const VERSION_HEADER: &str = "X-Databricks-Metadata-Version";
const HOST_HEADER: &str = "X-Databricks-Host";
const VERSION: &str = "1";

/// Tokens from a metadata service (needs `host`, `metadata_service_url`).
#[derive(Debug, Clone, Copy)]
pub struct MetadataService;

#[async_trait]
impl CredentialStrategy for MetadataService {
    fn auth_type(&self) -> &'static str {
        "metadata-service"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["host", "metadata_service_url"]
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let (true, Some(url), Some(host)) = (has_all(cfg, &["host"]), cfg.expose("metadata_service_url"), cfg.host())
        else {
            return Ok(None);
        };
        let _ = ctx;
        let source = Arc::new(MetadataServiceSource {
            http: local_client(url)?,
            url: SecretString::from(url.to_string()),
            host: host.to_string(),
        });
        // Like the official SDKs, fail at configuration time if no token comes back.
        let first = source.token().await?;
        Ok(Some(Arc::new(TokenCache::with_token(source, first))))
    }
}

/// How long the local metadata service may take to answer.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for the metadata service, which must be on this machine (as the
/// official SDKs require): never through a proxy, with a short timeout. The
/// URL is a secret and is not quoted in errors.
fn local_client(url: &str) -> Result<reqwest::Client> {
    let parsed = reqwest::Url::parse(url).map_err(|_| Error::config("metadata_service_url is not a valid URL"))?;
    let local = parsed.host_str().is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost")
            || h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    if !local {
        return Err(Error::config("metadata_service_url must point to localhost (127.0.0.1 or ::1)"));
    }
    reqwest::Client::builder()
        .no_proxy()
        .timeout(METADATA_TIMEOUT)
        .build()
        .map_err(|e| Error::config(format!("cannot build the metadata service client: {e}")))
}

struct MetadataServiceSource {
    http: reqwest::Client,
    url: SecretString,
    host: String,
}

impl fmt::Debug for MetadataServiceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataServiceSource").field("url", &"***").field("host", &self.host).finish()
    }
}

#[derive(Deserialize)]
struct MetadataToken {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_on: Option<Value>,
}

#[async_trait]
impl TokenSource for MetadataServiceSource {
    async fn token(&self) -> Result<Token> {
        let (status, body) = send_auth_request("metadata service request", || {
            self.http.get(self.url.expose_secret()).header(VERSION_HEADER, VERSION).header(HOST_HEADER, &self.host)
        })
        .await?;
        if !status.is_success() {
            return Err(Error::auth(format!("metadata service answered HTTP {}", status.as_u16())));
        }
        let parsed: MetadataToken = serde_json::from_slice(&body)
            .map_err(|e| Error::auth(format!("metadata service returned invalid JSON: {e}")))?;
        let access_token = parsed.access_token.ok_or_else(|| Error::auth("Metadata Service returned empty token"))?;
        let token_type = parsed.token_type.ok_or_else(|| Error::auth("Metadata Service returned empty token type"))?;
        let at = parsed
            .expires_on
            .as_ref()
            .and_then(epoch_time)
            .ok_or_else(|| Error::auth("Metadata Service returned invalid expiry"))?;
        Ok(Token::expiring_at(access_token, token_type, at))
    }
}

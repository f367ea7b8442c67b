//! Expiring tokens and a cache that refreshes them once for all callers.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Mutex, RwLock};

use super::{authorization_header, CredentialsProvider};
use crate::error::Result;

/// Refresh at most this long before expiry. Azure rejects tokens that expire
/// within 30 s, so the official SDKs refresh 40 s early.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(40);

/// Longer lifetimes are clamped (a token endpoint's `1e19` cannot overflow
/// the clock; the token is just refreshed after a year).
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// An access token with its type and expiry.
#[derive(Clone)]
pub struct Token {
    access_token: SecretString,
    token_type: String,
    expires_at: Option<Instant>,
    refresh_at: Option<Instant>,
}

impl Token {
    /// A token valid for `lifetime` from now (`None`: never expires).
    pub fn new(access_token: impl Into<String>, token_type: impl Into<String>, lifetime: Option<Duration>) -> Self {
        let now = Instant::now();
        let lifetime = lifetime.map(|l| l.min(MAX_LIFETIME));
        let expires_at = lifetime.and_then(|l| now.checked_add(l));
        // Short-lived tokens refresh half-way through their life.
        let refresh_at = lifetime.and_then(|l| now.checked_add(l - MAX_REFRESH_MARGIN.min(l / 2)));
        let token_type = token_type.into();
        Token {
            access_token: SecretString::from(access_token.into()),
            token_type: if token_type.is_empty() { "Bearer".to_string() } else { token_type },
            expires_at,
            refresh_at,
        }
    }

    /// A token that expires at a wall-clock time.
    pub fn expiring_at(access_token: impl Into<String>, token_type: impl Into<String>, at: SystemTime) -> Self {
        let lifetime = at.duration_since(SystemTime::now()).unwrap_or_default();
        Self::new(access_token, token_type, Some(lifetime))
    }

    /// The token type, usually `Bearer`.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// The secret token value.
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }

    /// True while the token can be used without refreshing.
    pub fn is_fresh(&self) -> bool {
        self.refresh_at.is_none_or(|at| Instant::now() < at)
    }

    /// Time left before the token expires.
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_at.map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn authorization(&self) -> Result<HeaderMap> {
        authorization_header(&format!("{} {}", self.token_type, self.access_token.expose_secret()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"***")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in())
            .finish()
    }
}

/// Fetches a new token (client credentials, token exchange, a CLI, ...).
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// Obtain a fresh token.
    async fn token(&self) -> Result<Token>;
}

/// Caches a [`TokenSource`]'s token and refreshes it before expiry. Concurrent
/// callers that find it stale wait for one shared refresh.
#[derive(Debug)]
pub struct TokenCache {
    source: Arc<dyn TokenSource>,
    current: RwLock<Option<Token>>,
    refresh: Mutex<()>,
}

impl TokenCache {
    /// A cache over `source`, empty until first use.
    pub fn new(source: Arc<dyn TokenSource>) -> Self {
        TokenCache { source, current: RwLock::new(None), refresh: Mutex::new(()) }
    }

    /// A cache already holding `token` (e.g. fetched while configuring).
    pub fn with_token(source: Arc<dyn TokenSource>, token: Token) -> Self {
        TokenCache { source, current: RwLock::new(Some(token)), refresh: Mutex::new(()) }
    }

    /// The cached token, refreshed if stale.
    pub async fn token(&self) -> Result<Token> {
        if let Some(token) = self.fresh().await {
            return Ok(token);
        }
        let _single_flight = self.refresh.lock().await;
        // Another caller may have refreshed while we waited for the lock.
        if let Some(token) = self.fresh().await {
            return Ok(token);
        }
        let token = self.source.token().await?;
        *self.current.write().await = Some(token.clone());
        Ok(token)
    }

    async fn fresh(&self) -> Option<Token> {
        self.current.read().await.as_ref().filter(|t| t.is_fresh()).cloned()
    }
}

#[async_trait]
impl CredentialsProvider for TokenCache {
    async fn headers(&self) -> Result<HeaderMap> {
        self.token().await?.authorization()
    }
}

//! Expiring tokens and a cache that refreshes them ahead of expiry.
//!
//! A cached token is *fresh*, *stale* or *expired*. A fresh token is served
//! as is. A stale one is still served while one background task fetches its
//! successor, so callers never wait on a refresh that can be done early. An
//! *expired* token (in its last 40 s) that is still valid is served too while
//! a refresh is under way or has just failed: only a caller with no valid
//! token at all waits, and all such callers share one refresh. Failed
//! refreshes back off (a minute in the background, a few seconds near expiry).

use std::fmt;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
// Tokio's clock (the system clock outside tests) lets tests pause time.
use tokio::time::Instant;

use super::{authorization_header, CredentialsProvider};
use crate::error::Result;

/// A token is treated as expired this long before its real expiry (or in the
/// last quarter of a shorter life): Azure rejects tokens that expire within
/// 30 s, so the official SDKs stop using them 40 s early.
const EXPIRY_MARGIN: Duration = Duration::from_secs(40);

/// A token becomes stale, and is refreshed in the background, this long
/// before expiry (or half-way through a shorter life), as in the official
/// SDKs: room to ride out an identity-provider outage of a few minutes.
const MAX_STALE_WINDOW: Duration = Duration::from_secs(20 * 60);

/// After a failed background refresh the stale token is served for this long
/// before the next attempt (an expired token is refreshed at once regardless).
const REFRESH_BACKOFF: Duration = Duration::from_secs(60);

/// After a failed refresh of an expired but still valid token, callers use
/// it for this long before one of them tries again.
const NEAR_EXPIRY_BACKOFF: Duration = Duration::from_secs(5);

/// Longer lifetimes are clamped (a token endpoint's `1e19` cannot overflow
/// the clock; the token is just refreshed after a year).
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// An access token with its type and expiry.
#[derive(Clone)]
pub struct Token {
    access_token: SecretString,
    token_type: String,
    /// `None`: never expires. Otherwise when it stops being valid, when it is
    /// treated as expired, and when a background refresh should start.
    expiry: Option<Expiry>,
}

#[derive(Clone, Copy, Debug)]
struct Expiry {
    at: Instant,
    unusable_at: Instant,
    stale_at: Instant,
}

/// What a cached token is good for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freshness {
    Fresh,
    Stale,
    Expired,
}

impl Token {
    /// A token valid for `lifetime` from now (`None`: never expires).
    pub fn new(access_token: impl Into<String>, token_type: impl Into<String>, lifetime: Option<Duration>) -> Self {
        let now = Instant::now();
        let expiry = lifetime.map(|l| l.min(MAX_LIFETIME)).and_then(|life| {
            Some(Expiry {
                at: now.checked_add(life)?,
                unusable_at: now.checked_add(life - EXPIRY_MARGIN.min(life / 4))?,
                stale_at: now.checked_add(life - MAX_STALE_WINDOW.min(life / 2))?,
            })
        });
        let token_type = token_type.into();
        Token {
            access_token: SecretString::from(access_token.into()),
            token_type: if token_type.is_empty() { "Bearer".to_string() } else { token_type },
            expiry,
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
        self.freshness() == Freshness::Fresh
    }

    /// Time left before the token expires.
    pub fn expires_in(&self) -> Option<Duration> {
        self.expiry.map(|e| e.at.saturating_duration_since(Instant::now()))
    }

    fn freshness(&self) -> Freshness {
        let now = Instant::now();
        match self.expiry {
            None => Freshness::Fresh,
            Some(e) if now >= e.unusable_at => Freshness::Expired,
            Some(e) if now >= e.stale_at => Freshness::Stale,
            Some(_) => Freshness::Fresh,
        }
    }

    /// Not yet past its real expiry (the margin aside).
    fn is_valid(&self) -> bool {
        self.expiry.is_none_or(|e| Instant::now() < e.at)
    }

    pub(crate) fn authorization(&self) -> Result<HeaderMap> {
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

/// A wall-clock time given as seconds since the epoch, a number or a
/// numeric string (token endpoints send both); `None` for anything else.
pub(crate) fn epoch_time(value: &serde_json::Value) -> Option<SystemTime> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    SystemTime::UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(seconds).ok()?)
}

/// The claims of a JWT, unverified: only for reading what a token says of
/// itself (its expiry, whether a person holds it), never for trusting it.
pub(crate) fn jwt_claims(jwt: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Fetches a new token (client credentials, token exchange, a CLI, ...).
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// Obtain a fresh token.
    async fn token(&self) -> Result<Token>;
}

/// Caches a [`TokenSource`]'s token and refreshes it ahead of expiry (see
/// the module docs). Concurrent callers share one refresh.
#[derive(Debug, Clone)]
pub struct TokenCache {
    inner: Arc<CacheInner>,
}

#[derive(Debug)]
struct CacheInner {
    source: Arc<dyn TokenSource>,
    cached: StdMutex<Cached>,
    /// Held by whoever is fetching a token, in the background or not.
    refreshing: Arc<Mutex<()>>,
}

#[derive(Debug, Default)]
struct Cached {
    token: Option<Token>,
    /// No background refresh before this (set after one failed).
    next_background_attempt: Option<Instant>,
    /// No refresh of an expired, still valid token before this.
    next_blocking_attempt: Option<Instant>,
}

impl TokenCache {
    /// A cache over `source`, empty until first use.
    pub fn new(source: Arc<dyn TokenSource>) -> Self {
        Self::holding(source, None)
    }

    /// A cache already holding `token` (e.g. fetched while configuring).
    pub fn with_token(source: Arc<dyn TokenSource>, token: Token) -> Self {
        Self::holding(source, Some(token))
    }

    /// A cache starting with `token` when there is one.
    pub(crate) fn holding(source: Arc<dyn TokenSource>, token: Option<Token>) -> Self {
        let cached = StdMutex::new(Cached { token, ..Cached::default() });
        TokenCache { inner: Arc::new(CacheInner { source, cached, refreshing: Arc::new(Mutex::new(())) }) }
    }

    /// A usable token: the cached one while it is fresh or stale (a stale one
    /// starts a background refresh), else a new one.
    pub async fn token(&self) -> Result<Token> {
        if let Some(token) = self.usable_token() {
            return Ok(token);
        }
        if let Some(valid) = self.current().filter(Token::is_valid) {
            return self.refresh_expiring(valid).await;
        }
        let _single_flight = self.inner.refreshing.lock().await;
        self.fetch_unless_refreshed().await
    }

    /// With the refresh lock held: the token another caller (or the
    /// background task) stored meanwhile, else a new one.
    async fn fetch_unless_refreshed(&self) -> Result<Token> {
        if let Some(token) = self.current().filter(|t| t.freshness() != Freshness::Expired) {
            return Ok(token);
        }
        let token = self.inner.source.token().await?;
        self.store(token.clone());
        Ok(token)
    }

    /// Refresh a token in its last seconds, without ever making a caller wait
    /// on a refresh in flight or repeat one that just failed: `valid` serves.
    async fn refresh_expiring(&self, valid: Token) -> Result<Token> {
        let backing_off = self.lock().next_blocking_attempt.is_some_and(|at| Instant::now() < at);
        if backing_off {
            return Ok(valid);
        }
        let Ok(_single_flight) = self.inner.refreshing.try_lock() else {
            return Ok(valid);
        };
        match self.fetch_unless_refreshed().await {
            Ok(token) => Ok(token),
            Err(e) => {
                tracing::warn!(error = %e, "token refresh failed; using the cached token until it expires");
                self.lock().next_blocking_attempt = Some(Instant::now() + NEAR_EXPIRY_BACKOFF);
                Ok(valid)
            }
        }
    }

    /// The cached token unless it has expired; starts a background refresh
    /// when it is stale.
    fn usable_token(&self) -> Option<Token> {
        let mut cached = self.lock();
        let token = cached.token.clone()?;
        match token.freshness() {
            Freshness::Fresh => Some(token),
            Freshness::Expired => None,
            Freshness::Stale => {
                let due = cached.next_background_attempt.is_none_or(|at| Instant::now() >= at);
                if due {
                    self.start_background_refresh(&mut cached);
                }
                Some(token)
            }
        }
    }

    /// Fetch the next token on a spawned task, unless a refresh is already
    /// under way or there is no Tokio runtime to run it on (then the token is
    /// refreshed when it expires).
    fn start_background_refresh(&self, cached: &mut Cached) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let Ok(guard) = self.inner.refreshing.clone().try_lock_owned() else { return };
        // Until this attempt ends, callers keep the stale token without asking again.
        cached.next_background_attempt = Some(Instant::now() + REFRESH_BACKOFF);
        let cache = self.clone();
        runtime.spawn(async move {
            let _single_flight = guard;
            match cache.inner.source.token().await {
                Ok(token) => cache.store(token),
                Err(e) => {
                    tracing::warn!(error = %e, "background token refresh failed; the current token is used meanwhile");
                    cache.lock().next_background_attempt = Some(Instant::now() + REFRESH_BACKOFF);
                }
            }
        });
    }

    fn store(&self, token: Token) {
        *self.lock() = Cached { token: Some(token), ..Cached::default() };
    }

    fn current(&self) -> Option<Token> {
        self.lock().token.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        // The state is a plain value replaced whole: still sound after a panic elsewhere.
        self.inner.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl CredentialsProvider for TokenCache {
    async fn headers(&self) -> Result<HeaderMap> {
        self.token().await?.authorization()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::error::Error;

    #[test]
    fn epoch_times_are_read_from_numbers_and_numeric_strings_and_nothing_else() {
        use serde_json::Value;
        assert!(epoch_time(&Value::from(4_000_000_000u64)).is_some());
        assert!(epoch_time(&Value::from("4000000000.5")).is_some());
        assert!(epoch_time(&Value::from("soon")).is_none());
        assert!(epoch_time(&Value::from(-5)).is_none());
        assert!(epoch_time(&Value::from(1e300)).is_none());
        assert!(jwt_claims("h.e30.s").is_some_and(|c| c.is_empty()));
        assert!(jwt_claims("opaque").is_none());
    }

    fn windows(life: Duration) -> (Duration, Duration) {
        let token = Token::new("t", "", Some(life));
        let e = token.expiry.expect("expires");
        (e.at - e.stale_at, e.at - e.unusable_at)
    }

    #[test]
    fn stale_window_is_half_the_life_up_to_twenty_minutes_and_expiry_margin_forty_seconds() {
        assert_eq!(windows(Duration::from_secs(3600)), (MAX_STALE_WINDOW, EXPIRY_MARGIN));
        assert_eq!(windows(Duration::from_secs(600)), (Duration::from_secs(300), EXPIRY_MARGIN));
        assert_eq!(windows(Duration::from_secs(8)), (Duration::from_secs(4), Duration::from_secs(2)));
        assert_eq!(Token::new("t", "", None).freshness(), Freshness::Fresh);
        assert_eq!(Token::new("t", "", Some(Duration::ZERO)).freshness(), Freshness::Expired);
    }

    /// How the scripted source answers its n-th request.
    #[derive(Debug, Clone, Copy)]
    enum Answer {
        /// A token `tok-n` living this long, after this delay.
        Token {
            life: Duration,
            after: Duration,
        },
        Fail,
        Hang,
    }

    /// A token source answering from a script (the last answer repeats).
    #[derive(Debug)]
    struct Scripted {
        script: Vec<Answer>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl TokenSource for Scripted {
        async fn token(&self) -> Result<Token> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            match self.script[n.min(self.script.len() - 1)] {
                Answer::Token { life, after } => {
                    tokio::time::sleep(after).await;
                    Ok(Token::new(format!("tok-{n}"), "", Some(life)))
                }
                Answer::Fail => Err(Error::auth("identity provider down")),
                Answer::Hang => std::future::pending().await,
            }
        }
    }

    fn cache(script: Vec<Answer>) -> (TokenCache, Arc<Scripted>) {
        let source = Arc::new(Scripted { script, calls: AtomicUsize::new(0) });
        (TokenCache::new(source.clone()), source)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn hour_token() -> Answer {
        Answer::Token { life: HOUR, after: Duration::from_millis(10) }
    }

    async fn value(cache: &TokenCache) -> String {
        cache.token().await.expect("token").access_token.expose_secret().to_string()
    }

    /// Let spawned refreshes run to completion (time is paused: no real wait).
    async fn settle() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn fifty_callers_without_a_token_share_one_refresh() {
        let (cache, source) = cache(vec![hour_token()]);
        let calls = (0..50).map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { value(&cache).await })
        });
        for got in futures::future::join_all(calls).await {
            assert_eq!(got.expect("join"), "tok-0");
        }
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_token_is_served_while_one_background_refresh_runs() {
        let (cache, source) = cache(vec![hour_token(), Answer::Token { life: HOUR, after: Duration::from_secs(30) }]);
        assert_eq!(value(&cache).await, "tok-0");
        tokio::time::advance(Duration::from_secs(45 * 60)).await; // stale: the last 20 minutes
        for _ in 0..50 {
            assert_eq!(value(&cache).await, "tok-0", "served at once, the refresh runs behind");
        }
        tokio::time::sleep(Duration::from_millis(1)).await; // the spawned refresh starts
        assert_eq!(source.calls.load(Ordering::SeqCst), 2, "one background refresh for 50 callers");
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(value(&cache).await, "tok-1");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_background_refresh_backs_off_a_minute() {
        let (cache, source) = cache(vec![hour_token(), Answer::Fail, hour_token()]);
        value(&cache).await;
        tokio::time::advance(Duration::from_secs(45 * 60)).await;
        assert_eq!(value(&cache).await, "tok-0");
        settle().await;
        assert_eq!(value(&cache).await, "tok-0", "the stale token still serves");
        assert_eq!(source.calls.load(Ordering::SeqCst), 2, "no new attempt during the backoff");
        tokio::time::advance(REFRESH_BACKOFF).await;
        assert_eq!(value(&cache).await, "tok-0");
        settle().await;
        assert_eq!(value(&cache).await, "tok-2", "retried after the backoff");
    }

    #[tokio::test(start_paused = true)]
    async fn near_expiry_a_failed_refresh_serves_the_valid_token_and_backs_off_until_it_is_invalid() {
        let (cache, source) = cache(vec![hour_token(), Answer::Fail]);
        value(&cache).await;
        tokio::time::advance(HOUR - Duration::from_secs(30)).await; // inside the 40 s margin
        assert_eq!(value(&cache).await, "tok-0", "the refresh failed; the token is valid 30 s more");
        let attempts = source.calls.load(Ordering::SeqCst);
        for _ in 0..20 {
            assert_eq!(value(&cache).await, "tok-0");
        }
        assert_eq!(source.calls.load(Ordering::SeqCst), attempts, "callers do not pile up on failing refreshes");
        tokio::time::advance(Duration::from_secs(31)).await;
        let err = cache.token().await.expect_err("expired, and no new token");
        assert_eq!(err.kind(), crate::ErrorKind::Auth);
    }

    #[tokio::test(start_paused = true)]
    async fn near_expiry_a_hung_refresh_does_not_block_callers_while_the_token_is_valid() {
        let (cache, _source) = cache(vec![hour_token(), Answer::Hang]);
        value(&cache).await;
        tokio::time::advance(HOUR - Duration::from_secs(20 * 60 - 1)).await; // stale: background refresh hangs
        assert_eq!(value(&cache).await, "tok-0");
        tokio::time::advance(Duration::from_secs(20 * 60 - 30)).await; // inside the margin
        for _ in 0..10 {
            assert_eq!(value(&cache).await, "tok-0", "not queued behind the hung refresh");
        }
    }
}

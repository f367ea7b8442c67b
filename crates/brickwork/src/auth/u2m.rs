//! `external-browser`: a person logs in through the browser (OAuth U2M).
//!
//! Authorization code flow with PKCE against the workspace's or account's
//! OIDC endpoints, a loopback listener for the redirect, and refresh tokens
//! kept in the official CLI's token cache (`~/.databricks/token-cache.json`,
//! same format and keys), so a login made with `databricks auth login` is
//! used as it is, and a login made here is the CLI's too.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SecureRandom;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::cli::parse_expiry;
use super::oauth::{parse_token_response, scope_list, token_endpoint_error};
use super::{
    send_single_use_grant, AuthContext, CredentialStrategy, CredentialsProvider, Token, TokenCache, TokenSource,
};
use crate::config::{normalize_host, Config, HostType};
use crate::error::{Error, Result};

/// The official CLI's public OAuth client, used when no `client_id` is set.
pub const CLI_CLIENT_ID: &str = "databricks-cli";
/// The loopback port the CLI's client is registered with.
const DEFAULT_PORT: u16 = 8020;
/// How long a person has to finish logging in.
const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);
/// A cached token closer than this to expiry is refreshed before use.
const REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// The only token cache format the official CLI writes.
const CACHE_VERSION: u32 = 1;
/// Largest redirect request the listener reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// Opens the login URL: the system browser unless replaced.
type OpenBrowser = Arc<dyn Fn(&str) -> io::Result<()> + Send + Sync>;

/// Browser login (`auth_type = "external-browser"`, which it needs: a
/// program must not open a browser unasked). A valid or refreshable login in
/// the token cache is used without a browser.
#[derive(Clone)]
pub struct ExternalBrowser {
    port: u16,
    open_browser: Option<OpenBrowser>,
    login_timeout: Duration,
    /// False: only a cached login is used, and without one this fails.
    may_open_browser: bool,
}

impl fmt::Debug for ExternalBrowser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalBrowser").field("port", &self.port).field("login_timeout", &self.login_timeout).finish()
    }
}

impl Default for ExternalBrowser {
    fn default() -> Self {
        ExternalBrowser {
            port: DEFAULT_PORT,
            open_browser: None,
            login_timeout: DEFAULT_LOGIN_TIMEOUT,
            may_open_browser: true,
        }
    }
}

impl ExternalBrowser {
    /// Listen for the redirect on this loopback port (default 8020, the one
    /// the CLI's client is registered with; 0 picks a free one).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Open the login URL with `open` instead of the system browser (`BROWSER`,
    /// else `xdg-open`, `open` or `start`).
    pub fn with_browser(mut self, open: impl Fn(&str) -> io::Result<()> + Send + Sync + 'static) -> Self {
        self.open_browser = Some(Arc::new(open));
        self
    }

    /// Use only a login the cache holds (refreshing it if need be); without
    /// one, fail with the command that logs in instead of opening a browser
    /// (what `brickwork auth describe` does).
    pub fn cached_only(mut self) -> Self {
        self.may_open_browser = false;
        self
    }

    /// How long the person has to log in (default 5 minutes).
    pub fn with_login_timeout(mut self, timeout: Duration) -> Self {
        self.login_timeout = timeout;
        self
    }

    /// Log in through the browser whatever the cache holds, and store the
    /// result in the token cache (what `brickwork auth login` does).
    pub async fn login(&self, cfg: &Config, ctx: &AuthContext) -> Result<()> {
        let session = Session::new(cfg, ctx).await?;
        // A cache this version cannot rewrite would refuse the login only
        // after the person went through the browser: say so first.
        session.store.lookup().map_err(|e| Error::auth(format!("cannot keep a login in the token cache: {e}")))?;
        let login = self.browser_login(cfg, &session).await?;
        // Keeping the login is the point of this call: a cache that cannot
        // be written is its failure, not a warning.
        session
            .store
            .try_save(&login)
            .map_err(|e| Error::auth(format!("cannot save the login in the token cache: {e}")))
    }

    async fn browser_login(&self, cfg: &Config, session: &Session) -> Result<StoredToken> {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.map_err(|e| {
            Error::auth(format!("cannot listen on localhost:{} for the login redirect: {e}", self.port))
        })?;
        let port = listener.local_addr().map_err(|e| Error::auth(format!("loopback listener: {e}")))?.port();
        let redirect_uri = format!("http://localhost:{port}");
        let pkce = Pkce::new()?;
        let url = session.authorization_url(&redirect_uri, &pkce)?;
        let opened = match &self.open_browser {
            Some(open) => open(&url),
            None => {
                // The person at the terminal needs the URL when no browser opens.
                eprintln!("Log in to {} in your browser: {url}", session.host);
                open_system_browser(cfg, &url)
            }
        };
        if let Err(e) = opened {
            tracing::warn!("cannot open a browser ({e}); open the URL above by hand");
        }
        let code = tokio::time::timeout(self.login_timeout, wait_for_code(&listener, &pkce.state))
            .await
            .map_err(|_| Error::auth(format!("the browser login did not finish within {:?}", self.login_timeout)))??;
        session.redeem(&code, &pkce.verifier, &redirect_uri).await
    }
}

#[async_trait]
impl CredentialStrategy for ExternalBrowser {
    fn auth_type(&self) -> &'static str {
        "external-browser"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["host"]
    }

    fn applies_when(&self) -> Option<&'static str> {
        Some("when auth_type is external-browser")
    }

    async fn configure(&self, cfg: &Config, ctx: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        if cfg.auth_type() != Some(self.auth_type()) || cfg.host().is_none() {
            return Ok(None);
        }
        let session = Arc::new(Session::new(cfg, ctx).await?);
        // Why the cache held no usable login, for the person who must log in.
        let mut why = "no login in the token cache".to_string();
        let cached = match session.store.lookup() {
            Ok(Some(stored)) if stored.is_fresh() => Some((stored, false)),
            Ok(Some(stored)) => match session.refresh(&stored).await {
                Ok(refreshed) => Some((refreshed, true)),
                Err(e) => {
                    why = format!("the cached login cannot be refreshed ({e})");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                why = format!("the token cache cannot be read ({e})");
                None
            }
        };
        let login = match cached {
            Some((login, changed)) => {
                if changed {
                    session.store.save(&login);
                }
                login
            }
            None if !self.may_open_browser => {
                return Err(Error::auth(format!(
                    "not logged in to {}: {why}; run `brickwork auth login` (or `databricks auth login`)",
                    session.host
                )))
            }
            None => {
                tracing::warn!("{why}; logging in through the browser");
                let login = self.browser_login(cfg, &session).await?;
                session.store.save(&login);
                login
            }
        };
        let first = login.token()?;
        let source = Arc::new(RefreshingLogin { session, last: Mutex::new(login) });
        Ok(Some(Arc::new(TokenCache::with_token(source, first))))
    }
}

/// Everything one login needs: endpoints, client, scopes and the cache.
struct Session {
    http: reqwest::Client,
    host: String,
    authorization_endpoint: String,
    token_endpoint: String,
    client_id: String,
    client_secret: Option<SecretString>,
    scopes: String,
    store: TokenStore,
}

impl Session {
    async fn new(cfg: &Config, ctx: &AuthContext) -> Result<Session> {
        let host = normalize_host(cfg.host().ok_or_else(|| Error::config("host is required for a browser login"))?);
        let endpoints = super::OidcEndpoints::discover(cfg, ctx).await?;
        if endpoints.authorization_endpoint.is_empty() {
            return Err(Error::auth("the OIDC discovery document names no authorization_endpoint"));
        }
        let (client_id, client_secret) = match cfg.get("client_id") {
            Some(id) => (id.to_string(), cfg.expose("client_secret").map(|s| SecretString::from(s.to_string()))),
            None => (CLI_CLIENT_ID.to_string(), None),
        };
        let mut scopes = scope_list(cfg);
        if !cfg.flag("disable_oauth_refresh_token")? && !scopes.iter().any(|s| s == "offline_access") {
            scopes.push("offline_access".to_string());
        }
        Ok(Session {
            http: ctx.http.clone(),
            store: TokenStore::for_config(cfg, &host, &client_id),
            host,
            authorization_endpoint: endpoints.authorization_endpoint,
            token_endpoint: endpoints.token_endpoint,
            client_id,
            client_secret,
            scopes: scopes.join(" "),
        })
    }

    fn authorization_url(&self, redirect_uri: &str, pkce: &Pkce) -> Result<String> {
        let mut url = reqwest::Url::parse(&self.authorization_endpoint)
            .map_err(|e| Error::auth(format!("invalid authorization_endpoint {}: {e}", self.authorization_endpoint)))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.scopes)
            .append_pair("state", &pkce.state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    async fn redeem(&self, code: &str, verifier: &str, redirect_uri: &str) -> Result<StoredToken> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", redirect_uri),
        ])
        .await
    }

    async fn refresh(&self, stored: &StoredToken) -> Result<StoredToken> {
        if stored.refresh_token.is_empty() {
            return Err(Error::auth("the login has expired and has no refresh token: log in again"));
        }
        let mut refreshed =
            self.token_request(&[("grant_type", "refresh_token"), ("refresh_token", &stored.refresh_token)]).await?;
        // A server that does not rotate refresh tokens answers without one.
        if refreshed.refresh_token.is_empty() {
            refreshed.refresh_token.clone_from(&stored.refresh_token);
        }
        Ok(refreshed)
    }

    async fn token_request(&self, grant: &[(&str, &str)]) -> Result<StoredToken> {
        let mut form: Vec<(&str, &str)> = grant.to_vec();
        if self.client_secret.is_none() {
            form.push(("client_id", &self.client_id));
        }
        let request = || {
            let request = self.http.post(&self.token_endpoint).form(&form);
            match &self.client_secret {
                Some(secret) => request.basic_auth(&self.client_id, Some(secret.expose_secret())),
                None => request,
            }
        };
        let what = format!("the token request to {}", self.token_endpoint);
        let (status, body) = send_single_use_grant(&what, request).await?;
        if !status.is_success() {
            return Err(token_endpoint_error(status.as_u16(), &body));
        }
        StoredToken::from_response(&body)
    }
}

/// Refreshes the login, taking the newest one from the cache file first: the
/// CLI or another program may have refreshed it (and spent the refresh token
/// this process holds).
struct RefreshingLogin {
    session: Arc<Session>,
    last: Mutex<StoredToken>,
}

impl fmt::Debug for RefreshingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshingLogin").field("token_endpoint", &self.session.token_endpoint).finish()
    }
}

#[async_trait]
impl TokenSource for RefreshingLogin {
    async fn token(&self) -> Result<Token> {
        let held = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let on_disk = self.session.store.lookup().ok().flatten();
        let login = match on_disk {
            Some(disk)
                if disk.access_token != held.access_token
                    && disk.expires_at() > held.expires_at()
                    && disk.is_fresh() =>
            {
                disk
            }
            disk => {
                let base = disk.filter(|d| !d.refresh_token.is_empty()).unwrap_or(held);
                let refreshed = self.session.refresh(&base).await?;
                self.session.store.save(&refreshed);
                refreshed
            }
        };
        let token = login.token()?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = login;
        Ok(token)
    }
}

/// PKCE verifier and challenge (S256) and the anti-forgery state.
struct Pkce {
    verifier: String,
    challenge: String,
    state: String,
}

impl Pkce {
    fn new() -> Result<Pkce> {
        let random = |len| Self::random(len).map_err(|_| Error::auth("no secure random numbers for the login"));
        let verifier = random(32)?;
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
        Ok(Pkce { verifier, challenge, state: random(16)? })
    }

    /// `len` random bytes from the system's secure source, URL-safe base64.
    fn random(len: usize) -> io::Result<String> {
        let mut bytes = vec![0u8; len];
        ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| io::Error::other("no secure random numbers"))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// Serve the loopback redirect until it brings a code (or an error) for
/// this login. Connections are served side by side, so one a browser opens
/// early and leaves idle delays nothing; a request of another state (not
/// this login's, perhaps forged) is refused and the wait goes on.
async fn wait_for_code(listener: &TcpListener, state: &str) -> Result<String> {
    let (found, mut outcomes) = tokio::sync::mpsc::channel::<Result<String>>(1);
    // Dropped on return: connections still open are closed.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted.map_err(|e| Error::auth(format!("login redirect: {e}")))?;
                connections.spawn(serve_redirect(stream, state.to_string(), found.clone()));
            }
            Some(outcome) = outcomes.recv() => return outcome,
        }
        while connections.try_join_next().is_some() {}
    }
}

/// Answer one request on the loopback listener; a redirect of this login
/// sends its outcome to `found`.
async fn serve_redirect(mut stream: TcpStream, state: String, found: tokio::sync::mpsc::Sender<Result<String>>) {
    let Some(params) = read_redirect(&mut stream).await else {
        return respond(&mut stream, "404 Not Found", "Not found").await;
    };
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if param("code").is_none() && param("error").is_none() {
        return respond(&mut stream, "404 Not Found", "Not found").await;
    }
    if param("state") != Some(state.as_str()) {
        tracing::warn!("ignored a login redirect of another state (not this login's)");
        return respond(&mut stream, "400 Bad Request", "This login was not started here.").await;
    }
    let outcome = match param("error") {
        Some(error) => {
            respond(&mut stream, "400 Bad Request", "The login failed; see the terminal.").await;
            let description = param("error_description").unwrap_or_default();
            Err(Error::auth(format!("the browser login failed: {error}: {description}")))
        }
        None => {
            respond(&mut stream, "200 OK", "Logged in. You can close this window.").await;
            Ok(param("code").unwrap_or_default().to_string())
        }
    };
    let _ = found.send(outcome).await;
}

/// The query of a `GET` request, if the head is complete and well formed.
async fn read_redirect(stream: &mut TcpStream) -> Option<Vec<(String, String)>> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await.ok()?.ok()?;
        if read == 0 || head.len() + read > MAX_REQUEST_HEAD {
            return None;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let line = std::str::from_utf8(&head).ok()?.lines().next()?;
    let target = line.strip_prefix("GET ")?.split(' ').next()?;
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    Some(form_urlencoded_pairs(query))
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://localhost/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

async fn respond(stream: &mut TcpStream, status: &str, message: &str) {
    let body = format!("<!doctype html><title>brickwork login</title><p>{message}</p>");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn open_system_browser(cfg: &Config, url: &str) -> io::Result<()> {
    // Tokio's child handles are reaped in the background once dropped: no
    // zombie is left behind while this process runs on.
    let mut command = match cfg.env_var("BROWSER").filter(|b| !b.trim().is_empty()) {
        Some(browser) => tokio::process::Command::new(browser),
        None if cfg!(target_os = "macos") => tokio::process::Command::new("open"),
        None if cfg!(windows) => {
            let mut c = tokio::process::Command::new("rundll32");
            c.arg("url.dll,FileProtocolHandler");
            c
        }
        None => tokio::process::Command::new("xdg-open"),
    };
    command.arg(url).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    command.stderr(std::process::Stdio::null()).spawn().map(drop)
}

/// One login as the official CLI stores it (Go's `oauth2.Token`): fields
/// this version does not know are kept as they are.
#[derive(Clone, Serialize, Deserialize)]
struct StoredToken {
    access_token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    token_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expiry: Option<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

impl StoredToken {
    fn from_response(body: &[u8]) -> Result<StoredToken> {
        let token = parse_token_response(body)?;
        let refresh_token = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("refresh_token").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let expiry = token.expires_in().map(|left| OffsetDateTime::from(SystemTime::now() + left));
        Ok(StoredToken {
            access_token: token.access_token().expose_secret().to_string(),
            token_type: token.token_type().to_string(),
            refresh_token,
            expiry: expiry.and_then(|t| t.format(&Rfc3339).ok()),
            other: Map::new(),
        })
    }

    /// When it expires; `None` (Go's zero time, or no expiry) means never.
    fn expires_at(&self) -> Option<SystemTime> {
        self.expiry.as_deref().and_then(parse_expiry).filter(|t| *t > SystemTime::UNIX_EPOCH)
    }

    fn is_fresh(&self) -> bool {
        match self.expires_at() {
            Some(at) => at.duration_since(SystemTime::now()).is_ok_and(|left| left > REFRESH_AHEAD),
            None => !self.access_token.is_empty(),
        }
    }

    fn token(&self) -> Result<Token> {
        let token_type = if self.token_type.is_empty() { "Bearer" } else { &self.token_type };
        match self.expires_at() {
            Some(at) => Ok(Token::expiring_at(self.access_token.clone(), token_type, at)),
            None => Ok(Token::new(self.access_token.clone(), token_type, None)),
        }
    }
}

/// The official CLI's token cache file: `{"version": 1, "tokens": {key: token}}`.
#[derive(Default, Serialize, Deserialize)]
struct CacheFile {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    tokens: BTreeMap<String, StoredToken>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// Where logins are kept, and under which keys. Logins of the CLI's own
/// client go where the CLI keeps them: under the profile name when one was
/// chosen (newer CLIs), then the host (every CLI). A login of another OAuth
/// client gets a key of its own, which the CLI never reads: it would try to
/// refresh it as its own client and fail.
struct TokenStore {
    path: Option<PathBuf>,
    keys: Vec<String>,
}

/// Saves of this process, one at a time: each rewrites the whole file, and
/// two at once would lose one's login.
static SAVING: Mutex<()> = Mutex::new(());

impl TokenStore {
    fn for_config(cfg: &Config, host: &str, client_id: &str) -> TokenStore {
        let home = cfg.env_var("HOME").or_else(|| cfg.env_var("USERPROFILE"));
        let path = home.map(|home| Path::new(&home).join(".databricks").join("token-cache.json"));
        let host_key = match (cfg.host_type(), cfg.account_id()) {
            (HostType::Accounts, Some(account_id)) => format!("{host}/oidc/accounts/{account_id}"),
            _ => host.to_string(),
        };
        let keys = if client_id == CLI_CLIENT_ID {
            cfg.profile().map(str::to_string).into_iter().chain([host_key]).collect()
        } else {
            vec![format!("{host_key}#{client_id}")]
        };
        TokenStore { path, keys }
    }

    /// The login under the first key that has one; no file is no login.
    fn lookup(&self) -> io::Result<Option<StoredToken>> {
        match self.read() {
            Ok(file) => Ok(self.keys.iter().find_map(|key| file.tokens.get(key).cloned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Best effort: a cache that cannot be written costs a login next time,
    /// not this call. A file of another format version is left untouched.
    fn save(&self, token: &StoredToken) {
        if let Err(e) = self.try_save(token) {
            tracing::warn!("cannot save the login in the token cache: {e}");
        }
    }

    fn try_save(&self, token: &StoredToken) -> io::Result<()> {
        let path = self.path.as_ref().ok_or_else(|| io::Error::other("no home directory"))?;
        let _one_at_a_time = SAVING.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = match self.read() {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => CacheFile::default(),
            Err(e) => return Err(e),
        };
        file.version = CACHE_VERSION;
        for key in &self.keys {
            file.tokens.insert(key.clone(), token.clone());
        }
        let dir = path.parent().ok_or_else(|| io::Error::other("token cache path has no directory"))?;
        create_private_dir(dir)?;
        let text = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
        // A name no other save uses, created anew: another process saving at
        // the same moment writes its own file, and the rename picks one whole.
        let partial = dir.join(format!(".token-cache.{}.{}.tmp", std::process::id(), Pkce::random(9)?));
        write_private(&partial, &text).and_then(|()| std::fs::rename(&partial, path)).inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })
    }

    fn read(&self) -> io::Result<CacheFile> {
        let path = self.path.as_ref().ok_or_else(|| io::Error::other("no home directory"))?;
        // Only where the file is broken: a serde message may quote a token.
        let file: CacheFile = serde_json::from_slice(&std::fs::read(path)?).map_err(|e| {
            let at = format!("line {} column {}", e.line(), e.column());
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a token cache ({at})", path.display()))
        })?;
        if file.version != CACHE_VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: token cache version {} (this brickwork reads {CACHE_VERSION})",
                    path.display(),
                    file.version
                ),
            ));
        }
        Ok(file)
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    io::Write::write_all(&mut options.open(path)?, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_token_format_round_trips_with_unknown_fields_kept() {
        let raw = r#"{"access_token":"a","token_type":"Bearer","refresh_token":"r","expiry":"2030-01-02T03:04:05.123456+01:00","expires_in":3600}"#;
        let token: StoredToken = serde_json::from_str(raw).expect("parse");
        assert!(token.is_fresh());
        let back = serde_json::to_value(&token).expect("serialize");
        assert_eq!(back["expires_in"], 3600);
        assert_eq!(back["expiry"], "2030-01-02T03:04:05.123456+01:00");
        let zero: StoredToken =
            serde_json::from_str(r#"{"access_token":"a","expiry":"0001-01-01T00:00:00Z"}"#).expect("parse");
        assert_eq!(zero.expires_at(), None, "Go's zero time is no expiry");
        let expired: StoredToken =
            serde_json::from_str(r#"{"access_token":"a","expiry":"2001-01-01T00:00:00Z"}"#).expect("parse");
        assert!(!expired.is_fresh());
    }

    #[test]
    fn saves_at_the_same_time_keep_every_login_and_a_whole_file() {
        let dir = std::env::temp_dir().join(format!("brickwork-cache-{}", Pkce::random(6).expect("random")));
        let path = dir.join("token-cache.json");
        let token: StoredToken = serde_json::from_str(r#"{"access_token":"a","refresh_token":"r"}"#).expect("token");
        let savers: Vec<_> = (0..8)
            .map(|n| {
                let store = TokenStore { path: Some(path.clone()), keys: vec![format!("https://host-{n}")] };
                let token = token.clone();
                std::thread::spawn(move || (0..25).try_for_each(|_| store.try_save(&token)))
            })
            .collect();
        for saver in savers {
            saver.join().expect("thread").expect("save");
        }
        let file = TokenStore { path: Some(path), keys: vec![] }.read().expect("a whole file");
        assert_eq!(file.tokens.len(), 8, "no save lost another's login");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        let pkce = Pkce::new().expect("random");
        assert_eq!(pkce.verifier.len(), 43);
        let digest = ring::digest::digest(&ring::digest::SHA256, pkce.verifier.as_bytes());
        assert_eq!(pkce.challenge, URL_SAFE_NO_PAD.encode(digest));
        assert_ne!(pkce.state, Pkce::new().expect("random").state);
    }
}

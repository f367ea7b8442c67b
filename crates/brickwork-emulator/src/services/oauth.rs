//! OAuth: OIDC discovery, the authorization endpoint (U2M: authorization
//! code with PKCE, behind a consent page tests can drive), and the token
//! endpoint (client credentials, authorization code, refresh token, and
//! token exchange of federated ID tokens or of a notebook's personal access
//! token).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::api::{base_url, Params};
use crate::federation::SignedToken;
use crate::ids;
use crate::settings::{ConsentMode, FederationPolicySpec, Settings};
use crate::state::{AppState, Caller, IssuedToken, World};

const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const TOKEN_TYPE_PAT: &str = "urn:databricks:params:oauth:token-type:personal-access-token";
/// The official CLI's public client: no secret, loopback redirects.
const PUBLIC_CLIENT: &str = "databricks-cli";
/// Authorization codes are short-lived, in emulated minutes.
const CODE_LIFETIME_MINUTES: u32 = 5;
/// Codes not redeemed are kept at most this many; the oldest go first.
const MAX_PENDING_CODES: usize = 1_000;
/// Live refresh tokens a principal may hold at once (one per signed-in
/// client, say); signing in once more retires the oldest.
const MAX_REFRESH_TOKENS_PER_PRINCIPAL: usize = 100;

/// The OAuth service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "oauth"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }

    /// Expired access tokens leave as their deadlines come: the map holds
    /// live ones. (Refresh tokens are bounded per principal instead.)
    fn advance(&self, world: &mut crate::state::World, now: Instant) {
        for (_, token) in world.identity.oauth_expiring.due(now) {
            if world.identity.oauth_tokens.get(&token).is_some_and(|t| t.expires_at <= now) {
                world.identity.oauth_tokens.remove(&token);
            }
        }
    }

    /// A deleted principal's refresh tokens and unredeemed codes mint nothing more.
    fn on_event(&self, world: &mut crate::state::World, event: &super::Event) {
        if let super::Event::PrincipalDeleted { name } = event {
            let grants = &mut world.identity.grants;
            for token in grants.refresh_of.remove(name).unwrap_or_default() {
                grants.refresh_tokens.remove(&token);
            }
            grants.codes.retain(|_, c| c.caller.user_name != *name);
        }
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/oidc/.well-known/oauth-authorization-server", get(discovery))
        .route("/oidc/.well-known/openid-configuration", get(discovery))
        .route("/oidc/v1/authorize", get(authorize_page).post(authorize_decision))
        .route("/oidc/v1/token", axum::routing::post(token))
}

/// Codes waiting to be redeemed and refresh tokens issued.
#[derive(Debug, Default)]
pub struct Grants {
    codes: HashMap<String, AuthorizationCode>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    /// Each principal's refresh tokens, oldest (first to expire) first.
    refresh_of: HashMap<String, VecDeque<String>>,
}

#[derive(Debug)]
struct AuthorizationCode {
    caller: Caller,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    scope: String,
    expires_at: Instant,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    caller: Caller,
    client_id: String,
    scope: String,
    expires_at: Instant,
}

impl Grants {
    fn add_code(&mut self, code: String, grant: AuthorizationCode) {
        let now = Instant::now();
        self.codes.retain(|_, c| c.expires_at > now);
        if self.codes.len() >= MAX_PENDING_CODES {
            if let Some(oldest) = self.codes.iter().min_by_key(|(_, c)| c.expires_at).map(|(k, _)| k.clone()) {
                self.codes.remove(&oldest);
            }
        }
        self.codes.insert(code, grant);
    }

    /// Keep refresh token `token` for its holder, dropping the holder's
    /// expired ones and, when they hold the most they may, their oldest.
    /// Every token lives as long, so the oldest expire first; what a
    /// principal holds is bounded whether or not they come back.
    fn add_refresh(&mut self, token: String, grant: RefreshGrant) {
        let now = Instant::now();
        let held = self.refresh_of.entry(grant.caller.user_name.clone()).or_default();
        while let Some(oldest) = held.front() {
            let expired = self.refresh_tokens.get(oldest).is_none_or(|g| g.expires_at <= now);
            if !expired && held.len() < MAX_REFRESH_TOKENS_PER_PRINCIPAL {
                break;
            }
            if let Some(oldest) = held.pop_front() {
                self.refresh_tokens.remove(&oldest);
            }
        }
        held.push_back(token.clone());
        self.refresh_tokens.insert(token, grant);
    }

    /// Refresh token `token`'s grant, spent (used, expired or retired).
    fn take_refresh(&mut self, token: &str) -> Option<RefreshGrant> {
        let grant = self.refresh_tokens.remove(token)?;
        if let Some(held) = self.refresh_of.get_mut(&grant.caller.user_name) {
            held.retain(|t| t != token);
            if held.is_empty() {
                self.refresh_of.remove(&grant.caller.user_name);
            }
        }
        Some(grant)
    }
}

async fn discovery(headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    Json(json!({
        "issuer": format!("{base}/oidc"),
        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
        "token_endpoint": format!("{base}/oidc/v1/token"),
        "jwks_uri": format!("{base}/oidc/jwks.json"),
        "scopes_supported": ["all-apis", "offline_access", "openid", "profile", "email", "sql"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token", GRANT_TOKEN_EXCHANGE],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

/// Why a request gets no token or code.
enum Refusal {
    /// An RFC 6749 error answer.
    OAuth { status: u16, error: &'static str, description: String },
    /// A page for the person at the browser (bad client or redirect URI).
    Page(String),
    /// Back to the client's redirect URI with `error=...`.
    Redirect(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::OAuth { status, error, description } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                (status, Json(json!({"error": error, "error_description": description}))).into_response()
            }
            Refusal::Page(message) => (
                StatusCode::BAD_REQUEST,
                Html(format!("<!doctype html><title>Sign-in error</title><p>{}</p>", escape(&message))),
            )
                .into_response(),
            Refusal::Redirect(location) => found(location),
        }
    }
}

fn oauth_error(status: u16, error: &'static str, description: &str) -> Refusal {
    Refusal::OAuth { status, error, description: description.to_string() }
}

fn found(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

// ---------------------------------------------------------------------------
// The authorization endpoint

/// A validated authorization request.
struct Authorization {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    code_challenge: String,
}

impl Authorization {
    /// Errors about the client or the redirect are shown, never redirected:
    /// sending them to an unchecked URI would make the emulator an open
    /// redirector. Other errors go back to the client as RFC 6749 says.
    fn parse(settings: &Settings, p: &Params) -> Result<Authorization, Refusal> {
        let client_id = p.get("client_id").ok_or_else(|| page_error("client_id is required"))?;
        if !is_known_client(settings, client_id) {
            return Err(page_error(&format!("Unknown OAuth client: {client_id}")));
        }
        let redirect_uri = p.get("redirect_uri").ok_or_else(|| page_error("redirect_uri is required"))?;
        if !is_loopback_redirect(redirect_uri) {
            return Err(page_error("redirect_uri must be an http://localhost or loopback address"));
        }
        let mut request = Authorization {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            scope: p.get("scope").unwrap_or("all-apis").to_string(),
            state: p.get("state").map(str::to_string),
            code_challenge: String::new(),
        };
        if p.get("response_type") != Some("code") {
            return Err(request.redirect_error("unsupported_response_type", "response_type must be code"));
        }
        match (p.get("code_challenge"), p.get("code_challenge_method")) {
            (Some(challenge), Some("S256")) if challenge.len() == 43 => {
                challenge.clone_into(&mut request.code_challenge)
            }
            _ => {
                return Err(request.redirect_error(
                    "invalid_request",
                    "PKCE is required: code_challenge (43 characters) with code_challenge_method S256",
                ))
            }
        }
        Ok(request)
    }

    fn location(&self, params: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = &self.state {
            query.append_pair("state", state);
        }
        let separator = if self.redirect_uri.contains('?') { '&' } else { '?' };
        format!("{}{separator}{}", self.redirect_uri, query.finish())
    }

    fn redirect_error(&self, error: &str, description: &str) -> Refusal {
        Refusal::Redirect(self.location(&[("error", error), ("error_description", description)]))
    }

    fn approve(&self, s: &AppState, caller: Caller) -> Response {
        let code = ids::secret(32);
        let expires_at = Instant::now() + s.settings.minute() * CODE_LIFETIME_MINUTES;
        let grant = AuthorizationCode {
            caller,
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            code_challenge: self.code_challenge.clone(),
            scope: self.scope.clone(),
            expires_at,
        };
        s.with(|w| w.identity.grants.add_code(code.clone(), grant));
        found(self.location(&[("code", &code)]))
    }
}

fn is_known_client(settings: &Settings, client_id: &str) -> bool {
    client_id == PUBLIC_CLIENT || settings.service_principals.iter().any(|sp| sp.client_id == client_id)
}

fn is_loopback_redirect(uri: &str) -> bool {
    let Ok(parsed) = uri.parse::<Uri>() else { return false };
    parsed.scheme_str() == Some("http")
        && matches!(parsed.host(), Some("localhost" | "127.0.0.1" | "[::1]"))
        && !uri.contains('#')
}

fn page_error(message: &str) -> Refusal {
    Refusal::Page(message.to_string())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The user a consent is given for: the one named, signing in with one of
/// their personal access tokens as the password (never a default: the page
/// is open to anyone who can reach it).
fn consenting_user(s: &AppState, user_name: Option<&str>, password: Option<&str>) -> Option<Caller> {
    let (user, password) = (user_name?, password?);
    s.with(|w| crate::auth::password_holder(w, user, password))
}

async fn authorize_page(State(s): State<AppState>, p: Params) -> Response {
    let request = match Authorization::parse(&s.settings, &p) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    match s.settings.oauth_consent {
        ConsentMode::Approve => request.approve(&s, Caller { user_name: s.settings.user_name.clone(), admin: true }),
        ConsentMode::Deny => request.redirect_error("access_denied", "The user denied the request").into_response(),
        ConsentMode::Prompt => consent_page(&s.settings, &p),
    }
}

/// A form that posts the request back with `decision=approve|deny`: what a
/// person clicks, and what a test posts.
fn consent_page(settings: &Settings, p: &Params) -> Response {
    let hidden: String =
        p.0.iter()
            .filter(|(k, _)| !matches!(k.as_str(), "decision" | "user_name" | "password"))
            .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
            .collect();
    let client = escape(p.get("client_id").unwrap_or_default());
    let user = escape(&settings.user_name);
    Html(format!(
        r#"<!doctype html><title>Authorize {client}</title>
<h1>brickwork emulator</h1><p>{client} asks for access to this workspace.</p>
<form method="post" action="/oidc/v1/authorize">{hidden}
<label>User <input name="user_name" value="{user}"></label>
<label>Personal access token <input name="password" type="password"></label>
<button name="decision" value="approve">Allow</button>
<button name="decision" value="deny">Deny</button></form>"#
    ))
    .into_response()
}

async fn authorize_decision(State(s): State<AppState>, body: String) -> Response {
    let p = Params(form_urlencoded::parse(body.as_bytes()).into_owned().collect());
    let request = match Authorization::parse(&s.settings, &p) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    match p.get("decision") {
        Some("approve") => match consenting_user(&s, p.get("user_name"), p.get("password")) {
            Some(caller) => request.approve(&s, caller),
            None => request.redirect_error("access_denied", "Unknown user or wrong password").into_response(),
        },
        _ => request.redirect_error("access_denied", "The user denied the request").into_response(),
    }
}

// ---------------------------------------------------------------------------
// The token endpoint

/// Who a token is for, its scope, and whether a refresh token goes with it.
struct Grant {
    caller: Caller,
    scope: String,
    refresh: Option<RefreshGrant>,
}

async fn token(State(s): State<AppState>, headers: HeaderMap, body: String) -> Response {
    let form = Params(form_urlencoded::parse(body.as_bytes()).into_owned().collect());
    let granted = match form.get("grant_type") {
        Some("client_credentials") => client_credentials_grant(&s.settings, &headers, &form),
        Some("authorization_code") => s.with(|w| authorization_code_grant(w, &headers, &form)),
        Some("refresh_token") => s.with(|w| refresh_token_grant(w, &headers, &form)),
        Some(GRANT_TOKEN_EXCHANGE) => token_exchange_grant(&s, &headers, &form),
        Some(other) => Err(oauth_error(400, "unsupported_grant_type", &format!("Grant type {other} is not supported"))),
        None => Err(oauth_error(400, "invalid_request", "grant_type is required")),
    };
    // Whatever the grant, a deleted or deactivated principal gets no token:
    // its client secret, federation policy, refresh token or PAT is dead.
    let granted = granted.and_then(|grant| match s.with(|w| w.directory.signs_in(&grant.caller.user_name)) {
        true => Ok(grant),
        false if form.get("grant_type") == Some("client_credentials") => Err(invalid_client()),
        false => Err(oauth_error(400, "invalid_grant", "The principal is deleted or deactivated")),
    });
    match granted {
        Ok(grant) => issue(&s, grant),
        Err(refusal) => refusal.into_response(),
    }
}

fn issue(s: &AppState, grant: Grant) -> Response {
    let lifetime = s.settings.oauth_token_lifetime();
    let access_token = ids::oauth_token();
    let refresh_token = grant.refresh.as_ref().map(|_| ids::secret(48));
    s.with(|w| {
        let expires_at = Instant::now() + lifetime;
        w.identity.oauth_tokens.insert(access_token.clone(), IssuedToken { caller: grant.caller, expires_at });
        w.identity.oauth_expiring.schedule(expires_at, access_token.clone());
        if let (Some(token), Some(mut refresh)) = (&refresh_token, grant.refresh) {
            refresh.expires_at = Instant::now() + w.settings.refresh_token_lifetime();
            w.identity.grants.add_refresh(token.clone(), refresh);
        }
    });
    let mut answer = json!({"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime.as_secs(), "scope": grant.scope});
    if let Some(token) = refresh_token {
        answer["refresh_token"] = json!(token);
    }
    Json(answer).into_response()
}

/// Client id and secret from the Basic header, else from the form.
fn client_credentials(headers: &HeaderMap, form: &Params) -> Option<(String, String)> {
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| text.split_once(':').map(|(i, s)| (i.to_string(), s.to_string())));
    from_header.or_else(|| {
        Some((form.get("client_id")?.to_string(), form.get("client_secret").unwrap_or_default().to_string()))
    })
}

fn invalid_client() -> Refusal {
    oauth_error(401, "invalid_client", "Client authentication failed")
}

fn client_credentials_grant(settings: &Settings, headers: &HeaderMap, form: &Params) -> Result<Grant, Refusal> {
    let (id, secret) = client_credentials(headers, form).ok_or_else(invalid_client)?;
    let sp = settings
        .service_principals
        .iter()
        .find(|sp| sp.client_id == id && sp.client_secret == secret)
        .ok_or_else(invalid_client)?;
    let scope = form.get("scope").unwrap_or("all-apis").to_string();
    Ok(Grant { caller: Caller { user_name: sp.client_id.clone(), admin: sp.admin }, scope, refresh: None })
}

/// The client of a U2M grant: the public CLI client without a secret, or a
/// service principal's app with its secret.
fn authenticated_client(settings: &Settings, headers: &HeaderMap, form: &Params) -> Result<String, Refusal> {
    let (id, secret) = client_credentials(headers, form).ok_or_else(invalid_client)?;
    let known = id == PUBLIC_CLIENT
        || settings.service_principals.iter().any(|sp| sp.client_id == id && sp.client_secret == secret);
    if known {
        Ok(id)
    } else {
        Err(invalid_client())
    }
}

fn refresh_for(caller: &Caller, client_id: &str, scope: &str) -> Option<RefreshGrant> {
    scope.split(' ').any(|s| s == "offline_access").then(|| RefreshGrant {
        caller: caller.clone(),
        client_id: client_id.to_string(),
        scope: scope.to_string(),
        // Set when the token is issued.
        expires_at: Instant::now(),
    })
}

fn authorization_code_grant(w: &mut World, headers: &HeaderMap, form: &Params) -> Result<Grant, Refusal> {
    let client_id = authenticated_client(&w.settings, headers, form)?;
    let invalid_grant = |why: &str| oauth_error(400, "invalid_grant", why);
    let code = form.get("code").ok_or_else(|| oauth_error(400, "invalid_request", "code is required"))?;
    // A code is good for one attempt, successful or not.
    let pending = w.identity.grants.codes.remove(code).ok_or_else(|| invalid_grant("Invalid authorization code"))?;
    if pending.expires_at <= Instant::now() {
        return Err(invalid_grant("The authorization code has expired"));
    }
    if pending.client_id != client_id {
        return Err(invalid_grant("The authorization code was issued to another client"));
    }
    if form.get("redirect_uri") != Some(pending.redirect_uri.as_str()) {
        return Err(invalid_grant("redirect_uri does not match the authorization request"));
    }
    let verifier = form.get("code_verifier").ok_or_else(|| invalid_grant("code_verifier is required"))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    if URL_SAFE_NO_PAD.encode(digest.as_ref()) != pending.code_challenge {
        return Err(invalid_grant("PKCE verification failed: code_verifier does not match code_challenge"));
    }
    let refresh = refresh_for(&pending.caller, &client_id, &pending.scope);
    Ok(Grant { caller: pending.caller, scope: pending.scope, refresh })
}

fn refresh_token_grant(w: &mut World, headers: &HeaderMap, form: &Params) -> Result<Grant, Refusal> {
    let client_id = authenticated_client(&w.settings, headers, form)?;
    let token =
        form.get("refresh_token").ok_or_else(|| oauth_error(400, "invalid_request", "refresh_token is required"))?;
    let grants = &mut w.identity.grants;
    if grants.refresh_tokens.get(token).is_none_or(|g| g.client_id != client_id) {
        return Err(oauth_error(400, "invalid_grant", "Invalid refresh token"));
    }
    // Refresh tokens rotate: the one just used is spent.
    match grants.take_refresh(token).filter(|g| g.expires_at > Instant::now()) {
        Some(grant) => Ok(Grant { caller: grant.caller.clone(), scope: grant.scope.clone(), refresh: Some(grant) }),
        None => Err(oauth_error(400, "invalid_grant", "Invalid refresh token")),
    }
}

fn token_exchange_grant(s: &AppState, headers: &HeaderMap, form: &Params) -> Result<Grant, Refusal> {
    let subject =
        form.get("subject_token").ok_or_else(|| oauth_error(400, "invalid_request", "subject_token is required"))?;
    let scope = form.get("scope").unwrap_or("all-apis").to_string();
    let caller = match form.get("subject_token_type") {
        Some(TOKEN_TYPE_JWT) => {
            let audience = format!("{}/oidc/v1/token", base_url(headers));
            federated_principal(s, subject, form.get("client_id"), &audience)?
        }
        // A configured token or one made through the Tokens API.
        Some(TOKEN_TYPE_PAT) => s
            .with(|w| w.identity.pats.get(subject).cloned().or_else(|| w.tokens.caller(subject)))
            .ok_or_else(|| oauth_error(400, "invalid_grant", "The personal access token is not valid"))?,
        Some(other) => {
            return Err(oauth_error(400, "invalid_request", &format!("Unsupported subject_token_type: {other}")))
        }
        None => return Err(oauth_error(400, "invalid_request", "subject_token_type is required")),
    };
    Ok(Grant { caller, scope, refresh: None })
}

/// Who a bearer token that the emulator did not issue is, when it is an ID
/// token a federation policy trusts: Azure Databricks takes Entra ID tokens
/// and GCP workspaces Google ID tokens this way. A policy without audiences
/// takes tokens for the workspace URL.
pub fn trusted_id_token(s: &AppState, token: &str, workspace_url: &str) -> Option<Caller> {
    federated_principal(s, token, None, workspace_url).ok()
}

/// The service principal a federation policy maps this ID token to. The
/// signature is checked first, against the keys of the policies for the
/// token's issuer: a caller who cannot sign learns nothing of the policies.
/// Then its validity, and the policy's subject and audience.
fn federated_principal(
    s: &AppState,
    id_token: &str,
    client_id: Option<&str>,
    default_audience: &str,
) -> Result<Caller, Refusal> {
    let invalid_grant = |why: &str| oauth_error(400, "invalid_grant", why);
    let token = SignedToken::parse(id_token).ok_or_else(|| invalid_grant("subject_token is not a JWT"))?;
    let claims = token.claims();
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let (issuer, subject) = (text("iss"), text("sub"));
    let signed: Vec<&FederationPolicySpec> = s
        .settings
        .federation_policies
        .iter()
        .zip(s.trusted_keys.iter())
        .filter(|(policy, keys)| policy.issuer == issuer && token.signed_by(keys))
        .map(|(policy, _)| policy)
        .collect();
    if signed.is_empty() {
        tracing::debug!(%issuer, "an ID token no federation policy's keys signed");
        return Err(invalid_grant("subject_token is not signed by a federation policy's keys"));
    }
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let now = crate::state::now_ms() / 1000;
    match claims.get("exp").and_then(Value::as_i64) {
        None => return Err(invalid_grant("subject_token has no expiry (exp)")),
        Some(exp) if exp <= now => return Err(invalid_grant("subject_token has expired")),
        Some(_) => {}
    }
    // A minute of clock skew, as identity providers allow.
    if claims.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > now.saturating_add(60)) {
        return Err(invalid_grant("subject_token is not valid yet"));
    }
    let policy = signed
        .into_iter()
        .filter(|p| client_id.is_none_or(|id| p.service_principal == id))
        .find(|p| {
            let accepted = |a: &String| {
                if p.audiences.is_empty() {
                    a == default_audience
                } else {
                    p.audiences.contains(a)
                }
            };
            p.subject == subject && audiences.iter().any(accepted)
        })
        .ok_or_else(|| {
            invalid_grant(&format!(
                "No federation policy matches issuer {issuer:?}, subject {subject:?} and audience {audiences:?}"
            ))
        })?;
    let admin = s.settings.service_principals.iter().any(|sp| sp.client_id == policy.service_principal && sp.admin);
    Ok(Caller { user_name: policy.service_principal.clone(), admin })
}

//! Personal access tokens (`/api/2.0/token/*`) and token management for
//! admins (`/api/2.0/token-management/*`, on-behalf-of tokens for service
//! principals). A token created here authenticates until it is deleted or
//! expires; expired tokens are dropped as their deadlines come.
//!
//! The tokens the emulator is started with (`Settings::token`, users') are
//! not listed: they stand for credentials made outside the workspace.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::{empty, ApiError, ApiResult, Body, Params};
use crate::ids;
use crate::schedule::Deadlines;
use crate::state::{now_ms, AppState, Caller, World};
use crate::storage::{json_len, Holdings, StorageFull};

/// Created tokens by id, and the index authentication looks them up by.
#[derive(Debug, Default)]
pub struct Tokens {
    by_id: BTreeMap<String, Token>,
    by_value: HashMap<String, String>,
    /// Token ids by whose they are: a user's list reads only their own.
    by_owner: HashMap<String, BTreeSet<String>>,
    expiring: Deadlines<String>,
    /// Each token's comment and scopes, counted against the storage budget.
    held: Holdings<String>,
}

/// The tokens one user may hold at once, as Databricks allows.
const MAX_TOKENS_PER_USER: usize = 600;

#[derive(Debug, Clone)]
struct Token {
    value: String,
    /// Whose token it is (it authenticates as them).
    owner: Caller,
    owner_id: i64,
    created_by: String,
    created_by_id: i64,
    comment: String,
    /// API scopes it was made for (recorded and answered; not enforced).
    scopes: Vec<String>,
    creation_time: i64,
    /// `-1`: never expires.
    expiry_time: i64,
    expires_at: Option<Instant>,
}

impl Tokens {
    /// Who `value` authenticates, if it is a live token made here.
    pub fn caller(&self, value: &str) -> Option<Caller> {
        let token = self.by_value.get(value).and_then(|id| self.by_id.get(id))?;
        let live = token.expires_at.is_none_or(|at| at > Instant::now());
        live.then(|| token.owner.clone())
    }

    fn insert(&mut self, id: String, token: Token) {
        if let Some(at) = token.expires_at {
            self.expiring.schedule(at, id.clone());
        }
        self.by_value.insert(token.value.clone(), id.clone());
        crate::index::file(&mut self.by_owner, token.owner.user_name.clone(), id.clone());
        self.by_id.insert(id, token);
    }

    fn remove(&mut self, id: &str) -> Option<Token> {
        let token = self.by_id.remove(id)?;
        self.by_value.remove(&token.value);
        crate::index::unfile(&mut self.by_owner, &token.owner.user_name, &id.to_string());
        self.held.release(&id.to_string());
        Some(token)
    }

    /// The ids of `owner`'s tokens.
    fn owned_by(&self, owner: &str) -> Vec<String> {
        self.by_owner.get(owner).map(|ids| ids.iter().cloned().collect()).unwrap_or_default()
    }

    /// Tokens kept (for the admin counters).
    pub fn count(&self) -> usize {
        self.by_id.len()
    }
}

/// The Tokens and Token management service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "tokens"
    }

    fn routes(&self) -> Router<AppState> {
        Router::new()
            .route("/api/2.0/token/create", post(create))
            .route("/api/2.0/token/list", get(list_own))
            .route("/api/2.0/token/delete", post(delete_own))
            .route("/api/2.0/token/{token_id}", patch(update_own))
            .route("/api/2.0/token-management/tokens", get(list_all))
            .route("/api/2.0/token-management/tokens/{token_id}", get(get_any).delete(delete_any).patch(update_any))
            .route("/api/2.0/token-management/on-behalf-of/tokens", post(create_obo))
    }

    /// Expired tokens go when their time comes: the store holds live ones.
    fn advance(&self, world: &mut World, now: Instant) {
        for (_, id) in world.tokens.expiring.due(now) {
            if world.tokens.by_id.get(&id).is_some_and(|t| t.expires_at.is_some_and(|at| at <= now)) {
                world.tokens.remove(&id);
            }
        }
    }

    fn on_event(&self, world: &mut World, event: &super::Event) {
        if let super::Event::PrincipalDeleted { name } = event {
            let ids = world.tokens.owned_by(name);
            for id in ids {
                world.tokens.remove(&id);
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateRequest {
    comment: Option<String>,
    lifetime_seconds: Option<i64>,
    scopes: Vec<String>,
}

/// The public view of a token (what its owner sees).
#[derive(Debug, Serialize)]
struct PublicTokenInfo<'a> {
    token_id: &'a str,
    creation_time: i64,
    expiry_time: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    comment: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    scopes: &'a [String],
}

fn public(id: &str, token: &Token) -> Value {
    let info = PublicTokenInfo {
        token_id: id,
        creation_time: token.creation_time,
        expiry_time: token.expiry_time,
        comment: &token.comment,
        scopes: &token.scopes,
    };
    serde_json::to_value(info).unwrap_or_default()
}

/// The admin's view, with who made it and whose it is.
fn managed(id: &str, token: &Token, workspace_id: &str) -> Value {
    let mut out = public(id, token);
    out["created_by_id"] = json!(token.created_by_id);
    out["created_by_username"] = json!(token.created_by);
    out["owner_id"] = json!(token.owner_id);
    if let Ok(workspace) = workspace_id.parse::<i64>() {
        out["workspace_id"] = json!(workspace);
    }
    out
}

/// A new token for `owner`, made by `creator`; answers its id and value.
fn mint(world: &mut World, owner: Caller, creator: &Caller, request: CreateRequest) -> ApiResult<(String, String)> {
    // Every user may make tokens until an admin sets the token permissions;
    // then only those granted CAN_USE (admins always).
    use crate::services::permissions::{allows, TOKENS};
    if !creator.admin
        && world.permissions.has_list(&TOKENS, "tokens")
        && !allows(world, &TOKENS, "tokens", creator, "CAN_USE")
    {
        return Err(ApiError::permission_denied(format!(
            "User {} does not have permission to create tokens.",
            creator.user_name
        )));
    }
    let lifetime = request.lifetime_seconds.filter(|s| *s > 0);
    if lifetime.is_some_and(|s| s > MAX_LIFETIME_SECONDS) {
        return Err(ApiError::invalid(format!("lifetime_seconds must be at most {MAX_LIFETIME_SECONDS}.")));
    }
    if world.tokens.by_owner.get(&owner.user_name).map_or(0, BTreeSet::len) >= MAX_TOKENS_PER_USER {
        return Err(ApiError::new(
            400,
            "QUOTA_EXCEEDED",
            format!("{} already has {MAX_TOKENS_PER_USER} tokens, the most a user may hold.", owner.user_name),
        ));
    }
    let owner_id = principal_id(world, &owner.user_name);
    let created_by_id = principal_id(world, &creator.user_name);
    let now = now_ms();
    let token = Token {
        value: ids::pat(),
        owner,
        owner_id,
        created_by: creator.user_name.clone(),
        created_by_id,
        comment: request.comment.unwrap_or_default(),
        scopes: request.scopes,
        creation_time: now,
        expiry_time: lifetime.map_or(-1, |s| now.saturating_add(s.saturating_mul(1000))),
        expires_at: lifetime.map(|s| Instant::now() + Duration::from_secs(s.unsigned_abs())),
    };
    let id = format!("{}{}{}{}", ids::hex16(), ids::hex16(), ids::hex16(), ids::hex16());
    let value = token.value.clone();
    let bytes = 256 + json_len(&token.comment) + json_len(&token.scopes);
    world.tokens.held.count(&world.budget, id.clone(), bytes).map_err(StorageFull::api_error)?;
    world.tokens.insert(id.clone(), token);
    Ok((id, value))
}

/// About a hundred years: past it the expiry time would not fit the wire.
const MAX_LIFETIME_SECONDS: i64 = 100 * 365 * 24 * 3600;

fn principal_id(world: &World, name: &str) -> i64 {
    world.directory.user_id(name).or_else(|| world.directory.sp_id(name)).unwrap_or_default()
}

fn missing_token(id: &str) -> ApiError {
    ApiError::not_found(format!("Token with id {id} does not exist."))
}

fn admins_only(caller: &Caller) -> ApiResult<()> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::permission_denied("Only workspace admins can manage the tokens of other principals."))
    }
}

async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<CreateRequest>,
) -> ApiResult {
    s.with(|w| {
        let (id, value) = mint(w, caller.clone(), &caller, request)?;
        let info = w.tokens.by_id.get(&id).map(|t| public(&id, t)).unwrap_or_default();
        Ok(Json(json!({"token_value": value, "token_info": info})))
    })
}

async fn list_own(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult {
    s.with(|w| {
        let now = Instant::now();
        let infos: Vec<Value> = w
            .tokens
            .owned_by(&caller.user_name)
            .iter()
            .filter_map(|id| w.tokens.by_id.get(id).map(|t| (id, t)))
            .filter(|(_, t)| t.expires_at.is_none_or(|at| at > now))
            .map(|(id, t)| public(id, t))
            .collect();
        Ok(Json(json!({"token_infos": infos})))
    })
}

#[derive(Debug, Deserialize)]
struct DeleteRequest {
    token_id: String,
}

async fn delete_own(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<DeleteRequest>,
) -> ApiResult {
    s.with(|w| {
        let owned = w.tokens.by_id.get(&request.token_id).is_some_and(|t| t.owner.user_name == caller.user_name);
        if !owned {
            return Err(missing_token(&request.token_id));
        }
        w.tokens.remove(&request.token_id);
        Ok(())
    })?;
    empty()
}

async fn list_all(State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params) -> ApiResult {
    admins_only(&caller)?;
    let by_id = params.int("created_by_id")?;
    let by_name = params.get("created_by_username").map(str::to_string);
    s.with(|w| {
        let now = Instant::now();
        let workspace = w.settings.workspace_id.clone();
        let infos: Vec<Value> = w
            .tokens
            .by_id
            .iter()
            .filter(|(_, t)| t.expires_at.is_none_or(|at| at > now))
            .filter(|(_, t)| by_id.is_none_or(|id| t.created_by_id == id))
            .filter(|(_, t)| by_name.as_deref().is_none_or(|name| t.created_by == name))
            .map(|(id, t)| managed(id, t, &workspace))
            .collect();
        Ok(Json(json!({"token_infos": infos})))
    })
}

async fn get_any(State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> ApiResult {
    admins_only(&caller)?;
    s.with(|w| {
        let token = w.tokens.by_id.get(&id).ok_or_else(|| missing_token(&id))?;
        Ok(Json(json!({"token_info": managed(&id, token, &w.settings.workspace_id)})))
    })
}

async fn delete_any(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    admins_only(&caller)?;
    s.with(|w| w.tokens.remove(&id).map(drop).ok_or_else(|| missing_token(&id)))?;
    empty()
}

#[derive(Debug, Deserialize)]
struct OboRequest {
    application_id: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    lifetime_seconds: Option<i64>,
    #[serde(default)]
    scopes: Vec<String>,
}

async fn create_obo(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<OboRequest>,
) -> ApiResult {
    admins_only(&caller)?;
    s.with(|w| {
        let sp = &request.application_id;
        if w.directory.sp_id(sp).is_none() {
            return Err(ApiError::not_found(format!("Service principal with application ID {sp} does not exist.")));
        }
        let owner = Caller { user_name: sp.clone(), admin: w.directory.is_admin(sp) };
        let asked = CreateRequest {
            comment: request.comment.clone(),
            lifetime_seconds: request.lifetime_seconds,
            scopes: request.scopes.clone(),
        };
        let (id, value) = mint(w, owner, &caller, asked)?;
        let info = w.tokens.by_id.get(&id).map(|t| managed(&id, t, &w.settings.workspace_id)).unwrap_or_default();
        Ok(Json(json!({"token_value": value, "token_info": info})))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpdateRequest {
    token: TokenFields,
    update_mask: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenFields {
    comment: Option<String>,
    scopes: Option<Vec<String>>,
}

/// Apply the fields the mask names (`comment`, `scopes`; `*` for both).
fn apply_update(token: &mut Token, request: UpdateRequest) -> ApiResult<()> {
    let fields: Vec<&str> = request.update_mask.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
    if fields.is_empty() {
        return Err(ApiError::missing("update_mask"));
    }
    for field in fields {
        match field {
            "comment" => token.comment = request.token.comment.clone().unwrap_or_default(),
            "scopes" => token.scopes = request.token.scopes.clone().unwrap_or_default(),
            "*" => {
                token.comment = request.token.comment.clone().unwrap_or_default();
                token.scopes = request.token.scopes.clone().unwrap_or_default();
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "update_mask names {other}, which cannot be changed (comment and scopes can)."
                )))
            }
        }
    }
    Ok(())
}

/// `PATCH /api/2.0/token/{id}`: the caller's own token.
async fn update_own(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(request): Body<UpdateRequest>,
) -> ApiResult {
    s.with(|w| {
        let token = w.tokens.by_id.get_mut(&id).filter(|t| t.owner.user_name == caller.user_name);
        apply_update(token.ok_or_else(|| missing_token(&id))?, request)
    })?;
    empty()
}

/// `PATCH /api/2.0/token-management/tokens/{id}`: any token, for admins.
async fn update_any(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(request): Body<UpdateRequest>,
) -> ApiResult {
    admins_only(&caller)?;
    s.with(|w| {
        let token = w.tokens.by_id.get_mut(&id).ok_or_else(|| missing_token(&id))?;
        apply_update(token, request)?;
        let token = w.tokens.by_id.get(&id).ok_or_else(|| missing_token(&id))?;
        Ok(Json(managed(&id, token, &w.settings.workspace_id)))
    })
}

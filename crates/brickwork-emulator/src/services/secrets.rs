//! Secrets: scopes, secrets and ACLs, with permission checks for non-admins.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use crate::api::{empty, required_str, str_field, ApiError, ApiResult, Body, Params};
use crate::state::{now_ms, AppState, Caller};
use crate::storage::{Held, StorageFull};

const MAX_SECRET_BYTES: usize = 128 * 1024;
const MAX_SECRETS_PER_SCOPE: usize = 1000;
/// Scopes a workspace may have, as Databricks limits them.
const MAX_SCOPES: usize = 1000;

#[derive(Debug, Default)]
pub struct Secrets {
    scopes: BTreeMap<String, Scope>,
}

#[derive(Debug, Default)]
struct Scope {
    backend: String,
    /// Each secret's value, last update and count against the storage budget.
    secrets: BTreeMap<String, (Vec<u8>, i64, Held)>,
    acls: BTreeMap<String, Level>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Read,
    Write,
    Manage,
}

impl Level {
    fn parse(s: &str) -> ApiResult<Level> {
        match s {
            "READ" => Ok(Level::Read),
            "WRITE" => Ok(Level::Write),
            "MANAGE" => Ok(Level::Manage),
            other => Err(ApiError::invalid(format!("Invalid permission {other}. Expected READ, WRITE or MANAGE."))),
        }
    }

    fn wire(self) -> &'static str {
        match self {
            Level::Read => "READ",
            Level::Write => "WRITE",
            Level::Manage => "MANAGE",
        }
    }
}

fn valid_name(kind: &str, name: &str) -> ApiResult<()> {
    let ok =
        !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "{kind} name '{name}' is invalid: use up to 128 alphanumeric characters, dashes, underscores and periods."
        )))
    }
}

impl Secrets {
    fn scope_mut(&mut self, name: &str) -> ApiResult<&mut Scope> {
        self.scopes.get_mut(name).ok_or_else(|| ApiError::not_found(format!("Scope {name} does not exist!")))
    }

    /// The scope, if `caller` holds at least `needed` on it.
    fn authorized(&mut self, name: &str, caller: &Caller, needed: Level) -> ApiResult<&mut Scope> {
        let scope = self.scope_mut(name)?;
        let held = scope.acls.get(&caller.user_name).copied().max(scope.acls.get("users").copied());
        if caller.admin || held.is_some_and(|h| h >= needed) {
            Ok(scope)
        } else {
            Err(ApiError::permission_denied(format!(
                "User {} does not have {} permission on scope {name}",
                caller.user_name,
                needed.wire()
            )))
        }
    }
}

/// The Secrets service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "secrets"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/secrets/scopes/create", post(create_scope))
        .route("/api/2.0/secrets/scopes/delete", post(delete_scope))
        .route("/api/2.0/secrets/scopes/list", get(list_scopes))
        .route("/api/2.0/secrets/put", post(put))
        .route("/api/2.0/secrets/delete", post(delete))
        .route("/api/2.0/secrets/list", get(list))
        .route("/api/2.0/secrets/get", get(get_secret))
        .route("/api/2.0/secrets/acls/put", post(put_acl))
        .route("/api/2.0/secrets/acls/delete", post(delete_acl))
        .route("/api/2.0/secrets/acls/get", get(get_acl))
        .route("/api/2.0/secrets/acls/list", get(list_acls))
}

async fn create_scope(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let name = required_str(&body, "scope")?.to_string();
    valid_name("Scope", &name)?;
    let backend = str_field(&body, "scope_backend_type")?.unwrap_or("DATABRICKS").to_string();
    if !matches!(backend.as_str(), "DATABRICKS" | "AZURE_KEYVAULT") {
        return Err(ApiError::invalid(format!("Invalid scope_backend_type: {backend}.")));
    }
    let initial = str_field(&body, "initial_manage_principal")?.map(str::to_string);
    s.with(|w| {
        if w.secrets.scopes.contains_key(&name) {
            return Err(ApiError::already_exists(format!("Scope {name} already exists!")));
        }
        if w.secrets.scopes.len() >= MAX_SCOPES {
            return Err(ApiError::new(
                400,
                "MAX_SECRET_SCOPES_EXCEEDED",
                format!("This workspace has reached its limit of {MAX_SCOPES} secret scopes."),
            ));
        }
        let mut scope = Scope { backend, ..Scope::default() };
        scope.acls.insert(caller.user_name.clone(), Level::Manage);
        if let Some(principal) = initial {
            scope.acls.insert(principal, Level::Manage);
        }
        w.secrets.scopes.insert(name, scope);
        Ok(())
    })?;
    empty()
}

async fn delete_scope(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let name = required_str(&body, "scope")?.to_string();
    s.with(|w| {
        w.secrets.authorized(&name, &caller, Level::Manage)?;
        w.secrets.scopes.remove(&name);
        Ok(())
    })?;
    empty()
}

async fn list_scopes(State(s): State<AppState>) -> Json<Value> {
    s.with(|w| {
        let scopes: Vec<Value> =
            w.secrets.scopes.iter().map(|(name, sc)| json!({"name": name, "backend_type": sc.backend})).collect();
        Json(if scopes.is_empty() { json!({}) } else { json!({"scopes": scopes}) })
    })
}

async fn put(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let scope = required_str(&body, "scope")?.to_string();
    let key = required_str(&body, "key")?.to_string();
    valid_name("Secret key", &key)?;
    let value = match (str_field(&body, "string_value")?, str_field(&body, "bytes_value")?) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| ApiError::invalid("bytes_value is not valid base64"))?,
        _ => return Err(ApiError::invalid("Exactly one of string_value or bytes_value must be specified.")),
    };
    if value.len() > MAX_SECRET_BYTES {
        return Err(ApiError::invalid(format!("Secret value exceeds {MAX_SECRET_BYTES} bytes.")));
    }
    let held = s.budget.hold_exactly(value.len() as u64).map_err(StorageFull::api_error)?;
    s.with(|w| {
        let sc = w.secrets.authorized(&scope, &caller, Level::Write)?;
        if !sc.secrets.contains_key(&key) && sc.secrets.len() >= MAX_SECRETS_PER_SCOPE {
            return Err(ApiError::new(
                400,
                "RESOURCE_LIMIT_EXCEEDED",
                format!("Scope {scope} has reached its secret limit."),
            ));
        }
        sc.secrets.insert(key, (value, now_ms(), held));
        Ok(())
    })?;
    empty()
}

async fn delete(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let scope = required_str(&body, "scope")?.to_string();
    let key = required_str(&body, "key")?.to_string();
    s.with(|w| {
        let sc = w.secrets.authorized(&scope, &caller, Level::Write)?;
        sc.secrets.remove(&key).map(|_| ()).ok_or_else(|| ApiError::not_found(format!("Secret {key} does not exist!")))
    })?;
    empty()
}

async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let scope = params.required("scope")?.to_string();
    s.with(|w| {
        let sc = w.secrets.authorized(&scope, &caller, Level::Read)?;
        let items: Vec<Value> =
            sc.secrets.iter().map(|(k, (_, ts, _))| json!({"key": k, "last_updated_timestamp": ts})).collect();
        Ok(Json(if items.is_empty() { json!({}) } else { json!({"secrets": items}) }))
    })
}

async fn get_secret(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let scope = params.required("scope")?.to_string();
    let key = params.required("key")?.to_string();
    s.with(|w| {
        let sc = w.secrets.authorized(&scope, &caller, Level::Read)?;
        let (value, ..) =
            sc.secrets.get(&key).ok_or_else(|| ApiError::not_found(format!("Secret {key} does not exist!")))?;
        Ok(Json(json!({"key": key, "value": base64::engine::general_purpose::STANDARD.encode(value)})))
    })
}

async fn put_acl(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let scope = required_str(&body, "scope")?.to_string();
    let principal = required_str(&body, "principal")?.to_string();
    let level = Level::parse(required_str(&body, "permission")?)?;
    s.with(|w| {
        let d = &w.directory;
        let known = d.user_id(&principal).or_else(|| d.sp_id(&principal)).or_else(|| d.group_id(&principal));
        let sc = w.secrets.authorized(&scope, &caller, Level::Manage)?;
        if known.is_none() {
            return Err(ApiError::invalid(format!("Principal {principal} does not exist.")));
        }
        sc.acls.insert(principal, level);
        Ok(())
    })?;
    empty()
}

async fn delete_acl(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let scope = required_str(&body, "scope")?.to_string();
    let principal = required_str(&body, "principal")?.to_string();
    s.with(|w| {
        let sc = w.secrets.authorized(&scope, &caller, Level::Manage)?;
        sc.acls.remove(&principal).map(|_| ()).ok_or_else(|| {
            ApiError::not_found(format!("Failed to get secret acl for principal {principal} in scope {scope}."))
        })
    })?;
    empty()
}

async fn get_acl(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let scope = params.required("scope")?.to_string();
    let principal = params.required("principal")?.to_string();
    s.with(|w| {
        let sc = w.secrets.authorized(&scope, &caller, Level::Manage)?;
        let level = sc.acls.get(&principal).ok_or_else(|| {
            ApiError::not_found(format!("Failed to get secret acl for principal {principal} in scope {scope}."))
        })?;
        Ok(Json(json!({"principal": principal, "permission": level.wire()})))
    })
}

async fn list_acls(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let scope = params.required("scope")?.to_string();
    s.with(|w| {
        let sc = w.secrets.authorized(&scope, &caller, Level::Manage)?;
        let items: Vec<Value> = sc.acls.iter().map(|(p, l)| json!({"principal": p, "permission": l.wire()})).collect();
        Ok(Json(json!({"items": items})))
    })
}

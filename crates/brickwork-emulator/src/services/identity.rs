//! Identity: host metadata and SCIM users (OAuth is in [`super::oauth`]).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use crate::api::{base_url, ApiError, ApiResult, Params};
use crate::state::{AppState, Caller, World};

const USER_SCHEMAS: [&str; 2] =
    ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:workspace:2.0:User"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/databricks-config", get(host_metadata))
        .route("/api/2.0/preview/scim/v2/Me", get(me))
        .route("/api/2.0/preview/scim/v2/Users", get(list_users))
        .route("/api/2.0/preview/scim/v2/Users/{id}", get(get_user))
}

async fn host_metadata(State(s): State<AppState>, headers: HeaderMap) -> Json<Value> {
    Json(
        json!({"oidc_endpoint": format!("{}/oidc", base_url(&headers)), "workspace_id": s.settings.workspace_id, "cloud": "aws"}),
    )
}

fn user_json(w: &World, user_name: &str, admin: bool) -> Value {
    let id = w.identity.user_ids.get(user_name).copied().unwrap_or_default();
    let mut groups = vec![json!({"display": "users", "value": "1", "type": "direct"})];
    if admin {
        groups.push(json!({"display": "admins", "value": "2", "type": "direct"}));
    }
    json!({
        "id": id.to_string(), "userName": user_name, "displayName": user_name, "active": true,
        "emails": [{"value": user_name, "primary": true, "type": "work"}],
        "groups": groups, "schemas": USER_SCHEMAS,
    })
}

async fn me(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> Json<Value> {
    s.with(|w| Json(user_json(w, &caller.user_name, caller.admin)))
}

fn all_users(w: &World) -> Vec<Value> {
    let mut names: Vec<(&String, bool)> = w.identity.pats.values().map(|c| (&c.user_name, c.admin)).collect();
    names.sort();
    names.dedup_by(|a, b| a.0 == b.0);
    names.into_iter().map(|(n, admin)| user_json(w, n, admin)).collect()
}

async fn list_users(State(s): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filter = params.get("filter").map(str::to_string);
    let start = params.int("startIndex")?.unwrap_or(1).max(1) as usize;
    let count = params.int("count")?.unwrap_or(10_000).max(0) as usize;
    s.with(|w| {
        let users: Vec<Value> = all_users(w)
            .into_iter()
            .filter(|u| match &filter {
                // Only `userName eq "x"` is understood.
                Some(f) => f.split_once(" eq ").is_some_and(|(_, v)| u["userName"] == v.trim_matches('"')),
                None => true,
            })
            .collect();
        let total = users.len();
        let page: Vec<Value> = users.into_iter().skip(start - 1).take(count).collect();
        let mut out = json!({
            "totalResults": total, "startIndex": start, "itemsPerPage": page.len(),
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        });
        if !page.is_empty() {
            out["Resources"] = json!(page);
        }
        Ok(Json(out))
    })
}

async fn get_user(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    s.with(|w| {
        all_users(w).into_iter().find(|u| u["id"] == id.as_str()).map(Json).ok_or_else(|| ApiError {
            error_code: json!(null),
            ..ApiError::new(404, "", format!("User {id} not found"))
        })
    })
    .map_err(|_| ApiError::new(404, "SCIM_404", format!("User {id} not found")))
}

//! Identity: host metadata, OIDC discovery, the OAuth token endpoint
//! (client credentials and token exchange) and SCIM users.

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use crate::api::{base_url, ApiError, ApiResult, Params};
use crate::ids;
use crate::state::{AppState, Caller, IssuedToken, World};

const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const USER_SCHEMAS: [&str; 2] =
    ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:workspace:2.0:User"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/databricks-config", get(host_metadata))
        .route("/oidc/.well-known/oauth-authorization-server", get(discovery))
        .route("/oidc/.well-known/openid-configuration", get(discovery))
        .route("/oidc/v1/token", post(token))
        .route("/api/2.0/preview/scim/v2/Me", get(me))
        .route("/api/2.0/preview/scim/v2/Users", get(list_users))
        .route("/api/2.0/preview/scim/v2/Users/{id}", get(get_user))
}

async fn host_metadata(State(s): State<AppState>, headers: HeaderMap) -> Json<Value> {
    Json(
        json!({"oidc_endpoint": format!("{}/oidc", base_url(&headers)), "workspace_id": s.settings.workspace_id, "cloud": "aws"}),
    )
}

async fn discovery(headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    Json(json!({
        "issuer": format!("{base}/oidc"),
        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
        "token_endpoint": format!("{base}/oidc/v1/token"),
        "jwks_uri": format!("{base}/oidc/jwks.json"),
        "scopes_supported": ["all-apis", "offline_access", "openid", "profile", "email"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token", GRANT_TOKEN_EXCHANGE],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

/// Client credentials from the Basic header, else from the form.
fn client_credentials(headers: &HeaderMap, form: &Params) -> Option<(String, String)> {
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| text.split_once(':').map(|(i, s)| (i.to_string(), s.to_string())));
    from_header.or_else(|| {
        Some((form.get("client_id")?.to_string(), form.get("client_secret").unwrap_or_default().to_string()))
    })
}

async fn token(State(s): State<AppState>, headers: HeaderMap, body: String) -> Response {
    let form = Params(form_urlencoded::parse(body.as_bytes()).into_owned().collect());
    let lifetime = s.settings.oauth_token_lifetime_secs;
    let scope = form.get("scope").unwrap_or("all-apis").to_string();
    let caller = match form.get("grant_type") {
        Some("client_credentials") => {
            let Some((id, secret)) = client_credentials(&headers, &form) else {
                return oauth_error(401, "invalid_client", "Client authentication failed");
            };
            match s.settings.service_principals.iter().find(|sp| sp.client_id == id && sp.client_secret == secret) {
                Some(sp) => Caller { user_name: sp.client_id.clone(), admin: sp.admin },
                None => return oauth_error(401, "invalid_client", "Client authentication failed"),
            }
        }
        Some(GRANT_TOKEN_EXCHANGE) => {
            if form.get("subject_token").is_none() {
                return oauth_error(400, "invalid_request", "subject_token is required");
            }
            // Federation: the ID token is trusted; it maps to the named service principal.
            let client_id = form.get("client_id").map(str::to_string);
            match client_id {
                Some(id) => match s.settings.service_principals.iter().find(|sp| sp.client_id == id) {
                    Some(sp) => Caller { user_name: sp.client_id.clone(), admin: sp.admin },
                    None => return oauth_error(400, "invalid_request", "No federation policy for this client"),
                },
                None => Caller { user_name: s.settings.user_name.clone(), admin: true },
            }
        }
        Some(other) => {
            return oauth_error(400, "unsupported_grant_type", &format!("Grant type {other} is not supported"))
        }
        None => return oauth_error(400, "invalid_request", "grant_type is required"),
    };
    let access_token = ids::oauth_token();
    s.with(|w| {
        let expires_at = Instant::now() + Duration::from_secs(lifetime);
        w.identity.oauth_tokens.insert(access_token.clone(), IssuedToken { caller, expires_at });
    });
    Json(json!({"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime, "scope": scope}))
        .into_response()
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

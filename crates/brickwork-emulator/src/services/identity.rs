//! Identity: host metadata and the current user (SCIM is in
//! [`super::scim`], OAuth in [`super::oauth`]).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use crate::api::base_url;
use crate::state::{AppState, Caller};

/// The Identity: host metadata and the current user service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/databricks-config", get(host_metadata))
        .route("/api/2.0/preview/scim/v2/Me", get(me))
}

async fn host_metadata(State(s): State<AppState>, headers: HeaderMap) -> Json<Value> {
    Json(
        json!({"oidc_endpoint": format!("{}/oidc", base_url(&headers)), "workspace_id": s.settings.workspace_id, "cloud": "aws"}),
    )
}

async fn me(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> crate::api::ApiResult<Json<Value>> {
    s.with(|w| super::scim::me(w, &caller).map(Json))
}

//! The emulator's own admin API (`/__admin/*`): counters, faults at run
//! time, extra users and bulk seeding. Not part of Databricks.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::{bool_field, int_field, required_str, str_field, ApiError, ApiResult, Body};
use crate::ids;
use crate::services::jobs;
use crate::settings::FaultSettings;
use crate::state::{AppState, Caller, Snapshot};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/__admin/counters", get(counters))
        .route("/__admin/faults", get(get_faults).put(set_faults))
        .route("/__admin/users", post(add_user))
        .route("/__admin/seed", post(seed))
}

async fn counters(State(s): State<AppState>) -> Json<Snapshot> {
    Json(s.snapshot())
}

async fn get_faults(State(s): State<AppState>) -> Json<FaultSettings> {
    Json(s.faults.settings())
}

async fn set_faults(State(s): State<AppState>, Body(settings): Body<FaultSettings>) -> Json<FaultSettings> {
    s.faults.set(settings);
    Json(s.faults.settings())
}

/// Add a user with a fresh token: `{"user_name": "...", "admin": false}`.
async fn add_user(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let user_name = required_str(&body, "user_name")?.to_string();
    let admin = bool_field(&body, "admin")?.unwrap_or(false);
    let token = ids::pat();
    s.with(|w| {
        w.identity.pats.insert(token.clone(), Caller { user_name: user_name.clone(), admin });
        let id = w.next_id();
        w.identity.user_ids.entry(user_name.clone()).or_insert(id);
        w.workspace.ensure_home(&user_name);
    });
    Ok(Json(json!({"user_name": user_name, "token": token})))
}

/// The most jobs one seed call creates: a typo must not exhaust memory.
const MAX_SEEDED_JOBS: i64 = 1_000_000;

/// Create many jobs at once, owned by the admin: `{"jobs": 100000,
/// "name_prefix": "bench-"}` answers `{"first_job_id": .., "last_job_id": ..}`.
async fn seed(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let count = int_field(&body, "jobs")?.unwrap_or(0);
    if !(0..=MAX_SEEDED_JOBS).contains(&count) {
        return Err(ApiError::invalid(format!("jobs must be between 0 and {MAX_SEEDED_JOBS}, got {count}")));
    }
    let prefix = str_field(&body, "name_prefix")?.unwrap_or("seeded-").to_string();
    let admin = s.settings.user_name.clone();
    let ids = s.with(|w| jobs::seed(w, count as usize, &prefix, &admin));
    Ok(Json(json!({"first_job_id": ids.map(|i| i.0), "last_job_id": ids.map(|i| i.1)})))
}

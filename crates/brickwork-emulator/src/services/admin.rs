//! The emulator's own admin API (`/__admin/*`): counters, faults at run
//! time, extra users and bulk seeding. Not part of Databricks.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::{bool_field, int_field, required_str, str_field, ApiError, ApiResult, Body};
use crate::ids;
use crate::services::jobs;
use crate::settings::{FaultSettings, Settings};
use crate::state::{AppState, Caller, Snapshot};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/__admin/counters", get(counters))
        .route("/__admin/faults", get(get_faults).put(set_faults))
        .route("/__admin/users", post(add_user))
        .route("/__admin/seed", post(seed))
}

/// Admits an admin call only with the admin token, from a loopback peer under
/// a loopback `Host` (unless `admin_remote`), and with a JSON body: a web
/// page can reach it neither by DNS rebinding nor with a cross-site form post.
pub async fn guard(State(s): State<AppState>, request: Request, next: Next) -> Response {
    match admit(&s.settings, &request) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

fn admit(settings: &Settings, request: &Request) -> ApiResult<()> {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    if !settings.admin_remote {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        if !peer.is_some_and(|ip| ip.is_loopback()) {
            return Err(ApiError::permission_denied("The admin API answers loopback clients only (see admin_remote)."));
        }
        if !header(HOST).is_some_and(is_loopback_host) {
            return Err(ApiError::permission_denied(
                "The admin API answers only requests addressed to a loopback host.",
            ));
        }
    }
    let presented = header(AUTHORIZATION)
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    if !presented.is_some_and(|(_, token)| same_secret(token.trim(), &settings.admin_token)) {
        return Err(ApiError::numeric(401, "The admin API needs the emulator's admin_token as a bearer token."));
    }
    let sends_body = [Method::POST, Method::PUT, Method::PATCH].contains(request.method());
    let json = header(CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if sends_body && !json {
        return Err(ApiError::new(415, "BAD_REQUEST", "Admin API bodies must be sent as application/json."));
    }
    Ok(())
}

/// `localhost`, `*.localhost` or a loopback address, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Compares in time independent of where the two differ.
fn same_secret(presented: &str, expected: &str) -> bool {
    presented.len() == expected.len()
        && !expected.is_empty()
        && presented.bytes().zip(expected.bytes()).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
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
        w.ensure_user(&user_name, admin);
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
    let ids = s.with(|w| jobs::seed(w, count as usize, &prefix, &admin)).map_err(|e| e.api_error())?;
    Ok(Json(json!({"first_job_id": ids.map(|i| i.0), "last_job_id": ids.map(|i| i.1)})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_told_apart_from_rebound_names() {
        for host in ["localhost", "localhost:8080", "127.0.0.1:1", "127.8.9.1", "[::1]:9", "api.localhost:3"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["evil.example", "evil.example:80", "10.0.0.1:80", "[2001:db8::1]:80", "localhost.evil.example", ""]
        {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn secrets_match_only_in_full() {
        assert!(same_secret("dapi123", "dapi123"));
        assert!(!same_secret("dapi12", "dapi123"));
        assert!(!same_secret("dapi124", "dapi123"));
        assert!(!same_secret("", ""));
    }
}

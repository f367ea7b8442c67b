//! Authentication middleware: PATs, basic auth, emulator-issued OAuth
//! tokens and ID tokens trusted by a federation policy, with the 401/403
//! answers real workspaces give.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::api::ApiError;
use crate::state::{AppState, Caller, Counters};

/// Paths that skip workspace authentication: discovery, the token endpoint,
/// the admin API (guarded by its own token) and the storage stand-in (its
/// presigned URLs carry their own signature).
fn is_public(path: &str) -> bool {
    path.starts_with("/.well-known/")
        || path.starts_with("/oidc/")
        || path.starts_with("/__admin")
        || path.starts_with("/__storage/")
}

pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let header = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let workspace_url = crate::api::base_url(request.headers());
    match authenticate(&state, header.as_deref(), &workspace_url) {
        Ok(caller) => {
            if let Some(refused) = crate::faults::over_rate(&state, &caller.user_name) {
                return refused;
            }
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => {
            Counters::bump(&state.counters.unauthenticated);
            err.into_response()
        }
    }
}

fn authenticate(state: &AppState, header: Option<&str>, workspace_url: &str) -> Result<Caller, ApiError> {
    let unsupported = || {
        ApiError::numeric(
            401,
            format!(
                "Credential was not sent or was of an unsupported type for this API. [ReqId: {}]",
                crate::ids::request_id()
            ),
        )
    };
    let header = header.ok_or_else(unsupported)?;
    let (scheme, value) = header.split_once(' ').ok_or_else(unsupported)?;
    // A principal's standing is the directory's now: a deleted or
    // deactivated one is refused whatever it signs in with, and leaving
    // `admins` takes admin rights from every credential it holds.
    let standing = |world: &crate::state::World, caller: Caller| {
        if !world.directory.signs_in(&caller.user_name) {
            return Err(ApiError::numeric(401, format!("{} is deleted or deactivated.", caller.user_name)));
        }
        let admin = world.directory.is_admin(&caller.user_name);
        Ok(Caller { admin, ..caller })
    };
    let known = state.read(|world| {
        credential_holder(world, scheme, value, unsupported).map(|found| found.map(|caller| standing(world, caller)))
    })?;
    match known {
        Some(checked) => checked,
        // Entra ID or Google ID tokens a federation policy trusts (the Azure
        // and GCP side headers that come with them are accepted): verified
        // outside the world's lock, so forged tokens hold up no one else.
        None => {
            let caller = crate::services::oauth::trusted_id_token(state, value, workspace_url)
                .ok_or_else(|| ApiError::numeric(403, "Invalid access token."))?;
            state.read(|world| standing(world, caller))
        }
    }
}

/// `user`, when `password` is one of their personal access tokens: what
/// basic auth and the OAuth consent page take as a password.
pub(crate) fn password_holder(world: &crate::state::World, user: &str, password: &str) -> Option<Caller> {
    world
        .identity
        .pats
        .get(password)
        .cloned()
        .or_else(|| world.tokens.caller(password))
        .filter(|c| c.user_name == user && world.directory.signs_in(user))
        .map(|c| Caller { admin: world.directory.is_admin(&c.user_name), ..c })
}

/// Whose credential `value` is, under `scheme`; `None` for a bearer token
/// the workspace did not issue (perhaps an ID token a policy trusts).
fn credential_holder(
    world: &crate::state::World,
    scheme: &str,
    value: &str,
    unsupported: impl Fn() -> ApiError,
) -> Result<Option<Caller>, ApiError> {
    if scheme.eq_ignore_ascii_case("bearer") {
        if let Some(caller) = world.identity.pats.get(value) {
            return Ok(Some(caller.clone()));
        }
        if let Some(caller) = world.tokens.caller(value) {
            return Ok(Some(caller));
        }
        match world.identity.oauth_tokens.get(value) {
            Some(issued) if issued.expires_at > Instant::now() => Ok(Some(issued.caller.clone())),
            Some(_) => Err(ApiError::numeric(403, "Invalid access token.")),
            None => Ok(None),
        }
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).map_err(|_| unsupported())?;
        let text = String::from_utf8(decoded).map_err(|_| unsupported())?;
        let (user, password) = text.split_once(':').ok_or_else(unsupported)?;
        password_holder(world, user, password)
            .map(Some)
            .ok_or_else(|| ApiError::numeric(401, "Invalid username or password."))
    } else {
        Err(unsupported())
    }
}

//! Grants (`/permissions`, `/effective-permissions` and their paged
//! `privilege-assignments` forms) and the privilege
//! checks the other Unity Catalog calls and the Files API make.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{not_found, Kind};
use crate::api::{ApiError, ApiResult, Body, Params};
use crate::state::{AppState, Caller, World};

/// The privileges each kind of securable takes.
fn applicable(kind: Kind) -> &'static [&'static str] {
    const HOLDS_DATA: &[&str] = &[
        "ALL_PRIVILEGES",
        "USE_SCHEMA",
        "CREATE_TABLE",
        "CREATE_VOLUME",
        "CREATE_FUNCTION",
        "CREATE_MATERIALIZED_VIEW",
        "CREATE_MODEL",
        "SELECT",
        "MODIFY",
        "READ_VOLUME",
        "WRITE_VOLUME",
        "EXECUTE",
        "REFRESH",
        "APPLY_TAG",
        "MANAGE",
    ];
    match kind {
        Kind::Catalog => &[
            "ALL_PRIVILEGES",
            "USE_CATALOG",
            "CREATE_SCHEMA",
            "USE_SCHEMA",
            "CREATE_TABLE",
            "CREATE_VOLUME",
            "CREATE_FUNCTION",
            "CREATE_MATERIALIZED_VIEW",
            "CREATE_MODEL",
            "SELECT",
            "MODIFY",
            "READ_VOLUME",
            "WRITE_VOLUME",
            "EXECUTE",
            "REFRESH",
            "BROWSE",
            "APPLY_TAG",
            "MANAGE",
        ],
        Kind::Schema => HOLDS_DATA,
        Kind::Table => &["ALL_PRIVILEGES", "SELECT", "MODIFY", "APPLY_TAG", "MANAGE"],
        Kind::Volume => &["ALL_PRIVILEGES", "READ_VOLUME", "WRITE_VOLUME", "APPLY_TAG", "MANAGE"],
        Kind::Function => &["ALL_PRIVILEGES", "EXECUTE", "APPLY_TAG", "MANAGE"],
        Kind::Credential => &[
            "ALL_PRIVILEGES",
            "CREATE_EXTERNAL_LOCATION",
            "CREATE_EXTERNAL_TABLE",
            "READ_FILES",
            "WRITE_FILES",
            "MANAGE",
        ],
        Kind::Location => &[
            "ALL_PRIVILEGES",
            "CREATE_EXTERNAL_TABLE",
            "CREATE_EXTERNAL_VOLUME",
            "CREATE_MANAGED_STORAGE",
            "READ_FILES",
            "WRITE_FILES",
            "BROWSE",
            "MANAGE",
        ],
    }
}

/// The securable and the ones above it, nearest first: (kind, full name).
fn lineage(kind: Kind, name: &str) -> Vec<(Kind, String)> {
    let parts: Vec<&str> = name.split('.').collect();
    let mut out = vec![(kind, name.to_string())];
    if kind.depth() == 3 && parts.len() == 3 {
        out.push((Kind::Schema, parts[..2].join(".")));
    }
    if kind.depth() >= 2 {
        out.push((Kind::Catalog, parts[0].to_string()));
    }
    out
}

/// The names a caller's grants may be made to: itself and its groups.
pub(super) fn principals(w: &World, caller: &Caller) -> Vec<String> {
    let mut names = w.directory.group_names_of(&caller.user_name);
    names.push("account users".into());
    names.push(caller.user_name.clone());
    names
}

/// Whether `caller` holds `privilege` on the securable: as an admin, as the
/// owner of it or of what holds it, or by a grant on it or above it (to it
/// or one of its groups; `ALL_PRIVILEGES` holds every privilege).
pub fn allows(w: &World, caller: &Caller, kind: Kind, name: &str, privilege: &str) -> bool {
    if caller.admin {
        return true;
    }
    let who = principals(w, caller);
    lineage(kind, name).into_iter().any(|(k, n)| {
        let owned = super::store(w).get(k, &n).is_some_and(|s| who.contains(&s.owner));
        let granted = super::store(w).grants.get(&(k, n.clone())).is_some_and(|by| {
            who.iter().filter_map(|p| by.get(p)).any(|set| set.contains(privilege) || set.contains("ALL_PRIVILEGES"))
        });
        owned || granted
    })
}

/// Whether `caller` may see the securable at all: an admin, an owner of it
/// or of what holds it, or one granted anything there.
pub(super) fn sees(w: &World, caller: &Caller, kind: Kind, name: &str) -> bool {
    if caller.admin {
        return true;
    }
    let who = principals(w, caller);
    lineage(kind, name).into_iter().any(|(k, n)| {
        let owned = super::store(w).get(k, &n).is_some_and(|s| who.contains(&s.owner));
        let granted = super::store(w)
            .grants
            .get(&(k, n.clone()))
            .is_some_and(|by| who.iter().any(|p| by.get(p).is_some_and(|set| !set.is_empty())));
        owned || granted
    })
}

/// `Ok` when `caller` holds every privilege listed on the securable, as
/// Unity Catalog names the first one missing.
pub(super) fn require(w: &World, caller: &Caller, needs: &[(Kind, &str, &str)]) -> ApiResult<()> {
    for (kind, name, privilege) in needs {
        if !allows(w, caller, *kind, name, privilege) {
            return Err(ApiError::permission_denied(format!(
                "User does not have {privilege} on {} '{name}'.",
                kind.title()
            )));
        }
    }
    Ok(())
}

/// What reaching a schema takes: `USE_CATALOG` and `USE_SCHEMA`.
pub(super) fn through(catalog: &str, schema: &str) -> [(Kind, String, &'static str); 2] {
    [(Kind::Catalog, catalog.to_string(), "USE_CATALOG"), (Kind::Schema, schema.to_string(), "USE_SCHEMA")]
}

pub(super) fn require_owned(w: &World, caller: &Caller, needs: &[(Kind, String, &str)]) -> ApiResult<()> {
    let borrowed: Vec<(Kind, &str, &str)> = needs.iter().map(|(k, n, p)| (*k, n.as_str(), *p)).collect();
    require(w, caller, &borrowed)
}

/// Whether `caller` may change or drop the securable: an admin, its owner,
/// or the owner of what holds it, or one granted `MANAGE` there.
pub(super) fn may_manage(w: &World, caller: &Caller, kind: Kind, name: &str) -> ApiResult<()> {
    let who = principals(w, caller);
    let owner_above = lineage(kind, name)
        .into_iter()
        .any(|(k, n)| super::store(w).get(k, &n).is_some_and(|s| who.contains(&s.owner)));
    if caller.admin || owner_above || allows(w, caller, kind, name, "MANAGE") {
        Ok(())
    } else {
        Err(ApiError::permission_denied(format!("User is not an owner of {} '{name}'.", kind.title())))
    }
}

/// A Files API call on a `/Volumes` path: the volume must exist, and a
/// non-admin needs `READ_VOLUME` (or `WRITE_VOLUME` to change it) with the
/// way there. Paths outside `/Volumes` are DBFS's, not checked here.
pub fn check_volume_path(w: &World, path: &str, caller: &Caller, write: bool) -> ApiResult<()> {
    if !path.starts_with("/Volumes/") && path != "/Volumes" {
        return Ok(());
    }
    let Some(volume) = super::volume_of(path) else {
        return Err(ApiError::new(404, "NOT_FOUND", format!("The path {path} does not name a volume.")));
    };
    if !super::store(w).contains(Kind::Volume, &volume) {
        return Err(not_found(Kind::Volume, &volume));
    }
    let parts: Vec<&str> = volume.split('.').collect();
    let schema = parts[..2].join(".");
    let privilege = if write { "WRITE_VOLUME" } else { "READ_VOLUME" };
    require(
        w,
        caller,
        &[
            (Kind::Catalog, parts[0], "USE_CATALOG"),
            (Kind::Schema, &schema, "USE_SCHEMA"),
            (Kind::Volume, &volume, privilege),
        ],
    )
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.1/unity-catalog/permissions/{kind}/{name}", get(read).patch(update))
        .route("/api/2.1/unity-catalog/effective-permissions/{kind}/{name}", get(read_effective))
        .route("/api/2.1/unity-catalog/privilege-assignments/{kind}/{name}", get(list))
        .route("/api/2.1/unity-catalog/effective-privilege-assignments/{kind}/{name}", get(list_effective))
}

fn existing(w: &World, kind: &str, name: &str) -> ApiResult<(Kind, String)> {
    let kind = Kind::from_wire(kind)?;
    let name = name.to_lowercase();
    if !super::store(w).contains(kind, &name) {
        return Err(not_found(kind, &name));
    }
    Ok((kind, name))
}

fn assignments(w: &World, kind: Kind, name: &str, principal: Option<&str>) -> Vec<Value> {
    super::store(w)
        .grants
        .get(&(kind, name.to_string()))
        .into_iter()
        .flatten()
        .filter(|(who, set)| !set.is_empty() && principal.is_none_or(|p| p == who.as_str()))
        .map(|(who, set)| json!({"principal": who, "privileges": set}))
        .collect()
}

fn hidden(kind: Kind, name: &str) -> ApiError {
    ApiError::permission_denied(format!("User does not have any privilege on {} '{name}'.", kind.title()))
}

/// Which answer a read of grants gives: the direct or the effective
/// assignments, under which key, paged by which parameter.
#[derive(Clone, Copy)]
struct Reading {
    effective: bool,
    key: &'static str,
    size_param: &'static str,
}

const DIRECT: Reading = Reading { effective: false, key: "privilege_assignments", size_param: "max_results" };
const EFFECTIVE: Reading = Reading { effective: true, key: "privilege_assignments", size_param: "max_results" };
const DIRECT_LIST: Reading = Reading { effective: false, key: "privilege_assignments", size_param: "page_size" };
const EFFECTIVE_LIST: Reading =
    Reading { effective: true, key: "effective_privilege_assignments", size_param: "page_size" };

type Securable = Path<(String, String)>;

async fn read(s: State<AppState>, caller: Extension<Caller>, path: Securable, params: Params) -> ApiResult {
    answer(s, caller, path, params, DIRECT)
}

async fn read_effective(s: State<AppState>, caller: Extension<Caller>, path: Securable, params: Params) -> ApiResult {
    answer(s, caller, path, params, EFFECTIVE)
}

async fn list(s: State<AppState>, caller: Extension<Caller>, path: Securable, params: Params) -> ApiResult {
    answer(s, caller, path, params, DIRECT_LIST)
}

async fn list_effective(s: State<AppState>, caller: Extension<Caller>, path: Securable, params: Params) -> ApiResult {
    answer(s, caller, path, params, EFFECTIVE_LIST)
}

fn answer(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((kind, name)): Securable,
    params: Params,
    reading: Reading,
) -> ApiResult {
    s.with(|w| {
        let principal = params.get("principal");
        let (kind, name) = existing(w, &kind, &name)?;
        if !sees(w, &caller, kind, &name) {
            return Err(hidden(kind, &name));
        }
        let items = if reading.effective {
            effective_assignments(w, kind, &name, principal)
        } else {
            assignments(w, kind, &name, principal)
        };
        paged(items, &params, reading).map(Json)
    })
}

/// Assignments a page holds when the caller leaves the size to the server.
const SERVER_PAGE: usize = 1000;
/// The smallest page a caller may ask for: room for a whole assignment.
const MIN_PAGE: i64 = 150;

/// A page of assignments in principal order, resuming after the principal
/// the token names. Sizes follow the API: negative or 1 to 149 are refused,
/// 0 is the server's page, and no size on the unpaged reads is everything.
fn paged(mut items: Vec<Value>, params: &Params, reading: Reading) -> ApiResult<Value> {
    let size = match params.int(reading.size_param)? {
        None if reading.size_param == "max_results" && params.get("page_token").is_none() => usize::MAX,
        None | Some(0) => SERVER_PAGE,
        Some(n) if n < MIN_PAGE => {
            return Err(ApiError::invalid(format!("{} must be 0 or at least {MIN_PAGE}, not {n}.", reading.size_param)))
        }
        Some(n) => usize::try_from(n).map_or(SERVER_PAGE, |n| n.min(SERVER_PAGE)),
    };
    if let Some(after) = super::resume_after(params)? {
        items.retain(|a| a["principal"].as_str().is_some_and(|p| p > after.as_str()));
    }
    let more = items.len() > size;
    items.truncate(size);
    let next = items.last().filter(|_| more).and_then(|a| a["principal"].as_str()).map(super::cursor_after);
    let mut out = json!({reading.key: items});
    if let Some(next) = next {
        out["next_page_token"] = json!(next);
    }
    Ok(out)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Changes {
    changes: Vec<Change>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Change {
    principal: String,
    add: Vec<String>,
    remove: Vec<String>,
}

async fn update(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((kind, name)): Path<(String, String)>,
    Body(request): Body<Changes>,
) -> ApiResult {
    s.with(|w| {
        let (kind, name) = existing(w, &kind, &name)?;
        may_manage(w, &caller, kind, &name)?;
        for change in &request.changes {
            if change.principal.trim().is_empty() {
                return Err(ApiError::missing("principal"));
            }
            for privilege in change.add.iter().chain(&change.remove) {
                if !applicable(kind).contains(&privilege.as_str()) {
                    return Err(ApiError::invalid(format!(
                        "Privilege {privilege} is not applicable to this entity [{}:{name}].",
                        kind.wire()
                    )));
                }
            }
            let known = w.directory.user_id(&change.principal).is_some()
                || w.directory.sp_id(&change.principal).is_some()
                || w.directory.group_exists(&change.principal)
                || change.principal == "account users";
            if !known {
                return Err(ApiError::invalid(format!("Could not find principal with name {}", change.principal)));
            }
        }
        let grants = w.catalog.grants.entry((kind, name.clone())).or_default();
        for change in request.changes {
            let set = grants.entry(change.principal.clone()).or_default();
            set.extend(change.add);
            for privilege in &change.remove {
                set.remove(privilege);
            }
            if set.is_empty() {
                grants.remove(&change.principal);
            }
        }
        if kind == Kind::Catalog {
            w.catalog.refile_catalog(&name);
        }
        Ok(Json(json!({"privilege_assignments": assignments(w, kind, &name, None)})))
    })
}

/// Every privilege each principal holds on the securable, its own grants
/// and the ones coming down from what holds it.
fn effective_assignments(w: &World, kind: Kind, name: &str, principal: Option<&str>) -> Vec<Value> {
    let mut by_principal: std::collections::BTreeMap<String, Vec<Value>> = std::collections::BTreeMap::new();
    for (k, n) in lineage(kind, name) {
        for (who, set) in super::store(w).grants.get(&(k, n.clone())).into_iter().flatten() {
            if principal.is_some_and(|p| p != who) {
                continue;
            }
            let list = by_principal.entry(who.clone()).or_default();
            let seen: BTreeSet<String> =
                list.iter().filter_map(|p| p["privilege"].as_str().map(str::to_string)).collect();
            for privilege in set.iter().filter(|p| !seen.contains(*p)) {
                let mut entry = json!({"privilege": privilege});
                if (k, n.as_str()) != (kind, name) {
                    entry["inherited_from_type"] = json!(k.wire().to_uppercase());
                    entry["inherited_from_name"] = json!(n);
                }
                list.push(entry);
            }
        }
    }
    by_principal
        .into_iter()
        .filter(|(_, privileges)| !privileges.is_empty())
        .map(|(who, privileges)| json!({"principal": who, "privileges": privileges}))
        .collect()
}

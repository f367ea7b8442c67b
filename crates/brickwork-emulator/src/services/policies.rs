//! Cluster policies (`/api/2.0/policies/clusters/*`) and policy families
//! (`/api/2.0/policy-families`). A cluster created or edited with a
//! `policy_id` gets the policy's fixed and default values and is refused
//! where it breaks a rule: `fixed`, `forbidden`, `allowlist`, `blocklist`,
//! `range` and `unlimited` (a `regex` rule is taken as written and not
//! checked). Only admins write policies; others need `CAN_USE` on one to
//! build clusters with it.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::api::{empty, page_body, page_start, page_token, ApiError, ApiResult, Body, Params};
use crate::ids;
use crate::services::permissions;
use crate::state::{now_ms, AppState, Caller, World};
use crate::storage::{Holdings, StorageFull};

/// A policy as stored and answered; unknown request fields are dropped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Policy {
    policy_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    definition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_clusters_per_user: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_family_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_family_definition_overrides: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    libraries: Vec<Value>,
    creator_user_name: String,
    created_at_timestamp: i64,
    is_default: bool,
}

/// Policies by id.
#[derive(Debug, Default)]
pub struct Policies {
    by_id: BTreeMap<String, Policy>,
    /// Each policy's count against the storage budget, by id.
    held: Holdings<String>,
}

/// The families workspaces offer: id, name, description, definition.
const FAMILIES: &[(&str, &str, &str, &str)] = &[
    (
        "personal-vm",
        "Personal Compute",
        "Single-node compute for one user.",
        r#"{"spark_conf.spark.databricks.cluster.profile":{"type":"fixed","value":"singleNode","hidden":true},"num_workers":{"type":"fixed","value":0,"hidden":true},"autotermination_minutes":{"type":"fixed","value":120,"hidden":true}}"#,
    ),
    (
        "shared-compute",
        "Shared Compute",
        "Multi-user compute with user isolation.",
        r#"{"data_security_mode":{"type":"fixed","value":"USER_ISOLATION","hidden":true}}"#,
    ),
    (
        "power-user",
        "Power User Compute",
        "Multi-node compute for one user.",
        r#"{"data_security_mode":{"type":"fixed","value":"SINGLE_USER","hidden":true},"autotermination_minutes":{"type":"range","maxValue":120,"defaultValue":60}}"#,
    ),
    (
        "job-cluster",
        "Job Compute",
        "Compute for automated jobs.",
        r#"{"cluster_type":{"type":"fixed","value":"job"},"autotermination_minutes":{"type":"unlimited","defaultValue":0}}"#,
    ),
];

/// The Cluster policies and Policy families service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "cluster-policies"
    }

    fn routes(&self) -> Router<AppState> {
        Router::new()
            .route("/api/2.0/policies/clusters/create", post(create))
            .route("/api/2.0/policies/clusters/edit", post(edit))
            .route("/api/2.0/policies/clusters/delete", post(delete))
            .route("/api/2.0/policies/clusters/get", get(get_policy))
            .route("/api/2.0/policies/clusters/list", get(list))
            .route("/api/2.0/policy-families", get(list_families))
            .route("/api/2.0/policy-families/{id}", get(get_family))
    }
}

impl Policies {
    pub fn exists(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("Can't find a cluster policy with id: {id}."))
}

fn admins_only(caller: &Caller) -> ApiResult<()> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::permission_denied("Only workspace admins can create, edit or delete cluster policies."))
    }
}

/// The rules a policy applies: its own definition over its family's.
fn rules(policy: &Policy) -> ApiResult<Map<String, Value>> {
    let parse = |text: &str, what: &str| -> ApiResult<Map<String, Value>> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(rules)) => Ok(rules),
            _ => Err(ApiError::invalid(format!("{what} is not a JSON object of policy rules."))),
        }
    };
    let mut all = match &policy.policy_family_id {
        Some(family) => {
            let (.., definition) = FAMILIES
                .iter()
                .find(|(id, ..)| id == family)
                .ok_or_else(|| ApiError::invalid(format!("Policy family {family} does not exist.")))?;
            parse(definition, "The policy family definition")?
        }
        None => Map::new(),
    };
    if let Some(overrides) = &policy.policy_family_definition_overrides {
        all.extend(parse(overrides, "policy_family_definition_overrides")?);
    }
    if let Some(definition) = &policy.definition {
        all.extend(parse(definition, "The policy definition")?);
    }
    for (path, rule) in &all {
        // A map attribute takes the rest as one key; any other path names
        // an attribute a few levels deep (`init_scripts.0.workspace.destination`).
        let nested = MAP_FIELDS.iter().all(|m| path.strip_prefix(m).is_none_or(|rest| !rest.starts_with('.')));
        if path.len() > MAX_RULE_PATH || (nested && path.split('.').count() > MAX_RULE_DEPTH) {
            let start: String = path.chars().take(64).collect();
            return Err(ApiError::invalid(format!("Invalid policy rule path: {start}")));
        }
        let kind = rule.get("type").and_then(Value::as_str).unwrap_or_default();
        if !["fixed", "forbidden", "allowlist", "blocklist", "range", "regex", "unlimited"].contains(&kind) {
            return Err(ApiError::invalid(format!("Invalid policy rule type for {path}: {kind:?}.")));
        }
    }
    Ok(all)
}

/// Check a whole policy as written, before it is stored.
fn checked(mut policy: Policy) -> ApiResult<Policy> {
    if policy.name.trim().is_empty() {
        return Err(ApiError::missing("name"));
    }
    if policy.definition.is_none() && policy.policy_family_id.is_none() {
        policy.definition = Some("{}".into());
    }
    rules(&policy)?;
    Ok(policy)
}

/// The value at a dotted path (`autoscale.max_workers`, `custom_tags.team`,
/// `spark_conf.spark.x`: a map key may itself hold dots).
fn value_at<'a>(spec: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = spec.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    match spec.get(head)? {
        Value::Object(inner) => value_at(inner, rest),
        _ => None,
    }
}

/// The map-valued cluster attributes: a rule path's rest is one key of theirs.
const MAP_FIELDS: [&str; 3] = ["custom_tags", "spark_conf", "spark_env_vars"];
/// The longest rule path taken, and the most levels a path not into a map
/// attribute may name: what bounds the walks of `value_at` and `set_at`.
const MAX_RULE_PATH: usize = 1024;
const MAX_RULE_DEPTH: usize = 8;

fn set_at(spec: &mut Map<String, Value>, path: &str, value: Value) {
    // The map-valued attributes take the rest of the path as one key.
    for map_field in MAP_FIELDS {
        if let Some(key) = path.strip_prefix(map_field).and_then(|rest| rest.strip_prefix('.')) {
            if let Value::Object(inner) = spec.entry(map_field).or_insert_with(|| json!({})) {
                inner.insert(key.to_string(), value);
            }
            return;
        }
    }
    match path.split_once('.') {
        Some((head, rest)) => {
            if let Value::Object(inner) = spec.entry(head).or_insert_with(|| json!({})) {
                set_at(inner, rest, value);
            }
        }
        None => {
            spec.insert(path.to_string(), value);
        }
    }
}

/// Attributes a rule may name that are not fields of the cluster.
const VIRTUAL: &[&str] = &["cluster_type"];

/// What a cluster spec looks like under the policy `policy_id`: its fixed
/// and default values filled in, every rule checked.
pub fn apply(world: &World, policy_id: &str, caller: &Caller, spec: &mut Map<String, Value>) -> ApiResult<()> {
    let policy = world.policies.by_id.get(policy_id).ok_or_else(|| missing(policy_id))?;
    if !permissions::allows(world, &permissions::CLUSTER_POLICIES, policy_id, caller, "CAN_USE") {
        return Err(ApiError::permission_denied(format!(
            "User {} does not have permission to use cluster policy {policy_id}.",
            caller.user_name
        )));
    }
    for (path, rule) in rules(policy)? {
        if VIRTUAL.contains(&path.as_str()) {
            continue;
        }
        let kind = rule.get("type").and_then(Value::as_str).unwrap_or_default();
        let fixed = rule.get("value");
        let default = rule.get("defaultValue");
        if value_at(spec, &path).is_none() {
            if let Some(v) = fixed.filter(|_| kind == "fixed").or(default) {
                set_at(spec, &path, v.clone());
            }
        }
        let actual = value_at(spec, &path).cloned();
        let fail = |why: String| Err(ApiError::invalid(format!("Validation failed for {path}, {why}")));
        let listed = |key: &str| rule.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        match (kind, actual) {
            ("fixed", Some(v)) if Some(&v) != fixed => {
                return fail(format!("the value must be {}", fixed.unwrap_or(&Value::Null)))
            }
            ("forbidden", Some(_)) => return fail("the value must not be present".into()),
            ("allowlist", Some(v)) if !listed("values").contains(&v) => {
                return fail(format!("the value must be one of {}", Value::Array(listed("values"))))
            }
            ("blocklist", Some(v)) if listed("values").contains(&v) => {
                return fail(format!("the value must not be one of {}", Value::Array(listed("values"))))
            }
            ("range", Some(v)) => {
                let n = v.as_f64().unwrap_or(f64::NAN);
                let min = rule.get("minValue").and_then(Value::as_f64).unwrap_or(f64::NEG_INFINITY);
                let max = rule.get("maxValue").and_then(Value::as_f64).unwrap_or(f64::INFINITY);
                if !(min..=max).contains(&n) {
                    return fail(format!("the value must be between {min} and {max} (is {v})"));
                }
            }
            (_, None) if rule.get("isOptional") == Some(&Value::Bool(false)) => {
                return fail("the value must be present".into())
            }
            _ => {}
        }
    }
    if let Some(limit) = policy.max_clusters_per_user {
        let mine = world
            .clusters
            .grouped(super::clusters::GroupedBy::Policy, policy_id)
            .filter(|c| c.creator == caller.user_name && c.state != super::clusters::ClusterState::Terminated)
            .count();
        let mine = i64::try_from(mine).unwrap_or(i64::MAX);
        if mine >= limit {
            return Err(ApiError::new(
                400,
                "QUOTA_EXCEEDED",
                format!("Cannot create more than {limit} clusters with policy {policy_id}."),
            ));
        }
    }
    Ok(())
}

async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(policy): Body<Policy>,
) -> ApiResult {
    admins_only(&caller)?;
    let mut policy = checked(policy)?;
    s.with(|w| {
        if w.policies.by_id.values().any(|p| p.name == policy.name) {
            return Err(ApiError::invalid(format!("Policy name {} already exists.", policy.name)));
        }
        policy.policy_id = ids::hex16().to_uppercase();
        policy.creator_user_name = caller.user_name.clone();
        policy.created_at_timestamp = now_ms();
        policy.is_default = false;
        let id = policy.policy_id.clone();
        w.policies.held.count_json(&w.budget, id.clone(), &policy).map_err(StorageFull::api_error)?;
        w.policies.by_id.insert(id.clone(), policy);
        permissions::created(w, &permissions::CLUSTER_POLICIES, &id, &caller);
        Ok(Json(json!({"policy_id": id})))
    })
}

async fn edit(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(policy): Body<Policy>,
) -> ApiResult {
    admins_only(&caller)?;
    if policy.policy_id.is_empty() {
        return Err(ApiError::missing("policy_id"));
    }
    let policy = checked(policy)?;
    s.with(|w| {
        let name_taken = w.policies.by_id.values().any(|p| p.name == policy.name && p.policy_id != policy.policy_id);
        if name_taken {
            return Err(ApiError::invalid(format!("Policy name {} already exists.", policy.name)));
        }
        let stored = w.policies.by_id.get_mut(&policy.policy_id).ok_or_else(|| missing(&policy.policy_id))?;
        let (creator, created) = (stored.creator_user_name.clone(), stored.created_at_timestamp);
        let edited = Policy { creator_user_name: creator, created_at_timestamp: created, ..policy };
        w.policies.held.count_json(&w.budget, edited.policy_id.clone(), &edited).map_err(StorageFull::api_error)?;
        *stored = edited;
        Ok(())
    })?;
    empty()
}

#[derive(Debug, Deserialize)]
struct PolicyId {
    policy_id: String,
}

async fn delete(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(id): Body<PolicyId>,
) -> ApiResult {
    admins_only(&caller)?;
    s.with(|w| {
        w.policies.by_id.remove(&id.policy_id).ok_or_else(|| missing(&id.policy_id))?;
        w.policies.held.release(&id.policy_id);
        w.emit(super::Event::ObjectGone { object_id: format!("/cluster-policies/{}", id.policy_id) });
        Ok(())
    })?;
    empty()
}

async fn get_policy(State(s): State<AppState>, params: Params) -> ApiResult {
    let id = params.required("policy_id")?.to_string();
    s.with(|w| {
        let policy = w.policies.by_id.get(&id).ok_or_else(|| missing(&id))?;
        Ok(Json(serde_json::to_value(policy).unwrap_or_default()))
    })
}

async fn list(State(s): State<AppState>, params: Params) -> ApiResult {
    let by_name = params.get("sort_column") == Some("POLICY_NAME");
    let descending = params.get("sort_order") == Some("DESC");
    s.with(|w| {
        let mut policies: Vec<&Policy> = w.policies.by_id.values().collect();
        if by_name {
            policies.sort_by(|a, b| a.name.cmp(&b.name));
        } else {
            policies.sort_by_key(|p| p.created_at_timestamp);
        }
        if descending {
            policies.reverse();
        }
        let items: Vec<Value> = policies.iter().map(|p| serde_json::to_value(p).unwrap_or_default()).collect();
        Ok(Json(if items.is_empty() { json!({}) } else { json!({"policies": items, "total_count": items.len()}) }))
    })
}

fn family(index: usize) -> Value {
    let (id, name, description, definition) = FAMILIES[index];
    json!({"policy_family_id": id, "name": name, "description": description, "definition": definition})
}

async fn list_families(params: Params) -> ApiResult {
    let size = params.int("max_results")?.unwrap_or(20).clamp(1, 100) as usize;
    let start = page_start(params.get("page_token"))?.min(FAMILIES.len());
    let end = start.saturating_add(size).min(FAMILIES.len());
    let items: Vec<Value> = (start..end).map(family).collect();
    let next = (end < FAMILIES.len()).then(|| page_token(end));
    Ok(Json(page_body(json!({}), "policy_families", items, next)))
}

async fn get_family(Path(id): Path<String>) -> ApiResult {
    let index = FAMILIES
        .iter()
        .position(|(family, ..)| *family == id)
        .ok_or_else(|| ApiError::not_found(format!("Policy family {id} does not exist.")))?;
    Ok(Json(family(index)))
}

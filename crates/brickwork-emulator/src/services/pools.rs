//! Instance pools (`/api/2.0/instance-pools/*`): create, edit, get, list,
//! delete. A cluster created with `instance_pool_id` takes the pool's node
//! type, counts in its `stats.used_count` while it lives, and is refused
//! past the pool's `max_capacity`. Only admins make pools; others need
//! `CAN_ATTACH_TO` on one to put clusters in it.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::api::{empty, ApiError, ApiResult, Body, Params};
use crate::ids;
use crate::services::clusters::{ClusterState, GroupedBy, NODE_TYPES};
use crate::services::permissions;
use crate::state::{AppState, Caller, World};
use crate::storage::{Holdings, StorageFull};

/// A pool as stored; unknown request fields are dropped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Pool {
    instance_pool_id: String,
    instance_pool_name: String,
    node_type_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_idle_instances: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_capacity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_instance_autotermination_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    custom_tags: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_elastic_disk: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disk_spec: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_attributes: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    azure_attributes: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gcp_attributes: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    preloaded_spark_versions: Vec<String>,
    #[serde(skip_serializing)]
    creator: String,
}

/// Pools by id.
#[derive(Debug, Default)]
pub struct Pools {
    by_id: BTreeMap<String, Pool>,
    /// Each pool's count against the storage budget.
    held: Holdings<String>,
}

impl Pools {
    pub fn exists(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }
}

/// The Instance pools service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "instance-pools"
    }

    fn routes(&self) -> Router<AppState> {
        Router::new()
            .route("/api/2.0/instance-pools/create", post(create))
            .route("/api/2.0/instance-pools/edit", post(edit))
            .route("/api/2.0/instance-pools/delete", post(delete))
            .route("/api/2.0/instance-pools/get", get(get_pool))
            .route("/api/2.0/instance-pools/list", get(list))
    }
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("Can't find an instance pool with id: {id}."))
}

fn checked(pool: &Pool) -> ApiResult<()> {
    if pool.instance_pool_name.trim().is_empty() {
        return Err(ApiError::missing("instance_pool_name"));
    }
    if !NODE_TYPES.iter().any(|n| n.id == pool.node_type_id) {
        return Err(ApiError::invalid(format!("Node type {} is not supported.", pool.node_type_id)));
    }
    let (min, max) = (pool.min_idle_instances.unwrap_or(0), pool.max_capacity);
    if min < 0 || max.is_some_and(|max| max < 1 || max < min) {
        return Err(ApiError::invalid("max_capacity must be at least 1 and at least min_idle_instances."));
    }
    Ok(())
}

/// Live clusters in the pool.
fn used(world: &World, id: &str) -> i64 {
    let live = world.clusters.grouped(GroupedBy::Pool, id).filter(|c| c.state != ClusterState::Terminated);
    i64::try_from(live.count()).unwrap_or(i64::MAX)
}

fn render(world: &World, pool: &Pool) -> Value {
    let mut out = serde_json::to_value(pool).unwrap_or_default();
    let used = used(world, &pool.instance_pool_id);
    let idle = pool.min_idle_instances.unwrap_or(0);
    out["state"] = json!("ACTIVE");
    out["stats"] = json!({"used_count": used, "idle_count": idle, "pending_used_count": 0, "pending_idle_count": 0});
    out["default_tags"] = json!({
        "Vendor": "Databricks", "DatabricksInstancePoolCreatorId": pool.creator,
        "DatabricksInstancePoolId": pool.instance_pool_id,
    });
    out
}

/// Fit a cluster spec naming `instance_pool_id` to the pool: its node type,
/// room in its capacity, and the caller's right to use it.
pub fn apply(world: &World, pool_id: &str, caller: &Caller, spec: &mut Map<String, Value>) -> ApiResult<()> {
    let pool = world.pools.by_id.get(pool_id).ok_or_else(|| missing(pool_id))?;
    if !permissions::allows(world, &permissions::INSTANCE_POOLS, pool_id, caller, "CAN_ATTACH_TO") {
        return Err(ApiError::permission_denied(format!(
            "User {} does not have permission to attach to instance pool {pool_id}.",
            caller.user_name
        )));
    }
    spec.insert("node_type_id".into(), json!(pool.node_type_id));
    spec.entry("driver_node_type_id").or_insert_with(|| json!(pool.node_type_id));
    let wanted = spec.get("num_workers").and_then(Value::as_i64).unwrap_or(0).saturating_add(1);
    if pool.max_capacity.is_some_and(|max| used(world, pool_id).saturating_add(wanted) > max) {
        return Err(ApiError::new(
            400,
            "RESOURCE_EXHAUSTED",
            format!("Instance pool {pool_id} has reached its max capacity."),
        ));
    }
    Ok(())
}

fn admins_only(caller: &Caller) -> ApiResult<()> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::permission_denied("Only workspace admins can create instance pools."))
    }
}

async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(mut pool): Body<Pool>,
) -> ApiResult {
    admins_only(&caller)?;
    checked(&pool)?;
    s.with(|w| {
        let id = format!("{}-pool-{}", ids::cluster_id().rsplit_once('-').map_or("", |(stamp, _)| stamp), ids::hex16());
        pool.instance_pool_id = id.clone();
        pool.creator = caller.user_name.clone();
        w.pools.held.count_json(&w.budget, id.clone(), &pool).map_err(StorageFull::api_error)?;
        w.pools.by_id.insert(id.clone(), pool);
        permissions::created(w, &permissions::INSTANCE_POOLS, &id, &caller);
        Ok(Json(json!({"instance_pool_id": id})))
    })
}

async fn edit(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(edited): Body<Pool>) -> ApiResult {
    checked(&edited)?;
    s.with(|w| {
        let id = edited.instance_pool_id.clone();
        let stored = w.pools.by_id.get(&id).ok_or_else(|| missing(&id))?;
        permissions::require(w, &permissions::INSTANCE_POOLS, &id, &caller, "CAN_MANAGE", || {
            ApiError::permission_denied(format!("User {} cannot edit instance pool {id}.", caller.user_name))
        })?;
        if stored.node_type_id != edited.node_type_id {
            return Err(ApiError::invalid("The node type of an instance pool cannot be changed."));
        }
        // Only these fields change; the cloud attributes and disks stay as made.
        let mut pool = stored.clone();
        pool.instance_pool_name = edited.instance_pool_name;
        pool.min_idle_instances = edited.min_idle_instances;
        pool.max_capacity = edited.max_capacity;
        pool.idle_instance_autotermination_minutes = edited.idle_instance_autotermination_minutes;
        pool.custom_tags = edited.custom_tags;
        w.pools.held.count_json(&w.budget, id.clone(), &pool).map_err(StorageFull::api_error)?;
        w.pools.by_id.insert(id, pool);
        Ok(())
    })?;
    empty()
}

#[derive(Debug, Deserialize)]
struct PoolId {
    instance_pool_id: String,
}

async fn delete(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(id): Body<PoolId>) -> ApiResult {
    let id = id.instance_pool_id;
    s.with(|w| {
        w.pools.by_id.get(&id).ok_or_else(|| missing(&id))?;
        permissions::require(w, &permissions::INSTANCE_POOLS, &id, &caller, "CAN_MANAGE", || {
            ApiError::permission_denied(format!("User {} cannot delete instance pool {id}.", caller.user_name))
        })?;
        w.pools.by_id.remove(&id);
        w.pools.held.release(&id);
        w.emit(super::Event::ObjectGone { object_id: format!("/instance-pools/{id}") });
        Ok(())
    })?;
    empty()
}

async fn get_pool(State(s): State<AppState>, params: Params) -> ApiResult {
    let id = params.required("instance_pool_id")?.to_string();
    s.with(|w| {
        let pool = w.pools.by_id.get(&id).ok_or_else(|| missing(&id))?;
        Ok(Json(render(w, pool)))
    })
}

async fn list(State(s): State<AppState>) -> ApiResult {
    s.with(|w| {
        let pools: Vec<Value> = w.pools.by_id.values().map(|p| render(w, p)).collect();
        Ok(Json(if pools.is_empty() { json!({}) } else { json!({"instance_pools": pools}) }))
    })
}

//! Model serving endpoints (`/api/2.0/serving-endpoints`): create, get,
//! list, update the served entities and their traffic, tags, notifications,
//! AI gateway and rate limits, delete, logs, and queries
//! (`/serving-endpoints/{name}/invocations`).
//!
//! A new or changed configuration deploys for the emulator's transition
//! delay (`state.config_update` `IN_PROGRESS`, the new one under
//! `pending_config`), then serves (`READY`, `NOT_UPDATING`), settled from a
//! stored deadline. The emulator has no model registry: any entity name and
//! version deploy. Its models echo: a chat answers the last user message, a
//! completion its prompt, embeddings are derived from the text, and other
//! inputs come back as predictions. Permissions: CAN_VIEW reads, CAN_QUERY
//! queries, CAN_MANAGE changes; the creator manages.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::routing::{get, patch, post, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::{empty, ApiError, ApiResult, Body};
use crate::ids;
use crate::schedule::Deadlines;
use crate::services::permissions::{self, SERVING_ENDPOINTS};
use crate::state::{now_ms, AppState, Caller, World};
use crate::storage::{json_len, Budget, Holdings, StorageFull};

/// Fields of a served entity the API has; others are dropped.
const ENTITY_FIELDS: &[&str] = &[
    "name",
    "entity_name",
    "entity_version",
    "external_model",
    "workload_size",
    "workload_type",
    "scale_to_zero_enabled",
    "environment_vars",
    "instance_profile_arn",
    "min_provisioned_throughput",
    "max_provisioned_throughput",
    "provisioned_model_units",
    "min_provisioned_concurrency",
    "max_provisioned_concurrency",
    "burst_scaling_enabled",
];
/// Fields of a (legacy) served model.
const MODEL_FIELDS: &[&str] = &[
    "name",
    "model_name",
    "model_version",
    "workload_size",
    "workload_type",
    "scale_to_zero_enabled",
    "environment_vars",
    "instance_profile_arn",
    "min_provisioned_throughput",
    "max_provisioned_throughput",
    "provisioned_model_units",
    "min_provisioned_concurrency",
    "max_provisioned_concurrency",
    "burst_scaling_enabled",
];
const WORKLOAD_SIZES: &[&str] = &["Small", "Medium", "Large"];
/// What a summary (list) shows of each served entity.
const SUMMARY_FIELDS: &[&str] =
    &["name", "entity_name", "entity_version", "external_model", "model_name", "model_version"];

/// A configuration: what is served and how traffic splits among it.
#[derive(Debug, Clone, Default)]
struct Config {
    version: i64,
    /// `served_entities` or, for configurations made that way, `served_models`.
    key: &'static str,
    served: Vec<Map<String, Value>>,
    traffic: Vec<Route>,
    auto_capture: Option<Value>,
    started: i64,
}

#[derive(Debug, Clone)]
struct Route {
    served: String,
    percentage: i64,
}

#[derive(Debug, Clone)]
struct Endpoint {
    id: String,
    name: String,
    creator: String,
    created: i64,
    updated: i64,
    description: Option<String>,
    config: Option<Config>,
    pending: Option<Config>,
    tags: BTreeMap<String, Option<String>>,
    /// AI gateway, notifications, rate limits, telemetry, budget policy,
    /// route optimisation: kept as sent, answered as kept.
    extras: Map<String, Value>,
    queries: u64,
}

/// Endpoints by id, with a name index and the deployments' deadlines.
#[derive(Debug, Default)]
pub struct Endpoints {
    by_id: BTreeMap<String, Endpoint>,
    ids_by_name: HashMap<String, String>,
    deploying: Deadlines<String>,
    /// Each endpoint's count against the storage budget, by id.
    held: Holdings<String>,
}

impl Endpoint {
    /// What it keeps of its clients' data, as JSON bytes.
    fn stored_len(&self) -> u64 {
        let configs = self.config.iter().chain(self.pending.iter());
        let served: u64 =
            configs.flat_map(|c| c.served.iter().map(json_len).chain(c.auto_capture.iter().map(json_len))).sum();
        served + json_len(&self.name) + json_len(&self.description) + json_len(&self.tags) + json_len(&self.extras)
    }
}

/// Change endpoint `name` with `change`, counting it against the budget
/// anew: a change past the budget changes nothing.
fn modify(w: &mut World, name: &str, change: impl FnOnce(&mut Endpoint)) -> ApiResult<()> {
    let mut changed = w.serving.named(name)?.clone();
    change(&mut changed);
    changed.updated = now_ms();
    w.serving.held.count(&w.budget, changed.id.clone(), changed.stored_len()).map_err(StorageFull::api_error)?;
    *w.serving.named_mut(name)? = changed;
    Ok(())
}

impl Endpoints {
    pub fn exists(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    fn named(&self, name: &str) -> ApiResult<&Endpoint> {
        self.ids_by_name.get(name).and_then(|id| self.by_id.get(id)).ok_or_else(|| missing(name))
    }

    fn named_mut(&mut self, name: &str) -> ApiResult<&mut Endpoint> {
        let id = self.ids_by_name.get(name).ok_or_else(|| missing(name))?;
        self.by_id.get_mut(id).ok_or_else(|| missing(name))
    }

    /// Deployments due by `now` take over as the served configuration.
    fn settle(&mut self, now: Instant, budget: &Arc<Budget>) {
        for (_, id) in self.deploying.due(now) {
            if let Some(endpoint) = self.by_id.get_mut(&id) {
                if let Some(pending) = endpoint.pending.take() {
                    endpoint.config = Some(pending);
                    endpoint.updated = now_ms();
                    // The replaced configuration's bytes are given back.
                    // A shrink: it always fits.
                    let _ = self.held.count(budget, id.clone(), endpoint.stored_len());
                }
            }
        }
    }
}

/// The Serving endpoints service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "serving-endpoints"
    }

    fn routes(&self) -> Router<AppState> {
        let p = "/api/2.0/serving-endpoints";
        Router::new()
            .route(p, get(list).post(create))
            .route(&format!("{p}/{{name}}"), get(get_endpoint).delete(delete))
            .route(&format!("{p}/{{name}}/config"), put(update_config))
            .route(&format!("{p}/{{name}}/tags"), patch(patch_tags))
            .route(&format!("{p}/{{name}}/notifications"), patch(update_notifications))
            .route(&format!("{p}/{{name}}/ai-gateway"), put(put_ai_gateway))
            .route(&format!("{p}/{{name}}/rate-limits"), put(put_rate_limits))
            .route(&format!("{p}/{{name}}/served-models/{{served}}/logs"), get(logs))
            .route(&format!("{p}/{{name}}/served-models/{{served}}/build-logs"), get(build_logs))
            .route("/serving-endpoints/{name}/invocations", post(query))
    }

    fn advance(&self, world: &mut World, now: Instant) {
        world.serving.settle(now, &world.budget);
    }
}

fn missing(name: &str) -> ApiError {
    ApiError::new(404, "RESOURCE_DOES_NOT_EXIST", format!("Endpoint with name '{name}' does not exist."))
}

/// The endpoint `name` when `caller` holds `level` on it.
fn endpoint<'a>(w: &'a World, name: &str, caller: &Caller, level: &str) -> ApiResult<&'a Endpoint> {
    let endpoint = w.serving.named(name)?;
    if !permissions::allows(w, &SERVING_ENDPOINTS, &endpoint.id, caller, level) {
        return Err(ApiError::permission_denied(format!(
            "User {} does not have {level} permission on serving endpoint {name}.",
            caller.user_name
        )));
    }
    Ok(endpoint)
}

fn valid_name(name: &str) -> ApiResult<()> {
    let ok = (1..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Endpoint name '{name}' must be 1 to 63 letters, digits, dashes or underscores, starting with a letter or digit."
        )))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConfigRequest {
    served_entities: Option<Vec<Map<String, Value>>>,
    served_models: Option<Vec<Map<String, Value>>>,
    traffic_config: Option<TrafficRequest>,
    auto_capture_config: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TrafficRequest {
    routes: Vec<RouteRequest>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RouteRequest {
    served_entity_name: Option<String>,
    served_model_name: Option<String>,
    traffic_percentage: Option<i64>,
}

/// A requested configuration, checked and completed (entity names,
/// default traffic).
fn config_of(request: ConfigRequest, creator: &str, version: i64) -> ApiResult<Config> {
    let (key, fields, served) = match (request.served_entities, request.served_models) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("Specify served_entities or served_models, not both."));
        }
        (Some(entities), None) => ("served_entities", ENTITY_FIELDS, entities),
        (None, Some(models)) => ("served_models", MODEL_FIELDS, models),
        (None, None) => ("served_entities", ENTITY_FIELDS, Vec::new()),
    };
    if served.is_empty() {
        return Err(ApiError::invalid("The configuration must serve at least one entity."));
    }
    let now = now_ms();
    let mut names = Vec::new();
    let mut out = Vec::new();
    for mut entity in served {
        entity.retain(|k, v| !v.is_null() && fields.contains(&k.as_str()));
        let name = served_name(&entity, key)?;
        if names.contains(&name) {
            return Err(ApiError::invalid(format!("Served entity name '{name}' is used more than once.")));
        }
        if let Some(size) = entity.get("workload_size").and_then(Value::as_str) {
            if !WORKLOAD_SIZES.contains(&size) {
                return Err(ApiError::invalid(format!(
                    "workload_size must be one of {}, not {size}.",
                    WORKLOAD_SIZES.join(", ")
                )));
            }
        }
        entity.insert("name".into(), json!(name));
        entity.entry("scale_to_zero_enabled").or_insert(json!(false));
        entity.insert("creator".into(), json!(creator));
        entity.insert("creation_timestamp".into(), json!(now));
        names.push(name);
        out.push(entity);
    }
    let traffic = traffic_of(request.traffic_config, &names)?;
    Ok(Config { version, key, served: out, traffic, auto_capture: request.auto_capture_config, started: now })
}

/// The served entity's name: as given, or made from what it serves.
fn served_name(entity: &Map<String, Value>, key: &str) -> ApiResult<String> {
    if let Some(name) = entity.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        return Ok(name.to_string());
    }
    let text = |k: &str| entity.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    if let Some(external) = entity.get("external_model") {
        return external
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::missing("external_model.name"));
    }
    let (name_key, version_key) =
        if key == "served_models" { ("model_name", "model_version") } else { ("entity_name", "entity_version") };
    let model = text(name_key).ok_or_else(|| ApiError::missing(name_key))?;
    let version = text(version_key).ok_or_else(|| ApiError::missing(version_key))?;
    Ok(format!("{}-{version}", model.replace('.', "-")))
}

/// Routes as asked (naming served entities, summing to 100), or all
/// traffic to the one entity when there is one.
fn traffic_of(request: Option<TrafficRequest>, names: &[String]) -> ApiResult<Vec<Route>> {
    let Some(request) = request.filter(|t| !t.routes.is_empty()) else {
        return match names {
            [only] => Ok(vec![Route { served: only.clone(), percentage: 100 }]),
            _ => Err(ApiError::invalid("A traffic_config is required when more than one entity is served.")),
        };
    };
    let mut routes = Vec::new();
    for route in request.routes {
        let served = route.served_entity_name.or(route.served_model_name).ok_or_else(|| {
            ApiError::invalid("Each route names a served entity (served_entity_name or served_model_name).")
        })?;
        if !names.contains(&served) {
            return Err(ApiError::invalid(format!(
                "The route names '{served}', which the configuration does not serve."
            )));
        }
        let percentage = route.traffic_percentage.ok_or_else(|| ApiError::missing("traffic_percentage"))?;
        if !(0..=100).contains(&percentage) {
            return Err(ApiError::invalid(format!("traffic_percentage must be 0 to 100, not {percentage}.")));
        }
        routes.push(Route { served, percentage });
    }
    if routes.iter().map(|r| r.percentage).sum::<i64>() != 100 {
        return Err(ApiError::invalid("The routes' traffic percentages must add up to 100."));
    }
    Ok(routes)
}

fn render_config(config: &Config, deploying: bool, summary: bool) -> Value {
    let served: Vec<Value> = config
        .served
        .iter()
        .map(|entity| {
            let mut out = entity.clone();
            if summary {
                out.retain(|k, _| SUMMARY_FIELDS.contains(&k.as_str()));
            } else {
                let (deployment, message) = if deploying {
                    ("DEPLOYMENT_CREATING", "Creating the served entity's container.")
                } else {
                    ("DEPLOYMENT_READY", "Served entity creation succeeded.")
                };
                out.insert("state".into(), json!({"deployment": deployment, "deployment_state_message": message}));
            }
            Value::Object(out)
        })
        .collect();
    let mut out = json!({ config.key: served });
    if summary {
        return out;
    }
    let route_key = if config.key == "served_models" { "served_model_name" } else { "served_entity_name" };
    let routes: Vec<Value> =
        config.traffic.iter().map(|r| json!({route_key: r.served, "traffic_percentage": r.percentage})).collect();
    out["traffic_config"] = json!({"routes": routes});
    out["config_version"] = json!(config.version);
    if let Some(capture) = &config.auto_capture {
        out["auto_capture_config"] = capture.clone();
    }
    if deploying {
        out["start_time"] = json!(config.started);
    }
    out
}

fn render(w: &World, endpoint: &Endpoint, caller: &Caller, summary: bool) -> Value {
    let ready = if endpoint.config.is_some() { "READY" } else { "NOT_READY" };
    let updating = if endpoint.pending.is_some() { "IN_PROGRESS" } else { "NOT_UPDATING" };
    let mut out = json!({
        "name": endpoint.name, "id": endpoint.id, "creator": endpoint.creator,
        "creation_timestamp": endpoint.created, "last_updated_timestamp": endpoint.updated,
        "state": {"ready": ready, "config_update": updating},
    });
    if let Some(config) = &endpoint.config {
        out["config"] = render_config(config, false, summary);
    }
    if !endpoint.tags.is_empty() {
        out["tags"] = tags(endpoint);
    }
    if let Some(description) = &endpoint.description {
        out["description"] = json!(description);
    }
    for (key, value) in &endpoint.extras {
        if !summary || matches!(key.as_str(), "ai_gateway" | "budget_policy_id") {
            out[key] = value.clone();
        }
    }
    if !summary {
        if let Some(pending) = &endpoint.pending {
            out["pending_config"] = render_config(pending, true, false);
        }
        if let Some(level) = permissions::level_of(w, &SERVING_ENDPOINTS, &endpoint.id, caller) {
            out["permission_level"] = json!(level);
        }
    }
    out
}

fn tags(endpoint: &Endpoint) -> Value {
    let tags: Vec<Value> = endpoint
        .tags
        .iter()
        .map(|(key, value)| match value {
            Some(value) => json!({"key": key, "value": value}),
            None => json!({"key": key}),
        })
        .collect();
    json!(tags)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tag {
    key: String,
    value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateRequest {
    name: String,
    config: Option<ConfigRequest>,
    description: Option<String>,
    tags: Vec<Tag>,
    ai_gateway: Option<Value>,
    budget_policy_id: Option<String>,
    email_notifications: Option<Value>,
    rate_limits: Option<Value>,
    route_optimized: Option<bool>,
    telemetry_config: Option<Value>,
}

async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<CreateRequest>,
) -> ApiResult {
    valid_name(&request.name)?;
    let pending = request.config.map(|c| config_of(c, &caller.user_name, 1)).transpose()?;
    let mut extras = Map::new();
    let optional = [
        ("ai_gateway", request.ai_gateway),
        ("budget_policy_id", request.budget_policy_id.map(Value::String)),
        ("email_notifications", request.email_notifications),
        ("rate_limits", request.rate_limits),
        ("route_optimized", request.route_optimized.map(Value::Bool)),
        ("telemetry_config", request.telemetry_config),
    ];
    for (key, value) in optional {
        if let Some(value) = value.filter(|v| !v.is_null()) {
            extras.insert(key.into(), value);
        }
    }
    let now = now_ms();
    let endpoint = Endpoint {
        id: format!("{}{}", ids::hex16(), ids::hex16()),
        name: request.name.clone(),
        creator: caller.user_name.clone(),
        created: now,
        updated: now,
        description: request.description,
        config: None,
        pending,
        tags: request.tags.into_iter().map(|t| (t.key, t.value)).collect(),
        extras,
        queries: 0,
    };
    s.with(|w| {
        if w.serving.ids_by_name.contains_key(&endpoint.name) {
            return Err(ApiError::already_exists(format!("Endpoint with name '{}' already exists.", endpoint.name)));
        }
        let id = endpoint.id.clone();
        w.serving.held.count(&w.budget, id.clone(), endpoint.stored_len()).map_err(StorageFull::api_error)?;
        if endpoint.pending.is_some() {
            let at = Instant::now() + w.settings.transition_delay();
            w.serving.deploying.schedule(at, id.clone());
        }
        w.serving.ids_by_name.insert(endpoint.name.clone(), id.clone());
        w.serving.by_id.insert(id.clone(), endpoint);
        permissions::created(w, &SERVING_ENDPOINTS, &id, &caller);
        let created = w.serving.by_id.get(&id).map(|e| render(w, e, &caller, false));
        Ok(Json(created.unwrap_or_default()))
    })
}

async fn get_endpoint(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    s.with(|w| Ok(Json(render(w, endpoint(w, &name, &caller, "CAN_VIEW")?, &caller, false))))
}

async fn list(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult {
    s.with(|w| {
        // A non-admin's: those whose lists name them or their groups, read
        // through the grantee index rather than every endpoint's list.
        let visible: Box<dyn Iterator<Item = &Endpoint>> = if caller.admin {
            Box::new(w.serving.by_id.values())
        } else {
            Box::new(
                permissions::named_for(w, &SERVING_ENDPOINTS, &caller, None)
                    .filter_map(|id| w.serving.by_id.get(id))
                    .filter(|e| permissions::allows(w, &SERVING_ENDPOINTS, &e.id, &caller, "CAN_VIEW")),
            )
        };
        let endpoints: Vec<Value> = visible.map(|e| render(w, e, &caller, true)).collect();
        Ok(Json(if endpoints.is_empty() { json!({}) } else { json!({"endpoints": endpoints}) }))
    })
}

async fn delete(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    s.with(|w| {
        let id = endpoint(w, &name, &caller, "CAN_MANAGE")?.id.clone();
        w.serving.by_id.remove(&id);
        w.serving.held.release(&id);
        w.serving.ids_by_name.remove(&name);
        w.emit(super::Event::ObjectGone { object_id: format!("/serving-endpoints/{id}") });
        Ok(())
    })?;
    empty()
}

async fn update_config(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(request): Body<ConfigRequest>,
) -> ApiResult {
    s.with(|w| {
        let current = endpoint(w, &name, &caller, "CAN_MANAGE")?;
        if current.pending.is_some() {
            return Err(ApiError::new(
                409,
                "RESOURCE_CONFLICT",
                format!("Endpoint '{name}' is already updating; wait for the update to finish."),
            ));
        }
        let version = current.config.as_ref().map_or(0, |c| c.version) + 1;
        let id = current.id.clone();
        let pending = config_of(request, &caller.user_name, version)?;
        let at = Instant::now() + w.settings.transition_delay();
        modify(w, &name, |stored| stored.pending = Some(pending))?;
        w.serving.deploying.schedule(at, id);
        let answer = render(w, w.serving.named(&name)?, &caller, false);
        Ok(Json(answer))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TagsRequest {
    add_tags: Vec<Tag>,
    delete_tags: Vec<String>,
}

async fn patch_tags(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(request): Body<TagsRequest>,
) -> ApiResult {
    s.with(|w| {
        endpoint(w, &name, &caller, "CAN_MANAGE")?;
        modify(w, &name, |stored| {
            for key in request.delete_tags {
                stored.tags.remove(&key);
            }
            for tag in request.add_tags {
                stored.tags.insert(tag.key, tag.value);
            }
        })?;
        Ok(Json(json!({"tags": tags(w.serving.named(&name)?)})))
    })
}

/// Replace one of the settings kept as sent, answering what the API answers.
fn replace_extra(w: &mut World, name: &str, caller: &Caller, key: &str, value: Value) -> ApiResult<()> {
    endpoint(w, name, caller, "CAN_MANAGE")?;
    modify(w, name, |stored| {
        if value.is_null() {
            stored.extras.remove(key);
        } else {
            stored.extras.insert(key.into(), value);
        }
    })
}

async fn update_notifications(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult {
    let notifications = body.get("email_notifications").cloned().unwrap_or(Value::Null);
    s.with(|w| replace_extra(w, &name, &caller, "email_notifications", notifications.clone()))?;
    Ok(Json(json!({"name": name, "email_notifications": notifications})))
}

async fn put_ai_gateway(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult {
    const GATEWAY_FIELDS: &[&str] =
        &["fallback_config", "guardrails", "inference_table_config", "rate_limits", "usage_tracking_config"];
    let mut gateway = body;
    gateway.retain(|k, v| !v.is_null() && GATEWAY_FIELDS.contains(&k.as_str()));
    let gateway = Value::Object(gateway);
    s.with(|w| replace_extra(w, &name, &caller, "ai_gateway", gateway.clone()))?;
    Ok(Json(gateway))
}

async fn put_rate_limits(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult {
    let limits = body.get("rate_limits").cloned().unwrap_or_else(|| json!([]));
    s.with(|w| replace_extra(w, &name, &caller, "rate_limits", limits.clone()))?;
    Ok(Json(json!({"rate_limits": limits})))
}

/// The served entity `served` of the endpoint's live configuration.
fn served_entity<'a>(w: &'a World, name: &str, served: &str, caller: &Caller) -> ApiResult<&'a Map<String, Value>> {
    let endpoint = endpoint(w, name, caller, "CAN_VIEW")?;
    endpoint
        .config
        .iter()
        .chain(endpoint.pending.iter())
        .flat_map(|c| c.served.iter())
        .find(|e| e.get("name").and_then(Value::as_str) == Some(served))
        .ok_or_else(|| {
            ApiError::new(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                format!("Served entity '{served}' of endpoint '{name}' does not exist."),
            )
        })
}

async fn logs(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, served)): Path<(String, String)>,
) -> ApiResult {
    s.with(|w| {
        served_entity(w, &name, &served, &caller)?;
        let queries = w.serving.named(&name)?.queries;
        Ok(Json(
            json!({"logs": format!("[emulator] {served} serving on endpoint {name}; queries answered: {queries}.\n")}),
        ))
    })
}

async fn build_logs(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, served)): Path<(String, String)>,
) -> ApiResult {
    s.with(|w| {
        served_entity(w, &name, &served, &caller)?;
        Ok(Json(json!({"logs": format!("[emulator] container for {served} built.\n")})))
    })
}

/// `POST /serving-endpoints/{name}/invocations`: the served entity the
/// traffic favours answers, echoing what it was sent, and names itself in
/// the `served-model-name` header.
async fn query(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult<([(&'static str, String); 1], Json<Value>)> {
    let served = s.with(|w| {
        let endpoint = endpoint(w, &name, &caller, "CAN_QUERY")?;
        let config = endpoint.config.as_ref().ok_or_else(|| {
            ApiError::new(400, "INVALID_STATE", format!("Endpoint '{name}' is not ready to serve queries."))
        })?;
        let route = config.traffic.iter().max_by_key(|r| r.percentage).map(|r| r.served.clone()).unwrap_or_default();
        if let Ok(stored) = w.serving.named_mut(&name) {
            stored.queries = stored.queries.saturating_add(1);
        }
        Ok::<_, ApiError>(route)
    })?;
    let answer = answer(&served, &body)?;
    Ok(([("served-model-name", served)], Json(answer)))
}

fn answer(served: &str, body: &Map<String, Value>) -> ApiResult<Value> {
    let created = now_ms() / 1000;
    let usage = |text: &str| json!({"prompt_tokens": words(text), "completion_tokens": words(text), "total_tokens": 2 * words(text)});
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        let last = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|m| m.get("content").and_then(Value::as_str))
            .unwrap_or_default();
        return Ok(json!({
            "id": format!("chatcmpl-{}", ids::hex16()), "object": "chat.completion", "created": created, "model": served,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": last}, "finish_reason": "stop"}],
            "usage": usage(last),
        }));
    }
    if let Some(prompt) = body.get("prompt") {
        let text = prompt.as_str().map(str::to_string).unwrap_or_else(|| prompt.to_string());
        return Ok(json!({
            "id": format!("cmpl-{}", ids::hex16()), "object": "text_completion", "created": created, "model": served,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}], "usage": usage(&text),
        }));
    }
    if let Some(input) = body.get("input") {
        let texts: Vec<String> = match input {
            Value::Array(items) => {
                items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string)).collect()
            }
            other => vec![other.as_str().map_or_else(|| other.to_string(), str::to_string)],
        };
        let data: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embedding(t)}))
            .collect();
        return Ok(json!({"object": "list", "model": served, "data": data}));
    }
    for key in ["dataframe_records", "instances", "inputs"] {
        if let Some(records) = body.get(key) {
            return Ok(json!({"predictions": records}));
        }
    }
    if let Some(split) = body.get("dataframe_split") {
        let rows = split.get("data").cloned().unwrap_or_else(|| json!([]));
        return Ok(json!({"predictions": rows}));
    }
    Err(ApiError::invalid(
        "The query needs one of messages, prompt, input, dataframe_records, dataframe_split, instances or inputs.",
    ))
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Eight numbers derived from the text: equal texts, equal embeddings.
fn embedding(text: &str) -> Vec<f64> {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    (0..8)
        .map(|_| {
            for byte in text.bytes() {
                state = (state ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            state = state.rotate_left(17);
            (state % 2000) as f64 / 1000.0 - 1.0
        })
        .collect()
}

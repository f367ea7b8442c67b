//! Lakeflow Declarative Pipelines (`/api/2.0/pipelines`): create, get,
//! list, edit, delete, clone; updates started, listed, stopped; the event
//! log. An update's course is worked out from when it started (waiting for
//! resources, initializing, setting up tables, running, then completed or
//! failed), so reading a pipeline costs nothing whatever its history. An
//! update fails when a notebook library is missing or raises, as a job's
//! notebook task does; a continuous pipeline's update runs until stopped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::{cursor_token, empty, page_body, resume_after, ApiError, ApiResult, Body, Params};
use crate::ids;
use crate::notebook::{self, Outcome};
use crate::services::permissions;
use crate::state::{now_ms, AppState, Caller, World};
use crate::storage::{Budget, Held, StorageFull};

/// Updates kept per pipeline: older ones leave the history.
const UPDATES_KEPT: usize = 100;
/// Events and updates answered per page at most.
const MAX_PAGE: usize = 100;

/// A pipeline's settings; fields the service does not know are dropped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Spec {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    configuration: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clusters: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    libraries: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuous: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    development: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    photon: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serverless: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    edition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notifications: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_log: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    budget_policy_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restart_window: Option<Value>,
}

/// What create and edit take beside the settings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SpecRequest {
    #[serde(flatten)]
    spec: Spec,
    allow_duplicate_names: bool,
    dry_run: bool,
    expected_last_modified: Option<i64>,
}

#[derive(Debug, Clone)]
struct Update {
    id: String,
    started: Instant,
    created_ms: i64,
    cause: String,
    full_refresh: bool,
    validate_only: bool,
    continuous: bool,
    /// What the run of the libraries comes to: `Err` is the failure's message.
    outcome: Result<(), String>,
    /// Stopped before it ended: when (for the state and the events).
    stopped: Option<(Instant, i64)>,
}

#[derive(Debug)]
struct Pipeline {
    spec: Spec,
    creator: String,
    last_modified: i64,
    /// Oldest first.
    updates: Vec<Update>,
    /// The spec's count against the storage budget.
    held: Held,
}

impl Pipeline {
    /// A new pipeline of `creator`'s, its spec counted against the budget.
    fn new(budget: &Arc<Budget>, spec: Spec, creator: &str) -> ApiResult<Pipeline> {
        let held = budget.hold_json(&spec).map_err(StorageFull::api_error)?;
        Ok(Pipeline { spec, creator: creator.to_string(), last_modified: now_ms(), updates: Vec::new(), held })
    }
}

/// Pipelines by id.
#[derive(Debug, Default)]
pub struct Pipelines {
    by_id: BTreeMap<String, Pipeline>,
    /// Name -> the ids of the pipelines of that name (several when
    /// duplicates were allowed): the duplicate check without a scan.
    by_name: HashMap<String, BTreeSet<String>>,
}

impl Pipelines {
    pub fn exists(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Store `pipeline` as `id`, in place of any pipeline of that id.
    fn put(&mut self, id: &str, pipeline: Pipeline) {
        self.remove(id);
        if let Some(name) = &pipeline.spec.name {
            crate::index::file(&mut self.by_name, name.clone(), id.to_string());
        }
        self.by_id.insert(id.to_string(), pipeline);
    }

    fn remove(&mut self, id: &str) -> Option<Pipeline> {
        let gone = self.by_id.remove(id)?;
        if let Some(name) = &gone.spec.name {
            crate::index::unfile(&mut self.by_name, name, &id.to_string());
        }
        Some(gone)
    }
}

/// The course of an update, from the timing settings.
struct Timing {
    delay: Duration,
    run: Duration,
}

impl Timing {
    fn of(world: &World) -> Self {
        Timing { delay: world.settings.transition_delay(), run: world.settings.task_duration() }
    }

    /// The update's states with when each began (after its start), up to `now`.
    fn course(&self, update: &Update, now: Instant) -> Vec<(&'static str, Duration)> {
        let mut steps = vec![
            ("WAITING_FOR_RESOURCES", Duration::ZERO),
            ("INITIALIZING", self.delay / 2),
            ("SETTING_UP_TABLES", self.delay),
            ("RUNNING", self.delay + self.run / 2),
        ];
        if update.validate_only {
            steps.truncate(2);
            steps.push(("COMPLETED", self.delay));
        } else if !update.continuous {
            let last = if update.outcome.is_ok() { "COMPLETED" } else { "FAILED" };
            steps.push((last, self.delay + self.run));
        }
        let until = match update.stopped {
            Some((at, _)) => at.min(now),
            None => now,
        };
        let elapsed = until.saturating_duration_since(update.started);
        let mut passed: Vec<(&'static str, Duration)> = steps.into_iter().filter(|(_, at)| *at <= elapsed).collect();
        let ended = passed.last().is_some_and(|(s, _)| is_terminal(s));
        if let (Some((at, _)), false) = (update.stopped, ended) {
            passed.push(("CANCELED", at.saturating_duration_since(update.started)));
        }
        passed
    }

    fn state(&self, update: &Update, now: Instant) -> &'static str {
        self.course(update, now).last().map_or("QUEUED", |(s, _)| s)
    }
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "COMPLETED" | "FAILED" | "CANCELED")
}

/// The Pipelines service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "pipelines"
    }

    fn routes(&self) -> Router<AppState> {
        Router::new()
            .route("/api/2.0/pipelines", get(list).post(create))
            .route("/api/2.0/pipelines/{id}", get(get_pipeline).put(edit).delete(delete))
            .route("/api/2.0/pipelines/{id}/clone", post(clone))
            .route("/api/2.0/pipelines/{id}/updates", get(list_updates).post(start))
            .route("/api/2.0/pipelines/{id}/updates/{update_id}", get(get_update))
            .route("/api/2.0/pipelines/{id}/stop", post(stop))
            .route("/api/2.0/pipelines/{id}/events", get(events))
    }
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("Pipeline {id} does not exist."))
}

/// `Ok` when `caller` holds `level` on the pipeline.
fn may(w: &World, id: &str, caller: &Caller, level: &str) -> ApiResult<()> {
    permissions::require(w, &permissions::PIPELINES, id, caller, level, || {
        ApiError::permission_denied(format!(
            "User {} does not have {level} permission on pipeline {id}.",
            caller.user_name
        ))
    })
}

fn pipeline<'a>(w: &'a World, id: &str, caller: &Caller, level: &str) -> ApiResult<&'a Pipeline> {
    let p = w.pipelines.by_id.get(id).ok_or_else(|| missing(id))?;
    may(w, id, caller, level)?;
    Ok(p)
}

/// Defaults the service fills in, and its checks.
fn effective(mut spec: Spec) -> ApiResult<Spec> {
    if spec.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid("Pipeline name must be specified."));
    }
    if spec.catalog.is_some() && spec.storage.is_some() {
        return Err(ApiError::invalid("'storage' cannot be set on a pipeline that publishes to Unity Catalog."));
    }
    spec.edition.get_or_insert_with(|| "ADVANCED".into());
    spec.channel.get_or_insert_with(|| "CURRENT".into());
    spec.continuous.get_or_insert(false);
    spec.development.get_or_insert(false);
    if spec.catalog.is_none() && spec.storage.is_none() {
        spec.storage = Some(format!("dbfs:/pipelines/{}", ids::uuid()));
    }
    Ok(spec)
}

/// `Ok` when no pipeline but `except` has `name`, or duplicates are allowed.
fn name_free(w: &World, name: &str, except: Option<&str>, allow_duplicates: bool) -> ApiResult<()> {
    let taken = w.pipelines.by_name.get(name).is_some_and(|ids| ids.iter().any(|id| Some(id.as_str()) != except));
    if taken && !allow_duplicates {
        return Err(ApiError::new(409, "RESOURCE_CONFLICT", format!("Pipeline with name '{name}' already exists.")));
    }
    Ok(())
}

async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<SpecRequest>,
) -> ApiResult {
    let mut spec = effective(request.spec)?;
    s.with(|w| {
        name_free(w, spec.name.as_deref().unwrap_or_default(), None, request.allow_duplicate_names)?;
        let id = ids::uuid();
        spec.id = Some(id.clone());
        let settings = serde_json::to_value(&spec).unwrap_or_default();
        if request.dry_run {
            return Ok(Json(json!({"effective_settings": settings})));
        }
        let pipeline = Pipeline::new(&w.budget, spec, &caller.user_name)?;
        w.pipelines.put(&id, pipeline);
        permissions::created(w, &permissions::PIPELINES, &id, &caller);
        Ok(Json(json!({"pipeline_id": id, "effective_settings": settings})))
    })
}

fn latest_updates(timing: &Timing, p: &Pipeline, now: Instant) -> Vec<Value> {
    p.updates
        .iter()
        .rev()
        .take(5)
        .map(|u| json!({"update_id": u.id, "state": timing.state(u, now), "creation_time": rfc3339(u.created_ms)}))
        .collect()
}

/// `RUNNING` while an update runs (`STARTING` while it gets resources), else `IDLE`.
fn pipeline_state(timing: &Timing, p: &Pipeline, now: Instant) -> &'static str {
    match p.updates.last().map(|u| timing.state(u, now)) {
        Some("WAITING_FOR_RESOURCES" | "INITIALIZING" | "QUEUED") => "STARTING",
        Some(state) if !is_terminal(state) => "RUNNING",
        _ => "IDLE",
    }
}

fn health(timing: &Timing, p: &Pipeline, now: Instant) -> &'static str {
    match p.updates.last().map(|u| timing.state(u, now)) {
        Some("FAILED") => "UNHEALTHY",
        _ => "HEALTHY",
    }
}

fn summary(w: &World, id: &str, p: &Pipeline, now: Instant) -> Value {
    let timing = Timing::of(w);
    json!({
        "pipeline_id": id, "name": p.spec.name, "state": pipeline_state(&timing, p, now),
        "health": health(&timing, p, now), "creator_user_name": p.creator, "run_as_user_name": p.creator,
        "latest_updates": latest_updates(&timing, p, now),
    })
}

async fn get_pipeline(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    s.with(|w| {
        let p = pipeline(w, &id, &caller, "CAN_VIEW")?;
        let mut out = summary(w, &id, p, Instant::now());
        out["spec"] = serde_json::to_value(&p.spec).unwrap_or_default();
        out["last_modified"] = json!(p.last_modified);
        Ok(Json(out))
    })
}

async fn list(State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params) -> ApiResult {
    let size = params.int("max_results")?.unwrap_or(25).clamp(1, MAX_PAGE as i64) as usize;
    let after = resume_after(&params, "pipelines")?;
    // `name LIKE '%part%'`, the filter the SDKs document; other filters are taken as none.
    let like = params.get("filter").and_then(|f| {
        let pattern = f.trim().strip_prefix("name LIKE ")?.trim().trim_matches('\'');
        Some(pattern.trim_matches('%').to_lowercase())
    });
    s.with(|w| {
        let now = Instant::now();
        let start = after.as_deref().map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        // A non-admin walks only the pipelines granted to them or their groups.
        let ids: Box<dyn Iterator<Item = &str>> = if caller.admin {
            Box::new(w.pipelines.by_id.range::<str, _>((start, std::ops::Bound::Unbounded)).map(|(id, _)| id.as_str()))
        } else {
            Box::new(permissions::named_for(w, &permissions::PIPELINES, &caller, after.as_deref()))
        };
        let mut matching = ids
            .filter_map(|id| w.pipelines.by_id.get_key_value(id))
            .filter(|(_, p)| {
                like.as_ref()
                    .is_none_or(|part| p.spec.name.as_deref().unwrap_or_default().to_lowercase().contains(part))
            })
            .filter(|(id, _)| may(w, id, &caller, "CAN_VIEW").is_ok());
        let page: Vec<(&String, &Pipeline)> = matching.by_ref().take(size).collect();
        let next = match (page.last(), matching.next()) {
            (Some((last, _)), Some(_)) => Some(cursor_token("pipelines", last)),
            _ => None,
        };
        let items: Vec<Value> = page.iter().map(|(id, p)| summary(w, id, p, now)).collect();
        Ok(Json(page_body(json!({}), "statuses", items, next)))
    })
}

async fn edit(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(request): Body<SpecRequest>,
) -> ApiResult {
    let mut spec = effective(request.spec)?;
    s.with(|w| {
        let p = pipeline(w, &id, &caller, "CAN_MANAGE")?;
        if request.expected_last_modified.is_some_and(|expected| expected != p.last_modified) {
            return Err(ApiError::new(409, "RESOURCE_CONFLICT", "The pipeline was modified since it was read."));
        }
        name_free(w, spec.name.as_deref().unwrap_or_default(), Some(&id), request.allow_duplicate_names)?;
        spec.id = Some(id.clone());
        // Taken out and put back, so the name index follows a rename.
        let Some(mut p) = w.pipelines.remove(&id) else { return Err(missing(&id)) };
        let counted = p.held.resize_json(&spec).map_err(StorageFull::api_error);
        if counted.is_ok() {
            p.spec = spec;
            p.last_modified = now_ms();
        }
        w.pipelines.put(&id, p);
        counted
    })?;
    empty()
}

async fn delete(State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> ApiResult {
    s.with(|w| {
        pipeline(w, &id, &caller, "CAN_MANAGE")?;
        w.pipelines.remove(&id);
        w.emit(super::Event::ObjectGone { object_id: format!("/pipelines/{id}") });
        Ok(())
    })?;
    empty()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CloneRequest {
    #[serde(flatten)]
    spec: Spec,
    allow_duplicate_names: bool,
}

async fn clone(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(request): Body<CloneRequest>,
) -> ApiResult {
    s.with(|w| {
        let source = pipeline(w, &id, &caller, "CAN_VIEW")?.spec.clone();
        // The clone's given settings over the source's.
        let mut merged = serde_json::to_value(&source).unwrap_or_default();
        if let (Value::Object(base), Value::Object(given)) =
            (&mut merged, serde_json::to_value(&request.spec).unwrap_or_default())
        {
            base.extend(given);
        }
        let mut spec = effective(serde_json::from_value(merged).unwrap_or_default())?;
        name_free(w, spec.name.as_deref().unwrap_or_default(), None, request.allow_duplicate_names)?;
        let new_id = ids::uuid();
        spec.id = Some(new_id.clone());
        let pipeline = Pipeline::new(&w.budget, spec, &caller.user_name)?;
        w.pipelines.put(&new_id, pipeline);
        permissions::created(w, &permissions::PIPELINES, &new_id, &caller);
        Ok(Json(json!({"pipeline_id": new_id})))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StartRequest {
    cause: Option<String>,
    full_refresh: bool,
    validate_only: bool,
}

/// What running the pipeline's libraries comes to: a notebook missing or
/// raising fails the update with its message.
fn outcome(w: &World, spec: &Spec) -> Result<(), String> {
    for library in spec.libraries.iter().flatten() {
        let Some(path) = library.pointer("/notebook/path").and_then(Value::as_str) else { continue };
        let Some((_, source)) = w.workspace.notebook(path) else {
            return Err(format!("Failed to resolve flow: notebook {path} does not exist."));
        };
        if let Outcome::Raise(error) = notebook::run(&source, &spec.configuration.clone().unwrap_or_default()) {
            return Err(error);
        }
    }
    Ok(())
}

/// Start an update of pipeline `id` (the API's call, and a job's
/// `pipeline_task`); answers its id.
pub fn start_update(
    w: &mut World,
    id: &str,
    cause: &str,
    full_refresh: bool,
    validate_only: bool,
) -> ApiResult<String> {
    let now = Instant::now();
    let timing = Timing::of(w);
    let p = w.pipelines.by_id.get(id).ok_or_else(|| missing(id))?;
    if p.updates.last().is_some_and(|u| !is_terminal(timing.state(u, now))) {
        return Err(ApiError::new(
            409,
            "RESOURCE_CONFLICT",
            format!("Pipeline {id} has an active update; stop it before starting another."),
        ));
    }
    let update = Update {
        id: ids::uuid(),
        started: now,
        created_ms: now_ms(),
        cause: cause.to_string(),
        full_refresh,
        validate_only,
        continuous: p.spec.continuous.unwrap_or(false),
        outcome: outcome(w, &p.spec),
        stopped: None,
    };
    let update_id = update.id.clone();
    if let Some(p) = w.pipelines.by_id.get_mut(id) {
        p.updates.push(update);
        if p.updates.len() > UPDATES_KEPT {
            p.updates.remove(0);
        }
    }
    Ok(update_id)
}

/// How update `update_id` of pipeline `id` ended: `None` while it runs,
/// `Some(Err(message))` when it failed or was cancelled (or is gone).
pub fn update_result(w: &World, id: &str, update_id: &str) -> Option<Result<(), String>> {
    let Some(update) = w.pipelines.by_id.get(id).and_then(|p| p.updates.iter().find(|u| u.id == update_id)) else {
        return Some(Err(format!("Pipeline {id} or its update {update_id} no longer exists.")));
    };
    match Timing::of(w).state(update, Instant::now()) {
        "COMPLETED" => Some(Ok(())),
        "FAILED" => Some(Err(update.outcome.clone().err().unwrap_or_default())),
        "CANCELED" => Some(Err(format!("Update {update_id} was canceled."))),
        _ => None,
    }
}

async fn start(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(request): Body<StartRequest>,
) -> ApiResult {
    s.with(|w| {
        pipeline(w, &id, &caller, "CAN_RUN")?;
        let cause = request.cause.unwrap_or_else(|| "API_CALL".into());
        let update_id = start_update(w, &id, &cause, request.full_refresh, request.validate_only)?;
        Ok(Json(json!({"update_id": update_id})))
    })
}

async fn stop(State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> ApiResult {
    s.with(|w| {
        pipeline(w, &id, &caller, "CAN_RUN")?;
        let timing = Timing::of(w);
        let now = Instant::now();
        if let Some(update) = w.pipelines.by_id.get_mut(&id).and_then(|p| p.updates.last_mut()) {
            if !is_terminal(timing.state(update, now)) {
                update.stopped = Some((now, now_ms()));
            }
        }
        Ok(())
    })?;
    empty()
}

fn render_update(w: &World, id: &str, p: &Pipeline, u: &Update, now: Instant) -> Value {
    json!({
        "update_id": u.id, "pipeline_id": id, "state": Timing::of(w).state(u, now), "cause": u.cause,
        "creation_time": u.created_ms, "full_refresh": u.full_refresh, "validate_only": u.validate_only,
        "config": serde_json::to_value(&p.spec).unwrap_or_default(),
    })
}

async fn get_update(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, update_id)): Path<(String, String)>,
) -> ApiResult {
    s.with(|w| {
        let p = pipeline(w, &id, &caller, "CAN_VIEW")?;
        let u = p
            .updates
            .iter()
            .find(|u| u.id == update_id)
            .ok_or_else(|| ApiError::not_found(format!("Update {update_id} does not exist.")))?;
        Ok(Json(json!({"update": render_update(w, &id, p, u, Instant::now())})))
    })
}

/// Newest first; the token names the page's last update, so an update
/// started between pages neither repeats one nor hides one. Only the page
/// is rendered.
async fn list_updates(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult {
    let size = params.int("max_results")?.unwrap_or(25).clamp(1, MAX_PAGE as i64) as usize;
    let after = crate::api::resume_after(&params, "updates")?;
    s.with(|w| {
        let p = pipeline(w, &id, &caller, "CAN_VIEW")?;
        let now = Instant::now();
        let mut older = p.updates.iter().rev();
        // An update past retention since: nothing older is left either.
        if let Some(after) = &after {
            older.by_ref().find(|u| u.id == *after);
        }
        let page: Vec<&Update> = older.by_ref().take(size).collect();
        let next = match (page.last(), older.next()) {
            (Some(last), Some(_)) => Some(crate::api::cursor_token("updates", &last.id)),
            _ => None,
        };
        let items: Vec<Value> = page.iter().map(|u| render_update(w, &id, p, u, now)).collect();
        Ok(Json(page_body(json!({}), "updates", items, next)))
    })
}

/// The event log, newest first: each update's creation and every state it
/// reached, with an error event for a failure.
async fn events(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult {
    let size = params.int("max_results")?.unwrap_or(25).clamp(1, MAX_PAGE as i64) as usize;
    let start = crate::api::page_start(params.get("page_token"))?;
    let oldest_first = params.get("order_by").is_some_and(|o| o.to_ascii_lowercase().contains("asc"));
    s.with(|w| {
        let p = pipeline(w, &id, &caller, "CAN_VIEW")?;
        let timing = Timing::of(w);
        let now = Instant::now();
        let mut log = Vec::new();
        for u in &p.updates {
            let origin = json!({"pipeline_id": id, "pipeline_name": p.spec.name, "update_id": u.id});
            let at = |offset: Duration| u.created_ms.saturating_add(offset.as_millis() as i64);
            log.push((
                u.created_ms,
                "create_update",
                "INFO",
                format!("Update {} started by {}.", short(&u.id), u.cause),
                origin.clone(),
            ));
            for (state, offset) in timing.course(u, now) {
                let level = if state == "FAILED" { "ERROR" } else { "INFO" };
                let message = match (state, &u.outcome) {
                    ("FAILED", Err(error)) => format!("Update {} is FAILED: {error}", short(&u.id)),
                    _ => format!("Update {} is {state}.", short(&u.id)),
                };
                log.push((at(offset), "update_progress", level, message, origin.clone()));
            }
        }
        let mut rendered: Vec<Value> = log
            .into_iter()
            .enumerate()
            .map(|(n, (ms, kind, level, message, origin))| {
                json!({
                    "id": format!("{id}-{n}"), "event_type": kind, "level": level, "message": message,
                    "timestamp": rfc3339(ms), "origin": origin, "maturity_level": "STABLE",
                    "sequence": {"control_plane_seq_no": n},
                })
            })
            .collect();
        if !oldest_first {
            rendered.reverse();
        }
        let (items, next) = crate::api::page(&rendered, start, size);
        Ok(Json(page_body(json!({}), "events", items, next)))
    })
}

fn short(id: &str) -> &str {
    id.get(..6).unwrap_or(id)
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

//! SQL warehouses (state machine, auto-stop) and statement execution for
//! trivial statements (`SELECT 1`, literals, named parameters).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};

use crate::api::{
    base_url, cursor_token, empty, int_field, page_body, required_str, resume_after, str_field, ApiError, ApiResult,
    Body, Params,
};
use crate::ids;
use crate::schedule::Deadlines;
use crate::services::permissions;
use crate::settings::Settings;
use crate::state::{AppState, Caller, World};
use crate::storage::{json_len, Held, StorageFull};

const SIZES: &[&str] =
    &["2X-Small", "X-Small", "Small", "Medium", "Large", "X-Large", "2X-Large", "3X-Large", "4X-Large", "5X-Large"];

#[derive(Debug)]
pub struct Warehouse {
    id: String,
    spec: Map<String, Value>,
    state: &'static str,
    next: Option<(Instant, &'static str)>,
    creator: String,
    last_activity: Instant,
    /// The deadlines waiting in the schedule, if any (at most one of each).
    transition_check: Option<Instant>,
    idle_check: Option<Instant>,
    /// The spec's count against the storage budget.
    held: Held,
}

#[derive(Debug, Clone)]
struct Statement {
    id: String,
    warehouse_id: String,
    /// Who ran it: they (and those who may monitor the warehouse) read it.
    submitter: String,
    sql: String,
    /// The statement's count against the storage budget, until retention drops it.
    _held: Arc<Held>,
    parameters: Vec<Value>,
    state: &'static str,
    outcome: Option<Result<Table, String>>,
    /// `EXTERNAL_LINKS`: the result is fetched from presigned URLs.
    external: bool,
    /// `JSON_ARRAY` or `CSV`.
    format: &'static str,
}

/// A result: column names, SQL types and rows of text values.
#[derive(Debug, Clone)]
struct Table {
    columns: Vec<(String, &'static str)>,
    row: Vec<Option<String>>,
}

/// A finished statement's result can be fetched this many emulated
/// minutes; then it is `CLOSED`.
const RESULT_KEPT_MINUTES: u32 = 60;
/// A finished statement is kept this many emulated minutes; then `get`
/// answers 404.
const STATEMENT_KEPT_MINUTES: u32 = 12 * 60;
/// What a statement's record takes besides its text, counted against the
/// storage budget so that a flood of short statements is bounded too.
const STATEMENT_OVERHEAD: u64 = 256;

#[derive(Debug, Default)]
pub struct Warehouses {
    by_id: BTreeMap<String, Warehouse>,
    statements: BTreeMap<String, Statement>,
    /// Statements waiting for their warehouse: what advancing looks at.
    pending: BTreeSet<String>,
    /// Finished statements, in the order they finished: what retention
    /// closes and then drops, looking at no other.
    finished: VecDeque<(Instant, String)>,
    /// Of those, the ones whose result is still open, in the same order.
    open_results: VecDeque<(Instant, String)>,
    /// When a warehouse's transition settles or its idle time may run out.
    due: Deadlines<String>,
    /// Warehouses changed since their deadlines were last planned.
    changed: BTreeSet<String>,
}

impl Warehouses {
    /// Keep a new statement.
    fn add_statement(&mut self, statement: Statement) {
        if statement.state == "PENDING" {
            self.pending.insert(statement.id.clone());
        }
        self.statements.insert(statement.id.clone(), statement);
    }

    /// Statement `id` ends in `state` now (a result, a failure, a cancel).
    fn finish(&mut self, id: &str, state: &'static str, now: Instant) {
        let Some(st) = self.statements.get_mut(id).filter(|st| matches!(st.state, "PENDING" | "RUNNING")) else {
            return;
        };
        st.state = state;
        self.finished.push_back((now, id.to_string()));
        if state == "SUCCEEDED" {
            self.open_results.push_back((now, id.to_string()));
        }
    }

    /// The statements waiting for `warehouse` are cancelled: it is stopping
    /// or gone, and they would otherwise wait (and be kept) for ever.
    fn cancel_waiting_on(&mut self, warehouse: &str, now: Instant) {
        let waiting: Vec<String> = self
            .pending
            .iter()
            .filter(|id| self.statements.get(*id).is_some_and(|st| st.warehouse_id == warehouse))
            .cloned()
            .collect();
        for id in waiting {
            self.pending.remove(&id);
            self.finish(&id, "CANCELED", now);
        }
    }

    /// Close results and drop statements past their retention, oldest first.
    fn expire(&mut self, now: Instant, settings: &Settings) {
        let due = |minutes: u32| now.checked_sub(settings.minute().saturating_mul(minutes));
        if let Some(closed_by) = due(RESULT_KEPT_MINUTES) {
            while let Some((_, id)) = self.open_results.front().filter(|(at, _)| *at <= closed_by).cloned() {
                self.open_results.pop_front();
                if let Some(st) = self.statements.get_mut(&id) {
                    st.state = "CLOSED";
                    st.outcome = None;
                }
            }
        }
        if let Some(dropped_by) = due(STATEMENT_KEPT_MINUTES) {
            while let Some((_, id)) = self.finished.front().filter(|(at, _)| *at <= dropped_by).cloned() {
                self.finished.pop_front();
                self.statements.remove(&id);
            }
        }
    }

    /// Warehouse transitions and auto-stops that came due, from their
    /// deadlines, and the statements waiting for a warehouse (not the
    /// statement history).
    pub fn advance(&mut self, now: Instant, settings: &Settings) {
        self.expire(now, settings);
        if !self.changed.is_empty() {
            for id in std::mem::take(&mut self.changed) {
                self.plan(&id, settings);
            }
        }
        for (_, id) in self.due.due(now) {
            let Some(w) = self.by_id.get_mut(&id) else { continue };
            if let Some((at, to)) = w.next.filter(|(at, _)| *at <= now) {
                w.state = to;
                w.next = None;
                w.transition_check = None;
                w.last_activity = at;
            }
            if w.idle_check.is_some_and(|at| at <= now) {
                w.idle_check = None;
                let idle = auto_stop(w, settings);
                if w.state == "RUNNING" && idle.is_some_and(|idle| now.duration_since(w.last_activity) >= idle) {
                    w.state = "STOPPING";
                    w.next = Some((now + settings.transition_delay(), "STOPPED"));
                }
            }
            self.plan(&id, settings);
        }
        if self.pending.is_empty() {
            return;
        }
        let mut waiting = BTreeSet::new();
        for id in std::mem::take(&mut self.pending) {
            let Some(st) = self.statements.get_mut(&id).filter(|st| st.state == "PENDING") else { continue };
            if self.by_id.get(&st.warehouse_id).is_some_and(|w| w.state == "RUNNING") {
                let outcome = evaluate(&st.sql, &st.parameters);
                let state = if outcome.is_ok() { "SUCCEEDED" } else { "FAILED" };
                st.outcome = Some(outcome);
                self.finish(&id, state, now);
            } else {
                waiting.insert(id);
            }
        }
        self.pending = waiting;
    }

    /// Store the deadlines warehouse `id` has now: its transition's end,
    /// and (running, with auto-stop) when its idle time would run out.
    fn plan(&mut self, id: &str, settings: &Settings) {
        let Some(w) = self.by_id.get_mut(id) else { return };
        if let Some((at, _)) = w.next.filter(|(at, _)| w.transition_check != Some(*at)) {
            w.transition_check = Some(at);
            self.due.schedule(at, id.to_string());
        }
        if w.state == "RUNNING" && w.idle_check.is_none() {
            if let Some(idle) = auto_stop(w, settings) {
                // Used meanwhile, it is looked at again then.
                let at = w.last_activity + idle;
                w.idle_check = Some(at);
                self.due.schedule(at, id.to_string());
            }
        }
    }

    pub fn exists(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn running_count(&self) -> usize {
        self.by_id.values().filter(|w| w.state == "RUNNING").count()
    }

    /// A warehouse to change; its deadlines are planned again afterwards.
    fn get_mut(&mut self, id: &str) -> ApiResult<&mut Warehouse> {
        let w = self.by_id.get_mut(id).ok_or_else(|| ApiError::not_found(format!("Warehouse {id} does not exist.")))?;
        self.changed.insert(id.to_string());
        Ok(w)
    }

    /// Start a stopped warehouse (no-op when starting or running).
    fn start(&mut self, id: &str, delay: Duration) -> ApiResult<()> {
        let w = self.get_mut(id)?;
        if matches!(w.state, "STOPPED" | "STOPPING") {
            w.state = "STARTING";
            w.next = Some((Instant::now() + delay, "RUNNING"));
        }
        w.last_activity = Instant::now();
        Ok(())
    }
}

/// How long the warehouse may stand idle before it stops (`None`: never).
fn auto_stop(w: &Warehouse, settings: &Settings) -> Option<Duration> {
    let minutes = w.spec.get("auto_stop_mins").and_then(Value::as_i64).unwrap_or(120);
    (minutes > 0).then(|| settings.minute().saturating_mul(u32::try_from(minutes).unwrap_or(u32::MAX)))
}

impl Warehouse {
    fn render(&self) -> Value {
        let mut out = self.spec.clone();
        let id = &self.id;
        let extra = json!({
            "id": id, "state": self.state, "creator_name": self.creator,
            "num_clusters": if self.state == "RUNNING" { 1 } else { 0 }, "num_active_sessions": 0,
            "jdbc_url": format!("jdbc:spark://localhost:443/default;transportMode=http;ssl=1;AuthMech=3;httpPath=/sql/1.0/warehouses/{id};"),
            "odbc_params": {"hostname": "localhost", "path": format!("/sql/1.0/warehouses/{id}"), "protocol": "https", "port": 443},
            "health": {"status": "HEALTHY"},
        });
        if let Value::Object(extra) = extra {
            out.extend(extra);
        }
        Value::Object(out)
    }
}

fn validate(spec: &Map<String, Value>) -> ApiResult<()> {
    let name = spec.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() || name.len() >= 100 {
        return Err(ApiError::invalid("Warehouse name is required and must be shorter than 100 characters."));
    }
    let size = spec.get("cluster_size").and_then(Value::as_str).unwrap_or_default();
    if !SIZES.contains(&size) {
        return Err(ApiError::invalid(format!(
            "Invalid cluster_size: {size:?}. Expected one of {}.",
            SIZES.join(", ")
        )));
    }
    let auto_stop = spec.get("auto_stop_mins").and_then(Value::as_i64).unwrap_or(120);
    if auto_stop != 0 && auto_stop < 10 {
        return Err(ApiError::invalid("auto_stop_mins must be 0 or at least 10."));
    }
    let min = spec.get("min_num_clusters").and_then(Value::as_i64).unwrap_or(1);
    let max = spec.get("max_num_clusters").and_then(Value::as_i64).unwrap_or(1);
    if min < 1 || max < min || max > 40 {
        return Err(ApiError::invalid(format!(
            "Invalid cluster counts: min_num_clusters {min}, max_num_clusters {max}."
        )));
    }
    Ok(())
}

/// The fields of a warehouse, as the API takes them.
const FIELDS: &[&str] = &[
    "auto_stop_mins",
    "channel",
    "cluster_size",
    "creator_name",
    "enable_photon",
    "enable_serverless_compute",
    "instance_profile_arn",
    "max_num_clusters",
    "min_num_clusters",
    "name",
    "spot_instance_policy",
    "tags",
    "warehouse_type",
];

fn with_defaults(mut spec: Map<String, Value>) -> Map<String, Value> {
    // A misspelt field is dropped, as the service drops it, not echoed back.
    spec.retain(|k, v| !v.is_null() && FIELDS.contains(&k.as_str()));
    for (k, v) in [
        ("auto_stop_mins", json!(120)),
        ("min_num_clusters", json!(1)),
        ("max_num_clusters", json!(1)),
        ("enable_photon", json!(true)),
        ("warehouse_type", json!("PRO")),
        ("spot_instance_policy", json!("COST_OPTIMIZED")),
    ] {
        spec.entry(k).or_insert(v);
    }
    spec
}

/// The SQL warehouses and statements service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "warehouses"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }

    fn advance(&self, world: &mut crate::state::World, now: Instant) {
        world.warehouses.advance(now, &world.settings);
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/sql/warehouses", post(create).get(list))
        .route("/api/2.0/sql/warehouses/{id}", get(get_warehouse).delete(delete))
        .route("/api/2.0/sql/warehouses/{id}/edit", post(edit))
        .route("/api/2.0/sql/warehouses/{id}/start", post(start))
        .route("/api/2.0/sql/warehouses/{id}/stop", post(stop))
        .route("/api/2.0/sql/statements", post(execute))
        .route("/api/2.0/sql/statements/", post(execute))
        .route("/api/2.0/sql/statements/{id}", get(get_statement))
        .route("/api/2.0/sql/statements/{id}/cancel", post(cancel))
        .route("/api/2.0/sql/statements/{id}/result/chunks/{chunk}", get(get_chunk))
        .route("/__storage/results/{id}", get(download_result))
        // The legacy name of the same warehouses (the 2.0 SQL endpoints API).
        .route("/api/2.0/sql/endpoints", post(create).get(list_endpoints))
        .route("/api/2.0/sql/endpoints/{id}", get(get_warehouse).delete(delete))
        .route("/api/2.0/sql/endpoints/{id}/edit", post(edit))
        .route("/api/2.0/sql/endpoints/{id}/start", post(start))
        .route("/api/2.0/sql/endpoints/{id}/stop", post(stop))
}

/// The legacy listing: the same warehouses under `endpoints`.
async fn list_endpoints(s: State<AppState>, caller: Extension<Caller>, params: Params) -> ApiResult<Json<Value>> {
    let Json(mut listed) = list(s, caller, params).await?;
    if let Some(items) = listed.as_object_mut().and_then(|o| o.remove("warehouses")) {
        listed["endpoints"] = items;
    }
    Ok(Json(listed))
}

async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult {
    let spec = with_defaults(body);
    validate(&spec)?;
    let delay = s.settings.transition_delay();
    s.with(|w| {
        let name = spec.get("name").cloned();
        if w.warehouses.by_id.values().any(|x| x.spec.get("name") == name.as_ref()) {
            return Err(ApiError::already_exists(format!(
                "A warehouse named {} already exists.",
                name.unwrap_or_default()
            )));
        }
        let held = w.budget.hold_json(&spec).map_err(StorageFull::api_error)?;
        let id = ids::hex16();
        let now = Instant::now();
        let warehouse = Warehouse {
            id: id.clone(),
            held,
            spec,
            state: "STARTING",
            next: Some((now + delay, "RUNNING")),
            creator: caller.user_name.clone(),
            last_activity: now,
            transition_check: None,
            idle_check: None,
        };
        w.warehouses.by_id.insert(id.clone(), warehouse);
        w.warehouses.changed.insert(id.clone());
        permissions::created(w, &permissions::WAREHOUSES, &id, &caller);
        Ok(Json(json!({"id": id})))
    })
}

/// `Ok` when `caller` holds `level` on the warehouse (an unknown one is
/// left to the call's own not-found answer).
fn may(w: &World, id: &str, caller: &Caller, level: &str) -> ApiResult<()> {
    if !w.warehouses.exists(id) {
        return Ok(());
    }
    permissions::require(w, &permissions::WAREHOUSES, id, caller, level, || {
        ApiError::permission_denied(format!(
            "User {} does not have {level} permission on warehouse {id}.",
            caller.user_name
        ))
    })
}

async fn get_warehouse(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    s.with(|w| {
        may(w, &id, &caller, "CAN_VIEW")?;
        Ok(Json(w.warehouses.get_mut(&id)?.render()))
    })
}

async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let size = params.int("page_size")?.unwrap_or(100).clamp(1, 1000) as usize;
    let after = resume_after(&params, "warehouses")?;
    s.with(|w| {
        // From the cursor on, in id order; a non-admin walks only the
        // warehouses granted to them or their groups.
        let start = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let ids: Box<dyn Iterator<Item = &str>> = if caller.admin {
            Box::new(w.warehouses.by_id.range::<str, _>((start, Bound::Unbounded)).map(|(id, _)| id.as_str()))
        } else {
            Box::new(permissions::named_for(w, &permissions::WAREHOUSES, &caller, after.as_deref()))
        };
        let mut visible = ids
            .filter_map(|id| w.warehouses.by_id.get(id))
            .filter(|wh| caller.admin || may(w, &wh.id, &caller, "CAN_VIEW").is_ok());
        let page: Vec<&Warehouse> = visible.by_ref().take(size).collect();
        let next = match (page.last(), visible.next()) {
            (Some(last), Some(_)) => Some(cursor_token("warehouses", &last.id)),
            _ => None,
        };
        let items = page.into_iter().map(Warehouse::render).collect();
        Ok(Json(page_body(json!({}), "warehouses", items, next)))
    })
}

async fn edit(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult {
    let delay = s.settings.transition_delay();
    s.with(|w| {
        may(w, &id, &caller, "CAN_MANAGE")?;
        let wh = w.warehouses.get_mut(&id)?;
        let mut spec = wh.spec.clone();
        spec.extend(body.into_iter().filter(|(k, v)| FIELDS.contains(&k.as_str()) && !v.is_null()));
        validate(&spec)?;
        wh.held.resize_json(&spec).map_err(StorageFull::api_error)?;
        wh.spec = spec;
        if wh.state == "RUNNING" {
            wh.state = "STARTING";
            wh.next = Some((Instant::now() + delay, "RUNNING"));
        }
        Ok(())
    })?;
    empty()
}

async fn start(State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> ApiResult {
    let delay = s.settings.transition_delay();
    s.with(|w| {
        may(w, &id, &caller, "CAN_USE")?;
        w.warehouses.start(&id, delay)
    })?;
    empty()
}

async fn stop(State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> ApiResult {
    let delay = s.settings.transition_delay();
    s.with(|w| {
        may(w, &id, &caller, "CAN_MANAGE")?;
        let wh = w.warehouses.get_mut(&id)?;
        if matches!(wh.state, "RUNNING" | "STARTING") {
            wh.state = "STOPPING";
            wh.next = Some((Instant::now() + delay, "STOPPED"));
        }
        w.warehouses.cancel_waiting_on(&id, Instant::now());
        Ok(())
    })?;
    empty()
}

async fn delete(State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> ApiResult {
    s.with(|w| {
        may(w, &id, &caller, "CAN_MANAGE")?;
        w.emit(super::Event::ObjectGone { object_id: format!("/sql/warehouses/{id}") });
        w.warehouses.cancel_waiting_on(&id, Instant::now());
        w.warehouses
            .by_id
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(format!("Warehouse {id} does not exist.")))
    })?;
    empty()
}

/// `"0s"` or `"5s"`..`"50s"`.
fn wait_timeout(raw: Option<&str>) -> ApiResult<Duration> {
    let raw = raw.unwrap_or("10s");
    let secs: u64 = raw
        .strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ApiError::invalid(format!("Invalid wait_timeout: {raw}")))?;
    if secs != 0 && !(5..=50).contains(&secs) {
        return Err(ApiError::invalid("wait_timeout must be 0s or between 5s and 50s."));
    }
    Ok(Duration::from_secs(secs))
}

async fn execute(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let sql = required_str(&body, "statement")?.to_string();
    let warehouse_id = required_str(&body, "warehouse_id")?.to_string();
    let timeout = wait_timeout(str_field(&body, "wait_timeout")?)?;
    let cancel_on_timeout = str_field(&body, "on_wait_timeout")? == Some("CANCEL");
    let parameters = body.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(limit) = int_field(&body, "row_limit")? {
        if limit < 0 {
            return Err(ApiError::invalid("row_limit must not be negative"));
        }
    }
    let (external, format) = result_shape(str_field(&body, "disposition")?, str_field(&body, "format")?)?;
    let delay = s.settings.transition_delay();
    let id = ids::uuid();
    let base = base_url(&headers);
    let bytes = STATEMENT_OVERHEAD + sql.len() as u64 + json_len(&parameters);
    let held = s.budget.hold_exactly(bytes).map_err(StorageFull::api_error)?;
    let st = Statement {
        _held: Arc::new(held),
        id: id.clone(),
        warehouse_id: warehouse_id.clone(),
        submitter: caller.user_name.clone(),
        sql,
        parameters,
        state: "PENDING",
        outcome: None,
        external,
        format,
    };
    let accepted = s.with(|w| {
        may(w, &warehouse_id, &caller, "CAN_USE")?;
        w.warehouses.start(&warehouse_id, delay)?;
        w.warehouses.add_statement(st);
        // Asked not to wait: answered at once, still pending.
        let pending = w.warehouses.statements.get(&id).map(|st| render_statement(w, st, &base));
        Ok::<_, ApiError>(pending.filter(|_| timeout.is_zero()))
    })?;
    if let Some(pending) = accepted {
        return Ok(Json(pending));
    }
    // Wait (outside the lock) for the warehouse, up to the statement's wait_timeout.
    let deadline = Instant::now() + timeout;
    loop {
        let done = s.with(|w| w.warehouses.statements.get(&id).is_some_and(|st| st.state != "PENDING"));
        if done || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.with(|w| {
        if cancel_on_timeout {
            w.warehouses.finish(&id, "CANCELED", Instant::now());
        }
        let st = w.warehouses.statements.get(&id).ok_or_else(|| ApiError::not_found("statement vanished"))?;
        Ok(Json(render_statement(w, st, &base)))
    })
}

/// The disposition and format asked for, as the service takes them:
/// `INLINE` only with `JSON_ARRAY`; `EXTERNAL_LINKS` with `JSON_ARRAY` or
/// `CSV` (the emulator writes no Arrow streams).
fn result_shape(disposition: Option<&str>, format: Option<&str>) -> ApiResult<(bool, &'static str)> {
    let external = match disposition.unwrap_or("INLINE") {
        "INLINE" => false,
        "EXTERNAL_LINKS" => true,
        other => return Err(ApiError::invalid(format!("Invalid disposition: {other}."))),
    };
    let format = match format.unwrap_or("JSON_ARRAY") {
        "JSON_ARRAY" => "JSON_ARRAY",
        "CSV" if external => "CSV",
        "ARROW_STREAM" if external => {
            return Err(ApiError::new(501, "NOT_IMPLEMENTED", "The emulator does not produce ARROW_STREAM results."))
        }
        "CSV" | "ARROW_STREAM" => {
            return Err(ApiError::invalid("The INLINE disposition only supports the JSON_ARRAY format."))
        }
        other => return Err(ApiError::invalid(format!("Invalid format: {other}."))),
    };
    Ok((external, format))
}

fn render_statement(w: &World, st: &Statement, base: &str) -> Value {
    let mut out = json!({"statement_id": st.id, "status": {"state": st.state}});
    match &st.outcome {
        Some(Ok(table)) => {
            let columns: Vec<Value> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (name, ty))| json!({"name": name, "position": i, "type_name": ty, "type_text": ty}))
                .collect();
            out["manifest"] = json!({
                "format": st.format, "schema": {"column_count": columns.len(), "columns": columns},
                "total_chunk_count": 1, "chunks": [{"chunk_index": 0, "row_offset": 0, "row_count": 1}],
                "total_row_count": 1, "truncated": false,
            });
            out["result"] = chunk(w, st, table, base);
        }
        Some(Err(message)) => {
            out["status"]["error"] = json!({"error_code": "BAD_REQUEST", "message": message});
            out["status"]["sql_state"] = json!("42601");
        }
        None => {}
    }
    out
}

/// The one chunk of a result: the rows inline, or a presigned link to them.
fn chunk(w: &World, st: &Statement, table: &Table, base: &str) -> Value {
    let mut out = json!({"chunk_index": 0, "row_offset": 0, "row_count": 1});
    if st.external {
        let expires = time::OffsetDateTime::now_utc().unix_timestamp() + RESULT_LINK_LIFE;
        let url = w.uploads.presign(base, "GET", &format!("/__storage/results/{}", st.id), "", expires);
        let expiration = time::OffsetDateTime::from_unix_timestamp(expires)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
        let link = json!({"chunk_index": 0, "row_offset": 0, "row_count": 1, "byte_count": rows(st, table).len(), "external_link": url, "expiration": expiration});
        out["external_links"] = json!([link]);
    } else {
        out["data_array"] = json!([table.row]);
    }
    out
}

/// How long a result link lasts (the service's is 15 minutes).
const RESULT_LINK_LIFE: i64 = 15 * 60;

/// A result's rows as the bytes its link serves.
fn rows(st: &Statement, table: &Table) -> String {
    if st.format == "CSV" {
        // RFC 4180: a cell with a comma, quote or line break is quoted, its quotes doubled.
        let cell = |c: &Option<String>| {
            let text = c.clone().unwrap_or_default();
            if text.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text
            }
        };
        let cells: Vec<String> = table.row.iter().map(cell).collect();
        return format!("{}\n", cells.join(","));
    }
    json!([table.row]).to_string()
}

/// The statement `id` as `caller` may see it: their own, or any on a
/// warehouse they may monitor. `manage` (cancel) needs CAN_MANAGE for others'.
fn statement<'a>(w: &'a World, id: &str, caller: &Caller, manage: bool) -> ApiResult<&'a Statement> {
    let st = w
        .warehouses
        .statements
        .get(id)
        .ok_or_else(|| ApiError::new(404, "NOT_FOUND", format!("Statement {id} not found.")))?;
    // CAN_USE runs one's own statements; seeing others' takes CAN_MONITOR.
    let (level, levels): (&str, &[&str]) =
        if manage { ("CAN_MANAGE", &["CAN_MANAGE"]) } else { ("CAN_MONITOR", &["CAN_MONITOR", "CAN_MANAGE"]) };
    let allowed = st.submitter == caller.user_name
        || (w.warehouses.exists(&st.warehouse_id)
            && permissions::holds_one_of(w, &permissions::WAREHOUSES, &st.warehouse_id, caller, levels))
        || caller.admin;
    if !allowed {
        return Err(ApiError::permission_denied(format!(
            "User {} does not have {level} permission on warehouse {} to see statement {id}.",
            caller.user_name, st.warehouse_id
        )));
    }
    Ok(st)
}

async fn get_statement(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let base = base_url(&headers);
    s.with(|w| Ok(Json(render_statement(w, statement(w, &id, &caller, false)?, &base))))
}

async fn get_chunk(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((id, index)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let base = base_url(&headers);
    s.with(|w| {
        let st = statement(w, &id, &caller, false)?;
        match (&st.outcome, index) {
            (Some(Ok(table)), 0) => Ok(Json(chunk(w, st, table, &base))),
            _ => Err(ApiError::invalid(format!("Chunk {index} of statement {id} does not exist."))),
        }
    })
}

/// `GET /__storage/results/{id}`: a result link, as cloud storage serves it
/// (its signature is its credential).
async fn download_result(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let resource = format!("/__storage/results/{id}");
    s.with(|w| {
        if let Err(denied) = w.uploads.verify("GET", &resource, &params) {
            return denied.into_response();
        }
        match w.warehouses.statements.get(&id).and_then(|st| Some((st, st.outcome.as_ref()?.as_ref().ok()?))) {
            Some((st, table)) => rows(st, table).into_response(),
            None => (axum::http::StatusCode::NOT_FOUND, "NoSuchKey").into_response(),
        }
    })
}

async fn cancel(State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> ApiResult {
    s.with(|w| {
        statement(w, &id, &caller, true)?;
        w.warehouses.finish(&id, "CANCELED", Instant::now());
        Ok(())
    })?;
    empty()
}

/// Evaluate `SELECT <literal> [AS name], ...` with `:name` parameters.
fn evaluate(sql: &str, parameters: &[Value]) -> Result<Table, String> {
    let text = sql.trim().trim_end_matches(';').trim();
    let rest = text
        .get(..6)
        .filter(|head| head.eq_ignore_ascii_case("select"))
        .map(|_| text[6..].trim())
        .ok_or_else(|| format!("[UNSUPPORTED] The emulator only runs SELECT of literals, not: {text}"))?;
    if rest.is_empty() {
        return Err("[PARSE_SYNTAX_ERROR] Syntax error at or near end of input.".into());
    }
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for item in split_top_level(rest) {
        let (expr, alias) = split_alias(item.trim());
        let (value, ty) = literal(expr, parameters)?;
        columns.push((alias.unwrap_or(expr).to_string(), ty));
        row.push(value);
    }
    Ok(Table { columns, row })
}

/// Split on commas outside quotes.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn split_alias(item: &str) -> (&str, Option<&str>) {
    let lower = item.to_ascii_lowercase();
    match lower.rfind(" as ") {
        Some(i) if !item[i + 4..].contains('\'') => (item[..i].trim(), Some(item[i + 4..].trim().trim_matches('`'))),
        _ => (item, None),
    }
}

fn literal(expr: &str, parameters: &[Value]) -> Result<(Option<String>, &'static str), String> {
    if let Some(name) = expr.strip_prefix(':') {
        let p = parameters
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| format!("[UNBOUND_SQL_PARAMETER] Found the unbound parameter: {name}."))?;
        let value = p.get("value").and_then(Value::as_str).map(str::to_string);
        let ty = match p.get("type").and_then(Value::as_str).unwrap_or("STRING").to_ascii_uppercase().as_str() {
            "INT" | "INTEGER" => "INT",
            "BIGINT" | "LONG" => "LONG",
            "DOUBLE" | "FLOAT" => "DOUBLE",
            "BOOLEAN" => "BOOLEAN",
            "DATE" => "DATE",
            _ => "STRING",
        };
        return Ok((value, ty));
    }
    if expr.eq_ignore_ascii_case("null") {
        return Ok((None, "NULL"));
    }
    if expr.eq_ignore_ascii_case("true") || expr.eq_ignore_ascii_case("false") {
        return Ok((Some(expr.to_ascii_lowercase()), "BOOLEAN"));
    }
    if let Some(inner) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
        return Ok((Some(inner.replace("''", "'")), "STRING"));
    }
    if let Ok(n) = expr.parse::<i64>() {
        let ty = if i32::try_from(n).is_ok() { "INT" } else { "LONG" };
        return Ok((Some(n.to_string()), ty));
    }
    if expr.parse::<f64>().is_ok() {
        return Ok((Some(expr.to_string()), "DECIMAL"));
    }
    Err(format!("[UNRESOLVED_COLUMN] A column or function parameter with name `{expr}` cannot be resolved."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_selects() {
        let t = evaluate("SELECT 1", &[]).expect("select 1");
        assert_eq!(t.columns, vec![("1".to_string(), "INT")]);
        assert_eq!(t.row, vec![Some("1".to_string())]);
        let params = vec![json!({"name": "who", "value": "x"})];
        let t = evaluate("select 'a, b' AS s, 2.5 as d, NULL, true, :who AS p;", &params).expect("literals");
        let names: Vec<&str> = t.columns.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, vec!["s", "d", "NULL", "true", "p"]);
        assert_eq!(t.row, vec![Some("a, b".into()), Some("2.5".into()), None, Some("true".into()), Some("x".into())]);
        assert!(evaluate("SELECT * FROM t", &[]).is_err());
        assert!(evaluate("DROP TABLE t", &[]).is_err());
        assert!(evaluate("SELECT :missing", &[]).is_err());
    }
}

//! Jobs API 2.1 and 2.2: job definitions, validation and CRUD. Runs live in
//! [`runs`].

mod runs;
mod validate;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};

use runs::Run;

use crate::api::{
    cursor_token, int_field, page_body, page_start, page_token, required_int, resume_after_id, ApiError, ApiResult,
    Body, Params,
};
use crate::services::{permissions, Event};
use crate::state::{now_ms, AppState, Caller, World};
use crate::storage::{Held, StorageFull};

/// Arrays of `jobs/get` and `runs/get` are cut at this many items in 2.2.
pub const ARRAY_PAGE: usize = 100;

#[derive(Debug)]
pub struct Job {
    pub job_id: i64,
    pub settings: Map<String, Value>,
    pub creator: String,
    pub created_time: i64,
    /// The settings' count against the storage budget.
    held: Held,
}

/// Jobs and their runs, with the indexes that keep each call's cost to
/// the work it names: active runs (what time advances), runs by job, and
/// finished runs in the order they finished (what retention drops).
#[derive(Debug, Default)]
pub struct Jobs {
    pub jobs: BTreeMap<i64, Job>,
    runs: BTreeMap<i64, Run>,
    active: BTreeSet<i64>,
    by_job: HashMap<i64, BTreeSet<i64>>,
    /// Runs by the user who started them: with `by_job`, what a user's
    /// `runs/list` walks instead of every run.
    by_creator: HashMap<String, BTreeSet<i64>>,
    /// Per job, its runs holding a concurrency slot (started, not finished):
    /// what a queued run waits on, counted as runs change, not scanned.
    started: HashMap<i64, i64>,
    /// When each run finished, with its `end_time` then (a repaired run
    /// finishes again, and only its last finish counts).
    finished: VecDeque<(Instant, i64, i64)>,
    /// Task run id -> parent run id.
    pub task_runs: HashMap<i64, i64>,
    /// Idempotency token -> run id.
    pub idempotency: HashMap<String, i64>,
    /// Lowercased job name -> the jobs of that name: `jobs/list?name=`
    /// without a scan.
    by_name: HashMap<String, BTreeSet<i64>>,
}

/// The lowercased name in a job's settings (names match without regard to case).
fn name_key(settings: &Map<String, Value>) -> Option<String> {
    settings.get("name").and_then(Value::as_str).map(str::to_lowercase)
}

impl Jobs {
    /// Store `job`, indexed by name.
    fn insert_job(&mut self, job: Job) {
        if let Some(name) = name_key(&job.settings) {
            crate::index::file(&mut self.by_name, name, job.job_id);
        }
        self.jobs.insert(job.job_id, job);
    }

    fn remove_job(&mut self, id: i64) -> Option<Job> {
        let job = self.jobs.remove(&id)?;
        if let Some(name) = name_key(&job.settings) {
            crate::index::unfile(&mut self.by_name, &name, &id);
        }
        Some(job)
    }

    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    pub fn active_run_count(&self) -> usize {
        self.active.len()
    }

    /// Runs kept (finished ones until retention drops them).
    pub fn run_count(&self) -> usize {
        self.runs.len()
    }

    pub fn run(&self, id: i64) -> Option<&Run> {
        self.runs.get(&id)
    }

    /// A run to change; one made active again (a repair) is indexed as such.
    pub fn run_mut(&mut self, id: i64) -> Option<&mut Run> {
        self.runs.get_mut(&id)
    }

    /// The runs of `job` holding a concurrency slot.
    pub fn started_runs_of(&self, job: i64) -> i64 {
        self.started.get(&job).copied().unwrap_or(0)
    }

    /// Bring the job's count of started runs in line with `run` now.
    fn recount(started: &mut HashMap<i64, i64>, run: &mut Run) {
        let holds = run.holds_a_slot();
        let Some(job) = run.job_id.filter(|_| holds != run.counted) else { return };
        let count = started.entry(job).or_default();
        *count += if holds { 1 } else { -1 };
        if *count <= 0 {
            started.remove(&job);
        }
        run.counted = holds;
    }

    /// Add a new run (active, or already finished if it was skipped).
    pub fn insert_run(&mut self, mut run: Run) {
        Self::recount(&mut self.started, &mut run);
        let id = run.run_id;
        if let Some(job) = run.job_id {
            crate::index::file(&mut self.by_job, job, id);
        }
        crate::index::file(&mut self.by_creator, run.creator.clone(), id);
        if run.is_active() {
            self.active.insert(id);
        } else {
            self.finished.push_back((Instant::now(), id, run.end_time));
        }
        self.runs.insert(id, run);
    }

    /// Index `id` as active again (after a repair).
    pub fn reactivate(&mut self, id: i64) {
        if let Some(run) = self.runs.get_mut(&id) {
            Self::recount(&mut self.started, run);
            if run.is_active() {
                self.active.insert(id);
            }
        }
    }

    /// Active run ids, oldest first.
    pub fn active_ids(&self) -> Vec<i64> {
        self.active.iter().copied().collect()
    }

    /// Take an active run out to advance it against the rest of the world.
    fn take_active(&mut self, id: i64) -> Option<Run> {
        self.runs.remove(&id)
    }

    /// Put a run taken out back, indexed by whether it is still active.
    fn put_back(&mut self, mut run: Run, now: Instant) {
        Self::recount(&mut self.started, &mut run);
        let id = run.run_id;
        if !run.is_active() && self.active.remove(&id) {
            self.finished.push_back((now, id, run.end_time));
        }
        self.runs.insert(id, run);
    }

    /// Remove a run, its task runs and its index entries.
    pub fn remove_run(&mut self, id: i64) -> Option<Run> {
        let mut run = self.runs.remove(&id)?;
        // Gone: it holds no slot, whatever its state.
        if let Some(job) = run.job_id.filter(|_| run.counted) {
            if let Some(count) = self.started.get_mut(&job) {
                *count -= 1;
                if *count <= 0 {
                    self.started.remove(&job);
                }
            }
            run.counted = false;
        }
        self.active.remove(&id);
        if let Some(job) = run.job_id {
            crate::index::unfile(&mut self.by_job, &job, &id);
        }
        crate::index::unfile(&mut self.by_creator, &run.creator, &id);
        for task in &run.tasks {
            self.task_runs.remove(&task.run_id);
        }
        Some(run)
    }

    /// Drop the runs that finished longer than `retention` ago, as
    /// Databricks drops run history: the oldest first, looking at no other.
    /// Returns the one-time runs dropped (their access lists go with them).
    fn drop_expired_runs(&mut self, now: Instant, retention: Duration) -> Vec<i64> {
        let mut one_time = Vec::new();
        while let Some(&(at, id, end_time)) = self.finished.front() {
            if now.duration_since(at) < retention {
                break;
            }
            self.finished.pop_front();
            // A run repaired since finished again later: that finish counts.
            let expired = self.runs.get(&id).is_some_and(|r| !r.is_active() && r.end_time == end_time);
            if expired && self.remove_run(id).is_some_and(|run| run.job_id.is_none()) {
                one_time.push(id);
            }
        }
        // Tokens of runs gone stay, so a retried submit learns its run was deleted; bounded by the runs kept.
        if self.idempotency.len() > 2 * self.runs.len() + 1024 {
            let runs = &self.runs;
            self.idempotency.retain(|_, id| runs.contains_key(id));
        }
        one_time
    }

    /// Run ids newest first, of `job` (or all, or only active ones), below `before`.
    /// Lazily: a page reads only as far as it needs.
    fn run_ids_before(&self, job: Option<i64>, active_only: bool, before: i64) -> impl Iterator<Item = i64> + '_ {
        let ids: Box<dyn Iterator<Item = &i64>> = match (job, active_only) {
            // A job's active runs: from the active ones (current work), not its history.
            (Some(job), true) => Box::new(
                self.active
                    .range(..before)
                    .rev()
                    .filter(move |id| self.runs.get(id).is_some_and(|r| r.job_id == Some(job))),
            ),
            (Some(job), false) => match self.by_job.get(&job) {
                Some(ids) => Box::new(ids.range(..before).rev()),
                None => Box::new(std::iter::empty()),
            },
            (None, true) => Box::new(self.active.range(..before).rev()),
            (None, false) => Box::new(self.runs.range(..before).rev().map(|(id, _)| id)),
        };
        ids.copied()
    }

    /// Run ids newest first below `before` that the non-admin `caller` may
    /// see: the runs of the jobs granted to them or their groups, the runs
    /// they started, and the one-time runs whose lists name them, merged as
    /// read. A page costs the caller's grants and the page, not the history.
    fn runs_visible_to<'a>(w: &'a World, caller: &Caller, before: i64) -> impl Iterator<Item = i64> + 'a {
        use std::cmp::Reverse;
        type Source<'a> = Box<dyn Iterator<Item = Reverse<i64>> + 'a>;
        let newest_first =
            |ids: &'a BTreeSet<i64>| -> Source<'a> { Box::new(ids.range(..before).rev().map(|id| Reverse(*id))) };
        let mut sources: Vec<Source<'a>> = permissions::named_for(w, &permissions::JOBS, caller, None)
            .filter_map(|job| w.jobs.by_job.get(&job.parse::<i64>().ok()?))
            .map(newest_first)
            .collect();
        sources.extend(w.jobs.by_creator.get(&caller.user_name).map(newest_first));
        // One-time runs shared with the caller, read from the cursor down: run
        // ids are numbers of one length (`state::ID_RANGE`), so their text
        // order is their number order.
        let below = (before != i64::MAX).then(|| before.to_string());
        let shared = permissions::named_for_before(w, &permissions::SUBMITTED_RUNS, caller, below.as_deref());
        sources.push(Box::new(shared.filter_map(|id| id.parse().ok()).map(Reverse)));
        crate::index::union(sources).map(|Reverse(id)| id)
    }

    fn job(&self, id: i64) -> ApiResult<&Job> {
        self.jobs.get(&id).ok_or_else(|| job_does_not_exist(id))
    }
}

/// `Ok` when `caller` holds `level` on job `id` (an unknown job is left
/// to the call's own not-found answer), else the answer Databricks gives.
pub fn may(w: &World, id: i64, caller: &Caller, level: &str) -> ApiResult<()> {
    if !w.jobs.jobs.contains_key(&id) {
        return Ok(());
    }
    permissions::require(w, &permissions::JOBS, &id.to_string(), caller, level, || {
        let holds = match level {
            "CAN_VIEW" => "View or Admin or Manage Run or Owner",
            "CAN_MANAGE_RUN" => "Manage Run or Admin or Owner",
            _ => "Admin or Owner",
        };
        ApiError::permission_denied(format!("User {} does not have {holds} permissions on job {id}", caller.user_name))
    })
}

/// A run is seen and acted on through its job's permissions; a one-time
/// run (no job) by whoever submitted it, and admins.
pub fn may_run(w: &World, run_id: i64, caller: &Caller, level: &str) -> ApiResult<()> {
    let parent = w.jobs.task_runs.get(&run_id).copied().unwrap_or(run_id);
    let Some(run) = w.jobs.run(parent) else { return Ok(()) };
    match run.job_id {
        Some(job) if w.jobs.jobs.contains_key(&job) => may(w, job, caller, level),
        // A one-time run: its submitter's and whoever its list names. The
        // run of a job since deleted: its submitter's.
        _ if caller.admin || run.creator == caller.user_name => Ok(()),
        None if permissions::run_allows(w, parent, caller, level) => Ok(()),
        _ => Err(ApiError::permission_denied(format!(
            "User {} does not have permission to see run {run_id}",
            caller.user_name
        ))),
    }
}

pub fn job_does_not_exist(id: i64) -> ApiError {
    ApiError::invalid(format!("Job {id} does not exist."))
}

/// `2.2` or `2.1` from the request path.
fn version(uri: &Uri) -> &'static str {
    if uri.path().starts_with("/api/2.2/") {
        "2.2"
    } else {
        "2.1"
    }
}

/// The Jobs service of the workspace.
pub struct Api;

impl crate::services::Service for Api {
    fn name(&self) -> &'static str {
        "jobs"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }

    fn advance(&self, world: &mut World, now: Instant) {
        runs::advance_active(world, now);
        let retention = world.settings.minute().saturating_mul(world.settings.run_retention_minutes);
        for run_id in world.jobs.drop_expired_runs(now, retention) {
            world.emit(Event::ObjectGone { object_id: format!("/runs/{run_id}") });
        }
    }
}

fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for v in ["2.1", "2.2"] {
        let p = format!("/api/{v}/jobs");
        router = router
            .route(&format!("{p}/create"), post(create))
            .route(&format!("{p}/get"), get(get_job))
            .route(&format!("{p}/list"), get(list))
            .route(&format!("{p}/update"), post(update))
            .route(&format!("{p}/reset"), post(reset))
            .route(&format!("{p}/delete"), post(delete))
            .merge(runs::routes(&p));
    }
    router
}

fn as_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Only the fields the API has, at every depth: a misspelt one is dropped,
/// as the service drops it, not stored and echoed back.
fn known_fields(settings: &mut Map<String, Value>) {
    crate::shapes::prune(settings, crate::shapes::JOB_SETTINGS);
}

/// A one-time run's task, pruned the same way.
fn known_task_fields(task: &mut Map<String, Value>) {
    crate::shapes::prune(task, crate::shapes::SUBMIT_TASK);
}

/// Defaults the service fills in and echoes back.
fn with_defaults(mut settings: Map<String, Value>, version: &str) -> Map<String, Value> {
    known_fields(&mut settings);
    let defaults = [
        ("max_concurrent_runs", json!(1)),
        ("timeout_seconds", json!(0)),
        ("format", json!("MULTI_TASK")),
        ("email_notifications", json!({})),
        ("webhook_notifications", json!({})),
        ("name", json!("Untitled")),
        ("queue", json!({"enabled": version == "2.2"})),
    ];
    for (k, v) in defaults {
        settings.entry(k).or_insert(v);
    }
    if let Some(Value::Array(tasks)) = settings.get_mut("tasks") {
        tasks.iter_mut().filter_map(Value::as_object_mut).for_each(task_defaults);
    }
    settings
}

/// Task defaults the service echoes; `depends_on` comes back sorted by key.
fn task_defaults(task: &mut Map<String, Value>) {
    task.entry("run_if").or_insert(json!("ALL_SUCCESS"));
    task.entry("timeout_seconds").or_insert(json!(0));
    task.entry("email_notifications").or_insert(json!({}));
    if let Some(Value::Array(deps)) = task.get_mut("depends_on") {
        deps.sort_by_key(|d| d.get("task_key").and_then(Value::as_str).unwrap_or_default().to_string());
    }
}

async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    Body(body): Body<Value>,
) -> ApiResult {
    let acl = body.get("access_control_list").cloned();
    let settings = with_defaults(as_object(body), version(&uri));
    let held = s.budget.hold_json(&settings).map_err(StorageFull::api_error)?;
    s.with(|w| {
        validate::job_settings(&settings, &w.clusters)?;
        let acl = permissions::initial_acl(w, &permissions::JOBS, acl.as_ref())?;
        let job_id = w.next_id();
        let creator = caller.user_name.clone();
        w.jobs.insert_job(Job { job_id, settings, creator, created_time: now_ms(), held });
        permissions::created_with(w, &permissions::JOBS, &job_id.to_string(), &caller, acl);
        Ok(Json(json!({"job_id": job_id})))
    })
}

/// Create `count` jobs named `{name_prefix}{i}` owned by `creator` in one
/// step (the admin API's seed, for large listings and benchmarks); returns
/// the first and last job id.
pub fn seed(w: &mut World, count: usize, name_prefix: &str, creator: &str) -> Result<Option<(i64, i64)>, StorageFull> {
    let mut ids = None;
    for i in 0..count {
        let mut settings = Map::new();
        settings.insert("name".into(), json!(format!("{name_prefix}{i}")));
        let settings = with_defaults(settings, "2.2");
        let held = w.budget.hold_json(&settings)?;
        let job_id = w.next_id();
        let creator = creator.to_string();
        w.jobs.insert_job(Job { job_id, settings, creator, created_time: now_ms(), held });
        ids = Some((ids.map_or(job_id, |(first, _)| first), job_id));
    }
    Ok(ids)
}

/// Whom a job's runs act as: its `run_as` setting, else its owner (who
/// may have changed through the Permissions API), else its creator.
pub fn run_as(world: &World, job: &Job) -> String {
    let run_as = job.settings.get("run_as");
    let named = ["user_name", "service_principal_name"]
        .iter()
        .find_map(|field| run_as.and_then(|r| r.get(*field)).and_then(Value::as_str));
    named
        .map(str::to_string)
        .or_else(|| permissions::owner(world, &permissions::JOBS, &job.job_id.to_string()))
        .unwrap_or_else(|| job.creator.clone())
}

/// The job JSON; `settings` arrays are paged in 2.2 from `offset`.
fn render_job(world: &World, job: &Job, version: &str, offset: usize, expand: bool) -> Value {
    let mut settings = job.settings.clone();
    let mut more = false;
    for key in ["tasks", "job_clusters", "environments", "parameters"] {
        let Some(Value::Array(items)) = settings.get(key).cloned() else {
            continue;
        };
        if !expand && matches!(key, "tasks" | "job_clusters") {
            settings.remove(key);
            continue;
        }
        if version == "2.2" {
            let slice: Vec<Value> = items.iter().skip(offset).take(ARRAY_PAGE).cloned().collect();
            more |= items.len() > offset.saturating_add(ARRAY_PAGE);
            settings.insert(key.to_string(), json!(slice));
        }
    }
    let mut out = json!({
        "job_id": job.job_id, "creator_user_name": job.creator, "run_as_user_name": run_as(world, job),
        "created_time": job.created_time, "settings": settings,
    });
    if more {
        out["has_more"] = json!(true);
        out["next_page_token"] = json!(page_token(offset.saturating_add(ARRAY_PAGE)));
    }
    out
}

async fn get_job(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    params: Params,
) -> ApiResult<Json<Value>> {
    let id = params.int("job_id")?.ok_or_else(|| ApiError::missing("job_id"))?;
    let offset = page_start(params.get("page_token"))?;
    s.with(|w| {
        may(w, id, &caller, "CAN_VIEW")?;
        Ok(Json(render_job(w, w.jobs.job(id)?, version(&uri), offset, true)))
    })
}

async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    params: Params,
) -> ApiResult<Json<Value>> {
    let limit = params.int("limit")?.unwrap_or(20);
    if !(0..=100).contains(&limit) {
        return Err(ApiError::invalid(format!("The limit must be between 0 and 100, got {limit}.")));
    }
    let limit = if limit == 0 { 20 } else { limit as usize };
    let expand = params.bool("expand_tasks")?.unwrap_or(false);
    let name = params.get("name").map(str::to_lowercase);
    let after = resume_after_id(&params, "jobs")?;
    let offset = match params.int("offset")? {
        Some(o) if o < 0 => return Err(ApiError::invalid(format!("The offset must not be negative, got {o}."))),
        Some(o) if after.is_none() => usize::try_from(o).unwrap_or(usize::MAX),
        _ => 0,
    };
    let v = version(&uri);
    s.with(|w| {
        // From the cursor on, in id order: each page costs its own length,
        // and jobs created or deleted meanwhile neither repeat nor skip others.
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        // Only the jobs the caller may see are listed: a non-admin's are
        // those whose lists name them or their groups, read from the index.
        // Job ids all have 16 digits (`state::ID_RANGE`, page tokens
        // included), so the index's text order is their numeric order.
        let named = name.as_ref().map(|n| w.jobs.by_name.get(n));
        let ids: Box<dyn Iterator<Item = i64>> = if let Some(named) = named {
            // A name names few jobs: walk those (each still checked below).
            Box::new(named.into_iter().flat_map(|ids| ids.range((start, Bound::Unbounded)).copied()))
        } else if caller.admin {
            Box::new(w.jobs.jobs.range((start, Bound::Unbounded)).map(|(id, _)| *id))
        } else {
            let after = after.map(|id| id.to_string());
            let named = permissions::named_for(w, &permissions::JOBS, &caller, after.as_deref());
            Box::new(named.filter_map(|id| id.parse().ok()))
        };
        let mut matching = ids
            .filter_map(|id| w.jobs.jobs.get(&id))
            .filter(|j| {
                name.as_ref().is_none_or(|n| {
                    j.settings.get("name").and_then(Value::as_str).map(str::to_lowercase).as_ref() == Some(n)
                })
            })
            .filter(|j| caller.admin || may(w, j.job_id, &caller, "CAN_VIEW").is_ok());
        let items: Vec<&Job> = matching.by_ref().skip(offset).take(limit).collect();
        let next = match (items.last(), matching.next()) {
            (Some(last), Some(_)) => Some(cursor_token("jobs", &last.job_id.to_string())),
            _ => None,
        };
        let jobs: Vec<Value> = items.iter().map(|j| render_job(w, j, v, 0, expand)).collect();
        Ok(Json(page_body(json!({"has_more": next.is_some()}), "jobs", jobs, next)))
    })
}

/// Merge `items` into `existing` by `key` (tasks by task_key, clusters by
/// job_cluster_key): one pass through an index, whatever the sizes.
fn merge_by_key(existing: &mut Vec<Value>, items: Vec<Value>, key: &str) {
    let id_of = |item: &Value| item.get(key).map(Value::to_string).unwrap_or_default();
    let mut at: HashMap<String, usize> = existing.iter().enumerate().map(|(i, e)| (id_of(e), i)).collect();
    for item in items {
        match at.get(&id_of(&item)).and_then(|&slot| existing.get_mut(slot)) {
            Some(slot) => *slot = item,
            None => {
                at.insert(id_of(&item), existing.len());
                existing.push(item);
            }
        }
    }
}

async fn update(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    Body(body): Body<Value>,
) -> ApiResult {
    let id = required_int(&body, "job_id")?;
    let new_settings = as_object(body.get("new_settings").cloned().unwrap_or_default());
    let removals: Vec<String> = body
        .get("fields_to_remove")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let v = version(&uri);
    s.with(|w| {
        may(w, id, &caller, "CAN_MANAGE")?;
        let job = w.jobs.job(id)?;
        let mut settings = job.settings.clone();
        for (k, val) in new_settings {
            match (k.as_str(), val) {
                ("tasks", Value::Array(items)) | ("job_clusters", Value::Array(items)) => {
                    let key = if k == "tasks" { "task_key" } else { "job_cluster_key" };
                    let mut current = settings.get(&k).and_then(Value::as_array).cloned().unwrap_or_default();
                    merge_by_key(&mut current, items, key);
                    settings.insert(k, json!(current));
                }
                (_, val) => {
                    settings.insert(k, val);
                }
            }
        }
        // Items removed by key, gathered first: one pass over each array.
        let mut gone: HashMap<&str, HashSet<&str>> = HashMap::new();
        for field in &removals {
            match field.split_once('/') {
                Some((array @ ("tasks" | "job_clusters"), item)) => {
                    gone.entry(array).or_default().insert(item);
                }
                _ => {
                    settings.remove(field);
                }
            }
        }
        for (array, items) in gone {
            let key = if array == "tasks" { "task_key" } else { "job_cluster_key" };
            if let Some(Value::Array(list)) = settings.get_mut(array) {
                list.retain(|i| i.get(key).and_then(Value::as_str).is_none_or(|k| !items.contains(k)));
            }
        }
        let settings = with_defaults(settings, v);
        validate::job_settings(&settings, &w.clusters)?;
        replace_settings(w, id, settings)
    })
}

/// Job `id` takes `settings`, counted against the budget in place of the
/// old ones (a larger update past the budget changes nothing).
fn replace_settings(w: &mut World, id: i64, settings: Map<String, Value>) -> ApiResult {
    // Taken out and put back, so the name index follows a rename.
    let mut job = w.jobs.remove_job(id).ok_or_else(|| job_does_not_exist(id))?;
    let counted = job.held.resize_json(&settings).map_err(StorageFull::api_error);
    if counted.is_ok() {
        job.settings = settings;
    }
    w.jobs.insert_job(job);
    counted.map(|()| Json(json!({})))
}

async fn reset(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    Body(body): Body<Value>,
) -> ApiResult {
    let id = required_int(&body, "job_id")?;
    let new_settings = body.get("new_settings").cloned().ok_or_else(|| ApiError::missing("new_settings"))?;
    let settings = with_defaults(as_object(new_settings), version(&uri));
    s.with(|w| {
        may(w, id, &caller, "CAN_MANAGE")?;
        w.jobs.job(id)?;
        validate::job_settings(&settings, &w.clusters)?;
        replace_settings(w, id, settings)
    })
}

async fn delete(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let id = int_field(&body, "job_id")?.ok_or_else(|| ApiError::missing("job_id"))?;
    s.with(|w| {
        may(w, id, &caller, "CAN_MANAGE")?;
        w.jobs.remove_job(id).ok_or_else(|| job_does_not_exist(id))?;
        w.emit(Event::ObjectGone { object_id: format!("/jobs/{id}") });
        for run_id in w.jobs.active_ids() {
            if let Some(run) = w.jobs.run_mut(run_id).filter(|r| r.job_id == Some(id)) {
                run.cancel();
            }
        }
        Ok(Json(json!({})))
    })
}

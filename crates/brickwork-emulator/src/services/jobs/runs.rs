//! Job runs: creation (run-now, submit, repair), the DAG executor driven by
//! [`tick`], and the `runs/*` endpoints.
//!
//! Tasks start when their dependencies are done and `run_if` allows, on the
//! compute they name: an existing cluster (started if terminated), a shared
//! job cluster or a new cluster (created as `JOB` clusters and terminated at
//! the end). Notebook tasks run the notebook stored in the workspace.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};

use super::{job_does_not_exist, version, Jobs, ARRAY_PAGE};
use crate::api::{
    base_url, bool_field, cursor_token, int_field, page_body, page_start, page_token, required_int, resume_after_id,
    str_field, ApiError, ApiResult, Body, Params,
};
use crate::notebook::{self, Outcome};
use crate::services::clusters::ClusterState;
use crate::services::permissions;
use crate::state::{now_ms, AppState, Caller, World};
use crate::storage::{json_len, Held, StorageFull};

/// Run life-cycle states (the `state.life_cycle_state` the SDK waiters read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    Queued,
    Pending,
    Running,
    Terminating,
    Terminated,
    Skipped,
    InternalError,
}

impl Life {
    fn wire(self) -> &'static str {
        match self {
            Life::Queued => "QUEUED",
            Life::Pending => "PENDING",
            Life::Running => "RUNNING",
            Life::Terminating => "TERMINATING",
            Life::Terminated => "TERMINATED",
            Life::Skipped => "SKIPPED",
            Life::InternalError => "INTERNAL_ERROR",
        }
    }

    /// `status.state` of the newer run status.
    fn status(self) -> &'static str {
        match self {
            Life::Queued => "QUEUED",
            Life::Pending => "PENDING",
            Life::Running => "RUNNING",
            Life::Terminating => "TERMINATING",
            _ => "TERMINATED",
        }
    }
}

#[derive(Debug, Clone)]
enum Phase {
    Waiting,
    Retrying(Instant),
    Compute(String),
    Running(Instant),
    /// A `pipeline_task`: the pipeline and the update it started.
    Pipeline(String, String),
    Done,
}

#[derive(Debug, Clone, Default)]
struct Output {
    result: Option<String>,
    /// The result was longer than [`OUTPUT_KEPT`] and was cut there.
    truncated: bool,
    error: Option<String>,
}

/// The most of a notebook's exit value (or of an error) a task keeps, as
/// `runs/get-output` answers at most the first 5 MB of it.
const OUTPUT_KEPT: usize = 5 * 1024 * 1024;

/// What an error keeps past the storage budget: enough to say what failed.
const ERROR_KEPT_PAST_BUDGET: usize = 1024;

/// `text` cut to at most `OUTPUT_KEPT` bytes on a character boundary, and
/// whether it was cut.
fn kept(mut text: String) -> (String, bool) {
    if text.len() <= OUTPUT_KEPT {
        return (text, false);
    }
    let mut end = OUTPUT_KEPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

/// One attempt of one task.
#[derive(Debug, Clone)]
pub struct TaskRun {
    pub(super) run_id: i64,
    key: String,
    spec: Map<String, Value>,
    attempt: i64,
    phase: Phase,
    life: &'static str,
    result: Option<&'static str>,
    message: String,
    cluster_id: Option<String>,
    owns_cluster: bool,
    start_time: i64,
    pub(super) end_time: i64,
    output: Output,
}

impl TaskRun {
    fn new(run_id: i64, spec: Map<String, Value>, attempt: i64) -> Self {
        let key = spec.get("task_key").and_then(Value::as_str).unwrap_or_default().to_string();
        TaskRun {
            run_id,
            key,
            spec,
            attempt,
            phase: Phase::Waiting,
            life: "PENDING",
            result: None,
            message: String::new(),
            cluster_id: None,
            owns_cluster: false,
            start_time: 0,
            end_time: 0,
            output: Output::default(),
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// The tasks this one depends on: each key, and the condition outcome
    /// it waits for, if any.
    fn dependencies(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        let deps = self.spec.get("depends_on").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        deps.iter().filter_map(|d| Some((d.get("task_key")?.as_str()?, d.get("outcome").and_then(Value::as_str))))
    }

    fn finish(&mut self, life: &'static str, result: &'static str, message: impl Into<String>) {
        self.phase = Phase::Done;
        self.life = life;
        self.result = Some(result);
        self.message = message.into();
        self.end_time = now_ms();
        if self.start_time == 0 {
            self.start_time = self.end_time;
        }
    }

    fn render(&self, base: &str, job_id: Option<i64>, parent: i64) -> Value {
        let mut out = self.spec.clone();
        let mut state = json!({"life_cycle_state": self.life, "state_message": self.message, "user_cancelled_or_timedout": self.result == Some("CANCELED")});
        if let Some(result) = self.result {
            state["result_state"] = json!(result);
        }
        let status = match self.result {
            Some(result) => json!({"state": "TERMINATED", "termination_details": termination(result, &self.message)}),
            None => json!({"state": if self.life == "RUNNING" { "RUNNING" } else { "PENDING" }}),
        };
        let extra = json!({
            "run_id": self.run_id, "task_key": self.key, "attempt_number": self.attempt,
            "state": state, "status": status, "start_time": self.start_time, "end_time": self.end_time,
            "setup_duration": 0, "cleanup_duration": 0,
            "execution_duration": if self.end_time > 0 { self.end_time - self.start_time } else { 0 },
            "run_page_url": page_url(base, job_id, self.run_id),
            "parent_run_id": parent,
        });
        if let Value::Object(extra) = extra {
            out.extend(extra);
        }
        if let Some(cluster_id) = &self.cluster_id {
            out.insert("cluster_instance".into(), json!({"cluster_id": cluster_id, "spark_context_id": "1"}));
        }
        Value::Object(out)
    }
}

/// `termination_details` for a final task or run result.
fn termination(result: &str, message: &str) -> Value {
    let (code, kind) = match result {
        "SUCCESS" => ("SUCCESS", "SUCCESS"),
        "CANCELED" => ("USER_CANCELED", "SUCCESS"),
        "TIMEDOUT" => ("CANCELED", "SUCCESS"),
        "MAXIMUM_CONCURRENT_RUNS_REACHED" => ("MAX_CONCURRENT_RUNS_EXCEEDED", "CLIENT_ERROR"),
        "UPSTREAM_FAILED" | "UPSTREAM_CANCELED" | "EXCLUDED" => ("SKIPPED", "SUCCESS"),
        _ => ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    };
    json!({"code": code, "type": kind, "message": message})
}

fn page_url(base: &str, job_id: Option<i64>, run_id: i64) -> String {
    match job_id {
        Some(job) => format!("{base}/?o=0#job/{job}/run/{run_id}"),
        None => format!("{base}/?o=0#job/run/{run_id}"),
    }
}

/// One run of a job (or a one-time submitted run).
#[derive(Debug)]
pub struct Run {
    pub run_id: i64,
    pub job_id: Option<i64>,
    run_name: String,
    run_type: &'static str,
    life: Life,
    result: Option<&'static str>,
    message: String,
    user_cancelled: bool,
    /// Every attempt of every task, in the order they began.
    pub(super) tasks: Vec<TaskRun>,
    /// The index in `tasks` of each task's latest attempt, in definition order.
    latest: Vec<usize>,
    /// Each task key's place in `latest`.
    slot_of: HashMap<String, usize>,
    /// Places in `latest` with every task after those it depends on.
    dependency_order: Vec<usize>,
    job_clusters: Vec<Value>,
    job_cluster_ids: BTreeMap<String, String>,
    params: BTreeMap<String, String>,
    job_parameters: Vec<Value>,
    start_time: i64,
    pub(super) end_time: i64,
    pub(super) creator: String,
    queue: bool,
    max_concurrent: i64,
    timeout: Option<Duration>,
    started_at: Instant,
    repair_history: Vec<Value>,
    /// Whether the job's count of started runs includes this one.
    pub(super) counted: bool,
    /// The task specs' count against the storage budget (grown by each
    /// retry's and repair's copies), given back when the run goes.
    held: Held,
}

impl Run {
    pub fn is_active(&self) -> bool {
        matches!(self.life, Life::Queued | Life::Pending | Life::Running | Life::Terminating)
    }

    /// Whether it takes one of its job's `max_concurrent_runs` slots:
    /// started (not queued) and not finished.
    pub(super) fn holds_a_slot(&self) -> bool {
        self.job_id.is_some() && self.is_active() && self.life != Life::Queued
    }

    /// Ask the run to stop; the next tick finishes the cancellation.
    pub fn cancel(&mut self) {
        if self.is_active() {
            self.life = Life::Terminating;
            self.user_cancelled = true;
        }
    }

    /// The latest attempt of each task, in definition order.
    fn latest(&self) -> Vec<usize> {
        self.latest.clone()
    }

    fn latest_of(&self, key: &str) -> Option<&TaskRun> {
        self.slot_of.get(key).and_then(|slot| self.latest.get(*slot)).and_then(|i| self.tasks.get(*i))
    }

    /// The tasks' places in `latest`, each after the tasks it depends on
    /// (Kahn's algorithm; the graph was checked acyclic when submitted, and
    /// anything left over keeps definition order).
    fn dependency_order(&self) -> Vec<usize> {
        let count = self.latest.len();
        let mut waiting_on = vec![0usize; count];
        let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (slot, &index) in self.latest.iter().enumerate() {
            for (key, _) in self.tasks[index].dependencies() {
                if let Some(&upstream) = self.slot_of.get(key) {
                    waiting_on[slot] += 1;
                    dependants[upstream].push(slot);
                }
            }
        }
        let mut order: Vec<usize> = (0..count).filter(|s| waiting_on[*s] == 0).collect();
        let mut next = 0;
        while let Some(&slot) = order.get(next) {
            next += 1;
            for &dependant in &dependants[slot] {
                waiting_on[dependant] -= 1;
                if waiting_on[dependant] == 0 {
                    order.push(dependant);
                }
            }
        }
        let placed: BTreeSet<usize> = order.iter().copied().collect();
        order.extend((0..count).filter(|s| !placed.contains(s)));
        order
    }

    /// A new attempt (a retry or a repair) or a new task: it becomes the
    /// latest of its key.
    fn push_task(&mut self, task: TaskRun) {
        let index = self.tasks.len();
        match self.slot_of.get(&task.key) {
            Some(slot) => self.latest[*slot] = index,
            None => {
                self.slot_of.insert(task.key.clone(), self.latest.len());
                self.latest.push(index);
            }
        }
        self.tasks.push(task);
    }

    fn render(&self, base: &str, version: &str, offset: usize, with_tasks: bool) -> Value {
        let mut state = json!({
            "life_cycle_state": self.life.wire(), "state_message": self.message,
            "user_cancelled_or_timedout": self.user_cancelled || self.result == Some("TIMEDOUT"),
        });
        let mut status = json!({"state": self.life.status()});
        if let Some(result) = self.result {
            state["result_state"] = json!(result);
            status["termination_details"] = termination(result, &self.message);
        }
        if self.life == Life::Queued {
            state["queue_reason"] = json!("Queued due to reaching maximum concurrent runs of 1.");
            status["queue_details"] = json!({"code": "MAX_CONCURRENT_RUNS_REACHED", "message": "Queued due to reaching maximum concurrent runs."});
        }
        let now = now_ms();
        let end = if self.end_time > 0 { self.end_time } else { now };
        let mut out = json!({
            "run_id": self.run_id, "number_in_job": self.run_id, "original_attempt_run_id": self.run_id,
            "run_name": self.run_name, "run_type": self.run_type, "trigger": "ONE_TIME", "format": "MULTI_TASK",
            "creator_user_name": self.creator, "state": state, "status": status,
            "start_time": self.start_time, "end_time": self.end_time,
            "setup_duration": 0, "cleanup_duration": 0, "execution_duration": end - self.start_time, "run_duration": end - self.start_time,
            "run_page_url": page_url(base, self.job_id, self.run_id),
        });
        if let Some(job_id) = self.job_id {
            out["job_id"] = json!(job_id);
        }
        let mut more = false;
        let mut slice = |items: Vec<Value>| -> Vec<Value> {
            if version != "2.2" {
                return items;
            }
            more |= items.len() > offset.saturating_add(ARRAY_PAGE);
            items.into_iter().skip(offset).take(ARRAY_PAGE).collect()
        };
        if with_tasks {
            let tasks: Vec<Value> = self.tasks.iter().map(|t| t.render(base, self.job_id, self.run_id)).collect();
            out["tasks"] = json!(slice(tasks));
            out["job_clusters"] = json!(slice(self.job_clusters.clone()));
            out["job_parameters"] = json!(slice(self.job_parameters.clone()));
            out["repair_history"] = json!(slice(self.repair_history.clone()));
        }
        if more {
            out["has_more"] = json!(true);
            out["next_page_token"] = json!(page_token(offset.saturating_add(ARRAY_PAGE)));
        }
        out
    }

    /// A task run as `runs/get` and `runs/get-output` show it: the parent's
    /// metadata with the task's own id, state, status and times, and the
    /// task alone in `tasks`.
    fn task_view(&self, task: &TaskRun, base: &str, version: &str) -> Value {
        let mut out = self.render(base, version, 0, false);
        let rendered = task.render(base, self.job_id, self.run_id);
        for field in ["run_id", "state", "status", "start_time", "end_time", "execution_duration", "run_page_url"] {
            out[field] = rendered[field].clone();
        }
        out["run_duration"] = rendered["execution_duration"].clone();
        out["tasks"] = json!([rendered]);
        out
    }
}

/// Advance every active run (and only those: finished ones are history).
pub fn advance_active(world: &mut World, now: Instant) {
    for id in world.jobs.active_ids() {
        // Taken out so it can be advanced against the rest of the world.
        let Some(mut run) = world.jobs.take_active(id) else {
            continue;
        };
        advance(world, &mut run, now);
        world.jobs.put_back(run, now);
    }
}

/// The job's runs started and not finished, from the jobs' count.
fn active_runs_of(world: &World, job_id: Option<i64>) -> i64 {
    job_id.map_or(0, |job| world.jobs.started_runs_of(job))
}

fn advance(world: &mut World, run: &mut Run, now: Instant) {
    if run.life == Life::Queued {
        if active_runs_of(world, run.job_id) >= run.max_concurrent {
            return;
        }
        run.life = Life::Pending;
    }
    if run.life == Life::Terminating {
        stop_tasks(world, run, "CANCELED", "Run cancelled.");
        return finish(world, run);
    }
    if run.timeout.is_some_and(|t| now.duration_since(run.started_at) >= t) {
        stop_tasks(world, run, "TIMEDOUT", "Run timed out.");
        return finish(world, run);
    }
    // Several steps may complete in one tick (a dependency finishing lets
    // the next task start): in dependency order, each task steps as far as
    // it can, so one pass carries a whole chain. A retry begins at a later
    // advance, so the pass ends.
    for slot in run.dependency_order.clone() {
        let i = run.latest[slot];
        while step(world, run, i, now) {}
    }
    if run.latest().iter().all(|i| run.tasks[*i].is_done()) {
        finish(world, run);
    } else if run.tasks.iter().any(|t| t.start_time > 0) {
        run.life = Life::Running;
    }
}

fn stop_tasks(world: &mut World, run: &mut Run, result: &'static str, message: &str) {
    let settings = world.settings.clone();
    for task in run.tasks.iter_mut().filter(|t| !t.is_done()) {
        task.finish("TERMINATED", result, message);
        if task.owns_cluster {
            if let Some(id) = &task.cluster_id {
                let _ = world.clusters.terminate(id, "JOB_FINISHED", &run.creator, &settings);
            }
        }
    }
}

/// One step of task `i`; true when something changed.
fn step(world: &mut World, run: &mut Run, i: usize, now: Instant) -> bool {
    if timed_out(&run.tasks[i]) {
        let message = format!("Task {} timed out.", run.tasks[i].key);
        run.tasks[i].finish("TERMINATED", "TIMEDOUT", message);
        end_attempt(world, run, i, now);
        return true;
    }
    match run.tasks[i].phase.clone() {
        Phase::Done => false,
        Phase::Retrying(at) => {
            if now < at {
                return false;
            }
            run.tasks[i].phase = Phase::Waiting;
            run.tasks[i].life = "PENDING";
            true
        }
        Phase::Waiting => start_task(world, run, i, now),
        Phase::Compute(cluster_id) => {
            let state = world.clusters.get(&cluster_id).ok().map(|c| c.state);
            match state {
                Some(ClusterState::Running) => {
                    if let Ok(c) = world.clusters.get_mut(&cluster_id) {
                        c.touch();
                    }
                    let task = &mut run.tasks[i];
                    task.phase = Phase::Running(now + world.settings.task_duration());
                    task.life = "RUNNING";
                    true
                }
                Some(ClusterState::Terminated) | None => {
                    run.tasks[i].finish(
                        "INTERNAL_ERROR",
                        "FAILED",
                        format!("Cluster {cluster_id} was terminated before the task could run."),
                    );
                    true
                }
                _ => false,
            }
        }
        Phase::Pipeline(pipeline, update) => {
            let Some(result) = crate::services::pipelines::update_result(world, &pipeline, &update) else {
                return false;
            };
            match result {
                Ok(()) => run.tasks[i].finish("TERMINATED", "SUCCESS", ""),
                Err(error) => run.tasks[i].finish("TERMINATED", "FAILED", error),
            }
            end_attempt(world, run, i, now);
            true
        }
        Phase::Running(until) => {
            if let Some(c) = run.tasks[i].cluster_id.as_ref().and_then(|id| world.clusters.get_mut(id).ok()) {
                c.touch();
            }
            if now < until {
                return false;
            }
            complete_task(world, run, i, now);
            true
        }
    }
}

/// Decide whether a waiting task may start, and start it.
fn start_task(world: &mut World, run: &mut Run, i: usize, now: Instant) -> bool {
    let mut results = Vec::new();
    for (key, outcome) in run.tasks[i].dependencies() {
        match run.latest_of(key) {
            Some(t) if t.is_done() => {
                let mut result = t.result.unwrap_or("FAILED");
                // A condition branch not taken excludes its dependants.
                if let (Some(want), Some(got)) = (outcome, t.output.result.as_deref()) {
                    if want != got {
                        result = "EXCLUDED";
                    }
                }
                results.push(result);
            }
            _ => return false,
        }
    }
    let run_if = run.tasks[i].spec.get("run_if").and_then(Value::as_str).unwrap_or("ALL_SUCCESS");
    if let Some(skip) = blocked_by(run_if, &results) {
        run.tasks[i].finish("TERMINATED", skip, "Upstream task(s) did not meet the run_if condition.");
        return true;
    }
    let settings = world.settings.clone();
    let task = &mut run.tasks[i];
    task.start_time = now_ms();
    task.life = "PENDING";
    let spec = task.spec.clone();
    // The run acts as its identity: what it may not touch fails the task.
    if let Err(denied) = run_may(world, run, &spec) {
        run.tasks[i].finish("INTERNAL_ERROR", "FAILED", denied.message);
        return true;
    }
    // A pipeline task starts an update of its pipeline and ends with it.
    if let Some(pipeline) = spec.get("pipeline_task").and_then(|t| t.get("pipeline_id")).and_then(Value::as_str) {
        let full_refresh = spec.get("pipeline_task").and_then(|t| t.get("full_refresh")).and_then(Value::as_bool);
        let full_refresh = full_refresh.unwrap_or(false);
        match crate::services::pipelines::start_update(world, pipeline, "JOB_TASK", full_refresh, false) {
            Ok(update) => {
                let task = &mut run.tasks[i];
                task.phase = Phase::Pipeline(pipeline.to_string(), update);
                task.life = "RUNNING";
            }
            Err(err) => run.tasks[i].finish("INTERNAL_ERROR", "FAILED", err.message),
        }
        return true;
    }
    let task = &mut run.tasks[i];
    let cluster = if let Some(id) = spec.get("existing_cluster_id").and_then(Value::as_str) {
        match world.clusters.get(id).ok().map(|c| c.state) {
            None => {
                task.finish("INTERNAL_ERROR", "FAILED", format!("Cluster {id} does not exist"));
                return true;
            }
            Some(ClusterState::Terminated) => {
                let _ = world.clusters.start(id, &settings);
            }
            _ => {}
        }
        Some(id.to_string())
    } else if let Some(key) = spec.get("job_cluster_key").and_then(Value::as_str) {
        match run.job_cluster_ids.get(key) {
            Some(id) => Some(id.clone()),
            None => {
                let cluster_spec = run
                    .job_clusters
                    .iter()
                    .find(|jc| jc.get("job_cluster_key").and_then(Value::as_str) == Some(key))
                    .and_then(|jc| jc.get("new_cluster"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                match world.clusters.create(cluster_spec, &run.creator, "JOB", &settings, &world.budget) {
                    Ok(id) => {
                        run.job_cluster_ids.insert(key.to_string(), id.clone());
                        Some(id)
                    }
                    Err(e) => {
                        run.tasks[i].finish("INTERNAL_ERROR", "FAILED", e.message);
                        return true;
                    }
                }
            }
        }
    } else if let Some(spec) = spec.get("new_cluster").and_then(Value::as_object) {
        match world.clusters.create(spec.clone(), &run.creator, "JOB", &settings, &world.budget) {
            Ok(id) => {
                task.owns_cluster = true;
                Some(id)
            }
            Err(e) => {
                task.finish("INTERNAL_ERROR", "FAILED", e.message);
                return true;
            }
        }
    } else {
        None
    };
    let task = &mut run.tasks[i];
    match cluster {
        Some(id) => {
            task.cluster_id = Some(id.clone());
            task.phase = Phase::Compute(id);
        }
        None => {
            task.phase = Phase::Running(now + settings.task_duration());
            task.life = "RUNNING";
        }
    }
    true
}

/// Who a run acts as: a job's runs as the job's `run_as` (its owner by
/// default), a one-time run as whoever submitted it.
fn run_identity(world: &World, run: &Run) -> Caller {
    let owner = run.job_id.and_then(|id| world.jobs.jobs.get(&id)).map(|job| super::run_as(world, job));
    let user_name = owner.unwrap_or_else(|| run.creator.clone());
    let admin = world.directory.is_admin(&user_name);
    Caller { user_name, admin }
}

/// Whether the run's identity may use what the task names: its notebook
/// (read), its existing cluster (attach; restart when terminated), its
/// pipeline (run).
fn run_may(world: &World, run: &Run, spec: &Map<String, Value>) -> ApiResult<()> {
    use crate::services::permissions::{allows, CLUSTERS, PIPELINES};
    let who = run_identity(world, run);
    if who.admin {
        return Ok(());
    }
    let denied = |what: String| {
        Err(ApiError::permission_denied(format!("{} does not have permission to use {what}.", who.user_name)))
    };
    if let Some(path) = spec.get("notebook_task").and_then(|t| t.get("notebook_path")).and_then(Value::as_str) {
        if crate::services::workspace::may_read(world, path, &who).is_err() {
            return denied(format!("notebook {path}"));
        }
    }
    if let Some(id) = spec.get("existing_cluster_id").and_then(Value::as_str) {
        let level = match world.clusters.get(id).map(|c| c.state) {
            Ok(ClusterState::Terminated) => "CAN_RESTART",
            _ => "CAN_ATTACH_TO",
        };
        if world.clusters.get(id).is_ok() && !allows(world, &CLUSTERS, id, &who, level) {
            return denied(format!("cluster {id}"));
        }
    }
    if let Some(id) = spec.get("pipeline_task").and_then(|t| t.get("pipeline_id")).and_then(Value::as_str) {
        if world.pipelines.exists(id) && !allows(world, &PIPELINES, id, &who, "CAN_RUN") {
            return denied(format!("pipeline {id}"));
        }
    }
    Ok(())
}

/// `Some(result)` when `run_if` says the task must not run given its upstream results.
fn blocked_by(run_if: &str, results: &[&str]) -> Option<&'static str> {
    if results.is_empty() {
        return None;
    }
    let ok = |r: &&str| matches!(*r, "SUCCESS" | "SUCCESS_WITH_FAILURES");
    let failed = |r: &&str| matches!(*r, "FAILED" | "TIMEDOUT" | "UPSTREAM_FAILED" | "INTERNAL_ERROR");
    let excluded = results.iter().all(|r| *r == "EXCLUDED");
    let runs = match run_if {
        "ALL_DONE" => true,
        "NONE_FAILED" => !results.iter().any(failed),
        "AT_LEAST_ONE_SUCCESS" => results.iter().any(ok),
        "ALL_FAILED" => results.iter().all(failed),
        "AT_LEAST_ONE_FAILED" => results.iter().any(failed),
        _ => results.iter().all(ok),
    };
    match (runs, excluded) {
        (true, _) => None,
        (false, true) => Some("EXCLUDED"),
        (false, false) if results.contains(&"CANCELED") => Some("UPSTREAM_CANCELED"),
        _ => Some("UPSTREAM_FAILED"),
    }
}

/// What a finished task did: its semantics, output, retries and compute release.
fn complete_task(world: &mut World, run: &mut Run, i: usize, now: Instant) {
    let spec = run.tasks[i].spec.clone();
    let outcome = execute(world, run, &spec);
    // What a task keeps of its output counts with its run. Past the budget
    // an exit value is not kept (shown truncated, empty) and an error only
    // its first line's start: the outcome itself is never lost.
    let task = &mut run.tasks[i];
    match outcome {
        Outcome::Exit(value) => {
            let (mut value, mut truncated) = value.map(kept).map_or((None, false), |(v, t)| (Some(v), t));
            let bytes = value.as_ref().map_or(0, String::len) as u64;
            if run.held.grow(bytes).is_err() {
                (value, truncated) = (Some(String::new()), true);
            }
            task.output.truncated = truncated;
            task.output.result = value;
            task.finish("TERMINATED", "SUCCESS", "");
        }
        Outcome::Raise(error) => {
            let (mut error, _) = kept(error);
            if run.held.grow(2 * error.len() as u64).is_err() {
                let mut end = error.len().min(ERROR_KEPT_PAST_BUDGET);
                while !error.is_char_boundary(end) {
                    end -= 1;
                }
                error.truncate(end);
                run.held.grow_anyway(2 * error.len() as u64);
            }
            task.output.error = Some(error.clone());
            task.finish("TERMINATED", "FAILED", error);
        }
    }
    end_attempt(world, run, i, now);
}

/// A task past its own `timeout_seconds`, counted from its start (compute
/// set-up included), that has not finished.
fn timed_out(task: &TaskRun) -> bool {
    let limit = task.spec.get("timeout_seconds").and_then(Value::as_i64).unwrap_or(0);
    let started = matches!(task.phase, Phase::Compute(_) | Phase::Running(_) | Phase::Pipeline(..));
    started && limit > 0 && now_ms().saturating_sub(task.start_time) >= limit.saturating_mul(1000)
}

/// Attempts of one task the emulator keeps making, even with
/// `max_retries: -1` ("indefinitely"): each is kept in the run.
const MAX_ATTEMPTS: i64 = 1_000;

/// After an attempt ends: its own cluster goes, and a failed attempt (or a
/// timed-out one, with `retry_on_timeout`) is retried while retries remain.
fn end_attempt(world: &mut World, run: &mut Run, i: usize, now: Instant) {
    let settings = world.settings.clone();
    let task = &run.tasks[i];
    if task.owns_cluster {
        if let Some(id) = task.cluster_id.clone() {
            let _ = world.clusters.terminate(&id, "JOB_FINISHED", &run.creator, &settings);
        }
    }
    let spec = task.spec.clone();
    let max_retries = spec.get("max_retries").and_then(Value::as_i64).unwrap_or(0);
    let retry_on_timeout = spec.get("retry_on_timeout").and_then(Value::as_bool).unwrap_or(false);
    let retried = match task.result {
        Some("FAILED") => true,
        Some("TIMEDOUT") => retry_on_timeout,
        _ => false,
    };
    let attempt = task.attempt;
    let may_retry = (max_retries == -1 && attempt < MAX_ATTEMPTS) || attempt < max_retries.min(MAX_ATTEMPTS);
    // A retry keeps its own copy of the spec, counted like the first: past
    // the budget the task is not retried.
    if retried && may_retry && run.held.grow(json_len(&spec)).is_ok() {
        // At least a millisecond: a retry begins at a later advance, never
        // in the one that failed it (an instant failure retried "forever"
        // would otherwise spin under the lock).
        let interval =
            spec.get("min_retry_interval_millis").and_then(Value::as_i64).unwrap_or(0).clamp(1, i64::MAX) as u64;
        let mut retry = TaskRun::new(world.next_id(), spec, attempt + 1);
        retry.phase = Phase::Retrying(now + Duration::from_millis(interval));
        retry.life = "WAITING_FOR_RETRY";
        world.jobs.task_runs.insert(retry.run_id, run.run_id);
        run.push_task(retry);
    }
}

/// Interpret a task; compute-less task types simply succeed.
fn execute(world: &World, run: &Run, spec: &Map<String, Value>) -> Outcome {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    if let Some(task) = spec.get("notebook_task") {
        if let Some(Value::Object(base)) = task.get("base_parameters") {
            params.extend(
                base.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))),
            );
        }
        params.extend(run.params.clone());
        let path = task.get("notebook_path").and_then(Value::as_str).unwrap_or_default();
        return match world.workspace.notebook(path) {
            Some((_, source)) => notebook::run(&source, &params),
            None => Outcome::Raise(format!("Unable to access the notebook \"{path}\". Either it does not exist, or the identity used to run this job lacks the required permissions.")),
        };
    }
    if let Some(task) = spec.get("spark_python_task") {
        let file = task.get("python_file").and_then(Value::as_str).unwrap_or_default();
        let in_workspace = file.starts_with('/') && task.get("source").and_then(Value::as_str) != Some("GIT");
        if in_workspace {
            return match world.workspace.file(file) {
                Some(source) => notebook::run(&source, &params),
                None => Outcome::Raise(format!("FileNotFoundError: {file} does not exist")),
            };
        }
        return Outcome::Exit(None);
    }
    if let Some(task) = spec.get("run_job_task") {
        let job_id = task.get("job_id").and_then(Value::as_i64).unwrap_or_default();
        if !world.jobs.jobs.contains_key(&job_id) {
            return Outcome::Raise(format!("Job {job_id} does not exist."));
        }
        return Outcome::Exit(None);
    }
    if let Some(cond) = spec.get("condition_task") {
        let left = cond
            .get("left")
            .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
            .unwrap_or_default();
        let right = cond
            .get("right")
            .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
            .unwrap_or_default();
        let (l, r) = (left.parse::<f64>().ok(), right.parse::<f64>().ok());
        let holds = match (cond.get("op").and_then(Value::as_str).unwrap_or("EQUAL_TO"), l, r) {
            ("EQUAL_TO", ..) => left == right,
            ("NOT_EQUAL", ..) => left != right,
            ("GREATER_THAN", Some(l), Some(r)) => l > r,
            ("GREATER_THAN_OR_EQUAL", Some(l), Some(r)) => l >= r,
            ("LESS_THAN", Some(l), Some(r)) => l < r,
            ("LESS_THAN_OR_EQUAL", Some(l), Some(r)) => l <= r,
            _ => false,
        };
        return Outcome::Exit(Some(holds.to_string()));
    }
    Outcome::Exit(None)
}

/// All tasks are done: settle the run's result and release its clusters.
fn finish(world: &mut World, run: &mut Run) {
    let settings = world.settings.clone();
    for id in std::mem::take(&mut run.job_cluster_ids).into_values() {
        let _ = world.clusters.terminate(&id, "JOB_FINISHED", &run.creator, &settings);
    }
    let latest: Vec<&TaskRun> = run.latest().into_iter().map(|i| &run.tasks[i]).collect();
    let failed = latest.iter().find(|t| matches!(t.result, Some("FAILED")));
    let (life, result, message) = if run.user_cancelled {
        (Life::Terminated, "CANCELED", "Run cancelled.".to_string())
    } else if latest.iter().any(|t| t.result == Some("TIMEDOUT")) {
        (Life::Terminated, "TIMEDOUT", "Run timed out.".to_string())
    } else if let Some(t) = failed {
        (
            Life::InternalError,
            "FAILED",
            format!("Task {} failed with message: {}.", t.key, t.message.trim_end_matches('.')),
        )
    } else if latest.iter().any(|t| matches!(t.result, Some("UPSTREAM_FAILED" | "UPSTREAM_CANCELED"))) {
        (Life::InternalError, "FAILED", "Some tasks were skipped because upstream tasks failed.".to_string())
    } else {
        (Life::Terminated, "SUCCESS", String::new())
    };
    run.life = life;
    run.result = Some(result);
    run.message = message;
    run.end_time = now_ms();
}

pub fn routes(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(&format!("{prefix}/run-now"), post(run_now))
        .route(&format!("{prefix}/runs/submit"), post(submit))
        .route(&format!("{prefix}/runs/get"), get(get_run))
        .route(&format!("{prefix}/runs/list"), get(list_runs))
        .route(&format!("{prefix}/runs/cancel"), post(cancel))
        .route(&format!("{prefix}/runs/cancel-all"), post(cancel_all))
        .route(&format!("{prefix}/runs/get-output"), get(get_output))
        .route(&format!("{prefix}/runs/repair"), post(repair))
        .route(&format!("{prefix}/runs/delete"), post(delete_run))
        .route(&format!("{prefix}/runs/export"), get(export_run))
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// An existing run for this idempotency token, if any.
fn idempotent_run(world: &World, token: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(token) = token else {
        return Ok(None);
    };
    if token.len() > 64 {
        return Err(ApiError::invalid("idempotency_token must be at most 64 characters."));
    }
    match world.jobs.idempotency.get(token) {
        Some(id) if world.jobs.run(*id).is_some() => Ok(Some(*id)),
        Some(_) => Err(ApiError::invalid_state(format!("The run for idempotency token {token} was deleted."))),
        None => Ok(None),
    }
}

struct NewRun {
    job_id: Option<i64>,
    name: String,
    run_type: &'static str,
    tasks: Vec<Map<String, Value>>,
    job_clusters: Vec<Value>,
    params: BTreeMap<String, String>,
    job_parameters: Vec<Value>,
    queue: bool,
    max_concurrent: i64,
    timeout_secs: i64,
}

/// Create a run of `new`: its task specs, kept as long as the run is
/// (60 days of history), count against the storage budget.
fn create_run(world: &mut World, new: NewRun, creator: &str, token: Option<&str>) -> ApiResult<i64> {
    let held = world
        .budget
        .hold_json(&(&new.tasks, &new.job_clusters, &new.job_parameters, &new.params))
        .map_err(StorageFull::api_error)?;
    let run_id = world.next_id();
    let tasks: Vec<TaskRun> = new.tasks.into_iter().map(|spec| TaskRun::new(world.next_id(), spec, 0)).collect();
    for t in &tasks {
        world.jobs.task_runs.insert(t.run_id, run_id);
    }
    let busy = new.job_id.is_some() && active_runs_of(world, new.job_id) >= new.max_concurrent;
    let mut run = Run {
        run_id,
        job_id: new.job_id,
        run_name: new.name,
        run_type: new.run_type,
        life: Life::Pending,
        result: None,
        message: String::new(),
        user_cancelled: false,
        tasks: Vec::with_capacity(tasks.len()),
        latest: Vec::with_capacity(tasks.len()),
        slot_of: HashMap::with_capacity(tasks.len()),
        dependency_order: Vec::new(),
        job_clusters: new.job_clusters,
        job_cluster_ids: BTreeMap::new(),
        params: new.params,
        job_parameters: new.job_parameters,
        start_time: now_ms(),
        end_time: 0,
        creator: creator.to_string(),
        queue: new.queue,
        max_concurrent: new.max_concurrent,
        timeout: (new.timeout_secs > 0).then(|| Duration::from_secs(new.timeout_secs as u64)),
        started_at: Instant::now(),
        repair_history: Vec::new(),
        counted: false,
        held,
    };
    for task in tasks {
        run.push_task(task);
    }
    run.dependency_order = run.dependency_order();
    if busy && run.queue {
        run.life = Life::Queued;
    } else if busy || run.max_concurrent == 0 {
        run.life = Life::Skipped;
        run.result = Some("MAXIMUM_CONCURRENT_RUNS_REACHED");
        run.message = "Skipped because the maximum number of concurrent runs was reached.".into();
        run.end_time = now_ms();
        for t in &mut run.tasks {
            t.finish("SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED", "");
        }
    }
    if let Some(token) = token {
        world.jobs.idempotency.insert(token.to_string(), run_id);
    }
    world.jobs.insert_run(run);
    Ok(run_id)
}

fn tasks_of(v: Option<&Value>) -> Vec<Map<String, Value>> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_object).cloned().collect()).unwrap_or_default()
}

/// The tasks `run-now`'s `only` picks. A picked task's dependencies on
/// tasks left out are dropped: they are not part of this run, so waiting
/// for them would hold the task forever. A key the job does not have is
/// refused rather than silently running less than asked.
fn selected_tasks(tasks: Vec<Map<String, Value>>, keep: &BTreeSet<&str>) -> ApiResult<Vec<Map<String, Value>>> {
    let key = |t: &Map<String, Value>| t.get("task_key").and_then(Value::as_str).unwrap_or_default().to_string();
    let known: BTreeSet<String> = tasks.iter().map(key).collect();
    if let Some(unknown) = keep.iter().find(|k| !known.contains(**k)) {
        return Err(ApiError::invalid(format!("Task key '{unknown}' in only does not exist in the job.")));
    }
    let mut picked: Vec<Map<String, Value>> = tasks.into_iter().filter(|t| keep.contains(key(t).as_str())).collect();
    for task in &mut picked {
        if let Some(Value::Array(deps)) = task.get_mut("depends_on") {
            deps.retain(|d| d.get("task_key").and_then(Value::as_str).is_some_and(|k| keep.contains(k)));
            if deps.is_empty() {
                task.remove("depends_on");
            }
        }
    }
    Ok(picked)
}

async fn run_now(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let job_id = required_int(&body, "job_id")?;
    let token = str_field(&body, "idempotency_token")?.map(str::to_string);
    let queue_override = body.get("queue").and_then(|q| q.get("enabled")).and_then(Value::as_bool);
    s.with(|w| {
        super::may(w, job_id, &caller, "CAN_MANAGE_RUN")?;
        if let Some(existing) = idempotent_run(w, token.as_deref())? {
            return Ok(Json(json!({"run_id": existing, "number_in_job": existing})));
        }
        let job = w.jobs.jobs.get(&job_id).ok_or_else(|| job_does_not_exist(job_id))?;
        let settings = &job.settings;
        // Job parameters: defaults, then the run's overrides.
        let mut params: BTreeMap<String, String> = settings
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p.get("name")?.as_str()?.to_string(),
                    p.get("default").and_then(Value::as_str).unwrap_or_default().to_string(),
                ))
            })
            .collect();
        params.extend(string_map(body.get("job_parameters")));
        params.extend(string_map(body.get("notebook_params")));
        let job_parameters: Vec<Value> = params.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
        let mut tasks = tasks_of(settings.get("tasks"));
        if let Some(only) = body.get("only").and_then(Value::as_array) {
            let keep: BTreeSet<&str> = only.iter().filter_map(Value::as_str).collect();
            tasks = selected_tasks(tasks, &keep)?;
        }
        let new = NewRun {
            job_id: Some(job_id),
            name: settings.get("name").and_then(Value::as_str).unwrap_or("Untitled").to_string(),
            run_type: "JOB_RUN",
            tasks,
            job_clusters: settings.get("job_clusters").and_then(Value::as_array).cloned().unwrap_or_default(),
            params,
            job_parameters,
            queue: queue_override.unwrap_or_else(|| {
                settings.get("queue").and_then(|q| q.get("enabled")).and_then(Value::as_bool).unwrap_or(false)
            }),
            max_concurrent: settings.get("max_concurrent_runs").and_then(Value::as_i64).unwrap_or(1),
            timeout_secs: settings.get("timeout_seconds").and_then(Value::as_i64).unwrap_or(0),
        };
        let run_id = create_run(w, new, &caller.user_name, token.as_deref())?;
        Ok(Json(json!({"run_id": run_id, "number_in_job": run_id})))
    })
}

async fn submit(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let token = str_field(&body, "idempotency_token")?.map(str::to_string);
    let tasks = tasks_of(body.get("tasks"));
    let timeout_secs = int_field(&body, "timeout_seconds")?.unwrap_or(0);
    let name = str_field(&body, "run_name")?.unwrap_or("Untitled").to_string();
    s.with(|w| {
        if let Some(existing) = idempotent_run(w, token.as_deref())? {
            return Ok(Json(json!({"run_id": existing})));
        }
        // Pruned before they are checked, as a job's tasks are: a `null`
        // field is absent, not a second task type or a cluster. A shared
        // job cluster, which one-time runs do not have, stays for the check
        // to refuse by name.
        let mut tasks: Vec<Map<String, Value>> = tasks
            .into_iter()
            .map(|mut t| {
                let shared = t.remove("job_cluster_key").filter(|k| !k.is_null());
                super::known_task_fields(&mut t);
                if let Some(key) = shared {
                    t.insert("job_cluster_key".into(), key);
                }
                t
            })
            .collect();
        let refs: Vec<&Map<String, Value>> = tasks.iter().collect();
        super::validate::submit_tasks(&refs, &w.clusters)?;
        let acl = permissions::initial_acl(w, &permissions::SUBMITTED_RUNS, body.get("access_control_list"))?;
        tasks.iter_mut().for_each(super::task_defaults);
        let new = NewRun {
            job_id: None,
            name,
            run_type: "SUBMIT_RUN",
            tasks,
            job_clusters: Vec::new(),
            params: BTreeMap::new(),
            job_parameters: Vec::new(),
            queue: false,
            max_concurrent: i64::MAX,
            timeout_secs,
        };
        let run_id = create_run(w, new, &caller.user_name, token.as_deref())?;
        permissions::created_with(w, &permissions::SUBMITTED_RUNS, &run_id.to_string(), &caller, acl);
        Ok(Json(json!({"run_id": run_id})))
    })
}

fn run_does_not_exist(id: i64) -> ApiError {
    ApiError::invalid(format!("Run {id} does not exist."))
}

async fn get_run(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Json<Value>> {
    let id = params.int("run_id")?.ok_or_else(|| ApiError::missing("run_id"))?;
    let offset = page_start(params.get("page_token"))?;
    let base = base_url(&headers);
    s.with(|w| {
        super::may_run(w, id, &caller, "CAN_VIEW")?;
        if let Some(run) = w.jobs.run(id) {
            return Ok(Json(run.render(&base, version(&uri), offset, true)));
        }
        // A task run id: answer with that task alone.
        let parent = w.jobs.task_runs.get(&id).and_then(|p| w.jobs.run(*p)).ok_or_else(|| run_does_not_exist(id))?;
        let task = parent.tasks.iter().find(|t| t.run_id == id).ok_or_else(|| run_does_not_exist(id))?;
        Ok(Json(parent.task_view(task, &base, version(&uri))))
    })
}

async fn list_runs(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Json<Value>> {
    let job_id = params.int("job_id")?;
    let active_only = params.bool("active_only")?.unwrap_or(false);
    let completed_only = params.bool("completed_only")?.unwrap_or(false);
    if active_only && completed_only {
        return Err(ApiError::invalid("active_only and completed_only cannot both be true."));
    }
    let limit = params.int("limit")?.unwrap_or(20);
    if !(0..=25).contains(&limit) {
        return Err(ApiError::invalid(format!("The limit must be between 0 and 25, got {limit}.")));
    }
    let limit = if limit == 0 { 25 } else { limit as usize };
    let run_type = params.get("run_type").map(str::to_string);
    let expand = params.bool("expand_tasks")?.unwrap_or(false);
    let from = params.int("start_time_from")?;
    let to = params.int("start_time_to")?;
    // The token carries the page's last run id: runs come newest first, so
    // the next page holds lower ids.
    let before = resume_after_id(&params, "runs")?;
    let offset = match params.int("offset")? {
        Some(o) if before.is_none() => usize::try_from(o.max(0)).unwrap_or(usize::MAX),
        _ => 0,
    };
    let base = base_url(&headers);
    s.with(|w| {
        // Newest first from the cursor on, through the index the filter
        // names: a page costs its own runs, not the whole history.
        let before = before.unwrap_or(i64::MAX);
        let ids: Box<dyn Iterator<Item = i64>> = match job_id {
            // Active runs are current work: walking them all is the cost of the work.
            None if !caller.admin && !active_only => Box::new(Jobs::runs_visible_to(w, &caller, before)),
            // An existing job the caller may not see: none of its runs either.
            Some(job) if super::may(w, job, &caller, "CAN_VIEW").is_err() => Box::new(std::iter::empty()),
            _ => Box::new(w.jobs.run_ids_before(job_id, active_only, before)),
        };
        let mut matching = ids
            .filter_map(|id| w.jobs.run(id))
            .filter(|r| caller.admin || super::may_run(w, r.run_id, &caller, "CAN_VIEW").is_ok())
            .filter(|r| !completed_only || !r.is_active())
            // The job's index holds its finished runs too.
            .filter(|r| !active_only || r.is_active())
            .filter(|r| run_type.as_deref().is_none_or(|t| r.run_type == t))
            .filter(|r| from.is_none_or(|f| r.start_time >= f) && to.is_none_or(|t| r.start_time < t));
        let items: Vec<&Run> = matching.by_ref().skip(offset).take(limit).collect();
        let next = match (items.last(), matching.next()) {
            (Some(last), Some(_)) => Some(cursor_token("runs", &last.run_id.to_string())),
            _ => None,
        };
        let rendered: Vec<Value> = items.iter().map(|r| r.render(&base, version(&uri), 0, expand)).collect();
        Ok(Json(page_body(json!({"has_more": next.is_some()}), "runs", rendered, next)))
    })
}

async fn cancel(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let id = required_int(&body, "run_id")?;
    s.with(|w| {
        super::may_run(w, id, &caller, "CAN_MANAGE_RUN")?;
        let parent = w.jobs.task_runs.get(&id).copied().unwrap_or(id);
        w.jobs.run_mut(parent).ok_or_else(|| run_does_not_exist(id))?.cancel();
        Ok(Json(json!({})))
    })
}

async fn cancel_all(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let job_id = int_field(&body, "job_id")?;
    let all_queued = bool_field(&body, "all_queued_runs")?.unwrap_or(false);
    if job_id.is_none() && !all_queued {
        return Err(ApiError::invalid("Either job_id or all_queued_runs must be specified."));
    }
    s.with(|w| {
        if let Some(id) = job_id {
            w.jobs.jobs.get(&id).ok_or_else(|| job_does_not_exist(id))?;
            super::may(w, id, &caller, "CAN_MANAGE_RUN")?;
        }
        // Only active runs can be cancelled: the index has them all.
        for id in w.jobs.active_ids() {
            if !caller.admin && super::may_run(w, id, &caller, "CAN_MANAGE_RUN").is_err() {
                continue;
            }
            let Some(run) = w.jobs.run_mut(id) else { continue };
            let matches_job = job_id.is_some_and(|j| run.job_id == Some(j));
            if matches_job || (all_queued && run.life == Life::Queued) {
                run.cancel();
            }
        }
        Ok(Json(json!({})))
    })
}

async fn get_output(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Json<Value>> {
    let id = params.int("run_id")?.ok_or_else(|| ApiError::missing("run_id"))?;
    let base = base_url(&headers);
    s.with(|w| {
        super::may_run(w, id, &caller, "CAN_VIEW")?;
        // Jobs 2.1 and later keep output per task run, even for a job of
        // one task: the job run's own id is always refused.
        if w.jobs.run(id).is_some() {
            return Err(ApiError::invalid(
                "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead.",
            ));
        }
        let parent = w.jobs.task_runs.get(&id).and_then(|p| w.jobs.run(*p)).ok_or_else(|| run_does_not_exist(id))?;
        let task = parent.tasks.iter().find(|t| t.run_id == id).ok_or_else(|| run_does_not_exist(id))?;
        let metadata = parent.task_view(task, &base, version(&uri));
        let mut out = json!({"metadata": metadata});
        if task.spec.contains_key("notebook_task") && task.result == Some("SUCCESS") {
            out["notebook_output"] = match &task.output.result {
                Some(result) => json!({"result": result, "truncated": task.output.truncated}),
                None => json!({}),
            };
        }
        if let Some(error) = &task.output.error {
            let kind = error.split(':').next().unwrap_or("Exception");
            out["error"] = json!(error);
            out["error_trace"] = json!(format!("---------------------------------------------------------------------------\n{kind}                                Traceback (most recent call last)\n{error}"));
        }
        Ok(Json(out))
    })
}

async fn repair(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let id = required_int(&body, "run_id")?;
    let rerun: Vec<String> = body
        .get("rerun_tasks")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if rerun.iter().collect::<BTreeSet<_>>().len() != rerun.len() {
        return Err(ApiError::invalid("rerun_tasks cannot contain duplicate task keys."));
    }
    let all_failed = bool_field(&body, "rerun_all_failed_tasks")?.unwrap_or(false);
    let dependents = bool_field(&body, "rerun_dependent_tasks")?.unwrap_or(false);
    let overrides = string_map(body.get("job_parameters").or_else(|| body.get("notebook_params")));
    s.with(|w| {
        super::may_run(w, id, &caller, "CAN_MANAGE_RUN")?;
        let run = w.jobs.run(id).ok_or_else(|| run_does_not_exist(id))?;
        if run.is_active() {
            return Err(ApiError::invalid_state(format!("Run {id} is still active and cannot be repaired.")));
        }
        let keys: BTreeSet<String> = run.latest().iter().map(|i| run.tasks[*i].key.clone()).collect();
        let mut selected: BTreeSet<String> = if all_failed {
            run.latest().iter().map(|i| &run.tasks[*i]).filter(|t| t.result != Some("SUCCESS")).map(|t| t.key.clone()).collect()
        } else {
            rerun.iter().cloned().collect()
        };
        if selected.is_empty() {
            return Err(ApiError::invalid("Either rerun_tasks or rerun_all_failed_tasks must be specified."));
        }
        if let Some(unknown) = selected.iter().find(|k| !keys.contains(*k)) {
            return Err(ApiError::invalid(format!("Task key {unknown} does not exist in run {id}.")));
        }
        if dependents {
            // Everything downstream of a selected task runs again too.
            let mut grew = true;
            while grew {
                grew = false;
                for i in run.latest() {
                    let t = &run.tasks[i];
                    let depends = t.spec.get("depends_on").and_then(Value::as_array).into_iter().flatten().any(|d| {
                        d.get("task_key").and_then(Value::as_str).is_some_and(|k| selected.contains(k))
                    });
                    if depends && selected.insert(t.key.clone()) {
                        grew = true;
                    }
                }
            }
        }
        let specs: Vec<Map<String, Value>> = run.latest().iter().map(|i| &run.tasks[*i]).filter(|t| selected.contains(&t.key)).map(|t| t.spec.clone()).collect();
        // The repair's copies of the specs and its parameters count like the
        // run's own: past the budget the repair is refused, the run unchanged.
        let added = json_len(&specs) + json_len(&overrides);
        w.jobs.run_mut(id).ok_or_else(|| run_does_not_exist(id))?.held.grow(added).map_err(StorageFull::api_error)?;
        let repair_id = w.next_id();
        let mut new_ids = Vec::new();
        let mut new_tasks = Vec::new();
        for spec in specs {
            let task = TaskRun::new(w.next_id(), spec, 0);
            new_ids.push(task.run_id);
            new_tasks.push(task);
        }
        let run = w.jobs.run_mut(id).ok_or_else(|| run_does_not_exist(id))?;
        if run.repair_history.is_empty() {
            let original: Vec<i64> = run.tasks.iter().map(|t| t.run_id).collect();
            run.repair_history.push(json!({"id": run.run_id, "type": "ORIGINAL", "start_time": run.start_time, "end_time": run.end_time, "task_run_ids": original}));
        }
        run.repair_history.push(json!({"id": repair_id, "type": "REPAIR", "start_time": now_ms(), "task_run_ids": new_ids}));
        for t in &new_tasks {
            w.jobs.task_runs.insert(t.run_id, id);
        }
        let run = w.jobs.run_mut(id).ok_or_else(|| run_does_not_exist(id))?;
        for task in new_tasks {
            run.push_task(task);
        }
        run.params.extend(overrides);
        run.life = Life::Pending;
        run.result = None;
        run.message = String::new();
        run.end_time = 0;
        run.user_cancelled = false;
        run.started_at = Instant::now();
        w.jobs.reactivate(id);
        Ok(Json(json!({"repair_id": repair_id})))
    })
}

async fn delete_run(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult {
    let id = required_int(&body, "run_id")?;
    s.with(|w| {
        super::may_run(w, id, &caller, "CAN_MANAGE")?;
        let run = w.jobs.run(id).ok_or_else(|| run_does_not_exist(id))?;
        if run.is_active() {
            return Err(ApiError::invalid_state(format!("Run {id} is active and cannot be deleted. Cancel it first.")));
        }
        if w.jobs.remove_run(id).is_some_and(|run| run.job_id.is_none()) {
            w.emit(crate::services::Event::ObjectGone { object_id: format!("/runs/{id}") });
        }
        Ok(Json(json!({})))
    })
}

async fn export_run(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let id = params.int("run_id")?.ok_or_else(|| ApiError::missing("run_id"))?;
    s.with(|w| {
        super::may_run(w, id, &caller, "CAN_VIEW")?;
        let parent = w.jobs.task_runs.get(&id).copied().unwrap_or(id);
        let run = w.jobs.run(parent).ok_or_else(|| run_does_not_exist(id))?;
        let views: Vec<Value> = run
            .tasks
            .iter()
            .filter(|t| t.run_id == id || parent == id)
            .map(|t| json!({"name": t.key, "type": "NOTEBOOK", "content": format!("<html><body>{}</body></html>", t.key)}))
            .collect();
        Ok(Json(json!({"views": views})))
    })
}

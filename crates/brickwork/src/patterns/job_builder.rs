//! A fluent, validated job definition.
//!
//! ```
//! use brickwork::patterns::{JobBuilder, TaskSpec};
//! use brickwork::service::compute::ClusterSpec;
//!
//! let spec = JobBuilder::new("nightly-etl")
//!     .job_cluster("main", ClusterSpec::new().spark_version("15.4.x-scala2.12").num_workers(2))
//!     .task(TaskSpec::notebook("bronze", "/Shared/etl/bronze").job_cluster("main"))
//!     .task(TaskSpec::notebook("silver", "/Shared/etl/silver").job_cluster("main").depends_on(["bronze"]))
//!     .tag("team", "data")
//!     .build()?;
//! assert_eq!(spec.settings().tasks.len(), 2);
//! # Ok::<(), brickwork::patterns::JobSpecError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::error::{Error, ErrorKind, Result};
use crate::service::compute::{ClusterSpec, Library};
use crate::service::jobs::{
    CronSchedule, JobCluster, JobEmailNotifications, JobParameterDefinition, JobSettings, JobsCreateRequest,
    NotebookTask, PythonWheelTask, QueueSettings, Run, RunIf, RunJobTask, SparkPythonTask, SqlTask, SqlTaskFile,
    SqlTaskQuery, Task, TaskDependency,
};
use crate::service::{WaitOptions, WorkspaceClient};

/// A job definition that does not hold together, naming the task and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpecError {
    /// The task at fault, if the problem is in a task.
    pub task: Option<String>,
    /// The field at fault (`depends_on`, `job_cluster_key`, ...).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for JobSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(task) => write!(f, "task '{task}', {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

impl std::error::Error for JobSpecError {}

impl From<JobSpecError> for Error {
    fn from(e: JobSpecError) -> Self {
        Error::config(e.to_string())
    }
}

fn invalid(task: Option<&str>, field: &str, message: impl Into<String>) -> JobSpecError {
    JobSpecError { task: task.map(str::to_string), field: field.to_string(), message: message.into() }
}

/// Where a task runs.
#[derive(Debug, Clone, PartialEq)]
enum Compute {
    JobCluster(String),
    Existing(String),
    New(Box<ClusterSpec>),
    Environment(String),
}

/// One task of a [`JobBuilder`].
#[derive(Debug, Clone)]
pub struct TaskSpec {
    key: String,
    task: Task,
    needs_compute: bool,
    compute: Vec<Compute>,
}

impl TaskSpec {
    fn new(key: &str, task: Task, needs_compute: bool) -> Self {
        TaskSpec {
            key: key.to_string(),
            task: Task { task_key: key.to_string(), ..task },
            needs_compute,
            compute: Vec::new(),
        }
    }

    /// A notebook task.
    pub fn notebook(key: &str, path: &str) -> Self {
        Self::new(key, Task::new(key).notebook_task(NotebookTask::new(path)), true)
    }

    /// A Python wheel task: `package_name` and its `entry_point`.
    pub fn python_wheel(key: &str, package_name: &str, entry_point: &str) -> Self {
        Self::new(key, Task::new(key).python_wheel_task(PythonWheelTask::new(package_name, entry_point)), true)
    }

    /// A Spark Python file task.
    pub fn spark_python(key: &str, python_file: &str) -> Self {
        Self::new(key, Task::new(key).spark_python_task(SparkPythonTask::new(python_file)), true)
    }

    /// A SQL task running a saved query on a warehouse.
    pub fn sql_query(key: &str, warehouse_id: &str, query_id: &str) -> Self {
        let sql = SqlTask::new(warehouse_id).query(SqlTaskQuery::new(query_id));
        Self::new(key, Task::new(key).sql_task(sql), false)
    }

    /// A SQL task running a `.sql` file on a warehouse.
    pub fn sql_file(key: &str, warehouse_id: &str, path: &str) -> Self {
        let sql = SqlTask::new(warehouse_id).file(SqlTaskFile::new(path));
        Self::new(key, Task::new(key).sql_task(sql), false)
    }

    /// A task that runs another job.
    pub fn run_job(key: &str, job_id: i64) -> Self {
        Self::new(key, Task::new(key).run_job_task(RunJobTask::new(job_id)), false)
    }

    /// Run after these tasks.
    pub fn depends_on<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.task.depends_on.extend(keys.into_iter().map(|k| TaskDependency::new(k)));
        self
    }

    /// Run on the job cluster defined with [`JobBuilder::job_cluster`].
    pub fn job_cluster(mut self, key: &str) -> Self {
        self.compute.push(Compute::JobCluster(key.to_string()));
        self
    }

    /// Run on an existing all-purpose cluster.
    pub fn existing_cluster(mut self, cluster_id: &str) -> Self {
        self.compute.push(Compute::Existing(cluster_id.to_string()));
        self
    }

    /// Run on a new cluster of its own.
    pub fn new_cluster(mut self, spec: ClusterSpec) -> Self {
        self.compute.push(Compute::New(Box::new(spec)));
        self
    }

    /// Run on a serverless environment.
    pub fn environment(mut self, key: &str) -> Self {
        self.compute.push(Compute::Environment(key.to_string()));
        self
    }

    /// Add a library (not allowed with a shared job cluster).
    pub fn library(mut self, library: Library) -> Self {
        self.task.libraries.push(library);
        self
    }

    /// A parameter: notebook base parameter, or wheel named parameter.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        if let Some(nb) = self.task.notebook_task.as_mut() {
            nb.base_parameters.insert(name.to_string(), value.to_string());
        } else if let Some(whl) = self.task.python_wheel_task.as_mut() {
            whl.named_parameters.insert(name.to_string(), value.to_string());
        } else if let Some(job) = self.task.run_job_task.as_mut() {
            job.job_parameters.insert(name.to_string(), value.to_string());
        } else if let Some(sql) = self.task.sql_task.as_mut() {
            sql.parameters.insert(name.to_string(), value.to_string());
        } else if let Some(py) = self.task.spark_python_task.as_mut() {
            py.parameters.push(format!("--{name}={value}"));
        }
        self
    }

    /// Retry up to `max` times (-1: forever), waiting at least `min_interval_ms` between attempts.
    pub fn retries(mut self, max: i64, min_interval_ms: i64) -> Self {
        self.task.max_retries = Some(max);
        self.task.min_retry_interval_millis = Some(min_interval_ms);
        self
    }

    /// Fail the task after `seconds`.
    pub fn timeout_seconds(mut self, seconds: i64) -> Self {
        self.task.timeout_seconds = Some(seconds);
        self
    }

    /// When to run relative to upstream results.
    pub fn run_if(mut self, condition: RunIf) -> Self {
        self.task.run_if = Some(condition);
        self
    }
}

/// Builds a [`JobSpec`]; nothing is sent until [`JobSpec::create`] or [`JobSpec::upsert`].
#[derive(Debug, Clone, Default)]
pub struct JobBuilder {
    name: String,
    tasks: Vec<TaskSpec>,
    job_clusters: Vec<(String, ClusterSpec)>,
    settings: JobSettings,
}

impl JobBuilder {
    /// A job named `name` (the key of [`JobSpec::upsert`]).
    pub fn new(name: &str) -> Self {
        JobBuilder { name: name.to_string(), ..Default::default() }
    }

    /// Add a task.
    pub fn task(mut self, task: TaskSpec) -> Self {
        self.tasks.push(task);
        self
    }

    /// Define a job cluster shared by the tasks that name `key`.
    pub fn job_cluster(mut self, key: &str, spec: ClusterSpec) -> Self {
        self.job_clusters.push((key.to_string(), spec));
        self
    }

    /// Add a tag (forwarded to job clusters).
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.settings.tags.insert(key.to_string(), value.to_string());
        self
    }

    /// A job parameter with its default.
    pub fn parameter(mut self, name: &str, default: &str) -> Self {
        self.settings.parameters.push(JobParameterDefinition::new(name, default));
        self
    }

    /// Run on a Quartz cron schedule in `timezone_id`.
    pub fn schedule(mut self, quartz_cron: &str, timezone_id: &str) -> Self {
        self.settings.schedule = Some(CronSchedule::new(quartz_cron, timezone_id));
        self
    }

    /// At most `runs` concurrent runs (1..=1000).
    pub fn max_concurrent_runs(mut self, runs: i64) -> Self {
        self.settings.max_concurrent_runs = Some(runs);
        self
    }

    /// Fail a run after `seconds` (0: no limit).
    pub fn timeout_seconds(mut self, seconds: i64) -> Self {
        self.settings.timeout_seconds = Some(seconds);
        self
    }

    /// Queue runs beyond the concurrency limit instead of skipping them.
    pub fn queue(mut self, enabled: bool) -> Self {
        self.settings.queue = Some(QueueSettings::new(enabled));
        self
    }

    /// Email these addresses when a run fails.
    pub fn email_on_failure<I: IntoIterator<Item = S>, S: Into<String>>(mut self, addresses: I) -> Self {
        let notifications = self.settings.email_notifications.get_or_insert_with(JobEmailNotifications::default);
        notifications.on_failure.extend(addresses.into_iter().map(Into::into));
        self
    }

    /// Validate and produce the job settings, without any network call.
    pub fn build(self) -> std::result::Result<JobSpec, JobSpecError> {
        self.validate()?;
        let mut settings = self.settings;
        settings.name = Some(self.name);
        settings.job_clusters =
            self.job_clusters.into_iter().map(|(key, spec)| JobCluster::new(key).new_cluster(spec)).collect();
        settings.tasks = self.tasks.into_iter().map(TaskSpec::into_task).collect();
        Ok(JobSpec { settings })
    }

    fn validate(&self) -> std::result::Result<(), JobSpecError> {
        if self.name.trim().is_empty() {
            return Err(invalid(None, "name", "a job needs a name (upsert finds jobs by name)"));
        }
        if self.tasks.is_empty() {
            return Err(invalid(None, "tasks", "a job needs at least one task"));
        }
        if let Some(n) = self.settings.max_concurrent_runs.filter(|n| !(1..=1000).contains(n)) {
            return Err(invalid(None, "max_concurrent_runs", format!("{n} is outside 1..=1000")));
        }
        if let Some(t) = self.settings.timeout_seconds.filter(|t| *t < 0) {
            return Err(invalid(None, "timeout_seconds", format!("{t} is negative")));
        }
        if let Some(schedule) = &self.settings.schedule {
            if schedule.quartz_cron_expression.split_whitespace().count() < 6 {
                return Err(invalid(None, "schedule", "a Quartz cron expression has 6 or 7 fields"));
            }
        }
        let mut clusters = BTreeSet::new();
        for (key, _) in &self.job_clusters {
            if !clusters.insert(key.as_str()) {
                return Err(invalid(None, "job_clusters", format!("job cluster '{key}' is defined twice")));
            }
        }
        let mut keys = BTreeSet::new();
        for t in &self.tasks {
            let key = t.key.as_str();
            let well_formed = !key.is_empty()
                && key.len() <= 100
                && key.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
            if !well_formed {
                return Err(invalid(Some(key), "task_key", "use 1 to 100 letters, digits, '_' or '-'"));
            }
            if !keys.insert(key) {
                return Err(invalid(Some(key), "task_key", "is used by another task"));
            }
        }
        for t in &self.tasks {
            self.validate_task(t, &keys, &clusters)?;
        }
        if let Some(cycle) = find_cycle(&self.tasks) {
            return Err(invalid(Some(&cycle[0]), "depends_on", format!("dependency cycle {}", cycle.join(" -> "))));
        }
        Ok(())
    }

    fn validate_task(
        &self,
        t: &TaskSpec,
        keys: &BTreeSet<&str>,
        clusters: &BTreeSet<&str>,
    ) -> std::result::Result<(), JobSpecError> {
        let key = Some(t.key.as_str());
        for dep in t.task.depends_on.iter().map(|d| d.task_key.as_str()) {
            if dep == t.key {
                return Err(invalid(key, "depends_on", "a task cannot depend on itself"));
            }
            if !keys.contains(dep) {
                return Err(invalid(key, "depends_on", format!("'{dep}' is not a task of this job")));
            }
        }
        match t.compute.as_slice() {
            [] if t.needs_compute => {
                return Err(invalid(
                    key,
                    "compute",
                    "set one of job_cluster, existing_cluster, new_cluster or environment",
                ))
            }
            [_, _, ..] => {
                return Err(invalid(
                    key,
                    "compute",
                    "set only one of job_cluster, existing_cluster, new_cluster or environment",
                ))
            }
            [Compute::JobCluster(name)] if !clusters.contains(name.as_str()) => {
                let defined: Vec<&str> = clusters.iter().copied().collect();
                return Err(invalid(key, "job_cluster_key", format!("'{name}' is not defined (defined: {defined:?})")));
            }
            [Compute::JobCluster(_)] if !t.task.libraries.is_empty() => {
                return Err(invalid(
                    key,
                    "libraries",
                    "libraries are set per task; shared job clusters cannot take them",
                ))
            }
            [Compute::New(spec)] if spec.spark_version.is_none() => {
                return Err(invalid(key, "new_cluster.spark_version", "is required"))
            }
            _ => {}
        }
        if let Some(r) = t.task.max_retries.filter(|r| *r < -1) {
            return Err(invalid(key, "max_retries", format!("{r}: use -1 (forever) or more")));
        }
        if let Some(s) = t.task.timeout_seconds.filter(|s| *s < 0) {
            return Err(invalid(key, "timeout_seconds", format!("{s} is negative")));
        }
        Ok(())
    }
}

impl TaskSpec {
    fn into_task(self) -> Task {
        let mut task = self.task;
        match self.compute.into_iter().next() {
            Some(Compute::JobCluster(k)) => task.job_cluster_key = Some(k),
            Some(Compute::Existing(id)) => task.existing_cluster_id = Some(id),
            Some(Compute::New(spec)) => task.new_cluster = Some(*spec),
            Some(Compute::Environment(e)) => task.environment_key = Some(e),
            None => {}
        }
        task
    }
}

/// A dependency cycle as task keys, first task repeated at the end.
fn find_cycle(tasks: &[TaskSpec]) -> Option<Vec<String>> {
    let deps: HashMap<&str, Vec<&str>> = tasks
        .iter()
        .map(|t| (t.key.as_str(), t.task.depends_on.iter().map(|d| d.task_key.as_str()).collect()))
        .collect();
    fn visit<'a>(
        n: &'a str,
        deps: &HashMap<&'a str, Vec<&'a str>>,
        state: &mut HashMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let start = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n, 1);
        path.push(n);
        for d in deps.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, deps, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n, 2);
        None
    }
    let mut state = HashMap::new();
    let mut path = Vec::new();
    tasks.iter().find_map(|t| visit(&t.key, &deps, &mut state, &mut path))
}

/// Whether [`JobSpec::upsert`] created the job or reset an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// No job had the name: a new one was created.
    Created(i64),
    /// The job with the name was reset to this definition.
    Updated(i64),
}

impl Upserted {
    /// The job id either way.
    pub fn job_id(self) -> i64 {
        match self {
            Upserted::Created(id) | Upserted::Updated(id) => id,
        }
    }
}

/// A task's state changed during [`JobSpec::run_and_wait`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskProgress {
    /// The task.
    pub task_key: String,
    /// `life_cycle_state` (`PENDING`, `RUNNING`, `TERMINATED`, ...).
    pub state: String,
    /// `result_state` once final (`SUCCESS`, `FAILED`, ...).
    pub result: Option<String>,
}

/// A validated job definition.
#[derive(Debug, Clone)]
pub struct JobSpec {
    settings: JobSettings,
}

impl JobSpec {
    /// The settings that will be sent.
    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    /// The job name.
    pub fn name(&self) -> &str {
        self.settings.name.as_deref().unwrap_or_default()
    }

    /// Create a new job (even if one has the same name).
    pub async fn create(&self, w: &WorkspaceClient) -> Result<i64> {
        let request: JobsCreateRequest = serde_json::from_value(serde_json::to_value(&self.settings)?)?;
        let created = w.jobs().create().with_request(request).await?;
        created.job_id.ok_or_else(|| Error::decode("jobs/create returned no job_id"))
    }

    /// Create the job, or reset the one that has its name, so deploying twice
    /// does not duplicate it. Two jobs with the name is an error.
    pub async fn upsert(&self, w: &WorkspaceClient) -> Result<Upserted> {
        // `jobs/list?name=` matches case-insensitively: only the exact name is ours.
        let existing: Vec<i64> = w
            .jobs()
            .list()
            .name(self.name())
            .try_collect()
            .await?
            .into_iter()
            .filter(|j| j.settings.as_ref().and_then(|s| s.name.as_deref()) == Some(self.name()))
            .filter_map(|j| j.job_id)
            .collect();
        match existing.as_slice() {
            [] => self.create(w).await.map(Upserted::Created),
            [job_id] => {
                w.jobs().reset(*job_id, self.settings.clone()).await?;
                Ok(Upserted::Updated(*job_id))
            }
            many => Err(Error::new(
                ErrorKind::ResourceConflict,
                format!(
                    "{} jobs are named '{}' (ids {many:?}): cannot choose which to update",
                    many.len(),
                    self.name()
                ),
            )),
        }
    }

    /// Run job `job_id` now and wait for the run to end, calling `on_task`
    /// whenever a task's state changes. A failed run is `OperationFailed`.
    pub async fn run_and_wait(
        w: &WorkspaceClient,
        job_id: i64,
        parameters: BTreeMap<String, String>,
        options: WaitOptions<Run>,
        on_task: impl Fn(&TaskProgress) + Send + Sync + 'static,
    ) -> Result<Run> {
        let seen: Arc<Mutex<HashMap<String, TaskProgress>>> = Arc::default();
        let on_task = Arc::new(on_task);
        let report = move |run: &Run| report_tasks(run, &seen, on_task.as_ref());
        let started = w.jobs().run_now(job_id).job_parameters(parameters).await?;
        let report = Arc::new(report);
        let progress = report.clone();
        let outcome = started.wait_with(options.on_progress(move |r: &Run| progress(r))).await;
        // The final states of the tasks are reported whatever the outcome.
        match &outcome {
            Ok(run) => report(run),
            Err(e) => {
                if let Some(run) = e.operation_state().and_then(|s| s.last.clone()) {
                    if let Ok(run) = serde_json::from_value::<Run>(run) {
                        report(&run);
                    }
                }
            }
        }
        outcome
    }
}

fn report_tasks(run: &Run, seen: &Mutex<HashMap<String, TaskProgress>>, on_task: &(impl Fn(&TaskProgress) + ?Sized)) {
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    for task in &run.tasks {
        let key = task.task_key.clone();
        let state = task.state.as_ref();
        let progress = TaskProgress {
            task_key: key.clone(),
            state: state.and_then(|s| s.life_cycle_state.as_ref()).map(|s| s.to_string()).unwrap_or_default(),
            result: state.and_then(|s| s.result_state.as_ref()).map(|s| s.to_string()),
        };
        if seen.get(&key) != Some(&progress) {
            on_task(&progress);
            seen.insert(key, progress);
        }
    }
}

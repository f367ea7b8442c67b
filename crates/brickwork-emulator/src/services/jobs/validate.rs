//! Job and run spec validation with the error texts real workspaces send
//! (or, where none is documented, messages in the same style).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::api::{ApiError, ApiResult};
use crate::services::clusters::{validate_spec, Clusters};

/// Task types that need a cluster in a classic (non-serverless) workspace.
const CLUSTER_TASKS: &[&str] =
    &["notebook_task", "spark_python_task", "python_wheel_task", "spark_jar_task", "spark_submit_task"];

const TASK_TYPES: &[&str] = &[
    "notebook_task",
    "spark_python_task",
    "python_wheel_task",
    "spark_jar_task",
    "spark_submit_task",
    "sql_task",
    "pipeline_task",
    "dbt_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "dashboard_task",
    "clean_rooms_notebook_task",
    "power_bi_task",
    "dbt_cloud_task",
    "gen_ai_compute_task",
    "alert_task",
];

/// The most tasks a job (or a submitted run) may have, as Databricks
/// documents for large jobs.
pub const MAX_TASKS: usize = 1000;

fn tasks(settings: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    settings
        .get("tasks")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

/// Validate the settings of a job (`create`, `update`, `reset`).
pub fn job_settings(settings: &Map<String, Value>, clusters: &Clusters) -> ApiResult<()> {
    if let Some(n) = settings.get("max_concurrent_runs") {
        if !n.as_i64().is_some_and(|n| (0..=1000).contains(&n)) {
            return Err(ApiError::invalid(format!("max_concurrent_runs must be between 0 and 1000, got {n}.")));
        }
    }
    if let Some(t) = settings.get("timeout_seconds") {
        if t.as_i64().is_none_or(|t| t < 0) {
            return Err(ApiError::invalid(format!("timeout_seconds must not be negative, got {t}.")));
        }
    }
    let mut cluster_keys = BTreeSet::new();
    for jc in settings.get("job_clusters").and_then(Value::as_array).into_iter().flatten() {
        let key = jc.get("job_cluster_key").and_then(Value::as_str).filter(|k| !k.is_empty());
        let key = key.ok_or_else(|| ApiError::missing("settings.job_clusters.job_cluster_key"))?;
        if !cluster_keys.insert(key) {
            return Err(ApiError::invalid(format!(
                "Job cluster key '{key}' is duplicated; job cluster keys must be unique within a job."
            )));
        }
        let spec = jc
            .get("new_cluster")
            .and_then(Value::as_object)
            .ok_or_else(|| ApiError::missing("settings.job_clusters.new_cluster"))?;
        validate_spec(spec, "settings.job_clusters.new_cluster.")?;
    }
    task_list(&tasks(settings), Some(&cluster_keys), clusters)
}

/// Validate the tasks of `runs/submit` (no shared job clusters there).
pub fn submit_tasks(tasks: &[&Map<String, Value>], clusters: &Clusters) -> ApiResult<()> {
    if tasks.is_empty() {
        return Err(ApiError::missing("tasks"));
    }
    task_list(tasks, None, clusters)
}

fn task_list(
    tasks: &[&Map<String, Value>],
    cluster_keys: Option<&BTreeSet<&str>>,
    clusters: &Clusters,
) -> ApiResult<()> {
    if tasks.len() > MAX_TASKS {
        return Err(ApiError::invalid(format!(
            "A job can have at most {MAX_TASKS} tasks; this one has {}.",
            tasks.len()
        )));
    }
    let mut keys = BTreeSet::new();
    for task in tasks {
        let key = task.get("task_key").and_then(Value::as_str).filter(|k| !k.is_empty());
        let key = key.ok_or_else(|| ApiError::missing("settings.tasks.task_key"))?;
        if !keys.insert(key) {
            return Err(ApiError::invalid(format!(
                "Task key '{key}' is duplicated; task keys must be unique within a job."
            )));
        }
    }
    for task in tasks {
        let key = task.get("task_key").and_then(Value::as_str).unwrap_or_default();
        one_task(key, task, &keys, cluster_keys, clusters)?;
    }
    if let Some(cycle) = find_cycle(tasks) {
        return Err(ApiError::invalid(format!("Invalid dependency graph, cycle detected: {}.", cycle.join(" -> "))));
    }
    Ok(())
}

fn one_task(
    key: &str,
    task: &Map<String, Value>,
    keys: &BTreeSet<&str>,
    cluster_keys: Option<&BTreeSet<&str>>,
    clusters: &Clusters,
) -> ApiResult<()> {
    for dep in task.get("depends_on").and_then(Value::as_array).into_iter().flatten() {
        let dep_key = dep.get("task_key").and_then(Value::as_str).filter(|k| !k.is_empty());
        let dep_key = dep_key.ok_or_else(|| ApiError::missing("settings.tasks.depends_on.task_key"))?;
        if dep_key == key {
            return Err(ApiError::invalid(format!("Invalid dependency graph, task '{key}' can not reference itself.")));
        }
        if !keys.contains(dep_key) {
            return Err(ApiError::invalid(format!(
                "Invalid dependency graph, task '{key}' depends on task '{dep_key}' which does not exist."
            )));
        }
    }
    let types: Vec<&&str> = TASK_TYPES.iter().filter(|t| task.contains_key(**t)).collect();
    if types.len() != 1 {
        return Err(ApiError::invalid(format!(
            "Task '{key}' must specify exactly one task type, found {}.",
            types.len()
        )));
    }
    if let Some(nb) = task.get("notebook_task") {
        if nb.get("notebook_path").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ApiError::missing("settings.tasks.notebook_task.notebook_path"));
        }
    }
    if let Some(py) = task.get("spark_python_task") {
        if py.get("python_file").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ApiError::missing("settings.tasks.spark_python_task.python_file"));
        }
    }
    if let Some(whl) = task.get("python_wheel_task") {
        for field in ["package_name", "entry_point"] {
            if whl.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(ApiError::missing(&format!("settings.tasks.python_wheel_task.{field}")));
            }
        }
    }
    if let Some(sql) = task.get("sql_task") {
        if sql.get("warehouse_id").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ApiError::missing("settings.tasks.sql_task.warehouse_id"));
        }
    }
    if let Some(rj) = task.get("run_job_task") {
        if rj.get("job_id").is_none() {
            return Err(ApiError::missing("settings.tasks.run_job_task.job_id"));
        }
    }
    compute(key, task, types[0], cluster_keys, clusters)?;
    if let Some(retries) = task.get("max_retries") {
        if retries.as_i64().is_none_or(|r| r < -1) {
            return Err(ApiError::invalid(format!("Task '{key}': max_retries must be -1 or more, got {retries}.")));
        }
    }
    Ok(())
}

fn compute(
    key: &str,
    task: &Map<String, Value>,
    kind: &str,
    cluster_keys: Option<&BTreeSet<&str>>,
    clusters: &Clusters,
) -> ApiResult<()> {
    if let Some(jck) = task.get("job_cluster_key").and_then(Value::as_str) {
        match cluster_keys {
            None => {
                return Err(ApiError::invalid(
                    "Shared job clusters (job_cluster_key) are not supported in runs/submit.",
                ))
            }
            Some(keys) if !keys.contains(jck) => {
                return Err(ApiError::invalid(format!(
                    "Task '{key}' refers to job cluster key '{jck}' which is not defined in job_clusters."
                )))
            }
            _ => {}
        }
    }
    if let Some(spec) = task.get("new_cluster") {
        let spec = spec.as_object().ok_or_else(|| ApiError::invalid("new_cluster must be an object"))?;
        validate_spec(spec, "settings.cluster_spec.new_cluster.")?;
    }
    if let Some(id) = task.get("existing_cluster_id").and_then(Value::as_str) {
        if clusters.get(id).is_ok_and(|c| c.source == "JOB") {
            return Err(ApiError::invalid("existing_cluster_id only supports all-purpose cluster IDs"));
        }
    }
    let has_compute = ["job_cluster_key", "new_cluster", "existing_cluster_id", "environment_key"]
        .iter()
        .any(|k| task.contains_key(*k));
    if CLUSTER_TASKS.contains(&kind) && !has_compute {
        return Err(ApiError::invalid(
            "One of job_cluster_key, new_cluster, or existing_cluster_id must be specified.",
        ));
    }
    Ok(())
}

/// A dependency cycle, named from the first task on it back to itself.
///
/// Depth-first with an explicit stack: a chain of any length (the task cap
/// is checked first, but `runs/submit` and merged updates land here too)
/// cannot overflow the thread's stack.
fn find_cycle(tasks: &[&Map<String, Value>]) -> Option<Vec<String>> {
    let deps: BTreeMap<&str, Vec<&str>> = tasks
        .iter()
        .map(|t| {
            let key = t.get("task_key").and_then(Value::as_str).unwrap_or_default();
            let on = t
                .get("depends_on")
                .and_then(Value::as_array)
                .map(|d| d.iter().filter_map(|x| x.get("task_key").and_then(Value::as_str)).collect())
                .unwrap_or_default();
            (key, on)
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut mark: BTreeMap<&str, Mark> = BTreeMap::new();
    for &root in deps.keys() {
        if mark.contains_key(root) {
            continue;
        }
        // The current path, each task with the index of its next dependency.
        let mut path: Vec<(&str, usize)> = vec![(root, 0)];
        mark.insert(root, Mark::OnPath);
        while let Some(top) = path.last_mut() {
            let (task, next) = *top;
            top.1 += 1;
            let Some(&dep) = deps.get(task).and_then(|d| d.get(next)) else {
                mark.insert(task, Mark::Done);
                path.pop();
                continue;
            };
            match mark.get(dep) {
                Some(Mark::Done) => {}
                Some(Mark::OnPath) => {
                    let start = path.iter().position(|(t, _)| *t == dep).unwrap_or(0);
                    let mut cycle: Vec<String> = path[start..].iter().map(|(t, _)| t.to_string()).collect();
                    cycle.push(dep.to_string());
                    return Some(cycle);
                }
                None => {
                    mark.insert(dep, Mark::OnPath);
                    path.push((dep, 0));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(settings: Value) -> Result<(), String> {
        let map = settings.as_object().cloned().unwrap_or_default();
        job_settings(&map, &Clusters::default()).map_err(|e| e.message)
    }

    fn nb(key: &str, deps: &[&str]) -> Value {
        let deps: Vec<Value> = deps.iter().map(|d| json!({"task_key": d})).collect();
        json!({"task_key": key, "depends_on": deps, "existing_cluster_id": "c", "notebook_task": {"notebook_path": "/n"}})
    }

    #[test]
    fn dependency_errors() {
        assert!(check(json!({"tasks": [nb("a", &[]), nb("b", &["a"])]})).is_ok());
        assert_eq!(
            check(json!({"tasks": [nb("a", &["a"])]})),
            Err("Invalid dependency graph, task 'a' can not reference itself.".into())
        );
        assert!(check(json!({"tasks": [nb("a", &["x"])]}))
            .is_err_and(|m| m.contains("depends on task 'x' which does not exist")));
        assert_eq!(
            check(json!({"tasks": [nb("a", &["c"]), nb("b", &["a"]), nb("c", &["b"])]})),
            Err("Invalid dependency graph, cycle detected: a -> c -> b -> a.".into())
        );
        assert!(check(json!({"tasks": [nb("a", &[]), nb("a", &[])]})).is_err_and(|m| m.contains("'a' is duplicated")));
    }

    fn chain(n: usize) -> Vec<Value> {
        (0..n).map(|i| if i == 0 { nb("t0", &[]) } else { nb(&format!("t{i}"), &[&format!("t{}", i - 1)]) }).collect()
    }

    #[test]
    fn a_job_over_the_task_cap_is_refused_and_one_at_it_is_valid() {
        assert!(check(json!({"tasks": chain(MAX_TASKS)})).is_ok());
        assert_eq!(
            check(json!({"tasks": chain(MAX_TASKS + 1)})),
            Err(format!("A job can have at most {MAX_TASKS} tasks; this one has {}.", MAX_TASKS + 1))
        );
    }

    /// A recursive search overflowed the stack (and killed the emulator) on
    /// chains of about 20k tasks; this one is ten times longer.
    #[test]
    fn cycle_search_survives_a_very_long_chain() {
        let mut tasks = chain(200_000);
        let refs: Vec<&Map<String, Value>> = tasks.iter().filter_map(Value::as_object).collect();
        assert_eq!(find_cycle(&refs), None);
        tasks[0] = nb("t0", &["t199999"]);
        let refs: Vec<&Map<String, Value>> = tasks.iter().filter_map(Value::as_object).collect();
        let cycle = find_cycle(&refs).expect("a cycle");
        assert_eq!(
            (cycle.len(), cycle.first(), cycle.last()),
            (200_001, Some(&"t0".to_string()), Some(&"t0".to_string()))
        );
    }

    #[test]
    fn compute_errors() {
        let no_compute = json!({"tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/n"}}]});
        assert_eq!(
            check(no_compute),
            Err("One of job_cluster_key, new_cluster, or existing_cluster_id must be specified.".into())
        );
        let sizeless = json!({"tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/n"},
            "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge"}}]});
        assert_eq!(check(sizeless), Err("Missing required field: settings.cluster_spec.new_cluster.size".into()));
        let bad_key =
            json!({"tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/n"}, "job_cluster_key": "k"}]});
        assert!(check(bad_key).is_err_and(|m| m.contains("job cluster key 'k'")));
    }
}

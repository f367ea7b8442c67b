//! The compat flows, driven by brickwork's own client against the emulator.

mod common;

use brickwork::{Client, Config, ErrorKind};
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn current_user_and_bad_tokens() {
    let (emulator, c) = start().await;
    assert_eq!(get(&c, "/api/2.0/preview/scim/v2/Me", json!({})).await["userName"], "admin@example.com");
    let bad = client(&emulator, "wrong").await;
    let err = bad.api().get::<Value>("/api/2.0/preview/scim/v2/Me", &()).await.expect_err("403");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!((err.error_code(), err.message()), (Some("403"), "Invalid access token."));
    let raw = reqwest::get(format!("{}/api/2.1/clusters/list", emulator.url())).await.expect("http");
    assert_eq!(raw.status().as_u16(), 401);
    let body: Value = raw.json().await.expect("json");
    assert_eq!(body["error_code"], 401);
    assert!(body["message"].as_str().is_some_and(|m| m.starts_with("Credential was not sent")));
}

#[tokio::test]
async fn cluster_state_machine_and_errors() {
    let (emulator, c) = start().await;
    let id = post(&c, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].as_str().expect("id").to_string();
    let pending = get(&c, "/api/2.1/clusters/get", json!({"cluster_id": id})).await;
    assert_eq!(pending["state"], "PENDING");
    assert_eq!(pending["spec"]["num_workers"], 1);
    cluster_state(&c, &id, "RUNNING").await;

    let err = c.api().post::<Value>("/api/2.1/clusters/start", &json!({"cluster_id": id})).await.expect_err("running");
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(err.message(), format!("Cluster {id} is in unexpected state Running."));

    post(&c, "/api/2.1/clusters/resize", json!({"cluster_id": id, "num_workers": 3})).await;
    let resizing = get(&c, "/api/2.1/clusters/get", json!({"cluster_id": id})).await;
    assert_eq!((resizing["state"].as_str(), resizing["num_workers"].as_i64()), (Some("RESIZING"), Some(3)));
    cluster_state(&c, &id, "RUNNING").await;
    post(&c, "/api/2.1/clusters/restart", json!({"cluster_id": id})).await;
    assert_eq!(get(&c, "/api/2.1/clusters/get", json!({"cluster_id": id})).await["state"], "RESTARTING");
    cluster_state(&c, &id, "RUNNING").await;

    post(&c, "/api/2.1/clusters/delete", json!({"cluster_id": id})).await;
    let terminated = cluster_state(&c, &id, "TERMINATED").await;
    assert_eq!(terminated["termination_reason"]["code"], "USER_REQUEST");
    assert_eq!(emulator.counters().live_clusters, 0);
    post(&c, "/api/2.1/clusters/start", json!({"cluster_id": id})).await;
    cluster_state(&c, &id, "RUNNING").await;

    let events = post(&c, "/api/2.1/clusters/events", json!({"cluster_id": id, "order": "ASC"})).await;
    let kinds: Vec<&str> =
        events["events"].as_array().expect("events").iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"CREATING"));
    assert!(kinds.contains(&"RESIZING") && kinds.contains(&"TERMINATING") && kinds.contains(&"STARTING"));

    post(&c, "/api/2.1/clusters/permanent-delete", json!({"cluster_id": id})).await;
    let err = c.api().get::<Value>("/api/2.1/clusters/get", &json!({"cluster_id": id})).await.expect_err("gone");
    assert_eq!(err.kind(), ErrorKind::ResourceDoesNotExist, "400 INVALID_PARAMETER_VALUE reclassified: {err:?}");
    assert_eq!(err.status(), Some(400));
    assert_eq!(emulator.counters().clusters_total, 0);
}

/// Each kind of change to a cluster (a new owner, a settled transition, an
/// edit, an idle termination) shows in the next `clusters/get`, the name
/// down to the default tags, however often it was read before.
#[tokio::test]
async fn a_clusters_answer_shows_each_change_after_it_was_read() {
    let (_emulator, c) = start_with(fast().minute(std::time::Duration::from_millis(10))).await;
    let id = post(&c, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].as_str().expect("id").to_string();
    let read = || async { get(&c, "/api/2.1/clusters/get", json!({"cluster_id": id})).await };
    assert_eq!(read().await, read().await);
    post(&c, "/api/2.1/clusters/change-owner", json!({"cluster_id": id, "owner_username": "other@example.com"})).await;
    assert_eq!(read().await["creator_user_name"], "other@example.com");
    cluster_state(&c, &id, "RUNNING").await;
    read().await;
    let mut spec = cluster_spec();
    spec["cluster_id"] = json!(id);
    spec["cluster_name"] = json!("renamed");
    spec["autotermination_minutes"] = json!(10);
    post(&c, "/api/2.1/clusters/edit", spec).await;
    let edited = read().await;
    assert_eq!((edited["cluster_name"].as_str(), edited["state"].as_str()), (Some("renamed"), Some("RESTARTING")));
    assert_eq!(edited["default_tags"]["ClusterName"], "renamed");
    // Left idle past its minute: it terminates on its own, and the answer says so.
    let idle = cluster_state(&c, &id, "TERMINATED").await;
    assert_eq!(idle["termination_reason"]["code"], "INACTIVITY");
}

#[tokio::test]
async fn cluster_validation_and_list_pagination_with_filters() {
    let (_emulator, c) = start().await;
    let err = c
        .api()
        .post::<Value>("/api/2.1/clusters/create", &json!({"spark_version": "15.4.x-scala2.12", "num_workers": 1}))
        .await
        .expect_err("node");
    assert_eq!(err.message(), "Missing required field 'node_type_id'");
    let err = c
        .api()
        .post::<Value>(
            "/api/2.1/clusters/create",
            &json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge"}),
        )
        .await
        .expect_err("size");
    assert_eq!(err.message(), "Missing required field: size");
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut spec = cluster_spec();
        spec["cluster_name"] = json!(format!("c{i}"));
        ids.push(post(&c, "/api/2.1/clusters/create", spec).await["cluster_id"].as_str().expect("id").to_string());
    }
    post(&c, "/api/2.1/clusters/delete", json!({"cluster_id": ids[0]})).await;
    cluster_state(&c, &ids[0], "TERMINATED").await;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = get(
            &c,
            "/api/2.1/clusters/list",
            json!({"page_size": 3, "page_token": token, "filter_by": {"cluster_states": ["PENDING", "RUNNING"]}}),
        )
        .await;
        seen.extend(
            page["clusters"]
                .as_array()
                .expect("page")
                .iter()
                .map(|x| x["cluster_id"].as_str().unwrap_or_default().to_string()),
        );
        assert!(page["clusters"].as_array().is_some_and(|a| a.len() <= 3));
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    seen.sort();
    let mut expected = ids[1..].to_vec();
    expected.sort();
    assert_eq!(seen, expected, "every live cluster once, the terminated one filtered out");
}

#[tokio::test]
async fn autotermination_after_idle_minutes() {
    let (emulator, c) = start_with(fast().minute(std::time::Duration::from_millis(10))).await;
    let mut spec = cluster_spec();
    spec["autotermination_minutes"] = json!(10);
    let id = post(&c, "/api/2.1/clusters/create", spec).await["cluster_id"].as_str().expect("id").to_string();
    let stopped = cluster_state(&c, &id, "TERMINATED").await;
    assert_eq!(stopped["termination_reason"]["code"], "INACTIVITY");
    assert_eq!(emulator.counters().live_clusters, 0);
}

async fn create_job(c: &Client, settings: Value) -> i64 {
    post(c, "/api/2.2/jobs/create", settings).await["job_id"].as_i64().expect("job id")
}

#[tokio::test]
async fn job_dag_runs_in_order_on_job_clusters_and_returns_outputs() {
    let (emulator, c) = start().await;
    upload(&c, "/Shared/etl/bronze", "dbutils.notebook.exit('bronze:' + dbutils.widgets.get('day'))").await;
    upload(&c, "/Shared/etl/silver", "dbutils.notebook.exit('silver done')").await;
    let job_id = create_job(&c, json!({
        "name": "etl",
        "job_clusters": [{"job_cluster_key": "shared", "new_cluster": cluster_spec()}],
        "parameters": [{"name": "day", "default": "monday"}],
        "tasks": [
            {"task_key": "silver", "depends_on": [{"task_key": "bronze"}], "job_cluster_key": "shared", "notebook_task": {"notebook_path": "/Shared/etl/silver"}},
            {"task_key": "bronze", "job_cluster_key": "shared", "notebook_task": {"notebook_path": "/Shared/etl/bronze"}},
        ],
    })).await;
    let started =
        post(&c, "/api/2.2/jobs/run-now", json!({"job_id": job_id, "job_parameters": {"day": "friday"}})).await;
    let run = finished_run(&c, &started["run_id"]).await;
    assert_eq!(run["state"]["result_state"], "SUCCESS", "{run}");
    let tasks = run["tasks"].as_array().expect("tasks");
    let by_key = |k: &str| tasks.iter().find(|t| t["task_key"] == k).cloned().expect("task");
    let (bronze, silver) = (by_key("bronze"), by_key("silver"));
    assert!(silver["start_time"].as_i64() >= bronze["end_time"].as_i64(), "silver starts after bronze ends");
    assert_eq!(
        bronze["cluster_instance"]["cluster_id"], silver["cluster_instance"]["cluster_id"],
        "one shared job cluster"
    );
    let out = get(&c, "/api/2.2/jobs/runs/get-output", json!({"run_id": bronze["run_id"]})).await;
    assert_eq!(out["notebook_output"]["result"], "bronze:friday");
    let err = c
        .api()
        .get::<Value>("/api/2.2/jobs/runs/get-output", &json!({"run_id": started["run_id"]}))
        .await
        .expect_err("multi");
    assert!(err.message().starts_with("Retrieving the output of runs with multiple tasks is not supported"));
    // The job cluster was created for the run and terminated after it.
    let cluster_id = bronze["cluster_instance"]["cluster_id"].as_str().expect("cluster").to_string();
    let cluster = cluster_state(&c, &cluster_id, "TERMINATED").await;
    assert_eq!(cluster["cluster_source"], "JOB");
    assert_eq!(emulator.counters().live_clusters, 0);
}

#[tokio::test]
async fn failing_notebook_fails_the_run_and_skips_dependants() {
    let (_emulator, c) = start().await;
    upload(&c, "/Shared/boom", "raise RuntimeError('disk full')").await;
    let run = post(&c, "/api/2.2/jobs/runs/submit", json!({"run_name": "x", "tasks": [
        {"task_key": "a", "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/boom"}},
        {"task_key": "b", "depends_on": [{"task_key": "a"}], "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/boom"}},
        {"task_key": "c", "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/missing"}},
    ]})).await;
    let run = finished_run(&c, &run["run_id"]).await;
    assert_eq!(run["state"]["life_cycle_state"], "INTERNAL_ERROR");
    assert_eq!(run["state"]["result_state"], "FAILED");
    assert_eq!(run["state"]["state_message"], "Task a failed with message: RuntimeError: disk full.");
    let tasks = run["tasks"].as_array().expect("tasks");
    let result = |k: &str| tasks.iter().find(|t| t["task_key"] == k).map(|t| t["state"]["result_state"].clone());
    assert_eq!(result("b"), Some(json!("UPSTREAM_FAILED")));
    assert_eq!(result("c"), Some(json!("FAILED")));
    let a = tasks.iter().find(|t| t["task_key"] == "a").expect("a");
    let out = get(&c, "/api/2.2/jobs/runs/get-output", json!({"run_id": a["run_id"]})).await;
    assert_eq!(out["error"], "RuntimeError: disk full");
}

#[tokio::test]
async fn idempotency_token_dedupes_runs() {
    let (_emulator, c) = start().await;
    let job_id = create_job(&c, json!({"name": "idem", "tasks": [{"task_key": "t", "existing_cluster_id": "x", "spark_jar_task": {"main_class_name": "M"}}]})).await;
    let a = post(&c, "/api/2.2/jobs/run-now", json!({"job_id": job_id, "idempotency_token": "deploy-42"})).await;
    let b = post(&c, "/api/2.2/jobs/run-now", json!({"job_id": job_id, "idempotency_token": "deploy-42"})).await;
    assert_eq!(a["run_id"], b["run_id"]);
    let runs = get(&c, "/api/2.2/jobs/runs/list", json!({"job_id": job_id})).await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn max_concurrent_runs_queue_or_skip() {
    let (_emulator, c) = start_with(fast().task_duration(std::time::Duration::from_millis(300))).await;
    let task =
        json!([{"task_key": "t", "environment_key": "serverless", "spark_python_task": {"python_file": "dbfs:/x.py"}}]);
    let queued_job = create_job(&c, json!({"name": "q", "tasks": task, "queue": {"enabled": true}})).await;
    let first = post(&c, "/api/2.2/jobs/run-now", json!({"job_id": queued_job})).await;
    let second = post(&c, "/api/2.2/jobs/run-now", json!({"job_id": queued_job})).await;
    let waiting = get(&c, "/api/2.2/jobs/runs/get", json!({"run_id": second["run_id"]})).await;
    assert_eq!(waiting["state"]["life_cycle_state"], "QUEUED");
    let first_done = finished_run(&c, &first["run_id"]).await;
    let second_done = finished_run(&c, &second["run_id"]).await;
    assert_eq!(second_done["state"]["result_state"], "SUCCESS");
    assert!(second_done["tasks"][0]["start_time"].as_i64() >= first_done["end_time"].as_i64());

    let skip_job = create_job(&c, json!({"name": "s", "tasks": task, "queue": {"enabled": false}})).await;
    post(&c, "/api/2.2/jobs/run-now", json!({"job_id": skip_job})).await;
    let skipped = post(&c, "/api/2.2/jobs/run-now", json!({"job_id": skip_job})).await;
    let skipped = get(&c, "/api/2.2/jobs/runs/get", json!({"run_id": skipped["run_id"]})).await;
    assert_eq!(skipped["state"]["life_cycle_state"], "SKIPPED");
    assert_eq!(skipped["state"]["result_state"], "MAXIMUM_CONCURRENT_RUNS_REACHED");
}

#[tokio::test]
async fn queued_runs_take_the_slots_as_they_free_and_never_more() {
    let (_emulator, c) = start_with(fast().task_duration(std::time::Duration::from_millis(100))).await;
    let task =
        json!([{"task_key": "t", "environment_key": "serverless", "spark_python_task": {"python_file": "dbfs:/x.py"}}]);
    let job =
        create_job(&c, json!({"name": "two", "tasks": task, "max_concurrent_runs": 2, "queue": {"enabled": true}}))
            .await;
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(post(&c, "/api/2.2/jobs/run-now", json!({"job_id": job})).await["run_id"].clone());
    }
    // Cancelling a queued run frees no slot it never held.
    post(&c, "/api/2.2/jobs/runs/cancel", json!({"run_id": runs[4]})).await;
    poll(500, || async {
        let active = get(&c, "/api/2.2/jobs/runs/list", json!({"job_id": job, "active_only": true})).await;
        let states: Vec<String> = active["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["state"]["life_cycle_state"].as_str().unwrap_or_default().to_string())
            .collect();
        let started = states.iter().filter(|s| s.as_str() != "QUEUED").count();
        assert!(started <= 2, "at most two started at once: {states:?}");
        states.is_empty().then_some(Value::Null)
    })
    .await;
    for run in &runs[..4] {
        assert_eq!(finished_run(&c, run).await["state"]["result_state"], "SUCCESS");
    }
    assert_eq!(finished_run(&c, &runs[4]).await["state"]["result_state"], "CANCELED");
}

#[tokio::test]
async fn cancel_repair_and_retries() {
    let (_emulator, c) = start_with(fast().task_duration(std::time::Duration::from_millis(400))).await;
    upload(&c, "/Shared/flaky", "raise ValueError('flaky')").await;
    let cancel_job = create_job(&c, json!({"name": "long", "tasks": [{"task_key": "t", "new_cluster": cluster_spec(), "spark_jar_task": {"main_class_name": "M"}}]})).await;
    let long = post(&c, "/api/2.2/jobs/run-now", json!({"job_id": cancel_job})).await;
    post(&c, "/api/2.2/jobs/runs/cancel", json!({"run_id": long["run_id"]})).await;
    let cancelled = finished_run(&c, &long["run_id"]).await;
    assert_eq!(cancelled["state"]["result_state"], "CANCELED");
    assert_eq!(cancelled["state"]["user_cancelled_or_timedout"], true);

    // Repair: fix the notebook, rerun the failed task.
    let retry_job = create_job(&c, json!({"name": "retry", "tasks": [
        {"task_key": "t", "new_cluster": cluster_spec(), "max_retries": 1, "notebook_task": {"notebook_path": "/Shared/flaky"}},
    ]})).await;
    let run = post(&c, "/api/2.2/jobs/run-now", json!({"job_id": retry_job})).await;
    let failed = finished_run(&c, &run["run_id"]).await;
    let attempts: Vec<i64> =
        failed["tasks"].as_array().expect("tasks").iter().filter_map(|t| t["attempt_number"].as_i64()).collect();
    assert_eq!(attempts, vec![0, 1], "one retry after the first failure");
    upload(&c, "/Shared/flaky", "dbutils.notebook.exit('fixed')").await;
    let repair =
        post(&c, "/api/2.2/jobs/runs/repair", json!({"run_id": run["run_id"], "rerun_all_failed_tasks": true})).await;
    assert!(repair["repair_id"].as_i64().is_some());
    let repaired = finished_run(&c, &run["run_id"]).await;
    assert_eq!(repaired["state"]["result_state"], "SUCCESS");
    assert_eq!(repaired["repair_history"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn job_validation_errors() {
    let (_emulator, c) = start().await;
    let nb = |k: &str, deps: Value| json!({"task_key": k, "depends_on": deps, "existing_cluster_id": "c", "notebook_task": {"notebook_path": "/n"}});
    let cases = [
        (
            json!({"tasks": [nb("a", json!([{"task_key": "a"}]))]}),
            "Invalid dependency graph, task 'a' can not reference itself.",
        ),
        (
            json!({"tasks": [nb("a", json!([{"task_key": "zz"}]))]}),
            "Invalid dependency graph, task 'a' depends on task 'zz' which does not exist.",
        ),
        (
            json!({"tasks": [nb("a", json!([{"task_key": "b"}])), nb("b", json!([{"task_key": "a"}]))]}),
            "Invalid dependency graph, cycle detected: a -> b -> a.",
        ),
        (
            json!({"tasks": [nb("a", json!([])), nb("a", json!([]))]}),
            "Task key 'a' is duplicated; task keys must be unique within a job.",
        ),
        (
            json!({"tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/n"}}]}),
            "One of job_cluster_key, new_cluster, or existing_cluster_id must be specified.",
        ),
    ];
    for (settings, message) in cases {
        let err = c.api().post::<Value>("/api/2.2/jobs/create", &settings).await.expect_err(message);
        assert_eq!((err.kind(), err.message()), (ErrorKind::InvalidParameterValue, message));
    }
    let err = c.api().get::<Value>("/api/2.2/jobs/get", &json!({"job_id": 424242})).await.expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::ResourceDoesNotExist);
    let err = c.api().get::<Value>("/api/2.2/jobs/runs/get", &json!({"run_id": 424242})).await.expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::ResourceDoesNotExist);
}

#[tokio::test]
async fn jobs_list_pages_and_get_pages_large_task_lists() {
    let (_emulator, c) = start().await;
    let tasks: Vec<Value> = (0..230).map(|i| json!({"task_key": format!("t{i:03}"), "existing_cluster_id": "c", "spark_jar_task": {"main_class_name": "M"}})).collect();
    let big = create_job(&c, json!({"name": "big", "tasks": tasks})).await;
    for i in 0..4 {
        create_job(&c, json!({"name": format!("small-{i}")})).await;
    }
    let first = get(&c, "/api/2.2/jobs/get", json!({"job_id": big})).await;
    assert_eq!(first["settings"]["tasks"].as_array().map(Vec::len), Some(100));
    let mut all: Vec<Value> = first["settings"]["tasks"].as_array().cloned().unwrap_or_default();
    let mut token = first["next_page_token"].as_str().map(str::to_string);
    while let Some(t) = token {
        let page = get(&c, "/api/2.2/jobs/get", json!({"job_id": big, "page_token": t})).await;
        all.extend(page["settings"]["tasks"].as_array().cloned().unwrap_or_default());
        token = page["next_page_token"].as_str().map(str::to_string);
    }
    assert_eq!(all.len(), 230);
    // 2.1 returns the whole array.
    let whole = get(&c, "/api/2.1/jobs/get", json!({"job_id": big})).await;
    assert_eq!(whole["settings"]["tasks"].as_array().map(Vec::len), Some(230));

    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = get(&c, "/api/2.2/jobs/list", json!({"limit": 2, "page_token": token})).await;
        names.extend(
            page["jobs"]
                .as_array()
                .expect("jobs")
                .iter()
                .map(|j| j["settings"]["name"].as_str().unwrap_or_default().to_string()),
        );
        assert!(page["jobs"][0]["settings"].get("tasks").is_none(), "tasks only with expand_tasks");
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(names, vec!["big", "small-0", "small-1", "small-2", "small-3"]);
    let named = get(&c, "/api/2.2/jobs/list", json!({"name": "SMALL-2"})).await;
    assert_eq!(named["jobs"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn jobs_list_pages_by_cursor_under_concurrent_changes() {
    let (_emulator, c) = start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create_job(&c, json!({"name": format!("j{i}")})).await);
    }
    let ids_of = |page: &Value| -> Vec<i64> {
        page["jobs"]
            .as_array()
            .map(|jobs| jobs.iter().filter_map(|j| j["job_id"].as_i64()).collect())
            .unwrap_or_default()
    };
    let first = get(&c, "/api/2.2/jobs/list", json!({"limit": 2})).await;
    let mut seen = ids_of(&first);
    // Between two pages a job of the first page goes and a new one comes:
    // an offset would now skip the third job.
    c.api().post::<Value>("/api/2.2/jobs/delete", &json!({"job_id": ids[0]})).await.expect("delete");
    let newest = create_job(&c, json!({"name": "j5"})).await;
    let mut token = first["next_page_token"].as_str().map(str::to_string);
    while let Some(t) = token {
        let page = get(&c, "/api/2.2/jobs/list", json!({"limit": 2, "page_token": t})).await;
        seen.extend(ids_of(&page));
        token = page["next_page_token"].as_str().map(str::to_string);
    }
    assert_eq!(seen, vec![ids[0], ids[1], ids[2], ids[3], ids[4], newest]);
    // A made-up token, an offset in its place or a hostile number is a clear 400.
    for bad in ["2", "18446744073709551615", "am9iczp4", "%%%"] {
        let err = c.api().get::<Value>("/api/2.2/jobs/list", &json!({"page_token": bad})).await.expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{bad}");
    }
    let legacy = get(&c, "/api/2.1/jobs/list", json!({"limit": 2, "offset": 3})).await;
    assert_eq!(ids_of(&legacy), vec![ids[4], newest]);
}

#[tokio::test]
async fn workspace_secrets_and_acl_errors() {
    let (emulator, c) = start_with(fast().user("analyst@example.com", "analyst-token")).await;
    upload(&c, "/Users/admin@example.com/nb", "print(1)").await;
    let err = c
        .api()
        .get::<Value>("/api/2.0/workspace/get-status", &json!({"path": "/Users/nobody/x"}))
        .await
        .expect_err("missing");
    assert_eq!((err.kind(), err.message()), (ErrorKind::ResourceDoesNotExist, "Path (/Users/nobody/x) doesn't exist."));
    let err = c
        .api()
        .post::<Value>(
            "/api/2.0/workspace/import",
            &json!({"path": "/No/Parent/x", "content": "", "format": "SOURCE", "language": "PYTHON"}),
        )
        .await
        .expect_err("parent");
    assert_eq!(err.message(), "The parent folder (/No/Parent) does not exist.");
    let err = c
        .api()
        .post::<Value>("/api/2.0/workspace/delete", &json!({"path": "/Users/admin@example.com"}))
        .await
        .expect_err("non-empty");
    assert_eq!(err.error_code(), Some("DIRECTORY_NOT_EMPTY"));

    post(&c, "/api/2.0/secrets/scopes/create", json!({"scope": "team"})).await;
    post(&c, "/api/2.0/secrets/put", json!({"scope": "team", "key": "k", "string_value": "v"})).await;
    let analyst = client(&emulator, "analyst-token").await;
    let err = analyst.api().get::<Value>("/api/2.0/secrets/list", &json!({"scope": "team"})).await.expect_err("no acl");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    post(
        &c,
        "/api/2.0/secrets/acls/put",
        json!({"scope": "team", "principal": "analyst@example.com", "permission": "READ"}),
    )
    .await;
    let listed: Value = analyst.api().get("/api/2.0/secrets/list", &json!({"scope": "team"})).await.expect("read ok");
    assert_eq!(listed["secrets"][0]["key"], "k");
    let err = analyst
        .api()
        .post::<Value>("/api/2.0/secrets/put", &json!({"scope": "team", "key": "k2", "string_value": "v"}))
        .await
        .expect_err("read only");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    let err = c
        .api()
        .get::<Value>("/api/2.0/secrets/acls/get", &json!({"scope": "team", "principal": "ghost"}))
        .await
        .expect_err("no acl");
    assert_eq!(err.kind(), ErrorKind::ResourceDoesNotExist);
    // An entry names a principal that exists; a scope, a backend there is.
    let ghost = json!({"scope": "team", "principal": "ghost@example.com", "permission": "READ"});
    let err = c.api().post::<Value>("/api/2.0/secrets/acls/put", &ghost).await.expect_err("no such principal");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{err}");
    let odd = json!({"scope": "odd", "scope_backend_type": "SOMEWHERE"});
    let err = c.api().post::<Value>("/api/2.0/secrets/scopes/create", &odd).await.expect_err("no such backend");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{err}");
    let err = c
        .api()
        .post::<Value>("/api/2.0/secrets/scopes/create", &json!({"scope": "bad name!"}))
        .await
        .expect_err("name");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue);
}

#[tokio::test]
async fn files_and_dbfs() {
    let (_emulator, c) = start().await;
    c.api()
        .request(brickwork::transport::Method::PUT, "/api/2.0/fs/files/Volumes/main/raw/in/a.csv")
        .bytes("x,y\n1,2\n")
        .send()
        .await
        .expect("upload");
    let down = c
        .api()
        .request(brickwork::transport::Method::GET, "/api/2.0/fs/files/Volumes/main/raw/in/a.csv")
        .send()
        .await
        .expect("download");
    assert_eq!(down.bytes().as_ref(), b"x,y\n1,2\n");
    let listing = get(&c, "/api/2.0/fs/directories/Volumes/main/raw/in", json!({})).await;
    assert_eq!(listing["contents"][0]["name"], "a.csv");
    let err = c
        .api()
        .request(brickwork::transport::Method::PUT, "/api/2.0/fs/files/Volumes/main/raw/in/a.csv?overwrite=false")
        .bytes("z")
        .send()
        .await
        .expect_err("exists");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    post(&c, "/api/2.0/dbfs/put", json!({"path": "dbfs:/tmp/x.txt", "contents": "aGVsbG8=", "overwrite": true})).await;
    let read = get(&c, "/api/2.0/dbfs/read", json!({"path": "/tmp/x.txt"})).await;
    assert_eq!((read["bytes_read"].as_i64(), read["data"].as_str()), (Some(5), Some("aGVsbG8=")));
}

#[tokio::test]
async fn warehouses_and_statements() {
    let (_emulator, c) = start().await;
    let id =
        post(&c, "/api/2.0/sql/warehouses", json!({"name": "wh", "cluster_size": "2X-Small", "max_num_clusters": 1}))
            .await["id"]
            .as_str()
            .expect("id")
            .to_string();
    let done = post(
        &c,
        "/api/2.0/sql/statements",
        json!({"statement": "SELECT 1 AS one, 'x' AS s", "warehouse_id": id, "wait_timeout": "10s"}),
    )
    .await;
    assert_eq!(done["status"]["state"], "SUCCEEDED");
    assert_eq!(done["result"]["data_array"], json!([["1", "x"]]));
    let failed = post(&c, "/api/2.0/sql/statements", json!({"statement": "SELECT nope", "warehouse_id": id})).await;
    assert_eq!(failed["status"]["state"], "FAILED", "execution failures are HTTP 200");
    post(&c, format!("/api/2.0/sql/warehouses/{id}/stop").as_str(), json!({})).await;
    poll(200, || async {
        let w = get(&c, &format!("/api/2.0/sql/warehouses/{id}"), json!({})).await;
        (w["state"] == "STOPPED").then_some(w)
    })
    .await;
    let pending =
        post(&c, "/api/2.0/sql/statements", json!({"statement": "SELECT 2", "warehouse_id": id, "wait_timeout": "0s"}))
            .await;
    assert_eq!(pending["status"]["state"], "PENDING", "a stopped warehouse starts first");
    let sid = pending["statement_id"].as_str().expect("id").to_string();
    let finished = poll(200, || async {
        let st = get(&c, &format!("/api/2.0/sql/statements/{sid}"), json!({})).await;
        (st["status"]["state"] == "SUCCEEDED").then_some(st)
    })
    .await;
    assert_eq!(finished["result"]["data_array"], json!([["2"]]));
}

#[tokio::test]
async fn oauth_m2m_with_brickwork_refreshes_short_tokens() {
    let emulator = fast().oauth_token_lifetime(std::time::Duration::from_secs(2)).start().await.expect("start");
    let cfg = Config::builder()
        .host(emulator.url())
        .client_id("sp-id")
        .client_secret("sp-secret")
        .without_environment()
        .build()
        .expect("cfg");
    let sp = Client::new(cfg).await.expect("client");
    assert_eq!(sp.auth_type(), "oauth-m2m");
    assert_eq!(get(&sp, "/api/2.0/preview/scim/v2/Me", json!({})).await["userName"], "sp-id");
    // Past half the lifetime the client refreshes instead of using an expiring token.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(get(&sp, "/api/2.0/preview/scim/v2/Me", json!({})).await["userName"], "sp-id");
    let cfg = Config::builder()
        .host(emulator.url())
        .client_id("sp-id")
        .client_secret("wrong")
        .without_environment()
        .build()
        .expect("cfg");
    let bad = Client::new(cfg).await.expect("discovery works");
    let err = bad.api().get::<Value>("/api/2.0/preview/scim/v2/Me", &()).await.expect_err("bad secret");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.message().contains("invalid_client"));
}

#[tokio::test]
async fn several_workspaces_are_isolated() {
    let (a, ca) = start().await;
    let (b, cb) = start().await;
    assert_ne!(a.url(), b.url());
    let cross = client(&b, a.token()).await;
    let err = cross.api().get::<Value>("/api/2.0/preview/scim/v2/Me", &()).await.expect_err("a's token on b");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    post(&ca, "/api/2.1/clusters/create", cluster_spec()).await;
    assert_eq!(a.counters().clusters_total, 1);
    assert_eq!(b.counters().clusters_total, 0);
    assert!(get(&cb, "/api/2.1/clusters/list", json!({})).await.get("clusters").is_none());
}

#[tokio::test]
async fn a_task_run_id_shows_the_task_and_the_job_run_id_has_no_output_even_for_one_task() {
    let (_emulator, c) = start().await;
    upload(&c, "/Shared/boom", "raise RuntimeError('disk full')").await;
    let run = post(&c, "/api/2.2/jobs/runs/submit", json!({"run_name": "x", "tasks": [
        {"task_key": "a", "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/boom"}},
        {"task_key": "b", "depends_on": [{"task_key": "a"}], "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/boom"}},
    ]})).await;
    let run = finished_run(&c, &run["run_id"]).await;
    assert_eq!(run["state"]["result_state"], "FAILED");
    let b = run["tasks"].as_array().and_then(|t| t.iter().find(|t| t["task_key"] == "b")).expect("b").clone();
    let task = get(&c, "/api/2.2/jobs/runs/get", json!({"run_id": b["run_id"]})).await;
    assert_eq!(task["run_id"], b["run_id"]);
    assert_eq!(task["state"]["result_state"], "UPSTREAM_FAILED", "the task's state, not the run's: {task}");
    assert_eq!(task["tasks"].as_array().map(Vec::len), Some(1));
    let output = get(&c, "/api/2.2/jobs/runs/get-output", json!({"run_id": b["run_id"]})).await;
    assert_eq!(output["metadata"]["state"]["result_state"], "UPSTREAM_FAILED");

    let single = post(
        &c,
        "/api/2.1/jobs/runs/submit",
        json!({"run_name": "one", "tasks": [
            {"task_key": "only", "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/boom"}},
        ]}),
    )
    .await;
    finished_run(&c, &single["run_id"]).await;
    let err = c
        .api()
        .get::<Value>("/api/2.1/jobs/runs/get-output", &json!({"run_id": single["run_id"]}))
        .await
        .expect_err("a job run id is refused even with one task");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue);
    assert!(err.message().starts_with("Retrieving the output of runs with multiple tasks is not supported"));
}

#[tokio::test]
async fn run_now_only_runs_the_picked_tasks_without_waiting_for_the_others() {
    let (_emulator, c) = start().await;
    upload(&c, "/Shared/etl/silver", "dbutils.notebook.exit('silver done')").await;
    let job_id = create_job(&c, json!({
        "name": "etl",
        "tasks": [
            {"task_key": "bronze", "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/etl/silver"}},
            {"task_key": "silver", "depends_on": [{"task_key": "bronze"}], "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/etl/silver"}},
        ],
    })).await;
    let started = post(&c, "/api/2.2/jobs/run-now", json!({"job_id": job_id, "only": ["silver"]})).await;
    let run = finished_run(&c, &started["run_id"]).await;
    assert_eq!(run["state"]["result_state"], "SUCCESS", "{run}");
    let keys: Vec<&str> =
        run["tasks"].as_array().expect("tasks").iter().filter_map(|t| t["task_key"].as_str()).collect();
    assert_eq!(keys, ["silver"]);

    let err = c
        .api()
        .post::<Value>("/api/2.2/jobs/run-now", &json!({"job_id": job_id, "only": ["silvr"]}))
        .await
        .expect_err("a task the job does not have");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue);
    assert!(err.message().contains("silvr"), "{err:?}");
}

#[tokio::test]
async fn azure_and_gcp_node_types_and_ml_runtimes_are_accepted() {
    let (_emulator, c) = start().await;
    for (node, runtime) in [
        ("Standard_DS3_v2", "15.4.x-scala2.12"),
        ("n2-standard-4", "16.4.x-scala2.12"),
        ("g4dn.xlarge", "16.4.x-gpu-ml-scala2.12"),
    ] {
        let spec = json!({"cluster_name": node, "spark_version": runtime, "node_type_id": node, "num_workers": 1});
        let created = post(&c, "/api/2.1/clusters/create", spec).await;
        assert!(created["cluster_id"].is_string(), "{node} on {runtime}: {created}");
    }
    let listed = get(&c, "/api/2.1/clusters/list-node-types", json!({})).await;
    let ids: Vec<&str> =
        listed["node_types"].as_array().expect("types").iter().filter_map(|t| t["node_type_id"].as_str()).collect();
    assert!(
        ids.contains(&"Standard_DS3_v2") && ids.contains(&"n2-standard-4") && ids.contains(&"i3.xlarge"),
        "{ids:?}"
    );
    let bad = json!({"cluster_name": "x", "spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_Bogus", "num_workers": 1});
    let err = c.api().post::<Value>("/api/2.1/clusters/create", &bad).await.expect_err("unknown node type");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue);
}

#[tokio::test]
async fn a_task_past_its_timeout_ends_timed_out_and_retries_only_with_retry_on_timeout() {
    let (_emulator, c) = start_with(fast().task_duration(std::time::Duration::from_secs(4))).await;
    upload(&c, "/Shared/slow", "dbutils.notebook.exit('late')").await;
    let task = |key: &str| json!({"task_key": key, "new_cluster": cluster_spec(), "timeout_seconds": 1, "notebook_task": {"notebook_path": "/Shared/slow"}});
    let mut retried = task("retried");
    retried["retry_on_timeout"] = json!(true);
    retried["max_retries"] = json!(1);
    let mut once = task("once");
    once["max_retries"] = json!(3);
    let run = post(&c, "/api/2.2/jobs/runs/submit", json!({"run_name": "slow", "tasks": [once, retried]})).await;
    let run = finished_run(&c, &run["run_id"]).await;
    assert_eq!(run["state"]["result_state"], "TIMEDOUT", "{run}");
    let attempts = |key: &str| -> Vec<Value> {
        run["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter(|t| t["task_key"] == key)
            .map(|t| t["state"]["result_state"].clone())
            .collect()
    };
    assert_eq!(attempts("once"), [json!("TIMEDOUT")], "no retry of a timeout without retry_on_timeout");
    assert_eq!(attempts("retried"), [json!("TIMEDOUT"), json!("TIMEDOUT")]);
}

#[tokio::test]
async fn files_api_paths_count_a_run_of_slashes_as_one() {
    let (_emulator, c) = start().await;
    let request = |method, path: &str| c.api().request(method, path);
    request(brickwork::transport::Method::PUT, "/api/2.0/fs/files//Volumes/main/raw//in/b.csv")
        .bytes("1\n")
        .send()
        .await
        .expect("upload through doubled slashes");
    let down = request(brickwork::transport::Method::GET, "/api/2.0/fs/files/Volumes/main/raw/in/b.csv")
        .send()
        .await
        .expect("the same file by its plain path");
    assert_eq!(down.bytes().as_ref(), b"1\n");
    let listing = get(&c, "/api/2.0/fs/directories/Volumes//main/raw/in/", json!({})).await;
    assert_eq!(listing["contents"][0]["path"], "/Volumes/main/raw/in/b.csv");
}

#[tokio::test]
async fn statements_answer_at_once_with_0s_and_hand_results_out_by_link() {
    let (_emulator, c) = start().await;
    let id = post(&c, "/api/2.0/sql/warehouses", json!({"name": "wh", "cluster_size": "2X-Small"})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let run = |extra: Value| {
        let mut body = json!({"statement": "SELECT 7 AS n, 'a,b' AS s", "warehouse_id": id, "wait_timeout": "10s"});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        body
    };
    // Warmed up, a 0s call still answers before the statement ran.
    post(&c, "/api/2.0/sql/statements", run(json!({}))).await;
    let pending = post(&c, "/api/2.0/sql/statements", run(json!({"wait_timeout": "0s"}))).await;
    assert_eq!(pending["status"]["state"], "PENDING");

    let linked = post(&c, "/api/2.0/sql/statements", run(json!({"disposition": "EXTERNAL_LINKS"}))).await;
    assert_eq!(linked["status"]["state"], "SUCCEEDED");
    let link = linked["result"]["external_links"][0]["external_link"].as_str().expect("link").to_string();
    assert!(linked["result"].get("data_array").is_none());
    // Storage links carry their own credential: no workspace token is sent.
    let rows: Value = reqwest::get(&link).await.expect("fetch").json().await.expect("json");
    assert_eq!(rows, json!([["7", "a,b"]]));
    let forged = reqwest::get(link.replace("signature=", "signature=x")).await.expect("fetch");
    assert_eq!(forged.status().as_u16(), 403);
    let csv = post(&c, "/api/2.0/sql/statements", run(json!({"disposition": "EXTERNAL_LINKS", "format": "CSV"}))).await;
    assert_eq!(csv["manifest"]["format"], "CSV");
    let url = csv["result"]["external_links"][0]["external_link"].as_str().expect("link");
    assert_eq!(reqwest::get(url).await.expect("fetch").text().await.expect("text"), "7,\"a,b\"\n");

    let refused = c.api().post::<Value>("/api/2.0/sql/statements", &run(json!({"format": "CSV"}))).await;
    assert!(refused.expect_err("inline csv").message().contains("JSON_ARRAY"));
    let arrow = run(json!({"disposition": "EXTERNAL_LINKS", "format": "ARROW_STREAM"}));
    assert_eq!(c.api().post::<Value>("/api/2.0/sql/statements", &arrow).await.expect_err("arrow").status(), Some(501));

    let legacy = get(&c, "/api/2.0/sql/endpoints", json!({})).await;
    assert_eq!(legacy["endpoints"][0]["id"], id.as_str());
    assert_eq!(get(&c, &format!("/api/2.0/sql/endpoints/{id}"), json!({})).await["name"], "wh");
}

/// `jobs/list?name=` finds jobs by name without regard to case, and follows
/// renames by update and reset, and deletes.
#[tokio::test]
async fn a_job_listed_by_name_follows_renames_and_deletes() {
    let (_emulator, c) = start().await;
    let by_name = |c: Client, name: &'static str| async move {
        let page = get(&c, "/api/2.2/jobs/list", json!({"name": name})).await;
        page["jobs"].as_array().map_or(0, Vec::len)
    };
    let id = post(&c, "/api/2.2/jobs/create", json!({"name": "Alpha"})).await["job_id"].clone();
    post(&c, "/api/2.2/jobs/create", json!({"name": "alpha"})).await;
    assert_eq!(by_name(c.clone(), "ALPHA").await, 2);
    post(&c, "/api/2.2/jobs/update", json!({"job_id": id, "new_settings": {"name": "Beta"}})).await;
    assert_eq!((by_name(c.clone(), "alpha").await, by_name(c.clone(), "beta").await), (1, 1));
    post(&c, "/api/2.2/jobs/reset", json!({"job_id": id, "new_settings": {"name": "Gamma"}})).await;
    assert_eq!((by_name(c.clone(), "beta").await, by_name(c.clone(), "gamma").await), (0, 1));
    post(&c, "/api/2.2/jobs/delete", json!({"job_id": id})).await;
    assert_eq!(by_name(c.clone(), "gamma").await, 0);
}

/// `workspace/list` answers a folder's own entries in name order, stepping
/// over its subfolders' contents (names that sort around `/` included).
#[tokio::test]
async fn a_workspace_listing_holds_only_the_folders_own_entries() {
    let (_emulator, c) = start().await;
    for path in ["/Shared/t/a/x/y", "/Shared/t/a-b", "/Shared/t/b/z"] {
        post(&c, "/api/2.0/workspace/mkdirs", json!({"path": path})).await;
    }
    upload(&c, "/Shared/t/a0", "print(1)").await;
    upload(&c, "/Shared/t/a/x/nb", "print(2)").await;
    let listed = get(&c, "/api/2.0/workspace/list", json!({"path": "/Shared/t"})).await;
    let paths: Vec<&str> =
        listed["objects"].as_array().into_iter().flatten().filter_map(|o| o["path"].as_str()).collect();
    assert_eq!(paths, ["/Shared/t/a", "/Shared/t/a-b", "/Shared/t/a0", "/Shared/t/b"], "{listed}");
    let deeper = get(&c, "/api/2.0/workspace/list", json!({"path": "/Shared/t/a/x"})).await;
    let paths: Vec<&str> =
        deeper["objects"].as_array().into_iter().flatten().filter_map(|o| o["path"].as_str()).collect();
    assert_eq!(paths, ["/Shared/t/a/x/nb", "/Shared/t/a/x/y"]);

    // A recursive delete takes everything under the folder, however its
    // siblings' names sort among its contents (`a-b` between `a` and `a/`).
    post(&c, "/api/2.0/workspace/delete", json!({"path": "/Shared/t/a", "recursive": true})).await;
    let err = c.api().get::<Value>("/api/2.0/workspace/get-status", &json!({"path": "/Shared/t/a/x/nb"})).await;
    assert!(err.expect_err("gone with its folder").is(ErrorKind::ResourceDoesNotExist));
    get(&c, "/api/2.0/workspace/get-status", json!({"path": "/Shared/t/a-b"})).await;
}

/// A notebook's exit value is kept up to 5 MB, as `runs/get-output` answers
/// it: a longer one is cut there and marked truncated, and what is kept
/// counts against the storage budget with its run.
#[tokio::test]
async fn a_notebook_output_past_five_megabytes_is_truncated_and_counted() {
    let (emulator, c) = start().await;
    let long = "é".repeat(3 * 1024 * 1024);
    upload(&c, "/Shared/out/long", &format!("dbutils.notebook.exit('{long}')")).await;
    let task =
        json!({"task_key": "t", "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/out/long"}});
    let before = emulator.counters().stored_bytes;
    let submitted = post(&c, "/api/2.2/jobs/runs/submit", json!({"run_name": "long", "tasks": [task]})).await;
    let run = finished_run(&c, &submitted["run_id"]).await;
    assert_eq!(run["state"]["result_state"], "SUCCESS", "{run}");
    assert!(emulator.counters().stored_bytes >= before + 5 * 1024 * 1024 - 1, "the kept output counts");
    let out = get(&c, "/api/2.2/jobs/runs/get-output", json!({"run_id": run["tasks"][0]["run_id"]})).await;
    let result = out["notebook_output"]["result"].as_str().expect("a result");
    assert_eq!(out["notebook_output"]["truncated"], true);
    assert!(result.len() <= 5 * 1024 * 1024 && result.len() > 5 * 1024 * 1024 - 2, "{}", result.len());
    assert!(result.chars().all(|c| c == 'é'), "cut on a character boundary");
}

//! Services as parts of one workspace: a cluster gone takes what lived on
//! it; finished runs leave after their retention; listings page through
//! indexes, consistently while runs come and go.

mod common;

use std::time::Duration;

use brickwork::transport::Method;
use brickwork::ErrorKind;
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_cluster_permanently_deleted_takes_its_libraries_and_contexts_with_it() {
    let (emulator, c) = start().await;
    let id = post(&c, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].as_str().expect("id").to_string();
    cluster_state(&c, &id, "RUNNING").await;
    let library = json!({"pypi": {"package": "requests"}});
    post(&c, "/api/2.0/libraries/install", json!({"cluster_id": id, "libraries": [library]})).await;
    post(&c, "/api/1.2/contexts/create", json!({"clusterId": id, "language": "python"})).await;
    let before = emulator.counters();
    assert_eq!((before.clusters_with_libraries, before.execution_contexts), (1, 1));

    post(&c, "/api/2.1/clusters/permanent-delete", json!({"cluster_id": id})).await;
    let after = emulator.counters();
    assert_eq!((after.clusters_with_libraries, after.execution_contexts), (0, 0), "gone with their cluster");
    let err = c
        .api()
        .get::<Value>("/api/2.0/libraries/cluster-status", &json!({"cluster_id": id}))
        .await
        .expect_err("no cluster");
    assert!(err.is(ErrorKind::ResourceDoesNotExist) || err.is(ErrorKind::InvalidParameterValue), "{err}");
}

async fn one_task_job(c: &brickwork::Client) -> Value {
    upload(c, "/Shared/ok", "dbutils.notebook.exit('ok')").await;
    let task =
        json!({"task_key": "t", "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/ok"}});
    post(c, "/api/2.2/jobs/create", json!({"name": "kept", "tasks": [task], "max_concurrent_runs": 10})).await["job_id"]
        .clone()
}

#[tokio::test]
async fn finished_runs_leave_when_their_retention_runs_out_and_active_ones_stay() {
    // One emulated minute of retention, a minute of 400 ms.
    let builder = fast().minute(Duration::from_millis(400)).run_retention_minutes(1);
    let (emulator, c) = start_with(builder).await;
    let job_id = one_task_job(&c).await;
    let run_id = post(&c, "/api/2.2/jobs/run-now", json!({"job_id": job_id})).await["run_id"].clone();
    let run = finished_run(&c, &run_id).await;
    assert_eq!(run["state"]["result_state"], "SUCCESS");
    let task_run = run["tasks"][0]["run_id"].clone();
    assert_eq!(emulator.counters().runs_kept, 1);

    let gone = poll(100, || async {
        let kept = emulator.counters().runs_kept;
        (kept == 0).then_some(json!(kept))
    })
    .await;
    assert_eq!(gone, 0);
    for id in [&run_id, &task_run] {
        let err = c.api().get::<Value>("/api/2.2/jobs/runs/get", &json!({"run_id": id})).await.expect_err("dropped");
        assert!(err.is(ErrorKind::InvalidParameterValue) || err.is(ErrorKind::ResourceDoesNotExist), "{err}");
    }
    let listed = get(&c, "/api/2.2/jobs/runs/list", json!({"job_id": job_id})).await;
    assert!(listed.get("runs").is_none(), "{listed}");
}

#[tokio::test]
async fn runs_list_pages_newest_first_without_repeats_while_runs_are_added() {
    let (_emulator, c) = start().await;
    let job_id = one_task_job(&c).await;
    let mut started = Vec::new();
    for _ in 0..7 {
        started.push(post(&c, "/api/2.2/jobs/run-now", json!({"job_id": job_id})).await["run_id"].as_i64());
    }
    // Ids are as long as real ones: past 32 bits, within a JSON number's 53.
    let id = started[0].unwrap_or_default();
    assert!(id > i64::from(u32::MAX) && id < 1 << 53, "{id}");
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = json!({"job_id": job_id, "limit": 3});
        if let Some(t) = &token {
            query["page_token"] = json!(t);
        }
        let page = get(&c, "/api/2.2/jobs/runs/list", query).await;
        seen.extend(page["runs"].as_array().into_iter().flatten().map(|r| r["run_id"].as_i64()));
        // A run started between pages is newer: it must not appear in a later page.
        post(&c, "/api/2.2/jobs/run-now", json!({"job_id": job_id})).await;
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    started.reverse();
    assert_eq!(seen, started, "each of the first runs once, newest first");
    let forged = c.api().get::<Value>("/api/2.2/jobs/runs/list", &json!({"page_token": "9223372036854775807"})).await;
    assert_eq!(forged.expect_err("not a token").status(), Some(400));
}

#[tokio::test]
async fn terminated_clusters_leave_after_their_retention_unless_pinned() {
    let builder = fast().minute(std::time::Duration::from_millis(300)).terminated_cluster_retention_minutes(1);
    let (emulator, c) = start_with(builder).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id =
            post(&c, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].as_str().expect("id").to_string();
        cluster_state(&c, &id, "RUNNING").await;
        ids.push(id);
    }
    post(&c, "/api/2.1/clusters/pin", json!({"cluster_id": ids[1]})).await;
    for id in &ids {
        post(&c, "/api/2.1/clusters/delete", json!({"cluster_id": id})).await;
        cluster_state(&c, id, "TERMINATED").await;
    }
    poll(100, || async { (emulator.counters().clusters_total == 1).then_some(json!(1)) }).await;
    let gone = c.api().get::<Value>("/api/2.1/clusters/get", &json!({"cluster_id": ids[0]})).await;
    assert!(gone.expect_err("removed").is(ErrorKind::ResourceDoesNotExist));
    assert_eq!(
        get(&c, "/api/2.1/clusters/get", json!({"cluster_id": ids[1]})).await["state"],
        "TERMINATED",
        "pinned stays"
    );
}

#[tokio::test]
async fn misspelt_fields_are_dropped_not_stored_and_echoed() {
    let (_emulator, c) = start().await;
    let mut spec = cluster_spec();
    spec["num_wrokers"] = json!(9);
    let id = post(&c, "/api/2.1/clusters/create", spec).await["cluster_id"].as_str().expect("id").to_string();
    let got = get(&c, "/api/2.1/clusters/get", json!({"cluster_id": id})).await;
    assert!(got.get("num_wrokers").is_none() && got["spec"].get("num_wrokers").is_none(), "{got}");
    let task = json!({"task_key": "t", "existing_cluster_id": id, "notebok_task": {}, "notebook_task": {"notebook_path": "/x"}});
    let job = post(&c, "/api/2.2/jobs/create", json!({"name": "j", "tasks": [task], "max_concurent_runs": 3})).await;
    let got = get(&c, "/api/2.2/jobs/get", json!({"job_id": job["job_id"]})).await;
    assert!(got["settings"].get("max_concurent_runs").is_none(), "{got}");
    assert!(got["settings"]["tasks"][0].get("notebok_task").is_none(), "{got}");
    // A one-time run's tasks, and their clusters, the same way.
    let mut cluster = cluster_spec();
    cluster["num_wrokers"] = json!(9);
    let task =
        json!({"task_key": "t", "new_cluster": cluster, "notebok_task": {}, "notebook_task": {"notebook_path": "/x"}});
    let run = post(&c, "/api/2.2/jobs/runs/submit", json!({"run_name": "once", "tasks": [task]})).await;
    let got = get(&c, "/api/2.2/jobs/runs/get", json!({"run_id": run["run_id"]})).await;
    let shown = &got["tasks"][0];
    assert!(shown["notebook_task"].is_object() && shown["new_cluster"]["num_workers"] == 1, "{got}");
    assert!(shown.get("notebok_task").is_none() && shown["new_cluster"].get("num_wrokers").is_none(), "{got}");
    // Inside the task's objects too, at any depth; free-form maps keep their keys.
    let mut cluster = cluster_spec();
    cluster["aws_attributes"] = json!({"availability": "SPOT", "availabilty": "typo"});
    cluster["spark_conf"] = json!({"spark.any.key": "1"});
    let task = json!({"task_key": "deep", "new_cluster": cluster,
        "notebook_task": {"notebook_path": "/x", "notebok_path": "/typo", "base_parameters": {"free key": "v"}},
        "email_notifications": {"on_failure": ["a@example.com"], "on_falure": ["b@example.com"]}});
    let job = post(
        &c,
        "/api/2.2/jobs/create",
        json!({"name": "deep", "tasks": [task],
        "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC", "timezon": "typo"}}),
    )
    .await;
    let got = get(&c, "/api/2.2/jobs/get", json!({"job_id": job["job_id"]})).await;
    let task = &got["settings"]["tasks"][0];
    assert_eq!(task["notebook_task"], json!({"notebook_path": "/x", "base_parameters": {"free key": "v"}}), "{got}");
    assert_eq!(task["email_notifications"], json!({"on_failure": ["a@example.com"]}), "{got}");
    assert_eq!(task["new_cluster"]["aws_attributes"], json!({"availability": "SPOT"}), "{got}");
    assert_eq!(task["new_cluster"]["spark_conf"], json!({"spark.any.key": "1"}), "{got}");
    assert!(got["settings"]["schedule"].get("timezon").is_none(), "{got}");
    // Through the Clusters API, on create and on an update by field mask.
    let mut spec = cluster_spec();
    spec["aws_attributes"] = json!({"availability": "SPOT", "availabilty": "typo"});
    let id = post(&c, "/api/2.1/clusters/create", spec).await["cluster_id"].as_str().expect("id").to_string();
    let got = get(&c, "/api/2.1/clusters/get", json!({"cluster_id": id})).await;
    assert_eq!(got["aws_attributes"], json!({"availability": "SPOT"}), "{got}");
    cluster_state(&c, &id, "RUNNING").await;
    let update = json!({"cluster_id": id, "update_mask": "aws_attributes",
        "cluster": {"aws_attributes": {"zone_id": "auto", "zone_idd": "typo"}}});
    post(&c, "/api/2.1/clusters/update", update).await;
    let got = get(&c, "/api/2.1/clusters/get", json!({"cluster_id": id})).await;
    assert_eq!(got["aws_attributes"], json!({"zone_id": "auto"}), "{got}");
    let wh =
        post(&c, "/api/2.0/sql/warehouses", json!({"name": "w", "cluster_size": "2X-Small", "auto_stop_minutes": 5}))
            .await;
    let got = get(&c, &format!("/api/2.0/sql/warehouses/{}", wh["id"].as_str().expect("id")), json!({})).await;
    assert!(got.get("auto_stop_minutes").is_none(), "{got}");
}

/// A one-time run's tasks are pruned before they are checked, as a job's
/// are: a `null` field is absent, neither a second task type nor compute.
#[tokio::test]
async fn a_one_time_runs_null_fields_are_absent_as_in_a_job() {
    let (_emulator, c) = start().await;
    let task = json!({"task_key": "t", "new_cluster": cluster_spec(), "spark_python_task": null,
        "notebook_task": {"notebook_path": "/x"}});
    let run = post(&c, "/api/2.2/jobs/runs/submit", json!({"run_name": "once", "tasks": [task]})).await;
    assert!(run["run_id"].is_i64(), "{run}");
    let task = json!({"task_key": "t", "existing_cluster_id": null, "notebook_task": {"notebook_path": "/x"}});
    let err = c
        .api()
        .post::<Value>("/api/2.2/jobs/runs/submit", &json!({"run_name": "once", "tasks": [task]}))
        .await
        .expect_err("no compute");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{err}");
    let task = json!({"task_key": "t", "job_cluster_key": "shared", "notebook_task": {"notebook_path": "/x"}});
    let err = c
        .api()
        .post::<Value>("/api/2.2/jobs/runs/submit", &json!({"run_name": "once", "tasks": [task]}))
        .await
        .expect_err("no shared clusters in a one-time run");
    assert!(err.message().contains("job_cluster_key"), "{err}");
}

#[tokio::test]
async fn clusters_list_pages_without_repeats_while_clusters_are_created() {
    let (_emulator, c) = start().await;
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(
            post(&c, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].as_str().expect("id").to_string(),
        );
    }
    let mut seen: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = json!({"page_size": 2});
        if let Some(t) = &token {
            query["page_token"] = json!(t);
        }
        let page = get(&c, "/api/2.1/clusters/list", query).await;
        seen.extend(
            page["clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["cluster_id"].as_str())
                .map(str::to_string),
        );
        // A newer cluster sorts first: it must not shift the pages still to come.
        post(&c, "/api/2.1/clusters/create", cluster_spec()).await;
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let unique: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no cluster twice: {seen:?}");
    assert!(made.iter().all(|id| seen.contains(id)), "every first cluster listed: {seen:?}");
    let forged = c.api().get::<Value>("/api/2.1/clusters/list", &json!({"page_token": "page:2"})).await;
    assert_eq!(forged.expect_err("not a token").status(), Some(400));
}

#[tokio::test]
async fn an_idle_warehouse_stops_after_its_auto_stop_minutes_and_a_statement_starts_it() {
    let (_emulator, c) = start_with(fast().minute(std::time::Duration::from_millis(10))).await;
    let id =
        post(&c, "/api/2.0/sql/warehouses", json!({"name": "idle", "cluster_size": "2X-Small", "auto_stop_mins": 10}))
            .await["id"]
            .as_str()
            .expect("id")
            .to_string();
    let state = |c: &brickwork::Client| {
        let (c, id) = (c.clone(), id.clone());
        async move { get(&c, &format!("/api/2.0/sql/warehouses/{id}"), json!({})).await["state"].clone() }
    };
    poll(200, || async { (state(&c).await == "RUNNING").then_some(Value::Null) }).await;
    poll(200, || async { (state(&c).await == "STOPPED").then_some(Value::Null) }).await;
    let answer = post(
        &c,
        "/api/2.0/sql/statements",
        json!({"statement": "SELECT 1", "warehouse_id": id, "wait_timeout": "30s"}),
    )
    .await;
    assert_eq!(answer["status"]["state"], "SUCCEEDED", "{answer}");
}

/// A finished statement's result can be fetched for an emulated hour, then
/// the statement is `CLOSED`; after twelve hours `get` answers 404 and its
/// count goes back to the storage budget. Nothing else bounds the history.
#[tokio::test]
async fn statements_close_their_results_and_leave_after_their_retention() {
    let (emulator, c) = start_with(fast().minute(Duration::from_millis(5))).await;
    let warehouse = json!({"name": "wh", "cluster_size": "2X-Small", "auto_stop_mins": 0});
    let id = post(&c, "/api/2.0/sql/warehouses", warehouse).await["id"].as_str().expect("id").to_string();
    let before = emulator.counters().stored_bytes;
    let run = json!({"statement": "SELECT 1 AS one", "warehouse_id": id, "wait_timeout": "30s"});
    let answer = post(&c, "/api/2.0/sql/statements", run).await;
    assert_eq!(answer["status"]["state"], "SUCCEEDED", "{answer}");
    assert!(answer["result"].is_object(), "{answer}");
    assert!(emulator.counters().stored_bytes > before, "a kept statement counts");
    let statement_id = answer["statement_id"].as_str().expect("statement id").to_string();
    let path = format!("/api/2.0/sql/statements/{statement_id}");

    let closed = poll(1000, || async {
        let st = get(&c, &path, json!({})).await;
        (st["status"]["state"] == "CLOSED").then_some(st)
    })
    .await;
    assert!(closed.get("result").is_none() && closed.get("manifest").is_none(), "{closed}");
    let chunk = c.api().get::<Value>(&format!("{path}/result/chunks/0"), &json!({})).await;
    assert!(chunk.is_err(), "a closed result is gone: {chunk:?}");

    let gone = poll(2000, || async {
        let answer = c.api().get::<Value>(&path, &json!({})).await;
        answer.err().filter(|e| e.is(ErrorKind::NotFound)).map(|e| json!(e.to_string()))
    })
    .await;
    assert!(gone.as_str().is_some_and(|m| m.contains(&statement_id)), "{gone}");
    assert_eq!(emulator.counters().stored_bytes, before, "a dropped statement gives its count back");
}

/// `clusters/list` reads an index kept as clusters change: live clusters
/// newest first, then terminated ones; by name either way; a state filter;
/// and a cluster terminated or started again moves where it now belongs.
#[tokio::test]
async fn cluster_listings_follow_state_changes_in_every_order() {
    let (_emulator, c) = start().await;
    let mut ids = Vec::new();
    for name in ["x-a", "x-b", "x-c"] {
        let mut spec = cluster_spec();
        spec["cluster_name"] = json!(name);
        let id = post(&c, "/api/2.1/clusters/create", spec).await["cluster_id"].as_str().expect("id").to_string();
        cluster_state(&c, &id, "RUNNING").await;
        ids.push(id);
    }
    let (a, b, cc) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let listed = |mut query: Value| {
        let c = c.clone();
        query["page_size"] = json!(1);
        async move {
            let ids = all_pages(&c, "/api/2.1/clusters/list", query, "clusters", "cluster_id").await;
            ids.iter().filter_map(|id| id.as_str().map(str::to_string)).collect::<Vec<String>>()
        }
    };
    post(&c, "/api/2.1/clusters/delete", json!({"cluster_id": b})).await;
    cluster_state(&c, &b, "TERMINATED").await;
    assert_eq!(listed(json!({})).await, [cc.clone(), a.clone(), b.clone()], "live newest first, then terminated");
    let running = json!({"filter_by": {"cluster_states": ["RUNNING"]}});
    assert_eq!(listed(running.clone()).await, [cc.clone(), a.clone()]);
    assert_eq!(listed(json!({"filter_by": {"cluster_states": ["TERMINATED"]}})).await, std::slice::from_ref(&b));
    let by_name = json!({"sort_by": {"field": "CLUSTER_NAME", "direction": "ASC"}});
    assert_eq!(listed(by_name).await, [a.clone(), b.clone(), cc.clone()]);
    let by_name_desc = json!({"sort_by": {"field": "CLUSTER_NAME", "direction": "DESC"}});
    assert_eq!(listed(by_name_desc).await, [cc.clone(), b.clone(), a.clone()]);
    assert_eq!(listed(json!({"sort_by": {"direction": "DESC"}})).await, [b.clone(), a.clone(), cc.clone()]);

    post(&c, "/api/2.1/clusters/start", json!({"cluster_id": b})).await;
    cluster_state(&c, &b, "RUNNING").await;
    assert_eq!(listed(running).await, [cc, b, a], "started again: live, in creation order");
}

/// A statement waiting for its warehouse is cancelled when the warehouse is
/// stopped or deleted: it would otherwise wait, and be kept, for ever.
#[tokio::test]
async fn statements_waiting_on_a_stopped_or_deleted_warehouse_are_cancelled() {
    let (_emulator, c) = start().await;
    let id = post(&c, "/api/2.0/sql/warehouses", json!({"name": "w", "cluster_size": "2X-Small"})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let state = |path: String| {
        let c = c.clone();
        async move { get(&c, &path, json!({})).await }
    };
    for end in ["stop", "delete"] {
        poll(200, || async {
            let wh = state(format!("/api/2.0/sql/warehouses/{id}")).await;
            (wh["state"] == "RUNNING").then_some(wh)
        })
        .await;
        post(&c, &format!("/api/2.0/sql/warehouses/{id}/stop"), json!({})).await;
        poll(200, || async {
            let wh = state(format!("/api/2.0/sql/warehouses/{id}")).await;
            (wh["state"] == "STOPPED").then_some(wh)
        })
        .await;
        let run = json!({"statement": "SELECT 1", "warehouse_id": id, "wait_timeout": "0s"});
        let pending = post(&c, "/api/2.0/sql/statements", run).await;
        assert_eq!(pending["status"]["state"], "PENDING", "{pending}");
        match end {
            "stop" => post(&c, &format!("/api/2.0/sql/warehouses/{id}/stop"), json!({})).await,
            _ => c
                .api()
                .request(Method::DELETE, format!("/api/2.0/sql/warehouses/{id}").as_str())
                .send()
                .await
                .map(|_| json!({}))
                .expect("deleted"),
        };
        let st = state(format!("/api/2.0/sql/statements/{}", pending["statement_id"].as_str().expect("id"))).await;
        assert_eq!(st["status"]["state"], "CANCELED", "{end}: {st}");
        if end == "stop" {
            post(&c, &format!("/api/2.0/sql/warehouses/{id}/start"), json!({})).await;
        }
    }
}

//! The generated typed API against the emulator: calls, pagination, waiters,
//! and the wire semantics of generated types.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brickwork::service::compute::{ClusterDetails, ListClustersFilterBy, State};
use brickwork::service::jobs::{NotebookTask, RunLifeCycleState, RunResultState, SubmitTask, Task};
use brickwork::ErrorKind;
use serde_json::json;

mod support;
use support::{cluster_call_request, cluster_request, fast, quick, workspace};

#[tokio::test]
async fn cluster_waiters_succeed_fail_and_time_out_with_typed_errors() {
    let (_emulator, w) = workspace(fast()).await;
    let polls = Arc::new(AtomicUsize::new(0));
    let seen = polls.clone();
    let options = quick().on_progress(move |c: &ClusterDetails| {
        assert_ne!(c.state, Some(State::Running), "progress only reports non-final states");
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let pending = cluster_request(&w, "a").await.expect("create");
    let running = pending.wait_with(options).await.expect("running");
    assert_eq!(running.state, Some(State::Running));
    assert!(polls.load(Ordering::SeqCst) >= 1, "PENDING was reported");
    let id = running.cluster_id.clone().expect("id");
    assert_eq!(pending.id(), id, "the handle keeps the id of the create answer");

    let stopped = w.clusters().delete(&id).await.expect("delete").wait_with(quick()).await.expect("terminated");
    assert_eq!(stopped.state, Some(State::Terminated));

    // Waiting for RUNNING on a cluster that terminates fails with its last state.
    let doomed = cluster_request(&w, "doomed").await.expect("create");
    let doomed_id = doomed.cluster_id.clone().expect("id");
    w.clusters().delete(&doomed_id).await.expect("delete");
    let err = doomed.wait_with(quick()).await.expect_err("terminated");
    assert_eq!(err.kind(), ErrorKind::OperationFailed);
    let state = err.operation_state().expect("state");
    assert_eq!(state.state, "TERMINATED");
    assert_eq!(state.resource_id.as_deref(), Some(doomed_id.as_str()));
    assert!(
        err.message().contains(&format!("clusters {doomed_id}: failed to reach RUNNING, got TERMINATED")),
        "{}",
        err.message()
    );
    let last: ClusterDetails = serde_json::from_value(state.last.clone().expect("last")).expect("a cluster");
    assert_eq!(last.state, Some(State::Terminated));

    let err = w.clusters().get(id.clone() + "x").await.expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::ResourceDoesNotExist);
}

#[tokio::test]
async fn waiter_timeout_carries_the_last_state() {
    let (_emulator, w) = workspace(fast().transition_delay(Duration::from_secs(30))).await;
    let options = quick().timeout(Duration::from_millis(150));
    let pending = cluster_request(&w, "slow").await.expect("create");
    let err = pending.wait_with(options).await.expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.operation_state().map(|s| s.state.as_str()), Some("PENDING"));
}

#[tokio::test]
async fn waiter_is_cancel_safe() {
    let (emulator, w) = workspace(fast().transition_delay(Duration::from_secs(30))).await;
    let pending = cluster_request(&w, "dropped").await.expect("create");
    let waiting = pending.wait_with(quick());
    let _ = tokio::time::timeout(Duration::from_millis(200), waiting).await;
    let before = emulator.counters().requests;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(emulator.counters().requests, before, "no polling after the future is dropped");
}

#[tokio::test]
async fn list_pages_lazily_without_duplicates() {
    let (emulator, w) = workspace(fast()).await;
    for i in 0..7 {
        cluster_request(&w, &format!("c{i}")).await.expect("create");
    }
    let all: Vec<ClusterDetails> = w.clusters().list().page_size(2).try_collect().await.expect("list");
    let mut ids: Vec<String> = all.iter().filter_map(|c| c.cluster_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((all.len(), ids.len()), (7, 7), "4 pages of 2, every cluster once");

    // Reading two items fetches one page only.
    let before = emulator.counters().requests;
    let mut items = w.clusters().list().page_size(2);
    let _first = items.try_next().await.expect("ok").expect("one");
    let _second = items.try_next().await.expect("ok").expect("two");
    assert_eq!(emulator.counters().requests - before, 1);
    drop(items);

    // One page at a time, with the cursor to resume from.
    let mut pages = w.clusters().list().page_size(3).pages();
    let first = pages.try_next().await.expect("page").expect("first");
    assert_eq!(first.items.len(), 3);
    let token = first.next_page_token().expect("more pages").to_string();
    let rest: Vec<ClusterDetails> =
        w.clusters().list().page_size(3).page_token(token).try_collect().await.expect("rest");
    assert_eq!(rest.len(), 4, "resumed after the first page");
    let two = w.clusters().list().page_size(2).max_items(3).try_collect().await.expect("limited");
    assert_eq!(two.len(), 3);

    // Typed filters go on the wire as dotted, repeated query keys.
    let filter = ListClustersFilterBy::new().cluster_states(vec![State::Terminated]);
    let none = w.clusters().list().filter_by(filter).try_collect().await.expect("filtered");
    assert!(none.is_empty());
}

#[tokio::test]
async fn job_run_waiters_return_runs_or_fail_with_the_run_state() {
    let (_emulator, w) = workspace(fast()).await;
    let c = w.client();
    let import = |path: &str, source: &str| {
        let body = json!({"path": path, "format": "SOURCE", "language": "PYTHON", "overwrite": true,
                          "content": base64_encode(source)});
        async move { c.api().post::<serde_json::Value>("/api/2.0/workspace/import", &body).await }
    };
    import("/Shared/ok", "dbutils.notebook.exit('fine')").await.expect("import");
    import("/Shared/bad", "raise KeyError('id')").await.expect("import");
    let task =
        |key: &str, path: &str| Task::new(key).environment_key("serverless").notebook_task(NotebookTask::new(path));
    let job = w.jobs().create().name("typed").tasks(vec![task("main", "/Shared/ok")]).await.expect("create");
    let run = w.jobs().run_now(job.job_id.expect("id")).await.expect("run").wait_with(quick()).await.expect("ends");
    let state = run.state.clone().expect("state");
    assert_eq!(state.life_cycle_state, Some(RunLifeCycleState::Terminated));
    assert_eq!(state.result_state, Some(RunResultState::Success));

    let failing = SubmitTask::new("main").environment_key("serverless").notebook_task(NotebookTask::new("/Shared/bad"));
    let submitted = w.jobs().submit().run_name("typed-fail").tasks(vec![failing]).await.expect("submit");
    let err = submitted.wait_with(quick()).await.expect_err("fails");
    assert_eq!(err.kind(), ErrorKind::OperationFailed);
    assert_eq!(err.operation_state().map(|s| s.state.as_str()), Some("INTERNAL_ERROR"));
    assert!(err.message().contains("KeyError: id"), "{}", err.message());
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn requests_send_only_set_fields_and_responses_tolerate_the_wire() {
    let request = brickwork::service::compute::ClustersCreateRequest::new("15.4.x-scala2.12");
    let body = serde_json::to_value(&request).expect("json");
    assert_eq!(body, json!({"spark_version": "15.4.x-scala2.12"}), "only set fields, and required ones");
    let body = serde_json::to_value(cluster_call_request("x")).expect("json");
    assert_eq!(
        body,
        json!({"cluster_name": "x", "spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1})
    );
    // Unknown fields, unknown enum values, int64 as strings, missing arrays.
    let details: ClusterDetails = serde_json::from_value(json!({
        "cluster_id": "c1", "state": "HIBERNATING", "num_workers": "3", "brand_new_field": {"x": 1},
        "cluster_memory_mb": 1024,
    }))
    .expect("decodes");
    assert_eq!(details.state, Some(State::UnknownValue("HIBERNATING".into())));
    assert_eq!(details.state.as_ref().map(State::as_str), Some("HIBERNATING"));
    assert_eq!(details.num_workers, Some(3));
    assert!(details.ssh_public_keys.is_empty());
    // An unknown value survives a round trip unchanged.
    assert_eq!(serde_json::to_value(&details).expect("json")["state"], "HIBERNATING");
}

#[test]
fn secret_fields_never_print() {
    let put = brickwork::service::workspace::SecretsPutSecretRequest {
        string_value: Some("hunter2".into()),
        ..brickwork::service::workspace::SecretsPutSecretRequest::new("s", "k")
    };
    assert!(!format!("{put:?}").contains("hunter2"));
    assert_eq!(serde_json::to_value(&put).expect("json")["string_value"], "hunter2");
}

mod helpers {
    use super::*;
    use brickwork::service::helpers::{NodeTypeFilter, SparkVersionFilter, UploadOptions};
    use brickwork::service::sql::{StatementExecutionExecuteStatementRequest, StatementState};
    use brickwork::service::workspace::{ExportFormat, ImportFormat, Language};
    use brickwork_emulator::{Fault, FaultRule, FaultSettings, Phase};

    #[tokio::test]
    async fn run_now_carries_an_idempotency_token_so_a_lost_answer_is_retried_safely() {
        let (emulator, w) = workspace(fast()).await;
        let task = Task::new("t").environment_key("serverless").notebook_task(NotebookTask::new("/x"));
        let job = w.jobs().create().name("once").tasks(vec![task]).await.expect("create");
        let job_id = job.job_id.expect("id");
        // The first answer to run-now is lost after the run was started.
        emulator.set_faults(FaultSettings {
            seed: 5,
            rules: vec![FaultRule {
                path_prefix: "/api/2.2/jobs/run-now".into(),
                method: None,
                probability: 1.0,
                fault: Fault::DropConnection,
                phase: Phase::After,
                times: None,
                query: None,
            }],
            rate_limit_per_principal: None,
        });
        let jobs = w.jobs();
        let call = tokio::spawn(async move { jobs.run_now(job_id).await.map(|pending| pending.into_response()) });
        // Let the first attempt through the fault, then stop injecting.
        while emulator.counters().faults_injected_after == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        emulator.set_faults(FaultSettings::default());
        let started = call.await.expect("join").expect("the retried POST succeeds");
        assert!(started.run_id.is_some());
        let runs = w.jobs().list_runs().job_id(job_id).try_collect().await.expect("runs");
        assert_eq!(runs.len(), 1, "the server deduplicated the replayed POST");
    }

    #[tokio::test]
    async fn jobs_get_merges_every_page_of_tasks() {
        let (_emulator, w) = workspace(fast()).await;
        let tasks: Vec<Task> = (0..230)
            .map(|i| {
                Task::new(format!("t{i:03}"))
                    .existing_cluster_id("c")
                    .spark_jar_task(brickwork::service::jobs::SparkJarTask::new().main_class_name("M"))
            })
            .collect();
        let job = w.jobs().create().name("wide").tasks(tasks).await.expect("create");
        let job_id = job.job_id.expect("id");
        let page = w.jobs().get_page(job_id).await.expect("page");
        assert_eq!(page.settings.as_ref().map(|s| s.tasks.len()), Some(100));
        let merged = w.jobs().get(job_id).await.expect("get");
        let keys: Vec<String> = merged.settings.expect("settings").tasks.into_iter().map(|t| t.task_key).collect();
        assert_eq!(keys.len(), 230);
        assert_eq!(keys.last().map(String::as_str), Some("t229"));
        assert!(merged.next_page_token.is_none());
    }

    #[tokio::test]
    async fn cluster_helpers() {
        let (_emulator, w) = workspace(fast()).await;
        let clusters = w.clusters();
        let lts = clusters
            .select_spark_version(&SparkVersionFilter { long_term_support: true, ..Default::default() })
            .await
            .expect("lts");
        assert_eq!(lts, "16.4.x-scala2.12", "newest LTS without photon/ml");
        let photon = clusters
            .select_spark_version(&SparkVersionFilter { photon: true, ..Default::default() })
            .await
            .expect("photon");
        assert_eq!(photon, "16.4.x-photon-scala2.12");
        let gpu_ml = SparkVersionFilter { gpu: true, ml: true, ..Default::default() };
        assert_eq!(clusters.select_spark_version(&gpu_ml).await.expect("gpu ml"), "16.4.x-gpu-ml-scala2.12");
        let none = clusters.select_spark_version(&SparkVersionFilter { gpu: true, ..Default::default() }).await;
        assert_eq!(none.expect_err("GPU runtimes are all ML runtimes").kind(), ErrorKind::NotFound);
        let small =
            clusters.select_node_type(&NodeTypeFilter { local_disk: true, ..Default::default() }).await.expect("node");
        assert_eq!(small, "m5d.large");
        let big = clusters
            .select_node_type(&NodeTypeFilter { min_memory_gb: Some(32), ..Default::default() })
            .await
            .expect("node");
        assert_eq!(big, "r5d.xlarge");

        let pending = clusters.create("15.4.x-scala2.12").node_type_id(small).num_workers(1).await.expect("create");
        let running = pending.wait_with(quick()).await.expect("running");
        let id = running.cluster_id.expect("id");
        clusters.delete(&id).await.expect("delete").wait_with(quick()).await.expect("stopped");
        clusters.ensure_cluster_is_running(&id, quick()).await.expect("started again");
        let state = clusters.get(&id).await.expect("get").state;
        assert_eq!(state, Some(State::Running));
        // Already running: nothing to do, and a second start is the server's INVALID_STATE.
        clusters.ensure_cluster_is_running(&id, quick()).await.expect("still running");
        let err = clusters.start(id).await.expect_err("running");
        assert_eq!(err.kind(), ErrorKind::InvalidState);
    }

    #[tokio::test]
    async fn workspace_and_dbfs_transfer_helpers() {
        let (_emulator, w) = workspace(fast()).await;
        let source = "# Databricks notebook source\ndbutils.notebook.exit('x')\n";
        w.workspace()
            .upload("/Shared/nb.py", source.as_bytes().to_vec(), UploadOptions::default())
            .await
            .expect("upload");
        let back = w.workspace().download("/Shared/nb", ExportFormat::Source).await.expect("download");
        assert_eq!(back.as_ref(), source.as_bytes(), "AUTO import made a notebook without the .py extension");
        let options =
            UploadOptions { format: ImportFormat::Source, language: Some(Language::Python), overwrite: false };
        let err = w.workspace().upload("/Shared/nb", "x", options).await.expect_err("exists");
        assert_eq!(err.kind(), ErrorKind::ResourceAlreadyExists);

        let data: Vec<u8> = (0..2_500_000u32).map(|i| (i % 251) as u8).collect();
        w.dbfs().write_file("/tmp/big.bin", data.clone(), true).await.expect("write");
        let status = w.dbfs().get_status("/tmp/big.bin").await.expect("status");
        assert_eq!(status.file_size, Some(2_500_000));
        assert_eq!(w.dbfs().read_file("/tmp/big.bin").await.expect("read").as_ref(), data.as_slice());
        w.dbfs().write_file("/tmp/a/b/c.txt", "c", true).await.expect("nested");
        let mut paths: Vec<String> =
            w.dbfs().list_recursive("/tmp").await.expect("walk").into_iter().filter_map(|f| f.path).collect();
        paths.sort();
        assert_eq!(paths, vec!["/tmp/a/b/c.txt", "/tmp/big.bin"]);
    }

    #[tokio::test]
    async fn statements_execute_and_wait() {
        let (_emulator, w) = workspace(fast()).await;
        let created: serde_json::Value = w
            .client()
            .api()
            .post("/api/2.0/sql/warehouses", &json!({"name": "wh", "cluster_size": "2X-Small"}))
            .await
            .expect("warehouse");
        let warehouse_id = created["id"].as_str().expect("id").to_string();
        let request = StatementExecutionExecuteStatementRequest {
            wait_timeout: Some("0s".into()),
            ..StatementExecutionExecuteStatementRequest::new("SELECT 42 AS answer", warehouse_id.clone())
        };
        let done = w.statement_execution().execute_and_wait(request.clone(), quick()).await.expect("succeeds");
        assert_eq!(done.status.and_then(|s| s.state), Some(StatementState::Succeeded));
        let rows = done.result.expect("result").data_array;
        assert_eq!(rows, vec![vec![Some("42".to_string())]]);
        let bad = StatementExecutionExecuteStatementRequest { statement: "SELECT nope".into(), ..request };
        let err = w.statement_execution().execute_and_wait(bad, quick()).await.expect_err("fails");
        assert_eq!(err.kind(), ErrorKind::OperationFailed);
        assert!(err.message().contains("UNRESOLVED_COLUMN"), "{}", err.message());
    }
}

#[tokio::test]
async fn files_api_embeds_absolute_paths_and_streams_raw_bytes() {
    // A volume whose name needs encoding in the URL.
    let (_emulator, w) = workspace(fast().volume("main.raw.in put")).await;
    let path = "/Volumes/main/raw/in put/data 1.csv";
    let data = bytes::Bytes::from_static(b"a,b\n1,2\n");
    w.files().upload(path, data.clone()).overwrite(false).await.expect("upload");
    let err = w.files().upload(path, data).overwrite(false).await.expect_err("exists");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let down = w.files().download(path).await.expect("download");
    assert_eq!(down.bytes().as_ref(), b"a,b\n1,2\n");
}

mod more_helpers {
    use super::*;
    use brickwork::service::compute::{Library, LibraryInstallStatus, PythonPyPiLibrary};
    use brickwork::service::iam::UsersListRequest;
    use brickwork::service::jobs::SparkJarTask;

    #[tokio::test]
    async fn list_with_expand_tasks_completes_truncated_jobs() {
        let (_emulator, w) = workspace(fast()).await;
        let tasks: Vec<Task> = (0..150)
            .map(|i| {
                Task::new(format!("t{i:03}"))
                    .existing_cluster_id("c")
                    .spark_jar_task(SparkJarTask::new().main_class_name("M"))
            })
            .collect();
        w.jobs().create().name("wide").tasks(tasks).await.expect("create");
        let raw = w.jobs().list_raw().expand_tasks(true).try_collect().await.expect("raw");
        assert_eq!(raw[0].settings.as_ref().map(|s| s.tasks.len()), Some(100), "the server cuts at 100");
        assert_eq!(raw[0].has_more, Some(true));
        let full = w.jobs().list().expand_tasks(true).try_collect().await.expect("expanded");
        assert_eq!(full[0].settings.as_ref().map(|s| s.tasks.len()), Some(150));
        assert_eq!(full[0].has_more, None);
    }

    #[tokio::test]
    async fn user_name_to_id_map() {
        let (_emulator, w) = workspace(fast().user("analyst@example.com", "analyst-token")).await;
        let map = w.users().user_name_to_id_map(UsersListRequest::default()).await.expect("map");
        assert_eq!(
            map.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["admin@example.com", "analyst@example.com"]
        );
        assert!(map.values().all(|id| id.parse::<i64>().is_ok()));
    }

    #[tokio::test]
    async fn libraries_update_and_wait() {
        let (_emulator, w) = workspace(fast()).await;
        let cluster = cluster_request(&w, "libs").await.expect("create").wait_with(quick()).await.expect("cluster");
        let id = cluster.cluster_id.expect("id");
        let pypi = |name: &str| Library::new().pypi(PythonPyPiLibrary::new(name));
        let statuses =
            w.libraries().update_and_wait(&id, vec![pypi("requests")], vec![], quick()).await.expect("installed");
        assert_eq!(statuses[0].status, Some(LibraryInstallStatus::Installed));
        let err =
            w.libraries().update_and_wait(&id, vec![pypi("fail-nope")], vec![], quick()).await.expect_err("fails");
        assert_eq!(err.kind(), ErrorKind::OperationFailed);
        assert!(err.message().contains("could not find a version"), "{}", err.message());
        let after =
            w.libraries().update_and_wait(&id, vec![], vec![pypi("requests")], quick()).await.expect("uninstall");
        let requests = after.iter().find(|s| s.library == Some(pypi("requests"))).and_then(|s| s.status.clone());
        assert_eq!(requests, Some(LibraryInstallStatus::UninstallOnRestart));
    }
}

#[tokio::test]
async fn run_command_executes_in_a_context_and_types_errors() {
    use brickwork::service::compute::Language;
    let (_emulator, w) = workspace(fast()).await;
    let cluster = cluster_request(&w, "cmd").await.expect("create").wait_with(quick()).await.expect("cluster");
    let id = cluster.cluster_id.expect("id");
    let results = w
        .command_execution()
        .run_command(&id, Language::Python, "print('hello')\nprint(6 * 7)", quick())
        .await
        .expect("runs");
    assert_eq!(results.data, Some(json!("hello\n6 * 7")));
    let err = w
        .command_execution()
        .run_command(&id, Language::Python, "raise ZeroDivisionError('x')", quick())
        .await
        .expect_err("fails");
    assert_eq!(err.kind(), ErrorKind::OperationFailed);
    assert!(err.message().contains("ZeroDivisionError: x"), "{}", err.message());
}

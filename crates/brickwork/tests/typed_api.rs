//! The generated typed API against the emulator: calls, pagination, waiters,
//! and the wire semantics of generated types.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brickwork::service::compute::{
    ClusterDetails, ClustersDeleteRequest, ClustersGetRequest, ClustersListRequest, ListClustersFilterBy, State,
};
use brickwork::service::jobs::{
    JobsCreateRequest, JobsRunNowRequest, JobsSubmitRequest, NotebookTask, RunLifeCycleState, RunResultState,
    SubmitTask, Task,
};
use brickwork::ErrorKind;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

mod support;
use support::{cluster_request, fast, quick, workspace};

#[tokio::test]
async fn cluster_waiters_succeed_fail_and_time_out_with_typed_errors() {
    let (_emulator, w) = workspace(fast()).await;
    let polls = Arc::new(AtomicUsize::new(0));
    let seen = polls.clone();
    let options = quick().on_progress(move |c: &ClusterDetails| {
        assert_ne!(c.state, Some(State::Running), "progress only reports non-final states");
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let running = w.clusters().create_and_wait(&cluster_request("a"), options).await.expect("running");
    assert_eq!(running.state, Some(State::Running));
    assert!(polls.load(Ordering::SeqCst) >= 1, "PENDING was reported");
    let id = running.cluster_id.clone().expect("id");

    let stopped = w
        .clusters()
        .delete_and_wait(&ClustersDeleteRequest { cluster_id: Some(id.clone()) }, quick())
        .await
        .expect("terminated");
    assert_eq!(stopped.state, Some(State::Terminated));

    // Waiting for RUNNING on a cluster that terminates fails with its last state.
    let doomed = w.clusters().create(&cluster_request("doomed")).await.expect("create");
    let doomed_id = doomed.cluster_id.clone().expect("id");
    w.clusters().delete(&ClustersDeleteRequest { cluster_id: Some(doomed_id.clone()) }).await.expect("delete");
    let err = w.clusters().wait_get_cluster_running(doomed_id, quick()).await.expect_err("terminated");
    assert_eq!(err.kind(), ErrorKind::OperationFailed);
    let state = err.operation_state().expect("state");
    assert_eq!(state.state, "TERMINATED");
    assert!(err.message().contains("failed to reach RUNNING, got TERMINATED"), "{}", err.message());

    let err = w.clusters().get(&ClustersGetRequest { cluster_id: Some(id.clone() + "x") }).await.expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::ResourceDoesNotExist);
}

#[tokio::test]
async fn waiter_timeout_carries_the_last_state() {
    let (_emulator, w) = workspace(fast().transition_delay(Duration::from_secs(30))).await;
    let options = quick().timeout(Duration::from_millis(150));
    let err = w.clusters().create_and_wait(&cluster_request("slow"), options).await.expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.operation_state().map(|s| s.state.as_str()), Some("PENDING"));
}

#[tokio::test]
async fn waiter_is_cancel_safe() {
    let (emulator, w) = workspace(fast().transition_delay(Duration::from_secs(30))).await;
    let (clusters, request) = (w.clusters(), cluster_request("dropped"));
    let waiting = clusters.create_and_wait(&request, quick());
    let _ = tokio::time::timeout(Duration::from_millis(200), waiting).await;
    let before = emulator.counters().requests;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(emulator.counters().requests, before, "no polling after the future is dropped");
}

#[tokio::test]
async fn list_pages_lazily_without_duplicates() {
    let (emulator, w) = workspace(fast()).await;
    for i in 0..7 {
        w.clusters().create(&cluster_request(&format!("c{i}"))).await.expect("create");
    }
    let request = ClustersListRequest { page_size: Some(2), ..Default::default() };
    let all: Vec<ClusterDetails> = w.clusters().list(request.clone()).try_collect().await.expect("list");
    let mut ids: Vec<String> = all.iter().filter_map(|c| c.cluster_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((all.len(), ids.len()), (7, 7), "4 pages of 2, every cluster once");

    // Reading two items fetches one page only.
    let before = emulator.counters().requests;
    let mut stream = w.clusters().list(request);
    let _first = stream.next().await.expect("one").expect("ok");
    let _second = stream.next().await.expect("two").expect("ok");
    assert_eq!(emulator.counters().requests - before, 1);
    drop(stream);

    // Typed filters go on the wire as dotted, repeated query keys.
    let filter = ListClustersFilterBy { cluster_states: vec![State::Terminated], ..Default::default() };
    let none = w
        .clusters()
        .list(ClustersListRequest { filter_by: Some(filter), ..Default::default() })
        .all()
        .await
        .expect("filtered");
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
    let task = |key: &str, path: &str| Task {
        task_key: Some(key.into()),
        existing_cluster_id: None,
        environment_key: Some("serverless".into()),
        notebook_task: Some(NotebookTask { notebook_path: Some(path.into()), ..Default::default() }),
        ..Default::default()
    };
    let job = w
        .jobs()
        .create(&JobsCreateRequest {
            name: Some("typed".into()),
            tasks: vec![task("main", "/Shared/ok")],
            ..Default::default()
        })
        .await
        .expect("create");
    let run = w
        .jobs()
        .run_now_and_wait(&JobsRunNowRequest { job_id: job.job_id, ..Default::default() }, quick())
        .await
        .expect("run");
    let state = run.state.clone().expect("state");
    assert_eq!(state.life_cycle_state, Some(RunLifeCycleState::Terminated));
    assert_eq!(state.result_state, Some(RunResultState::Success));

    let failing = JobsSubmitRequest {
        run_name: Some("typed-fail".into()),
        tasks: vec![SubmitTask {
            task_key: Some("main".into()),
            environment_key: Some("serverless".into()),
            notebook_task: Some(NotebookTask { notebook_path: Some("/Shared/bad".into()), ..Default::default() }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let err = w.jobs().submit_and_wait(&failing, quick()).await.expect_err("fails");
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
    let body = serde_json::to_value(cluster_request("x")).expect("json");
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
        scope: Some("s".into()),
        key: Some("k".into()),
        string_value: Some("hunter2".into()),
        ..Default::default()
    };
    assert!(!format!("{put:?}").contains("hunter2"));
    assert_eq!(serde_json::to_value(&put).expect("json")["string_value"], "hunter2");
}

mod helpers {
    use super::*;
    use brickwork::service::compute::ClustersStartRequest;
    use brickwork::service::files::DbfsGetStatusRequest;
    use brickwork::service::helpers::{NodeTypeFilter, SparkVersionFilter, UploadOptions};
    use brickwork::service::jobs::JobsGetRequest;
    use brickwork::service::sql::{StatementExecutionExecuteStatementRequest, StatementState};
    use brickwork::service::workspace::{ExportFormat, ImportFormat, Language};
    use brickwork_emulator::{Fault, FaultRule, FaultSettings, Phase};

    #[tokio::test]
    async fn run_now_carries_an_idempotency_token_so_a_lost_answer_is_retried_safely() {
        let (emulator, w) = workspace(fast()).await;
        let job = w
            .jobs()
            .create(&JobsCreateRequest {
                name: Some("once".into()),
                tasks: vec![Task {
                    task_key: Some("t".into()),
                    environment_key: Some("serverless".into()),
                    notebook_task: Some(NotebookTask { notebook_path: Some("/x".into()), ..Default::default() }),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .expect("create");
        // The first answer to run-now is lost after the run was started.
        emulator.set_faults(FaultSettings {
            seed: 5,
            rules: vec![FaultRule {
                path_prefix: "/api/2.2/jobs/run-now".into(),
                method: None,
                probability: 1.0,
                fault: Fault::DropConnection,
                phase: Phase::After,
            }],
            rate_limit_per_token: None,
        });
        let jobs = w.jobs();
        let request = JobsRunNowRequest { job_id: job.job_id, ..Default::default() };
        let call = tokio::spawn(async move { jobs.run_now(&request).await });
        // Let the first attempt through the fault, then stop injecting.
        while emulator.counters().faults_injected_after == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        emulator.set_faults(FaultSettings::default());
        let started = call.await.expect("join").expect("the retried POST succeeds");
        assert!(started.run_id.is_some());
        let runs: Vec<_> = w
            .jobs()
            .list_runs(brickwork::service::jobs::JobsListRunsRequest { job_id: job.job_id, ..Default::default() })
            .all()
            .await
            .expect("runs");
        assert_eq!(runs.len(), 1, "the server deduplicated the replayed POST");
    }

    #[tokio::test]
    async fn jobs_get_merges_every_page_of_tasks() {
        let (_emulator, w) = workspace(fast()).await;
        let tasks: Vec<Task> = (0..230)
            .map(|i| Task {
                task_key: Some(format!("t{i:03}")),
                existing_cluster_id: Some("c".into()),
                spark_jar_task: Some(brickwork::service::jobs::SparkJarTask {
                    main_class_name: Some("M".into()),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let job = w
            .jobs()
            .create(&JobsCreateRequest { name: Some("wide".into()), tasks, ..Default::default() })
            .await
            .expect("create");
        let page = w.jobs().get_page(&JobsGetRequest { job_id: job.job_id, ..Default::default() }).await.expect("page");
        assert_eq!(page.settings.as_ref().map(|s| s.tasks.len()), Some(100));
        let merged = w.jobs().get(&JobsGetRequest { job_id: job.job_id, ..Default::default() }).await.expect("get");
        let keys: Vec<String> =
            merged.settings.expect("settings").tasks.into_iter().filter_map(|t| t.task_key).collect();
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
        assert_eq!(photon, "15.4.x-photon-scala2.12");
        let none = clusters.select_spark_version(&SparkVersionFilter { gpu: true, ..Default::default() }).await;
        assert_eq!(none.expect_err("no gpu").kind(), ErrorKind::NotFound);
        let small =
            clusters.select_node_type(&NodeTypeFilter { local_disk: true, ..Default::default() }).await.expect("node");
        assert_eq!(small, "m5d.large");
        let big = clusters
            .select_node_type(&NodeTypeFilter { min_memory_gb: Some(32), ..Default::default() })
            .await
            .expect("node");
        assert_eq!(big, "r5d.xlarge");

        let mut request = cluster_request("ensure");
        request.node_type_id = Some(small);
        let running = clusters.create_and_wait(&request, quick()).await.expect("running");
        let id = running.cluster_id.expect("id");
        clusters
            .delete_and_wait(&ClustersDeleteRequest { cluster_id: Some(id.clone()) }, quick())
            .await
            .expect("stopped");
        clusters.ensure_cluster_is_running(&id, quick()).await.expect("started again");
        let state = clusters.get(&ClustersGetRequest { cluster_id: Some(id.clone()) }).await.expect("get").state;
        assert_eq!(state, Some(State::Running));
        // Already running: nothing to do, and a second start is the server's INVALID_STATE.
        clusters.ensure_cluster_is_running(&id, quick()).await.expect("still running");
        let err = clusters.start(&ClustersStartRequest { cluster_id: Some(id) }).await.expect_err("running");
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
        let status =
            w.dbfs().get_status(&DbfsGetStatusRequest { path: Some("/tmp/big.bin".into()) }).await.expect("status");
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
            statement: Some("SELECT 42 AS answer".into()),
            warehouse_id: Some(warehouse_id.clone()),
            wait_timeout: Some("0s".into()),
            ..Default::default()
        };
        let done = w.statement_execution().execute_and_wait(&request, quick()).await.expect("succeeds");
        assert_eq!(done.status.and_then(|s| s.state), Some(StatementState::Succeeded));
        let rows = done.result.expect("result").data_array;
        assert_eq!(rows, vec![vec!["42".to_string()]]);
        let bad = StatementExecutionExecuteStatementRequest { statement: Some("SELECT nope".into()), ..request };
        let err = w.statement_execution().execute_and_wait(&bad, quick()).await.expect_err("fails");
        assert_eq!(err.kind(), ErrorKind::OperationFailed);
        assert!(err.message().contains("UNRESOLVED_COLUMN"), "{}", err.message());
    }
}

#[tokio::test]
async fn files_api_embeds_absolute_paths_and_streams_raw_bytes() {
    use brickwork::service::files::{FilesDownloadRequest, FilesUploadRequest};
    let (_emulator, w) = workspace(fast()).await;
    let path = "/Volumes/main/raw/in put/data 1.csv";
    let upload = FilesUploadRequest {
        file_path: Some(path.into()),
        contents: Some(bytes::Bytes::from_static(b"a,b\n1,2\n")),
        overwrite: Some(false),
    };
    w.files().upload(&upload).await.expect("upload");
    let err = w.files().upload(&upload).await.expect_err("exists");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let down = w.files().download(&FilesDownloadRequest { file_path: Some(path.into()) }).await.expect("download");
    assert_eq!(down.bytes().as_ref(), b"a,b\n1,2\n");
}

mod more_helpers {
    use super::*;
    use brickwork::service::compute::{Library, LibraryInstallStatus, PythonPyPiLibrary};
    use brickwork::service::iam::UsersListRequest;
    use brickwork::service::jobs::{JobsListRequest, SparkJarTask};

    #[tokio::test]
    async fn list_with_expand_tasks_completes_truncated_jobs() {
        let (_emulator, w) = workspace(fast()).await;
        let tasks: Vec<Task> = (0..150)
            .map(|i| Task {
                task_key: Some(format!("t{i:03}")),
                existing_cluster_id: Some("c".into()),
                spark_jar_task: Some(SparkJarTask { main_class_name: Some("M".into()), ..Default::default() }),
                ..Default::default()
            })
            .collect();
        w.jobs()
            .create(&JobsCreateRequest { name: Some("wide".into()), tasks, ..Default::default() })
            .await
            .expect("create");
        let request = JobsListRequest { expand_tasks: Some(true), ..Default::default() };
        let raw = w.jobs().list_raw(request.clone()).all().await.expect("raw");
        assert_eq!(raw[0].settings.as_ref().map(|s| s.tasks.len()), Some(100), "the server cuts at 100");
        assert_eq!(raw[0].has_more, Some(true));
        let full = w.jobs().list(request).all().await.expect("expanded");
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
        let cluster = w.clusters().create_and_wait(&cluster_request("libs"), quick()).await.expect("cluster");
        let id = cluster.cluster_id.expect("id");
        let pypi = |name: &str| Library {
            pypi: Some(PythonPyPiLibrary { package: Some(name.into()), ..Default::default() }),
            ..Default::default()
        };
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
    let cluster = w.clusters().create_and_wait(&cluster_request("cmd"), quick()).await.expect("cluster");
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

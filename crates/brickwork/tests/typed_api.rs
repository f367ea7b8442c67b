//! The generated typed API against the emulator: calls, pagination, waiters,
//! and the wire semantics of generated types.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brickwork::service::compute::{
    ClusterDetails, ClustersCreateRequest, ClustersDeleteRequest, ClustersGetRequest, ClustersListRequest,
    ListClustersFilterBy, State,
};
use brickwork::service::jobs::{
    JobsCreateRequest, JobsRunNowRequest, JobsSubmitRequest, NotebookTask, RunLifeCycleState, RunResultState,
    SubmitTask, Task,
};
use brickwork::service::WaitOptions;
use brickwork::{Config, ErrorKind, WorkspaceClient};
use brickwork_emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

fn fast() -> EmulatorBuilder {
    Emulator::builder().transition_delay(Duration::from_millis(40)).task_duration(Duration::from_millis(40))
}

async fn workspace(builder: EmulatorBuilder) -> (EmulatorHandle, WorkspaceClient) {
    let emulator = builder.start().await.expect("emulator");
    let cfg =
        Config::builder().host(emulator.url()).token(emulator.token()).without_environment().build().expect("cfg");
    let w = WorkspaceClient::new(cfg).await.expect("client");
    (emulator, w)
}

fn quick<T>() -> WaitOptions<T> {
    WaitOptions::default()
        .poll_interval(Duration::from_millis(20), Duration::from_millis(50))
        .timeout(Duration::from_secs(30))
}

fn cluster_request(name: &str) -> ClustersCreateRequest {
    ClustersCreateRequest {
        cluster_name: Some(name.into()),
        spark_version: Some("15.4.x-scala2.12".into()),
        node_type_id: Some("i3.xlarge".into()),
        num_workers: Some(1),
        ..Default::default()
    }
}

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

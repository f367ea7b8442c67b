//! The calls a user writes, exactly as the typed API v2 issue lists them,
//! each against the emulator: required parameters positional, optional ones
//! chained, sent on `.await`, no `futures` import and no request structs.

use std::time::Duration;

use brickwork::service::jobs::{NotebookTask, Task};
use brickwork::service::WaitOptions;
use brickwork::{ErrorKind, Result, WorkspaceClient};

mod support;
use support::{fast, workspace};

/// Emulator polls are fast; real defaults poll every 1 to 10 s.
fn quick<T>() -> WaitOptions<T> {
    WaitOptions::default().poll_interval(Duration::from_millis(20), Duration::from_millis(50))
}

async fn upload_notebook(w: &WorkspaceClient, path: &str, source: &str) -> Result<()> {
    use brickwork::service::workspace::{ImportFormat, Language};
    let options = brickwork::service::helpers::UploadOptions {
        format: ImportFormat::Source,
        language: Some(Language::Python),
        overwrite: true,
    };
    if let Some((parent, _)) = path.rsplit_once('/') {
        w.workspace().mkdirs(parent).await?;
    }
    w.workspace().upload(path, source.to_string(), options).await.map(drop)
}

#[tokio::test]
async fn every_call_of_the_issue_compiles_as_written_and_works() -> Result<()> {
    let (_emulator, w) = workspace(fast()).await;

    let me = w.current_user().me().await?;
    assert_eq!(me.user_name.as_deref(), Some("admin@example.com"));

    let pending =
        w.clusters().create("15.4.x-scala2.12").cluster_name("etl").node_type_id("i3.xlarge").num_workers(2).await?;
    let id = pending.cluster_id.clone().unwrap_or_default();
    assert!(!id.is_empty(), "the id is readable before waiting");
    let cluster = pending.wait_with(quick()).await?;
    assert_eq!(cluster.cluster_id.as_deref(), Some(id.as_str()));

    let c = w.clusters().get(&id).await?;
    assert_eq!(c.cluster_name.as_deref(), Some("etl"));
    let err = w.clusters().get("0123-456789-abcdefgh").await.expect_err("no such cluster");
    assert!(err.is(ErrorKind::NotFound));

    let mut all = w.clusters().list();
    let mut seen = 0;
    while let Some(c) = all.try_next().await? {
        assert_eq!(c.cluster_id.as_deref(), Some(id.as_str()));
        seen += 1;
    }
    assert_eq!(seen, 1);

    upload_notebook(&w, "/p/bronze", "dbutils.notebook.exit('ok')").await?;
    let task = Task::new("bronze").existing_cluster_id(&id).notebook_task(NotebookTask::new("/p/bronze"));
    let job = w.jobs().create().name("etl").tasks(vec![task]).await?;
    let job_id = job.job_id.unwrap_or_default();
    let run = w.jobs().run_now(job_id).await?.wait_with(quick()).await?;
    assert_eq!(run.state.and_then(|s| s.result_state).map(|r| r.to_string()).as_deref(), Some("SUCCESS"));

    let bytes = bytes::Bytes::from_static(b"\x00\x01binary");
    w.files().upload("/Volumes/main/default/v/f.bin", bytes.clone()).overwrite(true).await?;
    assert_eq!(w.files().download("/Volumes/main/default/v/f.bin").await?.bytes(), &bytes);

    let warehouse = w.warehouses().create().name("wh").cluster_size("2X-Small").await?;
    let warehouse_id = warehouse.id().to_string();
    let rows = w.statement_execution().execute_statement("SELECT NULL", warehouse_id).wait_timeout("30s").await?;
    let data = rows.result.map(|r| r.data_array).unwrap_or_default();
    assert_eq!(data, vec![vec![None]], "a NULL cell decodes as None");
    Ok(())
}

#[tokio::test]
async fn a_run_that_does_not_succeed_is_operation_failed_with_the_final_run() -> Result<()> {
    let (_emulator, w) = workspace(fast()).await;
    upload_notebook(&w, "/p/ok", "dbutils.notebook.exit('ok')").await?;
    upload_notebook(&w, "/p/bad", "raise ValueError('broken input')").await?;
    let ok = Task::new("ok").environment_key("default").notebook_task(NotebookTask::new("/p/ok"));
    let bad = Task::new("bad").environment_key("default").notebook_task(NotebookTask::new("/p/bad"));
    let job = w.jobs().create().name("half").tasks(vec![ok, bad]).await?;
    let pending = w.jobs().run_now(job.job_id.unwrap_or_default()).await?;
    let run_id = pending.run_id.unwrap_or_default();
    let err = pending.wait_with(quick()).await.expect_err("a task failed");
    assert_eq!(err.kind(), ErrorKind::OperationFailed);
    let state = err.operation_state().expect("the final state");
    assert_eq!(state.resource_id.as_deref(), Some(run_id.to_string().as_str()));
    let message = err.message();
    assert!(message.contains(&format!("jobs {run_id}")), "{message}");
    assert!(message.contains("failed tasks: bad") || message.contains("broken input"), "{message}");
    let last: brickwork::service::jobs::Run = serde_json::from_value(state.last.clone().unwrap_or_default())?;
    assert_eq!(last.run_id, Some(run_id));
    Ok(())
}

#[tokio::test]
async fn wait_timeouts_read_text_and_name_the_resource() -> Result<()> {
    let (_emulator, w) = workspace(fast().transition_delay(Duration::from_secs(30))).await;
    let pending = w.clusters().create("15.4.x-scala2.12").node_type_id("i3.xlarge").num_workers(0).await?;
    let err = pending.wait_timeout("0s").await.expect_err("times out");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains(pending.id()), "{}", err.message());
    let err = pending.wait_timeout("soon").await.expect_err("unreadable");
    assert_eq!(err.kind(), ErrorKind::Config);
    // A timeout too large for the clock waits without a deadline instead of panicking.
    let forever = pending.wait_with(quick().timeout(Duration::MAX));
    assert!(tokio::time::timeout(Duration::from_millis(100), forever).await.is_err());
    Ok(())
}

#[tokio::test]
async fn a_whole_request_value_can_still_be_sent() -> Result<()> {
    use brickwork::service::compute::ClustersCreateRequest;
    let (_emulator, w) = workspace(fast()).await;
    let request: ClustersCreateRequest = serde_json::from_str(
        r#"{"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "cluster_name": "from-json", "num_workers": 1}"#,
    )?;
    let pending = w.clusters().create("").with_request(request).await?;
    let cluster = pending.wait_with(quick()).await?;
    assert_eq!(cluster.cluster_name.as_deref(), Some("from-json"));
    Ok(())
}

/// A workspace newer than this SDK: it stores job settings as sent,
/// fields this version of the model does not have included (the emulator,
/// which knows exactly this model's fields, drops unknown ones).
async fn newer_workspace() -> String {
    use axum::routing::{get, post};
    use axum::Json;
    use serde_json::{json, Value};
    let stored = std::sync::Arc::new(std::sync::Mutex::new(Value::Null));
    let (on_create, on_get, on_reset) = (stored.clone(), stored.clone(), stored);
    let app = axum::Router::new()
        .route(
            "/api/2.2/jobs/create",
            post(move |Json(body): Json<Value>| async move {
                *on_create.lock().expect("stored") = body;
                Json(json!({"job_id": 1}))
            }),
        )
        .route(
            "/api/2.2/jobs/get",
            get(move || async move { Json(json!({"job_id": 1, "settings": on_get.lock().expect("stored").clone()})) }),
        )
        .route(
            "/api/2.2/jobs/reset",
            post(move |Json(body): Json<Value>| async move {
                *on_reset.lock().expect("stored") = body["new_settings"].clone();
                Json(json!({}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn get_modify_reset_keeps_fields_this_version_does_not_know() -> Result<()> {
    let url = newer_workspace().await;
    let cfg = brickwork::Config::builder().host(&url).token("dapi-newer").without_environment().build()?;
    let w = WorkspaceClient::new(cfg).await?;
    let created: serde_json::Value = w
        .client()
        .api()
        .post(
            "/api/2.2/jobs/create",
            &serde_json::json!({"name": "future", "brand_new_setting": {"level": 3},
                "tasks": [{"task_key": "t", "environment_key": "default", "future_task_flag": true,
                           "notebook_task": {"notebook_path": "/p"}}]}),
        )
        .await?;
    let job_id = created["job_id"].as_i64().unwrap_or_default();
    let mut settings = w.jobs().get(job_id).await?.settings.unwrap_or_default();
    settings.name = Some("renamed".into());
    w.jobs().reset(job_id, settings).await?;
    let after: serde_json::Value =
        w.client().api().get("/api/2.2/jobs/get", &serde_json::json!({"job_id": job_id})).await?;
    assert_eq!(after["settings"]["name"], "renamed");
    assert_eq!(after["settings"]["brand_new_setting"], serde_json::json!({"level": 3}), "{after}");
    assert_eq!(after["settings"]["tasks"][0]["future_task_flag"], true, "{after}");
    Ok(())
}

#[tokio::test]
async fn a_cancelled_run_ends_terminated_but_its_wait_fails() -> Result<()> {
    let (_emulator, w) = workspace(fast().task_duration(Duration::from_secs(30))).await;
    upload_notebook(&w, "/p/slow", "dbutils.notebook.exit('ok')").await?;
    let task = Task::new("slow").environment_key("default").notebook_task(NotebookTask::new("/p/slow"));
    let job = w.jobs().create().name("slow").tasks(vec![task]).await?;
    let pending = w.jobs().run_now(job.job_id.unwrap_or_default()).await?;
    // Waiting on the cancel succeeds: CANCELED is what a cancel is for.
    let cancelled = w.jobs().cancel_run(pending.run_id.unwrap_or_default()).await?.wait_with(quick()).await?;
    assert_eq!(cancelled.state.and_then(|s| s.result_state).map(|r| r.to_string()).as_deref(), Some("CANCELED"));
    let err = pending.wait_with(quick()).await.expect_err("not a success");
    assert_eq!(err.kind(), ErrorKind::OperationFailed);
    let state = err.operation_state().expect("state");
    assert_eq!(state.state, "TERMINATED", "the run did reach its target state");
    assert!(err.message().contains("without success: CANCELED"), "{}", err.message());
    Ok(())
}

#[tokio::test]
async fn extreme_poll_intervals_do_not_panic() -> Result<()> {
    let (_emulator, w) = workspace(fast().transition_delay(Duration::from_secs(30))).await;
    let pending = w.clusters().create("15.4.x-scala2.12").node_type_id("i3.xlarge").num_workers(0).await?;
    let options = WaitOptions::default().poll_interval(Duration::MAX, Duration::MAX).timeout(Duration::from_millis(50));
    let err = pending.wait_with(options).await.expect_err("times out");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    Ok(())
}

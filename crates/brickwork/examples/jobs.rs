//! Jobs: upload a notebook, create a job, run it and wait, read the output.
//!
//! `cargo run -p brickwork --example jobs`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::compute::ClusterSpec;
use brickwork::service::helpers::UploadOptions;
use brickwork::service::jobs::{
    JobsCreateRequest, JobsDeleteRequest, JobsGetRunOutputRequest, JobsRunNowRequest, NotebookTask, Task,
};
use brickwork::service::workspace::{ImportFormat, Language, WorkspaceMkdirsRequest};

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let me = w.current_user().me(&Default::default()).await?.user_name.unwrap_or_default();
    let dir = format!("/Users/{me}/brickwork-example");
    w.workspace().mkdirs(&WorkspaceMkdirsRequest { path: Some(dir.clone()) }).await?;
    let notebook = format!("{dir}/hello");
    let source = "# Databricks notebook source\ndbutils.notebook.exit('hello from ' + dbutils.widgets.get('who'))\n";
    let options = UploadOptions { format: ImportFormat::Source, language: Some(Language::Python), overwrite: true };
    w.workspace().upload(&notebook, source, options).await?;

    let spec = ClusterSpec {
        spark_version: Some("15.4.x-scala2.12".into()),
        node_type_id: Some("i3.xlarge".into()),
        num_workers: Some(1),
        ..Default::default()
    };
    let task = Task {
        task_key: Some("hello".into()),
        new_cluster: Some(spec),
        notebook_task: Some(NotebookTask {
            notebook_path: Some(notebook),
            base_parameters: [("who".to_string(), "brickwork".to_string())].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let job = w
        .jobs()
        .create(&JobsCreateRequest { name: Some("brickwork-example".into()), tasks: vec![task], ..Default::default() })
        .await?;
    let run = w
        .jobs()
        .run_now_and_wait(&JobsRunNowRequest { job_id: job.job_id, ..Default::default() }, common::waiting())
        .await?;
    let task_run = run.tasks.first().and_then(|t| t.run_id);
    let output = w.jobs().get_run_output(&JobsGetRunOutputRequest { run_id: task_run }).await?;
    println!("run {:?}: {:?}", run.run_id, output.notebook_output.and_then(|o| o.result));
    w.jobs().delete(&JobsDeleteRequest { job_id: job.job_id }).await?;
    Ok(())
}

//! Jobs: upload a notebook, create a job, run it and wait, read the output.
//!
//! `cargo run -p brickwork --example jobs`

#[path = "common/mod.rs"]
mod common;

use brickwork::service::compute::ClusterSpec;
use brickwork::service::helpers::UploadOptions;
use brickwork::service::jobs::{NotebookTask, Task};
use brickwork::service::workspace::Language;

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let me = w.current_user().me().await?.user_name.unwrap_or_default();
    let dir = format!("/Users/{me}/brickwork-example");
    w.workspace().mkdirs(&dir).await?;
    let notebook = format!("{dir}/hello");
    let source = "# Databricks notebook source\ndbutils.notebook.exit('hello from ' + dbutils.widgets.get('who'))\n";
    let options = UploadOptions::notebook(Language::Python).overwrite(true);
    w.workspace().upload(&notebook, source, options).await?;

    let spec = ClusterSpec::new().spark_version("15.4.x-scala2.12").node_type_id("i3.xlarge").num_workers(1);
    let parameters = [("who".to_string(), "brickwork".to_string())].into();
    let task =
        Task::new("hello").new_cluster(spec).notebook_task(NotebookTask::new(notebook).base_parameters(parameters));
    let job = w.jobs().create().name("brickwork-example").tasks(vec![task]).await?;
    let job_id = job.job_id.unwrap_or_default();
    // A run that does not end in SUCCESS is an OperationFailed error.
    let run = w.jobs().run_now(job_id).await?.wait_with(common::waiting()).await?;
    if let Some(task_run) = run.tasks.first().and_then(|t| t.run_id) {
        let output = w.jobs().get_run_output(task_run).await?;
        println!("run {:?}: {:?}", run.run_id, output.notebook_output.and_then(|o| o.result));
    }
    w.jobs().delete(job_id).await?;
    Ok(())
}

//! The bronze -> silver ETL pipeline, end to end:
//!
//! 1. upload the two notebooks to the workspace,
//! 2. create an ephemeral cluster (always deleted afterwards),
//! 3. build, validate and upsert the job (deploying twice reuses it),
//! 4. run it and wait, reporting each task as it changes,
//! 5. print each notebook's output, then clean up.
//!
//! With `DATABRICKS_HOST` (or a `~/.databrickscfg` profile) it runs against
//! that workspace; with nothing configured it starts the embedded emulator.
//!
//! ```sh
//! cargo run --example etl_pipeline
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use brickwork::patterns::{ephemeral_cluster, EphemeralOptions, JobBuilder, JobSpec, TaskSpec, Upserted};
use brickwork::service::helpers::{NodeTypeFilter, SparkVersionFilter, UploadOptions};
use brickwork::service::workspace::Language;
use brickwork::service::WaitOptions;
use brickwork::Result;

#[path = "common/mod.rs"]
mod common;

const BRONZE: &str = r#"# Databricks notebook source
# Bronze: land the raw events as they arrive.
from pyspark.sql import Row
run_date = dbutils.widgets.get("run_date")
raw = spark.createDataFrame([
    Row(event_id=1, user="ada", amount="12.50", day=run_date),
    Row(event_id=2, user="grace", amount="7.25", day=run_date),
    Row(event_id=2, user="grace", amount="7.25", day=run_date),
    Row(event_id=3, user=None, amount="3.00", day=run_date),
])
raw.createOrReplaceGlobalTempView("bronze_events")

# COMMAND ----------

dbutils.notebook.exit("bronze: raw events landed for " + dbutils.widgets.get("run_date"))
"#;

const SILVER: &str = r#"# Databricks notebook source
# Silver: drop incomplete and duplicate events, type the amounts.
from pyspark.sql import functions as F
bronze = spark.table("global_temp.bronze_events")
silver = (bronze.dropna(subset=["user"]).dropDuplicates(["event_id"])
          .withColumn("amount", F.col("amount").cast("decimal(10,2)")))
silver.createOrReplaceGlobalTempView("silver_events")

# COMMAND ----------

dbutils.notebook.exit("silver: events cleaned for " + dbutils.widgets.get("run_date"))
"#;

#[tokio::main]
async fn main() -> Result<()> {
    let (w, emulator) = common::connect().await?;

    let user = w.current_user().me().await?.user_name.unwrap_or_default();
    let dir = format!("/Users/{user}/brickwork-etl");
    w.workspace().mkdirs(&dir).await?;
    for (name, source) in [("bronze", BRONZE), ("silver", SILVER)] {
        let options = UploadOptions::notebook(Language::Python).overwrite(true);
        w.workspace().upload(&format!("{dir}/{name}"), source, options).await?;
        println!("uploaded notebook {dir}/{name}");
    }

    let clusters = w.clusters();
    let lts = SparkVersionFilter::default().long_term_support(true);
    let spark_version = clusters.select_spark_version(&lts).await?;
    let node_type_id = clusters.select_node_type(&NodeTypeFilter::default().local_disk(true)).await?;
    let spec = clusters.create(spark_version).cluster_name("brickwork-etl").node_type_id(node_type_id).num_workers(1);
    let run_date = today();
    let wait = WaitOptions::default().poll_interval(Duration::from_millis(250), Duration::from_secs(10));
    let cluster_options = EphemeralOptions { wait: wait.same_timing() };
    let dir_for_job = dir.clone();
    let outputs = ephemeral_cluster(&w, spec, cluster_options, |cluster| {
        let w = w.clone();
        async move {
            let cluster_id = cluster.cluster_id.clone().unwrap_or_default();
            println!("ephemeral cluster {cluster_id} is running");
            let job = JobBuilder::new("brickwork-etl")
                .task(TaskSpec::notebook("bronze", &format!("{dir_for_job}/bronze")).existing_cluster(&cluster_id))
                .task(
                    TaskSpec::notebook("silver", &format!("{dir_for_job}/silver"))
                        .existing_cluster(&cluster_id)
                        .depends_on(["bronze"]),
                )
                .parameter("run_date", &run_date)
                .max_concurrent_runs(1)
                .tag("pipeline", "bronze-silver")
                .build()?;
            let job_id = match job.upsert(&w).await? {
                Upserted::Created(id) => {
                    println!("created job {id}");
                    id
                }
                Upserted::Updated(id) => {
                    println!("updated job {id} (deploying again reuses it)");
                    id
                }
            };
            let parameters = BTreeMap::from([("run_date".to_string(), run_date.clone())]);
            let run = JobSpec::run_and_wait(&w, job_id, parameters, wait, |task| {
                let result = task.result.as_deref().map(|r| format!(" {r}")).unwrap_or_default();
                println!("  task {:<6} {}{result}", task.task_key, task.state);
            })
            .await?;
            let mut outputs = Vec::new();
            for task in &run.tasks {
                let Some(task_run_id) = task.run_id else { continue };
                let output = w.jobs().get_run_output(task_run_id).await?;
                let result = output.notebook_output.and_then(|o| o.result).unwrap_or_default();
                outputs.push((task.task_key.clone(), result));
            }
            Ok(outputs)
        }
    })
    .await?;
    for (task, result) in outputs {
        println!("{task} output: {result}");
    }
    println!("ephemeral cluster permanently deleted");
    if let Some(emulator) = emulator {
        let counters = emulator.counters();
        println!("emulator: {} requests, {} live clusters left", counters.requests, counters.live_clusters);
    }
    Ok(())
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

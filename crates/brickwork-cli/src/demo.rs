//! `brickwork demo`: the bronze -> silver ETL pipeline, end to end, on the
//! embedded emulator unless a workspace is named (`--profile`, `--host` or
//! `DATABRICKS_HOST`; a DEFAULT profile alone is not used, so the first
//! command of the README never starts a real cluster unasked):
//!
//! 1. upload the two notebooks,
//! 2. create an ephemeral cluster (always deleted afterwards),
//! 3. build, validate and upsert the job,
//! 4. run it, reporting each task as it changes,
//! 5. print the run's tasks and each notebook's output,
//! 6. delete the job and the notebooks (unless `--keep`),
//!
//! then say where the time went. Ctrl-C cleans up too.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use brickwork::config::Source;
use brickwork::patterns::{ephemeral_cluster, EphemeralOptions, JobBuilder, JobSpec, TaskSpec, Upserted};
use brickwork::service::helpers::{NodeTypeFilter, SparkVersionFilter, UploadOptions};
use brickwork::service::jobs::Run;
use brickwork::service::workspace::Language;
use brickwork::service::WaitOptions;
use brickwork::{Config, WorkspaceClient};
use brickwork_emulator::{Emulator, EmulatorHandle};
use clap::Args;
use serde_json::json;

use crate::output::lines;
use crate::{CliError, Output, Session};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the job and the notebooks afterwards (the cluster is always deleted).
    #[arg(long)]
    keep: bool,
}

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

/// Where the time went, step by step.
struct Steps {
    started: Instant,
    last: Instant,
    done: Vec<(&'static str, Duration)>,
    text: bool,
}

impl Steps {
    fn new(text: bool) -> Steps {
        let now = Instant::now();
        Steps { started: now, last: now, done: Vec::new(), text }
    }

    /// Narrate (in text mode) and close the current step.
    fn step(&mut self, name: &'static str, said: impl AsRef<str>) -> Result<(), CliError> {
        let now = Instant::now();
        self.done.push((name, now - self.last));
        self.last = now;
        if self.text {
            lines(&[said.as_ref().to_string()])?;
        }
        Ok(())
    }

    fn say(&self, said: impl AsRef<str>) -> Result<(), CliError> {
        if self.text {
            lines(&[said.as_ref().to_string()])?;
        }
        Ok(())
    }
}

/// The workspace named by `--profile`, `--host` or `DATABRICKS_HOST`, or a
/// fresh embedded emulator (keep the handle alive while the client is used).
async fn connect(session: &Session) -> Result<(WorkspaceClient, Option<EmulatorHandle>), CliError> {
    let named = session.global.profile.is_some() || session.global.host.is_some();
    let configured = if named { Some(session.config(None)?) } else { session.config(None).ok() };
    if let Some(cfg) = configured {
        let from_env = matches!(cfg.source("host"), Some(Source::Env(_)));
        match cfg.host() {
            Some(_) if named || from_env => return Ok((WorkspaceClient::new(cfg).await?, None)),
            None if named => {
                let profile = cfg.profile().unwrap_or("the configuration");
                return Err(
                    brickwork::Error::config(format!("{profile} names no host: the demo needs a workspace")).into()
                );
            }
            Some(_) if session.output() == Output::Text => {
                let profile = cfg.profile().unwrap_or("DEFAULT");
                lines(&[format!("(not using profile {profile}: run `brickwork demo -p {profile}` to use it)")])?;
            }
            _ => {}
        }
    }
    let emulator = Emulator::builder()
        .transition_delay(Duration::from_millis(300))
        .start()
        .await
        .map_err(|e| CliError::other(format!("cannot start the emulator: {e}")))?;
    let cfg = Config::builder().host(emulator.url()).token(emulator.token()).without_environment().build()?;
    Ok((WorkspaceClient::new(cfg).await?, Some(emulator)))
}

/// What the demo made that outlives a run: deleted at the end unless `--keep`.
#[derive(Default)]
struct Made {
    dir: Option<String>,
    job_id: Option<i64>,
}

pub async fn run(session: &Session, args: &DemoArgs) -> Result<(), CliError> {
    let mut steps = Steps::new(session.output() == Output::Text);
    let (w, emulator) = connect(session).await?;
    let host = w.client().config().host().unwrap_or_default().to_string();
    let where_ = if emulator.is_some() { "the embedded emulator" } else { "your workspace" };
    steps.step("connect", format!("connected to {where_} at {host} ({})", w.client().auth_type()))?;
    let made = Rc::new(RefCell::new(Made::default()));
    let outcome = tokio::select! {
        outcome = pipeline(&w, &mut steps, &made) => outcome,
        _ = tokio::signal::ctrl_c() => Err(CliError::interrupted()),
    };
    // A cluster guard dropped by Ctrl-C deletes its cluster in the background.
    brickwork::cleanup::wait_for_background_cleanups().await;
    let made = made.take();
    if !args.keep {
        match (clean_up(&w, &made, &mut steps).await, &outcome) {
            (Err(cleanup), Ok(_)) => return Err(cleanup),
            // The pipeline's failure is the one to report; the cleanup's is said beside it.
            (Err(cleanup), Err(_)) => crate::output::warn(&format!("cleaning up failed too: {}", cleanup.message)),
            (Ok(()), _) => {}
        }
    }
    let (run, outputs) = outcome?;
    report(session, &steps, &run, &outputs, emulator.as_ref())
}

/// Delete the job and the notebooks.
async fn clean_up(w: &WorkspaceClient, made: &Made, steps: &mut Steps) -> Result<(), CliError> {
    // Already gone is deleted, as asked.
    let gone =
        |result: brickwork::Result<()>| result.or_else(|e| if e.is_missing_resource() { Ok(()) } else { Err(e) });
    let mut said = Vec::new();
    if let Some(job_id) = made.job_id {
        gone(w.jobs().delete(job_id).await)?;
        said.push(format!("job {job_id}"));
    }
    if let Some(dir) = &made.dir {
        gone(w.workspace().delete(dir.as_str()).recursive(true).await)?;
        said.push(format!("notebooks {dir}"));
    }
    if said.is_empty() {
        return Ok(());
    }
    steps.step("clean up", format!("deleted {} (--keep keeps them)", said.join(" and ")))
}

/// Upload, run on an ephemeral cluster, read the outputs.
async fn pipeline(
    w: &WorkspaceClient,
    steps: &mut Steps,
    made: &Rc<RefCell<Made>>,
) -> Result<(Run, Vec<(String, String)>), CliError> {
    let user = w.current_user().me().await?.user_name.unwrap_or_default();
    let dir = format!("/Users/{user}/brickwork-etl");
    w.workspace().mkdirs(&dir).await?;
    made.borrow_mut().dir = Some(dir.clone());
    for (name, source) in [("bronze", BRONZE), ("silver", SILVER)] {
        let options = UploadOptions::notebook(Language::Python).overwrite(true);
        w.workspace().upload(&format!("{dir}/{name}"), source, options).await?;
    }
    steps.step("upload notebooks", format!("uploaded notebooks {dir}/bronze and {dir}/silver"))?;

    let clusters = w.clusters();
    let lts = SparkVersionFilter::default().long_term_support(true);
    let spark_version = clusters.select_spark_version(&lts).await?;
    let node_type_id = clusters.select_node_type(&NodeTypeFilter::default().local_disk(true)).await?;
    let spec = clusters.create(spark_version).cluster_name("brickwork-etl").node_type_id(node_type_id).num_workers(1);
    let run_date = time::OffsetDateTime::now_utc().date().to_string();
    let wait = WaitOptions::default().poll_interval(Duration::from_millis(250), Duration::from_secs(10));
    let cluster_options = EphemeralOptions { wait: wait.same_timing() };
    steps.say("starting an ephemeral cluster (it is deleted whatever happens)")?;
    let text = steps.text;
    let since = steps.last;
    let (run, outputs, marks) = ephemeral_cluster(w, spec, cluster_options, |cluster| {
        let w = w.clone();
        let dir = dir.clone();
        let made = made.clone();
        async move {
            // The steps inside the cluster's life, timed here and narrated as they end.
            let mut marks: Vec<(&'static str, Instant)> = Vec::new();
            let mut mark = |name: &'static str, said: String| {
                marks.push((name, Instant::now()));
                if text {
                    let _ = lines(&[said]);
                }
            };
            let cluster_id = cluster.cluster_id.clone().unwrap_or_default();
            mark("start cluster", format!("cluster {cluster_id} is running"));
            let job = JobBuilder::new("brickwork-etl")
                .task(TaskSpec::notebook("bronze", &format!("{dir}/bronze")).existing_cluster(&cluster_id))
                .task(
                    TaskSpec::notebook("silver", &format!("{dir}/silver"))
                        .existing_cluster(&cluster_id)
                        .depends_on(["bronze"]),
                )
                .parameter("run_date", &run_date)
                .max_concurrent_runs(1)
                .tag("pipeline", "bronze-silver")
                .build()?;
            let (job_id, said) = match job.upsert(&w).await? {
                Upserted::Created(id) => (id, format!("created job {id}")),
                Upserted::Updated(id) => (id, format!("updated job {id} (kept by an earlier --keep)")),
            };
            made.borrow_mut().job_id = Some(job_id);
            mark("upsert job", said);
            let parameters = BTreeMap::from([("run_date".to_string(), run_date.clone())]);
            let run = JobSpec::run_and_wait(&w, job_id, parameters, wait, move |task| {
                if text {
                    let result = task.result.as_deref().map(|r| format!(" {r}")).unwrap_or_default();
                    let _ = lines(&[format!("  task {:<6} {}{result}", task.task_key, task.state)]);
                }
            })
            .await?;
            mark("run job", format!("run {} finished", run.run_id.unwrap_or_default()));
            let mut outputs = Vec::new();
            for task in &run.tasks {
                let Some(task_run_id) = task.run_id else { continue };
                let output = w.jobs().get_run_output(task_run_id).await?;
                outputs
                    .push((task.task_key.clone(), output.notebook_output.and_then(|o| o.result).unwrap_or_default()));
            }
            mark("read outputs", "read the notebooks' outputs".to_string());
            Ok((run, outputs, marks))
        }
    })
    .await?;
    let mut last = since;
    for (name, at) in marks {
        steps.done.push((name, at - last));
        last = at;
    }
    steps.last = last;
    steps.step("delete cluster", "ephemeral cluster permanently deleted")?;
    Ok((run, outputs))
}

fn report(
    session: &Session,
    steps: &Steps,
    run: &Run,
    outputs: &[(String, String)],
    emulator: Option<&EmulatorHandle>,
) -> Result<(), CliError> {
    let task_rows: Vec<serde_json::Value> = run
        .tasks
        .iter()
        .map(|t| {
            let state = t.state.as_ref();
            json!({
                "task": t.task_key,
                "state": state.and_then(|s| s.life_cycle_state.as_ref()).map(|s| format!("{s:?}").to_ascii_uppercase()),
                "result": state.and_then(|s| s.result_state.as_ref()).map(|s| format!("{s:?}").to_ascii_uppercase()),
                "seconds": t.end_time.zip(t.start_time).map(|(e, s)| (e - s) as f64 / 1000.0),
                "output": outputs.iter().find(|(k, _)| *k == t.task_key).map(|(_, o)| o.clone()),
            })
        })
        .collect();
    let total = steps.started.elapsed();
    match session.output() {
        Output::Json => session.printer().json(&json!({
            "run_id": run.run_id,
            "run_page_url": run.run_page_url,
            "tasks": task_rows,
            "steps": steps.done.iter().map(|(name, took)| json!({"step": name, "seconds": took.as_secs_f64()})).collect::<Vec<_>>(),
            "total_seconds": total.as_secs_f64(),
            "emulator_requests": emulator.map(|e| e.counters().requests),
        })),
        Output::Text => {
            lines(&[String::new(), "tasks:".to_string()])?;
            let mut table = session.printer().listing(&["task", "state", "result", "seconds", "output"]);
            for row in task_rows {
                table.push(row)?;
            }
            table.finish()?;
            let mut said = vec![String::new(), "where the time went:".to_string()];
            for (name, took) in &steps.done {
                said.push(format!("  {name:<17} {:>7.2} s", took.as_secs_f64()));
            }
            said.push(format!("  {:<17} {:>7.2} s", "total", total.as_secs_f64()));
            if let Some(emulator) = emulator {
                let counters = emulator.counters();
                said.push(format!(
                    "emulator: {} requests, {} live clusters left",
                    counters.requests, counters.live_clusters
                ));
            }
            lines(&said)
        }
    }
}

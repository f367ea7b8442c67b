//! The fault soak: concurrent workers share one OAuth M2M client with
//! short-lived tokens (and, for secrets, one basic-auth client: a password
//! to keep out of the logs too) and run mixed real flows (clusters, jobs, secrets)
//! against the emulator while about one request in five meets a fault.
//!
//! What must hold, checked from the emulator's counters and state and from
//! the client's trace log:
//! - every idempotent operation succeeds (the client retried it through);
//! - a non-idempotent operation fails only with a kind an injected fault can
//!   cause, never more often than such faults were injected, and the worker
//!   then finds out from the server what happened (as production code would);
//! - nothing was applied twice (one run per run-now, no stray job or
//!   cluster), and nothing is left: no cluster, job or active run;
//! - no secret appears in any log line, error message or `Debug` output.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brickwork::service::helpers::UploadOptions;
use brickwork::service::jobs::{NotebookTask, Task};
use brickwork::service::workspace::Language;
use brickwork::service::{WaitOptions, WorkspaceClient};
use brickwork::transport::{RetryPolicy, SERVER_ERROR_ATTEMPTS};
use brickwork::{Client, Config, Error, ErrorKind};
use brickwork_emulator::{Emulator, EmulatorHandle, Fault, FaultRule, FaultSettings, Phase};

use crate::logs;

const CLIENT_ID: &str = "soak-service-principal";
const SPARK_VERSION: &str = "15.4.x-scala2.12";
const NODE_TYPE: &str = "i3.xlarge";

/// About 20% of requests meet one of these (rules draw independently).
fn fault_rules(seed: u64) -> FaultSettings {
    let rule = |phase, probability, fault| FaultRule {
        path_prefix: String::new(),
        method: None,
        probability,
        fault,
        phase,
        times: None,
        query: None,
    };
    FaultSettings {
        seed,
        rules: vec![
            rule(Phase::Before, 0.04, Fault::TooManyRequests { retry_after_secs: 0 }),
            rule(Phase::Before, 0.04, Fault::Unavailable),
            rule(Phase::Before, 0.02, Fault::InternalError),
            rule(Phase::Before, 0.03, Fault::DropConnection),
            rule(Phase::Before, 0.03, Fault::Latency { ms: 250 }),
            rule(Phase::After, 0.02, Fault::DropConnection),
            rule(Phase::After, 0.02, Fault::InternalError),
        ],
        rate_limit_per_principal: None,
    }
}

/// What the workers saw.
#[derive(Default)]
struct Tally {
    operations: u64,
    /// Operations that failed (as faults can make them).
    failed: u64,
    /// Faults those failures need, by the fault kind that can cause them and
    /// the request (`"internal_error POST /api/2.2/jobs/create"`): one for a
    /// non-idempotent call, `SERVER_ERROR_ATTEMPTS` for an idempotent one.
    failures: BTreeMap<String, u64>,
    violations: Vec<String>,
    /// Secret payloads written, and the client secret: never to be logged.
    secrets: Vec<String>,
    /// Display and Debug of every error seen, scanned for secrets.
    error_text: String,
}

#[derive(Clone)]
struct Worker {
    n: usize,
    w: WorkspaceClient,
    /// Basic auth (user name and password): the secret flows.
    basic: WorkspaceClient,
    tally: Arc<Mutex<Tally>>,
}

impl Worker {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn violation(&self, message: String) {
        self.tally().violations.push(format!("worker {}: {message}", self.n));
    }

    fn seen(&self, err: &Error) {
        let mut tally = self.tally();
        let text = format!("{err}\n{err:?}\n");
        tally.error_text.push_str(&text);
    }

    /// An idempotent operation: the client must have retried it through,
    /// unless it met as many server errors as the transport allows in a row
    /// (a chance run of injected 500s, rare but certain over a long soak):
    /// then those faults must be there, on that request, as for [`Self::may`].
    async fn must<T>(&self, what: &str, call: impl Future<Output = brickwork::Result<T>>) -> Option<T> {
        self.tally().operations += 1;
        match call.await {
            Ok(value) => Some(value),
            Err(err) if err.kind() == ErrorKind::InternalError => {
                self.seen(&err);
                let key = format!("internal_error {}", err.request().unwrap_or("(no request)"));
                let mut tally = self.tally();
                tally.failed += 1;
                *tally.failures.entry(key).or_insert(0) += u64::from(SERVER_ERROR_ATTEMPTS);
                None
            }
            Err(err) => {
                self.seen(&err);
                self.violation(format!("idempotent {what} failed: {} ({:?})", err, err.kind()));
                None
            }
        }
    }

    /// An idempotent delete: "does not exist" means a lost answer's retry
    /// found it done. One that ran out of server-error attempts is asked once
    /// more, as a caller who must clean up would: the soak checks nothing is left.
    async fn delete<F: Future<Output = brickwork::Result<()>>>(&self, what: &str, call: impl Fn() -> F) {
        let done = async {
            let mut result = call().await;
            if result.as_ref().is_err_and(|e| e.kind() == ErrorKind::InternalError) {
                result = call().await;
            }
            match result {
                Err(e) if e.is_missing_resource() => Ok(()),
                other => other,
            }
        };
        self.must(what, done).await;
    }

    /// A non-idempotent operation: it may fail, but only as a fault can make it.
    async fn may<T>(&self, what: &str, call: impl Future<Output = brickwork::Result<T>>) -> Result<T, ()> {
        self.tally().operations += 1;
        call.await.map_err(|err| {
            self.seen(&err);
            let family = fault_family(err.kind());
            let key = format!("{family} {}", err.request().unwrap_or("(no request)"));
            let mut tally = self.tally();
            tally.failed += 1;
            *tally.failures.entry(key).or_insert(0) += 1;
            drop(tally);
            if family == "other" || err.is_connect_failure() {
                self.violation(format!("{what} failed in a way no fault causes: {err} ({:?})", err.kind()));
            }
        })
    }

    async fn cluster_flow(&self, i: usize) {
        let clusters = self.w.clusters();
        let name = format!("soak-{}-c{i}", self.n);
        let create = clusters.create(SPARK_VERSION).cluster_name(&name).node_type_id(NODE_TYPE).num_workers(1);
        let Ok(created) = self.may("clusters.create", create.send()).await else {
            // The answer may be lost after the cluster was made: ask the server.
            let Some(all) = self.must("clusters.list", clusters.list().try_collect()).await else { return };
            let named: Vec<_> = all.into_iter().filter(|c| c.cluster_name.as_deref() == Some(name.as_str())).collect();
            if named.len() > 1 {
                self.violation(format!("cluster {name} was created {} times", named.len()));
            }
            for cluster in named {
                let id = cluster.cluster_id.unwrap_or_default();
                self.delete("clusters.permanent_delete", || clusters.permanent_delete(&id).send()).await;
            }
            return;
        };
        let id = created.id().to_string();
        self.must("clusters.create (wait)", created.wait_with(quick())).await;
        self.must("clusters.get", clusters.get(&id).send()).await;
        if let Some(all) = self.must("clusters.list", clusters.list().try_collect()).await {
            if !all.iter().any(|c| c.cluster_id.as_deref() == Some(id.as_str())) {
                self.violation(format!("cluster {id} is missing from the list"));
            }
        }
        self.delete("clusters.permanent_delete", || clusters.permanent_delete(&id).send()).await;
    }

    async fn job_flow(&self, i: usize, notebook: &str) {
        let jobs = self.w.jobs();
        let name = format!("soak-{}-j{i}", self.n);
        let task = Task::new("main").environment_key("serverless").notebook_task(NotebookTask::new(notebook));
        let mut job_id = None;
        for _ in 0..5 {
            if let Ok(created) =
                self.may("jobs.create", jobs.create().name(&name).tasks(vec![task.clone()]).send()).await
            {
                job_id = created.job_id;
                break;
            }
            // Made or not? The exact name tells (the list filter ignores case).
            let Some(found) = self.must("jobs.list", jobs.list().name(&name).try_collect()).await else { return };
            let mut ours =
                found.into_iter().filter(|j| j.settings.as_ref().and_then(|s| s.name.as_deref()) == Some(&name));
            if let Some(job) = ours.next() {
                job_id = job.job_id;
                break;
            }
        }
        let Some(job_id) = job_id else {
            self.violation(format!("job {name} could not be created in 5 attempts"));
            return;
        };
        let run = async { jobs.run_now(job_id).send().await?.wait_with(quick()).await };
        self.must("jobs.run_now (wait)", run).await;
        if let Some(runs) = self.must("jobs.list_runs", jobs.list_runs().job_id(job_id).try_collect()).await {
            if runs.len() != 1 {
                self.violation(format!("job {name}: {} runs for one run-now", runs.len()));
            }
        }
        self.delete("jobs.delete", || jobs.delete(job_id).send()).await;
    }

    async fn secret_flow(&self, i: usize, scope: &str) {
        let secrets = self.basic.secrets();
        let key = format!("key-{i}");
        let value = format!("soak-payload-{}", fastrand_string(24));
        self.tally().secrets.push(value.clone());
        self.must("secrets.put_secret", secrets.put_secret(scope, &key).string_value(value).send()).await;
        if let Some(listed) = self.must("secrets.list_secrets", secrets.list_secrets(scope).try_collect()).await {
            if !listed.iter().any(|s| s.key.as_deref() == Some(key.as_str())) {
                self.violation(format!("secret {scope}/{key} is missing from the list"));
            }
        }
    }

    /// A scope and a notebook of this worker's own, made despite faults.
    async fn setup(&self) -> Option<(String, String)> {
        let scope = format!("soak-{}", self.n);
        let notebook = format!("/Shared/soak-{}", self.n);
        for _ in 0..10 {
            let made = self.may("secrets.create_scope", self.basic.secrets().create_scope(&scope).send()).await.is_ok();
            let listed = self.must("secrets.list_scopes", self.basic.secrets().list_scopes().try_collect()).await;
            if made || listed.is_some_and(|all| all.iter().any(|s| s.name.as_deref() == Some(scope.as_str()))) {
                break;
            }
        }
        for attempt in 0..10 {
            let options = UploadOptions::notebook(Language::Python).overwrite(true);
            let workspace = self.w.workspace();
            let upload = workspace.upload(&notebook, "dbutils.notebook.exit('ok')", options).into_future();
            if self.may("workspace.upload", upload).await.is_ok() {
                return Some((scope, notebook));
            }
            if attempt == 9 {
                self.violation("could not set up in 10 attempts".to_string());
            }
        }
        None
    }

    async fn run(self, deadline: Instant) {
        let Some((scope, notebook)) = self.setup().await else { return };
        let mut i = 0;
        while Instant::now() < deadline {
            i += 1;
            match fastrand::u8(..3) {
                0 => self.cluster_flow(i).await,
                1 => self.job_flow(i, &notebook).await,
                _ => self.secret_flow(i, &scope).await,
            }
        }
        self.delete("secrets.delete_scope", || self.basic.secrets().delete_scope(&scope).send()).await;
    }
}

/// The kind of fault that can cause a failure of this kind.
fn fault_family(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Transport => "drop_connection",
        ErrorKind::InternalError => "internal_error",
        ErrorKind::TemporarilyUnavailable => "unavailable",
        kind if kind.is(ErrorKind::TooManyRequests) => "too_many_requests",
        _ => "other",
    }
}

fn fastrand_string(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric).take(len).collect()
}

fn quick<T>() -> WaitOptions<T> {
    WaitOptions::default().poll_interval(Duration::from_millis(20), Duration::from_millis(100))
}

/// Credentials of the soak's two clients.
struct Credentials {
    client_secret: String,
    password: String,
}

const BASIC_USER: &str = "soak-user@example.com";

async fn start(seed: u64, secrets: &Credentials) -> Result<(EmulatorHandle, WorkspaceClient, WorkspaceClient), String> {
    let emulator = Emulator::builder()
        .transition_delay(Duration::from_millis(30))
        .task_duration(Duration::from_millis(30))
        .service_principal(CLIENT_ID, &secrets.client_secret)
        .user(BASIC_USER, &secrets.password)
        .oauth_token_lifetime(Duration::from_secs(4))
        .faults(fault_rules(seed))
        .start()
        .await
        .map_err(|e| format!("cannot start the emulator: {e}"))?;
    let m2m = Config::builder().client_id(CLIENT_ID).client_secret(&secrets.client_secret);
    let basic = Config::builder().set("username", BASIC_USER).set("password", &secrets.password);
    let mut clients = Vec::new();
    for builder in [m2m, basic] {
        // Headers are logged too (Authorization must not show).
        let cfg = builder
            .host(emulator.url())
            .set("debug_headers", "true")
            .without_environment()
            .build()
            .map_err(|e| e.to_string())?;
        let retry = RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(200),
            throttle_jitter: Duration::from_millis(50),
        };
        let client = Client::builder().config(cfg).retry_policy(retry).build().await.map_err(|e| e.to_string())?;
        clients.push(WorkspaceClient::from_client(client));
    }
    let basic = clients.pop().ok_or("no basic client")?;
    let m2m = clients.pop().ok_or("no OAuth client")?;
    Ok((emulator, m2m, basic))
}

/// Run the soak; returns the violations (none: it passed).
pub async fn run(duration: Duration, workers: usize, seed: u64, log: Option<PathBuf>) -> Vec<String> {
    let log = log.unwrap_or_else(|| std::env::temp_dir().join(format!("brickwork-soak-{seed}.log")));
    if let Err(e) = logs::install(&log) {
        return vec![e];
    }
    let hex = || std::iter::repeat_with(|| fastrand::choice(b"0123456789abcdef").map(|b| *b as char).unwrap_or('0'));
    let credentials = Credentials {
        client_secret: format!("soak-secret-{}", fastrand_string(24)),
        password: format!("dapi{}", hex().take(32).collect::<String>()),
    };
    let (emulator, w, basic) = match start(seed, &credentials).await {
        Ok(started) => started,
        Err(e) => return vec![e],
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    tally.lock().unwrap_or_else(|p| p.into_inner()).secrets.extend([credentials.client_secret, credentials.password]);
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..workers)
        .map(|n| {
            let worker = Worker { n, w: w.clone(), basic: basic.clone(), tally: tally.clone() };
            tokio::spawn(worker.run(deadline))
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        if let Err(e) = task {
            tally.lock().unwrap_or_else(|p| p.into_inner()).violations.push(format!("a worker panicked: {e}"));
        }
    }
    emulator.set_faults(FaultSettings::default());
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    let snapshot = emulator.counters();
    emulator.shutdown().await;
    report(tally, snapshot, &log, [&w, &basic], duration, workers, seed)
}

fn report(
    tally: Tally,
    snapshot: brickwork_emulator::Snapshot,
    log: &std::path::Path,
    [w, basic]: [&WorkspaceClient; 2],
    duration: Duration,
    workers: usize,
    seed: u64,
) -> Vec<String> {
    let mut violations = tally.violations;
    let leftovers = [
        ("live clusters", snapshot.live_clusters),
        ("clusters not permanently deleted", snapshot.clusters_total),
        ("jobs", snapshot.jobs),
        ("active runs", snapshot.active_runs),
    ];
    for (what, count) in leftovers {
        if count != 0 {
            violations.push(format!("{count} {what} left after the soak (applied twice, or leaked)"));
        }
    }
    // Each failure must be matched by a fault of its kind on the same request.
    for (key, failures) in &tally.failures {
        let injected = snapshot.faults_by_request.get(key).copied().unwrap_or(0);
        if *failures > injected {
            violations.push(format!(
                "failures \"{key}\" need {failures} faults but {injected} were injected on that request"
            ));
        }
    }
    // Secret hygiene: the trace log, every error's Display and Debug, the client's Debug.
    let debug = format!("{w:?}\n{:?}\n{basic:?}\n{:?}\n", w.client(), basic.client());
    for finding in logs::findings(&format!("{}{debug}", tally.error_text), &tally.secrets) {
        violations.push(format!("an error message or Debug output shows {finding}"));
    }
    let mut log_violations = logs::scan_files(&[log.to_path_buf()], &tally.secrets);
    violations.append(&mut log_violations);
    let retries = std::fs::read_to_string(log).map(|text| text.lines().filter(|l| l.contains("retrying")).count());
    let faults: u64 = snapshot.faults_injected_before + snapshot.faults_injected_after;
    let failures = tally.failed;
    println!("faults by kind: {:?}", snapshot.faults_by_kind);
    println!(
        "soak: {}s, {workers} workers, seed {seed}: operations {}, requests {}, faults injected {faults}, retries {}, failures {failures} (all typed, from faults: {}), violations {}",
        duration.as_secs(),
        tally.operations,
        snapshot.requests,
        retries.map(|n| n.to_string()).unwrap_or_else(|_| "unknown".into()),
        !tally.failures.keys().any(|k| k.starts_with("other")),
        violations.len()
    );
    violations
}

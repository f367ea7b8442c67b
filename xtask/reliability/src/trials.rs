//! Cleanup trials: many randomized `ephemeral_cluster` runs whose body
//! succeeds, fails or panics, or whose future is dropped at a random moment
//! or right after the body (mid-cleanup), while the emulator fails and slows
//! creates and deletes. Afterwards no cluster may be left. Each drop is
//! tallied by where it cut: before the body (creating or waiting), in the
//! body, or in the cleanup.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brickwork::patterns::{ephemeral_cluster, wait_for_background_cleanups, EphemeralOptions};
use brickwork::service::{WaitOptions, WorkspaceClient};
use brickwork::transport::RetryPolicy;
use brickwork::{Client, Config, Error};
use brickwork_emulator::{Emulator, Fault, FaultRule, FaultSettings, Phase};
use futures::StreamExt;

const CONCURRENT: usize = 16;
const BODY_ERROR: &str = "the body failed";

/// A trial's task: where a drop cut it (or `"ran"`), or its error, or how the
/// task ended without either (a panic).
type Outcome = Result<Result<&'static str, Error>, tokio::task::JoinError>;

/// How far a trial got: the body has not started, runs, or has returned.
const BEFORE_BODY: u8 = 0;
const IN_BODY: u8 = 1;
const BODY_DONE: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    BodySucceeds,
    BodyFails,
    BodyPanics,
    /// The whole future is dropped after a random delay.
    Dropped,
    /// The whole future is dropped just after the body returned: mid-cleanup.
    DroppedInCleanup,
}

fn faults(seed: u64) -> FaultSettings {
    let rule = |path: &str, phase, probability, fault| FaultRule {
        path_prefix: path.to_string(),
        method: None,
        probability,
        fault,
        phase,
        times: None,
        query: None,
    };
    const CREATE: &str = "/api/2.1/clusters/create";
    const DELETE: &str = "/api/2.1/clusters/permanent-delete";
    FaultSettings {
        seed,
        rules: vec![
            rule(CREATE, Phase::Before, 0.05, Fault::Unavailable),
            rule(CREATE, Phase::After, 0.05, Fault::DropConnection),
            rule(DELETE, Phase::Before, 0.15, Fault::Unavailable),
            rule(DELETE, Phase::Before, 0.05, Fault::InternalError),
            rule(DELETE, Phase::Before, 0.05, Fault::DropConnection),
            rule(DELETE, Phase::After, 0.1, Fault::DropConnection),
            rule(DELETE, Phase::Before, 0.3, Fault::Latency { ms: 40 }),
            rule("/api/2.1/clusters/get", Phase::Before, 0.05, Fault::Latency { ms: 30 }),
        ],
        rate_limit_per_principal: None,
    }
}

async fn trial(w: WorkspaceClient, n: usize, scenario: Scenario, drop_after: Duration) -> Result<&'static str, Error> {
    let spec = w
        .clusters()
        .create("15.4.x-scala2.12")
        .cluster_name(format!("trial-{n}"))
        .node_type_id("i3.xlarge")
        .num_workers(1);
    let options = EphemeralOptions {
        wait: WaitOptions::default()
            .poll_interval(Duration::from_millis(5), Duration::from_millis(20))
            .timeout(Duration::from_secs(60)),
    };
    let stage = Arc::new(AtomicU8::new(BEFORE_BODY));
    let seen = stage.clone();
    let guarded = ephemeral_cluster(&w, spec, options, move |_cluster| async move {
        seen.store(IN_BODY, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..10))).await;
        seen.store(BODY_DONE, Ordering::SeqCst);
        match scenario {
            Scenario::BodyFails => Err(Error::config(BODY_ERROR)),
            Scenario::BodyPanics => panic!("the body panicked"),
            _ => Ok(()),
        }
    });
    let cut = match scenario {
        Scenario::Dropped => tokio::time::sleep(drop_after),
        Scenario::DroppedInCleanup => {
            let body_done = async {
                while stage.load(Ordering::SeqCst) != BODY_DONE {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            };
            tokio::select! {
                result = guarded => return result.map(|()| "ran"),
                () = body_done => {}
            }
            return Ok("dropped in the cleanup");
        }
        _ => return guarded.await.map(|()| "ran"),
    };
    tokio::select! {
        result = guarded => result.map(|()| "ran"),
        () = cut => Ok(match stage.load(Ordering::SeqCst) {
            BEFORE_BODY => "dropped before the body",
            IN_BODY => "dropped in the body",
            _ => "dropped in the cleanup",
        }),
    }
}

/// Run `count` trials; returns the violations (none: it passed).
/// With `log`, every event goes to that file at TRACE: a violation's story.
pub async fn run(count: usize, seed: u64, log: Option<PathBuf>) -> Vec<String> {
    if let Some(path) = &log {
        if let Err(e) = crate::logs::install(path) {
            return vec![e];
        }
    }
    fastrand::seed(seed);
    let emulator = match Emulator::builder()
        .transition_delay(Duration::from_millis(5))
        .task_duration(Duration::from_millis(5))
        .faults(faults(seed))
        .start()
        .await
    {
        Ok(emulator) => emulator,
        Err(e) => return vec![format!("cannot start the emulator: {e}")],
    };
    let w = match connect(emulator.url(), emulator.token()).await {
        Ok(w) => w,
        Err(e) => return vec![format!("cannot connect: {e}")],
    };
    // Panics are part of the trials: keep them off the terminal.
    std::panic::set_hook(Box::new(|_| {}));
    let scenarios = [
        Scenario::BodySucceeds,
        Scenario::BodyFails,
        Scenario::BodyPanics,
        Scenario::Dropped,
        Scenario::DroppedInCleanup,
    ];
    let plan: Vec<(usize, Scenario, Duration)> = (0..count)
        .map(|n| (n, scenarios[fastrand::usize(..scenarios.len())], Duration::from_millis(fastrand::u64(0..80))))
        .collect();
    let outcomes: Vec<(Scenario, Outcome)> = futures::stream::iter(plan)
        .map(|(n, scenario, drop_after)| {
            let w = w.clone();
            async move { (scenario, tokio::spawn(trial(w, n, scenario, drop_after)).await) }
        })
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    let _ = std::panic::take_hook();
    wait_for_background_cleanups().await;
    emulator.set_faults(FaultSettings::default());

    let mut violations = Vec::new();
    let mut tally: BTreeMap<String, u64> = BTreeMap::new();
    for (scenario, outcome) in &outcomes {
        let label = match outcome {
            Ok(Ok(label)) => label,
            Ok(Err(_)) => "error",
            Err(e) if e.is_panic() => "panic",
            Err(_) => "cancelled",
        };
        *tally.entry(format!("{scenario:?}/{label}")).or_default() += 1;
        if label == "panic" && *scenario != Scenario::BodyPanics {
            violations.push(format!("{scenario:?}: a panic the body did not raise"));
        }
        match (scenario, outcome) {
            (Scenario::BodyFails, Ok(Ok(_))) => violations.push("a failing body was reported as a success".into()),
            // The body's error is what the caller sees, not a cleanup's.
            (Scenario::BodyFails, Ok(Err(e))) if e.message() != BODY_ERROR && e.message().contains("cannot delete") => {
                violations.push(format!("the body's error was replaced: {e}"))
            }
            // A create may fail from a fault (its cluster is then found by tag); a cleanup may not.
            (Scenario::BodySucceeds, Ok(Err(e))) if e.message().contains("cannot delete") => {
                violations.push(format!("the cleanup of a successful trial failed: {e}"))
            }
            _ => {}
        }
    }
    let snapshot = emulator.counters();
    if snapshot.live_clusters != 0 || snapshot.clusters_total != 0 {
        violations.push(format!(
            "{} clusters left alive, {} not permanently deleted after {count} trials",
            snapshot.live_clusters, snapshot.clusters_total
        ));
    }
    let faults: u64 = snapshot.faults_injected_before + snapshot.faults_injected_after;
    println!("outcomes: {tally:?}");
    println!(
        "trials: {count} ephemeral clusters, seed {seed}, faults injected {faults}, clusters left {}, violations {}",
        snapshot.live_clusters + snapshot.clusters_total,
        violations.len()
    );
    emulator.shutdown().await;
    violations
}

async fn connect(url: &str, token: &str) -> brickwork::Result<WorkspaceClient> {
    let cfg = Config::builder().host(url).token(token).without_environment().build()?;
    let retry = RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        throttle_jitter: Duration::from_millis(5),
    };
    let client = Client::builder().config(cfg).retry_policy(retry).build().await?;
    Ok(WorkspaceClient::from_client(client))
}

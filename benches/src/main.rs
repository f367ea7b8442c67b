//! The benchmark harness behind `cargo xtask bench`.
//!
//! Each scenario runs against a local emulator process for three kinds of
//! contender: brickwork, a raw-HTTP baseline (reqwest with the same pool and
//! no SDK layer: the limit), and the official Python SDK (`contender.py`).
//! Repetitions are interleaved so that drift of the machine hits every
//! contender alike; the report gives median, min and max, the ratios and
//! whether each of the bars is met.
//!
//! `brickwork-bench run --emulator BIN --cli BIN --out DIR [--python BIN]
//! [--quick] [--reps N] [--build-seconds S] [--only SCENARIO]` runs them all
//! (or one);
//! `brickwork-bench list-jobs brickwork|raw URL TOKEN` is the child process
//! whose peak memory the pagination scenario measures, `brickwork-bench
//! transfer URL TOKEN LOCAL REMOTE OUT` the one of the transfer scenario, and `brickwork-bench
//! measure REPORT PROGRAM ARGS...` the small launcher every measured process
//! is started by.

mod bulk;
mod cold_start;
mod emulator;
mod history;
mod listing;
mod measure;
mod report;
mod throughput;
mod transfers;

use std::path::PathBuf;
use std::process::ExitCode;

/// What one `run` measures, and with what.
pub struct Plan {
    /// Seconds instead of minutes: small counts, one repetition, no bars.
    pub quick: bool,
    pub reps: usize,
    pub emulator: PathBuf,
    pub cli: PathBuf,
    /// The venv's interpreter with `databricks-sdk` installed.
    pub python: Option<PathBuf>,
    /// `benches/contender.py`.
    pub contender: PathBuf,
    pub out: PathBuf,
    /// The cold build of the default features, timed by `cargo xtask bench`.
    pub build_seconds: Option<f64>,
    /// Run only this scenario (`--only throughput`): for profiling one path.
    pub only: Option<String>,
}

impl Plan {
    /// `full` in a real run, `quick` in the reduced one.
    pub fn count(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

fn parse(args: &[String]) -> Result<Plan, String> {
    let mut plan = Plan {
        quick: false,
        reps: 0,
        emulator: PathBuf::new(),
        cli: PathBuf::new(),
        python: None,
        contender: PathBuf::from("benches/contender.py"),
        out: PathBuf::from("bench"),
        build_seconds: None,
        only: None,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => plan.quick = true,
            "--reps" => plan.reps = value()?.parse().map_err(|_| "--reps: not a whole number".to_string())?,
            "--emulator" => plan.emulator = value()?.into(),
            "--cli" => plan.cli = value()?.into(),
            "--python" => plan.python = Some(value()?.into()),
            "--contender" => plan.contender = value()?.into(),
            "--out" => plan.out = value()?.into(),
            "--only" => plan.only = Some(value()?),
            "--build-seconds" => {
                plan.build_seconds = Some(value()?.parse().map_err(|_| "--build-seconds: not a number".to_string())?)
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if plan.emulator.as_os_str().is_empty() || plan.cli.as_os_str().is_empty() {
        return Err("--emulator and --cli are required".into());
    }
    if plan.reps == 0 {
        plan.reps = if plan.quick { 1 } else { 5 };
    }
    Ok(plan)
}

/// The scenarios by the name `--only` takes, with what each prints as it
/// starts; `capacity` runs only when asked (`throughput` measures it too).
const SCENARIOS: [(&str, &str); 7] = [
    ("throughput", "throughput and emulator capacity"),
    ("listing", "streaming pagination"),
    ("bulk", "rate-limited bulk delete"),
    ("transfers", "large file transfers"),
    ("cold-start", "cold start and build"),
    ("history", "cost per request with a long history"),
    ("capacity", "emulator capacity alone, to compare emulator builds"),
];

async fn run(plan: Plan) -> Result<(), String> {
    if let Some(only) = &plan.only {
        if !SCENARIOS.iter().any(|(name, _)| name == only) {
            let names: Vec<&str> = SCENARIOS.iter().map(|(name, _)| *name).collect();
            return Err(format!("--only {only}: no such scenario (one of {})", names.join(", ")));
        }
    }
    let mut metrics = Vec::new();
    for (name, title) in SCENARIOS {
        let asked = plan.only.as_deref() == Some(name);
        if (name == "capacity" || plan.only.is_some()) && !asked {
            continue;
        }
        eprintln!("bench: {title}");
        let found = match name {
            "throughput" => throughput::run(&plan).await,
            "listing" => listing::run(&plan).await,
            "bulk" => bulk::run(&plan).await,
            "transfers" => transfers::run(&plan).await,
            "history" => history::run(&plan).await,
            "capacity" => throughput::capacity(&plan).await,
            _ => cold_start::run(&plan).await,
        };
        collect(&mut metrics, found)?;
    }
    report::write(&plan, &metrics)
}

/// Print a scenario's figures as they come, so a long run shows progress.
fn collect(all: &mut Vec<report::Metric>, found: Result<Vec<report::Metric>, String>) -> Result<(), String> {
    for metric in found? {
        eprintln!("  {}", metric.summary());
        all.push(metric);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Each mode builds the runtime it needs: the launcher builds none, to stay small.
    let result = match args.split_first() {
        Some((command, rest)) if command == "measure" => measure::launch(rest),
        Some((command, rest)) if command == "run" => parse(rest).and_then(|plan| runtime()?.block_on(run(plan))),
        Some((command, rest)) if command == "list-jobs" => runtime().and_then(|r| r.block_on(listing::child(rest))),
        Some((command, rest)) if command == "transfer" => runtime().and_then(|r| r.block_on(transfers::child(rest))),
        _ => Err("usage: brickwork-bench run --emulator BIN --cli BIN [--python BIN] [--quick] [--reps N] [--out DIR] [--only SCENARIO]
       brickwork-bench list-jobs brickwork|raw URL TOKEN
       brickwork-bench transfer URL TOKEN LOCAL REMOTE OUT
       brickwork-bench measure REPORT PROGRAM [ARGS...]"
            .into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brickwork-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("cannot start a runtime: {e}"))
}

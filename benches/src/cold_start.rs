//! Scenario 4: `brickwork clusters list` (and `--help`) as whole processes
//! against the emulator, beside a Python one-liner doing the same with the
//! official SDK, import included; then the cold build time and the CLI's size.

use std::process::Command;

use crate::emulator::{sdk_environment, Emulator};
use crate::measure::{run_process, Stats};
use crate::report::{Bar, Metric, BRICKWORK, PYTHON};
use crate::Plan;

const PYTHON_CLUSTERS_LIST: &str =
    "from databricks.sdk import WorkspaceClient; list(WorkspaceClient().clusters.list())";

/// Wall time (ms) and peak RSS (MiB) over repeated runs.
#[derive(Default)]
struct Runs {
    ms: Vec<f64>,
    rss_mib: Vec<f64>,
}

impl Runs {
    async fn measure(&mut self, count: usize, command: &Command) -> Result<(), String> {
        for _ in 0..count {
            let run = run_process(command).await?;
            self.ms.push(run.wall.as_secs_f64() * 1e3);
            self.rss_mib.push(run.max_rss_mib);
        }
        Ok(())
    }
}

pub async fn run(plan: &Plan) -> Result<Vec<Metric>, String> {
    let emulator = Emulator::start(&plan.emulator, &[]).await?;
    for i in 0..3 {
        emulator.create_cluster(&format!("bench-cold-{i}")).await?;
    }
    let home = std::env::temp_dir().join("brickwork-bench-home");
    std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    let with_environment = |program: &std::path::Path, args: &[&str]| {
        let mut command = Command::new(program);
        command.args(args).env("HOME", &home);
        sdk_environment(&mut command, &emulator);
        command
    };
    let runs = plan.count(20, 3);
    let list = with_environment(&plan.cli, &["clusters", "list"]);
    let help = with_environment(&plan.cli, &["--help"]);
    let (mut cli_list, mut cli_help, mut py) = (Runs::default(), Runs::default(), Runs::default());
    // One unmeasured run of each first, so every measured run finds the binary in the page cache.
    run_process(&list).await?;
    cli_list.measure(runs, &list).await?;
    cli_help.measure(runs, &help).await?;
    if let Some(python) = &plan.python {
        let one_liner = with_environment(python, &["-c", PYTHON_CLUSTERS_LIST]);
        run_process(&one_liner).await?;
        py.measure(plan.count(10, 1), &one_liner).await?;
    }

    let mut metrics = vec![
        Metric::new("cold start", "clusters list as a whole process".into(), "ms", false)
            .value(BRICKWORK, Stats::of(&cli_list.ms))
            .value(PYTHON, Stats::of(&py.ms))
            .ratio(PYTHON, BRICKWORK)
            .bar(Bar::below(BRICKWORK, 20.0, "ms")),
        Metric::new("cold start", "clusters list: peak RSS".into(), "MiB", false)
            .value(BRICKWORK, Stats::of(&cli_list.rss_mib))
            .value(PYTHON, Stats::of(&py.rss_mib)),
        Metric::new("cold start", "--help as a whole process".into(), "ms", false)
            .value(BRICKWORK, Stats::of(&cli_help.ms))
            .bar(Bar::below(BRICKWORK, 20.0, "ms")),
        Metric::new("cold start", "--help: peak RSS".into(), "MiB", false)
            .value(BRICKWORK, Stats::of(&cli_help.rss_mib)),
    ];
    let floor = crate::measure::floor().await?;
    metrics.push(
        Metric::new("cold start", "peak RSS of `true`, measured the same way (the floor)".into(), "MiB", false)
            .value(BRICKWORK, Stats::of(&[floor])),
    );
    let size = std::fs::metadata(&plan.cli).map_err(|e| format!("{}: {e}", plan.cli.display()))?.len();
    metrics.push(
        Metric::new("build", "size of the brickwork CLI binary".into(), "MB", false)
            .value(BRICKWORK, Stats::of(&[size as f64 / 1e6])),
    );
    if let Some(seconds) = plan.build_seconds {
        metrics.push(
            Metric::new("build", "cold release build of the library, default features".into(), "s", false)
                .value(BRICKWORK, Stats::of(&[seconds])),
        );
    }
    Ok(metrics)
}

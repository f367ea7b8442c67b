//! The reliability suite (`cargo xtask soak | trials | scan-secrets`): runs
//! real flows against the embedded emulator under injected faults, then
//! checks the emulator's state and the client's logs. Each command prints a
//! last line of totals and exits non-zero on any violation.

mod logs;
mod soak;
mod trials;

use std::process::ExitCode;
use std::time::Duration;

/// Flags shared by the commands, with their defaults.
struct Args {
    seconds: u64,
    workers: usize,
    count: usize,
    seed: u64,
    log: Option<std::path::PathBuf>,
    files: Vec<std::path::PathBuf>,
    secrets: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        seconds: 60,
        workers: 8,
        count: 1000,
        seed: fastrand::u64(..),
        log: None,
        files: Vec::new(),
        secrets: Vec::new(),
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{arg}: {v:?} is not a whole number"));
        match arg.as_str() {
            "--seconds" => parsed.seconds = number(value()?)?,
            "--workers" => parsed.workers = number(value()?)?.max(1) as usize,
            "--count" => parsed.count = number(value()?)? as usize,
            "--seed" => parsed.seed = number(value()?)?,
            "--log" => parsed.log = Some(value()?.into()),
            "--secret" => parsed.secrets.push(value()?),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            file => parsed.files.push(file.into()),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = all.split_first() else {
        eprintln!("usage: reliability soak|trials|scan-secrets [flags]");
        return ExitCode::FAILURE;
    };
    let args = match parse(rest) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("reliability: {e}");
            return ExitCode::FAILURE;
        }
    };
    let violations = match command.as_str() {
        "scan-secrets" => logs::scan_files(&args.files, &args.secrets),
        "soak" | "trials" => {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("reliability: cannot start a runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if command == "soak" {
                runtime.block_on(soak::run(Duration::from_secs(args.seconds), args.workers, args.seed, args.log))
            } else {
                runtime.block_on(trials::run(args.count, args.seed, args.log))
            }
        }
        other => vec![format!("unknown command {other}")],
    };
    for violation in &violations {
        eprintln!("VIOLATION: {violation}");
    }
    if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

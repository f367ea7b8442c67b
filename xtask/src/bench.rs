//! `cargo xtask bench [--quick] [--reps N] [--python PATH] [--only SCENARIO]`: build the
//! emulator, the CLI and the harness (release; the dev profile with
//! `--quick`), make the Python venv with the pinned official SDK, time a cold
//! build of the library (full runs only), then run `brickwork-bench`. A full
//! run writes `bench/report.{json,md}`; a quick one (CI) writes under
//! `target/bench-quick` and judges nothing; `--only` runs one scenario and
//! writes under `target/bench-only`. `--no-build` takes the binaries
//! in `target/debug` as they are: CI has built them in its test step, and
//! building them again without the test's features would rebuild the stack.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Options {
    quick: bool,
    no_build: bool,
    reps: Option<String>,
    python: Option<PathBuf>,
    only: Option<String>,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut parsed = Options { quick: false, no_build: false, reps: None, python: None, only: None };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => parsed.quick = true,
            "--no-build" => parsed.no_build = true,
            "--reps" => parsed.reps = Some(rest.next().ok_or("--reps needs a value")?.clone()),
            "--python" => parsed.python = Some(rest.next().ok_or("--python needs a value")?.into()),
            "--only" => parsed.only = Some(rest.next().ok_or("--only needs a scenario")?.clone()),
            other => return Err(format!("bench: unknown argument {other}")),
        }
    }
    if parsed.no_build && !parsed.quick {
        return Err("bench: --no-build takes the debug binaries: only with --quick".into());
    }
    Ok(parsed)
}

/// The venv's interpreter, with the SDK pinned for the compatibility suite.
fn python_venv(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join("target/bench-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        crate::run_checked(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    crate::run_checked(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(root.join("tests/compat/requirements.txt")),
    )?;
    Ok(python)
}

/// Seconds for a release build of the library (default features) from
/// nothing, in a target directory of its own.
fn cold_build(cargo: &str, root: &Path) -> Result<f64, String> {
    let target = root.join("target/bench-cold-build");
    let _ = std::fs::remove_dir_all(&target);
    let started = Instant::now();
    crate::run_checked(
        Command::new(cargo)
            .current_dir(root)
            .args(["build", "--release", "--locked", "-p", "brickwork", "--target-dir"])
            .arg(&target),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&target);
    Ok(seconds)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let options = options(args)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("no workspace root")?.to_path_buf();
    // The cold build belongs to the cold-start scenario.
    let times_build = !options.quick && options.only.as_deref().is_none_or(|only| only == "cold-start");
    let build_seconds = if times_build { Some(cold_build(&cargo, &root)?) } else { None };
    let mut build = Command::new(&cargo);
    build.current_dir(&root).args([
        "build",
        "--locked",
        "-p",
        "brickwork-emulator",
        "-p",
        "brickwork-cli",
        "-p",
        "brickwork-bench",
    ]);
    if !options.quick {
        build.arg("--release");
    }
    if !options.no_build {
        crate::run_checked(&mut build)?;
    }
    let python = match options.python {
        Some(python) => python,
        None => python_venv(&root)?,
    };
    let bin = root.join(if options.quick { "target/debug" } else { "target/release" });
    let mut bench = Command::new(bin.join("brickwork-bench"));
    bench
        .current_dir(&root)
        .arg("run")
        .arg("--emulator")
        .arg(bin.join("brickwork-emulator"))
        .arg("--cli")
        .arg(bin.join("brickwork"))
        .arg("--python")
        .arg(python)
        .arg("--contender")
        .arg(root.join("benches/contender.py"))
        .arg("--out")
        .arg(root.join(match (options.quick, &options.only) {
            (true, _) => "target/bench-quick",
            // One scenario must not replace the full report.
            (false, Some(_)) => "target/bench-only",
            (false, None) => "bench",
        }));
    if options.quick {
        bench.arg("--quick");
    }
    if let Some(reps) = &options.reps {
        bench.args(["--reps", reps]);
    }
    if let Some(only) = &options.only {
        bench.args(["--only", only]);
    }
    if let Some(seconds) = build_seconds {
        bench.args(["--build-seconds", &format!("{seconds:.1}")]);
    }
    crate::run_checked(&mut bench)
}

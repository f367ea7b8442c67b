//! Project automation.
//!
//! - `cargo xtask codegen`: regenerate the service modules, client accessors,
//!   cargo features and the CLI's command table from `api/model.json`.
//! - `cargo xtask codegen --check`: fail when a committed file differs from
//!   what the generator writes (CI runs this).
//! - `cargo xtask soak`, `trials`, `scan-secrets`: the reliability suite.
//! - `cargo xtask bench`: the benchmarks and `bench/report.{md,json}`.
//! - `cargo xtask dist [--profile-code [--from BINARY]] [--all-services]`:
//!   the CLI as shipped, its startup code laid out together.

mod bench;
mod cli;
mod codegen;
mod crosscheck;
mod dist;
mod model;
mod parity;
mod shapes;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const FEATURES_MARKER: &str = "[features]";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Format Rust source with the project's rustfmt settings.
fn rustfmt(code: &str) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--config-path"])
        .arg(root().join("rustfmt.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    let input = code.to_string();
    // Write from another thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().map_err(|e| format!("rustfmt: {e}"))?;
    writer.join().map_err(|_| "rustfmt writer panicked".to_string())?.map_err(|e| format!("rustfmt stdin: {e}"))?;
    if !output.status.success() {
        return Err(format!("rustfmt failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt output: {e}"))
}

/// `api/idempotent.tsv`: (package, service, operation) safe to replay by contract.
fn idempotent_table() -> Result<std::collections::BTreeSet<(String, String, String)>, String> {
    let path = root().join("api/idempotent.tsv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut table = std::collections::BTreeSet::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        match cols.as_slice() {
            [pkg, service, op, why] if !why.trim().is_empty() => {
                table.insert((pkg.to_string(), service.to_string(), op.to_string()));
            }
            _ => return Err(format!("{}:{}: expected package, service, operation and reason", path.display(), n + 1)),
        }
    }
    Ok(table)
}

/// Every generated file: path relative to the repository root -> content.
fn generate(model: &model::Model) -> Result<Vec<(PathBuf, String)>, String> {
    let index = codegen::index(model);
    let source = format!("{} {}", model.source.package, model.source.version);
    let idempotent = idempotent_table()?;
    for (pkg, service, op) in &idempotent {
        let known = model.packages.get(pkg).is_some_and(|p| {
            p.services.iter().any(|s| &s.name == service && s.operations.iter().any(|o| &o.name == op))
        });
        if !known {
            return Err(format!("api/idempotent.tsv names {pkg} {service} {op}, which the model does not have"));
        }
    }
    let mut files = Vec::new();
    for (name, pkg) in &model.packages {
        let path = PathBuf::from(format!("crates/brickwork/src/service/{name}.rs"));
        let code = codegen::package_module(name, pkg, &index, &source, &idempotent);
        files.push((path, rustfmt(&code)?));
    }
    files.push((
        PathBuf::from("crates/brickwork/src/service/generated.rs"),
        rustfmt(&codegen::accessors_module(model))?,
    ));
    files.push((PathBuf::from("api/PARITY.md"), parity::render(model)));
    files.push((
        PathBuf::from("crates/brickwork-emulator/src/shapes/generated.rs"),
        rustfmt(&shapes::emulator_shapes(model)?)?,
    ));
    files
        .push((PathBuf::from("crates/brickwork/tests/roundtrip/cases.rs"), rustfmt(&codegen::roundtrip_cases(model))?));
    let manifest_path = root().join("crates/brickwork/Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let head = manifest.split(FEATURES_MARKER).next().unwrap_or(&manifest).trim_end();
    files.push((PathBuf::from("crates/brickwork/Cargo.toml"), format!("{head}\n\n{}", codegen::features(model))));
    let (commands, representatives) = cli::commands(model, &index, &idempotent);
    files.push((PathBuf::from("crates/brickwork-cli/src/generated.rs"), rustfmt(&commands)?));
    files.push((PathBuf::from("crates/brickwork-cli/tests/representative.tsv"), representatives));
    let cli_manifest_path = root().join("crates/brickwork-cli/Cargo.toml");
    let cli_manifest =
        std::fs::read_to_string(&cli_manifest_path).map_err(|e| format!("{}: {e}", cli_manifest_path.display()))?;
    let cli_head = cli_manifest.split(FEATURES_MARKER).next().unwrap_or(&cli_manifest).trim_end();
    files.push((PathBuf::from("crates/brickwork-cli/Cargo.toml"), format!("{cli_head}\n\n{}", cli::features(model))));
    Ok(files)
}

fn run(check: bool) -> Result<(), String> {
    let model_path = root().join("api/model.json");
    let text = std::fs::read_to_string(&model_path).map_err(|e| format!("{}: {e}", model_path.display()))?;
    let model: model::Model = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", model_path.display()))?;
    let files = generate(&model)?;
    let mut stale = Vec::new();
    for (rel, content) in &files {
        let path = root().join(rel);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == *content {
            continue;
        }
        if check {
            stale.push(rel.display().to_string());
        } else {
            std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let reference = root().join("../shared/reference/endpoints.tsv");
    if reference.exists() {
        let problems = crosscheck::endpoints(&model, &reference)?;
        if !problems.is_empty() {
            return Err(format!("the model disagrees with {}:\n  {}", reference.display(), problems.join("\n  ")));
        }
        println!("cross-check: every endpoint of {} matches the model", reference.display());
    }
    if !stale.is_empty() {
        return Err(format!("generated files are out of date (run `cargo xtask codegen`): {}", stale.join(", ")));
    }
    let ops: usize = model.packages.values().flat_map(|p| &p.services).map(|s| s.operations.len()).sum();
    let services: usize = model.packages.values().map(|p| p.services.len()).sum();
    let types: usize = model.packages.values().map(|p| p.types.len()).sum();
    let enums: usize = model.packages.values().map(|p| p.enums.len()).sum();
    println!(
        "codegen{}: {} packages, {services} services, {ops} operations, {types} types, {enums} enums ({} files)",
        if check { " --check ok" } else { "" },
        model.packages.len(),
        files.len()
    );
    Ok(())
}

const USAGE: &str = "usage: cargo xtask codegen [--check]
       cargo xtask soak [--seconds N] [--workers N] [--seed N] [--log FILE]
       cargo xtask trials [--count N] [--seed N] [--log FILE]
       cargo xtask scan-secrets FILE... [--secret VALUE]...
       cargo xtask bench [--quick [--no-build]] [--reps N] [--python PATH] [--only SCENARIO]
       cargo xtask dist [--profile-code [--from BINARY]] [--all-services]";

/// The reliability suite lives in its own crate, so that this one (which
/// regenerates the library) builds even when the library does not.
fn reliability(args: &[String]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut suite = std::process::Command::new(cargo);
    suite.args(["run", "--quiet", "--locked", "--package", "reliability", "--"]).args(args);
    run_checked(&mut suite)
}

/// Run `command` to its end; anything but success is an error naming it.
fn run_checked(command: &mut std::process::Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let status = command.status().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => run(args.iter().any(|a| a == "--check")),
        Some("soak" | "trials" | "scan-secrets") => reliability(&args),
        Some("bench") => bench::run(&args[1..]),
        Some("dist") => dist::run(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `brickwork`: the command-line tool, shaped like the official `databricks`
//! CLI. So far: `auth describe` and `auth login`.
//!
//! Exit codes: 0 success, 1 an API or other error, 2 a usage error, 3 an
//! authentication or configuration error.

mod auth;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// A Databricks client for people and scripts.
#[derive(Debug, Parser)]
#[command(name = "brickwork", version, about)]
struct Cli {
    /// Profile of ~/.databrickscfg to use.
    #[arg(short, long, global = true)]
    profile: Option<String>,
    /// Workspace or account URL (overrides the profile and DATABRICKS_HOST).
    #[arg(long, global = true)]
    host: Option<String>,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Log requests to stderr (secrets redacted).
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Authentication: what is configured, and logging in.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
}

/// Exit codes by class of failure.
#[derive(Debug, Clone, Copy)]
enum Failure {
    Other = 1,
    AuthOrConfig = 3,
}

impl Failure {
    fn of(err: &brickwork::Error) -> Failure {
        match err.kind() {
            brickwork::ErrorKind::Auth | brickwork::ErrorKind::Config => Failure::AuthOrConfig,
            _ => Failure::Other,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.debug {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter("brickwork=debug").init();
    }
    let result = match &cli.command {
        Command::Auth(command) => auth::run(&cli, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(cli.output, &err);
            ExitCode::from(Failure::of(&err) as u8)
        }
    }
}

/// An error on stderr: a line of text, or an object in JSON mode.
fn report(output: Output, err: &brickwork::Error) {
    match output {
        Output::Text => eprintln!("Error: {}", err.message()),
        Output::Json => {
            let object = serde_json::json!({
                "kind": format!("{:?}", err.kind()),
                "error_code": err.error_code(),
                "status": err.status(),
                "message": err.message(),
            });
            eprintln!("{object}");
        }
    }
}

/// The configuration the global flags and the environment describe.
fn config(cli: &Cli, auth_type: Option<&str>) -> brickwork::Result<brickwork::Config> {
    let mut builder = brickwork::Config::builder();
    if let Some(profile) = &cli.profile {
        builder = builder.profile(profile);
    }
    if let Some(host) = &cli.host {
        builder = builder.host(host);
    }
    if let Some(auth_type) = auth_type {
        builder = builder.auth_type(auth_type);
    }
    builder.build()
}

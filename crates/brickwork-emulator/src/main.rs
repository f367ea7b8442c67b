//! `brickwork-emulator`: run a local Databricks workspace.
//!
//! The first line on stdout is one JSON object with the URL and token, e.g.
//! `{"url":"http://127.0.0.1:40123","token":"dapi..."}`; logs go to stderr.

use std::process::ExitCode;

use brickwork_emulator::serve::{serve, ServeArgs};
use clap::Parser;

/// A local Databricks workspace for tests and demos.
#[derive(Debug, Parser)]
#[command(name = "brickwork-emulator", version)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    serve(&Args::parse().serve, "brickwork-emulator").await
}

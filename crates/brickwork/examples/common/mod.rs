//! Shared by the examples: the configured workspace, or the embedded emulator.
#![allow(dead_code)]

use brickwork::{Config, Error, Result, WorkspaceClient};
use brickwork_emulator::{Emulator, EmulatorHandle};

/// A workspace client; keep the returned handle alive while using it.
pub async fn connect() -> Result<(WorkspaceClient, Option<EmulatorHandle>)> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .try_init();
    let configured = Config::from_env()?;
    if let Some(host) = configured.host() {
        println!("running against {host}");
        return Ok((WorkspaceClient::new(configured).await?, None));
    }
    let emulator = Emulator::start().await.map_err(|e| Error::config(format!("cannot start the emulator: {e}")))?;
    println!(
        "no workspace configured (DATABRICKS_HOST or a profile): running on the embedded emulator at {}",
        emulator.url()
    );
    let cfg = Config::builder().host(emulator.url()).token(emulator.token()).without_environment().build()?;
    Ok((WorkspaceClient::new(cfg).await?, Some(emulator)))
}

/// Polling suited to the emulator's fast transitions and to real workspaces.
pub fn waiting<T>() -> brickwork::service::WaitOptions<T> {
    brickwork::service::WaitOptions::default()
        .poll_interval(std::time::Duration::from_millis(200), std::time::Duration::from_secs(10))
}

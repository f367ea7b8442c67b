//! brickwork: a Databricks SDK for Rust with the production patterns built in.
//!
//! - [`Config`]: unified configuration exactly like the official SDKs
//!   (`DATABRICKS_*` environment variables, `~/.databrickscfg` profiles).
//! - [`auth`]: the credential chain (`pat`, `basic`, `oauth-m2m`,
//!   `metadata-service`, `env-oidc`, `file-oidc`, `databricks-cli`).
//! - [`transport`]: retries with the official semantics, a client-side rate
//!   limit, timeouts and redacted `tracing` logs.
//! - [`Error`]: one typed error whose [`ErrorKind`] mirrors the official classes.
//!
//! ```no_run
//! # async fn demo() -> brickwork::Result<()> {
//! let client = brickwork::Client::from_env().await?;
//! let me: serde_json::Value = client.api().get("/api/2.0/preview/scim/v2/Me", &()).await?;
//! println!("hello {}", me["userName"]);
//! # Ok(()) }
//! ```

pub mod auth;
#[cfg(feature = "blocking")]
pub mod blocking;
pub mod cleanup;
mod client;
pub mod config;
pub mod error;
#[cfg(all(feature = "compute", feature = "jobs", feature = "iam"))]
pub mod patterns;
pub mod service;
pub mod transport;

pub use client::{Client, ClientBuilder};

/// The README's examples compile (`cargo test --doc`).
#[cfg(all(doctest, feature = "compute", feature = "jobs", feature = "iam"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
pub use config::{Config, ConfigBuilder};
pub use error::{Error, ErrorKind, Result};
pub use service::{AccountClient, WorkspaceClient};

/// Entry points for the fuzz targets in `fuzz/`: the parsers of untrusted
/// input (config files, error bodies, response bodies, log redaction).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::config::fuzz_config_file as config_file;
    pub use crate::transport::{fuzz_redacted_body as redacted_body, fuzz_response_json as response_json};
}

//! The typed API: every service of the workspace and account APIs,
//! generated from `api/model.json` (see `cargo xtask codegen`), behind one
//! cargo feature per API package.
//!
//! Required parameters are arguments, optional ones chained setters, and a
//! call is sent when awaited:
//!
//! ```no_run
//! # async fn demo() -> brickwork::Result<()> {
//! let w = brickwork::WorkspaceClient::from_env().await?;
//! let cluster = w.clusters().get("0123-456789-abcdefgh").await?;
//! let mut clusters = w.clusters().list();
//! while let Some(c) = clusters.try_next().await? {
//!     println!("{:?}", c.cluster_name);
//! }
//! # Ok(()) }
//! ```

mod generated;
pub mod helpers;
pub mod runtime;
pub mod waiter;
pub mod wire;

#[allow(unused_imports)] // empty without API package features
pub use generated::*;
pub use runtime::{Call, Page, PageStream, Paginator};
pub use waiter::{IntoTimeout, LongRunning, Wait, WaitOptions, WaitSpec};
pub use wire::Sensitive;

use crate::config::Config;
use crate::error::Result;
use crate::Client;

/// A client for workspace-level APIs: `w.clusters()`, `w.jobs()`, ...
#[derive(Debug, Clone)]
pub struct WorkspaceClient {
    client: Client,
}

/// A client for account-level APIs: `a.workspaces()`, `a.users()`, ...
#[derive(Debug, Clone)]
pub struct AccountClient {
    client: Client,
}

macro_rules! client_constructors {
    ($name:ident) => {
        impl $name {
            /// Configure from the environment and `~/.databrickscfg`.
            pub async fn from_env() -> Result<Self> {
                Ok(Self::from_client(Client::from_env().await?))
            }

            /// A client for a resolved configuration.
            pub async fn new(config: Config) -> Result<Self> {
                Ok(Self::from_client(Client::new(config).await?))
            }

            /// Wrap an existing [`Client`] (shares its pool and credentials).
            pub fn from_client(client: Client) -> Self {
                $name { client }
            }

            /// The underlying client (raw API, configuration).
            pub fn client(&self) -> &Client {
                &self.client
            }
        }
    };
}

client_constructors!(WorkspaceClient);
client_constructors!(AccountClient);

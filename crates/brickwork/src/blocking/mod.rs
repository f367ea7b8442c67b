//! A blocking facade for scripts that do not want async: the same services
//! and methods, each run to completion on a runtime the client owns.
//! Paginators become iterators. Enable with the `blocking` feature.
//!
//! ```no_run
//! # #[cfg(feature = "compute")]
//! # fn demo() -> brickwork::Result<()> {
//! let w = brickwork::blocking::WorkspaceClient::from_env()?;
//! for cluster in w.clusters().list(Default::default()) {
//!     println!("{:?}", cluster?.cluster_name);
//! }
//! # Ok(()) }
//! ```
//!
//! Do not call it from async code: blocking inside a runtime panics.

mod generated;

#[allow(unused_imports)]
pub use generated::*;

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::Paginator;

/// The runtime blocking calls run on (one worker, so background work such
/// as guard cleanups keeps going between calls).
#[derive(Debug, Clone)]
pub struct Handle(Arc<tokio::runtime::Runtime>);

impl Handle {
    fn new() -> Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("brickwork-blocking")
            .enable_all()
            .build()
            .map(|rt| Handle(Arc::new(rt)))
            .map_err(|e| Error::config(format!("cannot start a runtime for the blocking client: {e}")).with_source(e))
    }

    /// Run `future` to completion.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}

/// The items of a list operation, fetched a page at a time as you iterate.
pub struct Iter<T> {
    rt: Handle,
    pages: Paginator<T>,
}

impl<T> std::fmt::Debug for Iter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Iter")
    }
}

impl<T> Iter<T> {
    pub(crate) fn new(rt: Handle, pages: Paginator<T>) -> Self {
        Iter { rt, pages }
    }
}

impl<T> Iterator for Iter<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let Iter { rt, pages } = self;
        rt.block_on(pages.next())
    }
}

macro_rules! blocking_client {
    ($name:ident, $async_client:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            inner: $async_client,
            rt: Handle,
        }

        impl $name {
            /// Configure from the environment and `~/.databrickscfg`.
            pub fn from_env() -> Result<Self> {
                Self::new(Config::from_env()?)
            }

            /// A client for a resolved configuration.
            pub fn new(config: Config) -> Result<Self> {
                let rt = Handle::new()?;
                let inner = rt.block_on(<$async_client>::new(config))?;
                Ok($name { inner, rt })
            }

            /// The async client behind this one.
            pub fn async_client(&self) -> &$async_client {
                &self.inner
            }

            /// Run any async code (helpers, patterns) on this client's runtime.
            pub fn block_on<F: Future>(&self, future: F) -> F::Output {
                self.rt.block_on(future)
            }
        }
    };
}

blocking_client!(WorkspaceClient, crate::service::WorkspaceClient, "Blocking client for workspace-level APIs.");
blocking_client!(AccountClient, crate::service::AccountClient, "Blocking client for account-level APIs.");

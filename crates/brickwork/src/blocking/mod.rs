//! Blocking calls for scripts that do not want async: every [`Call`] gets
//! `send_blocking()`, every [`Wait`] `wait_blocking()` and every
//! [`Paginator`] `blocking_iter()`, run on one runtime the process shares.
//! Enable with the `blocking` feature.
//!
//! ```no_run
//! # #[cfg(feature = "compute")]
//! # fn demo() -> brickwork::Result<()> {
//! let w = brickwork::blocking::WorkspaceClient::from_env()?;
//! for cluster in w.clusters().list().blocking_iter() {
//!     println!("{:?}", cluster?.cluster_name);
//! }
//! let me = w.current_user().me().send_blocking()?;
//! # Ok(()) }
//! ```
//!
//! Called from inside an async runtime these return a `Config` error
//! instead of blocking it.

use std::future::Future;
use std::ops::Deref;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::runtime::{Call, Paginator, Request};
use crate::service::{LongRunning, Wait};

/// The runtime blocking calls run on (one worker, so background work such
/// as guard cleanups keeps going between calls).
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("brickwork-blocking")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::config(format!("cannot start a runtime for blocking calls: {e}")))
}

/// Run `future` to completion on the shared runtime.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::config("a blocking call was made inside an async runtime: await the call instead"));
    }
    Ok(runtime()?.block_on(future))
}

impl<R: Request, O: Send + 'static> Call<R, O> {
    /// Send the call and block until it answers.
    pub fn send_blocking(self) -> Result<O> {
        block_on(self.send())?
    }
}

impl<R, T: Serialize> Wait<R, T> {
    /// Block until the operation ends (default options).
    pub fn wait_blocking(&self) -> Result<T> {
        block_on(self.wait())?
    }
}

impl<O: Serialize, T: DeserializeOwned> LongRunning<O, T> {
    /// Block until the operation is done (default options).
    pub fn wait_blocking(&self) -> Result<T> {
        block_on(self.wait())?
    }
}

impl<R: Request, T: DeserializeOwned + Send + 'static> Paginator<R, T> {
    /// The items as an iterator that fetches pages as it goes.
    pub fn blocking_iter(self) -> Iter<R, T> {
        Iter { pages: self, failed: false }
    }
}

/// The items of a list operation, fetched a page at a time as you iterate.
/// It ends after the first error.
#[derive(Debug)]
pub struct Iter<R, T> {
    pages: Paginator<R, T>,
    failed: bool,
}

impl<R: Request, T: DeserializeOwned + Send + 'static> Iterator for Iter<R, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.failed {
            return None;
        }
        let next = block_on(self.pages.try_next()).and_then(|r| r).transpose();
        self.failed = matches!(next, Some(Err(_)));
        next
    }
}

macro_rules! blocking_client {
    ($name:ident, $async_client:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            inner: $async_client,
        }

        impl $name {
            /// Configure from the environment and `~/.databrickscfg`.
            pub fn from_env() -> Result<Self> {
                Self::new(Config::from_env()?)
            }

            /// A client for a resolved configuration.
            pub fn new(config: Config) -> Result<Self> {
                let inner = block_on(<$async_client>::new(config))??;
                Ok($name { inner })
            }

            /// Run any async code (helpers, patterns) to completion.
            pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
                block_on(future)
            }
        }

        /// The async client's services; end a call with `send_blocking()`.
        impl Deref for $name {
            type Target = $async_client;

            fn deref(&self) -> &$async_client {
                &self.inner
            }
        }
    };
}

blocking_client!(WorkspaceClient, crate::service::WorkspaceClient, "Blocking client for workspace-level APIs.");
blocking_client!(AccountClient, crate::service::AccountClient, "Blocking client for account-level APIs.");

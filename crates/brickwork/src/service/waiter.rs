//! Waiting for long-running operations: poll a getter until the state is a
//! target state, fail fast on a failure state, give up at a deadline.
//!
//! Polling backs off linearly (1 s, 2 s, ... capped at 10 s, as the official
//! SDKs do) with jitter. Dropping the future stops polling: there is no
//! background task.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, ErrorKind, OperationState, Result};

/// Default time to wait, as in the official SDKs.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// What a generated waiter polls for.
#[derive(Debug)]
pub struct WaitSpec {
    /// What is being waited on, for messages (`clusters`).
    pub what: &'static str,
    /// States that end the wait successfully.
    pub target: &'static [&'static str],
    /// States that end it with `OperationFailed`.
    pub failure: &'static [&'static str],
    /// JSON path of the state in the polled object.
    pub status_path: &'static [&'static str],
    /// JSON path of the state message.
    pub message_path: &'static [&'static str],
}

/// A progress callback, called with each non-final polled value.
type Progress<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// How long and how often to poll, and who to tell.
pub struct WaitOptions<T> {
    timeout: Duration,
    initial_interval: Duration,
    max_interval: Duration,
    on_progress: Option<Progress<T>>,
}

impl<T> Default for WaitOptions<T> {
    fn default() -> Self {
        WaitOptions {
            timeout: DEFAULT_TIMEOUT,
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(10),
            on_progress: None,
        }
    }
}

impl<T> Clone for WaitOptions<T> {
    fn clone(&self) -> Self {
        WaitOptions { on_progress: self.on_progress.clone(), ..*self }
    }
}

impl<T> fmt::Debug for WaitOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitOptions")
            .field("timeout", &self.timeout)
            .field("initial_interval", &self.initial_interval)
            .field("max_interval", &self.max_interval)
            .finish_non_exhaustive()
    }
}

impl<T> WaitOptions<T> {
    /// Give up after `timeout` (default 20 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Poll after `initial`, then `2 x initial`, ..., at most every `max`.
    pub fn poll_interval(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_interval = initial;
        self.max_interval = max.max(initial);
        self
    }

    /// Called with each polled value that is not final.
    pub fn on_progress(mut self, callback: impl Fn(&T) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(callback));
        self
    }
}

impl<T> WaitOptions<T> {
    /// The same timing for another kind of value (no callback).
    pub fn same_timing<U>(&self) -> WaitOptions<U> {
        WaitOptions {
            timeout: self.timeout,
            initial_interval: self.initial_interval,
            max_interval: self.max_interval,
            on_progress: None,
        }
    }

    /// The configured timeout.
    pub fn timeout_duration(&self) -> Duration {
        self.timeout
    }

    /// Tell the progress callback, if any.
    pub(crate) fn report(&self, value: &T) {
        if let Some(callback) = &self.on_progress {
            callback(value);
        }
    }

    /// Sleep before poll `attempt + 1`: linear steps, capped, with jitter.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let step = self.initial_interval.saturating_mul(attempt).min(self.max_interval);
        step + step.mul_f64(0.1 * fastrand::f64())
    }
}

fn text_at(value: &Value, path: &[&str]) -> Option<String> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    match current {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Poll until `spec.target`; `OperationFailed` on `spec.failure`, `Timeout`
/// at the deadline, both carrying the last state and message.
pub async fn wait<T, F, Fut>(options: WaitOptions<T>, spec: &WaitSpec, mut poll: F) -> Result<T>
where
    T: Serialize,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = Instant::now() + options.timeout;
    let targets = spec.target.join(" or ");
    let mut attempt: u32 = 1;
    loop {
        let value = poll().await?;
        let json = serde_json::to_value(&value).unwrap_or(Value::Null);
        let state = text_at(&json, spec.status_path).unwrap_or_default();
        let message = text_at(&json, spec.message_path);
        let last = || OperationState { state: state.clone(), message: message.clone() };
        if spec.target.contains(&state.as_str()) {
            return Ok(value);
        }
        if spec.failure.contains(&state.as_str()) {
            let detail = message.as_deref().unwrap_or("no message");
            return Err(Error::operation_failed(
                format!("{}: failed to reach {targets}, got {state}: {detail}", spec.what),
                last(),
            ));
        }
        options.report(&value);
        let sleep = options.backoff(attempt);
        if Instant::now() + sleep > deadline {
            let detail = message.as_deref().unwrap_or("no message");
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{}: timed out after {:?} waiting for {targets}; last state {state}: {detail}",
                    spec.what, options.timeout
                ),
            )
            .with_operation_state(last()));
        }
        tokio::time::sleep(sleep).await;
        attempt = attempt.saturating_add(1);
    }
}

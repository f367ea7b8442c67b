//! Waiting for long-running operations: poll a getter until the state is a
//! target state, fail fast on a failure state, give up at a deadline.
//!
//! Polling backs off linearly (1 s, 2 s, ... capped at 10 s, as the official
//! SDKs do) with jitter. Dropping the future stops polling: there is no
//! background task.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, ErrorKind, OperationState, Result};
use crate::service::runtime::BoxFuture;

/// Default time to wait, as in the official SDKs.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// How long a poll may run past the deadline of its wait.
const POLL_GRACE: Duration = Duration::from_secs(5);

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
    /// For waits whose target state says "finished" but not "succeeded"
    /// (job runs): what else must hold, or the wait fails.
    pub outcome: Option<&'static Outcome>,
}

/// The success check of a finished operation: the value at `path` must be
/// one of `success`. On failure the error names the parts (tasks) that did
/// not succeed and the link at `url_path`.
#[derive(Debug)]
pub struct Outcome {
    /// JSON path of the result (`state.result_state`).
    pub path: &'static [&'static str],
    /// Results that count as success.
    pub success: &'static [&'static str],
    /// Array of parts to report on failure (`tasks`), with their name field
    /// and their own result path.
    pub parts: Option<(&'static str, &'static str, &'static [&'static str])>,
    /// JSON path of a link to the operation (`run_page_url`).
    pub url_path: &'static [&'static str],
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

    /// How long to sleep before poll `attempt + 1`, cut to the deadline so the
    /// final poll happens at it; `None` once the deadline has passed.
    pub(crate) fn sleep_before_poll(&self, attempt: u32, deadline: Option<Instant>) -> Option<Duration> {
        let sleep = self.backoff(attempt);
        match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
            Some(left) if left.is_zero() => None,
            Some(left) => Some(sleep.min(left)),
            None => Some(sleep),
        }
    }

    /// Sleep before poll `attempt + 1`: linear steps, capped, with jitter.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let step = self.initial_interval.saturating_mul(attempt).min(self.max_interval);
        step.saturating_add(step.mul_f64(0.1 * fastrand::f64()))
    }
}

impl WaitSpec {
    /// The state and state message of a polled object (as JSON), read from
    /// where this wait looks for them: what a progress display shows.
    pub fn state_of(&self, polled: &Value) -> (Option<String>, Option<String>) {
        (text_at(polled, self.status_path), text_at(polled, self.message_path))
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

/// Why a finished operation did not succeed, or `None` if it did.
fn failed_outcome(outcome: &Outcome, json: &Value) -> Option<String> {
    let result = text_at(json, outcome.path).unwrap_or_default();
    if outcome.success.contains(&result.as_str()) {
        return None;
    }
    let mut text = if result.is_empty() { "no result".to_string() } else { result };
    if let Some((array, name, path)) = outcome.parts {
        let failed: Vec<String> = json
            .get(array)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|part| text_at(part, path).is_some_and(|r| !outcome.success.contains(&r.as_str())))
            .filter_map(|part| text_at(part, &[name]))
            .collect();
        if !failed.is_empty() {
            text.push_str(&format!("; failed {array}: {}", failed.join(", ")));
        }
    }
    if let Some(url) = text_at(json, outcome.url_path) {
        text.push_str(&format!("; see {url}"));
    }
    Some(text)
}

/// Poll until `spec.target`; `OperationFailed` on `spec.failure` (or a
/// finished operation whose [`Outcome`] is not a success), `Timeout` at the
/// deadline, both carrying the resource id, the last state and message, and
/// the last polled value.
pub async fn wait<T, F, Fut>(options: WaitOptions<T>, spec: &WaitSpec, id: &str, mut poll: F) -> Result<T>
where
    T: Serialize,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    // A timeout too large to add to the clock means "no deadline".
    let deadline = Instant::now().checked_add(options.timeout);
    let targets = spec.target.join(" or ");
    let what = if id.is_empty() { spec.what.to_string() } else { format!("{} {id}", spec.what) };
    let mut attempt: u32 = 1;
    let mut last_seen: Option<OperationState> = None;
    loop {
        // A poll may run a little past the deadline (the last one starts at
        // it), not indefinitely: one that hangs is the wait's timeout.
        let cutoff = deadline.and_then(|d| d.checked_add(POLL_GRACE));
        let value = match cutoff {
            Some(cutoff) => match tokio::time::timeout_at(cutoff.into(), poll()).await {
                Ok(polled) => polled?,
                Err(_) => {
                    let error = Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "{what}: timed out after {:?} waiting for {targets}: a poll did not answer",
                            options.timeout
                        ),
                    );
                    return Err(match last_seen {
                        Some(state) => error.with_operation_state(state),
                        None => error,
                    });
                }
            },
            None => poll().await?,
        };
        let json = serde_json::to_value(&value).unwrap_or(Value::Null);
        let state = text_at(&json, spec.status_path).unwrap_or_default();
        let message = text_at(&json, spec.message_path);
        let detail = message.clone().unwrap_or_else(|| "no message".into());
        let last = |json: Value| OperationState {
            state: state.clone(),
            message: message.clone(),
            resource_id: (!id.is_empty()).then(|| id.to_string()),
            last: Some(json),
        };
        last_seen = Some(OperationState {
            state: state.clone(),
            message: message.clone(),
            resource_id: (!id.is_empty()).then(|| id.to_string()),
            last: None,
        });
        if spec.target.contains(&state.as_str()) {
            if let Some(why) = spec.outcome.and_then(|o| failed_outcome(o, &json)) {
                return Err(Error::operation_failed(
                    format!("{what}: ended {state} without success: {why}: {detail}"),
                    last(json),
                ));
            }
            return Ok(value);
        }
        if spec.failure.contains(&state.as_str()) {
            let why =
                spec.outcome.and_then(|o| failed_outcome(o, &json)).map(|w| format!(" ({w})")).unwrap_or_default();
            return Err(Error::operation_failed(
                format!("{what}: failed to reach {targets}, got {state}: {detail}{why}"),
                last(json),
            ));
        }
        options.report(&value);
        let Some(sleep) = options.sleep_before_poll(attempt, deadline) else {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{what}: timed out after {:?} waiting for {targets}; last state {state}: {detail}",
                    options.timeout
                ),
            )
            .with_operation_state(last(json)));
        };
        tokio::time::sleep(sleep).await;
        attempt = attempt.saturating_add(1);
    }
}

/// Polls the resource a long-running call started.
type Poll<T> = Arc<dyn Fn() -> BoxFuture<Result<T>> + Send + Sync>;

/// The answer of a long-running call, and the means to wait for its end.
///
/// Derefs to the immediate answer, so its id is readable before waiting
/// (`pending.cluster_id`). [`Wait::wait`] polls with the default options
/// (20 minutes); [`Wait::wait_with`] takes a timeout and a progress callback.
/// Dropping it polls nothing.
///
/// Runnable against the embedded emulator:
///
/// ```
/// use std::time::Duration;
/// use brickwork::service::compute::{ClusterDetails, State};
/// use brickwork::service::WaitOptions;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> brickwork::Result<()> {
/// # let emulator = brickwork_emulator::Emulator::builder().transition_delay(Duration::from_millis(50)).start().await.expect("emulator");
/// # let cfg = brickwork::Config::builder().host(emulator.url()).token(emulator.token()).without_environment().build()?;
/// # let w = brickwork::WorkspaceClient::new(cfg).await?;
/// let pending = w.clusters().create("15.4.x-scala2.12").node_type_id("i3.xlarge").num_workers(1).await?;
/// println!("creating {}", pending.id()); // the create answer, before waiting
/// let options = WaitOptions::default()
///     .timeout(Duration::from_secs(60))
///     .poll_interval(Duration::from_millis(20), Duration::from_secs(1))
///     .on_progress(|c: &ClusterDetails| println!("  {:?}", c.state));
/// let cluster = pending.wait_with(options).await?;
/// assert_eq!(cluster.state, Some(State::Running));
/// # Ok(()) }
/// ```
pub struct Wait<R, T> {
    response: R,
    id: String,
    spec: &'static WaitSpec,
    poll: Poll<T>,
}

impl<R: fmt::Debug, T> fmt::Debug for Wait<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("what", &self.spec.what)
            .field("id", &self.id)
            .field("response", &self.response)
            .finish()
    }
}

impl<R, T> Deref for Wait<R, T> {
    type Target = R;

    fn deref(&self) -> &R {
        &self.response
    }
}

impl<R, T: Serialize> Wait<R, T> {
    /// A handle on `response` whose end is polled by `poll` (generated code).
    pub fn new(
        response: R,
        id: impl Into<String>,
        spec: &'static WaitSpec,
        poll: impl Fn() -> BoxFuture<Result<T>> + Send + Sync + 'static,
    ) -> Self {
        Wait { response, id: id.into(), spec, poll: Arc::new(poll) }
    }

    /// A handle whose call answered without the id to poll: waiting fails
    /// (the call itself succeeded, and its answer is kept).
    pub fn unbound(response: R, field: &'static str) -> Self {
        static UNBOUND: WaitSpec = WaitSpec {
            what: "operation",
            target: &[],
            failure: &[],
            status_path: &[],
            message_path: &[],
            outcome: None,
        };
        Wait {
            response,
            id: String::new(),
            spec: &UNBOUND,
            poll: Arc::new(move || {
                Box::pin(async move { Err(Error::decode(format!("the answer has no {field} to wait on"))) })
            }),
        }
    }

    /// The id of the resource waited on (several ids are joined with `/`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What is waited for: the states that end the wait, and where a polled
    /// object keeps its state ([`WaitSpec::state_of`]).
    pub fn spec(&self) -> &'static WaitSpec {
        self.spec
    }

    /// The immediate answer of the call.
    pub fn response(&self) -> &R {
        &self.response
    }

    /// The immediate answer, without waiting.
    pub fn into_response(self) -> R {
        self.response
    }

    /// Wait with the default options (20 minutes, polling every 1 to 10 s).
    pub async fn wait(&self) -> Result<T> {
        self.wait_with(WaitOptions::default()).await
    }

    /// Wait at most `timeout` (a [`Duration`], or text such as `"30s"`,
    /// `"20m"`; unreadable text is a `Config` error).
    pub async fn wait_timeout(&self, timeout: impl IntoTimeout) -> Result<T> {
        self.wait_with(WaitOptions::default().timeout(timeout.into_timeout()?)).await
    }

    /// Wait with `options` (timeout, poll interval, progress callback).
    pub async fn wait_with(&self, options: WaitOptions<T>) -> Result<T> {
        let poll = self.poll.clone();
        wait(options, self.spec, &self.id, move || poll()).await
    }
}

/// A timeout given as a [`Duration`] or as text (`"30s"`, `"5m"`, `"1h"`).
pub trait IntoTimeout {
    /// The duration, or a `Config` error for unreadable text.
    fn into_timeout(self) -> Result<Duration>;
}

impl IntoTimeout for Duration {
    fn into_timeout(self) -> Result<Duration> {
        Ok(self)
    }
}

impl IntoTimeout for String {
    fn into_timeout(self) -> Result<Duration> {
        self.as_str().into_timeout()
    }
}

impl IntoTimeout for &String {
    fn into_timeout(self) -> Result<Duration> {
        self.as_str().into_timeout()
    }
}

impl IntoTimeout for &str {
    fn into_timeout(self) -> Result<Duration> {
        let text = self.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let n: u64 = number.parse().map_err(|_| Error::config(format!("cannot read {self:?} as a timeout")))?;
        let seconds = match unit.trim() {
            "" | "s" => Some(n),
            "ms" => return Ok(Duration::from_millis(n)),
            "m" | "min" => n.checked_mul(60),
            "h" => n.checked_mul(3600),
            _ => None,
        };
        seconds.map(Duration::from_secs).ok_or_else(|| Error::config(format!("cannot read {self:?} as a timeout")))
    }
}

/// Polls a long-running operation by name.
type PollOperation<O> = Arc<dyn Fn() -> BoxFuture<Result<O>> + Send + Sync>;

/// The answer of a call that starts a long-running operation (the
/// package's `Operation`: `name`, `done`, `error`, `response`), and the means
/// to wait for its result.
///
/// Derefs to the operation as first answered. [`LongRunning::wait`] polls
/// it by name until `done`: an `error` is an `OperationFailed` error naming
/// the operation, a `response` decodes as `T`.
pub struct LongRunning<O, T> {
    operation: O,
    name: String,
    what: &'static str,
    poll: PollOperation<O>,
    _result: std::marker::PhantomData<fn() -> T>,
}

impl<O: fmt::Debug, T> fmt::Debug for LongRunning<O, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongRunning").field("name", &self.name).field("operation", &self.operation).finish()
    }
}

impl<O, T> Deref for LongRunning<O, T> {
    type Target = O;

    fn deref(&self) -> &O {
        &self.operation
    }
}

impl<O: Serialize, T: serde::de::DeserializeOwned> LongRunning<O, T> {
    /// A handle on `operation` named `name`, polled by `poll` (generated code).
    pub fn new(
        operation: O,
        name: impl Into<String>,
        what: &'static str,
        poll: impl Fn() -> BoxFuture<Result<O>> + Send + Sync + 'static,
    ) -> Self {
        LongRunning { operation, name: name.into(), what, poll: Arc::new(poll), _result: std::marker::PhantomData }
    }

    /// The operation's name, as the server assigned it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operation as first answered.
    pub fn operation(&self) -> &O {
        &self.operation
    }

    /// Wait with the default options (20 minutes, polling every 1 to 10 s).
    pub async fn wait(&self) -> Result<T> {
        self.wait_with(WaitOptions::default()).await
    }

    /// Wait at most `timeout` (a [`Duration`] or text such as `"30s"`).
    pub async fn wait_timeout(&self, timeout: impl IntoTimeout) -> Result<T> {
        self.wait_with(WaitOptions::default().timeout(timeout.into_timeout()?)).await
    }

    /// Wait with `options`; the progress callback sees each polled operation.
    pub async fn wait_with(&self, options: WaitOptions<O>) -> Result<T> {
        let deadline = Instant::now().checked_add(options.timeout);
        let what = format!("{} operation {}", self.what, self.name);
        let mut current = serde_json::to_value(&self.operation)?;
        let mut attempt: u32 = 1;
        loop {
            if current.get("done").and_then(Value::as_bool) == Some(true) {
                return finished(&what, &self.name, current);
            }
            let Some(sleep) = options.sleep_before_poll(attempt, deadline) else {
                return Err(Error::new(ErrorKind::Timeout, format!("{what}: not done after {:?}", options.timeout))
                    .with_operation_state(OperationState {
                        state: "RUNNING".into(),
                        resource_id: Some(self.name.clone()),
                        last: Some(current),
                        ..Default::default()
                    }));
            };
            tokio::time::sleep(sleep).await;
            attempt = attempt.saturating_add(1);
            let polled = (self.poll)().await?;
            options.report(&polled);
            current = serde_json::to_value(&polled)?;
        }
    }
}

/// The result of a finished operation: its error, or its response as `T`.
fn finished<T: serde::de::DeserializeOwned>(what: &str, name: &str, operation: Value) -> Result<T> {
    if let Some(error) = operation.get("error").filter(|e| !e.is_null()) {
        let message = text_at(error, &["message"]).unwrap_or_else(|| "unknown error".into());
        let code = text_at(error, &["error_code"]).map(|c| format!("[{c}] ")).unwrap_or_default();
        return Err(Error::operation_failed(
            format!("{what} failed: {code}{message}"),
            OperationState {
                state: "FAILED".into(),
                message: Some(message),
                resource_id: Some(name.to_string()),
                last: Some(operation),
            },
        ));
    }
    let decoded = match operation.get("response").filter(|r| !r.is_null()) {
        Some(response) => serde_json::from_value::<T>(response.clone()),
        // No result: `()`, or an empty value of a result type.
        None => serde_json::from_value::<T>(Value::Null)
            .or_else(|_| serde_json::from_value::<T>(Value::Object(Default::default()))),
    };
    decoded.map_err(|e| Error::decode(format!("{what}: cannot decode its result: {e}")).with_source(e))
}

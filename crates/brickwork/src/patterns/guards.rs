//! Cluster lifecycle guards.
//!
//! - [`managed_cluster`]: make sure an existing cluster runs, use it, leave it
//!   running (or terminate it when asked).
//! - [`ephemeral_cluster`]: create a cluster, use it, and always permanently
//!   delete it: after success, error or panic of the body, and when the whole
//!   future is dropped (a timeout, a cancelled task). Rust has no async
//!   `Drop`, so a drop guard hands the delete to a background task on the
//!   runtime; the normal path awaits the delete and reports its errors.
//!   [`wait_for_background_cleanups`](crate::cleanup::wait_for_background_cleanups) lets a program wait for those tasks
//!   before it exits.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;

use crate::cleanup::spawn_cleanup;
use crate::error::{ErrorKind, Result};
use crate::service::compute::{ClusterDetails, ClustersApi, ClustersCreateRequest};
use crate::service::{Call, WaitOptions, WorkspaceClient};

/// Tag that marks clusters created by [`ephemeral_cluster`], with a per-guard token.
pub const EPHEMERAL_TAG: &str = "brickwork-ephemeral";
/// Auto-termination set on ephemeral clusters that have none: a safety net
/// should every cleanup fail.
pub const DEFAULT_AUTOTERMINATION_MINUTES: i64 = 30;

const CLEANUP_ATTEMPTS: u32 = 6;

/// Pauses between searches by tag while a create may still be on its way
/// (the caller gave up before the answer): the server may act on it after
/// the first search. Past these, the auto-termination is the safety net.
const LATE_CREATE_SEARCHES: [Duration; 4] =
    [Duration::ZERO, Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)];

/// Options of [`managed_cluster`].
#[derive(Debug, Clone, Default)]
pub struct ManagedOptions {
    /// Terminate the cluster after the body (default: leave it running).
    pub terminate_after: bool,
    /// How to wait for RUNNING.
    pub wait: WaitOptions<ClusterDetails>,
}

/// Run `body` on the existing cluster `cluster_id`, started if needed
/// (TERMINATED: start; TERMINATING: wait, then start; PENDING, RESTARTING,
/// RESIZING: wait; ERROR: fail).
pub async fn managed_cluster<T, F, Fut>(
    w: &WorkspaceClient,
    cluster_id: &str,
    options: ManagedOptions,
    body: F,
) -> Result<T>
where
    F: FnOnce(ClusterDetails) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let clusters = w.clusters();
    // Armed first: a panic, a cancel or an error still terminates the cluster.
    let mut terminate = options.terminate_after.then(|| Terminator {
        clusters: clusters.clone(),
        id: cluster_id.to_string(),
        armed: true,
    });
    clusters.ensure_cluster_is_running(cluster_id, options.wait.clone()).await?;
    let details = clusters.get(cluster_id).await?;
    let outcome = AssertUnwindSafe(body(details)).catch_unwind().await;
    let terminated = match terminate.as_mut() {
        Some(t) => t.finish().await,
        None => Ok(()),
    };
    match outcome {
        Err(panic) => std::panic::resume_unwind(panic),
        // The body's error is the one to report; a failed termination is logged.
        Ok(Err(body_error)) => {
            if let Err(e) = terminated {
                tracing::error!("{e}");
            }
            Err(body_error)
        }
        Ok(Ok(value)) => terminated.map(|()| value),
    }
}

/// Terminates a managed cluster when dropped unless disarmed.
struct Terminator {
    clusters: ClustersApi,
    id: String,
    armed: bool,
}

impl Terminator {
    /// Terminate now; disarmed only once the cluster is terminating.
    async fn finish(&mut self) -> Result<()> {
        let result = self.clusters.delete(self.id.as_str()).await.map(|_| ());
        if result.is_ok() {
            self.armed = false;
        }
        result.map_err(|e| e.context(format!("cannot terminate managed cluster {}", self.id)))
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        if self.armed {
            let (clusters, id) = (self.clusters.clone(), self.id.clone());
            spawn_cleanup(format!("managed cluster {id}"), async move { clusters.delete(id).await.map(|_| ()) });
        }
    }
}

/// Options of [`ephemeral_cluster`].
#[derive(Debug, Clone, Default)]
pub struct EphemeralOptions {
    /// How to wait for RUNNING.
    pub wait: WaitOptions<ClusterDetails>,
}

/// Deletes the cluster when dropped unless disarmed.
struct Guard {
    clusters: ClustersApi,
    token: String,
    cluster_id: Option<String>,
    /// The create was sent and no answer says whether the server acted on it.
    create_unanswered: bool,
    armed: bool,
}

impl Guard {
    /// Delete now, reporting failure. The guard stays armed until the delete
    /// succeeded: dropped mid-delete (a timeout, Ctrl-C) or after a failed
    /// one, it hands the delete to the background.
    async fn finish(mut self) -> Result<()> {
        let result = cleanup(&self.clusters, self.target()).await;
        if result.is_ok() {
            self.armed = false;
        }
        result
    }

    fn target(&self) -> Target {
        match &self.cluster_id {
            Some(id) => Target::Id(id.clone()),
            None => Target::Tagged { token: self.token.clone(), create_unanswered: self.create_unanswered },
        }
    }

    /// Delete now when another error is already being returned: a cleanup
    /// failure can only be logged.
    async fn finish_logged(self) {
        if let Err(cleanup_error) = self.finish().await {
            tracing::error!("{cleanup_error}");
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (clusters, target) = (self.clusters.clone(), self.target());
        let what = format!("ephemeral cluster {}", self.cluster_id.as_deref().unwrap_or("(id not known yet)"));
        spawn_cleanup(what, async move { cleanup(&clusters, target).await });
    }
}

/// What a cleanup deletes.
enum Target {
    Id(String),
    /// The id never came back: whatever carries the guard's tag.
    Tagged {
        token: String,
        create_unanswered: bool,
    },
}

/// Permanently delete the cluster (or, when its id never came back, any
/// cluster carrying this guard's tag), retrying transient failures.
async fn cleanup(clusters: &ClustersApi, target: Target) -> Result<()> {
    let ids = match target {
        Target::Id(id) => vec![id],
        Target::Tagged { token, create_unanswered } => tagged(clusters, &token, create_unanswered).await?,
    };
    for id in ids {
        let mut attempt = 0;
        loop {
            match clusters.permanent_delete(id.as_str()).await {
                Ok(()) => break,
                // Already gone: nothing left to clean.
                Err(e) if e.is_missing_resource() => break,
                Err(e)
                    if attempt + 1 < CLEANUP_ATTEMPTS
                        && (e.is_retryable() || e.kind() == ErrorKind::Transport || e.kind() == ErrorKind::Timeout) =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100) * 2u32.pow(attempt)).await;
                }
                Err(e) => return Err(e.context(format!("cannot delete ephemeral cluster {id}"))),
            }
        }
    }
    Ok(())
}

/// The clusters carrying `token`; while the create may still be on its way,
/// an empty search is repeated a few times before it counts.
async fn tagged(clusters: &ClustersApi, token: &str, create_unanswered: bool) -> Result<Vec<String>> {
    let searches = if create_unanswered { &LATE_CREATE_SEARCHES[..] } else { &LATE_CREATE_SEARCHES[..1] };
    let mut found = Vec::new();
    for pause in searches {
        tokio::time::sleep(*pause).await;
        let all: Vec<ClusterDetails> = clusters.list().try_collect().await?;
        found = all
            .into_iter()
            .filter(|c| c.custom_tags.get(EPHEMERAL_TAG).map(String::as_str) == Some(token))
            .filter_map(|c| c.cluster_id)
            .collect();
        if !found.is_empty() {
            break;
        }
    }
    Ok(found)
}

/// An unsent `clusters().create(..)` call is a cluster specification.
impl<O> From<Call<ClustersCreateRequest, O>> for ClustersCreateRequest {
    fn from(call: Call<ClustersCreateRequest, O>) -> Self {
        call.into_request()
    }
}

/// Create a cluster from `spec` (a request, or an unsent
/// `w.clusters().create(..)` call with its setters), wait until it runs, run `body` on it, and
/// permanently delete it whatever happens. Cost-safety defaults: an
/// auto-termination (30 minutes) when the spec has none, and `Owner` and
/// `brickwork-ephemeral` tags.
///
/// Dropped while the create is on its way, the guard cannot know whether
/// the server will act on it: its background cleanup searches by the tag
/// for a few seconds ([`wait_for_background_cleanups`](crate::cleanup::wait_for_background_cleanups) waits for that too).
///
/// The body's error is returned as is (a cleanup failure is then logged);
/// after a successful body, a cleanup failure is the error. A panic in the
/// body is resumed after the cleanup.
pub async fn ephemeral_cluster<T, F, Fut>(
    w: &WorkspaceClient,
    spec: impl Into<ClustersCreateRequest>,
    options: EphemeralOptions,
    body: F,
) -> Result<T>
where
    F: FnOnce(ClusterDetails) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let clusters = w.clusters();
    let mut spec = spec.into();
    let token = crate::service::runtime::idempotency_token();
    spec.autotermination_minutes.get_or_insert(DEFAULT_AUTOTERMINATION_MINUTES);
    spec.custom_tags.insert(EPHEMERAL_TAG.to_string(), token.clone());
    if let Ok(me) = w.current_user().me().await {
        if let Some(user) = me.user_name {
            spec.custom_tags.entry("Owner".to_string()).or_insert(user);
        }
    }
    // Armed before the create call: if the future is dropped while the call
    // is in flight, the tag finds the cluster.
    let mut guard = Guard { clusters: clusters.clone(), token, cluster_id: None, create_unanswered: true, armed: true };
    let created = match clusters.create("").with_request(spec).await {
        Ok(created) => created,
        Err(e) => {
            // The answer may have been lost after the cluster was created, or
            // the request may still be on its way unless it never left.
            guard.create_unanswered = e.status().is_none() && !e.is_connect_failure();
            guard.finish_logged().await;
            return Err(e);
        }
    };
    // Without an id in the answer the guard keeps finding the cluster by its tag.
    guard.create_unanswered = false;
    guard.cluster_id = Some(created.id().to_string()).filter(|id| !id.is_empty());
    let running = match created.wait_with(options.wait).await {
        Ok(details) => details,
        Err(e) => {
            guard.finish_logged().await;
            return Err(e);
        }
    };
    let outcome = AssertUnwindSafe(body(running)).catch_unwind().await;
    let cleaned = guard.finish().await;
    match outcome {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(Err(body_error)) => {
            if let Err(cleanup_error) = cleaned {
                tracing::error!("{cleanup_error}");
            }
            Err(body_error)
        }
        Ok(Ok(value)) => cleaned.map(|()| value),
    }
}

//! Bounded-concurrency work over streams of items, with a result per item.
//!
//! Calls still go through the client, so its rate limit and retries apply.

use std::future::Future;

use futures::{Stream, StreamExt};

use crate::error::{Error, Result};
use crate::service::jobs::BaseJob;
use crate::service::WorkspaceClient;

/// What a bulk operation did with every item.
#[derive(Debug)]
pub struct BulkReport<T, R> {
    /// Items that succeeded, with their results.
    pub succeeded: Vec<(T, R)>,
    /// Items that failed, with their errors.
    pub failed: Vec<(T, Error)>,
    /// Errors reading the input stream (items that could not even be listed).
    pub input_errors: Vec<Error>,
}

impl<T, R> BulkReport<T, R> {
    /// Items processed, successes and failures.
    pub fn total(&self) -> usize {
        self.succeeded.len() + self.failed.len()
    }

    /// True when every item succeeded and the input was read fully.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.input_errors.is_empty()
    }
}

/// Run `f` on every item of `items`, at most `concurrency` at a time.
pub async fn for_each_concurrent<T, R, S, F, Fut>(items: S, concurrency: usize, f: F) -> BulkReport<T, R>
where
    T: Clone,
    S: Stream<Item = Result<T>>,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R>>,
{
    let mut report = BulkReport { succeeded: Vec::new(), failed: Vec::new(), input_errors: Vec::new() };
    let f = &f;
    let outcomes = items
        .map(|item| async move {
            match item {
                Ok(item) => {
                    let outcome = f(item.clone()).await;
                    Ok((item, outcome))
                }
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(concurrency.max(1));
    futures::pin_mut!(outcomes);
    while let Some(outcome) = outcomes.next().await {
        match outcome {
            Ok((item, Ok(r))) => report.succeeded.push((item, r)),
            Ok((item, Err(e))) => report.failed.push((item, e)),
            Err(e) => report.input_errors.push(e),
        }
    }
    report
}

/// Delete every job whose name satisfies `matches`, `concurrency` at a time.
/// The listing is read to the end before deleting, so deletions cannot
/// disturb its paging.
pub async fn delete_jobs_where(
    w: &WorkspaceClient,
    concurrency: usize,
    matches: impl Fn(&str) -> bool,
) -> Result<BulkReport<i64, ()>> {
    let jobs: Vec<BaseJob> = w.jobs().list().limit(100).try_collect().await?;
    let ids: Vec<Result<i64>> = jobs
        .into_iter()
        .filter(|j| j.settings.as_ref().and_then(|s| s.name.as_deref()).is_some_and(&matches))
        .filter_map(|j| j.job_id.map(Ok))
        .collect();
    let api = w.jobs();
    Ok(for_each_concurrent(futures::stream::iter(ids), concurrency, |job_id| {
        let api = api.clone();
        // Listed a moment ago: "does not exist" means deleted (by a replay
        // of this call after a lost answer, or by someone else).
        async move {
            match api.delete(job_id).await {
                Err(e) if e.is_missing_resource() => Ok(()),
                other => other,
            }
        }
    })
    .await)
}

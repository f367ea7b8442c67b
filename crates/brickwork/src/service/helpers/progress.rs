//! Progress of a transfer, reported to a caller's callback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How far a transfer has got, as passed to a progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes sent or received so far.
    pub done: u64,
    /// The whole size, when known (not for an upload from a stream).
    pub total: Option<u64>,
}

pub(super) type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Counts bytes done and tells the callback, from any part's task.
pub(super) struct Tracker {
    done: AtomicU64,
    total: Option<u64>,
    callback: Option<ProgressFn>,
}

impl Tracker {
    pub(super) fn new(total: Option<u64>, callback: Option<ProgressFn>) -> Self {
        Tracker { done: AtomicU64::new(0), total, callback }
    }

    /// Bytes done so far.
    #[cfg_attr(not(feature = "files"), allow(dead_code))]
    pub(super) fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// At least `done` bytes are done (a figure that may repeat, or start
    /// over when a request is retried: only a new high is reported).
    pub(super) fn reach(&self, done: u64) {
        let before = self.done.fetch_max(done, Ordering::Relaxed);
        if let (true, Some(callback)) = (done > before, &self.callback) {
            callback(Progress { done, total: self.total });
        }
    }

    /// The transfer is over at `done` bytes: reported even when nothing
    /// moved (no data), so a caller always hears the end.
    pub(super) fn finish(&self, done: u64) {
        let before = self.done.fetch_max(done, Ordering::Relaxed);
        if let (true, Some(callback)) = (done > before || done == 0, &self.callback) {
            callback(Progress { done, total: self.total });
        }
    }

    pub(super) fn add(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(callback) = &self.callback {
            callback(Progress { done, total: self.total });
        }
    }
}

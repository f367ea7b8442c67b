//! An idle timeout for request bodies: raw data is handed to the connection
//! in small chunks, and the attempt fails only when no chunk has moved for
//! the timeout. A slow but steady upload never times out; a stalled one
//! (the peer stopped reading) does, however large the body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::Body;

/// The piece of a body handed over at a time: small enough that a slow
/// link shows progress often, large enough to cost nothing.
const CHUNK: usize = 64 * 1024;

/// When a body last moved: chunks taken by the connection stamp it.
#[derive(Clone)]
pub(super) struct BodyProgress {
    started: Instant,
    /// Milliseconds after `started` of the latest stamp.
    moved_at_ms: Arc<AtomicU64>,
}

impl BodyProgress {
    fn new() -> Self {
        BodyProgress { started: Instant::now(), moved_at_ms: Arc::new(AtomicU64::new(0)) }
    }

    fn stamp(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.moved_at_ms.store(elapsed, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `idle` (from the start, so the
    /// connection is bounded too, and from the last chunk, so the answer is).
    pub(super) async fn stalled_for(&self, idle: Duration) {
        loop {
            let moved = Duration::from_millis(self.moved_at_ms.load(Ordering::Relaxed));
            let deadline = self.started + moved.saturating_add(idle);
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// `data` as a streamed body that reports its progress. The caller sets
/// `Content-Length`: object stores refuse chunked uploads.
pub(super) fn watched(data: Bytes) -> (Body, BodyProgress) {
    let progress = BodyProgress::new();
    let stamp = progress.clone();
    let length = data.len();
    let chunks = (0..length).step_by(CHUNK).map(move |at| data.slice(at..length.min(at + CHUNK)));
    let stream = futures::stream::iter(chunks).map(move |chunk| {
        stamp.stamp();
        Ok::<_, std::io::Error>(chunk)
    });
    (Body::wrap_stream(stream), progress)
}

//! An idle timeout for request bodies: raw data is handed to the connection
//! in small chunks, and the attempt fails only when no chunk has moved for
//! the timeout. A slow but steady upload never times out; a stalled one
//! (the peer stopped reading) does, however large the body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::path::PathBuf;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::Body;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::ReaderStream;

use crate::error::{Error, Result};

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

/// One piece of a raw request body.
pub(crate) enum Piece {
    /// Bytes in memory.
    Data(Bytes),
    /// A local file, opened anew for each attempt, so the request can be
    /// retried without holding the file in memory.
    File(PathBuf),
    /// A one-pass reader: a request with one is sent once, never replayed.
    /// (In a mutex only so a request being sent can be shared across threads.)
    // Only the transfer helpers (optional packages) build multi-piece bodies.
    #[cfg_attr(not(feature = "files"), allow(dead_code))]
    Reader(Mutex<Option<Box<dyn AsyncRead + Send + Unpin>>>),
}

impl Piece {
    /// A one-pass reader as a piece.
    #[cfg_attr(not(feature = "files"), allow(dead_code))]
    pub(crate) fn reader(reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Piece::Reader(Mutex::new(Some(Box::new(reader))))
    }

    pub(super) fn is_replayable(&self) -> bool {
        !matches!(self, Piece::Reader(_))
    }
}

type Chunks = BoxStream<'static, std::io::Result<Bytes>>;

/// The pieces as one streamed body that reports its progress, with its
/// length when every piece's is known (files are measured as they are
/// opened; the caller sets `Content-Length`, as object stores refuse
/// chunked uploads).
pub(super) async fn watched(
    pieces: &mut [Piece],
    on_sent: Option<super::SentFn>,
) -> Result<(Body, Option<u64>, BodyProgress)> {
    let mut length = Some(0u64);
    let mut streams: Vec<Chunks> = Vec::with_capacity(pieces.len());
    for piece in pieces.iter_mut() {
        let (stream, size): (Chunks, Option<u64>) = match piece {
            Piece::Data(data) => {
                let (data, size) = (data.clone(), data.len());
                let chunks = (0..size).step_by(CHUNK).map(move |at| Ok(data.slice(at..size.min(at + CHUNK))));
                (futures::stream::iter(chunks).boxed(), Some(size as u64))
            }
            Piece::File(path) => {
                let file = tokio::fs::File::open(&*path).await.map_err(|e| Error::local_io("open", path, e))?;
                let size = file.metadata().await.map_err(|e| Error::local_io("read", path, e))?.len();
                // Read no further than measured: a file growing meanwhile cannot overrun `Content-Length`.
                (ReaderStream::with_capacity(file.take(size), CHUNK).boxed(), Some(size))
            }
            Piece::Reader(reader) => {
                let taken = reader.get_mut().map(Option::take).unwrap_or_default();
                let reader = taken.ok_or_else(|| Error::config("a one-pass body can be sent only once"))?;
                (ReaderStream::with_capacity(reader, CHUNK).boxed(), None)
            }
        };
        length = length.zip(size).map(|(a, b)| a + b);
        streams.push(stream);
    }
    let progress = BodyProgress::new();
    let stamp = progress.clone();
    let mut sent = 0u64;
    let stream = futures::stream::iter(streams).flatten().inspect(move |chunk| {
        stamp.stamp();
        if let (Ok(chunk), Some(on_sent)) = (chunk, &on_sent) {
            sent += chunk.len() as u64;
            on_sent(sent);
        }
    });
    Ok((Body::wrap_stream(stream), length, progress))
}

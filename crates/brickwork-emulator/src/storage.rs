//! Stored file data. A file is kept as the pieces it arrived in (a body's
//! frames gathered into pieces of about a MiB, the parts of a multipart
//! upload, DBFS blocks), shared and never joined: completing an upload
//! moves its parts into the file, and a download sends slices of them. All
//! of it is counted against one budget, so a client cannot grow the
//! emulator's memory without bound; the count is given back when the last
//! holder of the data lets it go.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::api::ApiError;

/// Pieces are gathered to about this size: few enough pieces to find a
/// range fast, small enough that gathering costs little.
const PIECE: usize = 1024 * 1024;

/// The bytes all stored data may take.
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget").field("limit", &self.limit).field("used", &self.used()).finish()
    }
}

impl Budget {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Budget { limit, used: AtomicU64::new(0) })
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// An empty hold, grown as data comes.
    pub fn hold(self: &Arc<Self>) -> Held {
        Held { bytes: 0, budget: Arc::clone(self) }
    }

    /// A hold of `bytes` at once (data already in memory, e.g. a notebook).
    pub fn hold_exactly(self: &Arc<Self>, bytes: u64) -> Result<Held, StorageFull> {
        let mut held = self.hold();
        held.grow(bytes)?;
        Ok(held)
    }

    /// A hold of what `value` takes as JSON: a stored document (job
    /// settings, a catalog object, a pipeline's spec).
    pub fn hold_json(self: &Arc<Self>, value: &impl serde::Serialize) -> Result<Held, StorageFull> {
        self.hold_exactly(json_len(value))
    }

    fn take(&self, bytes: u64) -> Result<(), StorageFull> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .map(drop)
            .map_err(|_| StorageFull { limit: self.limit })
    }

    /// Count `bytes` even past the limit: data derived from something the
    /// budget already admitted. Later stores are refused until it is freed.
    fn take_anyway(&self, bytes: u64) {
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| Some(used.saturating_add(bytes)));
    }

    fn give_back(&self, bytes: u64) {
        // Never below zero, whatever the order of releases.
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| Some(used.saturating_sub(bytes)));
    }
}

/// How many bytes `value` takes as JSON, counted without writing it out.
pub fn json_len(value: &impl serde::Serialize) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // A counter takes every write; a value that cannot be serialised
    // counts what it wrote before failing.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageFull {
    pub limit: u64,
}

impl StorageFull {
    /// The Databricks-shaped answer: final, not worth a retry.
    pub fn api_error(self) -> ApiError {
        ApiError::new(
            413,
            "RESOURCE_EXHAUSTED",
            format!(
                "The emulator's storage budget of {} bytes is used up: delete files or start it with a larger --max-stored-bytes.",
                self.limit
            ),
        )
    }
}

/// Bytes counted against a budget until this is dropped.
#[derive(Debug)]
pub struct Held {
    bytes: u64,
    budget: Arc<Budget>,
}

impl Held {
    /// Count `bytes` more (data added to what this counts); on refusal the
    /// count is unchanged.
    pub fn grow(&mut self, bytes: u64) -> Result<(), StorageFull> {
        self.budget.take(bytes)?;
        self.bytes += bytes;
        Ok(())
    }

    /// Count `bytes` instead of what this counts now: a stored document
    /// replaced by another. Only growth is taken from the budget, so a
    /// replacement no larger than the old one always fits; on refusal the
    /// count is unchanged.
    pub fn resize(&mut self, bytes: u64) -> Result<(), StorageFull> {
        if bytes > self.bytes {
            self.grow(bytes - self.bytes)
        } else {
            self.budget.give_back(self.bytes - bytes);
            self.bytes = bytes;
            Ok(())
        }
    }

    /// Count `bytes` more even past the limit: data a stored thing produced
    /// (a task's output), see [`Budget::take_anyway`].
    pub fn grow_anyway(&mut self, bytes: u64) {
        self.budget.take_anyway(bytes);
        self.bytes = self.bytes.saturating_add(bytes);
    }

    /// [`resize`](Self::resize) without refusing: see [`Budget::take_anyway`].
    fn resize_anyway(&mut self, bytes: u64) {
        if bytes > self.bytes {
            self.budget.take_anyway(bytes - self.bytes);
            self.bytes = bytes;
        } else {
            let _ = self.resize(bytes);
        }
    }

    /// Whether `bytes` more would fit the budget now, counting nothing:
    /// checked before a change that adds them, so a refusal changes nothing.
    pub fn check_room(&self, bytes: u64) -> Result<(), StorageFull> {
        self.budget.take(bytes)?;
        self.budget.give_back(bytes);
        Ok(())
    }

    /// Bytes this counts now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Count `bytes` less: part of what this counts is gone.
    pub fn shrink(&mut self, bytes: u64) {
        let bytes = bytes.min(self.bytes);
        self.budget.give_back(bytes);
        self.bytes -= bytes;
    }

    /// [`resize`](Self::resize) to what `value` takes as JSON.
    pub fn resize_json(&mut self, value: &impl serde::Serialize) -> Result<(), StorageFull> {
        self.resize(json_len(value))
    }

    /// Take over `other`'s count (both count against the same budget).
    fn absorb(&mut self, mut other: Held) {
        self.bytes += std::mem::take(&mut other.bytes);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// The counts of a store's records by key, kept beside the store so that
/// its records stay plain data (`Clone`, `Serialize`).
#[derive(Debug)]
pub struct Holdings<K>(HashMap<K, Held>);

impl<K> Default for Holdings<K> {
    fn default() -> Self {
        Holdings(HashMap::new())
    }
}

impl<K: Hash + Eq> Holdings<K> {
    /// Count `bytes` for the record `key`, in place of what it counted: a
    /// new record, or one replaced. On refusal nothing changes, so the
    /// caller stores the record only after this succeeds.
    pub fn count(&mut self, budget: &Arc<Budget>, key: K, bytes: u64) -> Result<(), StorageFull> {
        match self.0.get_mut(&key) {
            Some(held) => held.resize(bytes),
            None => {
                self.0.insert(key, budget.hold_exactly(bytes)?);
                Ok(())
            }
        }
    }

    /// [`count`](Self::count) what `value` takes as JSON.
    pub fn count_json(
        &mut self,
        budget: &Arc<Budget>,
        key: K,
        value: &impl serde::Serialize,
    ) -> Result<(), StorageFull> {
        self.count(budget, key, json_len(value))
    }

    /// Keep `held` (taken before the record had a key) as `key`'s count.
    pub fn keep(&mut self, key: K, held: Held) {
        self.0.insert(key, held);
    }

    /// Count `bytes` for `key` even past the limit: what comes with an
    /// object already admitted (the creator's entry in its access list).
    pub fn note(&mut self, budget: &Arc<Budget>, key: K, bytes: u64) {
        self.0.entry(key).or_insert_with(|| budget.hold()).resize_anyway(bytes);
    }

    /// The record `key` is gone: its bytes go back to the budget.
    pub fn release(&mut self, key: &K) {
        self.0.remove(key);
    }
}

/// A file's contents: cheap to clone, never copied to be stored or sent.
#[derive(Debug, Clone, Default)]
pub struct Blob(Arc<Pieces>);

#[derive(Debug, Default)]
struct Pieces {
    pieces: Vec<Bytes>,
    /// Where each piece starts in the file.
    starts: Vec<u64>,
    len: u64,
    held: Option<Held>,
    /// Blobs this one shares pieces with (joined while still held
    /// elsewhere): kept, so their count lasts as long as the bytes do.
    shared: Vec<Blob>,
}

impl Blob {
    fn new(pieces: Vec<Bytes>, held: Option<Held>) -> Self {
        let pieces: Vec<Bytes> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
        let mut starts = Vec::with_capacity(pieces.len());
        let mut len = 0u64;
        for piece in &pieces {
            starts.push(len);
            len += piece.len() as u64;
        }
        Blob(Arc::new(Pieces { pieces, starts, len, held, shared: Vec::new() }))
    }

    pub fn len(&self) -> u64 {
        self.0.len
    }

    /// Join blobs end to end, as a multipart upload's parts become its
    /// file: their pieces move (no byte is copied) and so do their counts.
    pub fn join(blobs: Vec<Blob>) -> Blob {
        let mut pieces = Vec::new();
        let mut held: Option<Held> = None;
        let mut shared = Vec::new();
        for blob in blobs {
            match Arc::try_unwrap(blob.0) {
                Ok(mut owned) => {
                    pieces.append(&mut owned.pieces);
                    if let Some(count) = owned.held.take() {
                        match held.as_mut() {
                            Some(all) => all.absorb(count),
                            None => held = Some(count),
                        }
                    }
                    shared.append(&mut owned.shared);
                }
                // Still held elsewhere: kept, and counted, for as long as this blob lives.
                Err(other) => {
                    let other = Blob(other);
                    pieces.extend(other.0.pieces.iter().cloned());
                    shared.push(other);
                }
            }
        }
        let mut joined = Blob::new(pieces, held);
        if let Some(inner) = Arc::get_mut(&mut joined.0) {
            inner.shared = shared;
        }
        joined
    }

    /// The pieces that hold bytes `start..end`, cut to fit.
    pub fn slices(&self, start: u64, end: u64) -> Vec<Bytes> {
        let end = end.min(self.0.len);
        if start >= end {
            return Vec::new();
        }
        let first = self.0.starts.partition_point(|s| *s <= start).saturating_sub(1);
        let mut out = Vec::new();
        for (piece, at) in self.0.pieces[first..].iter().zip(&self.0.starts[first..]) {
            if *at >= end {
                break;
            }
            // Both within this piece, so within usize: compared as u64 first.
            let len = piece.len() as u64;
            let (from, to) = (start.saturating_sub(*at).min(len), (end - at).min(len));
            out.push(piece.slice(from as usize..to as usize));
        }
        out
    }

    /// Bytes `start..end` in one buffer (copied only when they span pieces).
    pub fn copy_range(&self, start: u64, end: u64) -> Bytes {
        join(self.slices(start, end))
    }

    /// Bytes `start..end` as a response body, sent piece by piece.
    pub fn body(&self, start: u64, end: u64) -> Body {
        let slices = self.slices(start, end);
        Body::from_stream(futures::stream::iter(slices.into_iter().map(Ok::<_, std::io::Error>)))
    }
}

/// `pieces` as one run of bytes: the piece itself when there is one.
fn join(mut pieces: Vec<Bytes>) -> Bytes {
    if pieces.len() <= 1 {
        return pieces.pop().unwrap_or_default();
    }
    let mut joined = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
    pieces.iter().for_each(|p| joined.extend_from_slice(p));
    joined.freeze()
}

/// Why a body could not be stored.
#[derive(Debug)]
pub enum IngestError {
    /// Larger than the call takes.
    TooLarge {
        max: u64,
    },
    Full(StorageFull),
    /// The connection failed before the body was whole.
    Broken,
}

impl IngestError {
    /// The answer to the client; `too_large` words the size limit as the
    /// API at hand does.
    pub fn api_error(self, too_large: impl FnOnce(u64) -> ApiError) -> ApiError {
        match self {
            IngestError::TooLarge { max } => too_large(max),
            IngestError::Full(full) => full.api_error(),
            IngestError::Broken => ApiError::malformed("The request body ended before it was complete."),
        }
    }
}

/// Data arriving in frames or blocks, gathered into pieces and counted as
/// it comes, so an over-large or over-budget body is refused early.
#[derive(Debug)]
pub struct Ingest {
    pieces: Vec<Bytes>,
    gathering: BytesMut,
    held: Held,
    len: u64,
    max: u64,
}

impl Ingest {
    /// Gather at most `max` bytes against `budget`.
    pub fn new(budget: &Arc<Budget>, max: u64) -> Self {
        Ingest { pieces: Vec::new(), gathering: BytesMut::new(), held: budget.hold(), len: 0, max }
    }

    pub fn push(&mut self, data: Bytes) -> Result<(), IngestError> {
        let size = data.len() as u64;
        if self.len + size > self.max {
            return Err(IngestError::TooLarge { max: self.max });
        }
        self.held.grow(size).map_err(IngestError::Full)?;
        self.len += size;
        if data.len() >= PIECE / 4 {
            // Large enough to be a piece of its own, as it is.
            self.flush();
            self.pieces.push(data);
            return Ok(());
        }
        if self.gathering.len() + data.len() > PIECE {
            self.flush();
        }
        if self.gathering.capacity() == 0 {
            self.gathering.reserve(PIECE);
        }
        self.gathering.extend_from_slice(&data);
        Ok(())
    }

    fn flush(&mut self) {
        if !self.gathering.is_empty() {
            self.pieces.push(self.gathering.split().freeze());
        }
    }

    pub fn finish(mut self) -> Blob {
        self.flush();
        let Ingest { pieces, held, .. } = self;
        Blob::new(pieces, Some(held))
    }

    /// What was gathered as one run of bytes (joined if it came in several
    /// pieces), with its count against the budget: for stores that keep
    /// contiguous data, such as workspace files.
    pub fn finish_contiguous(mut self) -> Result<(Bytes, Held), IngestError> {
        self.flush();
        let Ingest { pieces, held, .. } = self;
        // Joining several pieces holds the data twice for a moment: the copy
        // is counted too.
        let _copy = match pieces.len() {
            0 | 1 => None,
            _ => {
                Some(held.budget.hold_exactly(pieces.iter().map(|p| p.len() as u64).sum()).map_err(IngestError::Full)?)
            }
        };
        Ok((join(pieces), held))
    }

    /// A whole request body, frame by frame.
    pub async fn read(mut self, body: Body) -> Result<Blob, IngestError> {
        let mut frames = body.into_data_stream();
        while let Some(frame) = frames.next().await {
            self.push(frame.map_err(|_| IngestError::Broken)?)?;
        }
        Ok(self.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_of(budget: &Arc<Budget>, frames: &[&[u8]]) -> Blob {
        let mut ingest = Ingest::new(budget, u64::MAX);
        for frame in frames {
            ingest.push(Bytes::copy_from_slice(frame)).expect("within budget");
        }
        ingest.finish()
    }

    #[test]
    fn ranges_across_pieces_read_back_exactly() {
        let budget = Budget::new(u64::MAX);
        let parts = vec![blob_of(&budget, &[b"abc", b"de"]), Blob::default(), blob_of(&budget, &[b"fghij"])];
        let file = Blob::join(parts);
        assert_eq!(file.len(), 10);
        assert_eq!(file.copy_range(0, 10), Bytes::from_static(b"abcdefghij"));
        assert_eq!(file.copy_range(3, 7), Bytes::from_static(b"defg"));
        assert_eq!(file.copy_range(5, 6), Bytes::from_static(b"f"));
        assert_eq!(file.copy_range(9, 100), Bytes::from_static(b"j"));
        assert!(file.copy_range(10, 20).is_empty());
        assert!(file.copy_range(7, 3).is_empty());
        assert!(file.copy_range(u64::MAX, u64::MAX).is_empty());
    }

    #[test]
    fn the_budget_refuses_past_its_limit_and_is_given_back_when_data_goes() {
        let budget = Budget::new(10);
        let mut ingest = Ingest::new(&budget, u64::MAX);
        ingest.push(Bytes::from_static(b"12345678")).expect("fits");
        let refused = ingest.push(Bytes::from_static(b"abc"));
        assert!(matches!(refused, Err(IngestError::Full(StorageFull { limit: 10 }))), "{refused:?}");
        let blob = ingest.finish();
        assert_eq!(budget.used(), 8);
        // Joined into a file, the parts' count moves with them.
        let file = Blob::join(vec![blob]);
        assert_eq!(budget.used(), 8);
        let copy = file.clone();
        drop(file);
        assert_eq!(budget.used(), 8, "still held by a clone");
        drop(copy);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_body_over_the_size_limit_is_refused_before_it_is_counted() {
        let budget = Budget::new(100);
        let mut ingest = Ingest::new(&budget, 4);
        assert!(matches!(ingest.push(Bytes::from_static(b"12345")), Err(IngestError::TooLarge { max: 4 })));
        assert_eq!(budget.used(), 0);
    }
}

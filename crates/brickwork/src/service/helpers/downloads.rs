//! Files API downloads streamed to disk in bounded memory: picked up with
//! `Range` where a dropped connection left off, optionally in parallel
//! ranges, checked by length, and renamed into place only when whole.

use std::fmt;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWriteExt};

use super::local::into_place;
use super::progress::{Progress, ProgressFn, Tracker};
use crate::error::{Error, ErrorKind};
use crate::service::files::FilesApi;
use crate::service::runtime::encode_path_value;
use crate::transport::{header, Method, StreamingResponse};
use crate::Result;

/// How many times one download (or one range of it) picks up after a
/// dropped connection.
const RESUMES: u32 = 5;
/// Bytes per range of a parallel download when none is set.
pub const DEFAULT_RANGE_SIZE: u64 = 8 * 1024 * 1024;

impl FilesApi {
    /// Download the file at `file_path` (`/Volumes/...`) into `local` and
    /// answer its length. The data streams to `local` with `.part`
    /// appended, in bounded memory, and is renamed into place only when
    /// whole, so a failed download leaves nothing at `local`. A connection
    /// that drops mid-body is picked up where it stopped (up to five times).
    /// With [`parallelism`](Download::parallelism) above 1, a file larger
    /// than one range is fetched in ranges at once.
    pub fn download_to(&self, file_path: impl Into<String>, local: impl AsRef<Path>) -> Download {
        Download {
            files: self.clone(),
            path: file_path.into(),
            local: local.as_ref().to_path_buf(),
            parallelism: 1,
            range_size: DEFAULT_RANGE_SIZE,
            progress: None,
        }
    }
}

impl FilesApi {
    /// The file at `file_path` as it arrives, chunk by chunk, in bounded
    /// memory: a [`Stream`] of [`Bytes`] (or an [`AsyncRead`] through
    /// [`DownloadStream::into_reader`]) for a caller that passes the data on
    /// rather than storing it. A connection that drops mid-body is picked up
    /// at the next byte with `Range` (up to five times); when the workspace
    /// sent `Last-Modified`, the resume carries it as `If-Unmodified-Since`,
    /// so a file replaced meanwhile fails instead of mixing versions. The
    /// stream ends only when every announced byte came; after it yields an
    /// error it yields nothing more.
    pub async fn download_stream(&self, file_path: &str) -> Result<DownloadStream> {
        let mut resumer = Resumer {
            files: self.clone(),
            path: file_path.to_string(),
            endpoint: files_endpoint(file_path),
            response: None,
            at: 0,
            skip: 0,
            total: None,
            last_modified: None,
            resumes: 0,
            done: false,
        };
        let response =
            resumer.files.client().api().request(Method::GET, resumer.endpoint.as_str()).send_streaming().await?;
        resumer.total = announced_total(&response);
        resumer.last_modified = response.headers().get(header::LAST_MODIFIED).cloned();
        resumer.response = Some(response);
        let length = resumer.total;
        let chunks = futures::stream::try_unfold(resumer, |mut resumer| async move {
            Ok(resumer.next().await?.map(|chunk| (chunk, resumer)))
        });
        Ok(DownloadStream { length, chunks: Box::pin(chunks) })
    }
}

/// A Files API download on its way in ([`FilesApi::download_stream`]):
/// resumed after dropped connections and checked by length.
pub struct DownloadStream {
    length: Option<u64>,
    chunks: Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>,
}

impl fmt::Debug for DownloadStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadStream").field("length", &self.length).finish_non_exhaustive()
    }
}

impl DownloadStream {
    /// The file's length as the workspace announced it, when it did.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// The next piece of the file, `None` once all of it came.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        self.chunks.next().await.transpose()
    }

    /// The download as an [`AsyncRead`]; a failure reads as an I/O error
    /// whose inner error is the typed [`Error`].
    pub fn into_reader(self) -> impl AsyncRead + Send + Unpin {
        tokio_util::io::StreamReader::new(self.chunks.map_err(std::io::Error::other))
    }
}

impl Stream for DownloadStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.chunks.as_mut().poll_next(cx)
    }
}

/// The state behind a [`DownloadStream`]: where the data stands and the
/// answer it is read from, replaced by a ranged one after a drop.
struct Resumer {
    files: FilesApi,
    path: String,
    endpoint: String,
    response: Option<StreamingResponse>,
    /// Bytes handed out so far.
    at: u64,
    /// Bytes of the current answer that were handed out already (a resume
    /// answered from an earlier offset, or whole).
    skip: u64,
    total: Option<u64>,
    last_modified: Option<header::HeaderValue>,
    resumes: u32,
    done: bool,
}

impl Resumer {
    async fn next(&mut self) -> Result<Option<Bytes>> {
        while !self.done {
            let Some(response) = self.response.as_mut() else {
                self.reopen().await?;
                continue;
            };
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if let Some(chunk) = self.fresh(chunk)? {
                        return Ok(Some(chunk));
                    }
                }
                Ok(None) if self.total.is_none_or(|total| self.at >= total) => self.done = true,
                // A body that ended short of its announced length is a drop too.
                Ok(None) => self.interrupted("the body ended early")?,
                Err(err) if err.kind() == ErrorKind::Transport => self.interrupted(&err.to_string())?,
                Err(err) => return Err(err),
            }
        }
        Ok(None)
    }

    /// The part of `chunk` not handed out before, checked against the total.
    fn fresh(&mut self, mut chunk: Bytes) -> Result<Option<Bytes>> {
        let seen = self.skip.min(chunk.len() as u64);
        self.skip -= seen;
        let _ = chunk.split_to(seen as usize);
        if chunk.is_empty() {
            return Ok(None);
        }
        self.at += chunk.len() as u64;
        if self.total.is_some_and(|total| self.at > total) {
            return Err(Error::decode(format!("download of {} is longer than announced", self.path)));
        }
        Ok(Some(chunk))
    }

    fn interrupted(&mut self, why: &str) -> Result<()> {
        self.response = None;
        self.resumes += 1;
        if self.resumes > RESUMES {
            return Err(Error::new(
                ErrorKind::Transport,
                format!("download of {} interrupted {} times: {why}", self.path, self.resumes),
            ));
        }
        tracing::debug!(at = self.at, resumes = self.resumes, "download of {} interrupted: resuming: {why}", self.path);
        Ok(())
    }

    /// Ask for the rest, from the next byte, of the same version of the file.
    async fn reopen(&mut self) -> Result<()> {
        let mut request = self
            .files
            .client()
            .api()
            .request(Method::GET, self.endpoint.as_str())
            .header(header::RANGE, range_header(self.at, None)?);
        if let Some(value) = &self.last_modified {
            request = request.header(header::IF_UNMODIFIED_SINCE, value.clone());
        }
        let response = request.send_streaming().await?;
        // Where this answer starts: a 206 says so, a 200 is the whole file.
        let start = match content_range(&response) {
            Some((start, total)) if total == self.total || self.total.is_none() => Some(start),
            Some(_) => None,
            None if response.status() != 206 && announced_total(&response) == self.total => Some(0),
            None => None,
        };
        match start {
            Some(start) if start <= self.at => {
                self.skip = self.at - start;
                self.response = Some(response);
                Ok(())
            }
            _ => Err(Error::decode(format!(
                "download of {}: the resumed answer does not continue the file at byte {} (it changed, or the range was ignored)",
                self.path, self.at
            ))),
        }
    }
}

/// `/api/2.0/fs/files{path}`, the path encoded.
pub(super) fn files_endpoint(path: &str) -> String {
    format!("/api/2.0/fs/files{}", encode_path_value(path))
}

/// A download being set up; it starts when awaited.
#[must_use = "a download does nothing until awaited"]
pub struct Download {
    files: FilesApi,
    path: String,
    local: PathBuf,
    parallelism: usize,
    range_size: u64,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("path", &self.path)
            .field("local", &self.local)
            .field("parallelism", &self.parallelism)
            .field("range_size", &self.range_size)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// Ranges fetched at once (default 1: one stream). Memory stays small
    /// either way: each range streams to its place in the file.
    pub fn parallelism(mut self, ranges: usize) -> Self {
        self.parallelism = ranges.max(1);
        self
    }

    /// Bytes per range of a parallel download (default 8 MiB, at least 1).
    pub fn range_size(mut self, bytes: u64) -> Self {
        self.range_size = bytes.max(1);
        self
    }

    /// Call `callback` as bytes arrive.
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    async fn run(self) -> Result<u64> {
        let this = &self;
        into_place(&self.local, |part| async move { this.fetch(&part).await }).await
    }

    async fn fetch(&self, part: &Path) -> Result<u64> {
        if self.parallelism > 1 {
            let metadata = self.files.get_metadata(self.path.clone()).await?;
            let length = metadata.content_length.and_then(|l| u64::try_from(l).ok());
            if let Some(length) = length.filter(|l| *l > self.range_size) {
                let file = Ranges {
                    download: self,
                    endpoint: files_endpoint(&self.path),
                    part,
                    length,
                    last_modified: metadata.last_modified,
                };
                return file.fetch().await;
            }
        }
        self.fetch_whole(part).await
    }

    /// One stream from the start, resumed from the last byte written.
    async fn fetch_whole(&self, part: &Path) -> Result<u64> {
        let mut download = self.files.download_stream(&self.path).await?;
        let mut file = tokio::fs::File::create(part).await.map_err(|e| Error::local_io("create", part, e))?;
        let tracker = Tracker::new(download.length(), self.progress.clone());
        let mut written: u64 = 0;
        while let Some(chunk) = download.chunk().await? {
            file.write_all(&chunk).await.map_err(|e| Error::local_io("write", part, e))?;
            written += chunk.len() as u64;
            tracker.add(chunk.len() as u64);
        }
        tracker.finish(written);
        finish(file, part).await?;
        Ok(written)
    }
}

run_on_await!(Download => u64);

/// A parallel download: the file cut into ranges, each streamed to its place.
struct Ranges<'a> {
    download: &'a Download,
    endpoint: String,
    part: &'a Path,
    length: u64,
    /// Sent as `If-Unmodified-Since`, so a file replaced mid-download fails
    /// (412) instead of mixing two versions.
    last_modified: Option<String>,
}

impl Ranges<'_> {
    async fn fetch(&self) -> Result<u64> {
        let file = tokio::fs::File::create(self.part).await.map_err(|e| Error::local_io("create", self.part, e))?;
        file.set_len(self.length).await.map_err(|e| Error::local_io("size", self.part, e))?;
        let tracker = Tracker::new(Some(self.length), self.download.progress.clone());
        let size = self.download.range_size;
        futures::stream::iter(0..self.length.div_ceil(size))
            .map(|index| {
                let start = index * size;
                self.fetch_range(start, (start + size).min(self.length) - 1, &tracker)
            })
            .buffer_unordered(self.download.parallelism)
            .try_collect::<Vec<()>>()
            .await?;
        finish(file, self.part).await?;
        Ok(self.length)
    }

    /// Bytes `start..=end`, resumed within the range after a drop.
    async fn fetch_range(&self, start: u64, end: u64, tracker: &Tracker) -> Result<()> {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(self.part)
            .await
            .map_err(|e| Error::local_io("open", self.part, e))?;
        file.seek(SeekFrom::Start(start)).await.map_err(|e| Error::local_io("seek", self.part, e))?;
        let mut at = start;
        let mut resumes = 0;
        loop {
            let mut request = self
                .download
                .files
                .client()
                .api()
                .request(Method::GET, self.endpoint.as_str())
                .header(header::RANGE, range_header(at, Some(end))?);
            if let Some(value) = self.last_modified.as_deref().and_then(|v| header::HeaderValue::from_str(v).ok()) {
                request = request.header(header::IF_UNMODIFIED_SINCE, value);
            }
            let mut response = request.send_streaming().await?;
            if !continues_at(&response, at, Some(self.length)) {
                return Err(Error::decode(format!(
                    "download of {}: bytes {at}-{end} were asked for and not answered",
                    self.download.path
                )));
            }
            let limit = Some(end + 1 - at);
            let before = at;
            match copy_body(&mut response, &mut file, self.part, &mut at, limit, tracker).await {
                Ok(()) if at == end + 1 => break,
                Ok(()) => {}
                Err(err) if err.kind() != ErrorKind::Transport => return Err(err),
                Err(_) => {}
            }
            // Short or dropped: pick up at the next byte.
            resumes += 1;
            if resumes > RESUMES {
                return Err(Error::decode(format!(
                    "download of {}: bytes {at}-{end} still missing after {RESUMES} resumes",
                    self.download.path
                )));
            }
            tracing::debug!(before, at, resumes, "range of {} interrupted: resuming", self.download.path);
        }
        file.flush().await.map_err(|e| Error::local_io("write", self.part, e))
    }
}

/// Append the body to `file`, counting what was written; with `limit`, a
/// body longer than asked for is refused rather than written past its range.
async fn copy_body(
    response: &mut StreamingResponse,
    file: &mut tokio::fs::File,
    part: &Path,
    written: &mut u64,
    limit: Option<u64>,
    tracker: &Tracker,
) -> Result<()> {
    let mut copied: u64 = 0;
    while let Some(chunk) = response.chunk().await? {
        copied += chunk.len() as u64;
        if limit.is_some_and(|limit| copied > limit) {
            return Err(Error::decode("a range was answered with more bytes than asked for"));
        }
        file.write_all(&chunk).await.map_err(|e| Error::local_io("write", part, e))?;
        *written += chunk.len() as u64;
        tracker.add(chunk.len() as u64);
    }
    Ok(())
}

async fn finish(mut file: tokio::fs::File, part: &Path) -> Result<()> {
    file.flush().await.map_err(|e| Error::local_io("write", part, e))?;
    file.sync_all().await.map_err(|e| Error::local_io("sync", part, e))
}

/// A 206 answer's `Content-Range` (`bytes START-END/TOTAL`): its start,
/// and its total when known (`*` is not).
fn content_range(response: &StreamingResponse) -> Option<(u64, Option<u64>)> {
    if response.status() != 206 {
        return None;
    }
    let range = response.headers().get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (span, whole) = range.trim().strip_prefix("bytes ")?.split_once('/')?;
    let start = span.split_once('-')?.0.trim().parse().ok()?;
    Some((start, whole.trim().parse().ok()))
}

/// Whether a ranged answer is the part of the same file asked for: a 206
/// that starts at `offset` and names the total first announced.
fn continues_at(response: &StreamingResponse, offset: u64, total: Option<u64>) -> bool {
    content_range(response).is_some_and(|(start, whole)| start == offset && total.is_none_or(|t| whole == Some(t)))
}

/// The file's whole length: `Content-Range`'s total for a partial answer,
/// else the body's length.
fn announced_total(response: &StreamingResponse) -> Option<u64> {
    if response.status() == 206 {
        return content_range(response).and_then(|(_, total)| total);
    }
    response.content_length()
}

fn range_header(from: u64, to: Option<u64>) -> Result<header::HeaderValue> {
    let to = to.map(|t| t.to_string()).unwrap_or_default();
    header::HeaderValue::from_str(&format!("bytes={from}-{to}")).map_err(|e| Error::config(format!("bad range: {e}")))
}

//! Files API uploads of any size in bounded memory: one PUT when the data
//! is smaller than one part, else the multipart protocol (initiate, a presigned URL
//! per part, parts sent in parallel and retried on their own, complete),
//! aborted on failure and on cancellation. Where the workspace offers no
//! multipart upload, or its storage URLs fail before the first part is
//! stored, the data goes in one streamed PUT instead (5 GiB at most; a
//! file of a known larger size is refused before anything is sent).

use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::downloads::files_endpoint;
use super::progress::{Progress, ProgressFn, Tracker};
use crate::error::{Error, ErrorKind};
use crate::service::files::FilesApi;
use crate::transport::{header, Method, Piece};
use crate::Result;

/// Part size when none is set: memory use is about parallelism x part size.
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Parts in flight at once when none is set.
pub const DEFAULT_PARALLELISM: usize = 4;
/// The most parts one upload may have (S3's limit); the part size grows to fit.
const MAX_PARTS: u64 = 10_000;
/// The smallest part S3 and GCS take for all but the last part: smaller
/// ones would all be sent and then fail the completion.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The largest part any of the clouds takes (Azure's block limit).
const MAX_PART_SIZE: u64 = 4 * 1024 * 1024 * 1024;
/// How many times a part asks for a fresh URL after its URL expired.
const URL_REFRESHES: u32 = 3;

pub(super) type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// Where an upload's data comes from.
pub(super) enum Source {
    File(PathBuf),
    Stream(Reader),
}

impl Source {
    /// What logs and errors call it.
    pub(super) fn label(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Stream(_) => "(stream)".to_string(),
        }
    }

    /// The data as a reader, with a label for errors and its length when known.
    pub(super) async fn open(self) -> Result<(PathBuf, Reader, Option<u64>)> {
        match self {
            Source::File(path) => {
                let file = tokio::fs::File::open(&path).await.map_err(|e| Error::local_io("open", &path, e))?;
                let length = file.metadata().await.map_err(|e| Error::local_io("read", &path, e))?.len();
                Ok((path, Box::new(file), Some(length)))
            }
            Source::Stream(reader) => Ok((PathBuf::from("(stream)"), reader, None)),
        }
    }
}

impl FilesApi {
    /// Upload the local file at `local` to `file_path` (`/Volumes/...`):
    /// one PUT if it is smaller than one part, else a parallel multipart upload
    /// (or, where the workspace declines that, one streamed PUT). Memory
    /// stays near parallelism x part size whatever the file's size.
    /// Answers the number of bytes uploaded.
    pub fn upload_from(&self, file_path: impl Into<String>, local: impl AsRef<Path>) -> Upload {
        Upload::new(self.clone(), file_path.into(), Source::File(local.as_ref().to_path_buf()))
    }

    /// Upload everything `reader` yields to `file_path`, as
    /// [`upload_from`](Self::upload_from) does; the size need not be known.
    pub fn upload_stream(
        &self,
        file_path: impl Into<String>,
        reader: impl AsyncRead + Send + Unpin + 'static,
    ) -> Upload {
        Upload::new(self.clone(), file_path.into(), Source::Stream(Box::new(reader)))
    }
}

/// An upload being set up; it starts when awaited. An upload dropped before
/// it finishes (a cancelled task) aborts its multipart session, so no part
/// of the file appears at the target.
#[must_use = "an upload does nothing until awaited"]
pub struct Upload {
    files: FilesApi,
    path: String,
    source: Source,
    overwrite: Option<bool>,
    part_size: Option<u64>,
    parallelism: usize,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("path", &self.path)
            .field("source", &self.source.label())
            .field("overwrite", &self.overwrite)
            .field("part_size", &self.part_size)
            .field("parallelism", &self.parallelism)
            .finish_non_exhaustive()
    }
}

impl Upload {
    fn new(files: FilesApi, path: String, source: Source) -> Self {
        Upload {
            files,
            path,
            source,
            overwrite: None,
            part_size: None,
            parallelism: DEFAULT_PARALLELISM,
            progress: None,
        }
    }

    /// Replace an existing file (`true`) or fail with `AlreadyExists` (`false`);
    /// unset, the server's default (replace).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = Some(overwrite);
        self
    }

    /// Bytes per part, from 5 MiB (the clouds' smallest part) to 4 GiB
    /// (default 8 MiB, grown when a file would need more than 10,000
    /// parts). Data smaller than one part goes in one PUT.
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = Some(bytes);
        self
    }

    /// Parts in flight at once (default 4; at least 1).
    pub fn parallelism(mut self, parts: usize) -> Self {
        self.parallelism = parts.max(1);
        self
    }

    /// Call `callback` as the upload moves: after each part is stored in a
    /// multipart upload, as the body goes out in a single PUT (a retried
    /// PUT reports only new highs), and once at the end (also for no data).
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    async fn run(self) -> Result<u64> {
        let Upload { files, path, source, overwrite, part_size, parallelism, progress } = self;
        let local = match &source {
            Source::File(local) => Some(local.clone()),
            Source::Stream(_) => None,
        };
        let (label, mut reader, total) = source.open().await?;
        let part_size = choose_part_size(part_size, total)?;
        let tracker = Arc::new(Tracker::new(total, progress));
        let first = read_part(&mut reader, part_size, &label).await?;
        let target = Target { files, path, overwrite };
        if (first.len() as u64) < part_size {
            // All of it fits in one part: one PUT, retried as a whole.
            let length = first.len() as u64;
            target.put(vec![Piece::Data(first)], &tracker).await?;
            tracker.finish(length);
            return Ok(length);
        }
        let parts = PartSource { reader, label, part_size, first: Some(first), next: 1 };
        let (parts, declined) = match target.multipart(parts, parallelism, &tracker, total).await? {
            Multipart::Done => return Ok(tracker.done()),
            Multipart::Declined(parts, err) => (parts, err),
        };
        // Nothing is stored yet, so the data can still go whole, as the
        // official SDKs fall back where storage URLs are refused or absent.
        if total.is_some_and(|t| t > MAX_SINGLE_PUT) {
            return Err(declined.context(format_args!("upload to {} (too large for one request)", target.path)));
        }
        tracing::debug!("upload to {}: multipart declined ({declined}); sending it in one request", target.path);
        // A stream goes once: its bytes cannot be had again for a retry.
        let length = match local {
            Some(local) => {
                // The file is read again from disk; the part in memory is not needed.
                drop(parts);
                target.put(vec![Piece::File(local)], &tracker).await?;
                // What the file held when it was sent, should it have changed since it was measured.
                tracker.done()
            }
            None => {
                let first = parts.first.unwrap_or_default();
                let (rest, counted) = Counting::new(parts.reader, MAX_SINGLE_PUT - first.len() as u64);
                target.put(vec![Piece::Data(first.clone()), Piece::reader(rest)], &tracker).await?;
                first.len() as u64 + counted.load(Ordering::Relaxed)
            }
        };
        tracker.finish(length);
        Ok(length)
    }
}

/// The largest file one `PUT` of the Files API takes.
const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// Where an upload goes.
struct Target {
    files: FilesApi,
    path: String,
    overwrite: Option<bool>,
}

/// How a multipart upload ended, when it did not fail after storing a part.
enum Multipart {
    Done,
    /// Refused before any part was stored: the data, still whole, and why.
    Declined(PartSource, Error),
}

impl Target {
    /// The data in one `PUT` through the workspace, its progress reported
    /// as it goes out.
    async fn put(&self, pieces: Vec<Piece>, tracker: &Arc<Tracker>) -> Result<()> {
        let tracker = Arc::clone(tracker);
        let mut request = self
            .files
            .client()
            .api()
            .request(Method::PUT, files_endpoint(&self.path))
            .on_sent(Arc::new(move |sent| tracker.reach(sent)));
        if let Some(overwrite) = self.overwrite {
            request = request.query(&json!({ "overwrite": overwrite }));
        }
        request.pieces(pieces).send().await?;
        Ok(())
    }

    /// The multipart protocol. The first part goes alone: until it is
    /// stored, a refusal (no session offered, storage URLs failing) hands
    /// the data back untouched; after it, a failure aborts the upload.
    async fn multipart(
        &self,
        mut parts: PartSource,
        parallelism: usize,
        tracker: &Arc<Tracker>,
        total: Option<u64>,
    ) -> Result<Multipart> {
        let session = match Session::initiate(&self.files, &self.path, self.overwrite).await {
            Ok(Some(session)) => session,
            Ok(None) => {
                let why = Error::new(ErrorKind::NotImplemented, "the workspace offers no multipart upload");
                return Ok(Multipart::Declined(parts, why));
            }
            Err(err) if may_go_whole(&err) => return Ok(Multipart::Declined(parts, err)),
            Err(err) => return Err(err),
        };
        let mut guard = AbortOnDrop(Some(session.clone()));
        let first = parts.first.clone().unwrap_or_default();
        let length = first.len() as u64;
        let first_etag = match session.send_part(1, first).await {
            Ok(etag) => etag,
            Err(err) => {
                session.abort().await;
                guard.0 = None;
                return if may_go_whole(&err) { Ok(Multipart::Declined(parts, err)) } else { Err(err) };
            }
        };
        tracker.add(length);
        parts.first = None;
        parts.next = 2;
        let sent = session.send_parts(parts, parallelism, tracker).await;
        let outcome = match sent {
            Ok(mut etags) => check_length(&self.path, tracker, total).map(|()| {
                etags.insert(0, (1, first_etag));
                etags
            }),
            Err(err) => Err(err),
        };
        let outcome = match outcome {
            Ok(etags) => match session.complete(&etags).await {
                // The answer may be all that was lost: look before aborting a stored file.
                Err(err) if may_have_landed(&err) && self.landed(session.opened_at, tracker.done()).await => Ok(()),
                other => other,
            },
            Err(err) => Err(err),
        };
        if let Err(err) = outcome {
            // Still armed while the abort runs: cancelled during it, the guard aborts again.
            session.abort().await;
            guard.0 = None;
            return Err(err);
        }
        guard.0 = None;
        Ok(Multipart::Done)
    }
}

impl Target {
    /// Whether the file at the target is the one this upload completed:
    /// its length, and, where an older file may have been replaced,
    /// modified no earlier than the server's clock read when the session
    /// opened (both to the second). Anything less certain is not taken for
    /// success: the upload is aborted and reported failed, as before.
    async fn landed(&self, opened_at: Option<std::time::SystemTime>, length: u64) -> bool {
        let Ok(metadata) = self.files.get_metadata(self.path.clone()).await else {
            return false;
        };
        let whole = metadata.content_length.and_then(|l| u64::try_from(l).ok()) == Some(length);
        let modified = metadata.last_modified.as_deref().and_then(|d| httpdate::parse_http_date(d).ok());
        let fresh = match (self.overwrite, modified, opened_at) {
            // Refused at initiate had a file been there: any file now is this one.
            (Some(false), _, _) => true,
            (_, Some(modified), Some(opened_at)) => modified >= opened_at,
            _ => false,
        };
        whole && fresh
    }
}

/// Whether a failed completion may have been carried out: no answer came
/// (the connection failed or timed out) or the server failed meanwhile.
fn may_have_landed(err: &Error) -> bool {
    err.status().is_none_or(|status| status >= 500) && !err.is_connect_failure()
}

/// Whether a refusal of the multipart protocol leaves the plain `PUT` worth
/// trying. As the official SDKs walk on to the Files API after most
/// refusals (a storage URL a firewall blocks answers 403), so does this;
/// not when the target exists and may not be replaced, when the workspace
/// turned the credentials away (the `PUT` would carry the same), nor when
/// the fault is on this side.
fn may_go_whole(err: &Error) -> bool {
    let final_answer = err.is(ErrorKind::AlreadyExists) || err.is(ErrorKind::Unauthenticated);
    !(final_answer || matches!(err.kind(), ErrorKind::LocalIo | ErrorKind::Config))
}

/// A reader that counts what it yields and fails once it has yielded more
/// than `limit` bytes, so a stream too large for one request is cut off
/// with a clear error instead of being refused after gigabytes went out.
struct Counting {
    inner: Reader,
    count: Arc<AtomicU64>,
    limit: u64,
}

impl Counting {
    fn new(inner: Reader, limit: u64) -> (Self, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        (Counting { inner, count: Arc::clone(&count), limit }, count)
    }
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        let count = self.count.fetch_add(read as u64, Ordering::Relaxed) + read as u64;
        if count > self.limit {
            // An error hands out no bytes (the reader contract).
            buf.set_filled(before);
            let message = format!("the data is larger than the {MAX_SINGLE_PUT} bytes one request takes");
            return std::task::Poll::Ready(Err(std::io::Error::other(message)));
        }
        polled
    }
}

run_on_await!(Upload => u64);

/// The part size asked for, or the default grown so the file fits in
/// 10,000 parts (rounded up to a whole MiB).
fn choose_part_size(asked: Option<u64>, total: Option<u64>) -> Result<u64> {
    if let Some(size) = asked {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size) {
            return Err(Error::config(format!("part_size must be between 5 MiB and 4 GiB, not {size} bytes")));
        }
        return Ok(size);
    }
    const MIB: u64 = 1024 * 1024;
    let needed = total.map_or(0, |t| t.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB);
    Ok(DEFAULT_PART_SIZE.max(needed).min(MAX_PART_SIZE))
}

/// A file that grew or shrank while it was read would be stored torn.
pub(super) fn check_length(path: &str, tracker: &Tracker, total: Option<u64>) -> Result<()> {
    let sent = tracker.done();
    match total {
        Some(total) if total != sent => Err(Error::new(
            ErrorKind::LocalIo,
            format!("upload to {path}: the local file changed size while it was read ({total} bytes, then {sent})"),
        )),
        _ => Ok(()),
    }
}

/// Up to `size` bytes, fewer only at the end of the data.
async fn read_part(reader: &mut Reader, size: u64, label: &Path) -> Result<Bytes> {
    let capacity = usize::try_from(size).map_err(|_| Error::config("part_size does not fit in memory"))?;
    read_full(reader, capacity).await.map_err(|e| Error::local_io("read", label, e))
}

/// Up to `size` bytes from `reader`, fewer only at its end.
pub(super) async fn read_full(reader: &mut (impl AsyncRead + Unpin), size: usize) -> std::io::Result<Bytes> {
    let mut buffer = BytesMut::with_capacity(size);
    while buffer.len() < size {
        if reader.read_buf(&mut buffer).await? == 0 {
            break;
        }
    }
    Ok(buffer.freeze())
}

/// The data cut into numbered parts, read one at a time as parts are sent.
struct PartSource {
    reader: Reader,
    label: PathBuf,
    part_size: u64,
    first: Option<Bytes>,
    /// The number the next part read gets.
    next: u64,
}

impl PartSource {
    /// Parts in order: the one already read, then the rest as they are asked for.
    fn into_stream(self) -> impl futures::Stream<Item = Result<(u64, Bytes)>> + Send {
        let next = self.next;
        futures::stream::try_unfold((self, next), |(mut source, number)| async move {
            let data = match source.first.take() {
                Some(first) => first,
                None => read_part(&mut source.reader, source.part_size, &source.label).await?,
            };
            if data.is_empty() {
                return Ok(None);
            }
            if number > MAX_PARTS {
                return Err(Error::config(format!(
                    "the data needs more than {MAX_PARTS} parts of {} bytes: set a larger part_size",
                    source.part_size
                )));
            }
            Ok(Some(((number, data), (source, number + 1))))
        })
    }
}

/// One multipart upload session.
#[derive(Clone)]
struct Session {
    files: FilesApi,
    path: String,
    /// `/api/2.0/fs/files{path}`, encoded.
    endpoint: String,
    token: String,
    /// The server's clock when it opened the session (its `Date` header).
    opened_at: Option<std::time::SystemTime>,
}

#[derive(Deserialize)]
struct Initiated {
    multipart_upload: Option<SessionToken>,
}

#[derive(Deserialize)]
struct SessionToken {
    session_token: String,
}

#[derive(Deserialize)]
struct PartUrls {
    #[serde(default)]
    upload_part_urls: Vec<PresignedUrl>,
}

#[derive(Deserialize)]
struct PresignedUrl {
    url: String,
    part_number: Option<u64>,
    #[serde(default)]
    headers: Vec<NameValue>,
}

#[derive(Deserialize)]
struct NameValue {
    name: String,
    value: String,
}

impl Session {
    /// A new session, or none when the workspace offers no multipart upload
    /// (a GCP workspace answers with a resumable upload instead).
    async fn initiate(files: &FilesApi, path: &str, overwrite: Option<bool>) -> Result<Option<Session>> {
        let (files, path) = (files.clone(), path.to_string());
        let what = format!("upload to {path}");
        let initiate = async move { Session::open(&files, &path, overwrite).await };
        // Abandoned before the answer (a cancelled upload), the session opened is aborted.
        crate::cleanup::undo_if_abandoned(what, initiate, |opened: Option<Session>| async move {
            if let Some(session) = opened {
                session.abort().await;
            }
        })
        .await
    }

    async fn open(files: &FilesApi, path: &str, overwrite: Option<bool>) -> Result<Option<Session>> {
        let endpoint = files_endpoint(path);
        let mut request =
            files.client().api().request(Method::POST, endpoint.as_str()).query(&json!({"action": "initiate-upload"}));
        if let Some(overwrite) = overwrite {
            request = request.query(&json!({ "overwrite": overwrite }));
        }
        let answer = request.send().await?;
        let date = answer.headers().get(header::DATE).and_then(|v| v.to_str().ok());
        let opened_at = date.and_then(|d| httpdate::parse_http_date(d).ok());
        let initiated: Initiated = answer.json()?;
        let Some(session) = initiated.multipart_upload else {
            return Ok(None);
        };
        let (files, path, token) = (files.clone(), path.to_string(), session.session_token);
        Ok(Some(Session { files, path, endpoint, token, opened_at }))
    }

    /// Send every part, `parallelism` at a time; answer their ETags in order.
    async fn send_parts(
        &self,
        parts: PartSource,
        parallelism: usize,
        tracker: &Arc<Tracker>,
    ) -> Result<Vec<(u64, String)>> {
        let mut etags: Vec<(u64, String)> = parts
            .into_stream()
            .map_ok(|(number, data)| {
                let (session, tracker) = (self.clone(), Arc::clone(tracker));
                async move {
                    let length = data.len() as u64;
                    let etag = session.send_part(number, data).await?;
                    tracker.add(length);
                    Ok((number, etag))
                }
            })
            .try_buffer_unordered(parallelism)
            .try_collect()
            .await?;
        etags.sort_unstable_by_key(|(number, _)| *number);
        Ok(etags)
    }

    /// One part to its presigned URL, with a fresh URL if the first expired.
    /// A part times out only when it stops moving (the transport's idle
    /// timeout), so parts sharing a slow link are not cut off.
    async fn send_part(&self, number: u64, data: Bytes) -> Result<String> {
        let api = self.files.client().api();
        let mut refreshes = 0;
        loop {
            let url = self.part_url(number).await?;
            let mut request = api.presigned(Method::PUT, &url.url).bytes(data.clone());
            for extra in &url.headers {
                let name = header::HeaderName::from_bytes(extra.name.as_bytes());
                let value = header::HeaderValue::from_str(&extra.value);
                let (Ok(name), Ok(value)) = (name, value) else {
                    return Err(Error::decode(format!("a part URL of {} names an invalid header", self.path)));
                };
                request = request.header(name, value);
            }
            match request.send().await {
                Ok(response) => {
                    let etag = response.headers().get(header::ETAG).and_then(|v| v.to_str().ok());
                    return etag.map(str::to_string).ok_or_else(|| {
                        Error::decode(format!("part {number} of {} was stored without an ETag", self.path))
                    });
                }
                Err(err) if is_expired_url(&err) && refreshes < URL_REFRESHES => refreshes += 1,
                Err(err) => return Err(err.context(format_args!("part {number} of {}", self.path))),
            }
        }
    }

    async fn part_url(&self, number: u64) -> Result<PresignedUrl> {
        let body = json!({
            "path": self.path,
            "session_token": self.token,
            "start_part_number": number,
            "count": 1,
            "expire_time": expire_time(),
        });
        // Asking again for a URL changes nothing on the server: safe to replay.
        let api = self.files.client().api();
        let urls: PartUrls = api
            .request(Method::POST, "/api/2.0/fs/create-upload-part-urls")
            .json(&body)
            .idempotent(true)
            .send()
            .await?
            .json()?;
        urls.upload_part_urls
            .into_iter()
            .find(|u| u.part_number.is_none_or(|n| n == number))
            .ok_or_else(|| Error::decode(format!("create-upload-part-urls answered no URL for part {number}")))
    }

    async fn complete(&self, etags: &[(u64, String)]) -> Result<()> {
        let parts: Vec<_> = etags.iter().map(|(n, etag)| json!({"part_number": n, "etag": etag})).collect();
        self.action("complete-upload").json(&json!({ "parts": parts })).send().await?;
        Ok(())
    }

    /// Best effort: a failed abort leaves parts the server drops in time.
    async fn abort(&self) {
        if let Err(err) = self.action("abort-upload").send().await {
            tracing::debug!("abort of the upload to {} failed: {err}", self.path);
        }
    }

    fn action(&self, action: &str) -> crate::transport::RequestBuilder {
        let query = json!({"action": action, "upload_type": "multipart", "session_token": self.token});
        self.files.client().api().request(Method::POST, self.endpoint.as_str()).query(&query)
    }
}

/// The clouds' answers to a presigned URL used after it expired: S3's
/// (`AccessDenied`, or `ExpiredToken` under temporary credentials, as GCS
/// words it too) and Azure's (`AuthenticationFailed` for the time frame).
fn is_expired_url(err: &Error) -> bool {
    match err.error_code() {
        Some("AccessDenied") => err.message() == "Request has expired",
        Some("ExpiredToken") => true,
        Some("AuthenticationFailed") => err.message().contains("not valid in the specified time frame"),
        _ => false,
    }
}

/// An hour from now, in RFC 3339: the life asked for each part URL.
fn expire_time() -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Aborts the session when an upload is dropped before it finished.
struct AbortOnDrop(Option<Session>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(session) = self.0.take() {
            let what = format!("upload to {}", session.path);
            crate::cleanup::spawn_cleanup(what, async move {
                session.abort().await;
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_urls_are_recognised_as_each_cloud_words_them() {
        let storage = |body: &str| crate::error::from_response("PUT", "/b/k", 403, None, body.as_bytes());
        let s3 = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        let token = "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>";
        let azure = "<Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.</Message><AuthenticationErrorDetail>Signature not valid in the specified time frame: Start [x] - Expiry [y]</AuthenticationErrorDetail></Error>";
        for body in [s3, token, azure] {
            assert!(is_expired_url(&storage(body)), "{body}");
        }
        let denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        assert!(!is_expired_url(&storage(denied)));
        assert!(!is_expired_url(&storage(r#"{"error_code":"PERMISSION_DENIED","message":"no"}"#)));
    }

    #[tokio::test]
    async fn a_stream_past_the_single_request_limit_is_cut_off_with_an_error() {
        let data: Reader = Box::new(std::io::Cursor::new(vec![7u8; 10]));
        let (mut within, counted) = Counting::new(data, 10);
        let mut all = Vec::new();
        assert_eq!(within.read_to_end(&mut all).await.ok(), Some(10));
        assert_eq!(counted.load(Ordering::Relaxed), 10);

        let data: Reader = Box::new(std::io::Cursor::new(vec![7u8; 10]));
        let (mut over, _) = Counting::new(data, 9);
        let err = over.read_to_end(&mut Vec::new()).await.expect_err("over the limit");
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn part_size_is_the_default_until_a_file_needs_more_than_ten_thousand_parts() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(choose_part_size(None, None).ok(), Some(DEFAULT_PART_SIZE));
        assert_eq!(choose_part_size(None, Some(80_000 * MIB)).ok(), Some(DEFAULT_PART_SIZE));
        // 100 GiB in 10,000 parts: 10.24 MiB each, rounded up to 11 MiB.
        assert_eq!(choose_part_size(None, Some(100 * 1024 * MIB)).ok(), Some(11 * MIB));
        assert_eq!(choose_part_size(None, Some(u64::MAX)).ok(), Some(MAX_PART_SIZE));
        assert_eq!(choose_part_size(Some(MIN_PART_SIZE), None).ok(), Some(MIN_PART_SIZE));
        assert!(choose_part_size(Some(MIN_PART_SIZE - 1), None).is_err());
        assert!(choose_part_size(Some(0), None).is_err());
        assert!(choose_part_size(Some(MAX_PART_SIZE + 1), None).is_err());
    }
}

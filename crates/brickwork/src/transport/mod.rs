//! The HTTP layer every API call goes through: authentication, retries,
//! rate limit, timeouts, error parsing and redacted `tracing` logs.
//!
//! [`ApiClient`] is also the raw escape hatch for endpoints without a typed
//! wrapper: `client.api().get::<serde_json::Value>("/api/2.0/...", &query)`.

mod idle;
mod logging;
mod query;
mod rate_limit;
mod retry;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

pub(crate) use idle::Piece;
pub use query::encode_query;
pub use rate_limit::RateLimiter;
/// Raw HTTP header types, for [`RequestBuilder::header`].
pub use reqwest::header;
pub use reqwest::{Body, Method};
pub use retry::{RetryPolicy, SERVER_ERROR_ATTEMPTS};

use crate::auth::CredentialsProvider;
use crate::config::Settings;
use crate::error::{self, Error, ErrorKind, Result};
use retry::Replay;

/// The transport of a client: cheap to clone, safe to share across tasks.
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    credentials: Arc<dyn CredentialsProvider>,
    user_agent: HeaderValue,
    workspace_id: Option<HeaderValue>,
    retry: RetryPolicy,
    settings: Settings,
    limiter: RateLimiter,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base_url", &self.inner.base_url)
            .field("user_agent", &self.inner.user_agent)
            .field("retry", &self.inner.retry)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// Everything [`ApiClient::new`] needs.
pub(crate) struct ApiClientParts {
    pub base_url: String,
    pub credentials: Arc<dyn CredentialsProvider>,
    pub user_agent: String,
    /// Sent as `X-Databricks-Workspace-Id` when set.
    pub workspace_id: Option<String>,
    pub retry: RetryPolicy,
    pub settings: Settings,
}

impl ApiClient {
    pub(crate) fn new(parts: ApiClientParts) -> Result<Self> {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(parts.settings.skip_verify)
            .pool_max_idle_per_host(32)
            .connect_timeout(parts.settings.connect_timeout)
            .build()
            .map_err(|e| Error::config(format!("cannot build HTTP client: {e}")).with_source(e))?;
        let user_agent = HeaderValue::from_str(&parts.user_agent)
            .map_err(|_| Error::config(format!("invalid User-Agent: {:?}", parts.user_agent)))?;
        Ok(ApiClient {
            inner: Arc::new(Inner {
                http,
                base_url: parts.base_url.trim_end_matches('/').to_string(),
                credentials: parts.credentials,
                user_agent,
                workspace_id: parts.workspace_id.and_then(|id| HeaderValue::from_str(&id).ok()),
                retry: parts.retry,
                limiter: RateLimiter::new(parts.settings.rate_limit, parts.settings.adaptive_rate_limit),
                settings: parts.settings,
            }),
        })
    }

    /// The `User-Agent` sent with every request.
    pub fn user_agent(&self) -> &str {
        self.inner.user_agent.to_str().unwrap_or_default()
    }

    /// The headers that authenticate the next request (a token refreshed
    /// first if it is due), for a tool that hands the credential to another
    /// program, as `brickwork auth token` does.
    pub async fn auth_headers(&self) -> Result<HeaderMap> {
        self.inner.credentials.headers().await
    }

    /// Start a request to `path` (e.g. `/api/2.1/clusters/get`).
    pub fn request(&self, method: Method, path: impl Into<String>) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method,
            path: path.into(),
            presigned: None,
            query: Vec::new(),
            body: RequestBody::Empty,
            headers: HeaderMap::new(),
            idempotent: None,
            timeout: None,
            error: None,
            streaming: false,
            on_sent: None,
        }
    }

    /// Start a request to a presigned `url` (cloud storage, from the Files
    /// API's `create-upload-part-urls` or `create-download-url`). The URL is
    /// its own credential: the workspace's are not sent, and the workspace's
    /// rate limit does not apply. Retries, timeouts and error parsing do. Its
    /// query string (the signature) never appears in logs or errors.
    pub fn presigned(&self, method: Method, url: &str) -> RequestBuilder {
        let mut request = self.request(method, String::new());
        match reqwest::Url::parse(url) {
            Ok(parsed) => {
                request.path = parsed.path().to_string();
                request.presigned = Some(parsed);
            }
            Err(e) => request.error = Some(Error::config(format!("invalid presigned URL: {e}"))),
        }
        request
    }

    /// `GET path?query`, decoding the JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &(impl Serialize + ?Sized)) -> Result<T> {
        self.request(Method::GET, path).query(query).send().await?.json()
    }

    /// `POST path` with a JSON body, decoding the JSON answer. Not idempotent:
    /// see [`RequestBuilder::idempotent`].
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &(impl Serialize + ?Sized)) -> Result<T> {
        self.request(Method::POST, path).json(body).send().await?.json()
    }

    /// `PUT path` with a JSON body.
    pub async fn put<T: DeserializeOwned>(&self, path: &str, body: &(impl Serialize + ?Sized)) -> Result<T> {
        self.request(Method::PUT, path).json(body).send().await?.json()
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch<T: DeserializeOwned>(&self, path: &str, body: &(impl Serialize + ?Sized)) -> Result<T> {
        self.request(Method::PATCH, path).json(body).send().await?.json()
    }

    /// `DELETE path?query`.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str, query: &(impl Serialize + ?Sized)) -> Result<T> {
        self.request(Method::DELETE, path).query(query).send().await?.json()
    }
}

enum RequestBody {
    Empty,
    Replayable {
        data: Bytes,
        content_type: &'static str,
    },
    /// Raw data: replayable unless a piece is a one-pass reader, and sent
    /// under an idle timeout rather than a whole-exchange one.
    Raw(Vec<Piece>),
    Streamed(Option<Body>),
}

/// A request being built; nothing is sent until [`send`](Self::send).
pub struct RequestBuilder {
    client: ApiClient,
    method: Method,
    /// The path, also what logs and errors name (a presigned URL's without its query).
    path: String,
    /// A presigned URL to send to instead of the workspace.
    presigned: Option<reqwest::Url>,
    query: Vec<(String, String)>,
    body: RequestBody,
    headers: HeaderMap,
    idempotent: Option<bool>,
    timeout: Option<Duration>,
    error: Option<Error>,
    /// Leave a 2xx body on the wire ([`RequestBuilder::send_streaming`]).
    streaming: bool,
    /// Told how much of a raw body each attempt has handed over.
    on_sent: Option<SentFn>,
}

/// Called with the bytes of a raw body an attempt has handed to the
/// connection so far (from 0 again on a retry).
pub(crate) type SentFn = Arc<dyn Fn(u64) + Send + Sync>;

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder").field("method", &self.method).field("path", &self.path).finish()
    }
}

impl RequestBuilder {
    /// Add query parameters from a struct or map (nested objects become
    /// dotted keys, lists repeated keys).
    pub fn query(mut self, params: &(impl Serialize + ?Sized)) -> Self {
        match encode_query(params) {
            Ok(pairs) => self.query.extend(pairs),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// Add query parameters that are JSON already (generated calls).
    pub(crate) fn query_value(mut self, params: serde_json::Value) -> Self {
        match query::pairs_of(params) {
            Ok(pairs) => self.query.extend(pairs),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// Send `body` as JSON.
    pub fn json(mut self, body: &(impl Serialize + ?Sized)) -> Self {
        match serde_json::to_vec(body) {
            Ok(data) => self.body = RequestBody::Replayable { data: data.into(), content_type: "application/json" },
            Err(e) => self.error = Some(Error::config(format!("cannot encode request body: {e}"))),
        }
        self
    }

    /// Send raw bytes (`application/octet-stream` unless a `Content-Type`
    /// header says otherwise); may be retried. The timeout is an idle one:
    /// the attempt fails when the body stops moving for that long (or the
    /// answer does not come within it), not when a large body simply takes
    /// longer than it to send.
    pub fn bytes(mut self, data: impl Into<Bytes>) -> Self {
        self.body = RequestBody::Raw(vec![Piece::Data(data.into())]);
        self
    }

    /// Send the local file at `path` as raw data, as [`bytes`](Self::bytes)
    /// does, read from disk as it goes out (memory stays small whatever the
    /// file's size) and opened anew for each attempt, so it may be retried.
    pub fn file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.body = RequestBody::Raw(vec![Piece::File(path.into())]);
        self
    }

    /// Send the pieces one after the other as one raw body.
    #[cfg_attr(not(any(feature = "files", feature = "workspace")), allow(dead_code))]
    pub(crate) fn pieces(mut self, pieces: Vec<Piece>) -> Self {
        self.body = RequestBody::Raw(pieces);
        self
    }

    /// Report a raw body's progress as it goes out.
    #[cfg_attr(not(feature = "files"), allow(dead_code))]
    pub(crate) fn on_sent(mut self, callback: SentFn) -> Self {
        self.on_sent = Some(callback);
        self
    }

    /// Send a stream; such a request is never retried because the stream
    /// cannot be rewound.
    pub fn stream(mut self, body: impl Into<Body>) -> Self {
        self.body = RequestBody::Streamed(Some(body.into()));
        self
    }

    /// Add a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Declare whether replaying this request is safe. By default GET, HEAD,
    /// PUT, DELETE and OPTIONS are idempotent and POST/PATCH are not; a
    /// non-idempotent request is retried only when the server cannot have
    /// acted on it (connection never made, or 429/503).
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Timeout of each attempt (default: the config's `http_timeout_seconds`);
    /// for raw bodies ([`bytes`](Self::bytes)) and streamed answers, the
    /// longest the transfer may stand still.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Send with retries; a non-2xx answer becomes a typed [`Error`].
    pub async fn send(mut self) -> Result<Response> {
        self.streaming = false;
        match self.send_with_retries().await? {
            Answer::Read(response) => Ok(response),
            Answer::Open(_) => Err(Error::config("a read request was answered as a stream")),
        }
    }

    /// Send with retries up to the response's headers and leave a 2xx body
    /// on the wire, to be read chunk by chunk in bounded memory. The timeout
    /// covers the wait for the headers and then each read on its own (a
    /// transfer that keeps moving never times out; one that stalls does).
    /// Failures while reading the body are not retried: the caller knows how
    /// much it has and can resume (a `Range` request).
    pub async fn send_streaming(mut self) -> Result<StreamingResponse> {
        self.streaming = true;
        match self.send_with_retries().await? {
            Answer::Open(response) => Ok(response),
            Answer::Read(_) => Err(Error::config("a streamed request was answered whole")),
        }
    }

    async fn send_with_retries(mut self) -> Result<Answer> {
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        if !self.path.starts_with('/') {
            self.path.insert(0, '/');
        }
        let replay = Replay {
            idempotent: self.idempotent.unwrap_or_else(|| is_idempotent_method(&self.method)),
            replayable: match &self.body {
                RequestBody::Streamed(_) => false,
                RequestBody::Raw(pieces) => pieces.iter().all(Piece::is_replayable),
                RequestBody::Empty | RequestBody::Replayable { .. } => true,
            },
        };
        let inner = Arc::clone(&self.client.inner);
        // Parsed once for every attempt.
        let url = self.url(&inner.base_url)?;
        let budget = inner.settings.retry_timeout;
        let started = Instant::now();
        let mut attempt: u32 = 1;
        // Server errors met so far: bounded apart from throttling and network retries.
        let mut server_errors: u32 = 0;
        loop {
            let span = tracing::debug_span!(
                "databricks.request",
                method = %self.method,
                path = %self.path,
                attempt,
                status = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
            );
            // No attempt may outlive the call's retry budget.
            let remaining = budget.saturating_sub(started.elapsed());
            let err = match self.attempt(&url, remaining).instrument(span).await {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            let Some(reason) = inner.retry.reason(&err, replay) else {
                return Err(err);
            };
            if reason == retry::SERVER_ERROR {
                server_errors += 1;
            }
            let server_errors_exhausted = server_errors >= retry::SERVER_ERROR_ATTEMPTS;
            if server_errors_exhausted || inner.settings.max_attempts.is_some_and(|max| attempt >= max) {
                return Err(err.context(format_args!("giving up after {attempt} attempts")));
            }
            let delay = inner.retry.delay(&err, attempt);
            if started.elapsed().saturating_add(delay) > budget {
                let message = format!(
                    "retry budget of {}s exhausted after {attempt} attempts ({} {}): {}",
                    budget.as_secs_f64(),
                    self.method,
                    self.path,
                    err.message()
                );
                // Still a throttled call: the status and the server's delay stay readable.
                return Err(Error::new(ErrorKind::Timeout, message).with_server_answer_of(&err).with_source(err));
            }
            tracing::debug!(reason, attempt, delay_ms = delay.as_millis() as u64, "retrying: {}", err.message());
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The request's URL with its query string.
    fn url(&self, base_url: &str) -> Result<reqwest::Url> {
        let mut url = match &self.presigned {
            Some(url) => url.clone(),
            None => reqwest::Url::parse(&format!("{base_url}{}", self.path))
                .map_err(|e| Error::config(format!("invalid request URL for {}: {e}", self.path)))?,
        };
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        Ok(url)
    }

    /// One attempt: rate limit, sign, send, read the whole body (or, when
    /// streaming, leave a 2xx body unread).
    async fn attempt(&mut self, url: &reqwest::Url, remaining_budget: Duration) -> Result<Answer> {
        let inner = Arc::clone(&self.client.inner);
        let to_workspace = self.presigned.is_none();
        let ticket = if to_workspace { Some(inner.limiter.acquire().await) } else { None };
        let mut request = inner.http.request(self.method.clone(), url.clone());
        if !self.headers.is_empty() {
            request = request.headers(self.headers.clone());
        }
        let timeout =
            self.timeout.unwrap_or(inner.settings.http_timeout).min(remaining_budget.max(Duration::from_millis(1)));
        request = request.header(USER_AGENT, inner.user_agent.clone());
        if to_workspace {
            request = request.headers(inner.credentials.headers().await.map_err(Error::before_sending)?);
            if let Some(id) = &inner.workspace_id {
                request = request.header(HeaderName::from_static("x-databricks-workspace-id"), id.clone());
            }
        }
        let mut watched = None;
        match &mut self.body {
            RequestBody::Empty => {}
            RequestBody::Raw(pieces) => {
                if let Some(Piece::Data(data)) = pieces.first() {
                    log_body("request", data, inner.settings.debug_truncate_bytes);
                }
                if !self.headers.contains_key(CONTENT_TYPE) {
                    request = request.header(CONTENT_TYPE, "application/octet-stream");
                }
                let (body, length, progress) = idle::watched(pieces, self.on_sent.clone()).await?;
                if let Some(length) = length {
                    request = request.header(CONTENT_LENGTH, length);
                }
                request = request.body(body);
                watched = Some(progress);
            }
            RequestBody::Replayable { data, content_type } => {
                log_body("request", data, inner.settings.debug_truncate_bytes);
                if !self.headers.contains_key(CONTENT_TYPE) {
                    request = request.header(CONTENT_TYPE, *content_type);
                }
                request = request.body(data.clone());
            }
            RequestBody::Streamed(stream) => {
                let stream = stream.take().ok_or_else(|| Error::config("a streamed body can be sent only once"))?;
                request = request.body(stream);
            }
        }
        if inner.settings.debug_headers {
            tracing::debug!(headers = ?self.headers, "request headers (Authorization omitted)");
        }
        // Small exchanges are timed as a whole; transfers by how long they stand still.
        let timed_whole = !self.streaming && watched.is_none();
        if timed_whole {
            request = request.timeout(timeout);
        }
        let started = Instant::now();
        let sent = if let Some(progress) = &watched {
            tokio::select! {
                sent = request.send() => sent,
                () = progress.stalled_for(timeout) => return Err(self.stalled(timeout)),
            }
        } else if self.streaming {
            tokio::time::timeout(timeout, request.send()).await.map_err(|_| self.timed_out(timeout))?
        } else {
            request.send().await
        };
        let mut response = sent.map_err(|e| classify(e, &self.method, &self.path))?;
        if is_private_link_redirect(response.url()) {
            return Err(Error::new(ErrorKind::PermissionDenied, PRIVATE_LINK_MESSAGE)
                .with_request(self.method.as_str(), &self.path));
        }
        let status = response.status().as_u16();
        // The body's length is known without them: they can be taken, not copied.
        let headers = std::mem::take(response.headers_mut());
        if let Some(ticket) = ticket {
            inner.limiter.observe(ticket, status, headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()));
        }
        if self.streaming && (200..300).contains(&status) {
            let (method, path) = (self.method.clone(), self.path.clone());
            return Ok(Answer::Open(StreamingResponse {
                status,
                headers,
                body: response,
                idle: timeout,
                method,
                path,
            }));
        }
        let body = if !timed_whole {
            // The answer to an upload, or a streamed call's error: small and bounded, read within one timeout.
            tokio::time::timeout(timeout, self.read_body(response, inner.settings.max_response_bytes))
                .await
                .map_err(|_| self.timed_out(timeout))??
        } else {
            self.read_body(response, inner.settings.max_response_bytes).await?
        };
        let span = tracing::Span::current();
        span.record("status", status);
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        log_body("response", &body, inner.settings.debug_truncate_bytes);
        if !(200..300).contains(&status) {
            let retry_after = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
            return Err(error::from_response(self.method.as_str(), &self.path, status, retry_after, &body));
        }
        tracing::debug!(status, "ok");
        Ok(Answer::Read(Response { status, headers, body }))
    }

    fn timed_out(&self, after: Duration) -> Error {
        Error::new(ErrorKind::Timeout, format!("no answer within {}s", after.as_secs_f64()))
            .with_request(self.method.as_str(), &self.path)
    }

    fn stalled(&self, idle: Duration) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!("the upload stood still (nothing sent, or no answer) for {}s", idle.as_secs_f64()),
        )
        .with_request(self.method.as_str(), &self.path)
    }

    /// The whole body, or `ResponseTooLarge` past the configured limit.
    async fn read_body(&self, response: reqwest::Response, limit: u64) -> Result<Bytes> {
        read_limited(response, limit).await.map_err(|e| match e {
            BodyError::TooLarge => Error::new(
                ErrorKind::ResponseTooLarge,
                format!("response body over the limit of {limit} bytes (max_response_bytes)"),
            )
            .with_request(self.method.as_str(), &self.path),
            BodyError::Read(e) => classify(e, &self.method, &self.path),
        })
    }
}

/// Decode `body` as a 200 answer, as every call does: the fuzzing entry point.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_response_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    Response { status: 200, headers: HeaderMap::new(), body: Bytes::copy_from_slice(body) }.json()
}

/// The redacted rendering of a body that logs and errors show.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_redacted_body(body: &[u8], max_bytes: usize) -> String {
    logging::redacted_body(body, max_bytes)
}

/// Why a body could not be read whole.
pub(crate) enum BodyError {
    /// Over the limit (known from `Content-Length` or while reading).
    TooLarge,
    /// The connection failed while reading.
    Read(reqwest::Error),
}

/// Read a whole body, stopping as soon as it is known to exceed `limit`, so
/// memory stays bounded whatever the server sends.
pub(crate) async fn read_limited(mut response: reqwest::Response, limit: u64) -> std::result::Result<Bytes, BodyError> {
    if response.content_length().is_some_and(|length| length > limit) {
        return Err(BodyError::TooLarge);
    }
    let too_large = |length: usize| length as u64 > limit;
    // Most answers come in one chunk: that one is kept as it is, not copied.
    let Some(first) = response.chunk().await.map_err(BodyError::Read)? else {
        return Ok(Bytes::new());
    };
    if too_large(first.len()) {
        return Err(BodyError::TooLarge);
    }
    let Some(second) = response.chunk().await.map_err(BodyError::Read)? else {
        return Ok(first);
    };
    let mut body = bytes::BytesMut::with_capacity(first.len() + second.len());
    body.extend_from_slice(&first);
    let mut next = Some(second);
    while let Some(chunk) = next {
        if too_large(body.len() + chunk.len()) {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
        next = response.chunk().await.map_err(BodyError::Read)?;
    }
    Ok(body.freeze())
}

const PRIVATE_LINK_MESSAGE: &str = "the workspace has private connectivity (AWS PrivateLink, Azure Private Link \
or GCP Private Service Connect) enabled and is not reachable from this network: check the private endpoint \
and that this machine can reach it";

/// A workspace behind private connectivity answers a client from outside
/// with a redirect to its login page carrying this error.
fn is_private_link_redirect(url: &reqwest::Url) -> bool {
    url.path() == "/login.html" && url.query().is_some_and(|q| q.contains("error=private-link-validation-error"))
}

fn is_idempotent_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS)
}

fn log_body(direction: &str, body: &[u8], max_bytes: usize) {
    if tracing::enabled!(tracing::Level::DEBUG) && !body.is_empty() {
        tracing::debug!(direction, body = %logging::redacted_body(body, max_bytes));
    }
}

/// Sort a reqwest failure into connect (never sent), timeout, or other.
fn classify(e: reqwest::Error, method: &Method, path: &str) -> Error {
    let e = e.without_url();
    let err = if e.is_connect() {
        let timed_out = if e.is_timeout() { " (timed out: see connect_timeout_seconds)" } else { "" };
        Error::transport(format!("cannot connect{timed_out}: {e}"), true, e)
    } else if e.is_timeout() {
        Error::new(ErrorKind::Timeout, format!("request timed out: {e}")).with_source(e)
    } else {
        let detail = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
        Error::transport(format!("request failed: {e}{detail}"), false, e)
    };
    err.with_request(method.as_str(), path)
}

/// What one attempt brings back.
enum Answer {
    Read(Response),
    Open(StreamingResponse),
}

/// A successful (2xx) response whose body is still on the wire: read it with
/// [`chunk`](Self::chunk) in bounded memory.
pub struct StreamingResponse {
    status: u16,
    headers: HeaderMap,
    body: reqwest::Response,
    /// The longest a read may wait for the next bytes.
    idle: Duration,
    method: Method,
    path: String,
}

impl fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingResponse").field("status", &self.status).field("path", &self.path).finish()
    }
}

impl StreamingResponse {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The length of the body as announced, if it was.
    pub fn content_length(&self) -> Option<u64> {
        self.body.content_length()
    }

    /// The next piece of the body, `None` at its end. A read that waits
    /// longer than the timeout fails with [`ErrorKind::Timeout`]; a dropped
    /// connection with [`ErrorKind::Transport`].
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        match tokio::time::timeout(self.idle, self.body.chunk()).await {
            Ok(Ok(chunk)) => Ok(chunk),
            Ok(Err(e)) => Err(classify(e, &self.method, &self.path)),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("the transfer stalled: no data for {}s", self.idle.as_secs_f64()),
            )
            .with_request(self.method.as_str(), &self.path)),
        }
    }
}

/// A successful (2xx) response, fully read.
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Response {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The raw body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The answer with the named headers folded into its JSON object (by
    /// lower-case header name), for operations that answer in headers.
    pub(crate) fn with_headers_in_body(self, names: &[&str]) -> Result<Response> {
        let mut object: serde_json::Map<String, serde_json::Value> = match self.json::<serde_json::Value>()? {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        for name in names {
            if let Some(value) = self.headers.get(*name).and_then(|v| v.to_str().ok()) {
                object.insert(name.to_string(), serde_json::Value::String(value.to_string()));
            }
        }
        let body = serde_json::to_vec(&object).map_err(|e| Error::decode(format!("cannot re-encode answer: {e}")))?;
        Ok(Response { status: self.status, headers: self.headers, body: Bytes::from(body) })
    }

    /// Decode the JSON body. An empty body decodes as `{}` (or `null`), since
    /// many Databricks calls answer 200 with nothing.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return serde_json::from_slice(b"{}")
                .or_else(|_| serde_json::from_slice(b"null"))
                .map_err(|e| Error::decode(format!("empty response body where data was expected: {e}")));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            // Only a redacted rendering may be quoted: responses can carry secrets.
            let preview: String = logging::redacted_body(&self.body, 64).chars().take(200).collect();
            Error::decode(format!("cannot decode response ({} bytes): {e}; body: {preview}", self.body.len()))
                .with_source(e)
        })
    }
}

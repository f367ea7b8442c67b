//! One error type for everything brickwork does.
//!
//! Server errors are classified the way the official SDKs classify them: the
//! `error_code` wins, then the HTTP status, after a small set of overrides for
//! APIs known to answer with the wrong code (see [`ErrorKind`]). Client-side
//! failures (configuration, authentication, transport, decoding, waiting) get
//! kinds of their own so callers can match on them too.

mod parse;

use std::fmt;
use std::time::Duration;

pub use parse::from_response;

/// Convenience alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, mirroring the official SDKs' error classes.
///
/// Server kinds form the same hierarchy as the official classes: use
/// [`ErrorKind::is`] to test for a family, e.g. `ResourceDoesNotExist.is(NotFound)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// HTTP 400.
    BadRequest,
    /// `INVALID_PARAMETER_VALUE` (a `BadRequest`).
    InvalidParameterValue,
    /// `INVALID_STATE` (a `BadRequest`).
    InvalidState,
    /// HTTP 401.
    Unauthenticated,
    /// HTTP 403.
    PermissionDenied,
    /// HTTP 404.
    NotFound,
    /// `RESOURCE_DOES_NOT_EXIST` (a `NotFound`).
    ResourceDoesNotExist,
    /// HTTP 409.
    ResourceConflict,
    /// `ABORTED` (a `ResourceConflict`).
    Aborted,
    /// `ALREADY_EXISTS` (a `ResourceConflict`).
    AlreadyExists,
    /// `RESOURCE_ALREADY_EXISTS` (a `ResourceConflict`).
    ResourceAlreadyExists,
    /// HTTP 429.
    TooManyRequests,
    /// `REQUEST_LIMIT_EXCEEDED` (a `TooManyRequests`).
    RequestLimitExceeded,
    /// `RESOURCE_EXHAUSTED` (a `TooManyRequests`).
    ResourceExhausted,
    /// HTTP 499.
    Cancelled,
    /// HTTP 500.
    InternalError,
    /// `UNKNOWN` (an `InternalError`).
    Unknown,
    /// `DATA_LOSS` (an `InternalError`).
    DataLoss,
    /// HTTP 501.
    NotImplemented,
    /// HTTP 503.
    TemporarilyUnavailable,
    /// HTTP 504.
    DeadlineExceeded,
    /// A server error whose status and code match no known class.
    Api,
    /// Invalid or contradictory configuration.
    Config,
    /// Credentials could not be obtained or refreshed.
    Auth,
    /// The request did not complete at the network level.
    Transport,
    /// A client-side deadline (request timeout, retry budget, waiter) expired.
    Timeout,
    /// A response body could not be decoded into the expected type.
    Decode,
    /// A long-running operation reached a failure state.
    OperationFailed,
    /// A response body was larger than the client accepts (`max_response_bytes`).
    ResponseTooLarge,
    /// A local file of a transfer could not be read or written.
    LocalIo,
}

impl ErrorKind {
    /// The official parent class, if any (`InvalidParameterValue` -> `BadRequest`).
    pub fn parent(self) -> Option<ErrorKind> {
        use ErrorKind::*;
        Some(match self {
            InvalidParameterValue | InvalidState => BadRequest,
            ResourceDoesNotExist => NotFound,
            Aborted | AlreadyExists | ResourceAlreadyExists => ResourceConflict,
            RequestLimitExceeded | ResourceExhausted => TooManyRequests,
            Unknown | DataLoss => InternalError,
            _ => return None,
        })
    }

    /// True when `self` is `family` or one of its children.
    pub fn is(self, family: ErrorKind) -> bool {
        self == family || self.parent() == Some(family)
    }

    /// True for kinds that came from a server response.
    pub fn is_server(self) -> bool {
        !matches!(
            self,
            ErrorKind::Config
                | ErrorKind::Auth
                | ErrorKind::Transport
                | ErrorKind::Timeout
                | ErrorKind::Decode
                | ErrorKind::OperationFailed
                | ErrorKind::ResponseTooLarge
                | ErrorKind::LocalIo
        )
    }

    /// The kind for a specific `error_code`, as the official mapping has it.
    pub fn from_error_code(code: &str) -> Option<ErrorKind> {
        use ErrorKind::*;
        Some(match code {
            "INVALID_PARAMETER_VALUE" => InvalidParameterValue,
            "INVALID_STATE" => InvalidState,
            "RESOURCE_DOES_NOT_EXIST" => ResourceDoesNotExist,
            "ABORTED" => Aborted,
            "ALREADY_EXISTS" => AlreadyExists,
            "RESOURCE_ALREADY_EXISTS" => ResourceAlreadyExists,
            "RESOURCE_EXHAUSTED" => ResourceExhausted,
            "REQUEST_LIMIT_EXCEEDED" => RequestLimitExceeded,
            "UNKNOWN" => Unknown,
            "DATA_LOSS" => DataLoss,
            _ => return None,
        })
    }

    /// The default kind for an HTTP status.
    pub fn from_status(status: u16) -> Option<ErrorKind> {
        use ErrorKind::*;
        Some(match status {
            400 => BadRequest,
            401 => Unauthenticated,
            403 => PermissionDenied,
            404 => NotFound,
            409 => ResourceConflict,
            429 => TooManyRequests,
            499 => Cancelled,
            500 => InternalError,
            501 => NotImplemented,
            503 => TemporarilyUnavailable,
            504 => DeadlineExceeded,
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `google.rpc.ErrorInfo` detail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Machine-readable reason, e.g. `CM_API_ERROR_SOURCE_CALLER_ERROR`.
    pub reason: String,
    /// Logical grouping of the reason.
    pub domain: String,
    /// Extra structured context.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// `google.rpc.RequestInfo` detail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Server-side request id, useful when contacting support.
    pub request_id: String,
    /// Opaque serving data.
    pub serving_data: String,
}

/// One entry of the `details` array of an error body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorDetail {
    /// `type.googleapis.com/google.rpc.ErrorInfo`.
    ErrorInfo(ErrorInfo),
    /// `type.googleapis.com/google.rpc.RequestInfo`.
    RequestInfo(RequestInfo),
    /// `type.googleapis.com/google.rpc.RetryInfo`: how long to wait.
    RetryInfo(Duration),
    /// Any other detail, kept as received.
    Other(serde_json::Value),
}

/// The state a long-running operation was last seen in (for `OperationFailed`/`Timeout`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OperationState {
    /// Wire value of the state, e.g. `TERMINATED`.
    pub state: String,
    /// The server's message for that state, if any.
    pub message: Option<String>,
    /// The id of the resource waited on (a cluster id, a run id, ...).
    pub resource_id: Option<String>,
    /// The last polled object, as JSON (decode it into its type for details).
    pub last: Option<serde_json::Value>,
}

/// `last` is left out: the polled object may hold secrets in clear.
impl fmt::Debug for OperationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationState")
            .field("state", &self.state)
            .field("message", &self.message)
            .field("resource_id", &self.resource_id)
            .field("last", &self.last.as_ref().map(|_| "<polled object>"))
            .finish()
    }
}

/// The brickwork error: a kind, a message and everything known about the cause.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    error_code: Option<String>,
    details: Vec<ErrorDetail>,
    retry_after: Option<Duration>,
    request: Option<String>,
    connect_failure: bool,
    operation_state: Option<OperationState>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                status: None,
                error_code: None,
                details: Vec::new(),
                retry_after: None,
                request: None,
                connect_failure: false,
                operation_state: None,
                source: None,
            }),
        }
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// An authentication error.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }

    /// A decoding error for a body that did not match the expected type.
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Decode, message)
    }

    /// A long-running operation ended in a failure state.
    pub fn operation_failed(message: impl Into<String>, state: OperationState) -> Self {
        Self::new(ErrorKind::OperationFailed, message).with_operation_state(state)
    }

    /// A transport failure; `connect` is true when the request provably never
    /// reached the server (connection refused, DNS, TLS handshake).
    pub fn transport(
        message: impl Into<String>,
        connect: bool,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let mut err = Self::new(ErrorKind::Transport, message).with_source(source);
        err.inner.connect_failure = connect;
        err
    }

    /// A local file operation of a transfer failed (`action` the file at `path`).
    pub(crate) fn local_io(action: &str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::new(ErrorKind::LocalIo, format!("cannot {action} {}: {source}", path.display())).with_source(source)
    }

    pub(crate) fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// The HTTP status of an auth endpoint's answer.
    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// A failure while getting credentials, before the API request went out:
    /// when it is transient (throttled, a server error, the network) the
    /// request may be sent again whatever its method.
    pub(crate) fn before_sending(mut self) -> Self {
        let transient = matches!(self.inner.status, Some(429 | 500..=599))
            || matches!(self.inner.kind, ErrorKind::Transport | ErrorKind::Timeout);
        if transient {
            self.inner.connect_failure = true;
        }
        self
    }

    /// Keep what the server said in `cause` (status, code, details, delay)
    /// on this error, which reports why the call gave up.
    pub(crate) fn with_server_answer_of(mut self, cause: &Error) -> Self {
        self.inner.status = cause.inner.status;
        self.inner.error_code.clone_from(&cause.inner.error_code);
        self.inner.details.clone_from(&cause.inner.details);
        self.inner.retry_after = cause.inner.retry_after;
        self
    }

    pub(crate) fn with_operation_state(mut self, state: OperationState) -> Self {
        self.inner.operation_state = Some(state);
        self
    }

    /// Attach `METHOD /path` of the request that failed.
    pub(crate) fn with_request(mut self, method: &str, path: &str) -> Self {
        self.inner.request = Some(format!("{method} {path}"));
        self
    }

    /// Prefix the message with context, keeping everything else.
    pub(crate) fn context(mut self, prefix: impl fmt::Display) -> Self {
        self.inner.message = format!("{prefix}: {}", self.inner.message);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// True when this error is `family` or one of its children.
    pub fn is(&self, family: ErrorKind) -> bool {
        self.inner.kind.is(family)
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// HTTP status of the response, for server errors.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The server's `error_code` (numeric codes are given as text).
    pub fn error_code(&self) -> Option<&str> {
        self.inner.error_code.as_deref()
    }

    /// Parsed `details` of the error body.
    pub fn details(&self) -> &[ErrorDetail] {
        &self.inner.details
    }

    /// The `ErrorInfo` detail, if the server sent one.
    pub fn error_info(&self) -> Option<&ErrorInfo> {
        self.inner.details.iter().find_map(|d| match d {
            ErrorDetail::ErrorInfo(info) => Some(info),
            _ => None,
        })
    }

    /// The server's request id, if it sent a `RequestInfo` detail.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.details.iter().find_map(|d| match d {
            ErrorDetail::RequestInfo(info) => Some(info.request_id.as_str()),
            _ => None,
        })
    }

    /// How long the server asked us to wait (`Retry-After`, or a `RetryInfo` detail).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// `METHOD /path` of the request that failed, when known.
    pub fn request(&self) -> Option<&str> {
        self.inner.request.as_deref()
    }

    /// The last state of a failed or timed-out long-running operation.
    pub fn operation_state(&self) -> Option<&OperationState> {
        self.inner.operation_state.as_ref()
    }

    /// True for a transport error raised before any byte reached the server.
    pub fn is_connect_failure(&self) -> bool {
        self.inner.connect_failure
    }

    /// Whether the official SDKs would retry this error: throttling (429/503),
    /// transport failures and timeouts of a single attempt, and the known
    /// transient server messages.
    ///
    /// The transport also checks whether the *request* may be replayed; see
    /// `transport::RetryPolicy`.
    pub fn is_retryable(&self) -> bool {
        self.is_throttled() || self.is_transient_transport() || self.has_transient_message()
    }

    /// The resource does not exist: a `NotFound` of any kind, or the
    /// `INVALID_PARAMETER_VALUE` "... does not exist" that clusters, jobs and
    /// other older APIs answer instead. A delete that was retried after its
    /// first answer was lost sees this: the resource is gone, as asked.
    pub fn is_missing_resource(&self) -> bool {
        self.is(ErrorKind::NotFound)
            || (self.inner.kind == ErrorKind::InvalidParameterValue && self.inner.message.contains("does not exist"))
    }

    /// 429 or 503: the server refused the request without acting on it.
    pub fn is_throttled(&self) -> bool {
        matches!(self.inner.status, Some(429 | 503))
    }

    pub(crate) fn is_transient_transport(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Transport | ErrorKind::Timeout)
            && self.inner.status.is_none()
            && self.inner.operation_state.is_none()
    }

    /// The server message matches one of the official transient-error strings.
    pub fn has_transient_message(&self) -> bool {
        self.inner.kind.is_server() && TRANSIENT_MESSAGES.iter().any(|m| self.inner.message.contains(m))
    }
}

/// Messages the official SDKs treat as transient (the Python list plus the Go additions).
const TRANSIENT_MESSAGES: &[&str] = &[
    "com.databricks.backend.manager.util.UnknownWorkerEnvironmentException",
    "does not have any associated worker environments",
    "There is no worker environment with id",
    "Unknown worker environment",
    "ClusterNotReadyException",
    "Unexpected error",
    "Please try again later or try a faster operation.",
    "RPC token bucket limit has been exceeded",
    "Timed out after ",
    "deadline exceeded",
];

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut s = f.debug_struct("Error");
        s.field("kind", &i.kind).field("message", &i.message);
        if let Some(status) = i.status {
            s.field("status", &status);
        }
        if let Some(code) = &i.error_code {
            s.field("error_code", code);
        }
        if let Some(req) = &i.request {
            s.field("request", req);
        }
        if !i.details.is_empty() {
            s.field("details", &i.details);
        }
        if let Some(d) = i.retry_after {
            s.field("retry_after", &d);
        }
        if let Some(state) = &i.operation_state {
            s.field("operation_state", state);
        }
        if let Some(src) = &i.source {
            s.field("source", &src.to_string());
        }
        s.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_ref().map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::decode(format!("cannot decode JSON: {err}")).with_source(err)
    }
}

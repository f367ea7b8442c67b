//! When to retry, and how long to wait.
//!
//! The official SDKs retry 429/503 (honouring `Retry-After`), connection and
//! timeout failures, and a list of transient server messages. brickwork adds
//! one rule the official SDKs leave to luck: a request that is not idempotent
//! (a plain POST) is replayed only when the server cannot have acted on it:
//! the connection was never made, or the server answered 429/503. And one
//! it leaves out: an idempotent call that met a server error (500/502/504) is
//! tried again, at most [`SERVER_ERROR_ATTEMPTS`] times in all, since
//! repeating it is safe and a persistent server bug still surfaces quickly.

use std::time::Duration;

use crate::error::Error;

/// Attempts of an idempotent call that keeps meeting 500/502/504 (other
/// retried failures in between do not count).
pub const SERVER_ERROR_ATTEMPTS: u32 = 4;

/// The retry reason for a server error (bounded by [`SERVER_ERROR_ATTEMPTS`]).
pub(crate) const SERVER_ERROR: &str = "server error";

/// Retry settings of a client. Budget and attempt limits come from the
/// [`Config`](crate::Config) (`retry_timeout_seconds`, `max_retries`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// First backoff step; doubled on each attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Cap of one backoff sleep.
    pub max_backoff: Duration,
    /// Most random time added to a server-requested `Retry-After`.
    pub throttle_jitter: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            throttle_jitter: Duration::from_secs(1),
        }
    }
}

/// What is known about the request being retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Replay {
    /// The method is idempotent, or the caller vouched for it.
    pub idempotent: bool,
    /// The body can be sent again.
    pub replayable: bool,
}

impl RetryPolicy {
    /// Why `err` may be retried for this request, or `None`.
    pub(crate) fn reason(&self, err: &Error, replay: Replay) -> Option<&'static str> {
        if !replay.replayable {
            return None;
        }
        if err.is_throttled() {
            return Some("throttled by the server");
        }
        if err.is_transient_transport() && err.is_connect_failure() {
            return Some("cannot connect");
        }
        if !replay.idempotent {
            return None;
        }
        if err.is_transient_transport() {
            return Some("transport failure");
        }
        if err.has_transient_message() {
            return Some("transient server error");
        }
        if err.status().is_some_and(|status| matches!(status, 500 | 502 | 504)) {
            return Some(SERVER_ERROR);
        }
        None
    }

    /// Delay before attempt `attempt + 1`: the server's `Retry-After` plus a
    /// little jitter, else exponential backoff with full jitter.
    pub(crate) fn delay(&self, err: &Error, attempt: u32) -> Duration {
        if let Some(after) = err.retry_after() {
            return after.saturating_add(self.throttle_jitter.mul_f64(fastrand::f64()));
        }
        let exp = self.initial_backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        exp.min(self.max_backoff).mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{from_response, ErrorKind};

    fn connect_error() -> Error {
        Error::transport("refused", true, std::io::Error::other("refused"))
    }

    fn reset_error() -> Error {
        Error::transport("reset", false, std::io::Error::other("reset"))
    }

    #[test]
    fn non_idempotent_requests_only_retry_when_the_server_cannot_have_acted() {
        let p = RetryPolicy::default();
        let post = Replay { idempotent: false, replayable: true };
        let get = Replay { idempotent: true, replayable: true };
        let throttled = from_response("POST", "/x", 429, Some("1"), b"");
        let unavailable = from_response("POST", "/x", 503, None, b"");
        let transient = from_response("POST", "/x", 400, None, br#"{"message":"ClusterNotReadyException"}"#);
        let timeout = Error::new(ErrorKind::Timeout, "attempt timed out");
        assert!(p.reason(&throttled, post).is_some());
        assert!(p.reason(&unavailable, post).is_some());
        assert!(p.reason(&connect_error(), post).is_some());
        assert!(p.reason(&reset_error(), post).is_none());
        assert!(p.reason(&timeout, post).is_none());
        assert!(p.reason(&transient, post).is_none());
        assert!(p.reason(&reset_error(), get).is_some());
        assert!(p.reason(&timeout, get).is_some());
        assert!(p.reason(&transient, get).is_some());
        let not_found = from_response("GET", "/x", 404, None, b"");
        assert!(p.reason(&not_found, get).is_none());
        let internal = from_response("GET", "/x", 500, None, b"");
        assert_eq!(p.reason(&internal, get), Some(SERVER_ERROR));
        assert!(p.reason(&internal, post).is_none());
        let streamed = Replay { idempotent: true, replayable: false };
        assert!(p.reason(&throttled, streamed).is_none());
    }

    #[test]
    fn delays_honour_retry_after_and_cap_backoff() {
        let p = RetryPolicy::default();
        let throttled = from_response("GET", "/x", 429, Some("3"), b"");
        for _ in 0..50 {
            let d = p.delay(&throttled, 1);
            assert!(d >= Duration::from_secs(3) && d <= Duration::from_secs(4));
            let d = p.delay(&reset_error(), 30);
            assert!(d <= p.max_backoff);
        }
    }
}

//! Any status, `Retry-After` and body make a typed error whose message and
//! `Debug` can be shown: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, Option<&str>, &[u8])| {
    let (status, retry_after, body) = input;
    let err = brickwork::error::from_response("GET", "/api/2.0/fuzz", status, retry_after, body);
    let _ = (err.kind(), err.retry_after(), err.is_retryable(), err.is_missing_resource());
    let _ = format!("{err} {err:?}");
});

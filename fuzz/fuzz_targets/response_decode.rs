//! Any bytes as the answer of the main calls: a value or a `Decode` error
//! (whose message quotes only a redacted preview), never a panic.
#![no_main]

use brickwork::fuzzing::{redacted_body, response_json};
use brickwork::service::compute::{ClusterDetails, ListClustersResponse};
use brickwork::service::jobs::{BaseRun, Job, ListJobsResponse, Run};
use brickwork::ErrorKind;
use libfuzzer_sys::fuzz_target;

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) {
    if let Err(e) = response_json::<T>(body) {
        assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    }
}

fuzz_target!(|body: &[u8]| {
    decode::<ClusterDetails>(body);
    decode::<ListClustersResponse>(body);
    decode::<Job>(body);
    decode::<ListJobsResponse>(body);
    decode::<Run>(body);
    decode::<BaseRun>(body);
    decode::<serde_json::Value>(body);
    let _ = redacted_body(body, 96);
});

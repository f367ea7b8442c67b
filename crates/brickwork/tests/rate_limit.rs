//! The adaptive rate limit over real HTTP: a client that meets the
//! emulator's per-token limit paces itself to it instead of running into it.

use brickwork::{Config, WorkspaceClient};
use brickwork_emulator::{Emulator, EmulatorHandle, FaultSettings};
use futures::StreamExt;

/// `requests` calls at `concurrency` against a workspace limited to 40
/// requests a second per token; the number of 429 answers.
async fn throttled_answers(adaptive: bool, requests: usize, concurrency: usize) -> u64 {
    let emulator: EmulatorHandle = Emulator::start().await.expect("emulator");
    emulator.set_faults(FaultSettings { seed: 1, rules: Vec::new(), rate_limit_per_principal: Some(40) });
    let cfg = Config::builder()
        .host(emulator.url())
        .token(emulator.token())
        .adaptive_rate_limit(adaptive)
        .without_environment()
        .build()
        .expect("config");
    let w = WorkspaceClient::new(cfg).await.expect("client");
    let calls = futures::stream::iter(0..requests).map(|_| {
        let w = w.clone();
        async move { w.clusters().spark_versions().await.map(drop) }
    });
    let results: Vec<_> = calls.buffer_unordered(concurrency).collect().await;
    assert!(results.iter().all(Result::is_ok), "every call succeeds in the end");
    emulator.counters().rate_limited
}

#[tokio::test]
async fn a_client_that_meets_the_servers_limit_paces_itself_to_it() {
    let (requests, concurrency) = (160, 8);
    let adaptive = throttled_answers(true, requests, concurrency).await;
    let fixed = throttled_answers(false, requests, concurrency).await;
    // The first wave (the calls in flight when the server's bucket ran dry)
    // meets 429s; after it the pace holds under the limit.
    assert!(adaptive <= 2 * concurrency as u64 + 4, "{adaptive} answers of 429 with the adaptive limit");
    assert!(adaptive < fixed, "{adaptive} answers of 429 with it, {fixed} without");
}

#[test]
fn the_adaptive_limit_is_on_by_default_and_can_be_turned_off() {
    let on = Config::builder().host("https://x.cloud.databricks.com").token("t").without_environment().build();
    assert!(on.expect("config").settings().adaptive_rate_limit);
    let off = Config::builder()
        .host("https://x.cloud.databricks.com")
        .token("t")
        .environment([("DATABRICKS_ADAPTIVE_RATE_LIMIT", "false")])
        .build();
    assert!(!off.expect("config").settings().adaptive_rate_limit);
}

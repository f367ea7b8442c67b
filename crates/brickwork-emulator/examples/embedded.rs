//! Embed the emulator in a program or test and inject faults at run time.
//!
//! ```sh
//! cargo run -p brickwork-emulator --example embedded
//! ```

use std::time::Duration;

use brickwork_emulator::{Emulator, Fault, FaultRule, FaultSettings, Phase};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::builder().transition_delay(Duration::from_millis(50)).start().await?;
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", emulator.url());

    let created: Value = http
        .post(api("/api/2.1/clusters/create"))
        .bearer_auth(emulator.token())
        .json(&json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 2}))
        .send()
        .await?
        .json()
        .await?;
    println!("created {}", created["cluster_id"]);

    emulator.set_faults(FaultSettings {
        seed: 1,
        rules: vec![FaultRule {
            path_prefix: "/api/2.1/clusters/".into(),
            method: None,
            probability: 1.0,
            fault: Fault::TooManyRequests { retry_after_secs: 1 },
            phase: Phase::Before,
            times: None,
            query: None,
        }],
        rate_limit_per_principal: None,
    });
    let throttled = http.get(api("/api/2.1/clusters/list")).bearer_auth(emulator.token()).send().await?;
    println!("with faults on: HTTP {} Retry-After {:?}", throttled.status(), throttled.headers().get("retry-after"));
    println!("counters: {}", serde_json::to_string(&emulator.counters())?);
    emulator.shutdown().await;
    Ok(())
}

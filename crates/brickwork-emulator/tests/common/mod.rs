//! Start an emulator with fast timings and a brickwork client for it.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine;
use brickwork::{Client, Config};
use brickwork_emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
use serde_json::{json, Value};

pub fn fast() -> EmulatorBuilder {
    Emulator::builder()
        .transition_delay(Duration::from_millis(40))
        .task_duration(Duration::from_millis(40))
        .service_principal("sp-id", "sp-secret")
        // The volumes the Files API tests write to.
        .volume("main.default.v")
        .volume("main.raw.in")
}

pub async fn start() -> (EmulatorHandle, Client) {
    start_with(fast()).await
}

pub async fn start_with(builder: EmulatorBuilder) -> (EmulatorHandle, Client) {
    let emulator = builder.start().await.expect("emulator starts");
    let client = client(&emulator, emulator.token()).await;
    (emulator, client)
}

pub async fn client(emulator: &EmulatorHandle, token: &str) -> Client {
    let cfg = Config::builder().host(emulator.url()).token(token).without_environment().build().expect("config");
    Client::new(cfg).await.expect("client")
}

/// Poll `check` every 20 ms, at most `tries` times; the last value is returned.
pub async fn poll<F, Fut>(tries: usize, mut check: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    for _ in 0..tries {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached after {tries} polls");
}

pub async fn get(c: &Client, path: &str, query: Value) -> Value {
    c.api().get(path, &query).await.unwrap_or_else(|e| panic!("GET {path}: {e:?}"))
}

pub async fn post(c: &Client, path: &str, body: Value) -> Value {
    c.api().post(path, &body).await.unwrap_or_else(|e| panic!("POST {path}: {e:?}"))
}

/// Wait for `clusters/get` to report `state`.
pub async fn cluster_state(c: &Client, id: &str, state: &str) -> Value {
    poll(200, || async {
        let got = get(c, "/api/2.1/clusters/get", json!({"cluster_id": id})).await;
        (got["state"] == state).then_some(got)
    })
    .await
}

/// Wait for a run to reach a terminal life-cycle state.
pub async fn finished_run(c: &Client, run_id: &Value) -> Value {
    poll(300, || async {
        let run = get(c, "/api/2.2/jobs/runs/get", json!({"run_id": run_id})).await;
        let life = run["state"]["life_cycle_state"].as_str().unwrap_or_default().to_string();
        matches!(life.as_str(), "TERMINATED" | "SKIPPED" | "INTERNAL_ERROR").then_some(run)
    })
    .await
}

pub fn cluster_spec() -> Value {
    json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1})
}

pub async fn upload(c: &Client, path: &str, source: &str) {
    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("/");
    post(c, "/api/2.0/workspace/mkdirs", json!({"path": parent})).await;
    let content = base64::engine::general_purpose::STANDARD.encode(source);
    post(
        c,
        "/api/2.0/workspace/import",
        json!({"path": path, "content": content, "format": "SOURCE", "language": "PYTHON", "overwrite": true}),
    )
    .await;
}

/// Every item of a paged listing: `GET path` with `query`, following
/// `next_page_token`, each item of the array under `key` taken by `field`.
pub async fn all_pages(c: &Client, path: &str, query: Value, key: &str, field: &str) -> Vec<Value> {
    let (mut seen, mut token) = (Vec::new(), None::<String>);
    loop {
        let mut query = query.clone();
        if let Some(t) = &token {
            query["page_token"] = json!(t);
        }
        let page = get(c, path, query).await;
        seen.extend(page[key].as_array().into_iter().flatten().map(|item| item[field].clone()));
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return seen,
        }
    }
}

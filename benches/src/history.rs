//! Scenario 7: what a long-lived emulator costs per request. The raw client
//! reads `clusters/get` at concurrency 32 from a fresh emulator, then from
//! one that has run tens of thousands of jobs (finished runs in its
//! history, clusters terminated): an emulator whose cost grows with active
//! work, not history, serves both alike.

use serde_json::json;

use crate::emulator::Emulator;
use crate::measure::{closed_loop, Stats};
use crate::report::{Bar, Metric, RAW};
use crate::throughput::{raw_client, RawClusterGet};
use crate::Plan;

const CONCURRENCY: usize = 32;

pub async fn run(plan: &Plan) -> Result<Vec<Metric>, String> {
    // Runs finish at once: their tasks need no compute and take no time.
    let emulator = Emulator::start(&plan.emulator, &["--task-duration-ms", "0"]).await?;
    let cluster_id = emulator.create_cluster("bench-history").await?;
    let n = plan.count(50_000, 1_000);
    let history = plan.count(30_000, 500);
    let raw = RawClusterGet::new(&emulator, &cluster_id)?;
    let get = move || raw.send();
    closed_loop(plan.count(2_000, 200), CONCURRENCY, get.clone()).await?;
    let mut fresh = Vec::new();
    for _ in 0..plan.reps {
        fresh.push(closed_loop(n, CONCURRENCY, get.clone()).await?.per_second);
    }

    // The history: one-time runs of a condition task, submitted through the API.
    let submit_url = format!("{}/api/2.2/jobs/runs/submit", emulator.url);
    let (client, token) = (raw_client()?, emulator.token.clone());
    let submit = move || {
        let (client, url, token) = (client.clone(), submit_url.clone(), token.clone());
        async move {
            let task = json!({"task_key": "t", "condition_task": {"op": "EQUAL_TO", "left": "1", "right": "1"}});
            let body = json!({"run_name": "history", "tasks": [task]});
            let response = client.post(url).bearer_auth(token).json(&body).send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("runs/submit: {}", response.status()));
            }
            Ok(())
        }
    };
    closed_loop(history, CONCURRENCY, submit).await?;
    for _ in 0..600 {
        let counters = emulator.call(reqwest::Method::GET, "/__admin/counters", None).await?;
        if counters["active_runs"].as_u64() == Some(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let counters = emulator.call(reqwest::Method::GET, "/__admin/counters", None).await?;
    let kept = counters["runs_kept"].as_u64().unwrap_or_default();
    let mut aged = Vec::new();
    for _ in 0..plan.reps {
        aged.push(closed_loop(n, CONCURRENCY, get.clone()).await?.per_second);
    }
    let rss = emulator.rss_mib()?;
    let (fresh, aged) = (Stats::of(&fresh), Stats::of(&aged));
    let mut metrics = vec![
        Metric::new("history", "clusters/get served, fresh emulator".into(), "req/s", true).value(RAW, fresh),
        Metric::new("history", format!("clusters/get served with {kept} finished runs kept"), "req/s", true)
            .value(RAW, aged),
        Metric::new("history", format!("emulator RSS with {kept} finished runs kept"), "MiB", false)
            .value(RAW, Stats::of(&[rss])),
    ];
    if let (Some(fresh), Some(aged)) = (fresh, aged) {
        metrics.push(
            Metric::new("history", "served with the history / served fresh".into(), "x", true)
                .value(RAW, Stats::of(&[aged.median / fresh.median]))
                .bar(Bar::at_least(RAW, 0.9, "x")),
        );
    }
    Ok(metrics)
}

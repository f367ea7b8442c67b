//! Request throughput of `clusters/get` at concurrency 32: brickwork's typed
//! call against a raw reqwest loop (same pool settings, same decode into
//! `ClusterDetails`, no SDK layer) on the embedded emulator, which runs on
//! its own runtime thread. Prints requests/s for each and the ratio.
//!
//! `cargo bench -p brickwork --bench clusters_get [-- REQUESTS]`

use std::time::{Duration, Instant};

use brickwork::service::compute::ClusterDetails;
use brickwork::{Config, WorkspaceClient};
use futures::StreamExt;

const CONCURRENCY: usize = 32;
const ROUNDS: usize = 3;

fn main() {
    let requests: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(20_000);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        rt.block_on(async move {
            let emulator = brickwork_emulator::Emulator::builder()
                .transition_delay(Duration::from_millis(1))
                .start()
                .await
                .expect("emulator");
            tx.send((emulator.url().to_string(), emulator.token().to_string())).expect("send");
            std::future::pending::<()>().await;
        });
    });
    let (url, token) = rx.recv().expect("emulator");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    rt.block_on(async move {
        let cfg = Config::builder().host(&url).token(&token).without_environment().build().expect("cfg");
        let w = WorkspaceClient::new(cfg).await.expect("client");
        let pending =
            w.clusters().create("15.4.x-scala2.12").node_type_id("i3.xlarge").num_workers(0).await.expect("create");
        let id = pending.id().to_string();
        let raw = reqwest::Client::builder().build().expect("reqwest");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            ours.push(brickwork_rate(&w, &id, requests).await);
            theirs.push(raw_rate(&raw, &url, &token, &id, requests).await);
        }
        ours.sort_by(f64::total_cmp);
        theirs.sort_by(f64::total_cmp);
        let (b, r) = (ours[ROUNDS / 2], theirs[ROUNDS / 2]);
        println!("clusters/get x{requests} at concurrency {CONCURRENCY}, median of {ROUNDS}:");
        println!("  brickwork  {b:>9.0} req/s  (runs {ours:.0?})");
        println!("  raw        {r:>9.0} req/s  (runs {theirs:.0?})");
        println!("  ratio      {:.3}", b / r);
    });
}

async fn brickwork_rate(w: &WorkspaceClient, id: &str, n: usize) -> f64 {
    let start = Instant::now();
    let ok = futures::stream::iter(0..n)
        .map(|_| w.clusters().get(id).send())
        .buffer_unordered(CONCURRENCY)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    assert_eq!(ok, n);
    n as f64 / start.elapsed().as_secs_f64()
}

async fn raw_rate(client: &reqwest::Client, url: &str, token: &str, id: &str, n: usize) -> f64 {
    let endpoint = format!("{url}/api/2.1/clusters/get");
    let start = Instant::now();
    let ok = futures::stream::iter(0..n)
        .map(|_| async {
            let body = client
                .get(&endpoint)
                .query(&[("cluster_id", id)])
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .bytes()
                .await
                .ok()?;
            serde_json::from_slice::<ClusterDetails>(&body).ok()
        })
        .buffer_unordered(CONCURRENCY)
        .filter(|r| std::future::ready(r.is_some()))
        .count()
        .await;
    assert_eq!(ok, n);
    n as f64 / start.elapsed().as_secs_f64()
}

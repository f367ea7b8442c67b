//! Scenario 1 and 5: `clusters/get` at concurrency 32 for raw HTTP,
//! brickwork and the Python SDK, with latency; and the emulator's capacity
//! (what it serves the raw client, and its CPU time per request).

use brickwork::{Config, WorkspaceClient};
use reqwest::header::{HeaderValue, AUTHORIZATION};

use crate::emulator::Emulator;
use crate::measure::{closed_loop, cpu_seconds, LoadRun, Stats};
use crate::report::{Bar, Metric, BRICKWORK, PYTHON, RAW};
use crate::Plan;

const CONCURRENCY: usize = 32;

/// The raw-HTTP baseline: a reqwest client with brickwork's pool size and
/// nothing else; it reads each body whole, as brickwork does before decoding.
pub fn raw_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder().pool_max_idle_per_host(32).build().map_err(|e| e.to_string())
}

/// `clusters/get` of one cluster through the raw-HTTP baseline, its body read.
#[derive(Clone)]
pub struct RawClusterGet {
    raw: reqwest::Client,
    url: String,
    auth: HeaderValue,
}

impl RawClusterGet {
    pub fn new(emulator: &Emulator, cluster_id: &str) -> Result<Self, String> {
        let url = format!("{}/api/2.1/clusters/get?cluster_id={cluster_id}", emulator.url);
        let auth = HeaderValue::from_str(&format!("Bearer {}", emulator.token)).map_err(|e| e.to_string())?;
        Ok(RawClusterGet { raw: raw_client()?, url, auth })
    }

    /// One call, as a load loop makes it.
    pub fn send(&self) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
        let (raw, url, auth) = (self.raw.clone(), self.url.clone(), self.auth.clone());
        async move {
            let response = raw.get(url).header(AUTHORIZATION, auth).send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("raw clusters/get: {}", response.status()));
            }
            response.bytes().await.map(drop).map_err(|e| e.to_string())
        }
    }
}

/// brickwork as a user would build it for this emulator (adaptive limiter on).
pub async fn brickwork_client(url: &str, token: &str) -> Result<WorkspaceClient, String> {
    let cfg = Config::builder().host(url).token(token).without_environment().build().map_err(|e| e.to_string())?;
    WorkspaceClient::new(cfg).await.map_err(|e| e.to_string())
}

pub async fn run(plan: &Plan) -> Result<Vec<Metric>, String> {
    let emulator = Emulator::start(&plan.emulator, &[]).await?;
    let cluster_id = emulator.create_cluster("bench-get").await?;
    let n = plan.count(100_000, 2_000);
    let n_python = plan.count(10_000, 200);

    let raw = RawClusterGet::new(&emulator, &cluster_id)?;
    let raw_get = move || raw.send();
    let w = brickwork_client(&emulator.url, &emulator.token).await?;
    let id = cluster_id.clone();
    let brickwork_get = move || {
        let (w, id) = (w.clone(), id.clone());
        async move { w.clusters().get(&id).await.map(drop).map_err(|e| e.to_string()) }
    };

    // Warm both pools and the emulator before anything is counted.
    closed_loop(plan.count(2_000, 200), CONCURRENCY, raw_get.clone()).await?;
    closed_loop(plan.count(2_000, 200), CONCURRENCY, brickwork_get.clone()).await?;

    let (mut raw_runs, mut brickwork_runs, mut python_runs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut server_cpu_us, mut raw_cpu_us, mut brickwork_cpu_us) = (Vec::new(), Vec::new(), Vec::new());
    let harness = std::process::id();
    for _ in 0..plan.reps {
        let (server_before, client_before) = (emulator.cpu_seconds()?, cpu_seconds(harness)?);
        raw_runs.push(closed_loop(n, CONCURRENCY, raw_get.clone()).await?);
        server_cpu_us.push((emulator.cpu_seconds()? - server_before) * 1e6 / n as f64);
        let client_between = cpu_seconds(harness)?;
        raw_cpu_us.push((client_between - client_before) * 1e6 / n as f64);
        let client_before = client_between;
        brickwork_runs.push(closed_loop(n, CONCURRENCY, brickwork_get.clone()).await?);
        brickwork_cpu_us.push((cpu_seconds(harness)? - client_before) * 1e6 / n as f64);
        if let Some(run) = python_gets(plan, &emulator, &cluster_id, n_python).await? {
            python_runs.push(run);
        }
    }

    let per_second = |runs: &[LoadRun]| Stats::of(&runs.iter().map(|r| r.per_second).collect::<Vec<_>>());
    let p50 = |runs: &[LoadRun]| Stats::of(&runs.iter().map(|r| r.p50_ms).collect::<Vec<_>>());
    let p99 = |runs: &[LoadRun]| Stats::of(&runs.iter().map(|r| r.p99_ms).collect::<Vec<_>>());
    let title = format!("clusters/get, concurrency {CONCURRENCY} ({n} calls; Python {n_python})");
    let throughput = Metric::new("throughput", format!("{title}: throughput"), "req/s", true)
        .value(RAW, per_second(&raw_runs))
        .value(BRICKWORK, per_second(&brickwork_runs))
        .value(PYTHON, per_second(&python_runs))
        .ratio(BRICKWORK, RAW)
        .ratio(BRICKWORK, PYTHON)
        .bar(Bar::ratio_at_least(BRICKWORK, RAW, 0.95));
    let latency = |name: &str, of: &dyn Fn(&[LoadRun]) -> Option<Stats>| {
        Metric::new("throughput", format!("{title}: {name} latency"), "ms", false)
            .value(RAW, of(&raw_runs))
            .value(BRICKWORK, of(&brickwork_runs))
            .value(PYTHON, of(&python_runs))
            .ratio(BRICKWORK, RAW)
    };
    let capacity = Metric::new("emulator capacity", "clusters/get served to the raw client".into(), "req/s", true)
        .value(RAW, per_second(&raw_runs));
    let server_cost = Metric::new("emulator capacity", "emulator CPU per clusters/get".into(), "µs", false)
        .value(RAW, Stats::of(&server_cpu_us));
    // The client's own cost decides the ratio: client and emulator share the machine's two cores.
    let client_cost = Metric::new("throughput", format!("{title}: client CPU per call"), "µs", false)
        .value(RAW, Stats::of(&raw_cpu_us))
        .value(BRICKWORK, Stats::of(&brickwork_cpu_us))
        .ratio(BRICKWORK, RAW);
    Ok(vec![throughput, latency("p50", &p50), latency("p99", &p99), client_cost, capacity, server_cost])
}

/// The raw client's part of [`run`] alone: what the emulator serves and
/// what each request costs it, quick enough to alternate two emulator
/// builds many times on a noisy machine.
pub async fn capacity(plan: &Plan) -> Result<Vec<Metric>, String> {
    let emulator = Emulator::start(&plan.emulator, &[]).await?;
    let cluster_id = emulator.create_cluster("bench-get").await?;
    let n = plan.count(100_000, 2_000);
    let raw = RawClusterGet::new(&emulator, &cluster_id)?;
    let raw_get = move || raw.send();
    closed_loop(plan.count(2_000, 200), CONCURRENCY, raw_get.clone()).await?;
    let (mut runs, mut server_cpu_us) = (Vec::new(), Vec::new());
    for _ in 0..plan.reps {
        let server_before = emulator.cpu_seconds()?;
        runs.push(closed_loop(n, CONCURRENCY, raw_get.clone()).await?.per_second);
        server_cpu_us.push((emulator.cpu_seconds()? - server_before) * 1e6 / n as f64);
    }
    let served = Metric::new("emulator capacity", "clusters/get served to the raw client".into(), "req/s", true)
        .value(RAW, Stats::of(&runs));
    let cost = Metric::new("emulator capacity", "emulator CPU per clusters/get".into(), "µs", false)
        .value(RAW, Stats::of(&server_cpu_us));
    Ok(vec![served, cost])
}

/// The Python SDK's `w.clusters.get` from a thread pool of the same width.
async fn python_gets(plan: &Plan, emulator: &Emulator, cluster_id: &str, n: usize) -> Result<Option<LoadRun>, String> {
    let args =
        ["get", "--cluster-id", cluster_id, "--count", &n.to_string(), "--concurrency", &CONCURRENCY.to_string()];
    let Some((answer, _)) = crate::emulator::python(plan, emulator, &args).await? else {
        return Ok(None);
    };
    let number = |key: &str| answer[key].as_f64().ok_or_else(|| format!("contender.py get: no {key} in {answer}"));
    Ok(Some(LoadRun { per_second: number("per_second")?, p50_ms: number("p50_ms")?, p99_ms: number("p99_ms")? }))
}

//! Scenario 3: delete 2,000 jobs with the bulk helper against a server that
//! admits 200 requests/s per token (429 + Retry-After beyond). The figures
//! are the time against the least the limit allows, and the share of
//! requests answered 429.

use std::time::{Duration, Instant};

use brickwork::patterns::delete_jobs_where;
use brickwork::{Config, WorkspaceClient};

use crate::emulator::{python, Emulator};
use crate::measure::Stats;
use crate::report::{Bar, Metric, BRICKWORK, FIXED, PYTHON};
use crate::Plan;

const PREFIX: &str = "bulk-";
const CONCURRENCY: usize = 32;

/// One bulk delete, as the server counted it.
struct Outcome {
    /// Elapsed time over the least time the limit allows for the requests admitted.
    over_minimum: f64,
    /// Percent of requests answered 429.
    throttled_percent: f64,
}

pub async fn run(plan: &Plan) -> Result<Vec<Metric>, String> {
    let limit = plan.count(200, 100);
    let jobs = plan.count(2_000, 300);
    let emulator = Emulator::start(&plan.emulator, &["--rate-limit-per-principal", &limit.to_string()]).await?;
    let contenders: [&'static str; 3] = [BRICKWORK, FIXED, PYTHON];
    let mut outcomes: Vec<Vec<Outcome>> = contenders.iter().map(|_| Vec::new()).collect();
    for _ in 0..plan.reps {
        for (contender, found) in contenders.iter().zip(outcomes.iter_mut()) {
            if *contender == PYTHON && plan.python.is_none() {
                continue;
            }
            emulator.seed_jobs(jobs, PREFIX).await?;
            // The limit is a bucket of one second: let it fill, as for a client that starts afresh.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            let (requests_before, throttled_before) = emulator.counters().await?;
            let started = Instant::now();
            delete(plan, &emulator, contender, jobs).await?;
            let elapsed = started.elapsed().as_secs_f64();
            let (requests_after, throttled_after) = emulator.counters().await?;
            // The second counters call counts itself.
            let requests = requests_after.saturating_sub(requests_before + 1);
            let throttled = throttled_after.saturating_sub(throttled_before);
            let admitted = requests.saturating_sub(throttled) as f64;
            let minimum = ((admitted - limit as f64) / limit as f64).max(f64::EPSILON);
            found.push(Outcome {
                over_minimum: elapsed / minimum,
                throttled_percent: 100.0 * throttled as f64 / requests.max(1) as f64,
            });
        }
    }
    let title = format!("delete {jobs} jobs at {limit} requests/s, concurrency {CONCURRENCY}");
    let mut time = Metric::new("rate-limited bulk", format!("{title}: time / theoretical minimum"), "x", false);
    let mut share = Metric::new("rate-limited bulk", format!("{title}: requests answered 429"), "%", false);
    for (contender, found) in contenders.iter().zip(&outcomes) {
        time = time.value(contender, Stats::of(&found.iter().map(|o| o.over_minimum).collect::<Vec<_>>()));
        share = share.value(contender, Stats::of(&found.iter().map(|o| o.throttled_percent).collect::<Vec<_>>()));
    }
    Ok(vec![time.bar(Bar::at_most(BRICKWORK, 1.1, "x")), share.bar(Bar::below(BRICKWORK, 2.0, "%"))])
}

/// Delete every `bulk-` job as `contender` would.
async fn delete(plan: &Plan, emulator: &Emulator, contender: &str, jobs: usize) -> Result<(), String> {
    if contender == PYTHON {
        let args = ["delete-jobs", "--prefix", PREFIX, "--concurrency", &CONCURRENCY.to_string()];
        let (answer, _) = python(plan, emulator, &args).await?.ok_or("no Python")?;
        return match answer["deleted"].as_u64() {
            Some(n) if n == jobs as u64 => Ok(()),
            other => Err(format!("the Python SDK deleted {other:?} jobs, expected {jobs}")),
        };
    }
    // A fresh client each time: the limiter learns the server's rate from nothing.
    let cfg = Config::builder()
        .host(&emulator.url)
        .token(&emulator.token)
        .without_environment()
        .adaptive_rate_limit(contender == BRICKWORK)
        .build()
        .map_err(|e| e.to_string())?;
    let w = WorkspaceClient::new(cfg).await.map_err(|e| e.to_string())?;
    let report =
        delete_jobs_where(&w, CONCURRENCY, |name| name.starts_with(PREFIX)).await.map_err(|e| e.to_string())?;
    if !report.is_complete() || report.succeeded.len() != jobs {
        return Err(format!(
            "{contender} deleted {} of {jobs} jobs ({} failed)",
            report.succeeded.len(),
            report.failed.len()
        ));
    }
    Ok(())
}

//! Scenario 2: list every job of a large workspace, 100 per page. Each
//! lister runs as a process of its own so its peak memory is its own: the
//! brickwork paginator, raw HTTP reading the same pages, and the Python SDK.

use std::time::Instant;

use serde_json::{json, Value};

use crate::emulator::{python, Emulator};
use crate::measure::{run_process, Stats};
use crate::report::{Bar, Metric, BRICKWORK, PYTHON, RAW};
use crate::throughput::{brickwork_client, raw_client};
use crate::Plan;

/// Figures of one listing, from the child and from the kernel.
#[derive(Default)]
struct Listing {
    seconds: Vec<f64>,
    rss_mib: Vec<f64>,
}

impl Listing {
    fn add(&mut self, seconds: f64, rss_mib: f64) {
        self.seconds.push(seconds);
        self.rss_mib.push(rss_mib);
    }
}

pub async fn run(plan: &Plan) -> Result<Vec<Metric>, String> {
    let (small, large) = (plan.count(10_000, 1_000), plan.count(100_000, 2_000));
    let mut metrics = Vec::new();
    let mut rss_by_size = Vec::new();
    let mut per_job_by_size = Vec::new();
    for size in [small, large] {
        // A fresh emulator holds exactly `size` jobs.
        let emulator = Emulator::start(&plan.emulator, &[]).await?;
        emulator.seed_jobs(size, "bench-").await?;
        let (mut raw, mut brickwork, mut py) = (Listing::default(), Listing::default(), Listing::default());
        // What the emulator holds for `size` jobs (its own process, after seeding).
        let emulator_rss = emulator.rss_mib()?;
        for _ in 0..plan.reps {
            for (client, figures) in [("raw", &mut raw), ("brickwork", &mut brickwork)] {
                let (seconds, rss) = list_in_child(&emulator, client, size).await?;
                figures.add(seconds, rss);
            }
            // The Python SDK builds an object per job: the smaller size only, to keep the run short.
            if size == small {
                if let Some((answer, process)) = python(plan, &emulator, &["list-jobs"]).await? {
                    check_count("Python SDK", &answer, size)?;
                    let seconds = answer["seconds"].as_f64().ok_or("contender.py list-jobs: no seconds")?;
                    py.add(seconds, process.max_rss_mib);
                }
            }
        }
        let title = format!("list {size} jobs, 100 per page");
        metrics.push(
            Metric::new("pagination", format!("{title}: time"), "s", false)
                .value(RAW, Stats::of(&raw.seconds))
                .value(BRICKWORK, Stats::of(&brickwork.seconds))
                .value(PYTHON, Stats::of(&py.seconds))
                .ratio(BRICKWORK, RAW)
                .ratio(PYTHON, BRICKWORK)
                .bar(Bar::ratio_at_most(BRICKWORK, RAW, 1.2)),
        );
        metrics.push(
            Metric::new("pagination", format!("{title}: peak RSS of the lister"), "MiB", false)
                .value(RAW, Stats::of(&raw.rss_mib))
                .value(BRICKWORK, Stats::of(&brickwork.rss_mib))
                .value(PYTHON, Stats::of(&py.rss_mib))
                .bar(Bar::at_most(BRICKWORK, 30.0, "MiB")),
        );
        rss_by_size.push(Stats::of(&brickwork.rss_mib));
        metrics.push(
            Metric::new("pagination", format!("emulator RSS holding {size} jobs"), "MiB", false)
                .value(BRICKWORK, Stats::of(&[emulator_rss])),
        );
        per_job_by_size.push(Stats::of(&brickwork.seconds).map(|s| s.median / size as f64));
    }
    // The emulator's cost grows with the page, not the history: listing
    // ten times the jobs takes about ten times as long, not a hundred.
    if let [Some(at_small), Some(at_large)] = per_job_by_size[..] {
        metrics.push(
            Metric::new("pagination", format!("time per job listed at {large} jobs / at {small} jobs"), "x", false)
                .value(BRICKWORK, Stats::of(&[at_large / at_small]))
                .bar(Bar::at_most(BRICKWORK, 1.5, "x")),
        );
    }
    if let [Some(at_small), Some(at_large)] = rss_by_size[..] {
        let growth = at_large.median / at_small.median;
        metrics.push(
            Metric::new("pagination", format!("peak RSS at {large} jobs / at {small} jobs"), "x", false)
                .value(BRICKWORK, Stats::of(&[growth]))
                .bar(Bar::at_most(BRICKWORK, 1.2, "x")),
        );
    }
    Ok(metrics)
}

fn check_count(who: &str, answer: &Value, expected: usize) -> Result<(), String> {
    match answer["jobs"].as_u64() {
        Some(n) if n == expected as u64 => Ok(()),
        other => Err(format!("{who} listed {other:?} jobs, expected {expected}")),
    }
}

/// Run `brickwork-bench list-jobs CLIENT` and return its seconds and peak RSS.
async fn list_in_child(emulator: &Emulator, client: &str, expected: usize) -> Result<(f64, f64), String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut command = std::process::Command::new(me);
    command.args(["list-jobs", client, &emulator.url, &emulator.token]);
    let run = run_process(&command).await?;
    let answer: Value = serde_json::from_str(&run.stdout).map_err(|e| format!("list-jobs {client}: {e}"))?;
    check_count(client, &answer, expected)?;
    let seconds = answer["seconds"].as_f64().ok_or("list-jobs: no seconds")?;
    Ok((seconds, run.max_rss_mib))
}

/// The child: list every job with `brickwork` or `raw`, print the count and
/// the seconds it took (the process's start is not counted).
pub async fn child(args: &[String]) -> Result<(), String> {
    let [client, url, token] = args else {
        return Err("usage: brickwork-bench list-jobs brickwork|raw URL TOKEN".into());
    };
    let started = Instant::now();
    let jobs = match client.as_str() {
        "brickwork" => {
            let w = brickwork_client(url, token).await?;
            let mut listing = w.jobs().list().limit(100);
            let mut count = 0u64;
            while listing.try_next().await.map_err(|e| e.to_string())?.is_some() {
                count += 1;
            }
            count
        }
        "raw" => raw_listing(url, token).await?,
        other => return Err(format!("unknown lister {other}")),
    };
    println!("{}", json!({"jobs": jobs, "seconds": started.elapsed().as_secs_f64()}));
    Ok(())
}

/// Page through `jobs/list` by hand, decoding each page to read its token.
async fn raw_listing(url: &str, token: &str) -> Result<u64, String> {
    let http = raw_client()?;
    let mut page_token: Option<String> = None;
    let mut count = 0u64;
    loop {
        let mut request = http.get(format!("{url}/api/2.2/jobs/list")).bearer_auth(token).query(&[("limit", "100")]);
        if let Some(t) = &page_token {
            request = request.query(&[("page_token", t)]);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("raw jobs/list: {}", response.status()));
        }
        let page: Value = serde_json::from_slice(&response.bytes().await.map_err(|e| e.to_string())?)
            .map_err(|e| format!("raw jobs/list: {e}"))?;
        count += page["jobs"].as_array().map_or(0, |jobs| jobs.len() as u64);
        match page["next_page_token"].as_str() {
            Some(next) if !next.is_empty() => page_token = Some(next.to_string()),
            _ => return Ok(count),
        }
    }
}

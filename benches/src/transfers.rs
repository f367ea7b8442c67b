//! Scenario 6: large files up to a volume and back. Each transfer runs in a
//! process of its own, so its peak memory is its own: brickwork's
//! `upload_from` (parallel parts) and `download_to` (one resumable stream),
//! and the official Python SDK's `upload_from` and `download_to` with their
//! defaults. Every download is checked against its source by SHA-256.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

use crate::emulator::{python, Emulator};
use crate::measure::{run_process, Stats};
use crate::report::{Bar, Metric, BRICKWORK, PYTHON};
use crate::throughput::brickwork_client;
use crate::Plan;

const MIB: u64 = 1024 * 1024;

/// Seconds up and down and peak RSS, one entry per repetition.
#[derive(Default)]
struct Transfers {
    up_mb_s: Vec<f64>,
    down_mb_s: Vec<f64>,
    rss_mib: Vec<f64>,
}

impl Transfers {
    fn add(&mut self, bytes: u64, answer: &Value, rss_mib: f64) -> Result<(), String> {
        let seconds = |key: &str| answer[key].as_f64().filter(|s| *s > 0.0).ok_or(format!("transfer: no {key}"));
        let megabytes = bytes as f64 / 1e6;
        self.up_mb_s.push(megabytes / seconds("upload_seconds")?);
        self.down_mb_s.push(megabytes / seconds("download_seconds")?);
        self.rss_mib.push(rss_mib);
        Ok(())
    }
}

pub async fn run(plan: &Plan) -> Result<Vec<Metric>, String> {
    let dir = std::env::temp_dir().join(format!("brickwork-bench-transfers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = measure_sizes(plan, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure_sizes(plan: &Plan, dir: &Path) -> Result<Vec<Metric>, String> {
    let (small, large) = (plan.count(256, 16) as u64 * MIB, plan.count(1024, 64) as u64 * MIB);
    let mut metrics = Vec::new();
    for size in [small, large] {
        let source = dir.join(format!("source-{size}.bin"));
        write_content(&source, size)?;
        let expected = sha256_of(&source)?;
        // A fresh emulator per size: it holds every file it is sent.
        let emulator = Emulator::start(&plan.emulator, &["--volume", "main.default.bench"]).await?;
        let (mut brickwork, mut py) = (Transfers::default(), Transfers::default());
        let reps = if size == large { plan.reps.min(3) } else { plan.reps };
        for rep in 0..reps.max(1) {
            let out = dir.join("brickwork-out.bin");
            let remote = format!("/Volumes/main/default/bench/brickwork-{size}-{rep}.bin");
            let (answer, rss) = transfer_in_child(&emulator, &source, &remote, &out).await?;
            check(&out, &expected, "brickwork")?;
            brickwork.add(size, &answer, rss)?;
            // The Python SDK at the smaller size, as the comparison asks.
            if size == small {
                let out = dir.join("python-out.bin");
                let remote = format!("/Volumes/main/default/bench/python-{size}-{rep}.bin");
                let args = ["transfer", "--local", path_str(&source)?, "--remote", &remote, "--out", path_str(&out)?];
                if let Some((answer, process)) = python(plan, &emulator, &args).await? {
                    check(&out, &expected, "Python SDK")?;
                    py.add(size, &answer, process.max_rss_mib)?;
                }
            }
        }
        let _ = std::fs::remove_file(&source);
        let title = format!("{} MiB", size / MIB);
        let directions =
            [("upload", &brickwork.up_mb_s, &py.up_mb_s), ("download", &brickwork.down_mb_s, &py.down_mb_s)];
        for (direction, ours, theirs) in directions {
            metrics.push(
                Metric::new("transfers", format!("{title} {direction}: throughput"), "MB/s", true)
                    .value(BRICKWORK, Stats::of(ours))
                    .value(PYTHON, Stats::of(theirs))
                    .ratio(BRICKWORK, PYTHON),
            );
        }
        let mut rss = Metric::new("transfers", format!("{title} up and down: peak RSS of the process"), "MiB", false)
            .value(BRICKWORK, Stats::of(&brickwork.rss_mib))
            .value(PYTHON, Stats::of(&py.rss_mib));
        if size == large {
            rss = rss.bar(Bar::below(BRICKWORK, 64.0, "MiB"));
        }
        metrics.push(rss);
    }
    Ok(metrics)
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or(format!("{} is not UTF-8", path.display()))
}

fn check(out: &Path, expected: &[u8], who: &str) -> Result<(), String> {
    let got = sha256_of(out)?;
    let _ = std::fs::remove_file(out);
    if got != expected {
        return Err(format!("{who}: the downloaded file differs from the uploaded one"));
    }
    Ok(())
}

/// `size` bytes that differ everywhere (xorshift), written 1 MiB at a time.
fn write_content(path: &Path, size: u64) -> Result<(), String> {
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(MIB) as usize;
        file.write_all(&block[..n]).map_err(|e| format!("{}: {e}", path.display()))?;
        left -= n as u64;
    }
    file.flush().map_err(|e| format!("{}: {e}", path.display()))
}

fn sha256_of(path: &Path) -> Result<Vec<u8>, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut block = vec![0u8; MIB as usize];
    loop {
        let n = file.read(&mut block).map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            return Ok(digest.finish().as_ref().to_vec());
        }
        digest.update(&block[..n]);
    }
}

/// Run `brickwork-bench transfer URL TOKEN LOCAL REMOTE OUT`: its answer and peak RSS.
async fn transfer_in_child(
    emulator: &Emulator,
    source: &Path,
    remote: &str,
    out: &Path,
) -> Result<(Value, f64), String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut command = std::process::Command::new(me);
    command.args(["transfer", &emulator.url, &emulator.token, path_str(source)?, remote, path_str(out)?]);
    let run = run_process(&command).await?;
    let answer = serde_json::from_str(&run.stdout).map_err(|e| format!("transfer: {e}"))?;
    Ok((answer, run.max_rss_mib))
}

/// The child: upload `LOCAL` to `REMOTE`, download it to `OUT`, print the seconds of each.
pub async fn child(args: &[String]) -> Result<(), String> {
    let [url, token, local, remote, out] = args else {
        return Err("usage: brickwork-bench transfer URL TOKEN LOCAL REMOTE OUT".into());
    };
    let w = brickwork_client(url, token).await?;
    let started = Instant::now();
    w.files().upload_from(remote.as_str(), PathBuf::from(local)).await.map_err(|e| format!("upload: {e}"))?;
    let uploaded = started.elapsed().as_secs_f64();
    let started = Instant::now();
    w.files().download_to(remote.as_str(), PathBuf::from(out)).await.map_err(|e| format!("download: {e}"))?;
    let downloaded = started.elapsed().as_secs_f64();
    println!("{}", json!({"upload_seconds": uploaded, "download_seconds": downloaded}));
    Ok(())
}

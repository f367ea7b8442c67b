//! Statistics over repetitions, and whole-process runs measured by the
//! kernel (wall time and peak resident memory from `wait4`).

use std::future::Future;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Median, min and max of one contender's repetitions.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Stats {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Stats {
            median: percentile(&sorted, 0.5)?,
            min: *sorted.first()?,
            max: *sorted.last()?,
            runs: sorted.len(),
        })
    }
}

/// The `p` quantile (0..=1) of sorted samples, by nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (p * last as f64).round() as usize;
    sorted.get(rank.min(last)).copied()
}

/// Throughput and latency of one closed-loop run.
#[derive(Debug, Clone, Copy)]
pub struct LoadRun {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// `n` calls of `call`, `concurrency` in flight at any time, each worker a
/// task of its own so the runtime's threads share them.
pub async fn closed_loop<F, Fut>(n: usize, concurrency: usize, call: F) -> Result<LoadRun, String>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (call, next) = (call.clone(), Arc::clone(&next));
        workers.spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let sent = Instant::now();
                call().await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
            }
            Ok::<_, String>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(n);
    while let Some(worker) = workers.join_next().await {
        latencies.extend(worker.map_err(|e| format!("a worker failed: {e}"))??);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(LoadRun {
        per_second: n as f64 / seconds.max(f64::EPSILON),
        p50_ms: percentile(&latencies, 0.5).unwrap_or_default(),
        p99_ms: percentile(&latencies, 0.99).unwrap_or_default(),
    })
}

/// A child process run to its end.
#[derive(Debug)]
pub struct ProcessRun {
    pub wall: Duration,
    /// Peak resident set of the process, as the kernel counted it.
    pub max_rss_mib: f64,
    pub stdout: String,
}

/// Run `command` to its end (stdout captured, stderr inherited); an exit
/// other than 0 is an error.
///
/// The process is started by a launcher, this program's `measure` mode,
/// rather than by the harness itself: a child spawned straight from a
/// process of 20 MiB inherits that process's pages until it executes, and
/// the kernel counts them in the child's peak RSS. The launcher does nothing
/// but spawn and wait, so its few MiB are the floor of every figure (see
/// [`floor`]).
pub async fn run_process(command: &Command) -> Result<ProcessRun, String> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let what = format!("{:?}", command.get_program());
    let me = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let report = std::env::temp_dir().join(format!("brickwork-bench-{}-{n}.json", std::process::id()));
    let mut launcher = Command::new(me);
    launcher.arg("measure").arg(&report).arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => launcher.env(key, value),
            None => launcher.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        launcher.current_dir(dir);
    }
    launcher.stdin(Stdio::null()).stderr(Stdio::inherit());
    let output =
        tokio::process::Command::from(launcher).output().await.map_err(|e| format!("cannot start {what}: {e}"))?;
    let measured = std::fs::read_to_string(&report).map_err(|e| format!("no measurement of {what}: {e}"));
    let _ = std::fs::remove_file(&report);
    let measured: Measured = serde_json::from_str(&measured?).map_err(|e| format!("measurement of {what}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if measured.wait_status != 0 {
        return Err(format!("{what} failed (wait status {}): {}", measured.wait_status, stdout.trim()));
    }
    Ok(ProcessRun {
        wall: Duration::from_secs_f64(measured.seconds),
        max_rss_mib: measured.max_rss_kib as f64 / 1024.0,
        stdout,
    })
}

/// What the launcher writes for the harness.
#[derive(Serialize, serde::Deserialize)]
struct Measured {
    wait_status: i32,
    max_rss_kib: i64,
    seconds: f64,
}

/// The launcher: `measure REPORT PROGRAM ARGS...` runs PROGRAM with this
/// process's stdin, stdout and stderr, and writes its wait status, peak RSS
/// and wall time to REPORT. Runs before any runtime is built, to stay small.
pub fn launch(args: &[String]) -> Result<(), String> {
    let [report, program, rest @ ..] = args else {
        return Err("usage: brickwork-bench measure REPORT PROGRAM [ARGS...]".into());
    };
    let started = Instant::now();
    let child = Command::new(program).args(rest).spawn().map_err(|e| format!("cannot start {program}: {e}"))?;
    let (wait_status, max_rss_kib) = wait_with_usage(child.id())?;
    let measured = Measured { wait_status, max_rss_kib, seconds: started.elapsed().as_secs_f64() };
    let text = serde_json::to_string(&measured).map_err(|e| e.to_string())?;
    std::fs::write(report, text).map_err(|e| format!("{report}: {e}"))
}

/// Peak RSS (MiB) of a process that does nothing (`true`), started as every
/// measured process is: the least any figure can be.
pub async fn floor() -> Result<f64, String> {
    run_process(&Command::new("true")).await.map(|run| run.max_rss_mib)
}

/// Reap child `pid`: its wait status and peak RSS in KiB. std's `Child`
/// does not report resource usage, so this asks the kernel directly; the
/// `Child` handle is not waited on afterwards.
fn wait_with_usage(pid: u32) -> Result<(i32, i64), String> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| format!("process id {pid} out of range"))?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, valid when zeroed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is this process's own child, not yet reaped; both
    // pointers are to live locals that wait4 fills in.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped != pid {
        return Err(format!("wait4({pid}) failed: {}", std::io::Error::last_os_error()));
    }
    Ok((status, usage.ru_maxrss))
}

/// CPU seconds process `pid` has used (user + system), from `/proc`.
/// The resident memory of a live process, in MiB (`VmRSS`).
pub fn rss_mib(pid: u32) -> Result<f64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or("no VmRSS in /proc status")?;
    Ok(kib / 1024.0)
}

pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("unexpected /proc stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).ok_or("unexpected /proc stat");
    // utime and stime are fields 14 and 15 of stat; the state (field 3) is the first after the name.
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf only reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(total / per_second.max(1) as f64)
}

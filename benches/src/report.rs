//! The figures of a run: each metric with its contenders' statistics, the
//! ratios between them and the bar, written as `report.json` and a
//! Markdown table (`report.md`).

use std::fmt::Write as _;

use serde::Serialize;

use crate::measure::Stats;
use crate::Plan;

pub const RAW: &str = "raw HTTP";
pub const BRICKWORK: &str = "brickwork";
pub const FIXED: &str = "brickwork, adaptive limit off";
pub const PYTHON: &str = "Python SDK";
/// The report's columns, in order.
const CONTENDERS: [&str; 4] = [BRICKWORK, RAW, FIXED, PYTHON];

/// One contender's figures for a metric.
#[derive(Debug, Serialize)]
pub struct Value {
    pub contender: &'static str,
    #[serde(flatten)]
    pub stats: Stats,
}

/// `numerator / denominator` of the medians.
#[derive(Debug, Serialize)]
pub struct Ratio {
    pub of: String,
    pub value: f64,
}

/// A target from the issue, and whether this run met it.
#[derive(Debug, Serialize)]
pub struct Bar {
    pub target: String,
    #[serde(skip)]
    check: Check,
    /// `None` when a contender it needs was not measured.
    pub met: Option<bool>,
}

#[derive(Debug)]
enum Check {
    RatioAtLeast(&'static str, &'static str, f64),
    RatioAtMost(&'static str, &'static str, f64),
    AtMost(&'static str, f64),
    AtLeast(&'static str, f64),
    Below(&'static str, f64),
}

impl Bar {
    pub fn ratio_at_least(a: &'static str, b: &'static str, at_least: f64) -> Bar {
        Bar { target: format!("{a} / {b} >= {at_least}"), check: Check::RatioAtLeast(a, b, at_least), met: None }
    }
    pub fn ratio_at_most(a: &'static str, b: &'static str, at_most: f64) -> Bar {
        Bar { target: format!("{a} / {b} <= {at_most}"), check: Check::RatioAtMost(a, b, at_most), met: None }
    }
    pub fn at_most(contender: &'static str, at_most: f64, unit: &str) -> Bar {
        Bar { target: format!("{contender} <= {at_most} {unit}"), check: Check::AtMost(contender, at_most), met: None }
    }
    pub fn at_least(contender: &'static str, at_least: f64, unit: &str) -> Bar {
        Bar {
            target: format!("{contender} >= {at_least} {unit}"),
            check: Check::AtLeast(contender, at_least),
            met: None,
        }
    }
    pub fn below(contender: &'static str, below: f64, unit: &str) -> Bar {
        Bar { target: format!("{contender} < {below} {unit}"), check: Check::Below(contender, below), met: None }
    }
}

/// A measured quantity, e.g. "clusters/get throughput" in req/s.
#[derive(Debug, Serialize)]
pub struct Metric {
    pub scenario: &'static str,
    pub metric: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub values: Vec<Value>,
    pub ratios: Vec<Ratio>,
    pub bar: Option<Bar>,
}

impl Metric {
    pub fn new(scenario: &'static str, metric: String, unit: &'static str, higher_is_better: bool) -> Metric {
        Metric { scenario, metric, unit, higher_is_better, values: Vec::new(), ratios: Vec::new(), bar: None }
    }

    /// A contender's figures; `None` (not measured) adds nothing.
    pub fn value(mut self, contender: &'static str, stats: Option<Stats>) -> Metric {
        if let Some(stats) = stats {
            self.values.push(Value { contender, stats });
        }
        self
    }

    /// The ratio of two contenders' medians, when both were measured.
    pub fn ratio(mut self, numerator: &'static str, denominator: &'static str) -> Metric {
        if let (Some(a), Some(b)) = (self.median(numerator), self.median(denominator)) {
            if b != 0.0 {
                self.ratios.push(Ratio { of: format!("{numerator} / {denominator}"), value: a / b });
            }
        }
        self
    }

    /// The bar to reach, judged on the medians.
    pub fn bar(mut self, mut bar: Bar) -> Metric {
        let ratio = |a, b| Some(self.median(a)? / self.median(b)?);
        bar.met = match bar.check {
            Check::RatioAtLeast(a, b, limit) => ratio(a, b).map(|r| r >= limit),
            Check::RatioAtMost(a, b, limit) => ratio(a, b).map(|r| r <= limit),
            Check::AtMost(a, limit) => self.median(a).map(|v| v <= limit),
            Check::AtLeast(a, limit) => self.median(a).map(|v| v >= limit),
            Check::Below(a, limit) => self.median(a).map(|v| v < limit),
        };
        self.bar = Some(bar);
        self
    }

    pub fn median(&self, contender: &str) -> Option<f64> {
        self.values.iter().find(|v| v.contender == contender).map(|v| v.stats.median)
    }

    /// One line for the progress log.
    pub fn summary(&self) -> String {
        let mut line = format!("{} ({}):", self.metric, self.unit);
        for v in &self.values {
            let _ = write!(line, " {} {}", v.contender, number(v.stats.median));
        }
        for r in &self.ratios {
            let _ = write!(line, "; {} = {:.2}x", r.of, r.value);
        }
        if let Some(bar) = &self.bar {
            let _ = write!(line, "; bar {}: {}", bar.target, verdict(bar.met));
        }
        line
    }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "not measured",
    }
}

/// Three significant figures at most, without exponent notation.
fn number(x: f64) -> String {
    let magnitude = if x == 0.0 { 0 } else { x.abs().log10().floor() as i32 };
    let decimals = (2 - magnitude).clamp(0, 3) as usize;
    format!("{x:.decimals$}")
}

/// The machine the figures come from.
#[derive(Debug, Serialize)]
struct Machine {
    cpus: usize,
    cpu_model: String,
    memory_gib: f64,
    kernel: String,
}

fn machine() -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, v)| v.trim()))
        .unwrap_or("unknown")
        .to_string();
    let meminfo = read("/proc/meminfo");
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model,
        memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
    }
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    generated_by: &'static str,
    date: String,
    quick: bool,
    repetitions: usize,
    machine: Machine,
    metrics: &'a [Metric],
}

/// Write `report.json` and `report.md` into the plan's output directory.
pub fn write(plan: &Plan, metrics: &[Metric]) -> Result<(), String> {
    let report = Report {
        generated_by: "cargo xtask bench",
        date: time::OffsetDateTime::now_utc().date().to_string(),
        quick: plan.quick,
        repetitions: plan.reps,
        machine: machine(),
        metrics,
    };
    std::fs::create_dir_all(&plan.out).map_err(|e| format!("{}: {e}", plan.out.display()))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    let json_path = plan.out.join("report.json");
    std::fs::write(&json_path, json + "\n").map_err(|e| format!("{}: {e}", json_path.display()))?;
    let md_path = plan.out.join("report.md");
    std::fs::write(&md_path, markdown(&report)).map_err(|e| format!("{}: {e}", md_path.display()))?;
    eprintln!("bench: wrote {} and {}", json_path.display(), md_path.display());
    Ok(())
}

fn markdown(report: &Report) -> String {
    let m = &report.machine;
    let mut out = format!(
        "# Benchmarks\n\nGenerated by `{}` on {}{}: {} CPUs ({}), {} GiB, Linux {}. Median of {} repetitions \
         (min–max in brackets); the emulator runs as its own process on the same machine.\n\n",
        report.generated_by,
        report.date,
        if report.quick { " (quick run: small counts, figures not comparable)" } else { "" },
        m.cpus,
        m.cpu_model,
        m.memory_gib,
        m.kernel,
        report.repetitions,
    );
    out.push_str("| Scenario | Metric | Unit |");
    for c in CONTENDERS {
        let _ = write!(out, " {c} |");
    }
    out.push_str(" Ratios | Bar |\n|---|---|---|");
    out.push_str(&"---:|".repeat(CONTENDERS.len()));
    out.push_str("---|---|\n");
    for metric in report.metrics {
        let _ = write!(out, "| {} | {} | {} |", metric.scenario, metric.metric, metric.unit);
        for c in CONTENDERS {
            match metric.values.iter().find(|v| v.contender == c) {
                Some(v) if v.stats.runs > 1 => {
                    let s = &v.stats;
                    let _ = write!(out, " {} [{}–{}] |", number(s.median), number(s.min), number(s.max));
                }
                Some(v) => {
                    let _ = write!(out, " {} |", number(v.stats.median));
                }
                None => out.push_str(" – |"),
            }
        }
        let ratios: Vec<String> = metric.ratios.iter().map(|r| format!("{}: {:.2}x", r.of, r.value)).collect();
        let bar = metric.bar.as_ref().map_or(String::new(), |b| format!("{}: {}", b.target, verdict(b.met)));
        let _ = writeln!(out, " {} | {} |", ratios.join("; "), bar);
    }
    out
}

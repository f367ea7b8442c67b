//! The emulator as a separate process (so its CPU is its own and the client's
//! memory is the client's), seeded and read through its admin API.

use std::path::Path;
use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::measure::{run_process, ProcessRun};
use crate::Plan;

/// A running `brickwork-emulator`; killed when dropped.
pub struct Emulator {
    child: Child,
    pub url: String,
    pub token: String,
    admin_token: String,
    http: reqwest::Client,
}

impl Emulator {
    /// Start `binary` on a free port with `flags`, and read its first line.
    pub async fn start(binary: &Path, flags: &[&str]) -> Result<Emulator, String> {
        let mut child = Command::new(binary)
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("the emulator has no stdout")?;
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).await.map_err(|e| format!("reading the emulator: {e}"))?;
        let ready: Value =
            serde_json::from_str(&first).map_err(|e| format!("the emulator's first line {first:?}: {e}"))?;
        let field = |key: &str| ready[key].as_str().map(str::to_string).ok_or(format!("no {key} in {first:?}"));
        let token = field("token")?;
        Ok(Emulator {
            url: field("url")?,
            // An emulator from before the admin API had its own credential
            // (2026-12-05) takes the workspace token there: older builds stay
            // comparable.
            admin_token: field("admin_token").unwrap_or_else(|_| token.clone()),
            token,
            child,
            http: reqwest::Client::new(),
        })
    }

    /// A call as the admin user (or to the admin API), answered with JSON.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let token = if path.starts_with("/__admin/") { &self.admin_token } else { &self.token };
        let mut request = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("{path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{path}: {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
    }

    /// `count` jobs named `{prefix}{i}`, created in one admin call.
    pub async fn seed_jobs(&self, count: usize, prefix: &str) -> Result<(), String> {
        let body = json!({"jobs": count, "name_prefix": prefix});
        self.call(reqwest::Method::POST, "/__admin/seed", Some(body)).await.map(drop)
    }

    /// A cluster to read back (it need not be running for `clusters/get`).
    pub async fn create_cluster(&self, name: &str) -> Result<String, String> {
        let body = json!({"cluster_name": name, "spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge",
            "num_workers": 1, "autotermination_minutes": 60});
        let created = self.call(reqwest::Method::POST, "/api/2.1/clusters/create", Some(body)).await?;
        created["cluster_id"].as_str().map(str::to_string).ok_or_else(|| format!("no cluster_id in {created}"))
    }

    /// Requests served and requests answered 429 so far (the admin API's counters).
    pub async fn counters(&self) -> Result<(u64, u64), String> {
        let c = self.call(reqwest::Method::GET, "/__admin/counters", None).await?;
        let number = |key: &str| c[key].as_u64().ok_or_else(|| format!("no {key} in the counters"));
        Ok((number("requests")?, number("rate_limited")?))
    }

    /// The emulator's resident memory now, in MiB.
    pub fn rss_mib(&self) -> Result<f64, String> {
        crate::measure::rss_mib(self.child.id().ok_or("the emulator has exited")?)
    }

    /// CPU seconds the emulator process has used (user + system).
    pub fn cpu_seconds(&self) -> Result<f64, String> {
        crate::measure::cpu_seconds(self.child.id().ok_or("the emulator has exited")?)
    }
}

/// Run `contender.py ARGS` with the official Python SDK pointed at
/// `emulator`: its JSON answer and the process's measurements, or `None`
/// when no Python was given.
pub async fn python(plan: &Plan, emulator: &Emulator, args: &[&str]) -> Result<Option<(Value, ProcessRun)>, String> {
    let Some(python) = plan.python.clone() else {
        return Ok(None);
    };
    let mut command = std::process::Command::new(python);
    command.arg(&plan.contender).args(args);
    sdk_environment(&mut command, emulator);
    let run = run_process(&command).await?;
    let answer = serde_json::from_str(&run.stdout).map_err(|e| format!("contender.py {}: {e}", args.join(" ")))?;
    Ok(Some((answer, run)))
}

/// Point an official SDK (or the CLI) at `emulator` and nothing else: no
/// profile file, no other `DATABRICKS_*` variable.
pub fn sdk_environment(command: &mut std::process::Command, emulator: &Emulator) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DATABRICKS_") {
            command.env_remove(key);
        }
    }
    command
        .env("DATABRICKS_HOST", &emulator.url)
        .env("DATABRICKS_TOKEN", &emulator.token)
        .env("DATABRICKS_CONFIG_FILE", "/nonexistent/databrickscfg");
}

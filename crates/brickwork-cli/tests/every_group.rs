//! One command of every command group of the compiled API packages, run as
//! the built binary against a local server that records what it is sent:
//! each must reach its operation's method and path. The commands come from
//! `representative.tsv`, which `cargo xtask codegen` writes beside the
//! command table. The server answers `{}` to everything, so a command whose
//! answer has required fields may then fail to decode it (exit 1); what this
//! test holds every group to is the request, and no usage or configuration
//! error on the way.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::Router;

const ACCOUNT_ID: &str = "00000000-0000-4000-8000-000000000001";

/// Whether the binary under test was built with API package `pkg`.
fn compiled(pkg: &str) -> bool {
    let features: &[(&str, bool)] = &[
        ("catalog", cfg!(feature = "catalog")),
        ("compute", cfg!(feature = "compute")),
        ("files", cfg!(feature = "files")),
        ("iam", cfg!(feature = "iam")),
        ("jobs", cfg!(feature = "jobs")),
        ("sql", cfg!(feature = "sql")),
        ("workspace", cfg!(feature = "workspace")),
    ];
    features.iter().any(|(name, on)| *name == pkg && *on)
}

type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A server that answers `{}` to any request and records its method and path.
async fn recorder() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().fallback(move |request: Request| {
        let log = log.clone();
        async move {
            if let Ok(mut log) = log.lock() {
                log.push((request.method().to_string(), request.uri().path().to_string()));
            }
            axum::Json(serde_json::json!({}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn a_command_of_every_group_reaches_its_operation() {
    let (url, seen) = recorder().await;
    let home = tempfile::tempdir().expect("home");
    let table = include_str!("representative.tsv");
    let mut checked = 0;
    for row in table.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = row.split('\t').collect();
        let [words, command, args, method, pkg, _level, path, waits] = cols[..] else {
            panic!("a row of 8 columns: {row:?}")
        };
        if !compiled(pkg) {
            continue;
        }
        let mut argv: Vec<&str> = words.split(' ').collect();
        argv.push(command);
        argv.extend(args.split(' ').filter(|a| !a.is_empty()));
        if waits == "waits" {
            argv.push("--no-wait");
        }
        argv.extend(["-o", "json"]);
        let before = seen.lock().map(|s| s.len()).unwrap_or_default();
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_brickwork"))
            .args(&argv)
            .env_clear()
            .env("HOME", home.path())
            .env("DATABRICKS_HOST", &url)
            .env("DATABRICKS_TOKEN", "dapi-recorder")
            .env("DATABRICKS_ACCOUNT_ID", ACCOUNT_ID)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), run).await.expect("finishes").expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{argv:?}: {:?} {stderr}", out.status.code());
        let want = (method.to_string(), path.replace("{account_id}", ACCOUNT_ID));
        let sent: Vec<(String, String)> = seen.lock().map(|s| s[before..].to_vec()).unwrap_or_default();
        assert!(sent.contains(&want), "{argv:?} sent {sent:?}, not {want:?}: {stderr}");
        checked += 1;
    }
    // Every group of the default packages has a command in the table.
    if cfg!(feature = "compute") && cfg!(feature = "catalog") && cfg!(feature = "iam") {
        assert!(checked >= 80, "only {checked} groups checked");
    }
}

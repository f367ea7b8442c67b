//! The generated commands, run as the built binary against the emulator: a
//! command of each default service group, `--json` (inline and `@file`),
//! waiting and `--no-wait`, streamed listings with `--limit`, JSON output,
//! errors and exit codes, the raw `api` command, completion and the demo.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use brickwork_emulator::{Emulator, EmulatorHandle, Fault, FaultRule, FaultSettings, Phase};
use serde_json::{json, Value};

const TOKEN: &str = "dapi-cli-tests";

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .token(TOKEN)
        .transition_delay(Duration::from_millis(150))
        .task_duration(Duration::from_millis(50))
        .volume("main.default.v")
        .start()
        .await
        .expect("emulator")
}

/// The environment of a run: only this workspace, no config file.
fn vars<'a>(emulator: &'a EmulatorHandle, home: &'a Path) -> Vec<(&'static str, String)> {
    vec![
        ("HOME", home.display().to_string()),
        ("DATABRICKS_CONFIG_FILE", home.join("none.cfg").display().to_string()),
        ("DATABRICKS_HOST", emulator.url().to_string()),
        ("DATABRICKS_TOKEN", TOKEN.to_string()),
    ]
}

struct Run {
    out: Output,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Standard output as JSON, after checking the command succeeded.
    fn json(&self) -> Value {
        assert_eq!(self.code(), Some(0), "stdout: {} stderr: {}", self.stdout(), self.stderr());
        serde_json::from_slice(&self.out.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout()))
    }

    /// The JSON error object of `--output json` on stderr.
    fn error(&self) -> Value {
        serde_json::from_str(self.stderr().trim()).unwrap_or_else(|e| panic!("{e}: {}", self.stderr()))
    }
}

async fn brickwork_with(args: &[&str], vars: &[(&str, String)], stdin: Option<&[u8]>) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_brickwork"));
    command.args(args).env_clear().envs(vars.iter().map(|(k, v)| (*k, v.as_str()))).kill_on_drop(true);
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("brickwork runs");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.unwrap_or_default()).await.expect("stdin");
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("brickwork finishes")
        .expect("output");
    Run { out }
}

async fn brickwork(args: &[&str], vars: &[(&str, String)]) -> Run {
    brickwork_with(args, vars, None).await
}

#[tokio::test]
async fn clusters_create_waits_get_and_list_show_it_and_delete_waits_for_terminated() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let created = brickwork(
        &[
            "clusters",
            "create",
            "15.4.x-scala2.12",
            "--cluster-name",
            "etl",
            "--node-type-id",
            "i3.xlarge",
            "--num-workers",
            "1",
            "-o",
            "json",
        ],
        &env,
    )
    .await
    .json();
    assert_eq!(created["state"], "RUNNING", "create waited: {created}");
    assert_eq!(created["num_workers"], 1);
    let id = created["cluster_id"].as_str().expect("id").to_string();

    let got = brickwork(&["clusters", "get", &id, "--output", "json"], &env).await.json();
    assert_eq!(got["cluster_name"], "etl");
    let listed = brickwork(&["clusters", "list", "-o", "json"], &env).await.json();
    assert!(listed.as_array().is_some_and(|all| all.iter().any(|c| c["cluster_id"] == id.as_str())), "{listed}");

    let table = brickwork(&["clusters", "list"], &env).await;
    let text = table.stdout();
    let mut rows = text.lines();
    let header = rows.next().map(|h| h.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default();
    assert!(header.starts_with("Cluster Id Cluster Name State"), "{text}");
    assert!(rows.next().is_some_and(|r| r.starts_with(&id) && r.contains("etl") && r.contains("RUNNING")), "{text}");

    let deleted = brickwork(&["clusters", "delete", &id, "-o", "json"], &env).await.json();
    assert_eq!(deleted["state"], "TERMINATED", "delete waited: {deleted}");
    brickwork(&["clusters", "permanent-delete", &id], &env).await.json_or_empty();
    let gone = brickwork(&["clusters", "get", &id, "-o", "json"], &env).await;
    assert_eq!(gone.code(), Some(4), "not found: {}", gone.stderr());
    assert_eq!(gone.error()["kind"], "ResourceDoesNotExist");
}

impl Run {
    /// Success with an empty answer.
    fn json_or_empty(&self) {
        assert_eq!(self.code(), Some(0), "{}", self.stderr());
        assert!(self.stdout().trim().is_empty() || serde_json::from_str::<Value>(&self.stdout()).is_ok());
    }
}

#[tokio::test]
async fn no_wait_answers_with_the_create_response_and_timeout_exits_5() {
    let emulator =
        Emulator::builder().token(TOKEN).transition_delay(Duration::from_secs(3)).start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let pending = brickwork(
        &[
            "clusters",
            "create",
            "15.4.x-scala2.12",
            "--node-type-id",
            "i3.xlarge",
            "--num-workers",
            "0",
            "--no-wait",
            "-o",
            "json",
        ],
        &env,
    )
    .await
    .json();
    let id = pending["cluster_id"].as_str().expect("the create answer");
    assert!(pending.get("state").is_none(), "the immediate answer, not the cluster: {pending}");
    let now = brickwork(&["clusters", "get", id, "-o", "json"], &env).await.json();
    assert_eq!(now["state"], "PENDING");

    let create = ["clusters", "create", "15.4.x-scala2.12", "--node-type-id", "i3.xlarge", "--num-workers", "0"];
    let late = brickwork(&[&create[..], &["--timeout", "300ms", "-o", "json"]].concat(), &env).await;
    assert_eq!(late.code(), Some(5), "a wait that times out: {}", late.stderr());
    assert_eq!(late.error()["kind"], "Timeout");
}

#[tokio::test]
async fn json_from_a_file_and_flags_over_it_and_invalid_requests_are_refused_before_sending() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let request = json!({
        "name": "from-file",
        "max_concurrent_runs": 2,
        "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/Shared/a"}, "existing_cluster_id": "c-1"}],
    });
    let file = home.path().join("job.json");
    std::fs::write(&file, request.to_string()).expect("request file");
    let json_file = format!("@{}", file.display());
    let created =
        brickwork(&["jobs", "create", "--json", &json_file, "--name", "renamed", "-o", "json"], &env).await.json();
    let job_id = created["job_id"].as_i64().expect("job id").to_string();
    let job = brickwork(&["jobs", "get", &job_id, "-o", "json"], &env).await.json();
    assert_eq!(job["settings"]["name"], "renamed", "the flag wins over the file: {job}");
    assert_eq!(job["settings"]["max_concurrent_runs"], 2);

    let inline = brickwork(&["jobs", "create", "--json", r#"{"name": "inline"}"#, "-o", "json"], &env).await.json();
    assert!(inline["job_id"].is_i64());

    let before = emulator.counters().requests;
    let wrong_type =
        brickwork(&["jobs", "create", "--json", r#"{"tasks": [{"task_key": "a", "timeout_seconds": "soon"}]}"#], &env)
            .await;
    assert_eq!(wrong_type.code(), Some(2), "{}", wrong_type.stderr());
    assert!(wrong_type.stderr().contains("tasks[0].timeout_seconds"), "the field's path: {}", wrong_type.stderr());
    let not_an_object = brickwork(&["jobs", "create", "--json", "[1, 2]"], &env).await;
    assert_eq!(not_an_object.code(), Some(2));
    let not_json = brickwork(&["jobs", "create", "--json", "{oops"], &env).await;
    assert_eq!(not_json.code(), Some(2));
    assert!(not_json.stderr().contains("invalid JSON"), "{}", not_json.stderr());
    let missing = brickwork(&["jobs", "run-now", "--json", "{}"], &env).await;
    assert_eq!(missing.code(), Some(2));
    assert!(missing.stderr().contains("missing required field `job_id`"), "{}", missing.stderr());
    let bad_choice = brickwork(&["clusters", "create", "v", "--runtime-engine", "TURBO"], &env).await;
    assert_eq!(bad_choice.code(), Some(2), "{}", bad_choice.stderr());
    assert_eq!(emulator.counters().requests, before, "nothing was sent for invalid requests");
}

#[tokio::test]
async fn listings_stream_across_pages_and_stop_at_the_limit() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let cfg =
        brickwork::Config::builder().host(emulator.url()).token(TOKEN).without_environment().build().expect("cfg");
    let w = brickwork::WorkspaceClient::new(cfg).await.expect("client");
    for n in 0..45 {
        w.jobs().create().name(format!("job-{n:02}")).await.expect("job");
    }
    let all = brickwork(&["jobs", "list", "-o", "json"], &env).await.json();
    assert_eq!(all.as_array().map(Vec::len), Some(45), "every page");
    let sent = emulator.counters().requests;
    let some = brickwork(&["jobs", "list", "--limit", "7", "-o", "json"], &env).await.json();
    assert_eq!(some.as_array().map(Vec::len), Some(7));
    assert_eq!(emulator.counters().requests - sent, 1, "seven jobs are on the first page: no second is asked for");
    let text = brickwork(&["jobs", "list", "--limit", "3"], &env).await.stdout();
    assert_eq!(text.lines().count(), 4, "a header and three rows: {text}");
    assert!(text.lines().nth(1).is_some_and(|row| row.contains("job-")), "{text}");
    let none = brickwork(&["jobs", "list", "--name", "no-such-job", "-o", "json"], &env).await.json();
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn a_command_of_each_default_service_group() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    // iam
    let me = brickwork(&["current-user", "me", "-o", "json"], &env).await.json();
    assert_eq!(me["userName"], "admin@example.com");
    let users = brickwork(&["users", "list", "-o", "json"], &env).await.json();
    assert!(users.as_array().is_some_and(|u| !u.is_empty()));
    // workspace
    brickwork(&["workspace", "mkdirs", "/Shared/cli"], &env).await.json_or_empty();
    let status = brickwork(&["workspace", "get-status", "/Shared/cli", "-o", "json"], &env).await.json();
    assert_eq!(status["object_type"], "DIRECTORY");
    // secrets (workspace package)
    brickwork(&["secrets", "create-scope", "cli-scope"], &env).await.json_or_empty();
    brickwork(&["secrets", "put-secret", "cli-scope", "k", "--string-value", "shh"], &env).await.json_or_empty();
    let keys = brickwork(&["secrets", "list-secrets", "cli-scope", "-o", "json"], &env).await.json();
    assert_eq!(keys[0]["key"], "k");
    // files: an upload from standard input, downloaded back as bytes
    let upload =
        brickwork_with(&["files", "upload", "/Volumes/main/default/v/a.txt", "-"], &env, Some(b"hello bytes")).await;
    upload.json_or_empty();
    let download = brickwork(&["files", "download", "/Volumes/main/default/v/a.txt"], &env).await;
    assert_eq!(download.stdout(), "hello bytes");
    let dbfs = brickwork(&["dbfs", "mkdirs", "/tmp/cli"], &env).await;
    dbfs.json_or_empty();
    // compute
    let versions = brickwork(&["clusters", "spark-versions", "-o", "json"], &env).await.json();
    assert!(versions["versions"].as_array().is_some_and(|v| !v.is_empty()));
    // sql
    let warehouse = brickwork(
        &["warehouses", "create", "--name", "wh", "--cluster-size", "2X-Small", "--no-wait", "-o", "json"],
        &env,
    )
    .await
    .json();
    assert!(warehouse["id"].is_string(), "{warehouse}");
    let listed = brickwork(&["warehouses", "list", "-o", "json"], &env).await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    // catalog
    brickwork(&["catalogs", "create", "cli_cat", "-o", "json"], &env).await.json();
    let schemas = brickwork(&["schemas", "list", "cli_cat", "-o", "json"], &env).await.json();
    assert!(schemas.is_array(), "{schemas}");
    // jobs: run-now waits for the run and fails with exit 1 when a task fails
    let created = brickwork(&["jobs", "create", "--json", r#"{"name": "runs", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Shared/missing"}, "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0}}]}"#, "-o", "json"], &env)
        .await
        .json();
    let job_id = created["job_id"].as_i64().expect("job").to_string();
    let run = brickwork(&["jobs", "run-now", &job_id, "-o", "json"], &env).await;
    assert_eq!(run.code(), Some(1), "a missing notebook fails the run: {}", run.stderr());
    assert_eq!(run.error()["kind"], "OperationFailed");
}

#[tokio::test]
async fn errors_exit_by_class_with_the_json_error_on_stderr() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let mut env = vars(&emulator, home.path());
    let usage = brickwork(&["clusters", "get"], &env).await;
    assert_eq!(usage.code(), Some(2));
    let unknown = brickwork(&["no-such-group"], &env).await;
    assert_eq!(unknown.code(), Some(2));
    let missing = brickwork(&["jobs", "get", "123456", "-o", "json"], &env).await;
    assert_eq!(missing.code(), Some(4), "{}", missing.stderr());
    let error = missing.error();
    assert_eq!(error["status"], 400);
    assert_eq!(error["error_code"], "INVALID_PARAMETER_VALUE");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("123456")));
    assert!(missing.stdout().is_empty(), "errors go to stderr");
    let text = brickwork(&["jobs", "get", "123456"], &env).await;
    assert!(text.stderr().starts_with("Error: "), "{}", text.stderr());

    env.retain(|(k, _)| *k != "DATABRICKS_TOKEN");
    env.push(("DATABRICKS_TOKEN", "dapi-wrong".into()));
    let denied = brickwork(&["clusters", "list", "-o", "json"], &env).await;
    assert_eq!(denied.code(), Some(3), "a refused token is a credential to fix: {}", denied.stderr());
    assert_eq!(denied.error()["kind"], "PermissionDenied");
    env.retain(|(k, _)| *k != "DATABRICKS_TOKEN");
    let unconfigured = brickwork(&["clusters", "list", "-o", "json"], &env).await;
    assert_eq!(unconfigured.code(), Some(3), "no credentials: {}", unconfigured.stderr());
    assert_eq!(unconfigured.error()["kind"], "Auth");
}

#[tokio::test]
async fn api_calls_any_path_and_completion_covers_the_generated_commands() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let made =
        brickwork(&["api", "post", "/api/2.0/secrets/scopes/create", "--json", r#"{"scope": "raw"}"#], &env).await;
    made.json_or_empty();
    let scopes = brickwork(&["api", "get", "/api/2.0/secrets/scopes/list"], &env).await.json();
    assert_eq!(scopes["scopes"][0]["name"], "raw");

    // PUT, PATCH and DELETE reach any path the same way.
    let users = "/api/2.0/preview/scim/v2/Users";
    let made = brickwork(&["api", "post", users, "--json", r#"{"userName": "raw@example.com"}"#], &env).await.json();
    let user = format!("{users}/{}", made["id"].as_str().expect("id"));
    let patch = r#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "displayName", "value": "Patched"}]}"#;
    assert_eq!(brickwork(&["api", "patch", &user, "--json", patch], &env).await.json()["displayName"], "Patched");
    let put = r#"{"userName": "raw@example.com", "displayName": "Put"}"#;
    assert_eq!(brickwork(&["api", "put", &user, "--json", put], &env).await.json()["displayName"], "Put");
    brickwork(&["api", "delete", &user], &env).await.json_or_empty();
    let gone = brickwork(&["api", "get", &user], &env).await;
    assert_eq!(gone.code(), Some(4), "not found: {}", gone.stderr());

    let script = brickwork(&["completion", "bash"], &env).await;
    assert_eq!(script.code(), Some(0));
    assert!(script.stdout().contains("run-now") && script.stdout().contains("list-node-types"), "every command");
}

#[tokio::test]
async fn demo_runs_the_pipeline_on_the_embedded_emulator_and_reports_its_steps() {
    let home = tempfile::tempdir().expect("home");
    let env = vec![
        ("HOME", home.path().display().to_string()),
        ("DATABRICKS_CONFIG_FILE", home.path().join("none.cfg").display().to_string()),
    ];
    let report = brickwork(&["demo", "-o", "json"], &env).await.json();
    let tasks = report["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 2, "{report}");
    assert!(tasks.iter().all(|t| t["result"] == "SUCCESS"), "{report}");
    assert!(tasks.iter().any(|t| t["output"].as_str().is_some_and(|o| o.starts_with("silver: events cleaned"))));
    let steps: Vec<&str> =
        report["steps"].as_array().expect("steps").iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(
        steps,
        [
            "connect",
            "upload notebooks",
            "start cluster",
            "upsert job",
            "run job",
            "read outputs",
            "delete cluster",
            "clean up"
        ]
    );

    let text = brickwork(&["demo"], &env).await;
    assert_eq!(text.code(), Some(0), "{}", text.stderr());
    let out = text.stdout();
    assert!(
        out.contains("embedded emulator")
            && out.contains("where the time went")
            && out.contains("0 live clusters left"),
        "{out}"
    );
}

#[tokio::test]
async fn a_demo_that_fails_reports_its_own_error_even_when_its_cleanup_fails_too() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    // The pipeline fails choosing a runtime, after its notebooks are up;
    // deleting them then fails as well.
    let fail = |method: &str, path_prefix: &str| FaultRule {
        path_prefix: path_prefix.into(),
        method: Some(method.into()),
        probability: 1.0,
        fault: Fault::InternalError,
        phase: Phase::Before,
        times: None,
        query: None,
    };
    emulator.set_faults(FaultSettings {
        rules: vec![fail("GET", "/api/2.1/clusters/spark-versions"), fail("POST", "/api/2.0/workspace/delete")],
        ..FaultSettings::default()
    });
    let out = brickwork(&["demo"], &env).await;
    assert_eq!(out.code(), Some(1), "{}", out.stderr());
    let stderr = out.stderr();
    assert!(stderr.contains("Warning: cleaning up failed too"), "the cleanup's failure is said: {stderr}");
    assert!(stderr.lines().last().is_some_and(|l| l.starts_with("Error: ")), "then the pipeline's: {stderr}");
}

#[tokio::test]
async fn with_json_body_fields_come_from_it_unknown_fields_are_warned_of_and_bad_files_refused() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let made = brickwork(&["jobs", "create", "--json", r#"{"name": "typo", "nmae": "x"}"#, "-o", "json"], &env).await;
    let job_id = made.json()["job_id"].as_i64().expect("created").to_string();
    assert!(made.stderr().contains("unknown field `nmae`"), "warned: {}", made.stderr());
    let job = brickwork(&["jobs", "get", &job_id, "-o", "json"], &env).await.json();
    assert_eq!(job["settings"]["name"], "typo");
    assert!(job["settings"].get("nmae").is_none(), "the unknown field was not sent: {job}");

    brickwork(&["secrets", "create-scope", "s"], &env).await.json_or_empty();
    let before = emulator.counters().requests;
    // A body field given as an argument beside --json would silently fill
    // the first positional slot: it is refused.
    let mixed = brickwork(&["secrets", "put-secret", "--json", r#"{"scope": "s"}"#, "k"], &env).await;
    assert_eq!(mixed.code(), Some(2), "{}", mixed.stderr());
    assert!(mixed.stderr().contains("give `scope` in the JSON"), "{}", mixed.stderr());
    let missing_file = brickwork(&["jobs", "create", "--json", "@/nonexistent/request.json"], &env).await;
    assert_eq!(missing_file.code(), Some(2), "{}", missing_file.stderr());
    assert!(missing_file.stderr().contains("/nonexistent/request.json"), "{}", missing_file.stderr());
    assert_eq!(emulator.counters().requests, before, "nothing was sent");

    let all_in_json = [r#"{"scope": "s", "key": "k", "string_value": "v"}"#];
    brickwork(&["secrets", "put-secret", "--json", all_in_json[0]], &env).await.json_or_empty();
    // A path parameter stays an argument with --json.
    brickwork(&["files", "create-directory", "--json", "{}", "/Volumes/main/default/v/dir"], &env)
        .await
        .json_or_empty();
    let meta = brickwork(&["files", "get-directory-metadata", "/Volumes/main/default/v/dir"], &env).await;
    assert_eq!(meta.code(), Some(0), "{}", meta.stderr());
}

#[tokio::test]
async fn usage_errors_are_json_in_json_mode_and_help_names_a_group() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let usage = brickwork(&["clusters", "get", "-o", "json"], &env).await;
    assert_eq!(usage.code(), Some(2));
    let error = usage.error();
    assert_eq!(error["kind"], "Usage", "{error}");
    assert_eq!(error["exit_code"], 2);
    assert!(error["message"].as_str().is_some_and(|m| m.contains("CLUSTER_ID")), "{error}");

    let help = brickwork(&["help", "clusters"], &env).await;
    assert_eq!(help.code(), Some(0), "{}", help.stderr());
    assert!(help.stdout().contains("list-node-types"), "the group's commands: {}", help.stdout());
}

#[tokio::test]
async fn a_closed_standard_output_ends_completion_and_listings_quietly() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    for args in [&["completion", "bash"][..], &["clusters", "list"][..], &["jobs", "list", "-o", "json"][..]] {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_brickwork"));
        command.args(args).env_clear().envs(env.iter().map(|(k, v)| (*k, v.as_str()))).kill_on_drop(true);
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("brickwork runs");
        // The reader goes away before anything is written.
        drop(child.stdout.take());
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("brickwork finishes")
            .expect("output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn an_empty_table_has_its_header_and_waits_show_no_progress_off_a_terminal() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let empty = brickwork(&["clusters", "list"], &env).await;
    assert_eq!(empty.code(), Some(0), "{}", empty.stderr());
    assert!(empty.stdout().starts_with("Cluster Id"), "{:?}", empty.stdout());
    let create = ["clusters", "create", "15.4.x-scala2.12", "--node-type-id", "i3.xlarge", "--num-workers", "0"];
    let created = brickwork(&create, &env).await;
    assert_eq!(created.code(), Some(0), "{}", created.stderr());
    assert_eq!(created.stderr(), "", "stderr is a pipe: no progress");
}

#[tokio::test]
async fn debug_logs_requests_without_secrets() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    brickwork(&["secrets", "create-scope", "dbg"], &env).await.json_or_empty();
    let put =
        brickwork(&["secrets", "put-secret", "dbg", "k", "--string-value", "shh-not-for-logs", "--debug"], &env).await;
    assert_eq!(put.code(), Some(0), "{}", put.stderr());
    let log = put.stderr();
    assert!(log.contains("/api/2.0/secrets/put"), "the request is logged: {log}");
    assert!(!log.contains("shh-not-for-logs") && !log.contains(TOKEN), "no secret in the log: {log}");
}

/// A workspace whose cluster listing fails on its second page.
async fn failing_second_page() -> String {
    use axum::extract::Query;
    use axum::http::StatusCode;
    use axum::Json;
    async fn list(Query(query): Query<std::collections::HashMap<String, String>>) -> (StatusCode, Json<Value>) {
        if query.contains_key("page_token") {
            let error = json!({"error_code": "INVALID_PARAMETER_VALUE", "message": "that page is gone"});
            return (StatusCode::BAD_REQUEST, Json(error));
        }
        let page = json!({"clusters": [{"cluster_id": "c-1", "cluster_name": "one", "state": "RUNNING"}], "next_page_token": "p2"});
        (StatusCode::OK, Json(page))
    }
    let app = axum::Router::new().route("/api/2.1/clusters/list", axum::routing::get(list));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_listing_that_fails_midway_still_prints_a_whole_json_array_and_exits_non_zero() {
    let home = tempfile::tempdir().expect("home");
    let url = failing_second_page().await;
    let env = vec![
        ("HOME", home.path().display().to_string()),
        ("DATABRICKS_CONFIG_FILE", home.path().join("none.cfg").display().to_string()),
        ("DATABRICKS_HOST", url),
        ("DATABRICKS_TOKEN", TOKEN.to_string()),
    ];
    let listed = brickwork(&["clusters", "list", "-o", "json"], &env).await;
    assert_eq!(listed.code(), Some(1), "{}", listed.stderr());
    let printed: Value = serde_json::from_str(&listed.stdout()).unwrap_or_else(|e| panic!("{e}: {}", listed.stdout()));
    assert_eq!(printed.as_array().map(Vec::len), Some(1), "the first page: {printed}");
    assert_eq!(listed.error()["error_code"], "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn fs_copies_lists_prints_and_removes_files_in_volumes_and_dbfs() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let local = tempfile::tempdir().expect("local");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(7) >> 2) as u8).collect();
    std::fs::write(local.path().join("a.bin"), &data).expect("a.bin");
    std::fs::create_dir_all(local.path().join("tree/sub")).expect("tree");
    std::fs::write(local.path().join("tree/one.txt"), "one").expect("one");
    std::fs::write(local.path().join("tree/sub/two.txt"), "two").expect("two");
    let path = |p: &str| local.path().join(p).display().to_string();
    let ok = |run: &Run| assert_eq!(run.code(), Some(0), "stdout: {} stderr: {}", run.stdout(), run.stderr());
    let volume = "dbfs:/Volumes/main/default/v";

    ok(&brickwork(&["fs", "mkdir", &format!("{volume}/in")], &env).await);
    // Into an existing directory: the file keeps its name.
    ok(&brickwork(&["fs", "cp", &path("a.bin"), &format!("{volume}/in")], &env).await);
    let listed = brickwork(&["fs", "ls", &format!("{volume}/in")], &env).await;
    assert_eq!(listed.stdout().trim(), "a.bin");
    let cat = brickwork(&["fs", "cat", &format!("{volume}/in/a.bin")], &env).await;
    assert_eq!(cat.out.stdout, data, "cat prints the bytes as stored");
    ok(&brickwork(&["fs", "cp", &format!("{volume}/in/a.bin"), &path("back.bin")], &env).await);
    assert_eq!(std::fs::read(path("back.bin")).expect("back"), data);

    // Without --overwrite an existing target is refused both ways.
    let again = brickwork(&["fs", "cp", &path("a.bin"), &format!("{volume}/in/a.bin")], &env).await;
    assert_eq!(again.code(), Some(1), "{}", again.stderr());
    let again = brickwork(&["fs", "cp", &format!("{volume}/in/a.bin"), &path("back.bin")], &env).await;
    assert!(again.stderr().contains("--overwrite"), "{}", again.stderr());
    ok(&brickwork(&["fs", "cp", "--overwrite", &path("a.bin"), &format!("{volume}/in/a.bin")], &env).await);

    // A directory needs -r, then arrives whole.
    let refused = brickwork(&["fs", "cp", &path("tree"), &format!("{volume}/tree")], &env).await;
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr());
    let copied =
        brickwork(&["fs", "cp", "-r", &path("tree"), &format!("{volume}/tree"), "-o", "json"], &env).await.json();
    assert_eq!(copied["files"], 2, "{copied}");
    let long = brickwork(&["fs", "ls", "-l", &format!("{volume}/tree"), "-o", "json"], &env).await.json();
    let mut names: Vec<String> =
        long.as_array().expect("a list").iter().map(|e| format!("{} {}", e["type"], e["name"])).collect();
    names.sort();
    assert_eq!(names, ["\"DIRECTORY\" \"sub\"", "\"FILE\" \"one.txt\""]);
    ok(&brickwork(&["fs", "cp", "-r", &format!("{volume}/tree"), &path("tree-back")], &env).await);
    assert_eq!(std::fs::read_to_string(path("tree-back/sub/two.txt")).expect("two"), "two");
    ok(&brickwork(&["fs", "rm", "-r", &format!("{volume}/tree")], &env).await);
    let gone = brickwork(&["fs", "ls", &format!("{volume}/tree")], &env).await;
    assert_eq!(gone.code(), Some(4), "{}", gone.stderr());

    // DBFS, through its own API.
    ok(&brickwork(&["fs", "cp", &path("a.bin"), "dbfs:/tmp/a.bin"], &env).await);
    let cat = brickwork(&["fs", "cat", "dbfs:/tmp/a.bin"], &env).await;
    assert_eq!(cat.out.stdout, data);
    ok(&brickwork(&["fs", "cp", "dbfs:/tmp/a.bin", &path("from-dbfs.bin")], &env).await);
    assert_eq!(std::fs::read(path("from-dbfs.bin")).expect("from dbfs"), data);
    // Between two workspace paths, piped through: volume to DBFS and back.
    ok(&brickwork(&["fs", "cp", &format!("{volume}/in/a.bin"), "dbfs:/tmp/piped.bin"], &env).await);
    ok(&brickwork(&["fs", "cp", "dbfs:/tmp/piped.bin", &format!("{volume}/in/piped.bin")], &env).await);
    let cat = brickwork(&["fs", "cat", &format!("{volume}/in/piped.bin")], &env).await;
    assert_eq!(cat.out.stdout, data, "through DBFS and back, byte for byte");
    ok(&brickwork(&["fs", "cp", "-r", &path("tree"), "dbfs:/tmp/tree"], &env).await);
    ok(&brickwork(&["fs", "cp", "-r", "dbfs:/tmp/tree", &path("tree-dbfs")], &env).await);
    assert_eq!(std::fs::read_to_string(path("tree-dbfs/sub/two.txt")).expect("two"), "two");
    ok(&brickwork(&["fs", "rm", "-r", "dbfs:/tmp/tree"], &env).await);
    ok(&brickwork(&["fs", "rm", "dbfs:/tmp/piped.bin"], &env).await);
    ok(&brickwork(&["fs", "rm", "dbfs:/tmp/a.bin"], &env).await);
    let listed = brickwork(&["fs", "ls", "dbfs:/tmp"], &env).await;
    assert!(!listed.stdout().contains("a.bin"), "{}", listed.stdout());

    let local_only = brickwork(&["fs", "ls", &path("tree")], &env).await;
    assert_eq!(local_only.code(), Some(2), "{}", local_only.stderr());
}

#[tokio::test]
async fn fs_cp_interrupted_by_ctrl_c_aborts_its_upload_and_exits_130() {
    let emulator = emulator().await;
    // Parts crawl, so the copy is mid-upload when it is interrupted.
    emulator.set_faults(FaultSettings {
        seed: 1,
        rules: vec![FaultRule {
            path_prefix: "/__storage/parts/".into(),
            method: Some("PUT".into()),
            probability: 1.0,
            fault: Fault::Latency { ms: 20_000 },
            phase: Phase::Before,
            times: None,
            query: None,
        }],
        rate_limit_per_principal: None,
    });
    let home = tempfile::tempdir().expect("home");
    let env = vars(&emulator, home.path());
    let local = tempfile::tempdir().expect("local");
    // Past the default part size: a multipart upload.
    let source = local.path().join("big.bin");
    std::fs::write(&source, vec![5u8; 20 * 1024 * 1024]).expect("big.bin");
    let target = "dbfs:/Volumes/main/default/v/interrupted.bin";
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_brickwork"));
    command.args(["fs", "cp", &source.display().to_string(), target]);
    command.env_clear().envs(env.iter().map(|(k, v)| (*k, v.as_str()))).kill_on_drop(true);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("brickwork runs");
    let pid = child.id().expect("pid").to_string();
    for _ in 0..500 {
        if emulator.counters().open_uploads == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(emulator.counters().open_uploads, 1, "the upload began");
    let sent = std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill");
    assert!(sent.success());
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("brickwork finishes")
        .expect("output");
    let run = Run { out };
    assert_eq!(run.code(), Some(130), "stderr: {}", run.stderr());
    assert!(run.stderr().contains("interrupted"), "{}", run.stderr());
    assert_eq!(emulator.counters().open_uploads, 0, "aborted before exiting");
    emulator.set_faults(FaultSettings::default());
    let cat = brickwork(&["fs", "cat", target], &env).await;
    assert_eq!(cat.code(), Some(4), "no file: {}", cat.stderr());
}

/// `brickwork emulator` serves a workspace in the foreground: its first line
/// says where and with which token, and the CLI itself can use it.
#[tokio::test]
async fn the_emulator_command_serves_a_workspace_the_cli_can_use() {
    use tokio::io::AsyncBufReadExt;
    let home = tempfile::tempdir().expect("home");
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_brickwork"));
    serve.args(["emulator", "--addr", "127.0.0.1:0"]).env_clear().env("HOME", home.path()).kill_on_drop(true);
    let mut child =
        serve.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().expect("runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    let mut lines = tokio::io::BufReader::new(stdout);
    let read = lines.read_line(&mut first);
    tokio::time::timeout(Duration::from_secs(60), read).await.expect("a first line").expect("read");
    let ready: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    let env = vec![
        ("HOME", home.path().display().to_string()),
        ("DATABRICKS_CONFIG_FILE", home.path().join("none.cfg").display().to_string()),
        ("DATABRICKS_HOST", ready["url"].as_str().expect("url").to_string()),
        ("DATABRICKS_TOKEN", ready["token"].as_str().expect("token").to_string()),
    ];
    assert_eq!(brickwork(&["clusters", "list", "-o", "json"], &env).await.json(), json!([]));
    child.kill().await.expect("stopped");
}

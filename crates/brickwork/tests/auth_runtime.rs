//! `runtime` and `runtime-oauth` against the emulator, with a fake of the
//! runtime's Python on `PATH` that answers as `dbruntime` would.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use brickwork::auth::{DefaultCredentials, Runtime};
use brickwork::{Client, Config, ErrorKind};
use brickwork_emulator::{Emulator, EmulatorHandle};
use serde_json::{json, Value};

const ME: &str = "/api/2.0/preview/scim/v2/Me";

/// A `python3` that prints `answer.json` from its directory (only when asked
/// the runtime question) and counts its runs in `runs`.
fn fake_python(dir: &Path, answer: &Value) {
    std::fs::write(dir.join("answer.json"), answer.to_string()).expect("answer");
    let script = r#"#!/bin/sh
here="$(dirname "$0")"
echo run >> "$here/runs"
case "$2" in *dbruntime*) cat "$here/answer.json" ;; *) echo "unexpected script" >&2; exit 3 ;; esac
"#;
    let path = dir.join("python3");
    std::fs::write(&path, script).expect("script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs")).map(|t| t.lines().count()).unwrap_or_default()
}

fn answer(emulator: &EmulatorHandle, token: &str) -> Value {
    json!({"host": emulator.url(), "headers": {"Authorization": format!("Bearer {token}")}})
}

fn runtime_env(dir: &Path) -> Vec<(String, String)> {
    vec![
        ("DATABRICKS_RUNTIME_VERSION".into(), "15.4".into()),
        ("PATH".into(), dir.display().to_string()),
        ("HOME".into(), dir.display().to_string()),
    ]
}

async fn me(client: &Client) -> brickwork::Result<Value> {
    client.api().get(ME, &()).await
}

#[tokio::test]
async fn runtime_sends_the_notebooks_token_to_the_workspace_it_names() {
    let emulator = Emulator::builder().user("ann@example.com", "dapi-ann").start().await.expect("emulator");
    let dir = tempfile::tempdir().expect("dir");
    fake_python(dir.path(), &answer(&emulator, "dapi-ann"));
    let cfg = Config::builder().environment(runtime_env(dir.path())).build().expect("config");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "runtime");
    assert_eq!(client.config().host(), Some(emulator.url()), "the host comes from the runtime");
    assert_eq!(me(&client).await.expect("me")["userName"], "ann@example.com");
}

#[tokio::test]
async fn runtime_oauth_exchanges_the_notebook_token_and_asks_the_runtime_again_at_refresh() {
    let emulator = Emulator::builder()
        .user("ann@example.com", "dapi-ann")
        .oauth_token_lifetime(Duration::from_secs(2))
        .start()
        .await
        .expect("emulator");
    let dir = tempfile::tempdir().expect("dir");
    fake_python(dir.path(), &answer(&emulator, "dapi-ann"));
    let cfg =
        Config::builder().set("scopes", "sql all-apis").environment(runtime_env(dir.path())).build().expect("config");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "runtime-oauth");
    assert_eq!(me(&client).await.expect("me")["userName"], "ann@example.com");
    let asked = runs(dir.path());
    // Past half the token's life it is exchanged again, with a fresh notebook token.
    let mut refreshed = false;
    for _ in 0..100 {
        assert_eq!(me(&client).await.expect("me")["userName"], "ann@example.com");
        if runs(dir.path()) > asked {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refreshed, "the refresh asked the runtime again");
}

#[tokio::test]
async fn a_refused_exchange_is_an_error_not_a_step_to_the_full_access_token() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let dir = tempfile::tempdir().expect("dir");
    // "dapi-unknown" is no token of this workspace: the exchange is refused.
    fake_python(dir.path(), &answer(&emulator, "dapi-unknown"));
    let cfg = Config::builder().set("scopes", "all-apis").environment(runtime_env(dir.path())).build().expect("config");
    let err = Client::new(cfg).await.expect_err("the scoped token was refused");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
}

#[tokio::test]
async fn runtime_asks_the_runtime_again_when_its_token_is_due() {
    let emulator = Emulator::builder().user("ann@example.com", "dapi-ann").start().await.expect("emulator");
    let dir = tempfile::tempdir().expect("dir");
    fake_python(dir.path(), &answer(&emulator, "dapi-ann"));
    let cfg = Config::builder().environment(runtime_env(dir.path())).build().expect("config");
    let strategy = Runtime::default().ask_again_after(Duration::from_secs(1));
    let client = Client::builder()
        .config(cfg)
        .credentials(DefaultCredentials::with_strategies(vec![Arc::new(strategy)]))
        .build()
        .await
        .expect("client");
    let asked = runs(dir.path());
    let mut again = false;
    for _ in 0..100 {
        assert_eq!(me(&client).await.expect("me")["userName"], "ann@example.com");
        if runs(dir.path()) > asked {
            again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again, "the runtime was asked for a new token");
}

#[tokio::test]
async fn a_runtime_that_prints_its_token_and_then_fails_does_not_leak_it_into_the_error() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let dir = tempfile::tempdir().expect("dir");
    fake_python(dir.path(), &answer(&emulator, "dapi-leaky-secret"));
    let script = std::fs::read_to_string(dir.path().join("python3")).expect("script");
    let failing = script
        .replace("cat \"$here/answer.json\" ;;", "cat \"$here/answer.json\"; echo shutdown failed >&2; exit 1 ;;");
    assert_ne!(script, failing);
    std::fs::write(dir.path().join("python3"), failing).expect("script");
    let cfg = Config::builder().auth_type("runtime").environment(runtime_env(dir.path())).build().expect("config");
    let err = Client::new(cfg).await.expect_err("the runtime failed");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("shutdown failed"), "stderr is kept: {shown}");
    assert!(!shown.contains("dapi-leaky-secret"), "the token stays out of the error: {shown}");
}

#[tokio::test]
async fn outside_the_runtime_or_for_another_host_it_does_not_apply_and_says_why_when_chosen() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let dir = tempfile::tempdir().expect("dir");
    fake_python(dir.path(), &answer(&emulator, emulator.token()));
    let mut env = runtime_env(dir.path());
    env.retain(|(k, _)| k != "DATABRICKS_RUNTIME_VERSION");
    let cfg = Config::builder().auth_type("runtime").environment(env).build().expect("config");
    let err = Client::new(cfg).await.expect_err("not in the runtime");
    assert!(err.message().contains("DATABRICKS_RUNTIME_VERSION"), "{err}");
    assert_eq!(runs(dir.path()), 0, "the interpreter is not even started");

    let other = Config::builder()
        .host("https://other.cloud.databricks.com")
        .auth_type("runtime")
        .environment(runtime_env(dir.path()))
        .build()
        .expect("config");
    let err = Client::new(other).await.expect_err("another workspace");
    assert!(err.message().contains("not the configured https://other.cloud.databricks.com"), "{err}");

    fake_python(dir.path(), &json!({}));
    let cfg = Config::builder().auth_type("runtime").environment(runtime_env(dir.path())).build().expect("config");
    let err = Client::new(cfg).await.expect_err("no credentials offered");
    assert!(err.message().contains("offers no credentials"), "{err}");

    let cfg =
        Config::builder().auth_type("runtime-oauth").environment(runtime_env(dir.path())).build().expect("config");
    let err = Client::new(cfg).await.expect_err("no scopes");
    assert!(err.message().contains("needs scopes"), "{err}");
}

#[tokio::test]
async fn a_failing_runtime_provider_is_an_error_naming_the_exception_not_a_step_to_another_credential() {
    let dir = tempfile::tempdir().expect("dir");
    fake_python(dir.path(), &json!({"error": "PermissionError"}));
    let cfg = Config::builder().environment(runtime_env(dir.path())).auth_type("runtime").build().expect("config");
    let err = Client::new(cfg).await.expect_err("the provider failed");
    assert!(err.message().contains("credential provider failed: PermissionError"), "{err}");
}

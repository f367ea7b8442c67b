//! The built `brickwork` binary against the emulator: `auth describe`
//! precedence and failures, and `auth login` through a scripted browser.

use std::path::Path;
use std::process::Output;

use brickwork_emulator::{ConsentMode, Emulator, EmulatorHandle};
use serde_json::Value;

/// Run `brickwork args` with only `vars` in its environment.
async fn brickwork(args: &[&str], vars: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_brickwork"))
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .kill_on_drop(true)
        .output()
        .await
        .expect("brickwork runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

async fn emulator() -> EmulatorHandle {
    Emulator::builder().token("dapi-admin-token").start().await.expect("emulator")
}

#[tokio::test]
async fn describe_names_the_method_the_user_and_each_source_with_secrets_masked() {
    let emulator = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let home = home.path().display().to_string();
    let vars = [("HOME", home.as_str()), ("DATABRICKS_HOST", emulator.url()), ("DATABRICKS_TOKEN", "dapi-admin-token")];
    let out = brickwork(&["auth", "describe"], &vars).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Authenticated with: pat"), "{text}");
    assert!(text.contains("User: admin@example.com"), "{text}");
    assert!(text.contains(&format!("host: {} (from env DATABRICKS_HOST)", emulator.url())), "{text}");
    assert!(text.contains("token: *** (from env DATABRICKS_TOKEN)"), "{text}");
    assert!(!text.contains("dapi-admin-token"), "the token is masked: {text}");
}

fn write_profile(home: &Path, emulator: &EmulatorHandle) {
    let file = format!("[dev]\nhost = {}\ntoken = dapi-admin-token\n", emulator.url());
    std::fs::write(home.join(".databrickscfg"), file).expect("config file");
}

#[tokio::test]
async fn describe_shows_whether_a_setting_came_from_the_profile_the_environment_or_a_flag() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().expect("home");
    write_profile(dir.path(), &emulator);
    let home = dir.path().display().to_string();
    let config_file = dir.path().join(".databrickscfg").display().to_string();

    let out = brickwork(&["auth", "describe", "-p", "dev", "-o", "json"], &[("HOME", &home)]).await;
    let answer = json(&out);
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["details"]["auth_type"], "pat");
    assert_eq!(answer["details"]["configuration"]["host"]["source"], format!("{config_file} [dev]"));
    assert_eq!(answer["details"]["configuration"]["token"]["value"], "***");

    let vars = [("HOME", home.as_str()), ("DATABRICKS_HOST", emulator.url())];
    let answer = json(&brickwork(&["auth", "describe", "-p", "dev", "-o", "json"], &vars).await);
    assert_eq!(answer["details"]["configuration"]["host"]["source"], "env DATABRICKS_HOST", "env over profile");

    let flag = emulator.url().replace("127.0.0.1", "localhost");
    let args = ["auth", "describe", "-p", "dev", "-o", "json", "--host", flag.as_str()];
    let answer = json(&brickwork(&args, &vars).await);
    assert_eq!(answer["details"]["configuration"]["host"]["source"], "explicit", "flag over env");
    assert_eq!(answer["details"]["host"], flag);
}

#[tokio::test]
async fn describe_failures_exit_3_and_say_why() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().expect("home");
    write_profile(dir.path(), &emulator);
    let home = dir.path().display().to_string();

    let out = brickwork(&["auth", "describe", "-p", "nope"], &[("HOME", &home)]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));

    let vars = [("HOME", home.as_str()), ("DATABRICKS_HOST", emulator.url()), ("DATABRICKS_AUTH_TYPE", "oauth-m2m")];
    let out = brickwork(&["auth", "describe", "-o", "json"], &vars).await;
    assert_eq!(out.status.code(), Some(3));
    let answer = json(&out);
    assert_eq!(answer["status"], "error");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("oauth-m2m was chosen by auth_type") && message.contains("client_id"), "{message}");
    let error: Value = serde_json::from_str(stderr(&out).trim()).expect("a JSON error on stderr");
    assert_eq!(error["kind"], "Auth");

    let vars = [
        ("HOME", home.as_str()),
        ("DATABRICKS_HOST", emulator.url()),
        ("DATABRICKS_TOKEN", "dapi-admin-token"),
        ("DATABRICKS_USERNAME", "admin@example.com"),
        ("DATABRICKS_PASSWORD", "pw"),
    ];
    let out = brickwork(&["auth", "describe"], &vars).await;
    assert_eq!(out.status.code(), Some(3), "conflicting methods: {}", stdout(&out));
    assert!(stderr(&out).contains("more than one authorization method configured"), "{}", stderr(&out));

    // A browser login that is not cached is reported, not started: describe
    // never waits for a person (nor opens a browser: BROWSER would fail).
    let vars = [
        ("HOME", home.as_str()),
        ("DATABRICKS_HOST", emulator.url()),
        ("DATABRICKS_AUTH_TYPE", "external-browser"),
        ("BROWSER", "/nonexistent/browser"),
    ];
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), brickwork(&["auth", "describe"], &vars))
        .await
        .expect("describe answers at once");
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("run `brickwork auth login`"), "{}", stderr(&out));
}

#[tokio::test]
async fn login_through_the_browser_then_describe_uses_the_cached_login() {
    let emulator = Emulator::builder().oauth_consent(ConsentMode::Approve).start().await.expect("emulator");
    let dir = tempfile::tempdir().expect("home");
    // The "browser" loads the login URL and follows the redirect to the listener.
    let browser = dir.path().join("browser");
    let script = format!(
        "#!/bin/sh\necho opened >> '{}/opened'\nexec python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()' \"$1\"\n",
        dir.path().display()
    );
    std::fs::write(&browser, script).expect("browser");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let home = dir.path().display().to_string();
    let path = std::env::var("PATH").unwrap_or_default();
    let browser = browser.display().to_string();
    let vars = [("HOME", home.as_str()), ("PATH", path.as_str()), ("BROWSER", browser.as_str())];
    let out = brickwork(&["auth", "login", "--host", emulator.url(), "--port", "0", "--timeout", "30"], &vars).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let cache: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(".databricks/token-cache.json")).expect("cache"))
            .expect("json");
    assert!(cache["tokens"][emulator.url()]["refresh_token"].is_string(), "{cache}");

    let mut vars = vars.to_vec();
    vars.extend([("DATABRICKS_HOST", emulator.url()), ("DATABRICKS_AUTH_TYPE", "external-browser")]);
    let out = brickwork(&["auth", "describe"], &vars).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Authenticated with: external-browser"), "{}", stdout(&out));
    let opened = std::fs::read_to_string(dir.path().join("opened")).expect("opened");
    assert_eq!(opened.lines().count(), 1, "describe used the cached login, no browser");
}

#[tokio::test]
async fn profiles_env_and_token_read_what_they_should() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().expect("home");
    let file = format!(
        "[dev]\nhost = {url}\ntoken = dapi-admin-token\n\n[broken]\nhost = {url}\ntoken = dapi-wrong\n",
        url = emulator.url()
    );
    std::fs::write(dir.path().join(".databrickscfg"), file).expect("config file");
    let home = dir.path().display().to_string();
    // The environment names another workspace and credential: each profile
    // is still shown and checked as the file has it.
    let vars = [
        ("HOME", home.as_str()),
        ("DATABRICKS_HOST", "http://127.0.0.1:9"),
        ("DATABRICKS_TOKEN", "dapi-from-env"),
        ("DATABRICKS_USERNAME", "someone"),
    ];
    let out = brickwork(&["auth", "profiles", "-o", "json"], &vars).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = json(&out)["profiles"].as_array().cloned().expect("profiles");
    let row = |name: &str| rows.iter().find(|r| r["name"] == name).cloned().expect("row");
    assert_eq!(row("dev")["host"], emulator.url(), "{rows:?}");
    assert_eq!(row("dev")["valid"], true, "{rows:?}");
    assert_eq!(row("broken")["valid"], false, "{rows:?}");

    let vars = [("HOME", home.as_str())];
    let env = json(&brickwork(&["auth", "env", "-p", "dev"], &vars).await);
    assert_eq!(env["env"]["DATABRICKS_HOST"], emulator.url());
    assert_eq!(env["env"]["DATABRICKS_TOKEN"], "dapi-admin-token", "auth env hands over the credential");
    assert_eq!(env["env"]["DATABRICKS_AUTH_TYPE"], "pat");
    let token = brickwork(&["auth", "token", "-p", "dev", "-o", "json"], &vars).await;
    assert_eq!(token.status.code(), Some(0), "{}", stderr(&token));
    assert_eq!(json(&token)["access_token"], "dapi-admin-token");
}

#[tokio::test]
async fn describe_precedence_of_profile_flag_over_env_conflicts_in_a_profile_and_a_malformed_file() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().expect("home");
    let file = format!(
        "[dev]\nhost = {url}\ntoken = dapi-admin-token\n\n[other]\nhost = {url}\ntoken = dapi-admin-token\n\n\
         [both]\nhost = {url}\ntoken = dapi-admin-token\nclient_id = sp\nclient_secret = s\n",
        url = emulator.url()
    );
    std::fs::write(dir.path().join(".databrickscfg"), file).expect("config file");
    let home = dir.path().display().to_string();
    let config_file = dir.path().join(".databrickscfg").display().to_string();

    let vars = [("HOME", home.as_str()), ("DATABRICKS_CONFIG_PROFILE", "other")];
    let answer = json(&brickwork(&["auth", "describe", "-o", "json"], &vars).await);
    assert_eq!(answer["details"]["configuration"]["host"]["source"], format!("{config_file} [other]"));
    let answer = json(&brickwork(&["auth", "describe", "-p", "dev", "-o", "json"], &vars).await);
    assert_eq!(answer["details"]["configuration"]["host"]["source"], format!("{config_file} [dev]"), "-p wins");

    let out = brickwork(&["auth", "describe", "-p", "both", "-o", "json"], &[("HOME", home.as_str())]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let error: Value = serde_json::from_str(stderr(&out).trim()).expect("a JSON error");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("more than one authorization method configured: oauth and pat"), "{error}");
    assert!(!message.contains("dapi-admin-token"), "masked: {message}");

    // A token in the profile and an OAuth client in the environment conflict too.
    let vars = [("HOME", home.as_str()), ("DATABRICKS_CLIENT_ID", "sp"), ("DATABRICKS_CLIENT_SECRET", "s")];
    let out = brickwork(&["auth", "describe", "-p", "dev"], &vars).await;
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stderr(&out).contains("more than one authorization method"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("dapi-admin-token"), "masked: {}", stderr(&out));

    let missing = brickwork(&["auth", "describe", "-p", "nope", "-o", "json"], &[("HOME", home.as_str())]).await;
    assert_eq!(missing.status.code(), Some(3));
    let error: Value = serde_json::from_str(stderr(&missing).trim()).expect("a JSON error");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("nope")), "{error}");

    std::fs::write(dir.path().join(".databrickscfg"), "[dev\nhost = x\n").expect("config file");
    let malformed = brickwork(&["auth", "describe", "-p", "dev", "-o", "json"], &[("HOME", home.as_str())]).await;
    assert_eq!(malformed.status.code(), Some(3), "{}", stderr(&malformed));
    let error: Value = serde_json::from_str(stderr(&malformed).trim()).expect("a JSON error");
    assert_eq!(error["kind"], "Config", "{error}");
}

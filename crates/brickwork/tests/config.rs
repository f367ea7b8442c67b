//! Configuration precedence and errors, as the official unified-auth rules have them.

mod common;

use brickwork::config::{HostType, Source};
use brickwork::{Client, Config, ErrorKind};
use common::env;

fn write_cfg(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("databrickscfg");
    std::fs::write(&path, text).expect("write cfg");
    path.display().to_string()
}

const CFG: &str = "\
[DEFAULT]
host = https://default.cloud.databricks.com
token = dapi-default

[dev]
host = dev.cloud.databricks.com/
token = dapi-dev
cluster_id = c-dev
warehouse_id = w-dev

[basic]
host = https://basic.example.com
username = alice
password = p4ss
";

#[test]
fn explicit_values_win_over_env_which_win_over_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_cfg(&dir, CFG);
    let cfg = Config::builder()
        .set("cluster_id", "c-explicit")
        .profile("dev")
        .environment(env(&[("DATABRICKS_CONFIG_FILE", &file), ("DATABRICKS_WAREHOUSE_ID", "w-env")]))
        .build()
        .expect("config");
    assert_eq!(cfg.get("cluster_id"), Some("c-explicit"));
    assert_eq!(cfg.source("cluster_id"), Some(&Source::Explicit));
    assert_eq!(cfg.get("warehouse_id"), Some("w-env"));
    assert_eq!(cfg.source("warehouse_id"), Some(&Source::Env("DATABRICKS_WAREHOUSE_ID".into())));
    // The profile fills only what is still unset.
    assert_eq!(cfg.host(), Some("https://dev.cloud.databricks.com"));
    assert!(matches!(cfg.source("host"), Some(Source::File { profile, .. }) if profile == "dev"));
    assert_eq!(cfg.profile(), Some("dev"));
}

#[test]
fn env_profile_and_file_variables_select_the_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_cfg(&dir, CFG);
    let cfg = Config::builder()
        .environment(env(&[("DATABRICKS_CONFIG_FILE", &file), ("DATABRICKS_CONFIG_PROFILE", "basic")]))
        .build()
        .expect("config");
    assert_eq!(cfg.host(), Some("https://basic.example.com"));
    assert_eq!(cfg.get("username"), Some("alice"));
    // A secret is never readable through the public getter.
    assert_eq!(cfg.get("password"), None);
    assert!(cfg.is_set("password"));
}

#[test]
fn default_profile_and_home_expansion() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".databrickscfg"), CFG).expect("write");
    let home = dir.path().display().to_string();
    let cfg = Config::builder().environment(env(&[("HOME", &home)])).build().expect("config");
    assert_eq!(cfg.host(), Some("https://default.cloud.databricks.com"));
    // DEFAULT is a fallback: it is not recorded as the chosen profile.
    assert_eq!(cfg.profile(), None);
}

#[test]
fn settings_section_names_the_default_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_cfg(&dir, &format!("[__settings__]\ndefault_profile = dev\n{CFG}"));
    let cfg = Config::builder().environment(env(&[("DATABRICKS_CONFIG_FILE", &file)])).build().expect("config");
    assert_eq!(cfg.host(), Some("https://dev.cloud.databricks.com"));
    assert_eq!(cfg.profile(), Some("dev"));
}

#[test]
fn file_is_skipped_when_env_already_configures_auth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_cfg(&dir, CFG);
    let cfg = Config::builder()
        .environment(env(&[
            ("DATABRICKS_CONFIG_FILE", &file),
            ("DATABRICKS_HOST", "https://env.example.com"),
            ("DATABRICKS_TOKEN", "dapi-env"),
        ]))
        .build()
        .expect("config");
    assert_eq!(cfg.host(), Some("https://env.example.com"));
    assert_eq!(cfg.get("cluster_id"), None);
    assert_eq!(
        cfg.describe(),
        format!(
            "Config: host=https://env.example.com, token=***, config_file={file}. \
             Env: DATABRICKS_HOST, DATABRICKS_TOKEN, DATABRICKS_CONFIG_FILE"
        )
    );
}

#[test]
fn missing_named_profile_is_an_error_naming_file_and_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_cfg(&dir, CFG);
    let err = Config::builder()
        .profile("prod")
        .environment(env(&[("DATABRICKS_CONFIG_FILE", &file)]))
        .build()
        .expect_err("no prod profile");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.message(), format!("resolve: {file} has no prod profile configured. Config: profile=prod, config_file={file}. Env: DATABRICKS_CONFIG_FILE"));
    // A named profile with no config file at all: the file is skipped, as
    // the official SDKs do, and host and token come from the environment.
    let cfg = Config::builder()
        .profile("prod")
        .config_file(dir.path().join("nope").display().to_string())
        .environment(env(&[("DATABRICKS_HOST", "https://x.cloud.databricks.com"), ("DATABRICKS_TOKEN", "t")]))
        .build()
        .expect("the missing file is skipped");
    assert_eq!(cfg.host(), Some("https://x.cloud.databricks.com"));
}

#[test]
fn an_indented_comment_does_not_swallow_the_next_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_cfg(&dir, "[prod]\n  # the production workspace\nhost = https://prod.cloud.databricks.com\n    ; legacy\ntoken = dapi-prod\n");
    let cfg = Config::builder()
        .profile("prod")
        .environment(env(&[("DATABRICKS_CONFIG_FILE", &file)]))
        .build()
        .expect("config");
    assert_eq!(cfg.host(), Some("https://prod.cloud.databricks.com"));
}

#[test]
fn zero_timeouts_and_truncation_mean_the_defaults() {
    let cfg = Config::builder()
        .host("https://x.cloud.databricks.com")
        .token("t")
        .environment(env(&[
            ("DATABRICKS_HTTP_TIMEOUT_SECONDS", "0"),
            ("DATABRICKS_RETRY_TIMEOUT_SECONDS", "0"),
            ("DATABRICKS_DEBUG_TRUNCATE_BYTES", "0"),
        ]))
        .build()
        .expect("config");
    let defaults = brickwork::config::Settings::default();
    let settings = cfg.settings();
    assert_eq!(settings.http_timeout, defaults.http_timeout);
    assert_eq!(settings.retry_timeout, defaults.retry_timeout);
    assert_eq!(settings.debug_truncate_bytes, defaults.debug_truncate_bytes);
}

#[test]
fn no_file_and_no_profile_is_fine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().display().to_string();
    let cfg = Config::builder().environment(env(&[("HOME", &home)])).build().expect("config");
    assert_eq!(cfg.host(), None);
}

#[test]
fn two_auth_methods_conflict_unless_auth_type_is_set() {
    let err = Config::builder()
        .host("https://x.example.com")
        .token("dapi-secret-value")
        .environment(env(&[("DATABRICKS_USERNAME", "bob"), ("DATABRICKS_PASSWORD", "hunter2")]))
        .build()
        .expect_err("conflict");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().starts_with("validate: more than one authorization method configured: basic and pat."));
    assert!(err.message().contains("Env: DATABRICKS_USERNAME, DATABRICKS_PASSWORD"));
    assert!(err.message().contains("token=***") && err.message().contains("password=***"));
    assert!(!err.message().contains("dapi-secret-value") && !err.message().contains("hunter2"));
    let ok = Config::builder()
        .host("https://x.example.com")
        .token("t")
        .username("bob")
        .password("pw")
        .auth_type("basic")
        .without_environment()
        .build();
    assert!(ok.is_ok());
}

#[test]
fn host_normalisation_and_host_type() {
    let cfg = Config::builder().host("accounts.cloud.databricks.com:443/").without_environment().build().expect("cfg");
    assert_eq!(cfg.host(), Some("https://accounts.cloud.databricks.com"));
    assert_eq!(cfg.host_type(), HostType::Accounts);
    assert!(cfg.is_account_client());
    let cfg = Config::builder().host("adb-1.2.azuredatabricks.net").without_environment().build().expect("cfg");
    assert_eq!(cfg.host_type(), HostType::Workspace);
}

#[test]
fn bad_config_files_and_values_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_cfg(&dir, "host = https://orphan\n[dev]\nhost = x\n");
    let err = Config::builder().profile("dev").config_file(&file).without_environment().build().expect_err("bad file");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains(&file));

    let file = write_cfg(&dir, "[dev\nhost = x\n");
    let err = Config::builder().profile("dev").config_file(&file).without_environment().build().expect_err("bad ini");
    assert_eq!(err.kind(), ErrorKind::Config);

    let err = Config::builder()
        .host("h")
        .environment(env(&[("DATABRICKS_RATE_LIMIT", "fast")]))
        .build()
        .expect_err("bad rate");
    assert!(err
        .message()
        .starts_with("invalid rate_limit (from env DATABRICKS_RATE_LIMIT): \"fast\" is not a whole number"));

    let err = Config::builder().set("no_such_attribute", "x").without_environment().build().expect_err("unknown");
    assert!(err.message().contains("unknown configuration attribute: no_such_attribute"));
}

#[test]
fn transport_settings_come_from_config() {
    let cfg = Config::builder()
        .host("h")
        .environment(env(&[("DATABRICKS_RATE_LIMIT", "15"), ("DATABRICKS_RETRY_TIMEOUT_SECONDS", "12.5")]))
        .max_retries(4)
        .build()
        .expect("cfg");
    let s = cfg.settings();
    assert_eq!(s.rate_limit, Some(15));
    assert_eq!(s.retry_timeout, std::time::Duration::from_millis(12_500));
    assert_eq!(s.max_attempts, Some(5));
    assert_eq!(s.http_timeout, brickwork::config::DEFAULT_HTTP_TIMEOUT);
}

#[tokio::test]
async fn nothing_configured_cannot_configure_default_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().display().to_string();
    let cfg = Config::builder().environment(env(&[("HOME", &home)])).build().expect("cfg");
    let err = Client::new(cfg).await.expect_err("no credentials");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err
        .message()
        .starts_with("default auth: cannot configure default credentials, please check https://docs.databricks.com"));

    let cfg = Config::builder().host("https://h.example.com").without_environment().build().expect("cfg");
    let err = Client::new(cfg).await.expect_err("host only");
    assert!(err.message().ends_with("Config: host=https://h.example.com"), "{}", err.message());
}

#[tokio::test]
async fn forced_auth_type_must_exist_and_apply() {
    let cfg = Config::builder()
        .host("https://h")
        .token("t")
        .auth_type("kerberos")
        .without_environment()
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("unsupported");
    assert!(err.message().contains("auth type \"kerberos\" is not supported by brickwork"), "{err}");
    // Forcing basic ignores the token that is there, and says what basic lacks.
    let cfg =
        Config::builder().host("https://h").token("t").auth_type("basic").without_environment().build().expect("cfg");
    let err = Client::new(cfg).await.expect_err("basic lacks username");
    assert!(
        err.message()
            .contains("basic was chosen by auth_type but cannot be used: it needs username, password (not set)"),
        "{err}"
    );
}

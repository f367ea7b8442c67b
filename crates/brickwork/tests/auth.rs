//! Each auth type against a local server that checks what it receives.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use brickwork::{Client, Config, ErrorKind};
use common::{env, handler, Recorded, Reply, TestServer};
use serde_json::{json, Value};

const ME: &str = "/api/2.0/preview/scim/v2/Me";

/// `Me` answers 200 only for the expected `Authorization` header.
fn me_route(
    expected_auth: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> (&'static str, &'static str, common::Handler) {
    (
        "GET",
        ME,
        handler(move |r: &Recorded, _| match r.header("authorization") {
            Some(a) if expected_auth(&a) => Reply::json(200, json!({"userName": "me@example.com"})),
            _ => Reply::json(403, json!({"error_code": 403, "message": "Invalid access token."})),
        }),
    )
}

async fn me(client: &Client) -> brickwork::Result<Value> {
    client.api().get::<Value>(ME, &()).await
}

#[tokio::test]
async fn pat_sends_bearer_token_and_user_agent() {
    let server = TestServer::start(vec![me_route(|a| a == "Bearer dapi-123")]).await;
    let cfg = Config::builder().host(&server.url).token("dapi-123").without_environment().build().expect("cfg");
    let client = Client::builder().config(cfg).product("etl", "2.0").build().await.expect("client");
    assert_eq!(client.auth_type(), "pat");
    assert_eq!(me(&client).await.expect("me")["userName"], "me@example.com");
    let ua = server.requests()[0].header("user-agent").expect("ua");
    assert!(ua.starts_with(&format!("etl/2.0 brickwork/{}", env!("CARGO_PKG_VERSION"))), "{ua}");
    assert!(ua.ends_with(" auth/pat"), "{ua}");
}

#[tokio::test]
async fn wrong_token_is_a_typed_permission_error() {
    let server = TestServer::start(vec![me_route(|a| a == "Bearer right")]).await;
    let cfg = Config::builder().host(&server.url).token("wrong").without_environment().build().expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    let err = me(&client).await.expect_err("403");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.error_code(), Some("403"));
    assert_eq!(err.message(), "Invalid access token.");
    assert_eq!(server.requests().len(), 1, "a 403 is not retried");
}

#[tokio::test]
async fn basic_sends_base64_credentials() {
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:s3cret"));
    let server = TestServer::start(vec![me_route(move |a| a == expected)]).await;
    let cfg = Config::builder()
        .host(&server.url)
        .username("alice")
        .password("s3cret")
        .without_environment()
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "basic");
    me(&client).await.expect("me");
}

/// An OIDC server: host metadata, discovery document and a token endpoint
/// that issues `tok-N` with the given lifetime.
fn oidc_routes(
    base: Arc<std::sync::OnceLock<String>>,
    lifetime_secs: Value,
) -> Vec<(&'static str, &'static str, common::Handler)> {
    let b1 = base.clone();
    let b2 = base;
    vec![
        (
            "GET",
            "/.well-known/databricks-config",
            handler(move |_, _| {
                Reply::json(
                    200,
                    json!({"oidc_endpoint": format!("{}/oidc", b1.get().cloned().unwrap_or_default()), "workspace_id": "900800700600"}),
                )
            }),
        ),
        (
            "GET",
            "/oidc/.well-known/oauth-authorization-server",
            handler(move |_, _| {
                let base = b2.get().cloned().unwrap_or_default();
                Reply::json(
                    200,
                    json!({
                        "issuer": format!("{base}/oidc"),
                        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
                        "token_endpoint": format!("{base}/oidc/v1/token"),
                    }),
                )
            }),
        ),
        (
            "POST",
            "/oidc/v1/token",
            handler(move |_, n| {
                Reply::json(200, json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": lifetime_secs.clone(), "scope": "all-apis"}))
                    .delayed(Duration::from_millis(50))
            }),
        ),
    ]
}

async fn oidc_server(lifetime_secs: u64, extra: Vec<(&'static str, &'static str, common::Handler)>) -> TestServer {
    oidc_server_with_lifetime(json!(lifetime_secs), extra).await
}

async fn oidc_server_with_lifetime(
    lifetime_secs: Value,
    extra: Vec<(&'static str, &'static str, common::Handler)>,
) -> TestServer {
    let base = Arc::new(std::sync::OnceLock::new());
    let mut routes = oidc_routes(base.clone(), lifetime_secs);
    routes.extend(extra);
    let server = TestServer::start(routes).await;
    let _ = base.set(server.url.clone());
    server
}

#[tokio::test]
async fn oauth_m2m_discovers_endpoints_and_posts_client_credentials() {
    let server = oidc_server(3600, vec![me_route(|a| a.starts_with("Bearer tok-"))]).await;
    let cfg = Config::builder()
        .host(&server.url)
        .client_id("sp-app-id")
        .client_secret("sp-secret")
        .without_environment()
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "oauth-m2m");
    me(&client).await.expect("me");
    me(&client).await.expect("me again");
    let token_calls = server.requests_to("/oidc/v1/token");
    assert_eq!(token_calls.len(), 1, "the token is cached");
    let call = &token_calls[0];
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("sp-app-id:sp-secret"));
    assert_eq!(call.header("authorization"), Some(expected));
    assert_eq!(call.header("content-type").as_deref(), Some("application/x-www-form-urlencoded"));
    let form = call.form();
    assert_eq!(form.get("grant_type").map(String::as_str), Some("client_credentials"));
    assert_eq!(form.get("scope").map(String::as_str), Some("all-apis"));
    assert!(!form.contains_key("client_secret"), "the secret goes in the header only");
    let ua = server.requests_to(ME)[0].header("user-agent").expect("ua");
    assert!(ua.ends_with("auth/oauth-m2m"));
}

#[tokio::test]
async fn fifty_concurrent_first_callers_share_one_token_request() {
    let server = oidc_server(3600, vec![me_route(|a| a == "Bearer tok-0")]).await;
    let client = Client::new(m2m(&server.url)).await.expect("client");
    let calls = (0..50).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { me(&c).await.map(|_| ()) })
    });
    for result in futures::future::join_all(calls).await {
        result.expect("join").expect("call");
    }
    assert_eq!(server.requests_to("/oidc/v1/token").len(), 1, "50 concurrent callers share one token request");
}

/// Wait (boundedly) until `server` has seen `n` token requests.
async fn token_requests_reach(server: &TestServer, n: usize) {
    for _ in 0..500 {
        if server.requests_to("/oidc/v1/token").len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the token endpoint saw {} requests, expected {n}", server.requests_to("/oidc/v1/token").len());
}

#[tokio::test]
async fn a_stale_token_is_served_while_one_background_refresh_fetches_the_next() {
    // Tokens live 4 s and go stale half-way; every refresh after the first hangs.
    let server = scripted_oauth_server(
        |_| None,
        |_, n| {
            let reply = Reply::json(200, json!({"access_token": format!("tok-{n}"), "expires_in": 4}));
            if n == 0 {
                reply
            } else {
                reply.delayed(Duration::from_secs(600))
            }
        },
        vec![me_route(|a| a.starts_with("Bearer tok-"))],
    )
    .await;
    let client = Client::new(m2m(&server.url)).await.expect("client");
    me(&client).await.expect("first call fetches a token");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let calls = (0..50).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { me(&c).await.map(|_| ()) })
    });
    // A bound on a hang, not a timing: callers that waited for the refresh would take 600 s.
    let results = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(calls))
        .await
        .expect("callers were served the stale token without waiting for its refresh");
    for result in results {
        result.expect("join").expect("call");
    }
    token_requests_reach(&server, 2).await;
    assert_eq!(server.requests_to("/oidc/v1/token").len(), 2, "one background refresh for 50 callers");
    let used: std::collections::BTreeSet<String> =
        server.requests_to(ME).iter().filter_map(|r| r.header("authorization")).collect();
    assert_eq!(used.into_iter().collect::<Vec<_>>(), vec!["Bearer tok-0"]);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_valid_token_until_it_expires() {
    // Tokens live 4 s (stale from 2 s, in the expiry margin from 3 s); only
    // the first token request succeeds. The exact states and backoffs are
    // unit-tested on a paused clock in `auth/token.rs`.
    let server = scripted_oauth_server(
        |_| None,
        |_, n| match n {
            0 => Reply::json(200, json!({"access_token": "tok-0", "expires_in": 4})),
            _ => Reply::json(400, json!({"error": "invalid_client", "error_description": "client disabled"})),
        },
        vec![me_route(|a| a == "Bearer tok-0")],
    )
    .await;
    let client = Client::new(m2m(&server.url)).await.expect("client");
    let start = std::time::Instant::now();
    me(&client).await.expect("first call fetches a token");
    let at = |ms: u64| tokio::time::sleep_until((start + Duration::from_millis(ms)).into());

    at(2500).await;
    me(&client).await.expect("a refresh is due and fails: the still-valid token is used");
    token_requests_reach(&server, 2).await;
    me(&client).await.expect("still valid after the failed refresh");

    at(4300).await;
    let err = me(&client).await.expect_err("expired and no new token");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
}

#[tokio::test]
async fn oauth_m2m_bad_client_is_an_auth_error_without_the_secret() {
    let server = TestServer::start(vec![me_route(|_| true)]).await;
    // An explicit discovery document whose token endpoint rejects the client.
    let token_server = TestServer::start(vec![(
        "POST",
        "/token",
        handler(|_, _| {
            Reply::json(401, json!({"error": "invalid_client", "error_description": "Client authentication failed"}))
        }),
    )])
    .await;
    let disco = TestServer::start(vec![(
        "GET",
        "/disco",
        handler({
            let t = token_server.url.clone();
            move |_, _| Reply::json(200, json!({"token_endpoint": format!("{t}/token")}))
        }),
    )])
    .await;
    let cfg = Config::builder()
        .host(&server.url)
        .client_id("id")
        .client_secret("very-secret-value")
        .set("discovery_url", format!("{}/disco", disco.url))
        .without_environment()
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("discovery works");
    let err = me(&client).await.expect_err("token rejected");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.message().contains("invalid_client: Client authentication failed"), "{}", err.message());
    assert!(!format!("{err:?}{err}").contains("very-secret-value"));
    assert!(server.requests_to(ME).is_empty(), "no API call without a token");
}

#[tokio::test]
async fn metadata_service_sends_version_and_host_headers() {
    let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs() + 3600;
    let meta = TestServer::start(vec![(
        "GET",
        "/token",
        handler(move |_, _| {
            Reply::json(200, json!({"access_token": "meta-tok", "token_type": "Bearer", "expires_on": expires}))
        }),
    )])
    .await;
    let server = TestServer::start(vec![me_route(|a| a == "Bearer meta-tok")]).await;
    let cfg = Config::builder()
        .host(&server.url)
        .metadata_service_url(format!("{}/token", meta.url))
        .without_environment()
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "metadata-service");
    me(&client).await.expect("me");
    let call = &meta.requests()[0];
    assert_eq!(call.header("x-databricks-metadata-version").as_deref(), Some("1"));
    assert_eq!(call.header("x-databricks-host"), Some(server.url.clone()));
    // The metadata URL is a secret too.
    assert!(!format!("{:?}", client.config()).contains("/token"));
}

/// A fake Go CLI of `version` (as `databricks version --output json` prints
/// it) that records its arguments; `hang` makes `auth token` never answer.
fn fake_cli(dir: &std::path::Path, version: (u32, u32, u32), hang: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("databricks");
    let args_file = dir.join("args");
    let (major, minor, patch) = version;
    let token = if hang {
        "sleep 600".to_string()
    } else {
        "echo '{\"access_token\":\"cli-tok\",\"token_type\":\"Bearer\",\"expiry\":\"2099-01-01T00:00:00Z\"}'"
            .to_string()
    };
    let body = format!(
        "#!/bin/sh\nif [ \"$1\" = version ]; then echo '{{\"Major\":{major},\"Minor\":{minor},\"Patch\":{patch}}}'; exit 0; fi\necho \"$@\" > {}\n{token}\n",
        args_file.display()
    );
    std::fs::write(&script, body).expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, args_file)
}

#[tokio::test]
async fn databricks_cli_uses_the_profile_force_refresh_and_a_timeout_and_skips_the_pip_cli() {
    let server = TestServer::start(vec![me_route(|a| a == "Bearer cli-tok")]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg_file = dir.path().join("databrickscfg");
    std::fs::write(&cfg_file, format!("[dev]\nhost = {}\n", server.url)).expect("cfg file");
    let (cli, args_file) = fake_cli(dir.path(), (0, 300, 0), false);
    let cfg = Config::builder()
        .profile("dev")
        .config_file(cfg_file.display().to_string())
        .databricks_cli_path(cli.display().to_string())
        .without_environment()
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    me(&client).await.expect("me");
    let args = std::fs::read_to_string(&args_file).expect("args");
    assert_eq!(args.trim(), "auth token --profile dev --force-refresh", "the profile's own login, refreshed");

    // A CLI that hangs is an error after the timeout, not a hang.
    let hung = tempfile::tempdir().expect("tempdir");
    let (cli, _) = fake_cli(hung.path(), (0, 300, 0), true);
    let cfg = Config::builder()
        .host(&server.url)
        .databricks_cli_path(cli.display().to_string())
        .http_timeout(Duration::from_millis(500))
        .without_environment()
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("hung CLI");
    assert!(err.message().contains("did not answer"), "{err}");

    // The legacy pip CLI has no `auth token`: it is not used.
    let legacy = tempfile::tempdir().expect("tempdir");
    let script = legacy.path().join("databricks");
    std::fs::write(&script, "#!/usr/bin/python3\nfrom databricks_cli.cli import main\nmain()\n").expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path_var = legacy.path().display().to_string();
    let cfg = Config::builder().host(&server.url).environment(env(&[("PATH", &path_var)])).build().expect("cfg");
    let err = Client::new(cfg).await.expect_err("no usable credentials");
    assert!(!err.message().contains("databricks-cli:"), "the pip CLI was not run: {err}");
}

/// OAuth endpoints that fail as `fail(route, n)` says before answering.
async fn flaky_oauth_server(
    lifetime_secs: u64,
    fail: fn(&str, usize) -> Option<u16>,
    extra: Vec<(&'static str, &'static str, common::Handler)>,
) -> TestServer {
    scripted_oauth_server(
        move |n| fail("discovery", n),
        move |_, n| match fail("token", n) {
            Some(status) => Reply::json(status, json!({"error": "temporarily_unavailable"})),
            None => Reply::json(200, json!({"access_token": format!("tok-{n}"), "expires_in": lifetime_secs})),
        },
        extra,
    )
    .await
}

/// OAuth endpoints: discovery fails with `discovery_failure(n)` if any, the
/// token endpoint answers `token(request, n)`.
async fn scripted_oauth_server(
    discovery_failure: impl Fn(usize) -> Option<u16> + Send + Sync + 'static,
    token: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    extra: Vec<(&'static str, &'static str, common::Handler)>,
) -> TestServer {
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let b = base.clone();
    let mut routes = vec![
        (
            "GET",
            "/oidc/.well-known/oauth-authorization-server",
            handler(move |_, n| match discovery_failure(n) {
                Some(status) => Reply::text(status, "busy"),
                None => {
                    let base = b.get().cloned().unwrap_or_default();
                    Reply::json(200, json!({"token_endpoint": format!("{base}/oidc/v1/token")}))
                }
            }),
        ),
        ("POST", "/oidc/v1/token", handler(token)),
    ];
    routes.extend(extra);
    let server = TestServer::start(routes).await;
    let _ = base.set(server.url.clone());
    server
}

fn m2m(url: &str) -> Config {
    Config::builder()
        .host(url)
        .client_id("sp")
        .client_secret("very-secret-value")
        .without_environment()
        .build()
        .expect("cfg")
}

#[tokio::test]
async fn discovery_and_token_endpoints_are_retried_when_busy() {
    let server = flaky_oauth_server(
        3600,
        |route, n| match (route, n) {
            ("discovery", 0) => Some(500),
            ("token", 0 | 1) => Some(503),
            _ => None,
        },
        vec![me_route(|a| a.starts_with("Bearer tok-"))],
    )
    .await;
    let client = Client::new(m2m(&server.url)).await.expect("built after the endpoints recovered");
    me(&client).await.expect("me");
    assert_eq!(server.requests_to("/oidc/v1/token").len(), 3);
}

#[tokio::test]
async fn a_call_whose_token_refresh_failed_transiently_is_sent_again() {
    const JOBS: &str = "/api/2.2/jobs/create";
    let jobs = ("POST", JOBS, handler(|_, _| Reply::json(200, json!({"job_id": 1}))));
    // Tokens expire at once: every call refreshes. Refresh 2 fails four times in a row.
    let server =
        flaky_oauth_server(0, |route, n| (route == "token" && (1..=4).contains(&n)).then_some(503), vec![jobs]).await;
    let client = Client::new(m2m(&server.url)).await.expect("client");
    let created: Value = client.api().post(JOBS, &json!({"name": "once"})).await.expect("sent after the refresh");
    assert_eq!(created["job_id"], 1);
    assert_eq!(server.requests_to(JOBS).len(), 1, "the POST went out once, after a token was had");
}

#[tokio::test]
async fn metadata_service_must_be_on_this_machine() {
    let server = TestServer::start(vec![me_route(|_| true)]).await;
    let cfg = Config::builder()
        .host(&server.url)
        .metadata_service_url("https://metadata.example.com/secret-path/token")
        .without_environment()
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("a remote metadata service is refused");
    assert!(err.message().contains("must point to localhost"), "{err}");
    assert!(!format!("{err:?}{err}").contains("secret-path"), "the URL is a secret");
}

#[tokio::test]
async fn hostile_token_lifetimes_are_errors_or_clamped_never_panics() {
    // A metadata service expiry past the end of the clock.
    let meta = TestServer::start(vec![(
        "GET",
        "/token",
        handler(|_, _| Reply::json(200, json!({"access_token": "t", "token_type": "Bearer", "expires_on": 1.7e19}))),
    )])
    .await;
    let server = TestServer::start(vec![me_route(|_| true)]).await;
    let cfg = Config::builder()
        .host(&server.url)
        .metadata_service_url(format!("{}/token", meta.url))
        .without_environment()
        .build()
        .expect("cfg");
    let outcome = match Client::new(cfg).await {
        Ok(client) => me(&client).await.map(|_| ()),
        Err(e) => Err(e),
    };
    let err = outcome.expect_err("an expiry past the end of the clock is refused");
    assert!(err.message().contains("invalid expiry"), "{err}");
    // An OAuth lifetime of 1e19 seconds is clamped, and the token works.
    let server = oidc_server_with_lifetime(json!(1e19), vec![me_route(|a| a.starts_with("Bearer tok-"))]).await;
    let cfg = Config::builder()
        .host(&server.url)
        .client_id("sp")
        .client_secret("very-secret-value")
        .without_environment()
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    me(&client).await.expect("a clamped token is used");
}

#[tokio::test]
async fn env_oidc_exchanges_the_id_token() {
    let server = oidc_server(3600, vec![me_route(|a| a.starts_with("Bearer tok-"))]).await;
    let cfg = Config::builder()
        .host(&server.url)
        .client_id("sp-app-id")
        .auth_type("env-oidc")
        .environment(env(&[("DATABRICKS_OIDC_TOKEN", "id.jwt.token")]))
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "env-oidc");
    me(&client).await.expect("me");
    let form = server.requests_to("/oidc/v1/token")[0].form();
    assert_eq!(form.get("grant_type").map(String::as_str), Some("urn:ietf:params:oauth:grant-type:token-exchange"));
    assert_eq!(form.get("subject_token_type").map(String::as_str), Some("urn:ietf:params:oauth:token-type:jwt"));
    assert_eq!(form.get("subject_token").map(String::as_str), Some("id.jwt.token"));
    assert_eq!(form.get("client_id").map(String::as_str), Some("sp-app-id"));
}

#[tokio::test]
async fn file_oidc_reads_the_id_token_file_and_env_oidc_skips_without_token() {
    let server = oidc_server(3600, vec![me_route(|a| a.starts_with("Bearer tok-"))]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("id-token");
    std::fs::write(&path, "file.jwt\n").expect("write");
    let cfg = Config::builder()
        .host(&server.url)
        .set("oidc_token_filepath", path.display().to_string())
        .without_environment()
        .build()
        .expect("cfg");
    // env-oidc comes first in the chain but has no token in the environment.
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "file-oidc");
    me(&client).await.expect("me");
    let form = server.requests_to("/oidc/v1/token")[0].form();
    assert_eq!(form.get("subject_token").map(String::as_str), Some("file.jwt"));
}

#[cfg(unix)]
#[tokio::test]
async fn databricks_cli_token_is_used_and_cli_errors_surface() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start(vec![me_route(|a| a == "Bearer cli-tok")]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("databricks");
    let args_file = dir.path().join("args");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$1\" = version ]; then echo '{{\"Major\":0,\"Minor\":150,\"Patch\":0}}'; exit 0; fi\necho \"$@\" > {}\necho '{{\"access_token\":\"cli-tok\",\"token_type\":\"Bearer\",\"expiry\":\"2099-01-01T00:00:00.000000+00:00\"}}'\n",
            args_file.display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path_var = dir.path().display().to_string();
    let cfg = Config::builder().host(&server.url).environment(env(&[("PATH", &path_var)])).build().expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "databricks-cli");
    me(&client).await.expect("me");
    let args = std::fs::read_to_string(&args_file).expect("args");
    assert_eq!(args.trim(), format!("auth token --host {}", server.url));

    let failing = dir.path().join("failing-cli");
    std::fs::write(&failing, "#!/bin/sh\necho 'Error: refresh token is invalid' >&2\nexit 1\n").expect("write");
    std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cfg = Config::builder()
        .host(&server.url)
        .databricks_cli_path(failing.display().to_string())
        .without_environment()
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("cli fails");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(
        err.message()
            .starts_with("default auth: databricks-cli: cannot get access token: Error: refresh token is invalid"),
        "{}",
        err.message()
    );
}

/// A workspace whose token endpoint exchanges the ID token of a CI job (from
/// the GitHub or Azure DevOps endpoints on the same server) for `tok-<n>`.
async fn ci_oidc_server() -> TestServer {
    let exchange = |r: &Recorded, n| {
        let form = r.form();
        let valid = form.get("grant_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:grant-type:token-exchange")
            && matches!(form.get("subject_token").map(String::as_str), Some("gh-id-token" | "ado-id-token"))
            && form.get("client_id").map(String::as_str) == Some("sp-client");
        if valid {
            Reply::json(200, json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}))
        } else {
            Reply::json(400, json!({"error": "invalid_grant"}))
        }
    };
    let ci_endpoints = vec![
        (
            "GET",
            "/github/idtoken",
            handler(|r: &Recorded, _| match r.header("authorization").as_deref() {
                Some("Bearer gh-request-token") => Reply::json(200, json!({"count": 1, "value": "gh-id-token"})),
                _ => Reply::json(401, json!({"message": "bad request token"})),
            }),
        ),
        (
            "POST",
            "/org/proj-1/_apis/distributedtask/hubs/build/plans/plan-1/jobs/job-1/oidctoken",
            handler(|r: &Recorded, _| match r.header("authorization").as_deref() {
                Some("Bearer ado-access-token") => Reply::json(200, json!({"oidcToken": "ado-id-token"})),
                _ => Reply::json(401, json!({"message": "bad access token"})),
            }),
        ),
        me_route(|a| a.starts_with("Bearer tok-")),
    ];
    scripted_oauth_server(|_| None, exchange, ci_endpoints).await
}

fn ci_config(url: &str, vars: &[(&str, &str)]) -> Config {
    Config::builder().host(url).client_id("sp-client").environment(env(vars)).build().expect("cfg")
}

#[tokio::test]
async fn github_oidc_exchanges_the_jobs_id_token_for_the_token_endpoint_audience() {
    let server = ci_oidc_server().await;
    let request_url = format!("{}/github/idtoken?api-version=2.0", server.url);
    let vars = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", request_url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token"),
    ];
    let client = Client::new(ci_config(&server.url, &vars)).await.expect("client");
    assert_eq!(client.auth_type(), "github-oidc");
    me(&client).await.expect("me");
    let asked = &server.requests_to("/github/idtoken")[0];
    let audience = asked.query_pairs().into_iter().find(|(k, _)| k == "audience").map(|(_, v)| v);
    assert_eq!(audience, Some(format!("{}/oidc/v1/token", server.url)), "default audience: the token endpoint");
    assert_eq!(
        server.requests_to("/oidc/v1/token")[0].form().get("subject_token").map(String::as_str),
        Some("gh-id-token")
    );

    // An explicit audience wins.
    let cfg = Config::builder()
        .host(&server.url)
        .client_id("sp-client")
        .set("token_audience", "https://my-audience")
        .environment(env(&vars))
        .build()
        .expect("cfg");
    me(&Client::new(cfg).await.expect("client")).await.expect("me");
    let asked = server.requests_to("/github/idtoken").pop().expect("asked");
    assert!(asked.query_pairs().contains(&("audience".into(), "https://my-audience".into())));
}

#[tokio::test]
async fn azure_devops_oidc_exchanges_the_pipelines_id_token() {
    let server = ci_oidc_server().await;
    let collection = format!("{}/org/", server.url);
    let vars = [
        ("SYSTEM_ACCESSTOKEN", "ado-access-token"),
        ("SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", collection.as_str()),
        ("SYSTEM_TEAMPROJECTID", "proj-1"),
        ("SYSTEM_HOSTTYPE", "build"),
        ("SYSTEM_PLANID", "plan-1"),
        ("SYSTEM_JOBID", "job-1"),
    ];
    let client = Client::new(ci_config(&server.url, &vars)).await.expect("client");
    assert_eq!(client.auth_type(), "azure-devops-oidc");
    me(&client).await.expect("me");
    let path = "/org/proj-1/_apis/distributedtask/hubs/build/plans/plan-1/jobs/job-1/oidctoken";
    assert_eq!(server.requests_to(path)[0].query, "api-version=7.2-preview.1");
}

#[tokio::test]
async fn ci_oidc_does_not_apply_outside_ci_or_when_the_ci_refuses() {
    let server = ci_oidc_server().await;
    let err = Client::new(ci_config(&server.url, &[])).await.expect_err("no CI variables");
    assert!(err.message().contains("cannot configure default credentials"), "{err}");
    let request_url = format!("{}/github/idtoken?api-version=2.0", server.url);
    let vars = [("ACTIONS_ID_TOKEN_REQUEST_URL", request_url.as_str()), ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong")];
    let err = Client::new(ci_config(&server.url, &vars)).await.expect_err("GitHub refused");
    assert!(err.message().contains("cannot configure default credentials"), "{err}");
    assert!(!format!("{err:?}").contains("wrong"), "the request token is not shown");
}

#[test]
fn the_chain_follows_the_official_order() {
    // databricks-sdk-py 0.162 `DefaultCredentials`, in order.
    const OFFICIAL: [&str; 18] = [
        "pat",
        "basic",
        "metadata-service",
        "oauth-m2m",
        "env-oidc",
        "file-oidc",
        "github-oidc",
        "azure-client-secret",
        "github-oidc-azure",
        "azure-cli",
        "azure-devops-oidc",
        "external-browser",
        "databricks-cli",
        "runtime-oauth",
        "runtime",
        "google-credentials",
        "google-id",
        "model-serving",
    ];
    // The Go SDK's managed identity, which the Python SDK lacks, comes
    // before azure-client-secret and azure-cli, as in the Go SDK (whose
    // other Azure methods are in another order than the Python SDK's).
    const GO_ONLY: [&str; 1] = ["azure-msi"];
    let ours = brickwork::auth::DefaultCredentials::default().auth_types();
    let shared: Vec<&str> = ours.iter().copied().filter(|name| !GO_ONLY.contains(name)).collect();
    assert_eq!(shared, OFFICIAL, "every official strategy, in the official order");
    let msi = ours.iter().position(|n| *n == "azure-msi");
    assert_eq!(msi.map(|i| ours[i + 1]), Some("azure-client-secret"));
}

#[tokio::test]
async fn model_serving_uses_the_mounted_token_and_the_environments_host() {
    use brickwork::auth::{DefaultCredentials, ModelServing, Pat};
    let server = TestServer::start(vec![me_route(|a| a.starts_with("Bearer serving-token"))]).await;
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("model-dependencies-oauth-token");
    let write = |value: &str| {
        let json = format!(r#"{{"OAUTH_TOKEN": [{{"oauthTokenValue": "{value}"}}]}}"#);
        std::fs::write(&token_file, json).expect("write")
    };
    write("serving-token");
    let chain = || {
        let serving = ModelServing::with_token_file(&token_file).reread_after(Duration::from_secs(1));
        DefaultCredentials::with_strategies(vec![Arc::new(Pat), Arc::new(serving)])
    };
    let vars = [("IS_IN_DB_MODEL_SERVING_ENV", "true"), ("DATABRICKS_MODEL_SERVING_HOST_URL", server.url.as_str())];
    let cfg = Config::builder().environment(env(&vars)).build().expect("cfg");
    let client = Client::builder().config(cfg).credentials(chain()).build().await.expect("client");
    assert_eq!(client.auth_type(), "model-serving");
    assert_eq!(client.config().host(), Some(server.url.as_str()));
    me(&client).await.expect("me");

    // The platform rotates the token: the file is read again.
    write("serving-token-rotated");
    let mut rotated = false;
    for _ in 0..100 {
        me(&client).await.expect("me");
        let last = server.requests_to(ME).last().and_then(|r| r.header("authorization"));
        if last.as_deref() == Some("Bearer serving-token-rotated") {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rotated, "the rotated token was read and sent");

    // Outside a serving endpoint it does not apply; chosen, it says where it would.
    let cfg =
        Config::builder().host(&server.url).auth_type("model-serving").environment(env(&[])).build().expect("cfg");
    let err = Client::builder().config(cfg).credentials(chain()).build().await.expect_err("not serving");
    assert!(err.message().contains("it applies only inside a Databricks model serving endpoint"), "{err}");
}

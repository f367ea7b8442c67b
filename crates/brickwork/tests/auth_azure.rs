//! The Azure auth types against local fakes of Entra ID, Azure Resource
//! Manager, the managed identity endpoints, GitHub's ID token endpoint and
//! the Azure CLI, all served by one recording server that is also the
//! workspace.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use brickwork::config::{Source, ARM_DATABRICKS_RESOURCE_ID};
use brickwork::{Client, Config, ErrorKind};
use common::{env, handler, Recorded, Reply, TestServer};
use serde_json::{json, Value};

const ME: &str = "/api/2.0/preview/scim/v2/Me";
const TENANT_TOKEN: &str = "/tenant-1/oauth2/token";
const MANAGEMENT: &str = "https://management.core.windows.net/";
const RESOURCE_ID: &str = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Databricks/workspaces/ws-1";

/// What a token is for, told from its value (`<kind>-<resource tag>-<n>`).
fn resource_tag(resource: &str) -> &'static str {
    match resource {
        ARM_DATABRICKS_RESOURCE_ID => "dbx",
        MANAGEMENT => "mgmt",
        "https://management.azure.com/" => "arm",
        _ => "unknown",
    }
}

/// `Me` answers 200 only for an Azure Databricks token, and echoes the
/// Azure headers it got.
fn me_route() -> (&'static str, &'static str, common::Handler) {
    (
        "GET",
        ME,
        handler(|r: &Recorded, _| match r.header("authorization") {
            Some(a) if a.starts_with("Bearer ") && a.contains("-dbx-") => Reply::json(
                200,
                json!({
                    "userName": "sp@contoso.com",
                    "management": r.header("x-databricks-azure-sp-management-token"),
                    "resource_id": r.header("x-databricks-azure-workspace-resource-id"),
                }),
            ),
            _ => Reply::json(401, json!({"error_code": "401", "message": "Invalid access token."})),
        }),
    )
}

/// Entra ID's v1 token endpoint for tenant `tenant-1`: a client secret
/// `s3cret` or a client assertion `gh-id-token` of client `app-1`; tokens
/// live `lifetime` seconds (a string, as Entra ID sends it).
fn entra_route(lifetime: &'static str) -> (&'static str, &'static str, common::Handler) {
    (
        "POST",
        TENANT_TOKEN,
        handler(move |r: &Recorded, n| {
            let form = r.form();
            let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
            let proof_ok = field("client_secret") == "s3cret"
                || (field("client_assertion") == "gh-id-token"
                    && field("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            if field("grant_type") != "client_credentials" || field("client_id") != "app-1" || !proof_ok {
                return Reply::json(
                    401,
                    json!({
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided. Trace ID: 1f2e Correlation ID: 3d4c Timestamp: 2026-11-25",
                        "error_uri": "https://login.microsoftonline.com/error?code=7000215",
                    }),
                );
            }
            let tag = resource_tag(field("resource"));
            Reply::json(
                200,
                json!({"access_token": format!("aad-{tag}-{n}"), "token_type": "Bearer", "expires_in": lifetime}),
            )
        }),
    )
}

/// Resource Manager's answer for the workspace, to a Resource Manager token.
fn arm_route() -> (&'static str, &'static str, common::Handler) {
    (
        "GET",
        RESOURCE_ID,
        handler(|r: &Recorded, _| match r.header("authorization") {
            Some(a) if a.contains("-arm-") => {
                Reply::json(200, json!({"properties": {"workspaceUrl": "adb-123.4.azuredatabricks.net"}}))
            }
            _ => Reply::json(401, json!({"error": {"code": "InvalidAuthenticationToken", "message": "Bad token."}})),
        }),
    )
}

async fn azure_server(lifetime: &'static str) -> TestServer {
    // The login pages redirect to the tenant's Entra ID on this same
    // server, whose URL is known once it listens.
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let (b1, b2) = (base.clone(), base.clone());
    let redirect = move |b: std::sync::Arc<std::sync::OnceLock<String>>, path: &'static str| {
        handler(move |_, _| {
            let location = format!("{}/tenant-1/oauth2/{path}?client_id=x", b.get().cloned().unwrap_or_default());
            Reply::text(302, "").header("location", &location)
        })
    };
    let server = TestServer::start(vec![
        me_route(),
        entra_route(lifetime),
        arm_route(),
        ("GET", "/aad/auth", redirect(b1, "authorize")),
        ("GET", "/oidc/oauth2/v2.0/authorize", redirect(b2, "v2.0/authorize")),
    ])
    .await;
    let _ = base.set(server.url.clone());
    server
}

async fn me(client: &Client) -> brickwork::Result<Value> {
    client.api().get::<Value>(ME, &()).await
}

fn secret_config(server: &TestServer) -> brickwork::ConfigBuilder {
    Config::builder()
        .host(&server.url)
        .set("cloud", "azure")
        .set("azure_client_id", "app-1")
        .set("azure_client_secret", "s3cret")
        .environment(env(&[("AZURE_AUTHORITY_HOST", &server.url)]))
}

#[tokio::test]
async fn azure_client_secret_sends_the_databricks_and_management_tokens_and_refreshes_them() {
    let server = azure_server("1").await;
    let cfg = secret_config(&server)
        .set("azure_tenant_id", "tenant-1")
        .set("azure_workspace_resource_id", RESOURCE_ID)
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "azure-client-secret");
    let answer = me(&client).await.expect("me");
    assert!(answer["management"].as_str().is_some_and(|t| t.starts_with("aad-mgmt-")), "{answer}");
    assert_eq!(answer["resource_id"], RESOURCE_ID);
    let resources: Vec<String> =
        server.requests_to(TENANT_TOKEN).iter().filter_map(|r| r.form().get("resource").cloned()).collect();
    assert!(resources.contains(&ARM_DATABRICKS_RESOURCE_ID.to_string()) && resources.contains(&MANAGEMENT.to_string()));
    assert!(server.requests_to("/aad/auth").is_empty(), "a configured tenant is not looked up");

    // A one-second token is expired after a second: the next call gets a new one.
    let before = server.requests_to(TENANT_TOKEN).len();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    me(&client).await.expect("me after expiry");
    assert!(server.requests_to(TENANT_TOKEN).len() >= before + 2, "both tokens refreshed");
}

#[tokio::test]
async fn azure_client_secret_reads_the_tenant_from_the_login_redirect() {
    let server = azure_server("3600").await;
    let client = Client::new(secret_config(&server).build().expect("cfg")).await.expect("client");
    me(&client).await.expect("me");
    assert_eq!(server.requests_to("/aad/auth").len(), 1);
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_auth_error_with_entra_ids_reason_and_no_secret() {
    let server = azure_server("3600").await;
    let cfg = secret_config(&server).set("azure_tenant_id", "tenant-1").set("azure_client_secret", "wrong-secret");
    let client = Client::new(cfg.build().expect("cfg")).await.expect("client");
    let err = me(&client).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("invalid_client: AADSTS7000215: Invalid client secret provided."), "{text}");
    assert!(text.contains("See https://login.microsoftonline.com/error?code=7000215"), "{text}");
    assert!(!text.contains("Trace ID") && !text.contains("wrong-secret"), "{text}");
}

#[tokio::test]
async fn the_host_is_resolved_from_the_workspace_resource_id() {
    let server = azure_server("3600").await;
    let overrides = [
        ("AZURE_AUTHORITY_HOST", server.url.as_str()),
        ("BRICKWORK_AZURE_RESOURCE_MANAGER_ENDPOINT", server.url.as_str()),
    ];
    // A service principal with a resource id and no host.
    let by_resource_id = |resource_id: &str| {
        Config::builder()
            .set("azure_workspace_resource_id", resource_id)
            .set("azure_client_id", "app-1")
            .set("azure_client_secret", "s3cret")
            .set("azure_tenant_id", "tenant-1")
            .environment(env(&overrides))
            .build()
            .expect("cfg")
    };
    let cfg = by_resource_id(RESOURCE_ID);
    assert_eq!(cfg.host(), None);
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.config().host(), Some("https://adb-123.4.azuredatabricks.net"));
    assert_eq!(client.config().source("host"), Some(&Source::Discovered("azure_workspace_resource_id")));
    let lookup = &server.requests_to(RESOURCE_ID)[0];
    assert_eq!(lookup.query, "api-version=2018-04-01");
    let resources: Vec<String> =
        server.requests_to(TENANT_TOKEN).iter().filter_map(|r| r.form().get("resource").cloned()).collect();
    assert!(
        resources.contains(&"https://management.azure.com/".to_string()),
        "the override moves where Resource Manager is reached, not the resource of its tokens: {resources:?}"
    );

    // A resource Resource Manager does not know: its error, named.
    let cfg = by_resource_id("/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Databricks/workspaces/gone");
    let err = Client::new(cfg).await.expect_err("unknown workspace");
    assert!(err.message().contains("cannot resolve the workspace of azure_workspace_resource_id"), "{err}");
}

#[tokio::test]
async fn an_unknown_azure_environment_is_a_configuration_error() {
    let server = azure_server("3600").await;
    let cfg = secret_config(&server).set("azure_tenant_id", "tenant-1").set("azure_environment", "mars");
    let err = Client::new(cfg.build().expect("cfg")).await.expect_err("mars");
    assert!(err.message().contains("azure_environment \"mars\" is not one of PUBLIC, USGOVERNMENT, CHINA"), "{err}");
    // On another cloud a stray ARM_ENVIRONMENT is not read at all.
    let cfg = Config::builder()
        .host("https://dbc-1.cloud.databricks.com")
        .environment(env(&[("ARM_ENVIRONMENT", "german")]))
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("no credentials");
    assert!(err.message().contains("cannot configure default credentials"), "{err}");
}

#[tokio::test]
async fn a_chosen_azure_method_that_cannot_apply_says_what_it_needs() {
    let server = azure_server("3600").await;
    let cfg = Config::builder()
        .host(&server.url)
        .set("cloud", "azure")
        .set("azure_client_id", "app-1")
        .auth_type("azure-client-secret")
        .environment(env(&[]))
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("no secret");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(
        err.message().contains(
            "azure-client-secret was chosen by auth_type but cannot be used: it needs azure_client_secret (not set)"
        ),
        "{err}"
    );
    // Not Azure at all: the condition is named.
    let cfg = Config::builder().host(&server.url).auth_type("azure-cli").environment(env(&[])).build().expect("cfg");
    let err = Client::new(cfg).await.expect_err("not azure");
    assert!(err.message().contains("it applies only on Azure Databricks, with the Azure CLI"), "{err}");
}

#[tokio::test]
async fn github_oidc_azure_presents_the_jobs_id_token_to_entra_id() {
    let server = {
        let mut routes = vec![(
            "GET",
            "/github/idtoken",
            handler(|r: &Recorded, _| {
                let audience = r.query_pairs().into_iter().find(|(k, _)| k == "audience").map(|(_, v)| v);
                match (r.header("authorization").as_deref(), audience.as_deref()) {
                    (Some("Bearer gh-request-token"), Some("api://AzureADTokenExchange")) => {
                        Reply::json(200, json!({"value": "gh-id-token"}))
                    }
                    _ => Reply::json(401, json!({"message": "bad request"})),
                }
            }),
        )];
        let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
        let b = base.clone();
        routes.push((
            "GET",
            "/oidc/oauth2/v2.0/authorize",
            handler(move |_, _| {
                let location = format!("{}/tenant-1/oauth2/v2.0/authorize", b.get().cloned().unwrap_or_default());
                Reply::text(302, "").header("location", &location)
            }),
        ));
        routes.extend([me_route(), entra_route("1")]);
        let server = TestServer::start(routes).await;
        let _ = base.set(server.url.clone());
        server
    };
    let request_url = format!("{}/github/idtoken?api-version=2.0", server.url);
    let vars = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", request_url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token"),
        ("AZURE_AUTHORITY_HOST", server.url.as_str()),
    ];
    let cfg = Config::builder()
        .host(&server.url)
        .set("cloud", "azure")
        .set("azure_client_id", "app-1")
        .environment(env(&vars))
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "github-oidc-azure");
    me(&client).await.expect("me");
    let form = server.requests_to(TENANT_TOKEN)[0].form();
    assert_eq!(form.get("resource").map(String::as_str), Some(ARM_DATABRICKS_RESOURCE_ID));
    assert!(!form.contains_key("client_secret"));

    // A one-second token is expired after a second: a new GitHub ID token is
    // asked for and presented again.
    let (tokens, id_tokens) = (server.requests_to(TENANT_TOKEN).len(), server.requests_to("/github/idtoken").len());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    me(&client).await.expect("me after expiry");
    assert!(server.requests_to(TENANT_TOKEN).len() > tokens, "the Entra ID token was refreshed");
    assert!(server.requests_to("/github/idtoken").len() > id_tokens, "with a fresh GitHub ID token");

    // Outside GitHub Actions it does not apply.
    let cfg = Config::builder()
        .host(&server.url)
        .set("cloud", "azure")
        .set("azure_client_id", "app-1")
        .environment(env(&[("AZURE_AUTHORITY_HOST", &server.url)]))
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("not in CI");
    assert!(err.message().contains("cannot configure default credentials"), "{err}");

    // Chosen, and GitHub refuses the request token: GitHub's answer is named.
    let vars = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", request_url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "expired-request-token"),
        ("AZURE_AUTHORITY_HOST", server.url.as_str()),
    ];
    let cfg = Config::builder()
        .host(&server.url)
        .set("cloud", "azure")
        .set("azure_client_id", "app-1")
        .auth_type("github-oidc-azure")
        .environment(env(&vars))
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("GitHub refused");
    assert!(
        err.message().contains("github-oidc-azure: the GitHub Actions ID token request answered HTTP 401"),
        "{err}"
    );
    assert!(!format!("{err:?}").contains("expired-request-token"));
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[tokio::test]
async fn azure_msi_asks_the_instance_metadata_service_for_both_tokens() {
    let server = TestServer::start(vec![
        me_route(),
        (
            "GET",
            "/metadata/identity/oauth2/token",
            handler(move |r: &Recorded, n| {
                let query: std::collections::HashMap<_, _> = r.query_pairs().into_iter().collect();
                let resource = query.get("resource").cloned().unwrap_or_default();
                if r.header("metadata").as_deref() != Some("true") || query.get("api-version").map(String::as_str) != Some("2018-02-01") {
                    return Reply::text(400, "404 page not found");
                }
                let client = query.get("client_id").cloned().unwrap_or_else(|| "system".into());
                // One second of life, sent as a string as IMDS does.
                let expires_on = (unix_now() + 1).to_string();
                Reply::json(200, json!({"access_token": format!("msi-{}-{n}-{client}", resource_tag(&resource)), "expires_on": expires_on, "token_type": "Bearer"}))
            }),
        ),
    ])
    .await;
    let cfg = Config::builder()
        .host(&server.url)
        .set("cloud", "azure")
        .set("azure_use_msi", "true")
        .set("azure_client_id", "user-assigned-1")
        .environment(env(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", &server.url)]))
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    assert_eq!(client.auth_type(), "azure-msi");
    let answer = me(&client).await.expect("me");
    assert!(answer["management"]
        .as_str()
        .is_some_and(|t| t.starts_with("msi-mgmt-") && t.ends_with("-user-assigned-1")));
}

#[tokio::test]
async fn azure_msi_uses_the_app_service_identity_endpoint_when_there_is_one() {
    let expires_on = unix_now() + 3600;
    let server = TestServer::start(vec![
        me_route(),
        (
            "GET",
            "/msi/token",
            handler(move |r: &Recorded, n| match r.header("x-identity-header").as_deref() {
                Some("app-service-secret") if r.query.contains("api-version=2019-08-01") => {
                    let resource = r.query_pairs().into_iter().find(|(k, _)| k == "resource").map(|(_, v)| v);
                    let tag = resource_tag(resource.as_deref().unwrap_or_default());
                    Reply::json(200, json!({"access_token": format!("msi-{tag}-{n}"), "expires_on": expires_on}))
                }
                _ => Reply::json(401, json!({"error": "unauthorized"})),
            }),
        ),
    ])
    .await;
    let endpoint = format!("{}/msi/token", server.url);
    let vars = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IDENTITY_HEADER", "app-service-secret")];
    let cfg = Config::builder()
        .host(&server.url)
        .set("cloud", "azure")
        .set("azure_use_msi", "true")
        .environment(env(&vars))
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    me(&client).await.expect("me");
    assert!(!format!("{client:?}").contains("app-service-secret"));
}

/// How the fake `az` behaves.
#[derive(Clone, Copy, Default)]
struct FakeAz {
    /// `az account show` says a service principal is logged in (else a person).
    service_principal: bool,
    /// Fails whenever it is asked for a tenant (a federated login).
    refuse_tenant: bool,
    /// Prints only the naive local `expiresOn` of Azure CLIs before 2.54.
    old_cli: bool,
    /// Tokens last this many seconds.
    lifetime: u64,
    /// Never answers.
    hang: bool,
}

/// Write the fake `az` into `dir`; it logs its arguments to `az.log` and
/// prints a token whose claims say whether a person (`upn`) logged in.
fn fake_az(dir: &Path, az: FakeAz) -> PathBuf {
    let claims = if az.service_principal { r#"{"appid":"app-1"}"# } else { r#"{"upn":"ann@contoso.com"}"# };
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
    let user = if az.service_principal {
        r#"{"type":"servicePrincipal","name":"app-1"}"#
    } else {
        r#"{"type":"user","name":"ann@contoso.com"}"#
    };
    let expires_on =
        if az.old_cli { String::new() } else { format!(r#","expires_on":{}"#, unix_now() + az.lifetime.max(1)) };
    let script = format!(
        r#"#!/bin/sh
echo "$@" >> "{log}"
{hang}
if [ "$2" = "show" ]; then echo '{{"user":{user}}}'; exit 0; fi
case "$*" in *--tenant*) {refuse} ;; esac
case "$*" in
  *2ff814a6-3304-4ab8-85cb-cd0e6f879c1d*) tag=dbx ;;
  *management.core.windows.net*) tag=mgmt ;;
  *) tag=arm ;;
esac
printf '{{"accessToken":"h.{payload}.%s-sig","expiresOn":"2030-01-01 10:00:00.000000"{expires_on},"tokenType":"Bearer"}}' "-$tag-"
"#,
        log = dir.join("az.log").display(),
        hang = if az.hang { "sleep 30" } else { "" },
        refuse =
            if az.refuse_tenant { "echo 'ERROR: AADSTS700016: no such app in the tenant' >&2; exit 1" } else { ":" },
    );
    let path = dir.join("az");
    std::fs::write(&path, script).expect("write az");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    dir.join("az.log")
}

fn az_config(url: &str, dir: &Path) -> brickwork::ConfigBuilder {
    let path = dir.display().to_string();
    Config::builder().host(url).set("cloud", "azure").environment(env(&[("PATH", &path)]))
}

fn az_calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap_or_default().lines().map(str::to_string).collect()
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_uses_a_persons_login_for_the_workspaces_tenant_and_refreshes_it() {
    let server = azure_server("3600").await;
    let dir = tempfile::tempdir().expect("dir");
    // `expires_on` is in whole seconds, so a token said to last N seconds
    // may have only N - 1 left when it arrives: four leave three for the
    // first call, enough on a loaded machine (one once left a few ms).
    let log = fake_az(dir.path(), FakeAz { lifetime: 4, ..FakeAz::default() });
    let client = Client::new(az_config(&server.url, dir.path()).build().expect("cfg")).await.expect("client");
    assert_eq!(client.auth_type(), "azure-cli");
    let answer = me(&client).await.expect("me");
    assert_eq!(answer["management"], Value::Null, "a person's login sends no management token");
    let token_calls = || az_calls(&log).into_iter().filter(|c| c.contains("get-access-token")).count();
    assert_eq!(token_calls(), 1, "the token got while configuring is used: {:?}", az_calls(&log));
    let calls = az_calls(&log).join("\n");
    assert!(
        calls.contains(&format!("--resource {ARM_DATABRICKS_RESOURCE_ID} --output json --tenant tenant-1")),
        "{calls}"
    );
    assert!(!calls.contains("management.core.windows.net"), "{calls}");

    // A four-second token is expired after four seconds: az is asked again.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    me(&client).await.expect("me after expiry");
    assert_eq!(token_calls(), 2);
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_as_a_federated_service_principal_is_asked_again_without_the_tenant() {
    let server = azure_server("3600").await;
    let dir = tempfile::tempdir().expect("dir");
    let log = fake_az(
        dir.path(),
        FakeAz { service_principal: true, refuse_tenant: true, lifetime: 3600, ..FakeAz::default() },
    );
    let cfg = az_config(&server.url, dir.path())
        .set("azure_workspace_resource_id", RESOURCE_ID)
        .set("azure_tenant_id", "tenant-1")
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    let answer = me(&client).await.expect("me");
    assert!(answer["management"].as_str().is_some_and(|t| t.contains("-mgmt-")), "{answer}");
    let calls = az_calls(&log);
    assert!(calls.iter().all(|c| !c.contains("--subscription")), "az refuses a subscription with a tenant: {calls:?}");
    assert!(
        calls.iter().any(|c| c.contains(ARM_DATABRICKS_RESOURCE_ID) && c.ends_with("--tenant tenant-1")),
        "{calls:?}"
    );
    assert!(calls.iter().any(|c| c.contains(ARM_DATABRICKS_RESOURCE_ID) && c.ends_with("--output json")), "{calls:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_without_a_known_tenant_asks_for_the_workspaces_subscription() {
    // No login redirect here: the tenant stays unknown.
    let server = TestServer::start(vec![me_route()]).await;
    let dir = tempfile::tempdir().expect("dir");
    let log = fake_az(dir.path(), FakeAz { old_cli: true, ..FakeAz::default() });
    let cfg = az_config(&server.url, dir.path()).set("azure_workspace_resource_id", RESOURCE_ID).build().expect("cfg");
    me(&Client::new(cfg).await.expect("client")).await.expect("an old CLI's token works too");
    let calls = az_calls(&log);
    assert!(calls.iter().any(|c| c.ends_with("--subscription sub-1")), "{calls:?}");
    assert!(calls.iter().all(|c| !c.contains("--tenant")), "{calls:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_that_hangs_is_skipped_or_named_when_chosen() {
    let server = azure_server("3600").await;
    let dir = tempfile::tempdir().expect("dir");
    fake_az(dir.path(), FakeAz { hang: true, ..FakeAz::default() });
    let cfg = az_config(&server.url, dir.path()).http_timeout(Duration::from_millis(500)).build().expect("cfg");
    let err = Client::new(cfg).await.expect_err("skipped");
    assert!(err.message().contains("cannot configure default credentials"), "{err}");
    let cfg = az_config(&server.url, dir.path())
        .http_timeout(Duration::from_millis(500))
        .auth_type("azure-cli")
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("chosen");
    assert!(
        err.message().contains("default auth: azure-cli:") && err.message().contains("did not answer within"),
        "{err}"
    );
}

#[test]
fn clouds_and_azure_environments_follow_the_host_and_the_settings() {
    let build = |pairs: &[(&str, &str)]| {
        pairs.iter().fold(Config::builder().environment(env(&[])), |b, (k, v)| b.set(k, *v)).build().expect("cfg")
    };
    let zone = |cfg: &Config| cfg.environment().dns_zone;
    assert_eq!(zone(&build(&[("host", "adb-1.2.databricks.azure.us"), ("token", "t")])), ".databricks.azure.us");
    assert!(build(&[("host", "https://x.gcp.databricks.com"), ("token", "t")]).is_gcp());
    let by_name = build(&[("azure_workspace_resource_id", RESOURCE_ID), ("azure_environment", "china")]);
    assert_eq!(zone(&by_name), ".databricks.azure.cn");
    let local = build(&[("host", "http://127.0.0.1:1"), ("cloud", "azure"), ("token", "t")]);
    assert!(local.is_azure());
    assert_eq!(zone(&local), ".azuredatabricks.net");
    let unknown = build(&[("host", "http://127.0.0.1:1"), ("token", "t")]);
    assert!(!unknown.is_azure() && !unknown.is_gcp());
}

/// Entra ID's signing key, shared by its fake and the emulator's policy.
fn entra_issuer() -> &'static brickwork_emulator::IdTokenIssuer {
    static ISSUER: std::sync::OnceLock<brickwork_emulator::IdTokenIssuer> = std::sync::OnceLock::new();
    ISSUER.get_or_init(|| brickwork_emulator::IdTokenIssuer::new("https://sts.windows.net/tenant-1/").expect("issuer"))
}

/// Entra ID issuing JWT access tokens (`iss` the tenant, `sub` the app),
/// signed, for the requested resource, as the emulator's federation policy
/// expects.
fn jwt_entra_route() -> (&'static str, &'static str, common::Handler) {
    (
        "POST",
        TENANT_TOKEN,
        handler(|r: &Recorded, n| {
            let form = r.form();
            if form.get("client_secret").map(String::as_str) != Some("s3cret") {
                return Reply::json(401, json!({"error": "invalid_client", "error_description": "bad secret"}));
            }
            let claims = json!({
                "iss": "https://sts.windows.net/tenant-1/", "sub": "app-1", "n": n,
                "aud": form.get("resource").cloned().unwrap_or_default(), "exp": unix_now() + 3600,
            });
            let token = entra_issuer().sign(&claims).expect("signed");
            Reply::json(200, json!({"access_token": token, "token_type": "Bearer", "expires_in": "3600"}))
        }),
    )
}

#[tokio::test]
async fn the_emulator_takes_entra_id_tokens_its_federation_policy_trusts() {
    use brickwork_emulator::Emulator;
    let entra = TestServer::start(vec![jwt_entra_route()]).await;
    let policy = |audience: &str| entra_issuer().policy("app-1", "app-1", &[audience]);
    let emulator =
        Emulator::builder().federation_policy(policy(ARM_DATABRICKS_RESOURCE_ID)).start().await.expect("emulator");
    let config = |host: &str| {
        Config::builder()
            .host(host)
            .set("cloud", "azure")
            .set("azure_client_id", "app-1")
            .set("azure_client_secret", "s3cret")
            .set("azure_tenant_id", "tenant-1")
            .set("azure_workspace_resource_id", RESOURCE_ID)
            .environment(env(&[("AZURE_AUTHORITY_HOST", &entra.url)]))
            .build()
            .expect("cfg")
    };
    let client = Client::new(config(emulator.url())).await.expect("client");
    assert_eq!(client.auth_type(), "azure-client-secret");
    assert_eq!(me(&client).await.expect("the Entra ID token is accepted")["userName"], "app-1");

    // A workspace whose policy expects another audience refuses the same token.
    let other = Emulator::builder().federation_policy(policy("another-app")).start().await.expect("emulator");
    let client = Client::new(config(other.url())).await.expect("client");
    let err = me(&client).await.expect_err("no policy trusts it");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
}

//! The Google Cloud auth types against a local fake of Google's token
//! endpoint, the IAM credentials API and the metadata server, served by one
//! recording server that is also the workspace. The service account key in
//! `fixtures/gcp-test-key.pem` was generated for these tests and grants
//! nothing anywhere.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use brickwork::{Client, Config, ErrorKind};
use common::{env, handler, Recorded, Reply, TestServer};
use ring::signature::{RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{json, Value};

const ME: &str = "/api/2.0/preview/scim/v2/Me";
const KEY_PEM: &str = include_str!("fixtures/gcp-test-key.pem");
const ACCOUNT: &str = "deployer@project-1.iam.gserviceaccount.com";

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// A Google ID token as the fake issues it: `gid.<claims>.sig`.
fn id_token_for(n: usize, lifetime_secs: u64) -> String {
    format!("gid.{}.sig", URL_SAFE_NO_PAD.encode(json!({"exp": unix_now() + lifetime_secs, "n": n}).to_string()))
}

/// `Me` answers 200 to a Google ID token and echoes the access token header.
fn me_route() -> (&'static str, &'static str, common::Handler) {
    (
        "GET",
        ME,
        handler(|r: &Recorded, _| match r.header("authorization") {
            Some(a) if a.starts_with("Bearer gid.") => {
                Reply::json(200, json!({"userName": ACCOUNT, "access": r.header("x-databricks-gcp-sa-access-token")}))
            }
            _ => Reply::json(401, json!({"error_code": "401", "message": "Invalid access token."})),
        }),
    )
}

/// The public half of the fixture key, to check signatures with.
fn public_key() -> Vec<u8> {
    let der: String = KEY_PEM.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(der).expect("pem");
    RsaKeyPair::from_pkcs8(&der).expect("key").public().as_ref().to_vec()
}

/// Google's token endpoint: checks the assertion's signature and claims;
/// an ID token for `target_audience` assertions, an access token for
/// `scope` ones (refused with `refuse_access`), a user's refresh grant too.
fn token_route(refuse_access: bool) -> (&'static str, &'static str, common::Handler) {
    token_route_issuing(refuse_access, 3600)
}

/// [`token_route`] whose ID tokens live `id_lifetime_secs`.
fn token_route_issuing(refuse_access: bool, id_lifetime_secs: u64) -> (&'static str, &'static str, common::Handler) {
    let public = public_key();
    (
        "POST",
        "/token",
        handler(move |r: &Recorded, n| {
            let form = r.form();
            if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
                return match form.get("refresh_token").map(String::as_str) {
                    Some("user-refresh-token") => Reply::json(
                        200,
                        json!({"access_token": format!("caller-{n}"), "expires_in": 3599, "token_type": "Bearer"}),
                    ),
                    Some("intern-refresh-token") => Reply::json(
                        200,
                        json!({"access_token": format!("intern-{n}"), "expires_in": 3599, "token_type": "Bearer"}),
                    ),
                    _ => Reply::json(400, json!({"error": "invalid_grant", "error_description": "Bad Request"})),
                };
            }
            let assertion = form.get("assertion").cloned().unwrap_or_default();
            let parts: Vec<&str> = assertion.split('.').collect();
            let signature_ok = parts.len() == 3
                && URL_SAFE_NO_PAD.decode(parts[2]).is_ok_and(|sig| {
                    let signed = format!("{}.{}", parts[0], parts[1]);
                    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public).verify(signed.as_bytes(), &sig).is_ok()
                });
            let claims: Value = parts
                .get(1)
                .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
                .and_then(|c| serde_json::from_slice(&c).ok())
                .unwrap_or_default();
            if !signature_ok
                || claims["iss"] != ACCOUNT
                || !claims["aud"].as_str().is_some_and(|a| a.ends_with("/token"))
            {
                return Reply::json(
                    400,
                    json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
                );
            }
            if let Some(audience) = claims["target_audience"].as_str() {
                assert!(audience.starts_with("http://127.0.0.1"), "the ID token is for the workspace: {audience}");
                return Reply::json(200, json!({"id_token": id_token_for(n, id_lifetime_secs)}));
            }
            if refuse_access {
                return Reply::json(403, json!({"error": "access_denied", "error_description": "not allowed"}));
            }
            let scope = claims["scope"].as_str().unwrap_or_default().to_string();
            Reply::json(
                200,
                json!({"access_token": format!("gat-{n}"), "expires_in": 3599, "token_type": "Bearer", "scope": scope}),
            )
        }),
    )
}

fn key_json(server: &TestServer) -> String {
    json!({
        "type": "service_account",
        "project_id": "project-1",
        "private_key_id": "key-1",
        "private_key": KEY_PEM,
        "client_email": ACCOUNT,
        "token_uri": format!("{}/token", server.url),
    })
    .to_string()
}

async fn me(client: &Client) -> brickwork::Result<Value> {
    client.api().get::<Value>(ME, &()).await
}

#[tokio::test]
async fn google_credentials_signs_for_an_id_token_and_sends_the_access_token_beside_it() {
    let server = TestServer::start(vec![me_route(), token_route(false)]).await;
    let dir = tempfile::tempdir().expect("dir");
    let key_file = dir.path().join("key.json");
    std::fs::write(&key_file, key_json(&server)).expect("write key");
    for credentials in [key_json(&server), key_file.display().to_string()] {
        let cfg = Config::builder()
            .host(&server.url)
            .set("google_credentials", credentials)
            .environment(env(&[]))
            .build()
            .expect("cfg");
        let client = Client::new(cfg).await.expect("client");
        assert_eq!(client.auth_type(), "google-credentials");
        let answer = me(&client).await.expect("me");
        assert!(answer["access"].as_str().is_some_and(|t| t.starts_with("gat-")), "{answer}");
        assert!(!format!("{client:?}").contains("PRIVATE KEY"));
    }
    let scopes: Vec<String> = server
        .requests_to("/token")
        .iter()
        .filter_map(|r| {
            let assertion = r.form().get("assertion").cloned()?;
            let claims = URL_SAFE_NO_PAD.decode(assertion.split('.').nth(1)?).ok()?;
            serde_json::from_slice::<Value>(&claims).ok()?["scope"].as_str().map(str::to_string)
        })
        .collect();
    assert!(scopes
        .iter()
        .all(|s| s == "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/compute"));
    assert!(!scopes.is_empty());
}

#[tokio::test]
async fn a_refused_access_token_does_not_stop_the_call() {
    let server = TestServer::start(vec![me_route(), token_route(true)]).await;
    let cfg = Config::builder()
        .host(&server.url)
        .set("google_credentials", key_json(&server))
        .environment(env(&[]))
        .build()
        .expect("cfg");
    let answer = me(&Client::new(cfg).await.expect("client")).await.expect("me");
    assert_eq!(answer["access"], Value::Null);
}

#[tokio::test]
async fn a_malformed_key_is_a_configuration_error_that_does_not_quote_it() {
    let cfg = Config::builder()
        .host("https://1.2.gcp.databricks.com")
        .set("google_credentials", r#"{"client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----"}"#)
        .environment(env(&[]))
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("bad key");
    assert!(
        err.message()
            .contains("default auth: google-credentials: google_credentials: private_key is not an RSA PKCS#8 key"),
        "{err}"
    );
    assert!(!err.message().contains("c2VjcmV0"), "{err}");
}

/// The IAM credentials API: tokens of `ACCOUNT` for a caller holding a
/// `caller-*` token (or the metadata server's `vm-*`).
fn iam_routes() -> Vec<(&'static str, &'static str, common::Handler)> {
    iam_routes_issuing(3600)
}

/// [`iam_routes`] whose ID tokens live `id_lifetime_secs`.
fn iam_routes_issuing(id_lifetime_secs: u64) -> Vec<(&'static str, &'static str, common::Handler)> {
    let caller_ok = |r: &Recorded| {
        r.header("authorization").is_some_and(|a| a.starts_with("Bearer caller-") || a.starts_with("Bearer vm-"))
    };
    vec![
        (
            "POST",
            "/v1/projects/-/serviceAccounts/deployer@project-1.iam.gserviceaccount.com:generateIdToken",
            handler(move |r: &Recorded, n| {
                let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                if !caller_ok(r) || body["includeEmail"] != true || !body["audience"].is_string() {
                    return Reply::json(
                        403,
                        json!({"error": {"code": 403, "message": "Permission 'iam.serviceAccounts.getOpenIdToken' denied", "status": "PERMISSION_DENIED"}}),
                    );
                }
                Reply::json(200, json!({"token": id_token_for(n, id_lifetime_secs)}))
            }),
        ),
        (
            "POST",
            "/v1/projects/-/serviceAccounts/deployer@project-1.iam.gserviceaccount.com:generateAccessToken",
            handler(move |r: &Recorded, n| {
                if !caller_ok(r) {
                    return Reply::json(403, json!({"error": {"code": 403, "message": "denied"}}));
                }
                Reply::json(200, json!({"accessToken": format!("gat-imp-{n}"), "expireTime": "2030-01-01T00:00:00Z"}))
            }),
        ),
        (
            "GET",
            "/computeMetadata/v1/instance/service-accounts/default/token",
            handler(|r: &Recorded, n| match r.header("metadata-flavor").as_deref() {
                Some("Google") => Reply::json(
                    200,
                    json!({"access_token": format!("vm-{n}"), "expires_in": 3599, "token_type": "Bearer"}),
                ),
                _ => Reply::json(403, json!({"error": "missing Metadata-Flavor"})),
            }),
        ),
    ]
}

/// A `google-id` configuration for the workspace at `url`.
fn google_id_config(url: &str, vars: &[(&str, &str)]) -> Config {
    Config::builder().host(url).set("google_service_account", ACCOUNT).environment(env(vars)).build().expect("cfg")
}

/// `google-id` as a gcloud login (written into `dir`) holding `refresh_token`.
fn gcloud_login_config(server: &TestServer, dir: &std::path::Path, refresh_token: &str) -> Config {
    let login = dir.join("adc.json");
    let adc = json!({
        "type": "authorized_user",
        "client_id": "gcloud-client",
        "client_secret": "gcloud-secret",
        "refresh_token": refresh_token,
        "token_uri": format!("{}/token", server.url),
    });
    std::fs::write(&login, adc.to_string()).expect("write adc");
    let login = login.display().to_string();
    let vars = [
        ("GOOGLE_APPLICATION_CREDENTIALS", login.as_str()),
        ("BRICKWORK_GOOGLE_IAM_CREDENTIALS_ENDPOINT", server.url.as_str()),
    ];
    google_id_config(&server.url, &vars)
}

#[tokio::test]
async fn google_id_impersonates_the_service_account_with_a_gcloud_login() {
    let mut routes = iam_routes();
    routes.extend([me_route(), token_route(false)]);
    let server = TestServer::start(routes).await;
    let dir = tempfile::tempdir().expect("dir");
    let client = Client::new(gcloud_login_config(&server, dir.path(), "user-refresh-token")).await.expect("client");
    assert_eq!(client.auth_type(), "google-id");
    let answer = me(&client).await.expect("me");
    assert!(answer["access"].as_str().is_some_and(|t| t.starts_with("gat-imp-")), "{answer}");
    let asked = &server
        .requests_to("/v1/projects/-/serviceAccounts/deployer@project-1.iam.gserviceaccount.com:generateIdToken")[0];
    let body: Value = serde_json::from_slice(&asked.body).expect("json");
    assert_eq!(body["audience"], server.url.as_str());
}

#[tokio::test]
async fn google_id_falls_back_to_the_metadata_server_and_names_a_refusal() {
    let mut routes = iam_routes();
    routes.push(me_route());
    let server = TestServer::start(routes).await;
    let metadata_host = server.url.trim_start_matches("http://").to_string();
    let iam = server.url.clone();
    let vars =
        [("GCE_METADATA_HOST", metadata_host.as_str()), ("BRICKWORK_GOOGLE_IAM_CREDENTIALS_ENDPOINT", iam.as_str())];
    me(&Client::new(google_id_config(&server.url, &vars)).await.expect("client"))
        .await
        .expect("me as the VM's account");

    // A caller the IAM API refuses (an intern's gcloud login): its reason, typed.
    let mut routes = iam_routes();
    routes.extend([me_route(), token_route(false)]);
    let server = TestServer::start(routes).await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = gcloud_login_config(&server, dir.path(), "intern-refresh-token");
    let err = me(&Client::new(cfg).await.expect("client")).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert_eq!(err.status(), Some(403));
    assert!(
        err.message().contains(
            "cannot impersonate the service account: HTTP 403: Permission 'iam.serviceAccounts.getOpenIdToken' denied"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn google_id_without_any_google_credentials_says_where_it_looked() {
    let closed = common::closed_port_url().await;
    let vars = [("GCE_METADATA_HOST", closed.trim_start_matches("http://"))];
    let cfg = Config::builder()
        .host("https://1.2.gcp.databricks.com")
        .set("google_service_account", ACCOUNT)
        .environment(env(&vars))
        .build()
        .expect("cfg");
    let err = Client::new(cfg).await.expect_err("no ADC");
    assert!(
        err.message().contains("no Google application default credentials: GOOGLE_APPLICATION_CREDENTIALS is not set"),
        "{err}"
    );
}

/// Calls `Me` until the workspace has seen `n` distinct ID tokens.
async fn until_distinct_id_tokens(server: &TestServer, client: &Client, n: usize) {
    for _ in 0..100 {
        me(client).await.expect("me");
        let mut seen: Vec<String> = server.requests_to(ME).iter().filter_map(|r| r.header("authorization")).collect();
        seen.sort();
        seen.dedup();
        if seen.len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the ID token was never refreshed");
}

#[tokio::test]
async fn google_credentials_and_google_id_get_a_new_id_token_before_the_old_one_expires() {
    let server = TestServer::start(vec![me_route(), token_route_issuing(false, 2)]).await;
    let cfg = Config::builder()
        .host(&server.url)
        .set("google_credentials", key_json(&server))
        .environment(env(&[]))
        .build()
        .expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    until_distinct_id_tokens(&server, &client, 2).await;

    let mut routes = iam_routes_issuing(2);
    routes.extend([me_route(), token_route(false)]);
    let server = TestServer::start(routes).await;
    let dir = tempfile::tempdir().expect("dir");
    let client = Client::new(gcloud_login_config(&server, dir.path(), "user-refresh-token")).await.expect("client");
    assert_eq!(client.auth_type(), "google-id");
    until_distinct_id_tokens(&server, &client, 2).await;
}

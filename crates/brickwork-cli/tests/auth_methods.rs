//! `brickwork auth describe` names the method the default chain selected,
//! for each official method that can run on this machine: the built binary
//! against the emulator, with local fakes of what each method asks (GitHub's
//! and Azure DevOps' ID token endpoints, Entra ID, the instance metadata
//! service, Google's token endpoint, a metadata service, and `databricks`,
//! `az` and the runtime's `python3` on `PATH`). The emulator takes the ID
//! tokens these fakes issue through its federation policies.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Query;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use brickwork_emulator::{Emulator, EmulatorHandle, FederationPolicySpec, IdTokenIssuer};
use serde_json::{json, Value};
use std::collections::HashMap;

const ADMIN_TOKEN: &str = "dapi-admin-token";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GITHUB_SUBJECT: &str = "repo:acme/etl:ref:refs/heads/main";
const ADO_ISSUER: &str = "https://vstoken.dev.azure.com/org-1";
const ADO_SUBJECT: &str = "sc://acme/etl/databricks";
const ENTRA_ISSUER: &str = "https://sts.windows.net/tenant-1/";
const AZURE_DATABRICKS: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GOOGLE_ACCOUNT: &str = "deployer@project-1.iam.gserviceaccount.com";
const WORKLOAD_ISSUER: &str = "https://idp.example.com";

/// Environment variables of one run.
type Vars = Vec<(&'static str, String)>;

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Each identity provider's signing key, shared by its fake and the
/// emulator's policies.
fn issuer(name: &str) -> &'static IdTokenIssuer {
    static ISSUERS: OnceLock<HashMap<&'static str, IdTokenIssuer>> = OnceLock::new();
    let issuers = ISSUERS.get_or_init(|| {
        [GITHUB_ISSUER, ADO_ISSUER, ENTRA_ISSUER, GOOGLE_ISSUER, WORKLOAD_ISSUER]
            .into_iter()
            .map(|name| (name, IdTokenIssuer::new(name).expect("issuer")))
            .collect()
    });
    issuers.get(name).expect("a known issuer")
}

/// An ID token from `issuer`, signed with its key, valid for an hour.
fn jwt(issuer_name: &str, subject: &str, audience: &str) -> String {
    issuer(issuer_name).id_token(subject, audience, Duration::from_secs(3600)).expect("signed")
}

/// One local server for every identity provider the methods ask.
async fn identity_providers() -> String {
    async fn github(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
        let audience = q.get("audience").cloned().unwrap_or_default();
        Json(json!({"value": jwt(GITHUB_ISSUER, GITHUB_SUBJECT, &audience)}))
    }
    async fn azure_devops() -> Json<Value> {
        Json(json!({"oidcToken": jwt(ADO_ISSUER, ADO_SUBJECT, "api://AzureADTokenExchange")}))
    }
    async fn entra(Form(form): Form<HashMap<String, String>>) -> Json<Value> {
        let audience = form.get("resource").cloned().or_else(|| form.get("scope").cloned()).unwrap_or_default();
        let audience = audience.trim_end_matches("/.default").to_string();
        Json(
            json!({"access_token": jwt(ENTRA_ISSUER, "app-1", &audience), "token_type": "Bearer", "expires_in": "3600"}),
        )
    }
    async fn imds(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
        let resource = q.get("resource").cloned().unwrap_or_default();
        let expires_on = (unix_now() + 3600).to_string();
        Json(
            json!({"access_token": jwt(ENTRA_ISSUER, "msi-1", &resource), "token_type": "Bearer", "expires_on": expires_on}),
        )
    }
    async fn google(Form(form): Form<HashMap<String, String>>) -> Json<Value> {
        let assertion = form.get("assertion").cloned().unwrap_or_default();
        let claims: Value = assertion
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .unwrap_or_default();
        match claims["target_audience"].as_str() {
            Some(audience) => Json(json!({"id_token": jwt(GOOGLE_ISSUER, GOOGLE_ACCOUNT, audience)})),
            None => Json(json!({"access_token": "ya29.fake", "expires_in": 3599, "token_type": "Bearer"})),
        }
    }
    async fn iam(axum::extract::Path(rest): axum::extract::Path<String>, Json(body): Json<Value>) -> Json<Value> {
        match rest.split_once(':') {
            Some((account, "generateIdToken")) => {
                Json(json!({"token": jwt(GOOGLE_ISSUER, account, body["audience"].as_str().unwrap_or_default())}))
            }
            _ => Json(json!({"accessToken": "ya29.impersonated", "expireTime": "2099-01-01T00:00:00Z"})),
        }
    }
    async fn metadata_service() -> Json<Value> {
        Json(json!({"access_token": ADMIN_TOKEN, "token_type": "Bearer", "expires_on": unix_now() + 3600}))
    }
    let app = Router::new()
        .route("/github", get(github))
        .route("/ado/{*rest}", post(azure_devops))
        .route("/tenant-1/oauth2/token", post(entra))
        .route("/tenant-1/oauth2/v2.0/token", post(entra))
        .route("/metadata/identity/oauth2/token", get(imds))
        .route("/google/token", post(google))
        .route("/metadata-service", get(metadata_service))
        .route("/v1/projects/-/serviceAccounts/{*rest}", post(iam));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn policy(service_principal: &str, issuer_name: &str, subject: &str, audiences: &[&str]) -> FederationPolicySpec {
    issuer(issuer_name).policy(service_principal, subject, audiences)
}

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .token(ADMIN_TOKEN)
        .user("basic-user@example.com", "dapi-basic")
        .service_principal("m2m-sp", "m2m-secret")
        // Exchanged at the token endpoint (audience: the token endpoint, or the one given).
        .federation_policy(policy("ci-sp", GITHUB_ISSUER, GITHUB_SUBJECT, &[]))
        .federation_policy(policy("ado-sp", ADO_ISSUER, ADO_SUBJECT, &["api://AzureADTokenExchange"]))
        .federation_policy(policy("workload-sp", WORKLOAD_ISSUER, "workload-1", &[]))
        // Sent as bearer tokens, as Azure and GCP workspaces take them.
        .federation_policy(policy("app-1", ENTRA_ISSUER, "app-1", &[AZURE_DATABRICKS]))
        .federation_policy(policy("msi-1", ENTRA_ISSUER, "msi-1", &[AZURE_DATABRICKS]))
        .federation_policy(policy(GOOGLE_ACCOUNT, GOOGLE_ISSUER, GOOGLE_ACCOUNT, &[]))
        .start()
        .await
        .expect("emulator")
}

fn executable(path: &Path, script: &str) {
    std::fs::write(path, script).expect("script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// `databricks`, `az` and the runtime's `python3`, as fakes in `bin`.
fn fake_programs(bin: &Path, emulator: &EmulatorHandle) {
    executable(
        &bin.join("databricks"),
        &format!(
            "#!/bin/sh\nif [ \"$1\" = version ]; then echo '{{\"Major\":0,\"Minor\":299,\"Patch\":0}}'; exit 0; fi\n\
             echo '{{\"access_token\":\"{ADMIN_TOKEN}\",\"token_type\":\"Bearer\",\"expiry\":\"2099-01-01T00:00:00Z\"}}'\n"
        ),
    );
    let az_token = jwt(ENTRA_ISSUER, "app-1", AZURE_DATABRICKS);
    let expires_on = unix_now() + 3600;
    executable(
        &bin.join("az"),
        &format!(
            "#!/bin/sh\necho '{{\"accessToken\":\"{az_token}\",\"expires_on\":{expires_on},\"tenant\":\"tenant-1\",\"tokenType\":\"Bearer\"}}'\n"
        ),
    );
    let answer = json!({"host": emulator.url(), "headers": {"Authorization": format!("Bearer {ADMIN_TOKEN}")}});
    executable(&bin.join("python3"), &format!("#!/bin/sh\necho '{answer}'\n"));
}

/// Run `brickwork auth describe -o json` with only `vars` in its environment.
async fn describe(vars: &[(&str, String)]) -> Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_brickwork"))
        .args(["auth", "describe", "--output", "json"])
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("brickwork runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(out.status.success(), "{answer} {}", String::from_utf8_lossy(&out.stderr));
    answer
}

#[tokio::test]
async fn describe_names_the_method_the_chain_selected_for_each_official_method() {
    let emulator = emulator().await;
    let idp = identity_providers().await;
    let home = tempfile::tempdir().expect("home");
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    fake_programs(&bin, &emulator);
    let oidc_file = home.path().join("id-token");
    std::fs::write(&oidc_file, jwt(WORKLOAD_ISSUER, "workload-1", &format!("{}/oidc/v1/token", emulator.url())))
        .expect("token file");
    let key = json!({
        "type": "service_account", "client_email": GOOGLE_ACCOUNT, "private_key_id": "key-1",
        "private_key": include_str!("../../brickwork/tests/fixtures/gcp-test-key.pem"),
        "token_uri": format!("{idp}/google/token"),
    });
    let adc = home.path().join("adc.json");
    std::fs::write(&adc, key.to_string()).expect("application default credentials");
    let serving_token = home.path().join("serving-token");
    let serving = json!({"OAUTH_TOKEN": [{"oauthTokenValue": ADMIN_TOKEN}]});
    std::fs::write(&serving_token, serving.to_string()).expect("serving token file");
    let scoped = home.path().join("scoped.cfg");
    std::fs::write(&scoped, "[DEFAULT]\nscopes = sql\n").expect("profile");

    let url = emulator.url().to_string();
    let base = [
        ("HOME", home.path().display().to_string()),
        ("PATH", format!("{}:/usr/bin:/bin", bin.display())),
        ("DATABRICKS_CONFIG_FILE", home.path().join("none.cfg").display().to_string()),
    ];
    let host = ("DATABRICKS_HOST", url.clone());
    let azure = [("DATABRICKS_CLOUD", "azure".to_string()), ("AZURE_AUTHORITY_HOST", idp.clone())];
    let github = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{idp}/github")),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token".to_string()),
    ];
    let s = |v: &str| v.to_string();
    let cases: Vec<(&str, &str, Vars)> = vec![
        ("pat", "admin@example.com", vec![host.clone(), ("DATABRICKS_TOKEN", s(ADMIN_TOKEN))]),
        (
            "basic",
            "basic-user@example.com",
            vec![
                host.clone(),
                ("DATABRICKS_USERNAME", s("basic-user@example.com")),
                ("DATABRICKS_PASSWORD", s("dapi-basic")),
            ],
        ),
        (
            "metadata-service",
            "admin@example.com",
            vec![host.clone(), ("DATABRICKS_METADATA_SERVICE_URL", format!("{idp}/metadata-service"))],
        ),
        (
            "oauth-m2m",
            "m2m-sp",
            vec![host.clone(), ("DATABRICKS_CLIENT_ID", s("m2m-sp")), ("DATABRICKS_CLIENT_SECRET", s("m2m-secret"))],
        ),
        (
            "env-oidc",
            "workload-sp",
            vec![
                host.clone(),
                ("DATABRICKS_OIDC_TOKEN", jwt(WORKLOAD_ISSUER, "workload-1", &format!("{url}/oidc/v1/token"))),
            ],
        ),
        (
            "file-oidc",
            "workload-sp",
            vec![host.clone(), ("DATABRICKS_OIDC_TOKEN_FILEPATH", oidc_file.display().to_string())],
        ),
        ("github-oidc", "ci-sp", [vec![host.clone(), ("DATABRICKS_CLIENT_ID", s("ci-sp"))], github.to_vec()].concat()),
        (
            "azure-msi",
            "msi-1",
            [
                vec![host.clone(), ("ARM_USE_MSI", s("true")), ("AZURE_POD_IDENTITY_AUTHORITY_HOST", idp.clone())],
                azure.to_vec(),
            ]
            .concat(),
        ),
        (
            "azure-client-secret",
            "app-1",
            [
                vec![
                    host.clone(),
                    ("ARM_CLIENT_ID", s("app-1")),
                    ("ARM_CLIENT_SECRET", s("app-secret")),
                    ("ARM_TENANT_ID", s("tenant-1")),
                ],
                azure.to_vec(),
            ]
            .concat(),
        ),
        (
            "github-oidc-azure",
            "app-1",
            [
                vec![host.clone(), ("ARM_CLIENT_ID", s("app-1")), ("ARM_TENANT_ID", s("tenant-1"))],
                azure.to_vec(),
                github.to_vec(),
            ]
            .concat(),
        ),
        ("azure-cli", "app-1", [vec![host.clone(), ("ARM_TENANT_ID", s("tenant-1"))], azure.to_vec()].concat()),
        (
            "azure-devops-oidc",
            "ado-sp",
            vec![
                host.clone(),
                ("DATABRICKS_CLIENT_ID", s("ado-sp")),
                ("SYSTEM_ACCESSTOKEN", s("ado-access-token")),
                ("SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", format!("{idp}/ado/")),
                ("SYSTEM_TEAMPROJECTID", s("project-1")),
                ("SYSTEM_HOSTTYPE", s("build")),
                ("SYSTEM_PLANID", s("plan-1")),
                ("SYSTEM_JOBID", s("job-1")),
            ],
        ),
        ("databricks-cli", "admin@example.com", vec![host.clone()]),
        ("google-credentials", GOOGLE_ACCOUNT, vec![host.clone(), ("GOOGLE_CREDENTIALS", key.to_string())]),
        (
            "google-id",
            GOOGLE_ACCOUNT,
            vec![
                host.clone(),
                ("DATABRICKS_GOOGLE_SERVICE_ACCOUNT", s(GOOGLE_ACCOUNT)),
                ("GOOGLE_APPLICATION_CREDENTIALS", adc.display().to_string()),
                ("BRICKWORK_GOOGLE_IAM_CREDENTIALS_ENDPOINT", idp.clone()),
            ],
        ),
        (
            "runtime-oauth",
            "admin@example.com",
            vec![("DATABRICKS_RUNTIME_VERSION", s("15.4")), ("DATABRICKS_CONFIG_FILE", scoped.display().to_string())],
        ),
        ("runtime", "admin@example.com", vec![("DATABRICKS_RUNTIME_VERSION", s("15.4"))]),
        (
            "model-serving",
            "admin@example.com",
            vec![
                ("IS_IN_DB_MODEL_SERVING_ENV", s("true")),
                ("DATABRICKS_MODEL_SERVING_HOST_URL", url.clone()),
                ("BRICKWORK_MODEL_SERVING_TOKEN_FILE", serving_token.display().to_string()),
            ],
        ),
    ];
    let mut seen = Vec::new();
    for (method, user, vars) in cases {
        // A case's own variables win over the base ones.
        let mut all: Vec<(&str, String)> =
            base.iter().filter(|(k, _)| !vars.iter().any(|(v, _)| v == k)).cloned().collect();
        all.extend(vars);
        if method != "databricks-cli" && method != "azure-cli" && method != "runtime" && method != "runtime-oauth" {
            // Only the cases about a program on PATH may find one.
            all.retain(|(k, _)| *k != "PATH");
            all.push(("PATH", "/usr/bin:/bin".into()));
        }
        let answer = describe(&all).await;
        assert_eq!(answer["details"]["auth_type"], method, "{answer}");
        assert_eq!(answer["username"], user, "{method}: {answer}");
        seen.push(method);
    }
    assert_eq!(seen.len(), 18);
}

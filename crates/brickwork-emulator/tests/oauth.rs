//! The emulator's OAuth server over HTTP: U2M (authorization code with PKCE
//! behind a consent page), refresh tokens, and token exchange restricted to
//! federation policies whose keys signed the ID token.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use brickwork::{Client, Config, ErrorKind};
use brickwork_emulator::{ConsentMode, EmulatorHandle, FederationPolicySpec, IdTokenIssuer};
use common::fast;
use serde_json::{json, Value};

const REDIRECT: &str = "http://localhost:8020";
const VERIFIER: &str = "a-verifier-of-more-than-forty-three-characters-0123456789";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

fn authorize_params(client_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", client_id.into()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", "all-apis offline_access".into()),
        ("state", "st4te".into()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".into()),
    ]
}

/// The query of a redirect to the loopback listener.
fn redirected(response: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), 302, "a redirect");
    let location = response.headers()["location"].to_str().expect("ascii");
    let query = location.strip_prefix(&format!("{REDIRECT}?")).unwrap_or_else(|| panic!("to the listener: {location}"));
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Drive the consent page as a browser would: load it, then post a decision
/// signed in as `user` with `password` (the admin and their token if `None`).
async fn consent(emulator: &EmulatorHandle, decision: &str, user: Option<(&str, &str)>) -> Vec<(String, String)> {
    let (user, password) = user.unwrap_or(("admin@example.com", emulator.token()));
    consent_with(emulator, decision, &[("user_name", user), ("password", password)]).await
}

/// The consent form posted with `sign_in` as its only credential fields.
async fn consent_with(emulator: &EmulatorHandle, decision: &str, sign_in: &[(&str, &str)]) -> Vec<(String, String)> {
    let http = no_redirects();
    let url = format!("{}/oidc/v1/authorize", emulator.url());
    let page = http.get(&url).query(&authorize_params("databricks-cli")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains(r#"name="decision" value="approve""#));
    let mut form = authorize_params("databricks-cli");
    form.push(("decision", decision.into()));
    form.extend(sign_in.iter().map(|(k, v)| (*k, v.to_string())));
    redirected(&http.post(&url).form(&form).send().await.expect("decision"))
}

async fn token_request(emulator: &EmulatorHandle, form: &[(&str, &str)]) -> (u16, Value) {
    let response =
        no_redirects().post(format!("{}/oidc/v1/token", emulator.url())).form(form).send().await.expect("token");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn redeem(emulator: &EmulatorHandle, code: &str, verifier: &str) -> (u16, Value) {
    token_request(
        emulator,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "databricks-cli"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await
}

async fn user_of(emulator: &EmulatorHandle, access_token: &str) -> String {
    let cfg = Config::builder().host(emulator.url()).token(access_token).without_environment().build().expect("cfg");
    let client = Client::new(cfg).await.expect("client");
    let me: Value = client.api().get("/api/2.0/preview/scim/v2/Me", &()).await.expect("me");
    me["userName"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn u2m_consent_then_pkce_code_then_rotating_refresh_tokens() {
    let emulator = fast().start().await.expect("start");
    let query = consent(&emulator, "approve", None).await;
    assert_eq!(param(&query, "state"), Some("st4te"));
    let code = param(&query, "code").expect("a code").to_string();

    let (status, body) = redeem(&emulator, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let refresh = body["refresh_token"].as_str().expect("offline_access gives a refresh token").to_string();
    assert_eq!(user_of(&emulator, body["access_token"].as_str().expect("token")).await, "admin@example.com");

    let (status, again) = redeem(&emulator, &code, VERIFIER).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")), "a code is redeemed once");

    let refresh_form = |token: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", "databricks-cli".into()),
            ("refresh_token", token.into()),
        ]
    };
    let form = refresh_form(&refresh);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, refreshed) = token_request(&emulator, &pairs).await;
    assert_eq!(status, 200, "{refreshed}");
    let next = refreshed["refresh_token"].as_str().expect("a new refresh token");
    assert_ne!(next, refresh);
    assert_eq!(user_of(&emulator, refreshed["access_token"].as_str().expect("token")).await, "admin@example.com");
    let (status, spent) = token_request(&emulator, &pairs).await;
    assert_eq!((status, spent["error"].as_str()), (400, Some("invalid_grant")), "a used refresh token is spent");
}

#[tokio::test]
async fn a_wrong_verifier_spends_the_code_and_a_denial_or_unknown_user_gives_no_code() {
    let emulator = fast().user("ann@example.com", "dapi-ann").start().await.expect("start");
    let code = param(&consent(&emulator, "approve", None).await, "code").expect("code").to_string();
    let (status, body) = redeem(&emulator, &code, "another-verifier-of-more-than-forty-three-chars-000").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert!(body["error_description"].as_str().unwrap_or_default().contains("PKCE"));
    let (status, _) = redeem(&emulator, &code, VERIFIER).await;
    assert_eq!(status, 400, "the failed attempt spent the code");

    let denied = consent(&emulator, "deny", None).await;
    assert_eq!(param(&denied, "error"), Some("access_denied"));
    assert_eq!(param(&denied, "code"), None);
    let unknown = consent(&emulator, "approve", Some(("mallory@example.com", "dapi-ann"))).await;
    assert_eq!(param(&unknown, "error"), Some("access_denied"));
    // Approving takes a credential: nobody signs in as the admin (or anyone) by naming them.
    for sign_in in [&[][..], &[("user_name", "admin@example.com")][..], &[("user_name", "ann@example.com")][..]] {
        let anonymous = consent_with(&emulator, "approve", sign_in).await;
        assert_eq!(
            (param(&anonymous, "error"), param(&anonymous, "code")),
            (Some("access_denied"), None),
            "{sign_in:?}"
        );
    }
    let borrowed = consent(&emulator, "approve", Some(("admin@example.com", "dapi-ann"))).await;
    assert_eq!(param(&borrowed, "error"), Some("access_denied"), "ann's token does not sign in the admin");

    let ann = consent(&emulator, "approve", Some(("ann@example.com", "dapi-ann"))).await;
    let (_, body) = redeem(&emulator, param(&ann, "code").expect("code"), VERIFIER).await;
    assert_eq!(user_of(&emulator, body["access_token"].as_str().expect("token")).await, "ann@example.com");
}

#[tokio::test]
async fn bad_clients_and_redirects_are_shown_not_followed_and_pkce_is_required() {
    let emulator = fast().start().await.expect("start");
    let http = no_redirects();
    let url = format!("{}/oidc/v1/authorize", emulator.url());
    for (name, value) in [("redirect_uri", "https://evil.example.com/cb"), ("client_id", "who-knows")] {
        let params: Vec<(&str, String)> = authorize_params("databricks-cli")
            .into_iter()
            .map(|(k, v)| if k == name { (k, value.to_string()) } else { (k, v) })
            .collect();
        let response = http.get(&url).query(&params).send().await.expect("authorize");
        assert_eq!(response.status(), 400, "{name}={value} is not redirected to");
        assert!(response.headers().get("location").is_none());
    }
    let without_pkce: Vec<(&str, String)> =
        authorize_params("databricks-cli").into_iter().filter(|(k, _)| !k.starts_with("code_challenge")).collect();
    let response = http.get(&url).query(&without_pkce).send().await.expect("authorize");
    let query = redirected(&response);
    assert_eq!(param(&query, "error"), Some("invalid_request"));
    assert_eq!(param(&query, "state"), Some("st4te"));
}

#[tokio::test]
async fn consent_can_be_approved_up_front() {
    let emulator = fast().oauth_consent(ConsentMode::Approve).start().await.expect("start");
    let response = no_redirects()
        .get(format!("{}/oidc/v1/authorize", emulator.url()))
        .query(&authorize_params("databricks-cli"))
        .send()
        .await
        .expect("authorize");
    let code = param(&redirected(&response), "code").expect("code").to_string();
    let (status, body) = redeem(&emulator, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
}

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str = "repo:acme/etl:ref:refs/heads/main";

/// The identity provider the tests' policies trust.
fn github() -> &'static IdTokenIssuer {
    static ISSUER: std::sync::OnceLock<IdTokenIssuer> = std::sync::OnceLock::new();
    ISSUER.get_or_init(|| IdTokenIssuer::new(GITHUB).expect("issuer"))
}

fn signed(claims: &Value) -> String {
    github().sign(claims).expect("signed")
}

/// The claims signed as an issuer would, but without a signature anyone checks.
fn unsigned(alg: &str, claims: &Value) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2ln", part(json!({"alg": alg, "typ": "JWT"})), part(claims.clone()))
}

fn policy() -> FederationPolicySpec {
    github().policy("sp-id", SUBJECT, &["https://acme.example.com"])
}

async fn env_oidc_client(
    emulator: &EmulatorHandle,
    id_token: &str,
    client_id: Option<&str>,
) -> brickwork::Result<Value> {
    let mut builder =
        Config::builder().host(emulator.url()).auth_type("env-oidc").environment([("DATABRICKS_OIDC_TOKEN", id_token)]);
    if let Some(id) = client_id {
        builder = builder.client_id(id);
    }
    let cfg = builder.build().expect("cfg");
    let client = Client::new(cfg).await?;
    client.api().get("/api/2.0/preview/scim/v2/Me", &()).await
}

#[tokio::test]
async fn token_exchange_needs_a_matching_federation_policy_and_never_defaults_to_the_admin() {
    let emulator = fast().federation_policy(policy()).start().await.expect("start");
    let exp = brickwork_emulator_now() + 600;
    let good = json!({"iss": GITHUB, "sub": SUBJECT, "aud": ["https://acme.example.com"], "exp": exp});
    let me = env_oidc_client(&emulator, &signed(&good), Some("sp-id")).await.expect("exchanged");
    assert_eq!(me["userName"], "sp-id");
    let me = env_oidc_client(&emulator, &signed(&good), None).await.expect("account-wide lookup");
    assert_eq!(me["userName"], "sp-id", "without client_id the matching policy decides, not the admin");

    let mut cases = Vec::new();
    for (field, value) in
        [("sub", json!("repo:acme/etl:pull_request")), ("iss", json!("https://evil")), ("aud", json!("x"))]
    {
        let mut claims = good.clone();
        claims[field] = value;
        cases.push((field.to_string(), signed(&claims), Some("sp-id")));
    }
    let mut expired = good.clone();
    expired["exp"] = json!(1_000_000);
    cases.push(("exp".into(), signed(&expired), Some("sp-id")));
    let mut endless = good.clone();
    endless.as_object_mut().expect("claims").remove("exp");
    cases.push(("no exp".into(), signed(&endless), Some("sp-id")));
    let mut early = good.clone();
    early["nbf"] = json!(exp + 3600);
    cases.push(("nbf".into(), signed(&early), Some("sp-id")));
    cases.push(("not a jwt".into(), "opaque-token".into(), Some("sp-id")));
    cases.push(("other principal".into(), signed(&good), Some("sp-other")));
    // The claims match, but no key of the policy signed them: anyone who
    // knows the policy could write these.
    for alg in ["RS256", "ES256", "none", "HS256"] {
        cases.push((format!("unsigned {alg}"), unsigned(alg, &good), Some("sp-id")));
    }
    let impostor = IdTokenIssuer::new(GITHUB).expect("issuer");
    cases.push(("another key".into(), impostor.sign(&good).expect("signed"), Some("sp-id")));
    for (what, token, client_id) in cases {
        let err = env_oidc_client(&emulator, &token, client_id).await.expect_err(&what);
        assert_eq!(err.kind(), ErrorKind::Auth, "{what}: {err}");
        assert!(err.message().contains("invalid_grant"), "{what}: {err}");
    }
    // Presented as a bearer token (as Azure and GCP workspaces take ID
    // tokens), the same signature check holds.
    assert_eq!(me_status(&emulator, &signed(&good)).await, 200);
    assert_eq!(me_status(&emulator, &unsigned("RS256", &good)).await, 403, "an invalid access token");

    let (status, body) = token_request(
        &emulator,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", &signed(&good)),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:saml2"),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
}

/// An emulator with no federation policy exchanges no ID token, however
/// well signed: there is no one to exchange it for, and never the admin.
#[tokio::test]
async fn without_a_federation_policy_no_id_token_is_exchanged() {
    let emulator = fast().start().await.expect("start");
    let exp = brickwork_emulator_now() + 600;
    let claims = json!({"iss": GITHUB, "sub": SUBJECT, "aud": ["https://acme.example.com"], "exp": exp});
    for client_id in [Some("sp-id"), None] {
        let err = env_oidc_client(&emulator, &signed(&claims), client_id).await.expect_err("no policy");
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.message().contains("invalid_grant"), "{err}");
    }
    let jwt_type = "urn:ietf:params:oauth:token-type:jwt";
    let (status, body) = token_request(
        &emulator,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", &signed(&claims)),
            ("subject_token_type", jwt_type),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    assert_eq!(me_status(&emulator, &signed(&claims)).await, 403, "nor taken as a bearer token");
}

#[tokio::test]
async fn a_personal_access_token_is_exchanged_for_its_owners_token() {
    let emulator = fast().user("ann@example.com", "dapi-ann").start().await.expect("start");
    let pat_type = "urn:databricks:params:oauth:token-type:personal-access-token";
    let grant = "urn:ietf:params:oauth:grant-type:token-exchange";
    let (status, body) = token_request(
        &emulator,
        &[("grant_type", grant), ("subject_token", "dapi-ann"), ("subject_token_type", pat_type)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(user_of(&emulator, body["access_token"].as_str().expect("token")).await, "ann@example.com");
    let (status, _) = token_request(
        &emulator,
        &[("grant_type", grant), ("subject_token", "dapi-nobody"), ("subject_token_type", pat_type)],
    )
    .await;
    assert_eq!(status, 400);

    // A token made through the Tokens API is exchanged the same way.
    let made = no_redirects()
        .post(format!("{}/api/2.0/token/create", emulator.url()))
        .bearer_auth("dapi-ann")
        .json(&json!({"comment": "ci", "lifetime_seconds": 600}))
        .send()
        .await
        .expect("create token");
    let made: Value = made.json().await.expect("json");
    let value = made["token_value"].as_str().expect("token value");
    let (status, body) =
        token_request(&emulator, &[("grant_type", grant), ("subject_token", value), ("subject_token_type", pat_type)])
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(user_of(&emulator, body["access_token"].as_str().expect("token")).await, "ann@example.com");
}

fn brickwork_emulator_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// Deleting a user ends their refresh tokens too: they once kept minting
/// access tokens for a principal that no longer existed.
#[tokio::test]
async fn a_deleted_users_refresh_token_mints_nothing() {
    let emulator = fast().user("ann@example.com", "dapi-ann").start().await.expect("start");
    let ann = consent(&emulator, "approve", Some(("ann@example.com", "dapi-ann"))).await;
    let (_, body) = redeem(&emulator, param(&ann, "code").expect("code"), VERIFIER).await;
    let refresh = body["refresh_token"].as_str().expect("a refresh token").to_string();

    let cfg =
        Config::builder().host(emulator.url()).token(emulator.token()).without_environment().build().expect("cfg");
    let admin = Client::new(cfg).await.expect("client");
    let users: Value = admin
        .api()
        .get("/api/2.0/preview/scim/v2/Users", &serde_json::json!({"filter": "userName eq \"ann@example.com\""}))
        .await
        .expect("users");
    let id = users["Resources"][0]["id"].as_str().expect("ann's id").to_string();
    admin
        .api()
        .request(brickwork::transport::Method::DELETE, format!("/api/2.0/preview/scim/v2/Users/{id}").as_str())
        .send()
        .await
        .expect("deleted");

    let form = [("grant_type", "refresh_token"), ("client_id", "databricks-cli"), ("refresh_token", refresh.as_str())];
    let (status, body) = token_request(&emulator, &form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}

/// The id of the SCIM resource whose `attribute` is `value`, read as the admin.
async fn scim_id(emulator: &EmulatorHandle, kind: &str, attribute: &str, value: &str) -> Option<String> {
    let filter = format!("{attribute} eq \"{value}\"");
    let url = format!("{}/api/2.0/preview/scim/v2/{kind}", emulator.url());
    let response = no_redirects().get(url).bearer_auth(emulator.token()).query(&[("filter", filter)]).send();
    let listed: Value = response.await.expect("list").json().await.expect("json");
    listed["Resources"][0]["id"].as_str().map(str::to_string)
}

async fn me_status(emulator: &EmulatorHandle, bearer: &str) -> u16 {
    let url = format!("{}/api/2.0/preview/scim/v2/Me", emulator.url());
    no_redirects().get(url).bearer_auth(bearer).send().await.expect("me").status().as_u16()
}

/// A deleted or deactivated principal is refused whatever it signs in with:
/// a trusted ID token once still worked after its service principal was
/// deleted (and `/Me` then re-created it as a user), and so did a deleted
/// service principal's client secret and a deactivated user's token.
#[tokio::test]
async fn deleted_or_deactivated_principals_are_refused_and_never_recreated() {
    let federated = FederationPolicySpec { service_principal: "fed-sp".into(), ..policy() };
    let emulator =
        fast().federation_policy(federated).user("ann@example.com", "dapi-ann").start().await.expect("start");
    let claims = json!({"iss": GITHUB, "sub": SUBJECT, "aud": ["https://acme.example.com"],
        "exp": brickwork_emulator_now() + 600});
    let id_token = signed(&claims);
    let exchange = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", id_token.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("client_id", "fed-sp"),
    ];
    let m2m = [("grant_type", "client_credentials"), ("client_id", "sp-id"), ("client_secret", "sp-secret")];
    assert_eq!(me_status(&emulator, &id_token).await, 200);
    assert_eq!(token_request(&emulator, &exchange).await.0, 200);
    assert_eq!(token_request(&emulator, &m2m).await.0, 200);
    assert_eq!(me_status(&emulator, "dapi-ann").await, 200);

    let admin = no_redirects();
    let base = format!("{}/api/2.0/preview/scim/v2", emulator.url());
    for application_id in ["fed-sp", "sp-id"] {
        let id = scim_id(&emulator, "ServicePrincipals", "applicationId", application_id).await.expect("listed");
        let deleted = admin.delete(format!("{base}/ServicePrincipals/{id}")).bearer_auth(emulator.token()).send();
        assert_eq!(deleted.await.expect("delete").status(), 204);
    }
    let ann = scim_id(&emulator, "Users", "userName", "ann@example.com").await.expect("ann");
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let patched = admin.patch(format!("{base}/Users/{ann}")).bearer_auth(emulator.token()).json(&patch).send();
    assert_eq!(patched.await.expect("patch").status(), 200);

    assert_eq!(me_status(&emulator, &id_token).await, 401, "a deleted principal's trusted ID token");
    let (status, body) = token_request(&emulator, &exchange).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, body) = token_request(&emulator, &m2m).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    assert_eq!(me_status(&emulator, "dapi-ann").await, 401, "a deactivated user's token");
    assert_eq!(scim_id(&emulator, "Users", "userName", "fed-sp").await, None, "/Me made a user of it");
    assert_eq!(me_status(&emulator, emulator.token()).await, 200, "the admin is untouched");
}

/// A refresh token of the U2M flow for ann, redeemed from a fresh consent.
async fn ann_refresh_token(emulator: &EmulatorHandle) -> String {
    let ann = consent(emulator, "approve", Some(("ann@example.com", "dapi-ann"))).await;
    let (status, body) = redeem(emulator, param(&ann, "code").expect("code"), VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    body["refresh_token"].as_str().expect("a refresh token").to_string()
}

async fn refresh_status(emulator: &EmulatorHandle, refresh: &str) -> (u16, Value) {
    token_request(
        emulator,
        &[("grant_type", "refresh_token"), ("client_id", "databricks-cli"), ("refresh_token", refresh)],
    )
    .await
}

/// Refresh tokens once never expired and a principal could pile up any
/// number of them: each now lives its lifetime (in emulated minutes), and
/// signing in past the cap retires the holder's oldest.
#[tokio::test]
async fn refresh_tokens_expire_and_each_principal_holds_a_bounded_number() {
    let emulator = fast()
        .user("ann@example.com", "dapi-ann")
        .minute(std::time::Duration::from_millis(200))
        .refresh_token_lifetime_minutes(2)
        .start()
        .await
        .expect("start");
    let soon_stale = ann_refresh_token(&emulator).await;
    // Past its two emulated minutes (0.4 s); a code lives five, so the
    // consent and redeem before have a second.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let (status, body) = refresh_status(&emulator, &soon_stale).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "an expired refresh token: {body}");

    let emulator = fast().user("ann@example.com", "dapi-ann").start().await.expect("start");
    let first = ann_refresh_token(&emulator).await;
    let second = ann_refresh_token(&emulator).await;
    for _ in 0..99 {
        ann_refresh_token(&emulator).await;
    }
    let (status, body) = refresh_status(&emulator, &first).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the oldest is retired: {body}");
    let (status, body) = refresh_status(&emulator, &second).await;
    assert_eq!(status, 200, "the hundredth newest still works: {body}");
    let rotated = body["refresh_token"].as_str().expect("rotated").to_string();
    assert_eq!(refresh_status(&emulator, &second).await.0, 400, "spent by its use");
    assert_eq!(refresh_status(&emulator, &rotated).await.0, 200);
}

#[tokio::test]
async fn a_federation_policy_without_usable_keys_stops_the_start() {
    for jwks_json in ["", "{\"keys\": []}", "{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}"] {
        let policy = FederationPolicySpec { jwks_json: jwks_json.into(), ..policy() };
        let err = fast().federation_policy(policy).start().await.expect_err(jwks_json);
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{jwks_json}: {err}");
        assert!(err.to_string().contains("jwks_json"), "{err}");
    }
}

/// An access token lifetime past the clock's range (a setting) once
/// overflowed it when a token was issued; it is capped.
#[tokio::test]
async fn an_access_token_lifetime_past_the_clock_is_capped() {
    let settings = brickwork_emulator::Settings { oauth_token_lifetime_secs: u64::MAX, ..Default::default() };
    let emulator = fast().settings(settings).service_principal("sp-id", "sp-secret").start().await.expect("start");
    let m2m = [("grant_type", "client_credentials"), ("client_id", "sp-id"), ("client_secret", "sp-secret")];
    let (status, body) = token_request(&emulator, &m2m).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(me_status(&emulator, body["access_token"].as_str().expect("token")).await, 200);
}

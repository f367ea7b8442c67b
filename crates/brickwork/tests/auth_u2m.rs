//! `external-browser` (U2M) against the emulator: a scripted browser drives
//! the consent page, the login lands in a CLI-compatible token cache, later
//! clients use or refresh it without a browser.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brickwork::auth::{DefaultCredentials, ExternalBrowser};
use brickwork::{Client, Config, ErrorKind};
use brickwork_emulator::{Emulator, EmulatorHandle};
use serde_json::{json, Value};

mod common;

const ME: &str = "/api/2.0/preview/scim/v2/Me";

/// A browser that loads the consent page, posts `decision` and follows the
/// redirect to the loopback listener, as a person clicking would.
fn scripted_browser(
    decision: &'static str,
    emulator: &EmulatorHandle,
    opened: Arc<AtomicUsize>,
) -> impl Fn(&str) -> io::Result<()> {
    // The person signs in as the admin, with the admin's token as password.
    let password = emulator.token().to_string();
    move |url: &str| {
        let password = password.clone();
        opened.fetch_add(1, Ordering::SeqCst);
        let url = url.to_string();
        tokio::spawn(async move {
            let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
            let page = http.get(&url).send().await.expect("consent page");
            assert_eq!(page.status(), 200);
            let parsed = reqwest::Url::parse(&url).expect("url");
            let mut form: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
            form.push(("decision".into(), decision.into()));
            form.push(("user_name".into(), "admin@example.com".into()));
            form.push(("password".into(), password));
            let action = format!("{}{}", parsed.origin().ascii_serialization(), parsed.path());
            let answer = http.post(action).form(&form).send().await.expect("decision");
            let location = answer.headers()["location"].to_str().expect("ascii").to_string();
            http.get(location).send().await.expect("redirect to the listener");
        });
        Ok(())
    }
}

fn no_browser(opened: Arc<AtomicUsize>) -> impl Fn(&str) -> io::Result<()> {
    move |_: &str| {
        opened.fetch_add(1, Ordering::SeqCst);
        Err(io::Error::other("no browser in this test"))
    }
}

fn config(emulator: &EmulatorHandle, home: &Path) -> Config {
    Config::builder()
        .host(emulator.url())
        .auth_type("external-browser")
        .environment([("HOME", home.display().to_string())])
        .build()
        .expect("config")
}

async fn client(cfg: Config, strategy: ExternalBrowser) -> brickwork::Result<Client> {
    Client::builder()
        .config(cfg)
        .credentials(DefaultCredentials::with_strategies(vec![Arc::new(strategy)]))
        .build()
        .await
}

fn strategy() -> ExternalBrowser {
    ExternalBrowser::default().with_port(0).with_login_timeout(Duration::from_secs(20))
}

fn cache_path(home: &Path) -> PathBuf {
    home.join(".databricks").join("token-cache.json")
}

fn read_cache(home: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(cache_path(home)).expect("cache file")).expect("json")
}

async fn user(client: &Client) -> String {
    let me: Value = client.api().get(ME, &()).await.expect("me");
    me["userName"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_browser_login_is_cached_as_the_cli_caches_it_and_reused_without_a_browser() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    let opened = Arc::new(AtomicUsize::new(0));

    let first = client(
        config(&emulator, home.path()),
        strategy().with_browser(scripted_browser("approve", &emulator, opened.clone())),
    )
    .await
    .expect("login");
    assert_eq!(first.auth_type(), "external-browser");
    assert_eq!(user(&first).await, "admin@example.com");
    assert_eq!(opened.load(Ordering::SeqCst), 1);

    let cache = read_cache(home.path());
    assert_eq!(cache["version"], 1);
    let stored = &cache["tokens"][emulator.url()];
    assert!(stored["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{cache}");
    assert!(stored["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "offline_access was asked for");
    assert_eq!(stored["token_type"], "Bearer");
    assert!(stored["expiry"].as_str().is_some_and(|e| e.len() >= 20), "RFC 3339 expiry: {stored}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cache_path(home.path())).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner reads the cache");
    }

    let again = client(config(&emulator, home.path()), strategy().with_browser(no_browser(opened.clone())))
        .await
        .expect("cached login");
    assert_eq!(user(&again).await, "admin@example.com");
    assert_eq!(opened.load(Ordering::SeqCst), 1, "the cached login needs no browser");
}

#[tokio::test]
async fn an_expired_login_is_refreshed_with_its_refresh_token_and_the_cache_updated() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    let opened = Arc::new(AtomicUsize::new(0));
    client(
        config(&emulator, home.path()),
        strategy().with_browser(scripted_browser("approve", &emulator, opened.clone())),
    )
    .await
    .expect("login");
    let mut cache = read_cache(home.path());
    let before = cache["tokens"][emulator.url()].clone();
    cache["tokens"][emulator.url()]["expiry"] = json!("2001-01-01T00:00:00Z");
    cache["tokens"]["https://other.example.com"] = json!({"access_token": "keep-me", "expiry": "0001-01-01T00:00:00Z"});
    std::fs::write(cache_path(home.path()), cache.to_string()).expect("write");

    let refreshed = client(config(&emulator, home.path()), strategy().with_browser(no_browser(opened.clone())))
        .await
        .expect("refreshed");
    assert_eq!(user(&refreshed).await, "admin@example.com");
    assert_eq!(opened.load(Ordering::SeqCst), 1, "refreshing needs no browser");
    let after = read_cache(home.path());
    let now = &after["tokens"][emulator.url()];
    assert_ne!(now["access_token"], before["access_token"]);
    assert_ne!(now["refresh_token"], before["refresh_token"], "the rotated refresh token is kept");
    assert_eq!(after["tokens"]["https://other.example.com"]["access_token"], "keep-me", "other logins are kept");
}

#[tokio::test]
async fn a_spent_refresh_token_falls_back_to_the_browser_and_a_profile_is_a_key_too() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join(".databrickscfg"),
        format!("[dev]\nhost = {}\nauth_type = external-browser\n", emulator.url()),
    )
    .expect("config file");
    std::fs::create_dir_all(home.path().join(".databricks")).expect("dir");
    let spent = json!({"access_token": "old", "refresh_token": "spent", "token_type": "Bearer", "expiry": "2001-01-01T00:00:00Z"});
    std::fs::write(cache_path(home.path()), json!({"version": 1, "tokens": {"dev": spent}}).to_string()).expect("seed");
    let cfg = Config::builder()
        .profile("dev")
        .environment([("HOME", home.path().display().to_string())])
        .build()
        .expect("config");
    let opened = Arc::new(AtomicUsize::new(0));
    let c = client(cfg, strategy().with_browser(scripted_browser("approve", &emulator, opened.clone())))
        .await
        .expect("login");
    assert_eq!(user(&c).await, "admin@example.com");
    assert_eq!(opened.load(Ordering::SeqCst), 1, "the dead refresh token sent the user to the browser");
    let cache = read_cache(home.path());
    assert_eq!(cache["tokens"]["dev"], cache["tokens"][emulator.url()], "stored under the profile and the host");
    assert_ne!(cache["tokens"]["dev"]["access_token"], "old");
}

#[tokio::test]
async fn a_denied_login_and_a_missing_host_are_auth_and_config_errors_naming_why() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    let opened = Arc::new(AtomicUsize::new(0));
    let err =
        client(config(&emulator, home.path()), strategy().with_browser(scripted_browser("deny", &emulator, opened)))
            .await
            .expect_err("denied");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.message().contains("access_denied"), "{err}");
    assert!(!cache_path(home.path()).exists(), "nothing is cached");

    let cfg = Config::builder().auth_type("external-browser").without_environment().build().expect("config");
    let err = Client::new(cfg).await.expect_err("no host");
    assert!(
        err.message().contains("external-browser was chosen by auth_type") && err.message().contains("host"),
        "{err}"
    );
}

#[tokio::test]
async fn without_auth_type_the_chain_never_opens_a_browser() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    let opened = Arc::new(AtomicUsize::new(0));
    let cfg = Config::builder()
        .host(emulator.url())
        .environment([("HOME", home.path().display().to_string())])
        .build()
        .expect("config");
    let err = client(cfg, strategy().with_browser(no_browser(opened.clone()))).await.expect_err("nothing applies");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(opened.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_live_client_refreshes_its_login_before_expiry_and_saves_it() {
    let emulator = Emulator::builder().oauth_token_lifetime(Duration::from_secs(2)).start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    let opened = Arc::new(AtomicUsize::new(0));
    let c = client(
        config(&emulator, home.path()),
        strategy().with_browser(scripted_browser("approve", &emulator, opened.clone())),
    )
    .await
    .expect("login");
    let first = read_cache(home.path())["tokens"][emulator.url()]["access_token"].clone();
    // Past half its life the token is refreshed; calls keep working meanwhile.
    let mut refreshed = false;
    for _ in 0..100 {
        assert_eq!(user(&c).await, "admin@example.com");
        if read_cache(home.path())["tokens"][emulator.url()]["access_token"] != first {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refreshed, "the refreshed login reached the cache");
    assert_eq!(user(&c).await, "admin@example.com");
    assert_eq!(opened.load(Ordering::SeqCst), 1);
}

/// A browser that first sends the listener a forged redirect (another
/// state) and leaves an idle connection open, then logs in for real.
fn meddled_browser(emulator: &EmulatorHandle, opened: Arc<AtomicUsize>) -> impl Fn(&str) -> io::Result<()> {
    let real = Arc::new(scripted_browser("approve", emulator, opened));
    move |url: &str| {
        let parsed = reqwest::Url::parse(url).expect("url");
        let redirect = parsed.query_pairs().find(|(k, _)| k == "redirect_uri").expect("redirect_uri").1.into_owned();
        let (login, real) = (url.to_string(), real.clone());
        tokio::spawn(async move {
            let addr = redirect.trim_start_matches("http://").replace("localhost", "127.0.0.1");
            let idle = tokio::net::TcpStream::connect(&addr).await.expect("idle connection");
            let forged = reqwest::get(format!("{redirect}/?code=stolen&state=not-this-login")).await.expect("forged");
            assert_eq!(forged.status(), 400, "the forgery is refused");
            real(&login).expect("browser");
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(idle);
        });
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_redirect_and_an_idle_connection_do_not_stop_the_real_login() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    let opened = Arc::new(AtomicUsize::new(0));
    let strategy =
        strategy().with_login_timeout(Duration::from_secs(8)).with_browser(meddled_browser(&emulator, opened));
    let c = client(config(&emulator, home.path()), strategy).await.expect("the real login lands");
    assert_eq!(user(&c).await, "admin@example.com");
}

#[tokio::test]
async fn auth_login_fails_when_the_login_cannot_be_kept() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    // `.databricks` is a file: the cache directory cannot be made.
    std::fs::write(home.path().join(".databricks"), "not a directory").expect("file");
    let cfg = config(&emulator, home.path());
    let ctx = brickwork::auth::AuthContext::new(Duration::from_secs(10), false).expect("context");
    let opened = Arc::new(AtomicUsize::new(0));
    let err = strategy()
        .with_browser(scripted_browser("approve", &emulator, opened.clone()))
        .login(&cfg, &ctx)
        .await
        .expect_err("nothing was saved");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.message().contains("in the token cache"), "{err}");
    assert_eq!(opened.load(Ordering::SeqCst), 0, "found before the person goes through the browser");
}

#[tokio::test]
async fn a_login_of_another_oauth_client_gets_its_own_key_which_the_cli_does_not_read() {
    let emulator = Emulator::builder().service_principal("my-app", "app-secret").start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    let cfg = Config::builder()
        .host(emulator.url())
        .auth_type("external-browser")
        .set("client_id", "my-app")
        .set("client_secret", "app-secret")
        .environment([("HOME", home.path().display().to_string())])
        .build()
        .expect("config");
    let opened = Arc::new(AtomicUsize::new(0));
    let c = client(cfg, strategy().with_browser(scripted_browser("approve", &emulator, opened))).await.expect("login");
    assert_eq!(user(&c).await, "admin@example.com");
    let cache = read_cache(home.path());
    let tokens = cache["tokens"].as_object().expect("tokens");
    assert!(!tokens.contains_key(emulator.url()), "the CLI's key is the CLI client's: {cache}");
    assert!(tokens.contains_key(&format!("{}#my-app", emulator.url())), "{cache}");
}

#[tokio::test]
async fn a_refresh_whose_answer_was_lost_is_not_sent_again() {
    use common::{dropping_server, handler, Reply, TestServer};
    let (token_url, sent) = dropping_server().await;
    let token_endpoint = format!("{token_url}/oidc/v1/token");
    let discovery = handler(move |_, _| {
        Reply::json(
            200,
            json!({"authorization_endpoint": format!("{token_url}/oidc/v1/authorize"), "token_endpoint": token_endpoint}),
        )
    });
    let workspace = TestServer::start(vec![("GET", "/oidc/.well-known/oauth-authorization-server", discovery)]).await;
    let home = tempfile::tempdir().expect("home");
    std::fs::create_dir_all(home.path().join(".databricks")).expect("dir");
    let expired = json!({"access_token": "old", "refresh_token": "single-use", "expiry": "2001-01-01T00:00:00Z"});
    let cache = json!({"version": 1, "tokens": {workspace.url.clone(): expired}});
    std::fs::write(cache_path(home.path()), cache.to_string()).expect("seed");
    let cfg = Config::builder()
        .host(&workspace.url)
        .auth_type("external-browser")
        .environment([("HOME", home.path().display().to_string())])
        .build()
        .expect("config");
    let opened = Arc::new(AtomicUsize::new(0));
    let quick = strategy().with_login_timeout(Duration::from_millis(300)).with_browser(no_browser(opened));
    client(cfg, quick).await.expect_err("no login in the end");
    assert_eq!(sent.load(Ordering::SeqCst), 1, "a rotating refresh token is sent once, not replayed");
}

#[tokio::test]
async fn a_cache_of_another_version_is_reported_before_the_browser_opens() {
    let emulator = Emulator::builder().start().await.expect("emulator");
    let home = tempfile::tempdir().expect("home");
    std::fs::create_dir_all(home.path().join(".databricks")).expect("dir");
    std::fs::write(cache_path(home.path()), r#"{"version": 2, "tokens": {}}"#).expect("seed");
    let ctx = brickwork::auth::AuthContext::new(Duration::from_secs(10), false).expect("context");
    let opened = Arc::new(AtomicUsize::new(0));
    let err = strategy()
        .with_browser(scripted_browser("approve", &emulator, opened.clone()))
        .login(&config(&emulator, home.path()), &ctx)
        .await
        .expect_err("the login could not be kept");
    assert!(err.message().contains("token cache version 2"), "{err}");
    assert_eq!(opened.load(Ordering::SeqCst), 0, "no browser for a login that cannot be kept");

    let err = client(config(&emulator, home.path()), strategy().cached_only()).await.expect_err("no usable login");
    assert!(err.message().contains("token cache version 2") && err.message().contains("auth login"), "{err}");
}

//! Retries, budgets, idempotency, error shapes on the wire, and log redaction.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use brickwork::{Client, Config, ErrorKind};
use common::{fast_retries, handler, Captured, Reply, TestServer};
use serde_json::{json, Value};

async fn client_for(url: &str, tweak: impl FnOnce(brickwork::ConfigBuilder) -> brickwork::ConfigBuilder) -> Client {
    let builder = Config::builder().host(url).token("dapi-test-token").without_environment();
    let cfg = tweak(builder).build().expect("cfg");
    Client::builder().config(cfg).retry_policy(fast_retries()).build().await.expect("client")
}

const PATH: &str = "/api/2.0/thing";

#[tokio::test]
async fn throttling_honours_retry_after_then_succeeds() {
    let server = TestServer::start(vec![(
        "GET",
        PATH,
        handler(|_, n| match n {
            0 => Reply::json(429, json!({"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}))
                .header("Retry-After", "1"),
            1 => Reply::text(503, ""),
            _ => Reply::json(200, json!({"ok": true})),
        }),
    )])
    .await;
    let client = client_for(&server.url, |b| b).await;
    let v: Value = client.api().get(PATH, &()).await.expect("eventually ok");
    assert_eq!(v["ok"], true);
    let calls = server.requests_to(PATH);
    assert_eq!(calls.len(), 3);
    // Sleeping never ends early, so the gap is at least what the server asked for.
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_secs(1));
}

#[tokio::test]
async fn throttled_post_is_retried_because_the_server_did_not_act() {
    let server = TestServer::start(vec![(
        "POST",
        PATH,
        handler(|_, n| {
            if n == 0 {
                Reply::text(429, "").header("Retry-After", "0")
            } else {
                Reply::json(200, json!({"id": 1}))
            }
        }),
    )])
    .await;
    let client = client_for(&server.url, |b| b).await;
    let v: Value = client.api().post(PATH, &json!({"name": "x"})).await.expect("ok");
    assert_eq!(v["id"], 1);
    let calls = server.requests_to(PATH);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body, calls[1].body, "the same body is replayed");
}

#[tokio::test]
async fn retry_budget_is_respected() {
    let server =
        TestServer::start(vec![("GET", PATH, handler(|_, _| Reply::text(429, "").header("Retry-After", "1")))]).await;
    let client = client_for(&server.url, |b| b.retry_timeout(Duration::from_millis(2500))).await;
    let err = client.api().get::<Value>(PATH, &()).await.expect_err("budget");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().starts_with("retry budget of 2.5s exhausted after"), "{}", err.message());
    let source = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert_eq!(source, "Too Many Requests");
    assert_eq!(err.status(), Some(429), "the throttling status survives the budget");
    assert!(err.is_throttled());
    // Each wait is at least 1 s, so a 2.5 s budget allows at most 3 attempts.
    let n = server.requests_to(PATH).len();
    assert!((2..=3).contains(&n), "{n} attempts");
}

#[tokio::test]
async fn max_retries_bounds_attempts_and_keeps_the_kind() {
    let server = TestServer::start(vec![(
        "GET",
        PATH,
        handler(|_, _| {
            Reply::json(503, json!({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}))
                .header("Retry-After", "0")
        }),
    )])
    .await;
    let client = client_for(&server.url, |b| b.max_retries(2)).await;
    let err = client.api().get::<Value>(PATH, &()).await.expect_err("gives up");
    assert_eq!(err.kind(), ErrorKind::TemporarilyUnavailable);
    assert_eq!(err.message(), "giving up after 3 attempts: busy");
    assert_eq!(server.requests_to(PATH).len(), 3);
}

#[tokio::test]
async fn dropped_connection_retries_get_but_never_a_plain_post() {
    let (url, count) = common::dropping_server().await;
    let client = client_for(&url, |b| b.max_retries(3)).await;
    let err = client.api().get::<Value>(PATH, &()).await.expect_err("always dropped");
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(!err.is_connect_failure());
    assert_eq!(count.load(Ordering::SeqCst), 4, "GET is retried");

    count.store(0, Ordering::SeqCst);
    let err = client.api().post::<Value>(PATH, &json!({"create": "job"})).await.expect_err("dropped");
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(count.load(Ordering::SeqCst), 1, "the server may have acted: no blind replay");

    count.store(0, Ordering::SeqCst);
    let _ =
        client.api().request(brickwork::transport::Method::POST, PATH).json(&json!({})).idempotent(true).send().await;
    assert_eq!(count.load(Ordering::SeqCst), 4, "a POST declared idempotent is retried");
}

#[cfg(feature = "compute")]
#[tokio::test]
async fn generated_operations_retry_by_method_and_contract() {
    let (url, count) = common::dropping_server().await;
    let w = brickwork::service::WorkspaceClient::from_client(client_for(&url, |b| b.max_retries(3)).await);
    let err = w.clusters().get("c").await.expect_err("always dropped");
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(count.swap(0, Ordering::SeqCst), 4, "a generated GET is retried");
    w.clusters().create("15.4.x-scala2.12").await.expect_err("dropped");
    assert_eq!(count.swap(0, Ordering::SeqCst), 1, "a plain POST is not replayed");
    w.clusters().permanent_delete("c").await.expect_err("dropped");
    assert_eq!(count.swap(0, Ordering::SeqCst), 4, "a POST listed as idempotent is retried");
}

#[tokio::test]
async fn post_is_not_retried_after_a_timeout_but_get_is() {
    let server = TestServer::start(vec![
        ("POST", PATH, handler(|_, _| Reply::json(200, json!({})).delayed(Duration::from_secs(2)))),
        (
            "GET",
            PATH,
            handler(|_, n| {
                if n == 0 {
                    Reply::json(200, json!({})).delayed(Duration::from_secs(2))
                } else {
                    Reply::json(200, json!({"second": true}))
                }
            }),
        ),
    ])
    .await;
    let client = client_for(&server.url, |b| b.http_timeout(Duration::from_millis(300))).await;
    let err = client.api().post::<Value>(PATH, &json!({"run": 1})).await.expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(server.requests().iter().filter(|r| r.method == "POST").count(), 1);
    let v: Value = client.api().get(PATH, &()).await.expect("second attempt");
    assert_eq!(v["second"], true);
}

#[tokio::test]
async fn connect_refused_is_retried_even_for_post() {
    let url = common::closed_port_url().await;
    let client = client_for(&url, |b| b.max_retries(2)).await;
    let err = client.api().post::<Value>(PATH, &json!({})).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.is_connect_failure());
    assert!(err.message().starts_with("giving up after 3 attempts: cannot connect"), "{}", err.message());
}

#[tokio::test]
async fn a_connect_that_hangs_fails_at_the_connect_timeout_and_even_a_post_is_retried() {
    // A listener whose backlog is full: the kernel leaves further
    // handshakes unanswered, so a connect hangs until its own timeout.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let _filler = tokio::net::TcpStream::connect(addr).await.expect("the one queued connection");
    let url = format!("http://{addr}");
    // The exchange could take 30 s; the connect may take 200 ms.
    let client = client_for(&url, |b| {
        b.http_timeout(Duration::from_secs(30)).connect_timeout(Duration::from_millis(200)).max_retries(1)
    })
    .await;
    let err = client.api().post::<Value>(PATH, &json!({})).await.expect_err("never connects");
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.is_connect_failure(), "nothing was sent: {err}");
    assert!(err.message().starts_with("giving up after 2 attempts: cannot connect"), "{}", err.message());
    assert!(err.message().contains("timed out"), "{}", err.message());
    drop(listener);
}

#[tokio::test]
async fn transient_messages_retry_idempotent_calls_only() {
    let transient =
        || Reply::json(400, json!({"error_code": "INVALID_STATE", "message": "ClusterNotReadyException: not yet"}));
    let server = TestServer::start(vec![
        ("GET", PATH, handler(move |_, n| if n == 0 { transient() } else { Reply::json(200, json!({})) })),
        ("POST", PATH, handler(move |_, _| transient())),
    ])
    .await;
    let client = client_for(&server.url, |b| b).await;
    client.api().get::<Value>(PATH, &()).await.expect("retried");
    let err = client.api().post::<Value>(PATH, &json!({})).await.expect_err("not retried");
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(server.requests().iter().filter(|r| r.method == "POST").count(), 1);
}

#[tokio::test]
async fn streamed_bodies_are_never_retried() {
    let server =
        TestServer::start(vec![("PUT", PATH, handler(|_, _| Reply::text(503, "").header("Retry-After", "0")))]).await;
    let client = client_for(&server.url, |b| b).await;
    let err = client
        .api()
        .request(brickwork::transport::Method::PUT, PATH)
        .stream(brickwork::transport::Body::from("data"))
        .send()
        .await
        .expect_err("503");
    assert_eq!(err.kind(), ErrorKind::TemporarilyUnavailable);
    assert_eq!(server.requests_to(PATH).len(), 1);
}

#[tokio::test]
async fn error_shapes_and_overrides_on_the_wire() {
    let server = TestServer::start(vec![
        ("GET", "/api/2.1/clusters/get", handler(|_, _| Reply::json(400, json!({"error_code": "INVALID_PARAMETER_VALUE", "message": "Cluster 0929-205554-jm9y8aqe does not exist"})))),
        ("GET", "/html", handler(|_, _| Reply::text(502, "<html><body><pre>upstream connect error</pre></body></html>").header("content-type", "text/html"))),
        ("GET", "/scim", handler(|_, _| Reply::json(409, json!({"detail": "User already exists", "status": "409", "scimType": "uniqueness"})))),
        ("GET", "/empty", handler(|_, _| Reply::text(404, ""))),
        ("GET", "/truncated", handler(|_, _| Reply::text(200, "{\"clusters\": ["))),
    ])
    .await;
    let client = client_for(&server.url, |b| b).await;
    let api = client.api();
    let err = api
        .get::<Value>("/api/2.1/clusters/get", &json!({"cluster_id": "0929-205554-jm9y8aqe"}))
        .await
        .expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::ResourceDoesNotExist);
    assert!(err.is(ErrorKind::NotFound));
    assert_eq!(err.request(), Some("GET /api/2.1/clusters/get"));
    let err = api.get::<Value>("/html", &()).await.expect_err("html");
    // A 502 on a GET is tried a few times; the message says so and keeps the page's text.
    assert_eq!(
        (err.message(), err.error_code()),
        ("giving up after 4 attempts: upstream connect error", Some("BAD_GATEWAY"))
    );
    let err = api.get::<Value>("/scim", &()).await.expect_err("scim");
    assert_eq!((err.kind(), err.message()), (ErrorKind::ResourceConflict, "uniqueness User already exists"));
    let err = api.get::<Value>("/empty", &()).await.expect_err("empty");
    assert_eq!((err.kind(), err.message()), (ErrorKind::NotFound, "Not Found"));
    let err = api.get::<Value>("/truncated", &()).await.expect_err("truncated");
    assert_eq!(err.kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn query_parameters_use_the_official_encoding() {
    let server =
        TestServer::start(vec![("GET", "/api/2.1/clusters/list", handler(|_, _| Reply::json(200, json!({}))))]).await;
    let client = client_for(&server.url, |b| b).await;
    let query = json!({"page_size": 2, "filter_by": {"cluster_states": ["RUNNING", "PENDING"], "is_pinned": true}});
    let v: Value = client.api().get("/api/2.1/clusters/list", &query).await.expect("ok");
    assert_eq!(v, json!({}));
    let pairs = server.requests()[0].query_pairs();
    let expected: Vec<(String, String)> = [
        ("filter_by.cluster_states", "RUNNING"),
        ("filter_by.cluster_states", "PENDING"),
        ("filter_by.is_pinned", "true"),
        ("page_size", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(pairs, expected);
}

#[tokio::test]
async fn secrets_never_reach_logs_debug_or_errors() {
    let server =
        TestServer::start(vec![
            (
                "POST",
                "/api/2.0/secrets/put",
                handler(|_, n| {
                    if n == 0 {
                        Reply::text(503, "").header("Retry-After", "0")
                    } else {
                        Reply::json(200, json!({}))
                    }
                }),
            ),
            (
                "POST",
                "/api/2.0/token/create",
                handler(|_, _| {
                    Reply::json(200, json!({"token_value": "dapi-new-minted", "token_info": {"comment": "ci"}}))
                }),
            ),
        ])
        .await;
    let (captured, _guard) = Captured::trace();

    let cfg = Config::builder()
        .host(&server.url)
        .token("dapi-super-secret")
        .set("debug_headers", "true")
        .without_environment()
        .build()
        .expect("cfg");
    let client = Client::builder().config(cfg).retry_policy(fast_retries()).build().await.expect("client");
    let _: Value = client
        .api()
        .post("/api/2.0/secrets/put", &json!({"scope": "s", "key": "k", "string_value": "the-secret-payload"}))
        .await
        .expect("put");
    let _: Value = client.api().post("/api/2.0/token/create", &json!({"comment": "ci"})).await.expect("create");
    let err = client.api().get::<Vec<String>>("/api/2.0/token/create-missing", &()).await.expect_err("404");

    let logs = captured.text();
    assert!(logs.contains("/api/2.0/secrets/put"), "spans name the path: {logs}");
    assert!(logs.contains("retrying"), "the retry is logged");
    assert!(logs.contains("**REDACTED**"));
    let everything = format!("{logs}\n{client:?}\n{:?}\n{}\n{err:?}\n{err}", client.config(), client.config());
    for secret in ["dapi-super-secret", "the-secret-payload", "dapi-new-minted"] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    // The server did receive the real values.
    assert_eq!(server.requests()[0].header("authorization").as_deref(), Some("Bearer dapi-super-secret"));
}

#[tokio::test]
async fn a_hostile_retry_after_ends_the_budget_instead_of_overflowing() {
    let server = TestServer::start(vec![(
        "GET",
        PATH,
        handler(|_, _| Reply::text(429, "").header("Retry-After", "18446744073709551615")),
    )])
    .await;
    let client = client_for(&server.url, |b| b.retry_timeout(Duration::from_secs(5))).await;
    let err = client.api().get::<Value>(PATH, &()).await.expect_err("budget");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(server.requests_to(PATH).len(), 1, "the asked-for delay is past the budget: no second try");
}

#[tokio::test]
async fn a_host_pasted_from_the_browser_keeps_scheme_and_host_and_names_the_workspace() {
    let server = TestServer::start(vec![("GET", PATH, handler(|_, _| Reply::json(200, json!({"ok": true}))))]).await;
    let pasted = format!("{}/?o=6051921418418893#job/42", server.url);
    let client = client_for(&pasted, |b| b).await;
    assert_eq!(client.config().host(), Some(server.url.as_str()));
    assert_eq!(client.config().get("workspace_id"), Some("6051921418418893"));
    client.api().get::<Value>(PATH, &()).await.expect("call");
    let sent = &server.requests_to(PATH)[0];
    assert_eq!(sent.header("x-databricks-workspace-id").as_deref(), Some("6051921418418893"));
}

#[tokio::test]
async fn no_attempt_outlives_the_retry_budget() {
    let server = TestServer::start(vec![(
        "GET",
        PATH,
        handler(|_, _| Reply::json(200, json!({"late": true})).delayed(Duration::from_secs(3))),
    )])
    .await;
    let client = client_for(&server.url, |b| b.retry_timeout(Duration::from_millis(800))).await;
    let err = client.api().get::<Value>(PATH, &()).await.expect_err("the answer comes after the budget");
    assert_eq!(err.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn a_private_link_login_redirect_is_permission_denied() {
    let server = TestServer::start(vec![
        (
            "GET",
            PATH,
            handler(|_, _| Reply::text(302, "").header("Location", "/login.html?error=private-link-validation-error")),
        ),
        ("GET", "/login.html", handler(|_, _| Reply::text(200, "<html>sign in</html>"))),
    ])
    .await;
    let client = client_for(&server.url, |b| b).await;
    let err = client.api().get::<Value>(PATH, &()).await.expect_err("not reachable");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.message().contains("private connectivity"), "{}", err.message());
}

#[tokio::test]
async fn idempotent_calls_survive_a_few_server_errors_and_posts_never_replay_them() {
    let server = TestServer::start(vec![
        (
            "GET",
            "/api/2.0/flaky",
            handler(|_, n| if n < 2 { Reply::text(500, "oops") } else { Reply::json(200, json!({"ok": true})) }),
        ),
        (
            "GET",
            "/api/2.0/broken",
            handler(|_, _| Reply::json(500, json!({"error_code": "INTERNAL_ERROR", "message": "bug"}))),
        ),
        (
            "POST",
            "/api/2.0/create",
            handler(|_, _| Reply::json(500, json!({"error_code": "INTERNAL_ERROR", "message": "bug"}))),
        ),
    ])
    .await;
    let client = client_for(&server.url, |b| b).await;
    let ok: Value = client.api().get("/api/2.0/flaky", &()).await.expect("third attempt succeeds");
    assert_eq!(ok["ok"], true);
    let err = client.api().get::<Value>("/api/2.0/broken", &()).await.expect_err("persistent bug");
    assert_eq!(err.kind(), ErrorKind::InternalError);
    assert_eq!(server.requests_to("/api/2.0/broken").len(), brickwork::transport::SERVER_ERROR_ATTEMPTS as usize);
    let err = client.api().post::<Value>("/api/2.0/create", &json!({})).await.expect_err("not replayed");
    assert_eq!(err.kind(), ErrorKind::InternalError);
    assert_eq!(server.requests_to("/api/2.0/create").len(), 1, "the server may have acted: no replay");
}

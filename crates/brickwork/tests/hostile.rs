//! Hostile responses: every one decodes correctly or is a typed error, and
//! none panics, hangs, grows memory without bound or leaks a credential.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use brickwork::service::compute::State;
use brickwork::service::WorkspaceClient;
use brickwork::{Client, Config, ConfigBuilder, ErrorKind};
use common::{handler, Recorded, Reply, TestServer};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const TOKEN: &str = "dapi-hostile-test-token";
const GET_CLUSTER: &str = "/api/2.1/clusters/get";

async fn workspace(url: &str, tweak: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> WorkspaceClient {
    let cfg = tweak(Config::builder().host(url).token(TOKEN).without_environment()).build().expect("cfg");
    let client = Client::builder().config(cfg).retry_policy(common::fast_retries()).build().await.expect("client");
    WorkspaceClient::from_client(client)
}

#[tokio::test]
async fn wrong_types_unknown_enums_and_quoted_numbers_decode_or_fail_typed() {
    let server = TestServer::start(vec![(
        "GET",
        GET_CLUSTER,
        handler(|r: &Recorded, _| {
            let id = r.query_pairs().into_iter().find(|(k, _)| k == "cluster_id").map(|(_, v)| v).unwrap_or_default();
            let body = match id.as_str() {
                "quoted" => json!({"cluster_id": "c1", "num_workers": "3", "start_time": "1700000000000"}),
                "future-state" => json!({"cluster_id": "c2", "state": "HIBERNATING"}),
                "wrong-type" => json!({"cluster_id": "c3", "num_workers": {"min": 1}}),
                "huge-number" => json!({"cluster_id": "c4", "num_workers": 1e30}),
                "not-an-object" => json!(["c5"]),
                _ => json!({"cluster_id": 7, "state": 42}),
            };
            Reply::json(200, body)
        }),
    )])
    .await;
    let w = workspace(&server.url, |b| b).await;

    let quoted = w.clusters().get("quoted").await.expect("numbers as strings decode");
    assert_eq!((quoted.num_workers, quoted.start_time), (Some(3), Some(1_700_000_000_000)));

    let future = w.clusters().get("future-state").await.expect("an unknown enum value decodes");
    let state = future.state.expect("state kept");
    assert!(matches!(state, State::UnknownValue(ref raw) if raw == "HIBERNATING"), "{state:?}");
    assert_eq!(serde_json::to_value(&state).expect("encode"), json!("HIBERNATING"), "sent back as received");

    for id in ["wrong-type", "huge-number", "not-an-object", "numbers-for-strings"] {
        let err = w.clusters().get(id).await.expect_err(id);
        assert_eq!(err.kind(), ErrorKind::Decode, "{id}: {err}");
    }
}

#[tokio::test]
async fn invalid_utf8_is_a_decode_error_on_success_and_keeps_the_status_on_failure() {
    // The test server sends text; invalid bytes need a raw socket answer.
    let ok = raw_server(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{\"cluster_id\": \"\xff\xfe\"}").await;
    let w = workspace(&ok, |b| b).await;
    let err = w.clusters().get("c").await.expect_err("invalid UTF-8");
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");

    let failing = raw_server(b"HTTP/1.1 404 Not Found\r\ncontent-length: 6\r\n\r\n\xff\xfe\xfd\x00\x01\x02").await;
    let w = workspace(&failing, |b| b).await;
    let err = w.clusters().get("c").await.expect_err("404 with garbage");
    assert_eq!((err.kind(), err.status()), (ErrorKind::NotFound, Some(404)), "{err}");
}

/// Answers every connection with `answer` and closes it.
async fn raw_server(answer: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 8192];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(answer).await;
            let _ = socket.shutdown().await;
        }
    });
    url
}

/// Serves `body()` for every request, counting the bytes actually sent.
async fn streaming_server(
    content_length: Option<u64>,
    body: impl Fn(Arc<AtomicU64>) -> Body + Clone + Send + Sync + 'static,
) -> (String, Arc<AtomicU64>) {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        let counter = counter.clone();
        async move {
            let mut response = Response::builder().status(200).header("content-type", "application/json");
            if let Some(length) = content_length {
                response = response.header("content-length", length);
            }
            response.body(body(counter)).unwrap_or_default()
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, sent)
}

/// An endless stream of 1 MiB chunks of a JSON string (`{"x":"aaaa...`).
fn endless(sent: Arc<AtomicU64>) -> Body {
    let chunk = bytes::Bytes::from(vec![b'a'; 1024 * 1024]);
    let head = futures::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"x\":\"")) });
    let tail = futures::stream::repeat_with(move || {
        sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok(chunk.clone())
    });
    Body::from_stream(futures::StreamExt::chain(head, tail))
}

#[tokio::test]
async fn a_ten_gib_body_is_refused_at_the_limit_with_bounded_memory() {
    const LIMIT: u64 = 8 * 1024 * 1024;
    const TEN_GIB: u64 = 10 * 1024 * 1024 * 1024;

    // Announced: refused from the header, before reading the body.
    let (announced, sent_announced) = streaming_server(Some(TEN_GIB), endless).await;
    let w = workspace(&announced, |b| b.max_response_bytes(LIMIT)).await;
    let err = w.clusters().get("c").await.expect_err("too large");
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge, "{err}");
    assert!(err.message().contains("max_response_bytes"), "{err}");

    // Chunked with no length: reading stops at the limit.
    let (chunked, sent_chunked) = streaming_server(None, endless).await;
    let w = workspace(&chunked, |b| b.max_response_bytes(LIMIT)).await;
    let err = w.clusters().get("c").await.expect_err("too large");
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge, "{err}");

    // The server could not push more than the limit plus what sockets buffer.
    for sent in [&sent_announced, &sent_chunked] {
        let sent = sent.load(Ordering::SeqCst);
        assert!(sent < 16 * LIMIT, "{sent} bytes were produced for a {LIMIT}-byte limit");
    }
}

#[tokio::test]
async fn a_body_in_many_chunks_is_read_whole_and_a_single_chunk_is_held_to_the_limit() {
    let pieces: [&'static [u8]; 4] = [b"{\"cluster_id\": \"c", b"hunk", b"ed\", \"cluster_name\"", b": \"split\"}"];
    let (url, _) = streaming_server(None, move |_| {
        // A pause between pieces, so they arrive as separate chunks.
        let stream = futures::StreamExt::then(futures::stream::iter(pieces), |piece| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(piece))
        });
        Body::from_stream(stream)
    })
    .await;
    let w = workspace(&url, |b| b).await;
    let details = w.clusters().get("c").await.expect("decoded from four chunks");
    assert_eq!(details.cluster_id.as_deref(), Some("chunked"));
    assert_eq!(details.cluster_name.as_deref(), Some("split"));

    // One chunk, no length announced (a stream, so sent chunked), over the limit on its own.
    let (url, _) = streaming_server(None, |_| {
        Body::from_stream(futures::stream::once(async {
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 4096]))
        }))
    })
    .await;
    let w = workspace(&url, |b| b.max_response_bytes(1024)).await;
    let err = w.clusters().get("c").await.expect_err("too large");
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge, "{err}");
}

#[tokio::test]
async fn a_slow_drip_body_times_out_instead_of_hanging() {
    let (url, _) = streaming_server(None, |_| {
        let drip = futures::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from_static(b" ")), n + 1))
        });
        Body::from_stream(drip)
    })
    .await;
    let w = workspace(&url, |b| b.http_timeout(Duration::from_secs(1)).retry_timeout(Duration::from_secs(3))).await;
    // A bound on a hang: the drip never ends, so only the client's timeouts can end the call.
    let result = tokio::time::timeout(Duration::from_secs(60), w.clusters().get("c").send()).await;
    let err = result.expect("the call ended").expect_err("timed out");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn a_redirect_to_another_host_never_carries_the_credentials() {
    let elsewhere = TestServer::start(vec![(
        "GET",
        GET_CLUSTER,
        handler(|_, _| Reply::json(200, json!({"cluster_id": "from-elsewhere"}))),
    )])
    .await;
    let target = format!("{}{GET_CLUSTER}?cluster_id=c", elsewhere.url.replace("127.0.0.1", "localhost"));
    let workspace_server = TestServer::start(vec![(
        "GET",
        GET_CLUSTER,
        handler(move |_, _| Reply::text(307, "").header("location", &target)),
    )])
    .await;
    let w = workspace(&workspace_server.url, |b| b).await;
    let _ = w.clusters().get("c").await;
    assert!(!elsewhere.requests().is_empty(), "the redirect was followed");
    for request in elsewhere.requests() {
        assert_eq!(request.header("authorization"), None, "the token went to another host");
        assert!(!format!("{:?}", request.headers).contains(TOKEN));
    }
    assert_eq!(workspace_server.requests()[0].header("authorization").as_deref(), Some(&*format!("Bearer {TOKEN}")));
}

#[tokio::test]
async fn hostile_error_bodies_are_typed_and_bounded() {
    let long_html = format!("<html><body>{}</body></html>", "x".repeat(100_000));
    let server = TestServer::start(vec![
        ("GET", "/api/2.0/deep", handler(|_, _| Reply::text(500, &format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000))))),
        ("GET", "/api/2.0/long", handler(move |_, _| Reply::text(502, &long_html).header("content-type", "text/html"))),
        ("GET", "/api/2.0/details", handler(|_, _| Reply::json(400, json!({"error_code": 12, "message": ["not", "a", "string"], "details": "nope"})))),
        ("GET", "/api/2.0/retry-info", handler(|_, _| Reply::json(429, json!({"error_code": "RESOURCE_EXHAUSTED", "message": "slow down", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retry_delay": "1e19s"}]})))),
    ])
    .await;
    let w = workspace(&server.url, |b| b.max_retries(0)).await;
    let api = w.client().api();
    for (path, kind) in [
        ("/api/2.0/deep", ErrorKind::InternalError),
        ("/api/2.0/long", ErrorKind::Api),
        ("/api/2.0/details", ErrorKind::BadRequest),
        ("/api/2.0/retry-info", ErrorKind::ResourceExhausted),
    ] {
        let err = api.get::<Value>(path, &()).await.expect_err(path);
        assert_eq!(err.kind(), kind, "{path}: {err}");
        assert!(err.to_string().len() < 4096, "{path}: an error message stays readable");
    }
}

//! Streamed transfers against local servers: a download goes to disk in
//! bounded memory, picks up after dropped connections with `Range`, fails
//! typed when the transfer stalls and succeeds when it is slow but steady.

#![cfg(feature = "files")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use brickwork::service::WorkspaceClient;
use brickwork::{Client, Config, ErrorKind};
use bytes::Bytes;
use tokio::net::TcpListener;

const FILE: &str = "/Volumes/main/default/v/big.bin";

async fn workspace(url: &str, http_timeout: Duration) -> WorkspaceClient {
    workspace_with_token(url, "dapi-transfers", http_timeout).await
}

async fn workspace_with_token(url: &str, token: &str, http_timeout: Duration) -> WorkspaceClient {
    let cfg =
        Config::builder().host(url).token(token).without_environment().http_timeout(http_timeout).build().expect("cfg");
    let client = Client::builder().config(cfg).retry_policy(common::fast_retries()).build().await.expect("client");
    WorkspaceClient::from_client(client)
}

/// Deterministic content that differs at every offset a resume could get wrong.
fn content(len: usize) -> Bytes {
    (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect::<Vec<u8>>().into()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data).as_ref().to_vec()
}

/// How the server sends a body: chunks of `chunk` bytes, `pause` apart,
/// dropping the connection after `drop_after` bytes of the first `drops`
/// answers, or stopping for good after `stall_after` bytes.
#[derive(Clone, Default)]
struct Plan {
    chunk: usize,
    pause: Duration,
    drops: usize,
    drop_after: usize,
    stall_after: Option<usize>,
    /// Answer a `Range` request with the file from its start (a wrong 206).
    misplaced_ranges: bool,
}

/// Serves `data` at the file's path with `Range: bytes=N-` honoured; returns
/// its URL and the `Range` headers it was sent.
async fn file_server(data: Bytes, plan: Plan) -> (String, Arc<Mutex<Vec<String>>>) {
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let answered = Arc::new(Mutex::new(0usize));
    let seen = ranges.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let (data, plan, seen, answered) = (data.clone(), plan.clone(), seen.clone(), answered.clone());
        async move {
            let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string);
            let start = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse::<usize>().ok())
                .unwrap_or(0);
            let start = if plan.misplaced_ranges { 0 } else { start };
            seen.lock().expect("ranges").extend(range.clone());
            let nth = {
                let mut n = answered.lock().expect("count");
                *n += 1;
                *n
            };
            let total = data.len();
            let body = data.slice(start.min(total)..);
            let cut = (nth <= plan.drops).then_some(plan.drop_after);
            let stream = futures::stream::unfold((body, 0usize), move |(rest, sent)| async move {
                if rest.is_empty() {
                    return None;
                }
                if cut.is_some_and(|cut| sent >= cut) {
                    return Some((Err(std::io::Error::other("connection dropped")), (Bytes::new(), sent)));
                }
                if plan.stall_after.is_some_and(|stall| sent >= stall) {
                    futures::future::pending::<()>().await;
                }
                tokio::time::sleep(plan.pause).await;
                let piece = rest.slice(..plan.chunk.min(rest.len()));
                let rest = rest.slice(piece.len()..);
                Some((Ok(piece.clone()), (rest, sent + piece.len())))
            });
            let mut response = Response::builder()
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, total - start);
            if range.is_some() {
                response = response
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header(header::CONTENT_RANGE, format!("bytes {start}-{}/{total}", total - 1));
            }
            response.body(Body::from_stream(stream)).unwrap_or_default()
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, ranges)
}

#[tokio::test]
async fn a_download_streams_to_disk_and_resumes_twice_after_dropped_connections() {
    let data = content(6 * 1024 * 1024 + 123);
    let plan = Plan { chunk: 64 * 1024, drops: 2, drop_after: 2 * 1024 * 1024, ..Plan::default() };
    let (url, ranges) = file_server(data.clone(), plan).await;
    let w = workspace(&url, Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("big.bin");

    let length = w.files().download_to(FILE, &local).await.expect("downloaded");

    assert_eq!(length, data.len() as u64);
    let written = std::fs::read(&local).expect("read back");
    assert_eq!(sha256(&written), sha256(&data), "the content differs");
    // Each drop came after 2 MiB of that answer (less what was in flight):
    // two resumes, each from further on, never from zero.
    let offsets: Vec<u64> = ranges
        .lock()
        .expect("ranges")
        .iter()
        .map(|r| r.trim_start_matches("bytes=").trim_end_matches('-').parse().expect("an offset"))
        .collect();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    let mib = 1024 * 1024;
    assert!(offsets[0] > mib && offsets[0] <= 2 * mib, "{offsets:?}");
    assert!(offsets[1] > offsets[0] + mib && offsets[1] <= offsets[0] + 2 * mib, "{offsets:?}");
    assert!(!dir.path().join("big.bin.part").exists(), "the partial file was renamed into place");
}

#[tokio::test]
async fn a_resume_answered_with_another_part_of_the_file_starts_over_instead_of_stitching() {
    let data = content(3 * 1024 * 1024);
    let plan = Plan { chunk: 64 * 1024, drops: 1, drop_after: 1024 * 1024, misplaced_ranges: true, ..Plan::default() };
    let (url, ranges) = file_server(data.clone(), plan).await;
    let w = workspace(&url, Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("big.bin");

    assert_eq!(w.files().download_to(FILE, &local).await.expect("downloaded"), data.len() as u64);
    assert_eq!(sha256(&std::fs::read(&local).expect("read back")), sha256(&data), "stitched from the wrong offset");
    assert_eq!(ranges.lock().expect("ranges").len(), 1, "one resume asked, then the whole file");
}

#[tokio::test]
async fn a_stalled_transfer_fails_typed_and_leaves_nothing_while_a_slow_steady_one_succeeds() {
    let data = content(256 * 1024);
    let dir = tempfile::tempdir().expect("dir");

    let stalled = Plan { chunk: 16 * 1024, stall_after: Some(64 * 1024), ..Plan::default() };
    let (url, _) = file_server(data.clone(), stalled).await;
    let w = workspace(&url, Duration::from_millis(500)).await;
    let local = dir.path().join("stalled.bin");
    let err = w.files().download_to(FILE, &local).await.expect_err("stalled");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(!local.exists() && !dir.path().join("stalled.bin.part").exists(), "nothing is left behind");

    // Eight pieces 200 ms apart: 1.6 s in all, each read well inside 500 ms.
    let steady = Plan { chunk: 32 * 1024, pause: Duration::from_millis(200), ..Plan::default() };
    let (url, _) = file_server(data.clone(), steady).await;
    let w = workspace(&url, Duration::from_millis(500)).await;
    let local = dir.path().join("steady.bin");
    let length = w.files().download_to(FILE, &local).await.expect("slow but steady");
    assert_eq!(length, data.len() as u64);
    assert_eq!(std::fs::read(&local).expect("read back"), data.to_vec());
}

#[tokio::test]
async fn a_missing_file_is_not_found_and_leaves_nothing() {
    let emulator = brickwork_emulator::Emulator::start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("absent.bin");
    let err = w.files().download_to("/Volumes/main/default/v/absent.bin", &local).await.expect_err("absent");
    assert!(err.kind().is(ErrorKind::NotFound), "{err}");
    assert!(!local.exists() && !dir.path().join("absent.bin.part").exists());
}

#[tokio::test]
async fn the_emulator_serves_byte_ranges_and_a_download_of_it_is_whole() {
    let emulator = brickwork_emulator::Emulator::start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let data = content(3 * 1024 * 1024 + 7);
    w.files().upload(FILE, data.clone()).await.expect("upload");

    let ranged = |range: &'static str| {
        let w = w.clone();
        async move {
            let mut response = w
                .client()
                .api()
                .request(brickwork::transport::Method::GET, format!("/api/2.0/fs/files{FILE}"))
                .header(header::RANGE, header::HeaderValue::from_static(range))
                .send_streaming()
                .await?;
            let content_range = response.headers().get(header::CONTENT_RANGE).cloned();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                body.extend_from_slice(&chunk);
            }
            Ok::<_, brickwork::Error>((response.status(), content_range, body))
        }
    };
    let total = data.len();
    let (status, content_range, body) = ranged("bytes=1000-").await.expect("from an offset");
    assert_eq!((status, body.as_slice()), (206, &data[1000..]));
    assert_eq!(content_range.expect("Content-Range"), format!("bytes 1000-{}/{total}", total - 1).as_str());
    let (status, _, body) = ranged("bytes=10-19").await.expect("a closed range");
    assert_eq!((status, body.as_slice()), (206, &data[10..20]));
    let (status, _, body) = ranged("bytes=-5").await.expect("a suffix");
    assert_eq!((status, body.as_slice()), (206, &data[total - 5..]));
    let err = ranged("bytes=99999999-").await.expect_err("past the end");
    assert_eq!(err.status(), Some(416), "{err}");

    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("from-emulator.bin");
    assert_eq!(w.files().download_to(FILE, &local).await.expect("download"), total as u64);
    assert_eq!(sha256(&std::fs::read(&local).expect("read back")), sha256(&data));
}

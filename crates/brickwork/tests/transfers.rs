//! Streamed transfers against local servers and the emulator: a download
//! goes to disk in bounded memory, picks up after dropped connections with
//! `Range`, fails typed when the transfer stalls and succeeds when it is slow
//! but steady; uploads go in one PUT or in parallel parts, retried part by
//! part, and leave nothing behind when they fail or are cancelled.

#![cfg(feature = "files")]

mod common;

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use brickwork::service::WorkspaceClient;
use brickwork::{Client, Config, ErrorKind};
use brickwork_emulator::{Fault, FaultRule, FaultSettings, Phase};
use bytes::Bytes;
use tokio::net::TcpListener;

const FILE: &str = "/Volumes/main/default/v/big.bin";
/// The smallest part the clouds take: every multipart upload here uses it.
const PART: usize = 5 * 1024 * 1024;

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
    /// Answer a `Range` request with the whole file (a 200, as a server
    /// that does not do ranges).
    ignore_ranges: bool,
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
            let start = if plan.misplaced_ranges || plan.ignore_ranges { 0 } else { start };
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
            if range.is_some() && !plan.ignore_ranges {
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
async fn a_resume_answered_from_the_start_skips_what_came_already_instead_of_stitching() {
    let data = content(3 * 1024 * 1024);
    let misplaced =
        Plan { chunk: 64 * 1024, drops: 1, drop_after: 1024 * 1024, misplaced_ranges: true, ..Plan::default() };
    let ignored = Plan { misplaced_ranges: false, ignore_ranges: true, ..misplaced.clone() };
    for plan in [misplaced, ignored] {
        let (url, ranges) = file_server(data.clone(), plan).await;
        let w = workspace(&url, Duration::from_secs(10)).await;
        let dir = tempfile::tempdir().expect("dir");
        let local = dir.path().join("big.bin");

        assert_eq!(w.files().download_to(FILE, &local).await.expect("downloaded"), data.len() as u64);
        assert_eq!(sha256(&std::fs::read(&local).expect("read back")), sha256(&data), "stitched at the wrong offset");
        assert_eq!(ranges.lock().expect("ranges").len(), 1, "one resume asked");
    }
}

#[tokio::test]
async fn a_download_stream_read_as_async_read_resumes_after_two_drops() {
    use tokio::io::AsyncReadExt;
    let data = content(5 * 1024 * 1024 + 5);
    let plan = Plan { chunk: 64 * 1024, drops: 2, drop_after: 1024 * 1024, ..Plan::default() };
    let (url, ranges) = file_server(data.clone(), plan).await;
    let w = workspace(&url, Duration::from_secs(10)).await;

    let download = w.files().download_stream(FILE).await.expect("opened");
    assert_eq!(download.length(), Some(data.len() as u64));
    let mut read = Vec::new();
    download.into_reader().read_to_end(&mut read).await.expect("read whole");

    assert_eq!(read.len(), data.len());
    assert_eq!(sha256(&read), sha256(&data), "the content differs");
    assert_eq!(ranges.lock().expect("ranges").len(), 2, "resumed twice, never from zero");
}

#[tokio::test]
async fn a_download_stream_of_a_file_replaced_before_a_resume_fails_instead_of_mixing_versions() {
    use futures::StreamExt;
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    // Larger than the sockets' buffers, so the drop comes after the headers were read.
    let first = content(8 * 1024 * 1024);
    w.files().upload(FILE, first.clone()).await.expect("first version");
    emulator.set_faults(faults(vec![rule(
        "/api/2.0/fs/files/",
        "GET",
        1.0,
        Fault::TruncateBody { after_bytes: 4 * 1024 * 1024 },
        Phase::After,
        Some(1),
    )]));
    let mut download = w.files().download_stream(FILE).await.expect("opened");
    let head = download.next().await.expect("a chunk").expect("data");
    assert_eq!(head, first.slice(..head.len()));
    // Same length, other bytes, a later Last-Modified (one-second resolution).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut second = first.to_vec();
    second.reverse();
    w.files().upload(FILE, Bytes::from(second)).overwrite(true).await.expect("second version");

    let mut outcome = Ok(());
    let mut got = head.len();
    while let Some(next) = download.next().await {
        match next {
            Ok(c) => got += c.len(),
            Err(err) => {
                outcome = Err(err);
                break;
            }
        }
    }
    assert!(got < first.len(), "the download stopped at the change");
    let err = outcome.expect_err("the file changed before the resume");
    assert_eq!(err.status(), Some(412), "{err}");
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
async fn a_download_cancelled_mid_body_leaves_no_part_file() {
    let data = content(256 * 1024);
    let dir = tempfile::tempdir().expect("dir");
    // Eight pieces 200 ms apart: still coming when the download is dropped.
    let slow = Plan { chunk: 32 * 1024, pause: Duration::from_millis(200), ..Plan::default() };
    let (url, _) = file_server(data, slow).await;
    let w = workspace(&url, Duration::from_secs(10)).await;
    let local = dir.path().join("cancelled.bin");
    let part = dir.path().join("cancelled.bin.part");
    let mut download = Box::pin(w.files().download_to(FILE, &local).into_future());
    // Let it start writing, then drop it.
    let started = tokio::time::timeout(Duration::from_millis(700), &mut download).await;
    assert!(started.is_err(), "still downloading");
    assert!(part.exists(), "the part file was being written");
    drop(download);
    assert!(!local.exists() && !part.exists(), "nothing is left behind");
}

#[tokio::test]
async fn a_missing_file_is_not_found_and_leaves_nothing() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("absent.bin");
    let err = w.files().download_to("/Volumes/main/default/v/absent.bin", &local).await.expect_err("absent");
    assert!(err.kind().is(ErrorKind::NotFound), "{err}");
    assert!(!local.exists() && !dir.path().join("absent.bin.part").exists());
}

#[tokio::test]
async fn the_emulator_serves_byte_ranges_and_a_download_of_it_is_whole() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
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

fn rule(
    path_prefix: &str,
    method: &str,
    probability: f64,
    fault: Fault,
    phase: Phase,
    times: Option<u64>,
) -> FaultRule {
    FaultRule {
        path_prefix: path_prefix.into(),
        method: Some(method.into()),
        probability,
        fault,
        phase,
        times,
        query: None,
    }
}

fn faults(rules: Vec<FaultRule>) -> FaultSettings {
    FaultSettings { seed: 7, rules, rate_limit_per_principal: None }
}

/// Writes `data` to a temporary file.
fn local_file(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, data).expect("write local file");
    path
}

async fn read_back(w: &WorkspaceClient, path: &str) -> Vec<u8> {
    w.files().download(path).await.expect("download").bytes().to_vec()
}

#[tokio::test]
async fn uploads_go_in_one_put_or_in_parallel_parts_and_arrive_whole() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let data = content(3 * PART + 123);
    let source = local_file(&dir, "source.bin", &data);

    // Smaller than a part (the default, 8 MiB, is more than twice PART): one PUT.
    let small = w
        .files()
        .upload_from("/Volumes/main/default/v/small.bin", &source)
        .part_size(16 * 1024 * 1024)
        .await
        .expect("small");
    assert_eq!(small, data.len() as u64);
    // Parts of PART, three at a time: four parts, the last one short.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let progress = Arc::clone(&seen);
    let sent = w
        .files()
        .upload_from("/Volumes/main/default/v/parts.bin", &source)
        .part_size(PART as u64)
        .parallelism(3)
        .on_progress(move |p| progress.lock().expect("progress").push(p))
        .await
        .expect("multipart");
    assert_eq!(sent, data.len() as u64);
    // From a stream of unknown length, exactly two parts' worth.
    let exact = data.slice(..2 * PART);
    w.files()
        .upload_stream("/Volumes/main/default/v/stream.bin", std::io::Cursor::new(exact.to_vec()))
        .part_size(PART as u64)
        .await
        .expect("stream");

    for (path, expected) in [("small", &data), ("parts", &data), ("stream", &exact)] {
        let got = read_back(&w, &format!("/Volumes/main/default/v/{path}.bin")).await;
        assert_eq!(sha256(&got), sha256(expected), "{path}");
    }
    let seen = seen.lock().expect("progress").clone();
    assert_eq!(seen.len(), 4, "one report per part: {seen:?}");
    assert_eq!(seen.last().map(|p| (p.done, p.total)), Some((data.len() as u64, Some(data.len() as u64))));
    assert!(seen.windows(2).all(|w| w[0].done < w[1].done));
    assert_eq!(emulator.counters().open_uploads, 0);

    // No data at all: a file of no bytes, and the end is still reported.
    let reports = Arc::new(Mutex::new(Vec::new()));
    let progress = Arc::clone(&reports);
    let empty = w
        .files()
        .upload_stream("/Volumes/main/default/v/empty.bin", std::io::Cursor::new(Vec::new()))
        .on_progress(move |p| progress.lock().expect("progress").push((p.done, p.total)))
        .await
        .expect("empty");
    assert_eq!(empty, 0);
    assert_eq!(*reports.lock().expect("progress"), [(0, None)]);
    assert!(read_back(&w, "/Volumes/main/default/v/empty.bin").await.is_empty());

    // overwrite(false) over an existing file: refused before any part is sent.
    let err = w
        .files()
        .upload_from("/Volumes/main/default/v/parts.bin", &source)
        .part_size(PART as u64)
        .overwrite(false)
        .await
        .expect_err("exists");
    assert!(err.kind().is(ErrorKind::AlreadyExists), "{err}");
    assert_eq!(emulator.counters().open_uploads, 0);
}

#[tokio::test]
async fn parts_are_retried_on_their_own_through_throttling_and_outages() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    emulator.set_faults(faults(vec![
        rule("/__storage/parts/", "PUT", 0.3, Fault::Unavailable, Phase::Before, None),
        rule("/__storage/parts/", "PUT", 0.2, Fault::TooManyRequests { retry_after_secs: 0 }, Phase::Before, None),
        // The part is stored but its answer lost: the replay stores it again.
        rule("/__storage/parts/", "PUT", 0.2, Fault::DropConnection, Phase::After, None),
    ]));
    let dir = tempfile::tempdir().expect("dir");
    let data = content(8 * PART + 5);
    let source = local_file(&dir, "source.bin", &data);
    w.files().upload_from(FILE, &source).part_size(PART as u64).parallelism(4).await.expect("upload through faults");
    let injected = emulator.counters().faults_injected_before + emulator.counters().faults_injected_after;
    assert!(injected >= 3, "the faults fired: {injected}");
    emulator.set_faults(FaultSettings::default());
    assert_eq!(sha256(&read_back(&w, FILE).await), sha256(&data));
    assert_eq!(emulator.counters().open_uploads, 0);
}

#[tokio::test]
async fn a_failed_upload_is_aborted_and_leaves_no_file() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    // The third part is refused for good, after the first was stored.
    emulator.set_faults(faults(vec![rule(
        "/__storage/parts/3",
        "PUT",
        1.0,
        Fault::InternalError,
        Phase::Before,
        None,
    )]));
    let dir = tempfile::tempdir().expect("dir");
    let source = local_file(&dir, "source.bin", &content(4 * PART));
    let err = w.files().upload_from(FILE, &source).part_size(PART as u64).await.expect_err("parts refused");
    assert_eq!(err.status(), Some(500), "{err}");
    assert!(err.message().contains("part "), "names the part: {err}");
    assert_eq!(emulator.counters().open_uploads, 0, "aborted");
    let missing = w.files().get_metadata(FILE).await.expect_err("no file");
    assert!(missing.kind().is(ErrorKind::NotFound), "{missing}");
}

#[tokio::test]
async fn where_storage_urls_fail_before_a_part_is_stored_the_upload_goes_in_one_streamed_put() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    // Storage is out of reach (a firewall, say): every part is refused.
    emulator.set_faults(faults(vec![rule("/__storage/parts/", "PUT", 1.0, Fault::InternalError, Phase::Before, None)]));
    let dir = tempfile::tempdir().expect("dir");
    let data = content(4 * PART + 77);
    let source = local_file(&dir, "source.bin", &data);
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reports);
    let sent = w
        .files()
        .upload_from(FILE, &source)
        .part_size(PART as u64)
        .on_progress(move |p| seen.lock().expect("reports").push(p.done))
        .await
        .expect("one PUT instead");
    assert_eq!(sent, data.len() as u64);
    // Progress came as the body went out (64 KiB at a time), not only at the end.
    let reports = reports.lock().expect("reports").clone();
    assert!(reports.len() >= 3 && reports.windows(2).all(|w| w[0] < w[1]), "{reports:?}");
    assert_eq!(reports.last(), Some(&(data.len() as u64)));
    // A one-pass stream too: the part already read goes first, then the rest.
    let streamed = "/Volumes/main/default/v/streamed.bin";
    let sent = w
        .files()
        .upload_stream(streamed, std::io::Cursor::new(data.to_vec()))
        .part_size(PART as u64)
        .await
        .expect("streamed PUT instead");
    assert_eq!(sent, data.len() as u64);
    assert!(emulator.counters().faults_injected_before >= 2, "the parts were tried first");
    assert_eq!(emulator.counters().open_uploads, 0, "the declined sessions were aborted");
    emulator.set_faults(FaultSettings::default());
    for path in [FILE, streamed] {
        assert_eq!(sha256(&read_back(&w, path).await), sha256(&data), "{path}");
    }
    // A target that may not be replaced is refused, not sent another way.
    let err = w.files().upload_from(FILE, &source).part_size(PART as u64).overwrite(false).await.expect_err("exists");
    assert!(err.kind().is(ErrorKind::AlreadyExists), "{err}");
}

/// A workspace whose `initiate-upload` offers only a resumable upload (as
/// GCP workspaces do): records each `PUT` as its `Content-Length` and body.
async fn resumable_only_workspace() -> (String, Arc<Mutex<Vec<(Option<String>, Bytes)>>>) {
    let resumable = serde_json::json!({"resumable_upload": {"session_token": "gcs-session"}});
    workspace_answering_initiate(StatusCode::OK, resumable).await
}

/// A workspace that answers `initiate-upload` with `status` and `answer`
/// and records the plain PUTs it takes.
async fn workspace_answering_initiate(
    status: StatusCode,
    answer: serde_json::Value,
) -> (String, Arc<Mutex<Vec<(Option<String>, Bytes)>>>) {
    use axum::routing::post;
    let puts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&puts);
    let app = axum::Router::new()
        .route(
            "/api/2.0/fs/files/{*path}",
            post(move || async move { (status, axum::Json(answer)) }).put(
                move |headers: HeaderMap, body: Bytes| async move {
                    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(str::to_string);
                    seen.lock().expect("puts").push((length, body));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        // Whole files come in one PUT here: past axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, puts)
}

#[tokio::test]
async fn a_workspace_offering_only_resumable_uploads_takes_the_file_in_one_put_with_its_length() {
    let (url, puts) = resumable_only_workspace().await;
    let w = workspace(&url, Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let data = content(3 * PART + 5);
    let source = local_file(&dir, "source.bin", &data);
    let sent = w.files().upload_from(FILE, &source).part_size(PART as u64).await.expect("upload");
    assert_eq!(sent, data.len() as u64);
    let puts = puts.lock().expect("puts").clone();
    assert_eq!(puts.len(), 1, "one PUT");
    let (length, body) = &puts[0];
    assert_eq!(length.as_deref(), Some(data.len().to_string().as_str()), "sent with its length, not chunked");
    assert_eq!(sha256(body), sha256(&data));
}

#[tokio::test]
async fn credentials_turned_away_at_initiate_are_final_and_no_put_follows() {
    let refused = serde_json::json!({"error_code": "UNAUTHENTICATED", "message": "Invalid access token."});
    let (url, puts) = workspace_answering_initiate(StatusCode::UNAUTHORIZED, refused).await;
    let w = workspace(&url, Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let source = local_file(&dir, "source.bin", &content(3 * PART));
    let err = w.files().upload_from(FILE, &source).part_size(PART as u64).await.expect_err("refused");
    assert!(err.kind().is(ErrorKind::Unauthenticated), "{err}");
    assert!(puts.lock().expect("puts").is_empty(), "no PUT with the same credentials");
}

#[tokio::test]
async fn a_cancelled_upload_is_aborted_and_leaves_no_file() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    // Parts crawl, so the upload is still sending them when it is dropped.
    emulator.set_faults(faults(vec![rule(
        "/__storage/parts/",
        "PUT",
        1.0,
        Fault::Latency { ms: 5_000 },
        Phase::Before,
        None,
    )]));
    let dir = tempfile::tempdir().expect("dir");
    let source = local_file(&dir, "source.bin", &content(4 * PART));
    let upload = w.files().upload_from(FILE, &source).part_size(PART as u64).into_future();
    let cancelled = tokio::time::timeout(Duration::from_millis(300), upload).await;
    assert!(cancelled.is_err(), "the upload was still running");
    // The abort runs in the background after the drop: wait for it.
    for _ in 0..100 {
        if emulator.counters().open_uploads == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(emulator.counters().open_uploads, 0, "aborted after the cancel");
    emulator.set_faults(FaultSettings::default());
    let missing = w.files().get_metadata(FILE).await.expect_err("no file");
    assert!(missing.kind().is(ErrorKind::NotFound), "{missing}");
}

/// A rule that slows the answers of one multipart action (`initiate-upload`,
/// `complete-upload`) or DBFS call: the server has acted, the answer waits.
fn slow_answer(path_prefix: &str, query: Option<&str>, ms: u64) -> FaultRule {
    FaultRule {
        query: query.map(str::to_string),
        ..rule(path_prefix, "POST", 1.0, Fault::Latency { ms }, Phase::After, None)
    }
}

#[tokio::test]
async fn an_upload_cancelled_while_it_initiates_aborts_the_session_it_never_learnt_of() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    emulator.set_faults(faults(vec![slow_answer("/api/2.0/fs/files/", Some("action=initiate-upload"), 1_500)]));
    let dir = tempfile::tempdir().expect("dir");
    let source = local_file(&dir, "source.bin", &content(2 * PART));
    let upload = w.files().upload_from(FILE, &source).part_size(PART as u64).into_future();
    let cancelled = tokio::time::timeout(Duration::from_millis(300), upload).await;
    assert!(cancelled.is_err(), "the upload was still initiating");
    assert_eq!(emulator.counters().open_uploads, 1, "the server opened a session the caller never saw");
    brickwork::cleanup::wait_for_background_cleanups().await;
    assert_eq!(emulator.counters().open_uploads, 0, "aborted once its answer came");
    assert!(w.files().get_metadata(FILE).await.is_err(), "no file");
}

#[tokio::test]
async fn a_dbfs_write_cancelled_while_it_creates_closes_the_handle_it_never_learnt_of() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    emulator.set_faults(faults(vec![slow_answer("/api/2.0/dbfs/create", None, 1_500)]));
    let dir = tempfile::tempdir().expect("dir");
    let source = local_file(&dir, "source.bin", &content(2 * 1024 * 1024 + 5));
    let write = w.dbfs().upload_from("/tmp/creating.bin", &source).into_future();
    let cancelled = tokio::time::timeout(Duration::from_millis(300), write).await;
    assert!(cancelled.is_err(), "the write was still creating");
    assert_eq!(emulator.counters().open_dbfs_handles, 1, "the server opened a handle the caller never saw");
    brickwork::cleanup::wait_for_background_cleanups().await;
    assert_eq!(emulator.counters().open_dbfs_handles, 0, "closed once its answer came");
    emulator.set_faults(faults(vec![]));
    let missing = w.dbfs().get_status("/tmp/creating.bin").await.expect_err("no file");
    assert!(missing.kind().is(ErrorKind::NotFound), "{missing}");
}

#[tokio::test]
async fn a_completed_upload_whose_answer_was_lost_is_found_stored_not_aborted() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let data = content(2 * PART + 5);
    let source = local_file(&dir, "source.bin", &data);
    // An older file of the same length is there: only a fresh one counts.
    w.files().upload(FILE, data.clone()).await.expect("older file");
    let dropped = FaultRule {
        query: Some("action=complete-upload".into()),
        ..rule("/api/2.0/fs/files/", "POST", 1.0, Fault::DropConnection, Phase::After, Some(1))
    };
    emulator.set_faults(faults(vec![dropped]));
    let sent = w.files().upload_from(FILE, &source).part_size(PART as u64).await.expect("stored, answer lost");
    assert_eq!(sent, data.len() as u64);
    assert_eq!(emulator.counters().faults_injected_after, 1, "the completion's answer was dropped");
    assert_eq!(emulator.counters().open_uploads, 0);
    assert_eq!(sha256(&read_back(&w, FILE).await), sha256(&data));

    // Refused for real (not only its answer lost) over an older file of the
    // same length: that file is not taken for this upload's. Dates go by the
    // second: the older file is made a second older first.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let refused = FaultRule {
        query: Some("action=complete-upload".into()),
        ..rule("/api/2.0/fs/files/", "POST", 1.0, Fault::InternalError, Phase::Before, None)
    };
    emulator.set_faults(faults(vec![refused]));
    let other = content(2 * PART + 5).iter().map(|b| b ^ 0xff).collect::<Vec<u8>>();
    let other_source = local_file(&dir, "other.bin", &other);
    let err = w.files().upload_from(FILE, &other_source).part_size(PART as u64).await.expect_err("refused");
    assert_eq!(err.status(), Some(500), "{err}");
    emulator.set_faults(faults(vec![]));
    assert_eq!(emulator.counters().open_uploads, 0, "aborted");
    assert_eq!(sha256(&read_back(&w, FILE).await), sha256(&data), "the older file is still there");
}

#[tokio::test]
async fn a_download_from_the_emulator_resumes_after_two_drops_mid_body() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let data = content(2 * 1024 * 1024 + 11);
    w.files().upload(FILE, data.clone()).await.expect("upload");
    emulator.set_faults(faults(vec![rule(
        "/api/2.0/fs/files/",
        "GET",
        1.0,
        Fault::TruncateBody { after_bytes: 300_000 },
        Phase::After,
        Some(2),
    )]));
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("resumed.bin");
    assert_eq!(w.files().download_to(FILE, &local).await.expect("download"), data.len() as u64);
    assert_eq!(sha256(&std::fs::read(&local).expect("read back")), sha256(&data));
    assert_eq!(emulator.counters().faults_by_kind.get("truncate_body:after"), Some(&2));
}

#[tokio::test]
async fn a_parallel_download_fetches_ranges_at_once_and_resumes_each_on_its_own() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let data = content(10 * 256 * 1024 + 77);
    w.files().upload(FILE, data.clone()).await.expect("upload");
    // Three ranges lose their connection partway; each picks up on its own.
    emulator.set_faults(faults(vec![rule(
        "/api/2.0/fs/files/",
        "GET",
        0.5,
        Fault::TruncateBody { after_bytes: 100_000 },
        Phase::After,
        Some(3),
    )]));
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("parallel.bin");
    let last = Arc::new(Mutex::new(None));
    let progress = Arc::clone(&last);
    let length = w
        .files()
        .download_to(FILE, &local)
        .parallelism(4)
        .range_size(256 * 1024)
        .on_progress(move |p| *progress.lock().expect("progress") = Some(p))
        .await
        .expect("parallel download");
    assert_eq!(length, data.len() as u64);
    assert_eq!(sha256(&std::fs::read(&local).expect("read back")), sha256(&data));
    assert_eq!(emulator.counters().faults_by_kind.get("truncate_body:after"), Some(&3));
    let last = last.lock().expect("progress").expect("reported");
    assert_eq!((last.done, last.total), (data.len() as u64, Some(data.len() as u64)));
    assert!(!dir.path().join("parallel.bin.part").exists());
}

#[tokio::test]
async fn a_parallel_download_of_a_file_replaced_meanwhile_fails_instead_of_mixing_versions() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    w.files().upload(FILE, content(1024 * 1024)).await.expect("first version");
    // The ranges wait in the emulator while the file is replaced a second or more later.
    emulator.set_faults(faults(vec![rule(
        "/api/2.0/fs/files/",
        "GET",
        1.0,
        Fault::Latency { ms: 4_000 },
        Phase::Before,
        None,
    )]));
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("mixed.bin");
    let download =
        tokio::spawn(w.files().download_to(FILE, local.clone()).parallelism(2).range_size(256 * 1024).into_future());
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    w.files().upload(FILE, content(1024 * 1024 + 1)).await.expect("second version");
    let err = download.await.expect("joined").expect_err("the file changed");
    assert_eq!(err.status(), Some(412), "{err}");
    assert!(!local.exists() && !dir.path().join("mixed.bin.part").exists());
}

#[tokio::test]
async fn presigned_urls_and_session_tokens_stay_out_of_logs_and_errors() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let (captured, _guard) = common::Captured::trace();
    let cfg = Config::builder()
        .host(emulator.url())
        .token(emulator.token())
        .set("debug_truncate_bytes", "100000")
        .set("debug_headers", "true")
        .without_environment()
        .build()
        .expect("cfg");
    let client = Client::builder().config(cfg).retry_policy(common::fast_retries()).build().await.expect("client");
    let w = WorkspaceClient::from_client(client);
    // One part is throttled and retried, the last ones refused for good: both paths log.
    emulator.set_faults(faults(vec![
        rule("/__storage/parts/", "PUT", 1.0, Fault::TooManyRequests { retry_after_secs: 0 }, Phase::Before, Some(1)),
        rule("/__storage/parts/3", "PUT", 1.0, Fault::InternalError, Phase::Before, None),
    ]));
    let dir = tempfile::tempdir().expect("dir");
    let source = local_file(&dir, "source.bin", &content(3 * PART));
    let err = w.files().upload_from(FILE, &source).part_size(PART as u64).await.expect_err("part 3 refused");
    let logs = captured.text();
    assert!(logs.contains("/__storage/parts/"), "the part requests are logged: {logs}");
    let everything = format!("{logs}\n{err}\n{err:?}");
    for leak in ["signature=", "upload=", "session_token="] {
        assert!(!everything.contains(leak), "{leak} leaked: {everything}");
    }
    // The session token is logged only redacted.
    let named = everything.matches("\"session_token\":\"").count();
    assert!(named > 0, "the part URL requests are logged with their bodies");
    assert_eq!(named, everything.matches("\"session_token\":\"**REDACTED**\"").count(), "{everything}");
}

/// How a server takes an upload's body: `chunk` bytes every `pause`, and
/// nothing more after `stall_after` bytes.
#[derive(Clone, Copy)]
struct Intake {
    chunk: usize,
    pause: Duration,
    stall_after: Option<usize>,
}

/// A server that reads request bodies as `intake` says through a small
/// receive buffer (so the client sees the pace), answering 200 once a body
/// is in; returns its URL and the bodies it received whole.
async fn slow_intake_server(intake: Intake) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let listener = socket.listen(16).expect("listen");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let bodies = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let bodies = Arc::clone(&bodies);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut body = Vec::with_capacity(length);
                let mut piece = vec![0u8; intake.chunk];
                while body.len() < length {
                    if intake.stall_after.is_some_and(|stall| body.len() >= stall) {
                        futures::future::pending::<()>().await;
                    }
                    tokio::time::sleep(intake.pause).await;
                    let want = intake.chunk.min(length - body.len());
                    if stream.read_exact(&mut piece[..want]).await.is_err() {
                        return;
                    }
                    body.extend_from_slice(&piece[..want]);
                }
                bodies.lock().expect("bodies").push(body);
                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, received)
}

#[tokio::test]
async fn a_stalled_upload_fails_typed_while_a_slow_steady_one_succeeds() {
    let dir = tempfile::tempdir().expect("dir");
    // Loopback buffers hold a few MiB the client cannot see drain: the pace
    // below empties them well inside the timeout.
    let idle = Duration::from_millis(1500);

    // 64 KiB every 10 ms: 24 MiB, in one PUT, take about 4 s, far past the
    // timeout, yet the body never stands still.
    let data = content(24 * 1024 * 1024);
    let steady = Intake { chunk: 64 * 1024, pause: Duration::from_millis(10), stall_after: None };
    let (url, received) = slow_intake_server(steady).await;
    let w = workspace(&url, idle).await;
    let local = local_file(&dir, "steady.bin", &data);
    let sent = w.files().upload_from(FILE, local).part_size(32 * 1024 * 1024).await.expect("slow but steady");
    assert_eq!(sent, data.len() as u64);
    // The plain operation sends its body the same way.
    w.files().upload(FILE, data.clone()).await.expect("slow but steady, one call");
    let bodies = received.lock().expect("bodies").clone();
    assert!(bodies.len() == 2 && bodies.iter().all(|body| *body == data), "each received once, whole");

    // A peer that stops reading: a typed timeout, retried within the budget.
    let stalled = Intake { chunk: 16 * 1024, pause: Duration::ZERO, stall_after: Some(64 * 1024) };
    let (url, received) = slow_intake_server(stalled).await;
    let cfg = Config::builder()
        .host(&url)
        .token("dapi-transfers")
        .without_environment()
        .http_timeout(Duration::from_millis(300))
        .retry_timeout(Duration::from_secs(2))
        .build()
        .expect("cfg");
    let client = Client::builder().config(cfg).retry_policy(common::fast_retries()).build().await.expect("client");
    let w = WorkspaceClient::from_client(client);
    let local = local_file(&dir, "stalled.bin", &data);
    let err = w.files().upload_from(FILE, local).part_size(32 * 1024 * 1024).await.expect_err("stalled");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("stood still"), "{err}");
    assert!(received.lock().expect("bodies").is_empty());
}

#[tokio::test]
async fn dbfs_writes_report_progress_and_a_failed_one_leaves_no_file() {
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let data = content(2 * 1024 * 1024 + 5);
    let source = local_file(&dir, "big.bin", &data);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let progress = Arc::clone(&seen);
    let report = move |p: brickwork::service::helpers::Progress| progress.lock().expect("progress").push(p);
    let sent = w.dbfs().upload_from("/tmp/big.bin", &source).on_progress(report).await.expect("upload");
    assert_eq!(sent, data.len() as u64);
    let total = Some(data.len() as u64);
    let reports: Vec<_> = seen.lock().expect("progress").iter().map(|p| (p.done, p.total)).collect();
    assert_eq!(reports, [(1 << 20, total), (2 << 20, total), (data.len() as u64, total)], "one per 1 MB block");

    seen.lock().expect("progress").clear();
    let progress = Arc::clone(&seen);
    let local = dir.path().join("back.bin");
    let report = move |p: brickwork::service::helpers::Progress| progress.lock().expect("progress").push(p);
    w.dbfs().download_to("/tmp/big.bin", &local).on_progress(report).await.expect("download");
    assert_eq!(sha256(&std::fs::read(&local).expect("back")), sha256(&data));
    let last = seen.lock().expect("progress").last().copied().map(|p| (p.done, p.total));
    assert_eq!(last, Some((data.len() as u64, total)), "the size known from the start");

    // A block refused for good: the handle is closed and the torn file removed.
    emulator.set_faults(faults(vec![rule(
        "/api/2.0/dbfs/add-block",
        "POST",
        1.0,
        Fault::InternalError,
        Phase::Before,
        None,
    )]));
    let err = w.dbfs().upload_from("/tmp/torn.bin", &source).await.expect_err("blocks refused");
    assert_eq!(err.status(), Some(500), "{err}");
    emulator.set_faults(faults(vec![]));
    let missing = w.dbfs().get_status("/tmp/torn.bin").await.expect_err("no file");
    assert!(missing.kind().is(ErrorKind::NotFound), "{missing}");

    // A write dropped (cancelled) while its blocks crawl: the file goes too.
    emulator.set_faults(faults(vec![rule(
        "/api/2.0/dbfs/add-block",
        "POST",
        1.0,
        Fault::Latency { ms: 5_000 },
        Phase::Before,
        None,
    )]));
    let write = tokio::spawn(w.dbfs().upload_from("/tmp/cancelled.bin", &source).into_future());
    // Cancel only once the handle is open, however slowly the machine got there.
    for _ in 0..250 {
        if emulator.counters().open_dbfs_handles == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(emulator.counters().open_dbfs_handles, 1, "the write opened its handle");
    write.abort();
    emulator.set_faults(faults(vec![]));
    // The clean-up runs in the background after the drop: wait for it.
    for _ in 0..100 {
        if emulator.counters().open_dbfs_handles == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(emulator.counters().open_dbfs_handles, 0, "the handle was closed after the cancel");
    let missing = w.dbfs().get_status("/tmp/cancelled.bin").await.expect_err("no file");
    assert!(missing.kind().is(ErrorKind::NotFound), "{missing}");
}

#[tokio::test]
async fn trees_copy_between_this_machine_volumes_and_dbfs_and_arrive_whole() {
    use brickwork::service::helpers::Location;
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let dir = tempfile::tempdir().expect("dir");
    let big = content(3 * 1024 * 1024 + 17);
    std::fs::create_dir_all(dir.path().join("tree/sub")).expect("tree");
    std::fs::write(dir.path().join("tree/big.bin"), &big).expect("big");
    std::fs::write(dir.path().join("tree/sub/small.txt"), "small").expect("small");
    let local = |p: &str| Location::Local(dir.path().join(p));
    let volume = Location::parse("dbfs:/Volumes/main/default/v/tree");
    let dbfs = Location::parse("dbfs:/tmp/tree");

    let refused = w.copy(local("tree"), volume.clone()).await.expect_err("a directory");
    assert_eq!(refused.kind(), ErrorKind::InvalidParameterValue, "{refused}");
    let files = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&files);
    let copied = w
        .copy(local("tree"), volume.clone())
        .recursive(true)
        .on_progress(move |file, _| seen.lock().expect("files").push(file.to_string()))
        .await
        .expect("up");
    assert_eq!((copied.files, copied.bytes), (2, big.len() as u64 + 5));
    let mut reported = files.lock().expect("files").clone();
    reported.dedup();
    assert_eq!(reported.len(), 2, "each file reports under its own name: {reported:?}");
    // Volume to DBFS and back to this machine, piped through the client.
    let piped = w.copy(volume.clone(), dbfs.clone()).recursive(true).await.expect("across");
    assert_eq!(piped, copied);
    w.copy(dbfs.clone(), local("back")).recursive(true).await.expect("down");
    assert_eq!(sha256(&std::fs::read(dir.path().join("back/big.bin")).expect("big")), sha256(&big));
    assert_eq!(std::fs::read_to_string(dir.path().join("back/sub/small.txt")).expect("small"), "small");

    // One file into an existing directory keeps its name; an existing local file needs overwrite.
    w.copy(dbfs.join("sub").join("small.txt"), volume.clone()).await.expect("into a directory");
    let got = read_back(&w, "/Volumes/main/default/v/tree/small.txt").await;
    assert_eq!(got, b"small");
    let exists = w.copy(volume.join("small.txt"), local("back/sub/small.txt")).await.expect_err("exists");
    assert_eq!(exists.kind(), ErrorKind::AlreadyExists, "{exists}");
    w.copy(volume.join("small.txt"), local("back/sub/small.txt")).overwrite(true).await.expect("overwrite");
    assert_eq!(emulator.counters().open_uploads, 0);
}

#[cfg(feature = "workspace")]
#[tokio::test]
async fn workspace_objects_past_the_json_limit_go_in_and_out_streamed() {
    use brickwork::service::helpers::UploadOptions;
    use brickwork::service::workspace::{ExportFormat, ImportFormat, Language};
    let emulator = brickwork_emulator::Emulator::builder().volume("main.default.v").start().await.expect("emulator");
    let w = workspace_with_token(emulator.url(), emulator.token(), Duration::from_secs(10)).await;
    let folder = "/Users/admin@example.com/large";
    w.workspace().mkdirs(folder).await.expect("mkdirs");
    let dir = tempfile::tempdir().expect("dir");
    // Past the 10 MB a base64 JSON import may carry.
    let data = content(12 * 1024 * 1024 + 3);
    let source = local_file(&dir, "data.bin", &data);
    let raw = UploadOptions::default().format(ImportFormat::Raw);
    let path = format!("{folder}/data.bin");

    let ups = Arc::new(Mutex::new(Vec::new()));
    let progress = Arc::clone(&ups);
    let sent = w
        .workspace()
        .upload_from(&path, &source, raw.clone())
        .on_progress(move |p| progress.lock().expect("progress").push((p.done, p.total)))
        .await
        .expect("streamed import");
    assert_eq!(sent, data.len() as u64);
    let local = dir.path().join("back.bin");
    let downs = Arc::new(Mutex::new(Vec::new()));
    let progress = Arc::clone(&downs);
    let length = w
        .workspace()
        .download_to(&path, &local, ExportFormat::Auto)
        .on_progress(move |p| progress.lock().expect("progress").push((p.done, p.total)))
        .await
        .expect("streamed export");
    assert_eq!(length, data.len() as u64);
    // From memory and back to memory, with progress the same way.
    let in_memory = format!("{folder}/memory.bin");
    let (mem_ups, mem_downs) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let progress = Arc::clone(&mem_ups);
    let sent = w
        .workspace()
        .upload(&in_memory, data.clone(), raw.clone())
        .on_progress(move |p| progress.lock().expect("progress").push((p.done, p.total)))
        .await
        .expect("import from memory");
    assert_eq!(sent, data.len() as u64);
    let progress = Arc::clone(&mem_downs);
    let back = w
        .workspace()
        .download(&in_memory, ExportFormat::Auto)
        .on_progress(move |p| progress.lock().expect("progress").push((p.done, p.total)))
        .await
        .expect("export to memory");
    assert_eq!(sha256(&back), sha256(&data));
    // Progress counts the file's bytes only (not the form around them), rising to the whole.
    let total = Some(data.len() as u64);
    let all =
        [("upload", ups), ("download", downs), ("upload from memory", mem_ups), ("download to memory", mem_downs)];
    for (what, reports) in all {
        let reports = reports.lock().expect("progress").clone();
        assert!(reports.len() >= 3, "{what} reported as it went: {reports:?}");
        assert!(reports.windows(2).all(|w| w[0].0 < w[1].0), "{what} rose: {reports:?}");
        assert!(reports.iter().all(|r| r.1 == total), "{what}: {reports:?}");
        assert_eq!(reports.last(), Some(&(data.len() as u64, total)), "{what}");
    }
    assert_eq!(sha256(&std::fs::read(&local).expect("read back")), sha256(&data));
    assert!(!dir.path().join("back.bin.part").exists());

    let err = w.workspace().upload_from(&path, &source, raw.clone()).await.expect_err("exists");
    assert!(err.kind().is(ErrorKind::ResourceAlreadyExists), "{err}");
    w.workspace().upload(&path, "short", raw.overwrite(true)).await.expect("overwritten");
    assert_eq!(w.workspace().download(&path, ExportFormat::Auto).await.expect("export"), Bytes::from("short"));

    let notebook = "# Databricks notebook source\nprint('hi')\n";
    let nb_path = format!("{folder}/nb");
    w.workspace().upload(&nb_path, notebook, UploadOptions::notebook(Language::Python)).await.expect("notebook");
    assert_eq!(w.workspace().download(&nb_path, ExportFormat::Source).await.expect("source"), Bytes::from(notebook));
    let huge = format!("{notebook}{}", "#".repeat(11 * 1024 * 1024));
    let err = w.workspace().upload(&nb_path, huge, UploadOptions::notebook(Language::Python).overwrite(true)).await;
    assert_eq!(err.expect_err("too large").status(), Some(400));

    let missing = dir.path().join("missing.bin");
    let err = w.workspace().download_to(&format!("{folder}/nope"), &missing, ExportFormat::Auto).await;
    assert!(err.expect_err("missing").kind().is(ErrorKind::NotFound));
    assert!(!missing.exists() && !dir.path().join("missing.bin.part").exists());
}

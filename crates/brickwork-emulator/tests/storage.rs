//! Stored file data: the memory budget, DBFS handles that expire when left
//! idle, and the multipart rules storage enforces at completion.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use brickwork::transport::Method;
use brickwork::ErrorKind;
use common::*;
use serde_json::{json, Value};

const MIB: usize = 1024 * 1024;

/// What the budget counts besides the paths of files and folders (each
/// emulator starts with home folders; a file's name counts beside its data).
fn data_bytes(emulator: &brickwork_emulator::EmulatorHandle) -> u64 {
    let counters = emulator.counters();
    counters.stored_bytes - counters.stored_name_bytes
}

async fn put_file(c: &brickwork::Client, path: &str, size: usize) -> brickwork::Result<()> {
    let endpoint = format!("/api/2.0/fs/files{path}");
    c.api().request(Method::PUT, endpoint.as_str()).bytes(vec![7u8; size]).send().await.map(drop)
}

#[tokio::test]
async fn writes_past_the_storage_budget_are_refused_and_deletes_give_it_back() {
    // Small refused bodies: they fit the socket buffers whole, so the early
    // answer is read before the connection closes.
    let (emulator, c) = start_with(fast().max_stored_bytes(2 * MIB as u64)).await;
    put_file(&c, "/Volumes/main/default/v/a.bin", MIB).await.expect("within the budget");
    assert_eq!(data_bytes(&emulator), MIB as u64);

    let err = put_file(&c, "/Volumes/main/default/v/b.bin", MIB + 1024).await.expect_err("past the budget");
    assert_eq!(err.status(), Some(413), "{err}");
    assert!(err.message().contains("storage budget"), "{err}");
    assert_eq!(data_bytes(&emulator), MIB as u64, "the refused body is not held");

    // DBFS blocks count against the same budget.
    let handle = post(&c, "/api/2.0/dbfs/create", json!({"path": "/tmp/c.bin"})).await["handle"].clone();
    let block = base64_of(&vec![1u8; MIB]);
    let err = c
        .api()
        .post::<Value>("/api/2.0/dbfs/add-block", &json!({"handle": handle, "data": block}))
        .await
        .and(c.api().post::<Value>("/api/2.0/dbfs/add-block", &json!({"handle": handle, "data": block})).await)
        .expect_err("the second block is past the budget");
    assert_eq!(err.status(), Some(413), "{err}");

    // Replacing and deleting give the space back.
    post(&c, "/api/2.0/dbfs/close", json!({"handle": handle})).await;
    c.api().request(Method::DELETE, "/api/2.0/fs/files/Volumes/main/default/v/a.bin").send().await.expect("delete");
    post(&c, "/api/2.0/dbfs/delete", json!({"path": "/tmp/c.bin"})).await;
    assert_eq!(data_bytes(&emulator), 0);
    put_file(&c, "/Volumes/main/default/v/b.bin", MIB + 1024).await.expect("room again");
}

fn base64_of(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[tokio::test]
async fn a_dbfs_handle_left_idle_ten_minutes_is_closed_and_its_data_dropped() {
    // An emulated minute of 100 ms: ten of them pass in a second.
    let (emulator, c) = start_with(fast().minute(Duration::from_millis(100))).await;
    let handle = post(&c, "/api/2.0/dbfs/create", json!({"path": "/tmp/idle.bin"})).await["handle"].clone();
    post(&c, "/api/2.0/dbfs/add-block", json!({"handle": handle, "data": base64_of(b"abc")})).await;
    assert_eq!(data_bytes(&emulator), 3);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(emulator.counters().open_dbfs_handles, 0);
    assert_eq!(data_bytes(&emulator), 0, "its data went as its time ran out, with no call to it");
    let err = c
        .api()
        .post::<Value>("/api/2.0/dbfs/add-block", &json!({"handle": handle, "data": base64_of(b"def")}))
        .await
        .expect_err("expired");
    assert!(err.is(ErrorKind::ResourceDoesNotExist), "{err}");
    let missing = c.api().get::<Value>("/api/2.0/dbfs/get-status", &json!({"path": "/tmp/idle.bin"})).await;
    assert!(missing.is_err(), "no file was made");
}

#[tokio::test]
async fn open_dbfs_handles_are_capped_and_closing_one_makes_room() {
    let (emulator, c) = start().await;
    let mut first = Value::Null;
    for i in 0..1_000 {
        let handle = post(&c, "/api/2.0/dbfs/create", json!({"path": format!("/tmp/h{i}")})).await["handle"].clone();
        if i == 0 {
            first = handle;
        }
    }
    assert_eq!(emulator.counters().open_dbfs_handles, 1_000);
    let err = c.api().post::<Value>("/api/2.0/dbfs/create", &json!({"path": "/tmp/one-too-many"})).await;
    let err = err.expect_err("capped");
    // A 400, not a 429: waiting and retrying would not free a handle.
    assert_eq!((err.status(), err.error_code()), (Some(400), Some("RESOURCE_EXHAUSTED")), "{err}");
    post(&c, "/api/2.0/dbfs/close", json!({"handle": first})).await;
    post(&c, "/api/2.0/dbfs/create", json!({"path": "/tmp/one-too-many"})).await;
}

#[tokio::test]
async fn notebooks_and_statements_count_against_the_storage_budget() {
    let (emulator, c) = start_with(fast().max_stored_bytes(MIB as u64)).await;
    let import = |path: &str, size: usize| {
        let (c, path) = (c.clone(), path.to_string());
        async move {
            let content = base64_of(&vec![b'#'; size]);
            let body =
                json!({"path": path, "format": "SOURCE", "language": "PYTHON", "content": content, "overwrite": true});
            c.api().post::<Value>("/api/2.0/workspace/import", &body).await
        }
    };
    import("/Shared/big", MIB / 2).await.expect("within the budget");
    assert_eq!(data_bytes(&emulator), (MIB / 2) as u64);
    let err = import("/Shared/bigger", MIB / 2 + 1).await.expect_err("past the budget");
    assert_eq!((err.status(), err.error_code()), (Some(413), Some("RESOURCE_EXHAUSTED")), "{err}");
    let statement = json!({"statement": format!("SELECT '{}'", "x".repeat(MIB / 2)), "warehouse_id": "none"});
    let err = c.api().post::<Value>("/api/2.0/sql/statements", &statement).await.expect_err("past the budget");
    assert_eq!(err.status(), Some(413), "{err}");
    post(&c, "/api/2.0/workspace/delete", json!({"path": "/Shared/big"})).await;
    assert_eq!(data_bytes(&emulator), 0, "a deleted notebook gives its bytes back");
    import("/Shared/bigger", MIB / 2 + 1).await.expect("room again");
}

/// Initiate an upload of `path`, store `sizes` as its parts through their
/// presigned URLs, and answer the session token and the parts' ETags.
async fn upload_parts(c: &brickwork::Client, path: &str, sizes: &[usize]) -> (String, Vec<Value>) {
    let endpoint = format!("/api/2.0/fs/files{path}");
    let initiated: Value = c
        .api()
        .request(Method::POST, endpoint.as_str())
        .query(&json!({"action": "initiate-upload"}))
        .send()
        .await
        .expect("initiate")
        .json()
        .expect("json");
    let token = initiated["multipart_upload"]["session_token"].as_str().expect("token").to_string();
    let http = reqwest::Client::new();
    let mut parts = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let number = i + 1;
        let urls = post(
            c,
            "/api/2.0/fs/create-upload-part-urls",
            json!({"path": path, "session_token": token, "start_part_number": number, "count": 1}),
        )
        .await;
        let url = urls["upload_part_urls"][0]["url"].as_str().expect("url").to_string();
        let stored = http.put(url).body(vec![3u8; *size]).send().await.expect("part");
        assert!(stored.status().is_success(), "{}", stored.status());
        let etag = stored.headers()["etag"].to_str().expect("etag").to_string();
        parts.push(json!({"part_number": number, "etag": etag}));
    }
    (token, parts)
}

async fn complete(c: &brickwork::Client, path: &str, token: &str, parts: Vec<Value>) -> brickwork::Result<()> {
    let endpoint = format!("/api/2.0/fs/files{path}");
    let query = json!({"action": "complete-upload", "upload_type": "multipart", "session_token": token});
    c.api().request(Method::POST, endpoint.as_str()).query(&query).json(&json!({"parts": parts})).send().await.map(drop)
}

#[tokio::test]
async fn an_upload_untouched_for_a_day_of_emulated_minutes_is_dropped_with_its_parts() {
    // A day of 1 ms minutes is 1.44 s.
    let (emulator, c) = start_with(fast().minute(Duration::from_millis(1))).await;
    let path = "/Volumes/main/default/v/abandoned.bin";
    let (token, parts) = upload_parts(&c, path, &[MIB]).await;
    assert_eq!(data_bytes(&emulator), MIB as u64);
    poll(400, || async { (data_bytes(&emulator) == 0).then_some(Value::Null) }).await;
    let err = complete(&c, path, &token, parts).await.expect_err("abandoned");
    assert!(err.is(ErrorKind::NotFound) || err.is(ErrorKind::ResourceDoesNotExist), "{err}");
}

#[tokio::test]
async fn parts_under_five_mib_but_the_last_fail_the_completion_as_in_s3() {
    let (emulator, c) = start().await;
    let path = "/Volumes/main/default/v/small-parts.bin";
    let (token, parts) = upload_parts(&c, path, &[MIB, MIB]).await;
    let err = complete(&c, path, &token, parts).await.expect_err("too small");
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.message().contains("EntityTooSmall"), "{err}");

    // Five MiB and a short last part complete; the file is the parts, in order.
    let (token, parts) = upload_parts(&c, path, &[5 * MIB, 3]).await;
    complete(&c, path, &token, parts).await.expect("complete");
    let head = c.api().request(Method::HEAD, format!("/api/2.0/fs/files{path}").as_str()).send().await.expect("head");
    let length = head.headers().get("content-length").and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(length.as_deref(), Some((5 * MIB + 3).to_string().as_str()));
    // The first session stays open (refused, not completed) until aborted.
    assert_eq!(emulator.counters().open_uploads, 1);
    assert_eq!(data_bytes(&emulator), (5 * MIB + 3 + 2 * MIB) as u64, "the file and the open session's parts");
}

/// Secrets count against the budget too, and a workspace has at most
/// 1,000 scopes (1,000 scopes of 1,000 secrets of 128 KiB was 128 GB).
#[tokio::test]
async fn secrets_count_against_the_budget_and_scopes_are_capped() {
    let (emulator, c) = start_with(fast().max_stored_bytes(256 * 1024)).await;
    post(&c, "/api/2.0/secrets/scopes/create", json!({"scope": "s"})).await;
    let secret = |key: &str| json!({"scope": "s", "key": key, "string_value": "x".repeat(100 * 1024)});
    post(&c, "/api/2.0/secrets/put", secret("a")).await;
    post(&c, "/api/2.0/secrets/put", secret("b")).await;
    let err = c.api().post::<Value>("/api/2.0/secrets/put", &secret("c")).await.expect_err("past the budget");
    assert_eq!(err.status(), Some(413), "{err}");
    post(&c, "/api/2.0/secrets/delete", json!({"scope": "s", "key": "a"})).await;
    assert_eq!(data_bytes(&emulator), 100 * 1024);
    post(&c, "/api/2.0/secrets/put", secret("c")).await;

    for i in 1..1_000 {
        post(&c, "/api/2.0/secrets/scopes/create", json!({"scope": format!("s{i}")})).await;
    }
    let err = c
        .api()
        .post::<Value>("/api/2.0/secrets/scopes/create", &json!({"scope": "one-too-many"}))
        .await
        .expect_err("over the cap");
    assert_eq!((err.status(), err.error_code()), (Some(400), Some("MAX_SECRET_SCOPES_EXCEEDED")), "{err}");
}

/// An AUTO import of `dir/.py` once stored the notebook at `dir/` (the
/// extension stripped to nothing): it keeps its name.
#[tokio::test]
async fn an_auto_import_of_a_bare_extension_keeps_its_name() {
    let (_emulator, c) = start().await;
    let content = base64_of(b"# Databricks notebook source\nprint(1)\n");
    let import = json!({"path": "/Shared/d/.py", "format": "AUTO", "content": content});
    post(&c, "/api/2.0/workspace/mkdirs", json!({"path": "/Shared/d"})).await;
    post(&c, "/api/2.0/workspace/import", import).await;
    let status = get(&c, "/api/2.0/workspace/get-status", json!({"path": "/Shared/d/.py"})).await;
    assert_eq!((status["path"].as_str(), status["object_type"].as_str()), (Some("/Shared/d/.py"), Some("NOTEBOOK")));
    assert_eq!(
        get(&c, "/api/2.0/workspace/get-status", json!({"path": "/Shared/d"})).await["object_type"],
        "DIRECTORY"
    );
}

/// A presigned URL lives at most a week, however far off the `expire_time`
/// asked for (one for the year 2100 once never expired).
#[tokio::test]
async fn presigned_urls_live_at_most_a_week() {
    let (_emulator, c) = start().await;
    put_file(&c, "/Volumes/main/default/v/far.bin", 10).await.expect("file");
    let query = json!({"path": "/Volumes/main/default/v/far.bin", "expire_time": "2100-01-01T00:00:00Z"});
    let answer: Value = c
        .api()
        .request(Method::POST, "/api/2.0/fs/create-download-url")
        .query(&query)
        .send()
        .await
        .and_then(|r| r.json())
        .expect("a download URL");
    let url = answer["url"].as_str().expect("url");
    let expires: i64 = url
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("expires="))
        .and_then(|e| e.parse().ok())
        .expect("an expiry in the URL");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    assert!(expires <= now + 7 * 24 * 3600 + 60, "{url}");
    assert!(expires > now + 7 * 24 * 3600 - 60, "a week, not less: {url}");
}

/// A Files API directory pages by cursor: deleting an entry of a page
/// already read once shifted the next page (it began at an offset) and
/// skipped an entry no one had deleted.
#[tokio::test]
async fn a_directory_listing_resumes_after_its_last_entry_whatever_changes_meanwhile() {
    let (_emulator, c) = start().await;
    let dir = "/Volumes/main/default/v/paged";
    for name in ["a", "b", "c", "d", "e"] {
        put_file(&c, &format!("{dir}/{name}"), 1).await.expect("put");
    }
    put_file(&c, &format!("{dir}/b-sub/deep/f"), 1).await.expect("a subtree between siblings");
    let listing = format!("/api/2.0/fs/directories{dir}");
    let names = |page: &Value| -> Vec<String> {
        page["contents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect()
    };
    let first = get(&c, &listing, json!({"page_size": 2})).await;
    assert_eq!(names(&first), ["a", "b"]);
    c.api().request(Method::DELETE, format!("/api/2.0/fs/files{dir}/a").as_str()).send().await.expect("delete");
    let token = first["next_page_token"].as_str().expect("more").to_string();
    let second = get(&c, &listing, json!({"page_size": 2, "page_token": token})).await;
    assert_eq!(names(&second), ["b-sub", "c"]);
    let token = second["next_page_token"].as_str().expect("more").to_string();
    let last = get(&c, &listing, json!({"page_size": 2, "page_token": token})).await;
    assert_eq!(names(&last), ["d", "e"]);
    assert!(last.get("next_page_token").is_none(), "{last}");

    let foreign = URL_SAFE_NO_PAD.encode("jobs:1");
    let err = c.api().get::<Value>(&listing, &json!({"page_token": foreign})).await.expect_err("a jobs token");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{err}");
}

/// Job settings, Unity Catalog objects, pipeline specs and serving
/// endpoints are stored documents too: past the budget they are refused
/// (an update changes nothing), and deleting one gives its count back.
#[tokio::test]
async fn stored_documents_count_against_the_budget() {
    let (emulator, c) = start_with(fast().max_stored_bytes(64 * 1024)).await;
    let big = "x".repeat(80 * 1024);
    let full = |err: brickwork::Error| {
        assert_eq!(err.status(), Some(413), "{err}");
        assert!(err.message().contains("storage budget"), "{err}");
    };
    let before = data_bytes(&emulator);
    let job = post(&c, "/api/2.2/jobs/create", json!({"name": "small", "description": "fits"})).await;
    let job_id = job["job_id"].as_i64().expect("job id");
    let small_job = data_bytes(&emulator);
    assert!(small_job > before, "a job's settings count");
    full(
        c.api()
            .post::<Value>("/api/2.2/jobs/create", &json!({"name": "big", "description": big}))
            .await
            .expect_err("big job"),
    );
    let update = json!({"job_id": job_id, "new_settings": {"description": big}});
    full(c.api().post::<Value>("/api/2.2/jobs/update", &update).await.expect_err("big update"));
    let reset = json!({"job_id": job_id, "new_settings": {"name": "small", "description": big}});
    full(c.api().post::<Value>("/api/2.2/jobs/reset", &reset).await.expect_err("big reset"));
    let kept = get(&c, "/api/2.2/jobs/get", json!({"job_id": job_id})).await;
    assert_eq!(kept["settings"]["description"], "fits", "a refused update changes nothing");
    assert_eq!(data_bytes(&emulator), small_job);
    post(&c, "/api/2.2/jobs/delete", json!({"job_id": job_id})).await;
    assert_eq!(data_bytes(&emulator), before, "a deleted job gives its count back");

    let schema = json!({"name": "s", "catalog_name": "main", "comment": big});
    full(c.api().post::<Value>("/api/2.1/unity-catalog/schemas", &schema).await.expect_err("big schema"));
    post(&c, "/api/2.1/unity-catalog/schemas", json!({"name": "s", "catalog_name": "main"})).await;
    let patch = json!({"comment": big});
    full(c.api().patch::<Value>("/api/2.1/unity-catalog/schemas/main.s", &patch).await.expect_err("big schema update"));
    let pipeline = json!({"name": "p", "configuration": {"k": big}});
    full(c.api().post::<Value>("/api/2.0/pipelines", &pipeline).await.expect_err("big pipeline"));
    let endpoint = json!({"name": "e", "tags": [{"key": "k", "value": big}]});
    full(c.api().post::<Value>("/api/2.0/serving-endpoints", &endpoint).await.expect_err("big endpoint"));
    post(&c, "/api/2.0/serving-endpoints", json!({"name": "e"})).await;
    let tags = json!({"add_tags": [{"key": "k", "value": big}]});
    full(c.api().patch::<Value>("/api/2.0/serving-endpoints/e/tags", &tags).await.expect_err("big tags"));
    let endpoint = get(&c, "/api/2.0/serving-endpoints/e", json!({})).await;
    assert!(endpoint.get("tags").is_none_or(|t| t.as_array().is_some_and(Vec::is_empty)), "{endpoint}");

    let mut spec = cluster_spec();
    spec["spark_conf"] = json!({"spark.big": big});
    full(c.api().post::<Value>("/api/2.1/clusters/create", &spec).await.expect_err("big cluster"));
    let id = post(&c, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].clone();
    cluster_state(&c, id.as_str().expect("id"), "RUNNING").await;
    spec["cluster_id"] = id;
    full(c.api().post::<Value>("/api/2.1/clusters/edit", &spec).await.expect_err("big edit"));

    let warehouse =
        json!({"name": "wh", "cluster_size": "Small", "tags": {"custom_tags": [{"key": "k", "value": big}]}});
    full(c.api().post::<Value>("/api/2.0/sql/warehouses", &warehouse).await.expect_err("big warehouse"));
}

/// A document replaced by one no larger always fits, however close to the
/// budget: the new one once counted beside the old until the swap, so an
/// update of 40 KiB over 40 KiB in a 64 KiB budget was refused. And every
/// kind gives its count back when deleted.
#[tokio::test]
async fn a_same_size_update_near_the_budget_fits_and_deletes_give_counts_back() {
    let (emulator, c) = start_with(fast().max_stored_bytes(64 * 1024)).await;
    let (first, second) = ("a".repeat(40 * 1024), "b".repeat(40 * 1024));
    let before = data_bytes(&emulator);

    let job_id = post(&c, "/api/2.2/jobs/create", json!({"name": "j", "description": first})).await["job_id"].clone();
    post(&c, "/api/2.2/jobs/update", json!({"job_id": job_id, "new_settings": {"description": second}})).await;
    post(&c, "/api/2.2/jobs/reset", json!({"job_id": job_id, "new_settings": {"name": "j", "description": first}}))
        .await;
    post(&c, "/api/2.2/jobs/delete", json!({"job_id": job_id})).await;
    assert_eq!(data_bytes(&emulator), before, "jobs");

    post(&c, "/api/2.1/unity-catalog/schemas", json!({"name": "s", "catalog_name": "main", "comment": first})).await;
    let comment = json!({"comment": second});
    let schema = c.api().patch::<Value>("/api/2.1/unity-catalog/schemas/main.s", &comment);
    schema.await.expect("a same-size schema update");
    c.api().request(Method::DELETE, "/api/2.1/unity-catalog/schemas/main.s").send().await.expect("delete schema");
    assert_eq!(data_bytes(&emulator), before, "schemas");

    let spec = |value: &str| json!({"name": "p", "configuration": {"k": value}});
    let id = post(&c, "/api/2.0/pipelines", spec(&first)).await["pipeline_id"].as_str().expect("id").to_string();
    let edit = c.api().request(Method::PUT, format!("/api/2.0/pipelines/{id}").as_str()).json(&spec(&second));
    edit.send().await.expect("a same-size pipeline edit");
    c.api().request(Method::DELETE, format!("/api/2.0/pipelines/{id}").as_str()).send().await.expect("delete");
    assert_eq!(data_bytes(&emulator), before, "pipelines");

    post(&c, "/api/2.0/serving-endpoints", json!({"name": "e", "tags": [{"key": "k", "value": first}]})).await;
    let tags = json!({"add_tags": [{"key": "k", "value": second}]});
    c.api().patch::<Value>("/api/2.0/serving-endpoints/e/tags", &tags).await.expect("a same-size tag update");
    c.api().request(Method::DELETE, "/api/2.0/serving-endpoints/e").send().await.expect("delete endpoint");
    assert_eq!(data_bytes(&emulator), before, "serving endpoints");
}

/// A multipart `workspace/import` counts its file against the budget as it
/// arrives: the emulator once gathered the whole part (up to 500 MB) before
/// looking, so it answered only once the client had sent everything. Here
/// the client sends twice the budget of a much larger file and waits: the
/// refusal must come while the rest is still unsent.
#[tokio::test]
async fn a_multipart_import_past_the_budget_is_refused_before_it_is_all_sent() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (emulator, _c) = start_with(fast().max_stored_bytes(MIB as u64)).await;
    let head = "--X\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\n/Users/big.bin\r\n\
        --X\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\nRAW\r\n\
        --X\r\nContent-Disposition: form-data; name=\"content\"; filename=\"big.bin\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n";
    let claimed = head.len() + 100 * MIB + "\r\n--X--\r\n".len();
    let addr = emulator.url().trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let request = format!(
        "POST /api/2.0/workspace/import HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=X\r\nContent-Length: {claimed}\r\n\r\n{head}",
        emulator.token()
    );
    socket.write_all(request.as_bytes()).await.expect("head");
    let chunk = vec![b'z'; 64 * 1024];
    for _ in 0..(2 * MIB / chunk.len()) {
        if socket.write_all(&chunk).await.is_err() {
            break; // the server has answered and closed: the read below shows what
        }
    }
    let mut answer = vec![0u8; 4096];
    // A bound on a hang, not a measure of speed: without the fix no answer
    // ever comes, as 98 MiB of the body are never sent.
    let read = tokio::time::timeout(Duration::from_secs(120), socket.read(&mut answer)).await;
    let n = read.expect("an answer before the body was complete").expect("read");
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("storage budget"), "{text}");
    assert_eq!(data_bytes(&emulator), 0, "nothing kept");
}

/// A multipart import's text fields are short: a path of a megabyte is
/// refused (it was once gathered whole, beside the budget).
#[tokio::test]
async fn a_multipart_import_with_an_overlong_text_field_is_refused() {
    let (emulator, _c) = start().await;
    let path = format!("/Users/{}", "p".repeat(MIB));
    let body = format!(
        "--X\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\n{path}\r\n\
         --X\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a\"\r\n\r\nprint(1)\r\n--X--\r\n"
    );
    let response = reqwest::Client::new()
        .post(format!("{}/api/2.0/workspace/import", emulator.url()))
        .bearer_auth(emulator.token())
        .header("content-type", "multipart/form-data; boundary=X")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["error_code"], "INVALID_PARAMETER_VALUE", "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("path field")), "{answer}");
}

/// A run keeps its task specs for as long as its history is kept: a
/// submitted run counts them against the budget, and deleting the run gives
/// them back.
#[tokio::test]
async fn submitted_runs_count_their_specs_against_the_budget() {
    let (emulator, c) = start_with(fast().max_stored_bytes(64 * 1024)).await;
    let task = |note: &str| json!({"task_key": "t", "condition_task": {"op": "EQUAL_TO", "left": note, "right": "x"}});
    let before = data_bytes(&emulator);
    let big = "x".repeat(80 * 1024);
    let body = json!({"run_name": "big", "tasks": [task(&big)]});
    let err = c.api().post::<Value>("/api/2.2/jobs/runs/submit", &body).await.expect_err("past the budget");
    assert_eq!(err.status(), Some(413), "{err}");
    let run = post(&c, "/api/2.2/jobs/runs/submit", json!({"run_name": "small", "tasks": [task("x")]})).await;
    assert!(data_bytes(&emulator) > before, "a run's specs count");
    let run_id = run["run_id"].clone();
    finished_run(&c, &run_id).await;
    post(&c, "/api/2.2/jobs/runs/delete", json!({"run_id": run_id})).await;
    assert_eq!(data_bytes(&emulator), before, "a deleted run gives its count back");
}

/// Each retry keeps its own copy of the task's spec: it counts too, and a
/// task whose retry would not fit is not retried. A task retried "forever"
/// once copied its spec up to a thousand times, uncounted.
#[tokio::test]
async fn a_retry_counts_its_copy_of_the_spec_and_stops_at_the_budget() {
    let (emulator, c) = start_with(fast().max_stored_bytes(64 * 1024)).await;
    let before = data_bytes(&emulator);
    let task = json!({"task_key": "t", "description": "d".repeat(20 * 1024), "run_job_task": {"job_id": 1},
        "max_retries": -1});
    let run = post(&c, "/api/2.2/jobs/runs/submit", json!({"run_name": "retried", "tasks": [task]})).await;
    let done = finished_run(&c, &run["run_id"]).await;
    assert_eq!(done["state"]["result_state"], "FAILED", "{}", done["state"]);
    let last = done["tasks"].as_array().into_iter().flatten().filter_map(|t| t["attempt_number"].as_i64()).max();
    // Three copies of some 20 KiB fit in 64 KiB; a fourth does not.
    assert_eq!(last, Some(2), "retries stop at the budget");
    // A repair copies the specs again: past the budget it is refused.
    let repair = json!({"run_id": run["run_id"], "rerun_all_failed_tasks": true});
    let err = c.api().post::<Value>("/api/2.2/jobs/runs/repair", &repair).await.expect_err("past the budget");
    assert_eq!(err.status(), Some(413), "{err}");
    let after = get(&c, "/api/2.2/jobs/runs/get", json!({"run_id": run["run_id"]})).await;
    assert_eq!(after["state"], done["state"], "the run unchanged");
    assert_eq!(after["repair_history"], json!([]), "no repair recorded");
    post(&c, "/api/2.2/jobs/runs/delete", json!({"run_id": run["run_id"]})).await;
    assert_eq!(data_bytes(&emulator), before, "every copy's count given back");
}

/// Identities, cluster policies, instance pools, Git folders, Git
/// credentials and access lists count too: each refused past the budget, changing nothing, and
/// each giving its count back when deleted.
#[tokio::test]
async fn identities_policies_git_folders_and_access_lists_count_against_the_budget() {
    let (emulator, c) = start_with(fast().max_stored_bytes(64 * 1024)).await;
    let big = "x".repeat(80 * 1024);
    let full = |err: brickwork::Error| {
        assert_eq!(err.status(), Some(413), "{err}");
        assert!(err.message().contains("storage budget"), "{err}");
    };
    let used = || data_bytes(&emulator);
    let start = used();
    let scim = "/api/2.0/preview/scim/v2";

    full(
        c.api()
            .post::<Value>(&format!("{scim}/Users"), &json!({"userName": "u@example.com", "displayName": big}))
            .await
            .expect_err("big user"),
    );
    full(c.api().post::<Value>(&format!("{scim}/Groups"), &json!({"displayName": big})).await.expect_err("big group"));
    let user = post(&c, &format!("{scim}/Users"), json!({"userName": "u@example.com"})).await;
    let user_id = user["id"].as_str().expect("id").to_string();
    assert!(used() > start, "a user counts");
    let replace = json!({"userName": "u@example.com", "displayName": big});
    full(c.api().put::<Value>(&format!("{scim}/Users/{user_id}"), &replace).await.expect_err("big replace"));
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": big}]});
    full(c.api().patch::<Value>(&format!("{scim}/Users/{user_id}"), &patch).await.expect_err("big patch"));
    let kept = get(&c, &format!("{scim}/Users/{user_id}"), json!({})).await;
    assert!(kept.get("displayName").is_none(), "a refused change changes nothing: {kept}");

    let policy = json!({"name": "p", "definition": "{}", "description": big});
    full(c.api().post::<Value>("/api/2.0/policies/clusters/create", &policy).await.expect_err("big policy"));
    let policy_id = post(&c, "/api/2.0/policies/clusters/create", json!({"name": "p", "definition": "{}"})).await
        ["policy_id"]
        .clone();
    let edit = json!({"policy_id": policy_id, "name": "p", "definition": "{}", "description": big});
    full(c.api().post::<Value>("/api/2.0/policies/clusters/edit", &edit).await.expect_err("big edit"));

    let repo = |sparse: Value| json!({"url": "https://github.com/acme/etl.git", "provider": "gitHub", "sparse_checkout": sparse});
    full(c.api().post::<Value>("/api/2.0/repos", &repo(json!({"patterns": [big]}))).await.expect_err("big repo"));
    let repo_id = post(&c, "/api/2.0/repos", repo(json!({"patterns": ["src"]}))).await["id"].clone();
    let update = json!({"sparse_checkout": {"patterns": [big]}});
    full(c.api().patch::<Value>(&format!("/api/2.0/repos/{repo_id}"), &update).await.expect_err("big checkout"));

    let pool = json!({"instance_pool_name": "p", "node_type_id": "i3.xlarge", "custom_tags": {"k": big}});
    full(c.api().post::<Value>("/api/2.0/instance-pools/create", &pool).await.expect_err("big pool"));

    let credential = json!({"git_provider": "gitHub", "git_username": big});
    full(c.api().post::<Value>("/api/2.0/git-credentials", &credential).await.expect_err("big credential"));
    let credential_id = post(&c, "/api/2.0/git-credentials", json!({"git_provider": "gitHub", "git_username": "u"}))
        .await["credential_id"]
        .clone();

    // Access lists: each entry names a principal, and a list asked for
    // through the Permissions API must fit.
    let long_name = format!("{}@example.com", "l".repeat(12 * 1024));
    post(&c, &format!("{scim}/Users"), json!({"userName": long_name})).await;
    let grant = json!({"access_control_list": [{"user_name": long_name, "permission_level": "CAN_VIEW"}]});
    let mut jobs = Vec::new();
    let refused = loop {
        let job_id = post(&c, "/api/2.2/jobs/create", json!({"name": "j"})).await["job_id"].clone();
        jobs.push(job_id.clone());
        let path = format!("/api/2.0/permissions/jobs/{job_id}");
        match c.api().request(Method::PATCH, path.as_str()).json(&grant).send().await {
            Ok(_) => assert!(jobs.len() < 8, "every grant fitted"),
            Err(err) => break (err, job_id),
        }
    };
    full(refused.0);
    let list = get(&c, &format!("/api/2.0/permissions/jobs/{}", refused.1), json!({})).await;
    assert!(!list.to_string().contains(&long_name), "a refused list changes nothing");

    // Deleting gives every count back.
    for job_id in &jobs {
        post(&c, "/api/2.2/jobs/delete", json!({"job_id": job_id})).await;
    }
    let users = get(&c, &format!("{scim}/Users"), json!({"filter": format!("userName eq \"{long_name}\"")})).await;
    let long_id = users["Resources"][0]["id"].as_str().expect("id").to_string();
    for id in [&user_id, &long_id] {
        c.api().request(Method::DELETE, format!("{scim}/Users/{id}").as_str()).send().await.expect("user deleted");
    }
    post(&c, "/api/2.0/policies/clusters/delete", json!({"policy_id": policy_id})).await;
    c.api().request(Method::DELETE, format!("/api/2.0/repos/{repo_id}").as_str()).send().await.expect("repo deleted");
    let path = format!("/api/2.0/git-credentials/{credential_id}");
    c.api().request(Method::DELETE, path.as_str()).send().await.expect("credential deleted");
    assert_eq!(used(), start, "every deleted record gave its count back");
}

/// A user holds at most 600 tokens, as Databricks allows, and each token's
/// comment counts against the storage budget: neither grows without bound.
#[tokio::test]
async fn tokens_are_capped_per_user_and_count_against_the_budget() {
    let (emulator, c) = start_with(fast().max_stored_bytes(1024 * 1024)).await;
    let create = |comment: String| {
        let c = c.clone();
        async move { c.api().post::<Value>("/api/2.0/token/create", &json!({"comment": comment})).await }
    };
    let before = data_bytes(&emulator);
    let first = create("first".into()).await.expect("a token");
    assert!(data_bytes(&emulator) > before, "a token counts");
    let err = create("x".repeat(2 * 1024 * 1024)).await.expect_err("a comment past the budget");
    assert_eq!(err.status(), Some(413), "{err}");
    for i in 1..600 {
        create(format!("t{i}")).await.expect("within the quota");
    }
    let err = create("one too many".into()).await.expect_err("past the quota");
    assert_eq!((err.status(), err.error_code()), (Some(400), Some("QUOTA_EXCEEDED")), "{err}");
    let id = first["token_info"]["token_id"].clone();
    post(&c, "/api/2.0/token/delete", json!({"token_id": id})).await;
    create("room again".into()).await.expect("a deleted token frees its place");
}

/// A cluster holds at most 145 execution contexts, and the commands run in
/// them count against the storage budget until their context or cluster goes.
#[tokio::test]
async fn execution_contexts_are_capped_and_their_commands_count() {
    let (emulator, c) = start_with(fast().max_stored_bytes(256 * 1024)).await;
    let used = || data_bytes(&emulator);
    let start = used();
    let id = post(&c, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].as_str().expect("id").to_string();
    cluster_state(&c, &id, "RUNNING").await;
    let context = || {
        let (c, id) = (c.clone(), id.clone());
        async move {
            c.api().post::<Value>("/api/1.2/contexts/create", &json!({"clusterId": id, "language": "python"})).await
        }
    };
    let first = context().await.expect("a context")["id"].clone();
    let run = |source: String| json!({"clusterId": id, "contextId": first, "language": "python", "command": source});
    let err = c.api().post::<Value>("/api/1.2/commands/execute", &run("x".repeat(300 * 1024))).await;
    assert_eq!(err.expect_err("past the budget").status(), Some(413));
    let before = used();
    post(&c, "/api/1.2/commands/execute", run("print(1)".into())).await;
    assert!(used() > before, "a command counts");
    libraries(&c, &id).await;
    for _ in 1..145 {
        context().await.expect("within the cap");
    }
    let err = context().await.expect_err("past the cap");
    assert_eq!((err.status(), err.error_code()), (Some(400), Some("QUOTA_EXCEEDED")), "{err}");
    post(&c, "/api/1.2/contexts/destroy", json!({"clusterId": id, "contextId": first})).await;
    let last = context().await.expect("a destroyed context frees its place")["id"].clone();
    // A restart ends every context: the cap counts the new Spark context's alone.
    post(&c, "/api/2.1/clusters/restart", json!({"cluster_id": id})).await;
    cluster_state(&c, &id, "RUNNING").await;
    let status = json!({"clusterId": id, "contextId": last});
    let err = c.api().get::<Value>("/api/1.2/contexts/status", &status).await.expect_err("gone with the restart");
    assert!(err.is(ErrorKind::InvalidParameterValue), "{err}");
    for _ in 0..145 {
        context().await.expect("a restarted cluster takes contexts again");
    }
    post(&c, "/api/2.1/clusters/permanent-delete", json!({"cluster_id": id})).await;
    assert_eq!(used(), start, "the cluster took its contexts, commands and libraries with it");
}

async fn libraries(c: &brickwork::Client, cluster_id: &str) {
    let library = json!({"pypi": {"package": "requests"}});
    post(c, "/api/2.0/libraries/install", json!({"cluster_id": cluster_id, "libraries": [library]})).await;
}

/// Folders and empty files are not free: their paths count against the
/// budget, a `mkdirs` past it is refused whole, and deleting gives it back.
#[tokio::test]
async fn folders_and_their_paths_count_against_the_budget() {
    let (emulator, c) = start_with(fast().max_stored_bytes(64 * 1024)).await;
    let names = || emulator.counters().stored_name_bytes;
    let start = names();
    let deep =
        |root: &str, n: usize| format!("{root}/{}", (0..n).map(|i| format!("d{i:03}")).collect::<Vec<_>>().join("/"));
    post(&c, "/api/2.0/workspace/mkdirs", json!({"path": deep("/Shared/a", 50)})).await;
    let after_workspace = names();
    assert!(after_workspace > start + 50 * 20, "each folder's path counts");
    post(&c, "/api/2.0/dbfs/mkdirs", json!({"path": deep("/tmp/a", 50)})).await;
    assert!(names() > after_workspace, "DBFS folders too");
    for (api, root) in [("/api/2.0/workspace/mkdirs", "/Shared/b"), ("/api/2.0/dbfs/mkdirs", "/tmp/b")] {
        let err = c.api().post::<Value>(api, &json!({"path": deep(root, 800)})).await.expect_err("past the budget");
        assert_eq!(err.status(), Some(413), "{err}");
        let status =
            if api.contains("workspace") { "/api/2.0/workspace/get-status" } else { "/api/2.0/dbfs/get-status" };
        let err = c.api().get::<Value>(status, &json!({"path": root})).await.expect_err("refused whole");
        assert!(err.is(ErrorKind::ResourceDoesNotExist) || err.is(ErrorKind::NotFound), "{err}");
    }
    post(&c, "/api/2.0/workspace/delete", json!({"path": "/Shared/a", "recursive": true})).await;
    post(&c, "/api/2.0/dbfs/delete", json!({"path": "/tmp", "recursive": true})).await;
    assert_eq!(names(), start, "deleted folders give their paths' count back");
}

/// Refusals past the budget lose nothing: a DBFS `close` refused for its
/// file's name keeps the handle for a retry, a move to paths too long is
/// refused whole, and a task's output past the budget is not kept (shown
/// empty and truncated) while the task still succeeds.
#[tokio::test]
async fn refusals_past_the_budget_lose_nothing_and_outputs_stop_at_it() {
    let budget = MIB as u64;
    let (emulator, c) = start_with(fast().max_stored_bytes(budget)).await;
    let put = json!({"path": "/tmp/filler", "contents": base64_of(&vec![0u8; 200 * 1024]), "overwrite": true});
    post(&c, "/api/2.0/dbfs/put", put).await;
    let path = format!("/tmp/{}", "p".repeat(200));
    let handle = post(&c, "/api/2.0/dbfs/create", json!({"path": path})).await["handle"].clone();
    let room = budget - emulator.counters().stored_bytes;
    let block = base64_of(&vec![1u8; (room - 50) as usize]);
    post(&c, "/api/2.0/dbfs/add-block", json!({"handle": handle, "data": block})).await;
    let err = c.api().post::<Value>("/api/2.0/dbfs/close", &json!({"handle": handle})).await.expect_err("no room");
    assert_eq!(err.status(), Some(413), "{err}");
    post(&c, "/api/2.0/dbfs/delete", json!({"path": "/tmp/filler"})).await;
    post(&c, "/api/2.0/dbfs/close", json!({"handle": handle})).await;
    let status = get(&c, "/api/2.0/dbfs/get-status", json!({"path": path})).await;
    assert_eq!(status["file_size"], room - 50, "the retried close stored it all");

    let far = format!("/{}", vec!["q".repeat(200); 20].join("/"));
    let err =
        c.api().post::<Value>("/api/2.0/dbfs/move", &json!({"source_path": "/tmp", "destination_path": far})).await;
    assert!(err.expect_err("paths too long").is(ErrorKind::InvalidParameterValue));
    get(&c, "/api/2.0/dbfs/get-status", json!({"path": path})).await;
    post(&c, "/api/2.0/dbfs/delete", json!({"path": "/tmp", "recursive": true})).await;

    // Two tasks exit with 400 KiB each: the first's output fits, the second's not.
    let value = "v".repeat(400 * 1024);
    upload(&c, "/Shared/big-exit", &format!("dbutils.notebook.exit('{value}')")).await;
    let task = |key: &str, after: Option<&str>| {
        let mut t = json!({"task_key": key, "existing_cluster_id": "none", "notebook_task": {"notebook_path": "/Shared/big-exit"}});
        if let Some(after) = after {
            t["depends_on"] = json!([{"task_key": after}]);
        }
        t
    };
    let cluster = post(&c, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].clone();
    let mut tasks = vec![task("a", None), task("b", Some("a"))];
    for t in &mut tasks {
        t["existing_cluster_id"] = cluster.clone();
    }
    let submitted = post(&c, "/api/2.2/jobs/runs/submit", json!({"run_name": "outputs", "tasks": tasks})).await;
    let run = finished_run(&c, &submitted["run_id"]).await;
    assert_eq!(run["state"]["result_state"], "SUCCESS", "{run}");
    let output = |key: &str| {
        let task = run["tasks"].as_array().into_iter().flatten().find(|t| t["task_key"] == key).cloned();
        let (c, id) = (c.clone(), task.map(|t| t["run_id"].clone()).unwrap_or_default());
        async move { get(&c, "/api/2.2/jobs/runs/get-output", json!({"run_id": id})).await["notebook_output"].clone() }
    };
    let (a, b) = (output("a").await, output("b").await);
    let shown = |o: &Value| (o["result"].as_str().map(str::len), o["truncated"].clone());
    assert_eq!(shown(&a), (Some(value.len()), json!(false)));
    assert_eq!(shown(&b), (Some(0), json!(true)), "past the budget: not kept");
    assert!(emulator.counters().stored_bytes <= budget);
}

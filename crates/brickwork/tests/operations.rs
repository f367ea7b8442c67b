//! Operations that were wrong in the first typed API, each against a real
//! local HTTP server (or the emulator) that answers as Databricks does.

mod common;
mod support;

use brickwork::service::catalog::ArtifactType;
use brickwork::service::sql::ObjectTypePlural;
use brickwork::{Client, Config, WorkspaceClient};
use common::{handler, Reply, TestServer};
use serde_json::json;

async fn workspace_at(url: &str) -> WorkspaceClient {
    let cfg = Config::builder().host(url).token("dapi-test-token").without_environment().build().expect("cfg");
    WorkspaceClient::from_client(Client::new(cfg).await.expect("client"))
}

#[tokio::test]
async fn enum_path_parameters_are_substituted() {
    let server = TestServer::start(vec![
        (
            "GET",
            "/api/2.1/unity-catalog/artifact-allowlists/LIBRARY_JAR",
            handler(|_, _| {
                Reply::json(
                    200,
                    json!({"artifact_matchers": [{"artifact": "/Volumes/x", "match_type": "PREFIX_MATCH"}]}),
                )
            }),
        ),
        (
            "POST",
            "/api/2.0/preview/sql/permissions/queries/q1",
            handler(|_, _| Reply::json(200, json!({"object_id": "queries/q1"}))),
        ),
    ])
    .await;
    let w = workspace_at(&server.url).await;
    let allowlist = w.artifact_allowlists().get(ArtifactType::LibraryJar).await.expect("substituted");
    assert_eq!(allowlist.artifact_matchers.len(), 1);
    let set = w.dbsql_permissions().set(ObjectTypePlural::Queries, "q1").await.expect("substituted");
    assert_eq!(set.object_id.as_deref(), Some("queries/q1"));
    let sent = server.requests_to("/api/2.0/preview/sql/permissions/queries/q1");
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].body_text().contains("object_type"), "a path parameter is not also sent in the body");
}

#[tokio::test]
async fn legacy_page_numbers_advance_by_one() {
    let server = TestServer::start(vec![(
        "GET",
        "/api/2.0/preview/sql/dashboards",
        handler(|r, _| {
            let page: i64 =
                r.query_pairs().iter().find(|(k, _)| k == "page").and_then(|(_, v)| v.parse().ok()).unwrap_or(1);
            let results: Vec<_> =
                if page <= 3 { (0..25).map(|i| json!({"id": format!("d{page}-{i}")})).collect() } else { vec![] };
            Reply::json(200, json!({"results": results, "page": page, "page_size": 25, "count": 75}))
        }),
    )])
    .await;
    let w = workspace_at(&server.url).await;
    let all = w.dashboards().list().try_collect().await.expect("list");
    assert_eq!(all.len(), 75, "pages 1, 2 and 3, none skipped");
    let pages: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.query_pairs().into_iter().find(|(k, _)| k == "page").map(|(_, v)| v).unwrap_or_default())
        .collect();
    assert_eq!(pages, vec!["", "2", "3", "4"]);
}

#[tokio::test]
async fn a_repeated_page_token_ends_the_listing() {
    let server = TestServer::start(vec![(
        "GET",
        "/api/2.1/clusters/list",
        handler(|_, n| {
            Reply::json(200, json!({"clusters": [{"cluster_id": format!("c{n}")}], "next_page_token": "same-token"}))
        }),
    )])
    .await;
    let w = workspace_at(&server.url).await;
    let listing = tokio::time::timeout(std::time::Duration::from_secs(10), w.clusters().list().try_collect());
    let all = listing.await.expect("ends").expect("list");
    assert_eq!(all.len(), 2, "the first page and the one the token led to");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn scim_offset_pages_skip_ids_already_seen() {
    let server = TestServer::start(vec![(
        "GET",
        "/api/2.0/preview/scim/v2/Users",
        handler(|r, _| {
            let start = r.query_pairs().iter().find(|(k, _)| k == "startIndex").map(|(_, v)| v.clone());
            // A user was added at the front between pages: u2 shows again on page 2.
            let resources = match start.as_deref() {
                None | Some("1") => json!([{"id": "u1"}, {"id": "u2"}]),
                Some("3") => json!([{"id": "u2"}, {"id": "u3"}]),
                _ => json!([]),
            };
            Reply::json(200, json!({"Resources": resources, "totalResults": 4}))
        }),
    )])
    .await;
    let w = workspace_at(&server.url).await;
    let ids: Vec<String> =
        w.users().list().try_collect().await.expect("list").into_iter().filter_map(|u| u.id).collect();
    assert_eq!(ids, vec!["u1", "u2", "u3"]);
}

#[tokio::test]
async fn fields_sent_in_response_headers_are_filled() {
    let (_emulator, w) = support::workspace(support::fast()).await;
    let path = "/Volumes/main/default/v/meta.csv";
    w.files().upload(path, "a,b\n").overwrite(true).await.expect("upload");
    let meta = w.files().get_metadata(path).await.expect("metadata");
    assert_eq!(meta.content_length, Some(4));
    assert_eq!(meta.content_type.as_deref(), Some("application/octet-stream"));
    assert!(meta.last_modified.as_ref().is_some_and(|d| d.ends_with("GMT")), "{:?}", meta.last_modified);
}

#[cfg(feature = "serving")]
#[tokio::test]
async fn serving_query_reads_the_served_model_header() {
    let server = TestServer::start(vec![(
        "POST",
        "/serving-endpoints/chat/invocations",
        handler(|_, _| Reply::json(200, json!({"id": "r1", "choices": []})).header("served-model-name", "llama-v2")),
    )])
    .await;
    let w = workspace_at(&server.url).await;
    let answer = w.serving_endpoints().query("chat").await.expect("query");
    assert_eq!(answer.served_model_name.as_deref(), Some("llama-v2"));
    assert_eq!(answer.id.as_deref(), Some("r1"));
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn long_running_operations_are_typed_and_waited_for() {
    use brickwork::service::postgres::Branch;
    use brickwork::service::WaitOptions;
    use std::time::Duration;
    const OP: &str = "/api/2.0/postgres/projects/p/branches/dev/operations/op1";
    const FAILING: &str = "/api/2.0/postgres/projects/p/branches/bad/operations/op2";
    let server = TestServer::start(vec![
        (
            "POST",
            "/api/2.0/postgres/projects/p/branches",
            handler(|r, _| {
                let failing = r.query.contains("branch_id=bad");
                let name = if failing { &FAILING[18..] } else { &OP[18..] };
                Reply::json(200, json!({"name": name, "done": false}))
            }),
        ),
        (
            "GET",
            OP,
            handler(|_, n| match n {
                0 => Reply::json(200, json!({"name": &OP[18..], "done": false})),
                _ => Reply::json(
                    200,
                    json!({"name": &OP[18..], "done": true,
                           "response": {"name": "projects/p/branches/dev", "branch_id": "dev"}}),
                ),
            }),
        ),
        (
            "GET",
            FAILING,
            handler(|_, _| {
                Reply::json(
                    200,
                    json!({"name": &FAILING[18..], "done": true,
                    "error": {"error_code": "INVALID_PARAMETER_VALUE", "message": "no such parent"}}),
                )
            }),
        ),
    ])
    .await;
    let w = workspace_at(&server.url).await;
    let quick = || WaitOptions::default().poll_interval(Duration::from_millis(5), Duration::from_millis(10));
    let pending = w.postgres().create_branch("projects/p", Branch::new(), "dev").await.expect("started");
    assert_eq!(pending.name(), "projects/p/branches/dev/operations/op1");
    assert_eq!(pending.done, Some(false), "derefs to the operation");
    let branch: Branch = pending.wait_with(quick()).await.expect("done");
    assert_eq!(branch.branch_id.as_deref(), Some("dev"));
    assert_eq!(server.requests_to(OP).len(), 2, "polled until done");

    let failing = w.postgres().create_branch("projects/p", Branch::new(), "bad").await.expect("started");
    let err = failing.wait_with(quick()).await.expect_err("failed");
    assert_eq!(err.kind(), brickwork::ErrorKind::OperationFailed);
    assert!(err.message().contains("[INVALID_PARAMETER_VALUE] no such parent"), "{}", err.message());
    assert_eq!(err.operation_state().and_then(|s| s.resource_id.as_deref()), Some(&FAILING[18..]));
}

#[tokio::test]
async fn a_failed_page_is_asked_for_again_on_the_next_read() {
    let server = TestServer::start(vec![(
        "GET",
        "/api/2.1/clusters/list",
        handler(|r, n| match (r.query.contains("page_token=p2"), n) {
            (false, _) => Reply::json(200, json!({"clusters": [{"cluster_id": "c1"}], "next_page_token": "p2"})),
            (true, 1) => Reply::json(400, json!({"error_code": "BAD_REQUEST", "message": "try later"})),
            (true, _) => Reply::json(200, json!({"clusters": [{"cluster_id": "c2"}]})),
        }),
    )])
    .await;
    let w = workspace_at(&server.url).await;
    let mut clusters = w.clusters().list();
    assert_eq!(clusters.try_next().await.expect("first").and_then(|c| c.cluster_id).as_deref(), Some("c1"));
    assert!(clusters.try_next().await.is_err(), "the second page fails once");
    let second = clusters.try_next().await.expect("asked again");
    assert_eq!(second.and_then(|c| c.cluster_id).as_deref(), Some("c2"), "the listing did not end early");
    assert!(clusters.try_next().await.expect("end").is_none());
}

#[tokio::test]
async fn an_offset_server_that_ignores_the_offset_does_not_loop() {
    let server = TestServer::start(vec![(
        "GET",
        "/api/2.0/preview/scim/v2/Users",
        handler(|_, _| Reply::json(200, json!({"Resources": [{"id": "u1"}, {"id": "u2"}]}))),
    )])
    .await;
    let w = workspace_at(&server.url).await;
    let listing = tokio::time::timeout(std::time::Duration::from_secs(10), w.users().list().try_collect());
    let users = listing.await.expect("ends").expect("list");
    assert_eq!(users.len(), 2);
}

#[tokio::test]
async fn a_create_answer_without_an_id_is_kept_and_only_the_wait_fails() {
    let server = TestServer::start(vec![(
        "POST",
        "/api/2.1/clusters/create",
        handler(|_, _| Reply::json(200, json!({"unexpected": true}))),
    )])
    .await;
    let w = workspace_at(&server.url).await;
    let pending = w.clusters().create("15.4.x-scala2.12").await.expect("the cluster was created");
    assert_eq!(pending.cluster_id, None);
    let err = pending.wait().await.expect_err("nothing to poll");
    assert_eq!(err.kind(), brickwork::ErrorKind::Decode);
    assert!(err.message().contains("cluster_id"), "{}", err.message());
}

#[tokio::test]
async fn library_installs_are_matched_by_package_not_by_struct_equality() {
    use brickwork::service::compute::{Library, LibraryInstallStatus, PythonPyPiLibrary};
    use brickwork::service::WaitOptions;
    use std::time::Duration;
    let server = TestServer::start(vec![
        ("POST", "/api/2.0/libraries/install", handler(|_, _| Reply::json(200, json!({})))),
        (
            "GET",
            "/api/2.0/libraries/cluster-status",
            handler(|_, n| {
                // The server names a repository the request did not.
                let status = if n < 2 { "INSTALLING" } else { "INSTALLED" };
                Reply::json(200, json!({"cluster_id": "c1", "library_statuses": [
                    {"library": {"pypi": {"package": "requests", "repo": "https://pypi.org/simple"}}, "status": status}]}))
            }),
        ),
    ])
    .await;
    let w = workspace_at(&server.url).await;
    let options = WaitOptions::default().poll_interval(Duration::from_millis(5), Duration::from_millis(10));
    let requests = Library::new().pypi(PythonPyPiLibrary::new("requests"));
    let statuses = w.libraries().update_and_wait("c1", vec![requests], vec![], options).await.expect("installed");
    assert_eq!(statuses[0].status, Some(LibraryInstallStatus::Installed), "waited until the install finished");
}

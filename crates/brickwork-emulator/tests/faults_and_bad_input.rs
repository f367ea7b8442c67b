//! Fault injection, the per-principal rate limit, counters and hostile input.

mod common;

use std::time::Duration;

use brickwork::transport::RetryPolicy;
use brickwork::{Client, Config, ErrorKind};
use brickwork_emulator::{Fault, FaultRule, FaultSettings, Phase};
use common::*;
use serde_json::{json, Value};

fn rule(prefix: &str, probability: f64, fault: Fault, phase: Phase) -> FaultRule {
    FaultRule { path_prefix: prefix.to_string(), method: None, probability, fault, phase, times: None, query: None }
}

/// A client that does not retry, to see faults as they are.
async fn raw_client(url: &str, token: &str) -> Client {
    let cfg = Config::builder().host(url).token(token).max_retries(0).without_environment().build().expect("cfg");
    Client::new(cfg).await.expect("client")
}

#[tokio::test]
async fn faults_before_change_nothing_and_after_apply_the_change() {
    let (emulator, _) = start().await;
    let c = raw_client(emulator.url(), emulator.token()).await;
    emulator.set_faults(FaultSettings {
        seed: 1,
        rules: vec![rule("/api/2.0/secrets/scopes/create", 1.0, Fault::Unavailable, Phase::Before)],
        rate_limit_per_principal: None,
    });
    let err = c.api().post::<Value>("/api/2.0/secrets/scopes/create", &json!({"scope": "a"})).await.expect_err("503");
    assert_eq!(err.kind(), ErrorKind::TemporarilyUnavailable);
    emulator.set_faults(FaultSettings::default());
    let scopes = get(&c, "/api/2.0/secrets/scopes/list", json!({})).await;
    assert!(scopes.get("scopes").is_none(), "a fault before the handler changes nothing");

    emulator.set_faults(FaultSettings {
        seed: 1,
        rules: vec![rule("/api/2.0/secrets/scopes/create", 1.0, Fault::DropConnection, Phase::After)],
        rate_limit_per_principal: None,
    });
    let err =
        c.api().post::<Value>("/api/2.0/secrets/scopes/create", &json!({"scope": "b"})).await.expect_err("dropped");
    assert_eq!(err.kind(), ErrorKind::Transport);
    emulator.set_faults(FaultSettings::default());
    let scopes = get(&c, "/api/2.0/secrets/scopes/list", json!({})).await;
    assert_eq!(scopes["scopes"][0]["name"], "b", "a fault after the handler keeps the change");
    let counters = emulator.counters();
    assert_eq!((counters.faults_injected_before, counters.faults_injected_after), (1, 1));
}

#[tokio::test]
async fn a_blindly_retried_post_would_duplicate_but_brickwork_does_not_retry_it() {
    let (emulator, _) = start().await;
    emulator.set_faults(FaultSettings {
        seed: 7,
        rules: vec![rule("/api/2.2/jobs/create", 1.0, Fault::DropConnection, Phase::After)],
        rate_limit_per_principal: None,
    });
    let cfg = Config::builder()
        .host(emulator.url())
        .token(emulator.token())
        .max_retries(5)
        .without_environment()
        .build()
        .expect("cfg");
    let c = Client::new(cfg).await.expect("client");
    let err = c.api().post::<Value>("/api/2.2/jobs/create", &json!({"name": "once"})).await.expect_err("lost answer");
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(emulator.counters().jobs, 1, "exactly one job: the POST was not replayed");
}

#[tokio::test]
async fn throttling_faults_are_retried_by_brickwork_with_retry_after() {
    let (emulator, _) = start().await;
    emulator.set_faults(FaultSettings {
        seed: 3,
        rules: vec![rule("/api/2.2/jobs/create", 0.5, Fault::TooManyRequests { retry_after_secs: 0 }, Phase::Before)],
        rate_limit_per_principal: None,
    });
    let cfg =
        Config::builder().host(emulator.url()).token(emulator.token()).without_environment().build().expect("cfg");
    let fast_retry = RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        throttle_jitter: Duration::from_millis(5),
    };
    let c = Client::builder().config(cfg).retry_policy(fast_retry).build().await.expect("client");
    for i in 0..20 {
        post(&c, "/api/2.2/jobs/create", json!({"name": format!("j{i}")})).await;
    }
    let counters = emulator.counters();
    assert_eq!(counters.jobs, 20, "429 is refused before acting, so retrying cannot duplicate");
    assert!(counters.faults_injected_before > 0, "some requests were throttled");
}

#[tokio::test]
async fn faults_are_reproducible_for_a_seed() {
    async fn pattern(seed: u64) -> Vec<bool> {
        let emulator = fast()
            .faults(FaultSettings {
                seed,
                rules: vec![rule("/api/2.0/preview/scim", 0.5, Fault::InternalError, Phase::Before)],
                rate_limit_per_principal: None,
            })
            .start()
            .await
            .expect("start");
        let c = raw_client(emulator.url(), emulator.token()).await;
        let mut outcomes = Vec::new();
        for _ in 0..40 {
            outcomes.push(c.api().get::<Value>("/api/2.0/preview/scim/v2/Me", &()).await.is_ok());
        }
        outcomes
    }
    let a = pattern(42).await;
    assert_eq!(a, pattern(42).await);
    assert!(a.contains(&true) && a.contains(&false));
    assert_ne!(a, pattern(43).await);
}

#[tokio::test]
async fn rate_limit_per_principal_answers_429_with_retry_after() {
    let (emulator, _) =
        start_with(fast().faults(FaultSettings { seed: 0, rules: vec![], rate_limit_per_principal: Some(5) })).await;
    let c = raw_client(emulator.url(), emulator.token()).await;
    let mut limited = None;
    for _ in 0..30 {
        if let Err(e) = c.api().get::<Value>("/api/2.0/preview/scim/v2/Me", &()).await {
            limited = Some(e);
            break;
        }
    }
    let err = limited.expect("a burst of 30 exceeds 5 per second");
    assert_eq!(err.kind(), ErrorKind::RequestLimitExceeded);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(emulator.counters().rate_limited >= 1);
}

#[tokio::test]
async fn the_rate_limit_is_per_principal_not_per_token() {
    let limited = FaultSettings { seed: 0, rules: vec![], rate_limit_per_principal: Some(1) };
    let builder = fast().user("ann", "dapi-ann-one").user("ann", "dapi-ann-two").faults(limited);
    let (emulator, _) = start_with(builder).await;
    let me = |token: &'static str| {
        let url = emulator.url().to_string();
        async move { raw_client(&url, token).await.api().get::<Value>("/api/2.0/preview/scim/v2/Me", &()).await }
    };
    // A made-up token is unauthenticated every time: it gets no bucket to use up.
    for _ in 0..3 {
        let err = me("dapi-made-up").await.expect_err("unknown token");
        assert_eq!(err.status(), Some(403), "{err:?}");
    }
    me("dapi-ann-one").await.expect("ann's first request of the second");
    let err = me("dapi-ann-two").await.expect_err("ann's other token shares her allowance");
    assert_eq!(err.kind(), ErrorKind::RequestLimitExceeded);
    let admin = raw_client(emulator.url(), emulator.token()).await;
    admin.api().get::<Value>("/api/2.0/preview/scim/v2/Me", &()).await.expect("another principal has its own");
    assert_eq!(emulator.counters().rate_limited, 1);
}

#[tokio::test]
async fn latency_fault_delays_without_failing() {
    let (emulator, c) = start().await;
    emulator.set_faults(FaultSettings {
        seed: 0,
        rules: vec![rule("/api/2.0/preview/scim/v2/Me", 1.0, Fault::Latency { ms: 50 }, Phase::Before)],
        rate_limit_per_principal: None,
    });
    assert_eq!(get(&c, "/api/2.0/preview/scim/v2/Me", json!({})).await["userName"], "admin@example.com");
    assert_eq!(emulator.counters().faults_by_kind.get("latency:before"), Some(&1));
}

#[tokio::test]
async fn admin_api_sets_faults_and_reports_counters() {
    let (emulator, _) = start().await;
    let http = reqwest::Client::new();
    let rules = json!({"seed": 9, "rules": [{"path_prefix": "/api/2.1/clusters/list", "probability": 1.0, "fault": {"kind": "internal_error"}}]});
    let admin = emulator.admin_token();
    let set = http
        .put(format!("{}/__admin/faults", emulator.url()))
        .bearer_auth(admin)
        .json(&rules)
        .send()
        .await
        .expect("put");
    assert_eq!(set.status().as_u16(), 200);
    let c = raw_client(emulator.url(), emulator.token()).await;
    let err = c.api().get::<Value>("/api/2.1/clusters/list", &()).await.expect_err("500");
    assert_eq!(err.kind(), ErrorKind::InternalError);
    let counters = http.get(format!("{}/__admin/counters", emulator.url())).bearer_auth(admin).send().await;
    let counters: Value = counters.expect("get").json().await.expect("json");
    assert_eq!(counters["faults_injected_before"], 1);
    assert_eq!(counters["live_clusters"], 0);
}

/// The admin API is the emulator's own: it takes only its admin token (not
/// even the workspace admin's PAT), only under a loopback `Host` (no DNS
/// rebinding) and only JSON bodies (no cross-site form posts).
#[tokio::test]
async fn admin_api_refuses_callers_without_the_admin_token() {
    let (emulator, _) = start().await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", emulator.url());
    let status = |r: reqwest::Response| r.status().as_u16();
    for path in ["/__admin/counters", "/__admin/faults"] {
        assert_eq!(status(http.get(url(path)).send().await.expect("get")), 401, "{path} anonymous");
        let as_user = http.get(url(path)).bearer_auth(emulator.token()).send().await.expect("get");
        assert_eq!(status(as_user), 401, "{path} with the workspace admin's PAT");
        let wrong = http.get(url(path)).bearer_auth(format!("{}x", emulator.admin_token())).send().await;
        assert_eq!(status(wrong.expect("get")), 401, "{path} with a wrong token");
    }
    let user = http.post(url("/__admin/users")).json(&json!({"user_name": "mallory@example.com", "admin": true}));
    let refused = user.send().await.expect("post");
    assert_eq!(status(refused), 401);
    let body: Value = http
        .get(url("/__admin/counters"))
        .bearer_auth(emulator.admin_token())
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(body["requests"].is_u64(), "{body}");
    let rebound =
        http.get(url("/__admin/counters")).bearer_auth(emulator.admin_token()).header("host", "evil.example:80");
    assert_eq!(status(rebound.send().await.expect("get")), 403, "a rebound DNS name");
    let form = http
        .post(url("/__admin/users"))
        .bearer_auth(emulator.admin_token())
        .header("content-type", "text/plain")
        .body(r#"{"user_name": "mallory@example.com", "admin": true}"#);
    assert_eq!(status(form.send().await.expect("post")), 415, "a simple cross-site body");
    let added = http
        .post(url("/__admin/users"))
        .bearer_auth(emulator.admin_token())
        .json(&json!({"user_name": "ops@example.com"}))
        .send()
        .await
        .expect("post");
    assert_eq!(status(added), 200);
}

#[tokio::test]
async fn admin_api_seeds_jobs_in_bulk_within_a_cap() {
    let (emulator, c) = start().await;
    let http = reqwest::Client::new();
    let seed = |body: Value| {
        http.post(format!("{}/__admin/seed", emulator.url())).bearer_auth(emulator.admin_token()).json(&body).send()
    };
    let seeded: Value =
        seed(json!({"jobs": 250, "name_prefix": "bulk-"})).await.expect("seed").json().await.expect("json");
    let (first, last) =
        (seeded["first_job_id"].as_i64().expect("first"), seeded["last_job_id"].as_i64().expect("last"));
    assert!(last > first, "{seeded}");
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = json!({"limit": 100});
        if let Some(t) = &token {
            query["page_token"] = json!(t);
        }
        let page = get(&c, "/api/2.2/jobs/list", query).await;
        listed.extend(
            page["jobs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|j| j["settings"]["name"].as_str().map(str::to_string)),
        );
        token = page["next_page_token"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(listed.len(), 250);
    assert_eq!((listed[0].as_str(), listed[249].as_str()), ("bulk-0", "bulk-249"));
    for too_many in [json!({"jobs": -1}), json!({"jobs": 1_000_001})] {
        let refused = seed(too_many).await.expect("seed");
        assert_eq!(refused.status().as_u16(), 400);
    }
}

async fn raw_post(url: &str, token: &str, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn hostile_input_gets_real_error_shapes() {
    let (emulator, c) = start().await;
    let (url, token) = (emulator.url().to_string(), emulator.token().to_string());
    let (status, body) = raw_post(&url, &token, "/api/2.1/clusters/create", "{not json").await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("MALFORMED_REQUEST")));
    let (status, body) = raw_post(&url, &token, "/api/2.1/clusters/create", "[1,2,3]").await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("MALFORMED_REQUEST")));
    let (status, body) = raw_post(&url, &token, "/api/2.1/clusters/start", r#"{"cluster_id": 12}"#).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    let (status, body) = raw_post(&url, &token, "/api/2.2/jobs/get", "{}").await;
    assert_eq!(status, 405, "{body}");
    let huge = vec![b' '; 17 * 1024 * 1024];
    let (status, body) = raw_post(&url, &token, "/api/2.0/workspace/import", huge).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("MAX_REQUEST_SIZE_EXCEEDED")));
    for path in ["/Users/../etc/passwd", "relative/path", "/Users/a/./b", "/a//b"] {
        let err = c.api().get::<Value>("/api/2.0/workspace/get-status", &json!({"path": path})).await.expect_err(path);
        assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{path}");
    }
    let err = c
        .api()
        .request(brickwork::transport::Method::GET, "/api/2.0/fs/files/Volumes/../../etc/passwd")
        .send()
        .await
        .expect_err("traversal");
    assert!(err.is(ErrorKind::BadRequest) || err.is(ErrorKind::NotFound), "{err:?}");
    let err = c
        .api()
        .get::<Value>("/api/2.1/clusters/list", &json!({"filter_by": {"is_pinned": "maybe"}}))
        .await
        .expect_err("bool");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue);
    // Still serving after all that.
    assert_eq!(get(&c, "/api/2.0/preview/scim/v2/Me", json!({})).await["userName"], "admin@example.com");
}

/// Page tokens the emulator never issued, among them numbers at the edge
/// of `usize`, are a 400 on every paged list, never an overflow (a panic
/// in a debug build) or a 500; offsets at the edge are an empty page.
#[tokio::test]
async fn hostile_page_tokens_are_refused_on_every_list() {
    let (emulator, c) = start().await;
    let raw = raw_client(emulator.url(), emulator.token()).await;
    let job = c.api().post::<Value>("/api/2.2/jobs/create", &json!({"name": "paged"})).await.expect("job");
    let job_id = job["job_id"].as_i64().expect("job id");
    let run = c
        .api()
        .post::<Value>(
            "/api/2.2/jobs/runs/submit",
            &json!({"run_name": "r", "tasks": [
        {"task_key": "t", "notebook_task": {"notebook_path": "/x"}, "environment_key": "e"}],
        "environments": [{"environment_key": "e", "spec": {"client": "1"}}]}),
        )
        .await;
    let run_id = run.expect("a serverless run")["run_id"].as_i64().expect("run id");
    c.api()
        .request(brickwork::transport::Method::PUT, "/api/2.0/fs/directories/Volumes/main/default/v/d")
        .send()
        .await
        .expect("mkdir");
    let pipeline = c.api().post::<Value>("/api/2.0/pipelines", &json!({"name": "paged"})).await.expect("pipeline");
    let pipeline_id = pipeline["pipeline_id"].as_str().expect("pipeline id").to_string();
    let updates = format!("/api/2.0/pipelines/{pipeline_id}/updates");
    let events = format!("/api/2.0/pipelines/{pipeline_id}/events");
    let in_schema = json!({"catalog_name": "main", "schema_name": "default"});
    let lists: Vec<(&str, &str, Value)> = vec![
        ("/api/2.1/unity-catalog/schemas", "page_token", json!({"catalog_name": "main"})),
        ("/api/2.1/unity-catalog/tables", "page_token", in_schema.clone()),
        ("/api/2.1/unity-catalog/volumes", "page_token", in_schema.clone()),
        ("/api/2.1/unity-catalog/functions", "page_token", in_schema),
        ("/api/2.1/unity-catalog/external-locations", "page_token", json!({})),
        ("/api/2.1/unity-catalog/storage-credentials", "page_token", json!({})),
        (updates.as_str(), "page_token", json!({})),
        (events.as_str(), "page_token", json!({})),
        ("/api/2.1/clusters/list", "page_token", json!({})),
        ("/api/2.2/jobs/get", "page_token", json!({"job_id": job_id})),
        ("/api/2.2/jobs/list", "page_token", json!({})),
        ("/api/2.2/jobs/runs/list", "page_token", json!({})),
        ("/api/2.2/jobs/runs/get", "page_token", json!({"run_id": run_id})),
        ("/api/2.0/sql/warehouses", "page_token", json!({})),
        ("/api/2.1/unity-catalog/catalogs", "page_token", json!({})),
        ("/api/2.0/pipelines", "page_token", json!({})),
        ("/api/2.0/fs/directories/Volumes/main/default/v/d", "page_token", json!({})),
        ("/api/2.0/repos", "next_page_token", json!({})),
        ("/api/2.0/policy-families", "page_token", json!({})),
    ];
    for (path, token_name, query) in &lists {
        for hostile in ["18446744073709551615", "-1", "not-a-token", "cGFnZTo="] {
            let mut query = query.clone();
            query[*token_name] = json!(hostile);
            let err = raw.api().get::<Value>(path, &query).await.expect_err(path);
            assert_eq!(err.status(), Some(400), "{path} with {hostile}: {err}");
            assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{path} with {hostile}");
        }
    }
    let events = raw
        .api()
        .post::<Value>("/api/2.1/clusters/events", &json!({"cluster_id": "nope", "page_token": "18446744073709551615"}))
        .await
        .expect_err("events");
    assert_eq!(events.status(), Some(400), "{events}");
    // SCIM pages by number, as its protocol has it: a number past int64 or
    // no number is a 400; below 1 a start reads as 1, a negative count as 0;
    // a start past the end is an empty page.
    for (key, hostile) in [("startIndex", "18446744073709551615"), ("count", "not-a-number")] {
        let err = raw.api().get::<Value>("/api/2.0/preview/scim/v2/Users", &json!({key: hostile})).await;
        assert_eq!(err.expect_err(key).status(), Some(400), "{key}={hostile}");
    }
    let from_one = get(&raw, "/api/2.0/preview/scim/v2/Users", json!({"startIndex": -1})).await;
    assert_eq!((from_one["startIndex"].as_i64(), from_one["itemsPerPage"].as_i64()), (Some(1), Some(1)));
    let none = get(&raw, "/api/2.0/preview/scim/v2/Groups", json!({"count": -1})).await;
    assert!(none.get("Resources").is_none() && none["totalResults"].as_i64() > Some(0), "{none}");
    let past = get(&raw, "/api/2.0/preview/scim/v2/Users", json!({"startIndex": i64::MAX})).await;
    assert_eq!((past["itemsPerPage"].as_i64(), past["totalResults"].as_i64()), (Some(0), Some(1)));
    let far = get(&raw, "/api/2.2/jobs/runs/list", json!({"offset": i64::MAX})).await;
    assert!(far.get("runs").is_none(), "{far}");
    assert_eq!(get(&c, "/api/2.0/preview/scim/v2/Me", json!({})).await["userName"], "admin@example.com");
}

/// Page tokens forged in the emulator's own form (base64 of `kind:key`),
/// sent by a non-admin, whose lists merge index ranges from the cursor: an
/// id not of the world's one length is refused, as a token it never issued;
/// an empty or odd key is a page, never a panic.
#[tokio::test]
async fn forged_cursors_of_the_right_kind_are_refused_or_read_never_fatal() {
    use base64::Engine;
    let (emulator, admin) = start_with(fast().user("ann@example.com", "dapi-ann")).await;
    let ann = raw_client(emulator.url(), "dapi-ann").await;
    let shared = json!([{"user_name": "ann@example.com", "permission_level": "CAN_VIEW"}]);
    post(&admin, "/api/2.2/jobs/create", json!({"name": "shared", "access_control_list": shared})).await;
    post(&ann, "/api/2.0/pipelines", json!({"name": "ann's"})).await;
    let forged = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let cases = [
        ("/api/2.2/jobs/list", "page_token", "jobs:5", true),
        ("/api/2.2/jobs/list", "page_token", "jobs:99999999999999999", true),
        ("/api/2.2/jobs/runs/list", "page_token", "runs:5", true),
        ("/api/2.2/jobs/runs/list", "page_token", "runs:-1", true),
        ("/api/2.0/repos", "next_page_token", "repos:", true),
        ("/api/2.0/repos", "next_page_token", "repos:/Repos/", false),
        ("/api/2.0/sql/warehouses", "page_token", "warehouses:", false),
        ("/api/2.0/pipelines", "page_token", "pipelines:\u{1}", false),
        ("/api/2.0/pipelines", "page_token", "pipelines:\u{10FFFF}", false),
    ];
    for (path, name, text, refused) in cases {
        let answer = ann.api().get::<Value>(path, &json!({name: forged(text)})).await;
        match (answer, refused) {
            (Err(err), true) => assert_eq!(err.status(), Some(400), "{path} {text}: {err}"),
            (Ok(_), false) => {}
            (other, _) => panic!("{path} {text}: {other:?}"),
        }
    }
    assert_eq!(get(&ann, "/api/2.0/preview/scim/v2/Me", json!({})).await["userName"], "ann@example.com");
}

/// Jobs past the 1,000-task cap are refused with a typed 400, however they
/// arrive; a 20,000-task chain once overflowed the stack and killed the
/// emulator.
#[tokio::test]
async fn jobs_over_the_task_cap_are_refused_and_the_emulator_survives() {
    let (_emulator, c) = start().await;
    let chain = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| {
                let deps: Vec<Value> = if i == 0 { vec![] } else { vec![json!({"task_key": format!("t{}", i - 1)})] };
                json!({"task_key": format!("t{i}"), "depends_on": deps, "existing_cluster_id": "c",
                       "notebook_task": {"notebook_path": "/n"}})
            })
            .collect()
    };
    for n in [2_000, 20_000] {
        let err = c
            .api()
            .post::<Value>("/api/2.2/jobs/create", &json!({"name": "huge", "tasks": chain(n)}))
            .await
            .expect_err("over the cap");
        assert_eq!((err.status(), err.kind()), (Some(400), ErrorKind::InvalidParameterValue), "{err}");
        assert!(err.to_string().contains("at most 1000 tasks"), "{err}");
    }
    let err = c
        .api()
        .post::<Value>("/api/2.2/jobs/runs/submit", &json!({"run_name": "huge", "tasks": chain(20_000)}))
        .await
        .expect_err("over the cap");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{err}");
    // Growing a job past the cap through updates is refused too.
    let job = c.api().post::<Value>("/api/2.2/jobs/create", &json!({"name": "grows", "tasks": chain(1_000)})).await;
    let job_id = job.expect("a job at the cap is valid")["job_id"].as_i64().expect("job id");
    let extra = json!({"task_key": "extra", "existing_cluster_id": "c", "notebook_task": {"notebook_path": "/n"}});
    let err = c
        .api()
        .post::<Value>("/api/2.2/jobs/update", &json!({"job_id": job_id, "new_settings": {"tasks": [extra]}}))
        .await
        .expect_err("1,001 tasks after the merge");
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{err}");
    assert_eq!(get(&c, "/api/2.0/preview/scim/v2/Me", json!({})).await["userName"], "admin@example.com");
}

/// A task that fails at once and retries "indefinitely" (`max_retries: -1`,
/// no interval) once spun forever under the world lock: the emulator stopped
/// answering. Each advance now makes at most one new attempt.
#[tokio::test]
async fn an_instant_failure_retried_indefinitely_does_not_stop_the_emulator() {
    let (_emulator, c) = start_with(fast().task_duration(std::time::Duration::ZERO)).await;
    let task = json!({"task_key": "t", "run_job_task": {"job_id": 424_242}, "max_retries": -1});
    let run = post(&c, "/api/2.1/jobs/runs/submit", json!({"run_name": "forever", "tasks": [task]})).await;
    let read = get(&c, "/api/2.1/jobs/runs/get", json!({"run_id": run["run_id"]}));
    let run = tokio::time::timeout(std::time::Duration::from_secs(60), read).await.expect("the emulator answers");
    let attempts = run["tasks"].as_array().expect("tasks");
    assert!((1..=2).contains(&attempts.len()), "one failed attempt and at most its waiting retry: {run}");
    assert_eq!(attempts[0]["state"]["result_state"], "FAILED", "{run}");
    assert_eq!(run["state"]["life_cycle_state"], "RUNNING", "still retrying: {run}");
    post(&c, "/api/2.1/jobs/runs/cancel", json!({"run_id": run["run_id"]})).await;
}

/// A 1,000-task chain defined last-first, with instant tasks, runs to the end
/// in one advance: each task steps after those it depends on.
#[tokio::test]
async fn a_thousand_task_chain_defined_backwards_finishes_in_one_advance() {
    let (_emulator, c) = start_with(fast().task_duration(std::time::Duration::ZERO)).await;
    let tasks: Vec<Value> = (0..1_000)
        .map(|i| {
            let deps: Vec<Value> = if i == 999 { vec![] } else { vec![json!({"task_key": format!("t{}", i + 1)})] };
            json!({"task_key": format!("t{i}"), "depends_on": deps,
                   "condition_task": {"op": "EQUAL_TO", "left": "1", "right": "1"}})
        })
        .collect();
    let run = post(&c, "/api/2.1/jobs/runs/submit", json!({"run_name": "chain", "tasks": tasks})).await;
    let run = get(&c, "/api/2.1/jobs/runs/get", json!({"run_id": run["run_id"]})).await;
    assert_eq!(run["state"]["result_state"], "SUCCESS", "{}", run["state"]);
    let tasks = run["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1_000);
    assert!(tasks.iter().all(|t| t["state"]["result_state"] == "SUCCESS"));
}

/// Requests built to make the emulator work in proportion to the square of
/// their size, or recurse as deep as they are long, are refused or served
/// in one pass: a deep cluster policy rule path, an overlong workspace or
/// DBFS path, a job update with a flood of tasks and removals, a flood of
/// libraries. Each call is bounded only against a hang, not timed.
#[tokio::test]
async fn requests_shaped_to_stall_or_recurse_are_refused_or_served_in_one_pass() {
    let (_emulator, c) = start().await;
    let bounded = |call| async move {
        tokio::time::timeout(std::time::Duration::from_secs(120), call).await.expect("answered, not stalled")
    };

    let deep = "a.".repeat(100_000) + "b";
    let policy = json!({"name": "deep", "definition": json!({deep: {"type": "fixed", "value": 1}}).to_string()});
    let err = c.api().post::<Value>("/api/2.0/policies/clusters/create", &policy).await.expect_err("deep rule path");
    assert!(err.is(ErrorKind::InvalidParameterValue) && err.message().contains("rule path"), "{err}");
    let tagged = json!({"custom_tags.team.with.dots": {"type": "fixed", "value": "x"}}).to_string();
    post(&c, "/api/2.0/policies/clusters/create", json!({"name": "tags", "definition": tagged})).await;

    let long = format!("/Shared/{}", "a/".repeat(3_000));
    let err = c.api().post::<Value>("/api/2.0/workspace/mkdirs", &json!({"path": long})).await.expect_err("long path");
    assert!(err.is(ErrorKind::InvalidParameterValue), "{err}");
    let err =
        c.api().post::<Value>("/api/2.0/dbfs/mkdirs", &json!({"path": format!("/tmp/{}", "b".repeat(256))})).await;
    assert!(err.expect_err("long name").is(ErrorKind::InvalidParameterValue));
    post(&c, "/api/2.0/workspace/mkdirs", json!({"path": format!("/Shared/{}", "c".repeat(255))})).await;

    let task =
        |key: String| json!({"task_key": key, "existing_cluster_id": "c", "notebook_task": {"notebook_path": "/n"}});
    let tasks: Vec<Value> = (0..3).map(|i| task(format!("t{i}"))).collect();
    let job_id = post(&c, "/api/2.2/jobs/create", json!({"name": "j", "tasks": tasks})).await["job_id"].clone();
    let flood: Vec<Value> = (0..100_000).map(|i| json!({"task_key": format!("f{i}")})).collect();
    let update = json!({"job_id": job_id, "new_settings": {"tasks": flood}});
    let err = bounded(c.api().post::<Value>("/api/2.2/jobs/update", &update)).await.expect_err("over the cap");
    assert!(err.to_string().contains("at most 1000 tasks"), "{err}");
    let mut removals: Vec<String> = (0..100_000).map(|i| format!("tasks/x{i}")).collect();
    removals.push("tasks/t1".into());
    let update = json!({"job_id": job_id, "new_settings": {"tasks": [task("t0".into()), task("t3".into())]},
                        "fields_to_remove": removals});
    bounded(c.api().post::<Value>("/api/2.2/jobs/update", &update)).await.expect("merged and removed by key");
    let kept = get(&c, "/api/2.2/jobs/get", json!({"job_id": job_id})).await;
    let keys: Vec<&str> =
        kept["settings"]["tasks"].as_array().into_iter().flatten().filter_map(|t| t["task_key"].as_str()).collect();
    assert_eq!(keys, ["t0", "t2", "t3"], "{kept}");

    let cluster = post(&c, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].clone();
    let many: Vec<Value> = (0..60_000).map(|i| json!({"pypi": {"package": format!("p{}", i % 30_000)}})).collect();
    let install = json!({"cluster_id": cluster, "libraries": many});
    bounded(c.api().post::<Value>("/api/2.0/libraries/install", &install)).await.expect("installed");
    let again = json!({"cluster_id": cluster, "libraries": [{"pypi": {"package": "p7"}}]});
    post(&c, "/api/2.0/libraries/install", again).await;
    let status = get(&c, "/api/2.0/libraries/cluster-status", json!({"cluster_id": cluster})).await;
    let listed = status["library_statuses"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, 30_000, "one entry per library, however often asked for");
    let last = &status["library_statuses"][30_000 - 1]["library"]["pypi"]["package"];
    assert_eq!(last, "p7", "a library asked for again moves to the end");
}

//! Serving endpoints over HTTP: deployments settle from their deadline,
//! a second update waits for the first, and bad configurations create nothing.

mod common;

use brickwork::transport::Method;
use brickwork::ErrorKind;
use common::*;
use serde_json::{json, Value};

const ENDPOINTS: &str = "/api/2.0/serving-endpoints";

fn entity(version: &str) -> Value {
    json!({"entity_name": "main.default.model", "entity_version": version, "workload_size": "Small"})
}

async fn put(c: &brickwork::Client, path: &str, body: Value) -> brickwork::Result<Value> {
    c.api().request(Method::PUT, path).json(&body).send().await?.json()
}

#[tokio::test]
async fn deployments_settle_updates_wait_their_turn_and_bad_configs_create_nothing() {
    let (_emulator, c) = start().await;
    let made = post(&c, ENDPOINTS, json!({"name": "scorer", "config": {"served_entities": [entity("1")]}})).await;
    assert_eq!(made["state"], json!({"ready": "NOT_READY", "config_update": "IN_PROGRESS"}));
    assert_eq!(made["pending_config"]["served_entities"][0]["state"]["deployment"], "DEPLOYMENT_CREATING");
    let early = c.api().post::<Value>("/serving-endpoints/scorer/invocations", &json!({"inputs": [1]})).await;
    assert_eq!(early.expect_err("not ready").status(), Some(400));

    let ready = poll(200, || async {
        let got = get(&c, &format!("{ENDPOINTS}/scorer"), json!({})).await;
        (got["state"]["config_update"] == "NOT_UPDATING").then_some(got)
    })
    .await;
    assert_eq!(ready["state"]["ready"], "READY");
    assert!(ready.get("pending_config").is_none(), "{ready}");

    let two = json!({"served_entities": [entity("1"), entity("2")],
        "traffic_config": {"routes": [{"served_entity_name": "main-default-model-1", "traffic_percentage": 50},
                                      {"served_entity_name": "main-default-model-2", "traffic_percentage": 50}]}});
    let updating = put(&c, &format!("{ENDPOINTS}/scorer/config"), two.clone()).await.expect("update");
    assert_eq!(updating["state"]["config_update"], "IN_PROGRESS");
    assert_eq!(updating["pending_config"]["config_version"], 2);
    let again = put(&c, &format!("{ENDPOINTS}/scorer/config"), two).await.expect_err("busy");
    assert_eq!(again.status(), Some(409), "{again}");
    // Still served by the live configuration meanwhile.
    let answer = post(&c, "/serving-endpoints/scorer/invocations", json!({"inputs": [[1, 2]]})).await;
    assert_eq!(answer["predictions"], json!([[1, 2]]));

    let bad = [
        json!({"name": "has space", "config": {"served_entities": [entity("1")]}}),
        json!({"name": "two", "config": {"served_entities": [entity("1"), entity("2")]}}),
        json!({"name": "nover", "config": {"served_entities": [{"entity_name": "main.default.model"}]}}),
        json!({"name": "both", "config": {"served_entities": [entity("1")], "served_models": [entity("1")]}}),
        json!({"name": "size", "config": {"served_entities": [{"entity_name": "m", "entity_version": "1", "workload_size": "Huge"}]}}),
    ];
    for body in bad {
        let err = c.api().post::<Value>(ENDPOINTS, &body).await.expect_err("refused");
        assert!(err.is(ErrorKind::InvalidParameterValue), "{body}: {err}");
    }
    let listed = get(&c, ENDPOINTS, json!({})).await;
    let names: Vec<&str> =
        listed["endpoints"].as_array().expect("list").iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["scorer"]);
    let logs = get(&c, &format!("{ENDPOINTS}/scorer/served-models/main-default-model-1/logs"), json!({})).await;
    assert!(logs["logs"].as_str().is_some_and(|l| l.contains("queries answered: 1")), "{logs}");
}

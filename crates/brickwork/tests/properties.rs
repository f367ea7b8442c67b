//! Properties over generated inputs: config precedence, and decoding of the
//! main wire types (total, and stable under a re-encode round trip).

use brickwork::service::compute::{ClusterDetails, ClustersCreateRequest};
use brickwork::service::jobs::{JobSettings, JobsCreateRequest, Run};
use brickwork::Config;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

// ---- config precedence -------------------------------------------------

/// Attributes with no effect on auth or validation, so any value resolves.
const ATTRIBUTES: [(&str, &str); 3] = [
    ("cluster_id", "DATABRICKS_CLUSTER_ID"),
    ("warehouse_id", "DATABRICKS_WAREHOUSE_ID"),
    ("serverless_compute_id", "DATABRICKS_SERVERLESS_COMPUTE_ID"),
];

fn value() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[A-Za-z0-9_-]{1,16}")
}

/// One attribute's value in each layer: builder, environment, profile.
fn layers() -> impl Strategy<Value = Vec<(Option<String>, Option<String>, Option<String>)>> {
    proptest::collection::vec((value(), value(), value()), ATTRIBUTES.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn builder_beats_environment_beats_profile(layers in layers(), named_profile in any::<bool>()) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("databrickscfg");
        let section = if named_profile { "team" } else { "DEFAULT" };
        let mut file = format!("[{section}]\nhost = https://from-file.example.com\ntoken = dapi-file\n");
        let mut env = vec![("DATABRICKS_CONFIG_FILE".to_string(), path.display().to_string())];
        if named_profile {
            env.push(("DATABRICKS_CONFIG_PROFILE".to_string(), "team".to_string()));
        }
        let mut builder = Config::builder();
        for ((name, var), (set, from_env, in_file)) in ATTRIBUTES.iter().zip(&layers) {
            if let Some(v) = in_file {
                file.push_str(&format!("{name} = {v}\n"));
            }
            if let Some(v) = from_env {
                env.push((var.to_string(), v.clone()));
            }
            if let Some(v) = set {
                builder = builder.set(name, v.clone());
            }
        }
        std::fs::write(&path, file).expect("write");
        let cfg = builder.environment(env).build().expect("resolves");
        prop_assert_eq!(cfg.host(), Some("https://from-file.example.com"));
        for ((name, _), (set, from_env, in_file)) in ATTRIBUTES.iter().zip(&layers) {
            let expected = set.as_deref().or(from_env.as_deref()).or(in_file.as_deref());
            prop_assert_eq!(cfg.get(name), expected, "{}", name);
        }
    }
}

// ---- decoding ----------------------------------------------------------

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        any::<i64>().prop_map(|n| Value::String(n.to_string())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A change to one field of a valid document.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, Value),
    Remove(usize),
    Add(String, Value),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), any_json()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        any::<usize>().prop_map(Mutation::Remove),
        ("[a-z_]{1,12}", any_json()).prop_map(|(k, v)| Mutation::Add(k, v)),
    ];
    proptest::collection::vec(one, 0..6)
}

fn mutate(mut doc: Value, mutations: &[Mutation]) -> Value {
    let Some(object) = doc.as_object_mut() else { return doc };
    for mutation in mutations {
        let keys: Vec<String> = object.keys().cloned().collect();
        match mutation {
            Mutation::Replace(i, v) if !keys.is_empty() => {
                object.insert(keys[i % keys.len()].clone(), v.clone());
            }
            Mutation::Remove(i) if !keys.is_empty() => {
                object.remove(&keys[i % keys.len()]);
            }
            Mutation::Add(k, v) => {
                object.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    doc
}

/// Decoding never panics; what decodes re-encodes to a fixpoint.
fn decodes_stably<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(doc: &Value) -> Result<(), String> {
    let Ok(first) = serde_json::from_value::<T>(doc.clone()) else { return Ok(()) };
    let encoded = serde_json::to_value(&first).map_err(|e| format!("re-encode: {e}"))?;
    let second: T = serde_json::from_value(encoded.clone()).map_err(|e| format!("decode of own encoding: {e}"))?;
    if second != first {
        return Err(format!("round trip changed the value: {first:?} -> {second:?}"));
    }
    let again = serde_json::to_value(&second).map_err(|e| format!("re-encode: {e}"))?;
    if again != encoded {
        return Err(format!("encoding is not a fixpoint: {encoded} -> {again}"));
    }
    Ok(())
}

fn cluster() -> Value {
    json!({"cluster_id": "0123-456789-abcdefgh", "cluster_name": "etl", "spark_version": "15.4.x-scala2.12",
           "node_type_id": "i3.xlarge", "num_workers": 2, "state": "RUNNING", "start_time": 1700000000000i64,
           "autoscale": {"min_workers": 1, "max_workers": 4}, "custom_tags": {"team": "data"},
           "spark_conf": {"spark.speculation": "true"}, "autotermination_minutes": 30})
}

fn job_settings() -> Value {
    json!({"name": "nightly", "max_concurrent_runs": 1, "timeout_seconds": 3600,
           "tasks": [{"task_key": "bronze", "notebook_task": {"notebook_path": "/p/bronze"}, "existing_cluster_id": "c1"},
                     {"task_key": "silver", "depends_on": [{"task_key": "bronze"}], "notebook_task": {"notebook_path": "/p/silver"}}],
           "tags": {"pipeline": "bronze-silver"}, "parameters": [{"name": "run_date", "default": "2026-01-01"}],
           "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"}})
}

fn run() -> Value {
    json!({"run_id": 42, "job_id": 7, "run_name": "nightly", "run_page_url": "https://x/#job/7/run/42",
           "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": ""},
           "tasks": [{"task_key": "bronze", "run_id": 43, "state": {"life_cycle_state": "TERMINATED"}}],
           "start_time": 1700000000000i64, "end_time": 1700000100000i64})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_clusters_decode_stably(m in mutations()) {
        let doc = mutate(cluster(), &m);
        prop_assert_eq!(decodes_stably::<ClusterDetails>(&doc), Ok(()));
        prop_assert_eq!(decodes_stably::<ClustersCreateRequest>(&doc), Ok(()));
    }

    #[test]
    fn mutated_job_settings_decode_stably(m in mutations()) {
        let doc = mutate(job_settings(), &m);
        prop_assert_eq!(decodes_stably::<JobSettings>(&doc), Ok(()));
        prop_assert_eq!(decodes_stably::<JobsCreateRequest>(&doc), Ok(()));
    }

    #[test]
    fn mutated_runs_decode_stably(m in mutations()) {
        prop_assert_eq!(decodes_stably::<Run>(&mutate(run(), &m)), Ok(()));
    }

    #[test]
    fn arbitrary_json_never_panics_the_decoders(doc in any_json()) {
        prop_assert_eq!(decodes_stably::<ClusterDetails>(&doc), Ok(()));
        prop_assert_eq!(decodes_stably::<JobSettings>(&doc), Ok(()));
        prop_assert_eq!(decodes_stably::<Run>(&doc), Ok(()));
    }
}

#[test]
fn the_sample_documents_decode() {
    assert!(serde_json::from_value::<ClusterDetails>(cluster()).is_ok());
    assert!(serde_json::from_value::<JobSettings>(job_settings()).is_ok());
    assert!(serde_json::from_value::<Run>(run()).is_ok());
}

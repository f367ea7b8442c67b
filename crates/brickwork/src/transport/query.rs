//! Query-string encoding as the official SDKs do it: nested objects become
//! dotted keys, lists become repeated keys, booleans are `true`/`false`, and
//! unset (null) fields are left out.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Flatten `params` (any serialisable struct or map) into query pairs.
pub fn encode_query<T: Serialize + ?Sized>(params: &T) -> Result<Vec<(String, String)>> {
    let value =
        serde_json::to_value(params).map_err(|e| Error::config(format!("cannot encode query parameters: {e}")))?;
    pairs_of(value)
}

/// Flatten parameters that are JSON already (no second encoding).
pub(crate) fn pairs_of(value: Value) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (key, v) in map {
                flatten(&key, &v, &mut pairs);
            }
        }
        other => return Err(Error::config(format!("query parameters must be an object, got {other}"))),
    }
    Ok(pairs)
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
        Value::Number(n) => out.push((prefix.to_string(), n.to_string())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Array(items) => items.iter().for_each(|item| flatten(prefix, item, out)),
        Value::Object(map) => {
            for (key, v) in map {
                flatten(&format!("{prefix}.{key}"), v, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_lists_and_bools() {
        let q = json!({
            "page_size": 10,
            "expand_tasks": true,
            "page_token": null,
            "filter_by": {"cluster_states": ["RUNNING", "PENDING"], "is_pinned": false},
        });
        let pairs = encode_query(&q).unwrap_or_default();
        let s: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            s,
            vec![
                "expand_tasks=true",
                "filter_by.cluster_states=RUNNING",
                "filter_by.cluster_states=PENDING",
                "filter_by.is_pinned=false",
                "page_size=10",
            ]
        );
        assert!(encode_query(&json!([1])).is_err());
        assert!(encode_query(&()).is_ok_and(|p| p.is_empty()));
    }
}

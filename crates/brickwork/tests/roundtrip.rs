//! Every generated type and request against a fixture derived from the API
//! model: all fields set (by wire name) plus an unknown one. Decoding must
//! succeed and re-encoding must give back exactly the known fields, so wire
//! names, renames, enums, int64s and nesting are all checked.
//!
//! Fixtures come from `api/model.json`, not from Databricks' published
//! examples, which are not available offline.

#[path = "roundtrip/cases.rs"]
mod cases;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Nesting depth of fixtures (recursive types stop here).
const DEPTH: usize = 3;

pub struct Checker {
    model: Value,
    checked: usize,
    failures: Vec<String>,
}

impl Checker {
    fn sample(&self, ty: &Value, depth: usize) -> Option<Value> {
        let kind = ty["kind"].as_str().unwrap_or("any");
        Some(match kind {
            "string" | "timestamp" | "duration" | "field_mask" => json!("text"),
            "int64" => json!(7),
            "double" => json!(1.5),
            "boolean" => json!(true),
            "binary" => return None,
            "list" => {
                let item = self.sample(&ty["items"], depth)?;
                json!([item])
            }
            "map" => {
                let value = self.sample(&ty["values"], depth)?;
                json!({ "key": value })
            }
            "ref" => {
                let pkg = &self.model["packages"][ty["package"].as_str().unwrap_or_default()];
                let name = ty["name"].as_str().unwrap_or_default();
                if let Some(e) = pkg["enums"].as_array().and_then(|es| es.iter().find(|e| e["name"] == name)) {
                    return Some(e["values"][0]["wire"].clone()).filter(|v| !v.is_null()).or(Some(json!("SOME_VALUE")));
                }
                let t = pkg["types"].as_array().and_then(|ts| ts.iter().find(|t| t["name"] == name))?;
                if depth == 0 {
                    return None;
                }
                Value::Object(self.object(t["fields"].as_array()?, depth - 1))
            }
            _ => json!("anything"),
        })
    }

    /// A fixture object. A required nested object that came out empty is
    /// left out: an empty required value is not sent.
    fn object(&self, fields: &[Value], depth: usize) -> Map<String, Value> {
        fields
            .iter()
            .filter_map(|f| {
                Some((f["wire"].as_str()?.to_string(), self.sample(&f["type"], depth)?, f["required"] == true))
            })
            .filter(|(_, v, required)| !(*required && v.as_object().is_some_and(Map::is_empty)))
            .map(|(k, v, _)| (k, v))
            .collect()
    }

    /// Decode `fixture` plus an unknown field and encode it again: the
    /// unknown field is dropped, or kept by types that keep unknown fields.
    fn check<T: Serialize + DeserializeOwned>(&mut self, what: String, fixture: Map<String, Value>, keep: bool) {
        self.checked += 1;
        let mut with_unknown = fixture.clone();
        with_unknown.insert("zz_field_from_the_future".into(), json!({"x": [1, 2]}));
        let fixture = if keep { with_unknown.clone() } else { fixture };
        let decoded: T = match serde_json::from_value(Value::Object(with_unknown)) {
            Ok(v) => v,
            Err(e) => return self.failures.push(format!("{what}: decode failed: {e}")),
        };
        match serde_json::to_value(&decoded) {
            Ok(v) if v == Value::Object(fixture.clone()) => {}
            Ok(v) => self
                .failures
                .push(format!("{what}: round trip differs:\n  sent {}\n  got  {v}", Value::Object(fixture))),
            Err(e) => self.failures.push(format!("{what}: encode failed: {e}")),
        }
    }

    pub fn value<T: Serialize + DeserializeOwned>(&mut self, pkg: &str, name: &str) {
        self.type_value::<T>(pkg, name, false);
    }

    pub fn value_keeping_unknown<T: Serialize + DeserializeOwned>(&mut self, pkg: &str, name: &str) {
        self.type_value::<T>(pkg, name, true);
    }

    fn type_value<T: Serialize + DeserializeOwned>(&mut self, pkg: &str, name: &str, keep: bool) {
        let t = self.model["packages"][pkg]["types"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["name"] == name))
            .cloned();
        let fields = t.and_then(|t| t["fields"].as_array().cloned()).unwrap_or_default();
        let fixture = self.object(&fields, DEPTH);
        self.check::<T>(format!("{pkg}.{name}"), fixture, keep);
    }

    pub fn request<T: Serialize + DeserializeOwned>(&mut self, pkg: &str, service: &str, op: &str) {
        let services = self.model["packages"][pkg]["services"].as_array().cloned().unwrap_or_default();
        let params = services
            .iter()
            .find(|s| s["name"] == service)
            .and_then(|s| s["operations"].as_array()?.iter().find(|o| o["name"] == op).cloned())
            .and_then(|o| o["params"].as_array().cloned())
            .unwrap_or_default();
        let fields: Vec<Value> =
            params.iter().map(|p| json!({"wire": p["wire"], "type": p["type"], "required": p["required"]})).collect();
        let fixture = self.object(&fields, DEPTH);
        self.check::<T>(format!("{pkg}.{service}.{op} request"), fixture, false);
    }
}

#[test]
fn every_generated_type_round_trips_its_wire_form() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../api/model.json");
    let text = std::fs::read_to_string(path).expect("api/model.json");
    let model: Value = serde_json::from_str(&text).expect("model");
    let mut checker = Checker { model, checked: 0, failures: Vec::new() };
    cases::run(&mut checker);
    assert!(checker.checked > 500, "only {} types checked", checker.checked);
    let shown: Vec<&String> = checker.failures.iter().take(20).collect();
    assert!(checker.failures.is_empty(), "{} of {} failed:\n{shown:#?}", checker.failures.len(), checker.checked);
    println!("round-tripped {} generated types and requests", checker.checked);
}

//! Request objects pruned to the fields the API has, at every depth: a
//! misspelt field (`notebook_task.notebok_path`) is dropped as the service
//! drops it, not stored and echoed back. The shapes are generated from the
//! same model as the SDK (`cargo xtask codegen`).

mod generated;

use serde_json::{Map, Value};

use generated::SHAPES;
pub(crate) use generated::{CLUSTER_SPEC, JOB_SETTINGS, SUBMIT_TASK};

/// What a field holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A scalar, an enum or free-form JSON: kept as sent.
    Value,
    /// An object of the shape at this index of `SHAPES`.
    Object(usize),
    List(&'static Kind),
    /// String keys of the caller's choosing (tags, parameters), values of a kind.
    Map(&'static Kind),
}

/// An object's fields, sorted by name.
#[derive(Debug)]
pub(crate) struct Shape {
    pub fields: &'static [(&'static str, Kind)],
}

impl Shape {
    fn field(&self, name: &str) -> Option<Kind> {
        self.fields.binary_search_by(|(field, _)| (*field).cmp(name)).ok().map(|i| self.fields[i].1)
    }
}

fn shape(index: usize) -> Option<&'static Shape> {
    SHAPES.get(index)
}

/// Whether the object of shape `root` has a field `name`.
pub(crate) fn has_field(root: usize, name: &str) -> bool {
    shape(root).is_some_and(|s| s.field(name).is_some())
}

/// Keep only the fields of shape `root`, at every depth; a `null` field is
/// dropped too (the API treats it as absent).
pub(crate) fn prune(object: &mut Map<String, Value>, root: usize) {
    let Some(shape) = shape(root) else { return };
    object.retain(|name, value| match shape.field(name) {
        Some(kind) if !value.is_null() => {
            prune_value(value, kind);
            true
        }
        _ => false,
    });
}

/// The value of field `name` of shape `root`, pruned to its kind.
pub(crate) fn prune_field(root: usize, name: &str, value: &mut Value) {
    if let Some(kind) = shape(root).and_then(|s| s.field(name)) {
        prune_value(value, kind);
    }
}

fn prune_value(value: &mut Value, kind: Kind) {
    match (kind, value) {
        (Kind::Object(index), Value::Object(object)) => prune(object, index),
        (Kind::List(items), Value::Array(list)) => list.iter_mut().for_each(|item| prune_value(item, *items)),
        (Kind::Map(values), Value::Object(map)) => map.values_mut().for_each(|item| prune_value(item, *values)),
        // Scalars, and a value of the wrong type: validation answers for those.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_go_at_every_depth_and_free_form_maps_stay() {
        let mut settings = json!({
            "name": "etl", "nmae": "typo", "description": null,
            "tags": {"any-key": "kept"},
            "tasks": [{
                "task_key": "a", "tsk_key": "typo",
                "notebook_task": {"notebook_path": "/n", "notebok_path": "typo", "base_parameters": {"k": "v"}},
                "new_cluster": {"spark_version": "15.4.x-scala2.12", "spark_conf": {"spark.x": "1"}, "sprk_version": "typo"},
                "for_each_task": {"inputs": "[1]", "task": {"task_key": "inner", "bogus": 1}},
            }],
        });
        let Value::Object(object) = &mut settings else { unreachable!() };
        prune(object, JOB_SETTINGS);
        assert_eq!(
            settings,
            json!({
                "name": "etl",
                "tags": {"any-key": "kept"},
                "tasks": [{
                    "task_key": "a",
                    "notebook_task": {"notebook_path": "/n", "base_parameters": {"k": "v"}},
                    "new_cluster": {"spark_version": "15.4.x-scala2.12", "spark_conf": {"spark.x": "1"}},
                    "for_each_task": {"inputs": "[1]", "task": {"task_key": "inner"}},
                }],
            })
        );
    }

    #[test]
    fn every_shape_lists_its_fields_sorted_and_once() {
        for (index, shape) in SHAPES.iter().enumerate() {
            assert!(shape.fields.windows(2).all(|w| w[0].0 < w[1].0), "shape {index}");
        }
        assert!(has_field(CLUSTER_SPEC, "spark_version") && !has_field(CLUSTER_SPEC, "sprk_version"));
        assert!(has_field(SUBMIT_TASK, "notebook_task") && !has_field(SUBMIT_TASK, "job_cluster_key"));
    }
}

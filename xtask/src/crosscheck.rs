//! Cross-check the model against `../shared/reference/endpoints.tsv` (a table
//! of endpoints captured independently), when that file is present.

use std::collections::HashMap;
use std::path::Path;

use crate::model::Model;

/// Differences between the reference table and the model, one line each.
pub fn endpoints(model: &Model, tsv: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(tsv).map_err(|e| format!("{}: {e}", tsv.display()))?;
    let mut ours = HashMap::new();
    for p in model.packages.values() {
        for s in &p.services {
            for op in &s.operations {
                let accessors = if s.accessors.is_empty() { vec![s.name.clone()] } else { s.accessors.clone() };
                for a in accessors {
                    let key = if s.level == "account" { format!("account.{a}") } else { a };
                    ours.insert((key, op.name.clone()), (op.method.clone(), op.path.clone()));
                }
            }
        }
    }
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).ok_or(format!("{}: no column {name}", tsv.display()));
    let (service, operation, method, path) = (col("service")?, col("operation")?, col("http_method")?, col("path")?);
    let mut problems = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| cells.get(i).copied().unwrap_or_default();
        let key = (get(service).to_string(), get(operation).to_string());
        let expected_path = get(path).replace("...}", "}");
        match ours.get(&key) {
            None => problems.push(format!("{}.{}: in the reference, not in the model", key.0, key.1)),
            Some((m, p)) if m != get(method) || *p != expected_path => {
                problems.push(format!("{}.{}: reference {} {expected_path}, model {m} {p}", key.0, key.1, get(method)))
            }
            Some(_) => {}
        }
    }
    Ok(problems)
}

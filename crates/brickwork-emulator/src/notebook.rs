//! "Running" a notebook or Python file: the emulator reads the source for
//! the statements that decide a task's outcome, without executing Python.
//!
//! - `dbutils.notebook.exit(<value>)` ends the task successfully with that
//!   value as the notebook output (a string literal, a number, or
//!   `dbutils.widgets.get("name")` / `getArgument("name")` of a parameter);
//! - `raise SomeError("message")` fails the task with `SomeError: message`;
//! - `assert False, "message"` fails it with `AssertionError: message`;
//! - otherwise the task succeeds with no output.
//!
//! The first such statement at the top level of the source wins.

use std::collections::BTreeMap;

/// How a notebook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Success, with the `dbutils.notebook.exit` value if any.
    Exit(Option<String>),
    /// Failure with an error message such as `ValueError: bad input`.
    Raise(String),
}

/// Interpret `source` with widget `parameters`.
pub fn run(source: &str, parameters: &BTreeMap<String, String>) -> Outcome {
    for line in source.lines() {
        let stmt = line.trim();
        // Indented code is inside a block we do not evaluate.
        if stmt.is_empty() || stmt.starts_with('#') || line.starts_with(char::is_whitespace) {
            continue;
        }
        if let Some(args) = call_args(stmt, "dbutils.notebook.exit") {
            return Outcome::Exit(Some(value_of(args, parameters)));
        }
        if let Some(rest) = stmt.strip_prefix("raise ") {
            return Outcome::Raise(raised(rest.trim(), parameters));
        }
        if let Some(rest) = stmt.strip_prefix("assert ") {
            let (condition, message) = match rest.split_once(',') {
                Some((c, m)) => (c.trim(), Some(value_of(m.trim(), parameters))),
                None => (rest.trim(), None),
            };
            if matches!(condition, "False" | "0" | "None") {
                return Outcome::Raise(match message {
                    Some(m) => format!("AssertionError: {m}"),
                    None => "AssertionError".to_string(),
                });
            }
        }
    }
    Outcome::Exit(None)
}

/// Run a command (API 1.2): the text of its top-level `print(...)` calls, or
/// the error of its first `raise`.
pub fn command(source: &str) -> Result<String, String> {
    let mut printed = Vec::new();
    for line in source.lines() {
        let stmt = line.trim();
        if stmt.is_empty() || stmt.starts_with('#') || line.starts_with(char::is_whitespace) {
            continue;
        }
        if let Some(args) = call_args(stmt, "print") {
            printed.push(value_of(args, &BTreeMap::new()));
        } else if let Some(rest) = stmt.strip_prefix("raise ") {
            return Err(raised(rest.trim(), &BTreeMap::new()));
        }
    }
    Ok(printed.join("\n"))
}

/// The argument text of `name(...)` when `stmt` is such a call.
fn call_args<'a>(stmt: &'a str, name: &str) -> Option<&'a str> {
    let rest = stmt.strip_prefix(name)?.trim_start().strip_prefix('(')?;
    let end = rest.rfind(')')?;
    Some(rest[..end].trim())
}

/// `ValueError("msg")` -> `ValueError: msg`; a bare name stays as is.
fn raised(expr: &str, parameters: &BTreeMap<String, String>) -> String {
    match expr.find('(') {
        Some(open) => {
            let name = expr[..open].trim();
            let args = expr[open + 1..].rsplit_once(')').map(|(a, _)| a).unwrap_or(&expr[open + 1..]);
            let message = value_of(args.trim(), parameters);
            if message.is_empty() {
                name.to_string()
            } else {
                format!("{name}: {message}")
            }
        }
        None => expr.to_string(),
    }
}

/// The value of a simple expression: quoted strings, widget lookups and
/// numbers, joined by `+`; anything else is taken as text.
fn value_of(expr: &str, parameters: &BTreeMap<String, String>) -> String {
    let parts = split_plus(expr.trim());
    if parts.len() > 1 {
        return parts.iter().map(|p| value_of(p, parameters)).collect();
    }
    let expr = expr.trim();
    for getter in ["dbutils.widgets.get", "getArgument"] {
        if let Some(args) = call_args(expr, getter) {
            let name = unquote(args.split(',').next().unwrap_or_default().trim());
            return parameters.get(&name).cloned().unwrap_or_default();
        }
    }
    unquote(expr)
}

/// Split on `+` outside quotes and parentheses.
fn split_plus(expr: &str) -> Vec<&str> {
    let (mut parts, mut start, mut depth, mut quote) = (Vec::new(), 0, 0i32, None::<char>);
    for (i, c) in expr.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('(', None) => depth += 1,
            (')', None) => depth -= 1,
            ('+', None) if depth == 0 => {
                parts.push(&expr[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&expr[start..]);
    parts
}

fn unquote(expr: &str) -> String {
    let expr = expr.strip_prefix('f').filter(|e| e.starts_with(['"', '\''])).unwrap_or(expr);
    for quote in ["\"\"\"", "'''", "\"", "'"] {
        if let Some(inner) = expr.strip_prefix(quote).and_then(|e| e.strip_suffix(quote)) {
            return inner.replace("\\n", "\n").replace("\\\"", "\"").replace("\\'", "'");
        }
    }
    expr.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn exit_values() {
        let src = "# Databricks notebook source\nx = 1\n# COMMAND ----------\ndbutils.notebook.exit(\"rows=42\")\n";
        assert_eq!(run(src, &params(&[])), Outcome::Exit(Some("rows=42".into())));
        let src = "dbutils.notebook.exit(dbutils.widgets.get('table'))";
        assert_eq!(run(src, &params(&[("table", "silver")])), Outcome::Exit(Some("silver".into())));
        assert_eq!(run("print('hi')\n", &params(&[])), Outcome::Exit(None));
        assert_eq!(run("dbutils.notebook.exit(7)", &params(&[])), Outcome::Exit(Some("7".into())));
        let src = "dbutils.notebook.exit('rows=' + \"4\" + dbutils.widgets.get('n'))";
        assert_eq!(run(src, &params(&[("n", "2")])), Outcome::Exit(Some("rows=42".into())));
    }

    #[test]
    fn commands() {
        assert_eq!(command("print('a')\nx = 1\nprint(\"b\" + 'c')"), Ok("a\nbc".to_string()));
        assert_eq!(command("print(1)\nraise ValueError('no')"), Err("ValueError: no".to_string()));
    }

    #[test]
    fn failures() {
        assert_eq!(
            run("raise ValueError(\"bad input\")", &params(&[])),
            Outcome::Raise("ValueError: bad input".into())
        );
        assert_eq!(run("raise RuntimeError", &params(&[])), Outcome::Raise("RuntimeError".into()));
        assert_eq!(run("assert False, 'no rows'", &params(&[])), Outcome::Raise("AssertionError: no rows".into()));
        // Inside a block: not evaluated.
        assert_eq!(run("if x:\n    raise ValueError('x')\n", &params(&[])), Outcome::Exit(None));
    }
}

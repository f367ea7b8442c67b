//! Printing answers: indented JSON for objects, aligned tables (text) or a
//! streamed JSON array (`--output json`) for listings, and errors on stderr.

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::{json, Value};

use crate::{CliError, Output};

/// A failed write to standard output.
pub fn broken_pipe(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::reader_gone()
    } else {
        CliError::other(format!("cannot write the answer: {e}"))
    }
}

fn write_line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(broken_pipe)
}

/// Bytes as they are, on standard output.
pub fn raw(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(broken_pipe)
}

/// Lines of text on standard output.
pub fn lines(lines: &[String]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    lines.iter().try_for_each(|line| writeln!(out, "{line}")).map_err(broken_pipe)
}

/// Rows held before a table's widths are fixed: later rows are cut to them.
const ROWS_TO_MEASURE: usize = 100;

/// Prints answers in one format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    output: Output,
}

impl Printer {
    /// A printer for `output`.
    pub fn new(output: Output) -> Self {
        Printer { output }
    }

    /// An answer: indented JSON in both formats; nothing for an empty one.
    pub fn value<T: Serialize>(&self, value: &T) -> Result<(), CliError> {
        let value =
            serde_json::to_value(value).map_err(|e| CliError::other(format!("cannot print the answer: {e}")))?;
        self.json(&value)
    }

    /// A JSON answer, indented; nothing for `null`.
    pub fn json(&self, value: &Value) -> Result<(), CliError> {
        if value.is_null() {
            return Ok(());
        }
        write_line(&serde_json::to_string_pretty(value).unwrap_or_default())
    }

    /// A listing printed as its items arrive, with these table columns
    /// (dotted paths) in text mode.
    pub fn listing(&self, columns: &'static [&'static str]) -> Listing {
        let width = std::io::stdout().is_terminal().then(terminal_width).flatten();
        Listing { output: self.output, columns, rows: Vec::new(), widths: None, width, items: 0 }
    }
}

fn terminal_width() -> Option<usize> {
    console::Term::stdout().size_checked().map(|(_, columns)| usize::from(columns)).filter(|w| *w > 20)
}

/// A listing being printed.
pub struct Listing {
    output: Output,
    columns: &'static [&'static str],
    rows: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
    width: Option<usize>,
    items: usize,
}

impl Listing {
    /// One more item.
    pub fn push(&mut self, item: Value) -> Result<(), CliError> {
        self.items += 1;
        match self.output {
            Output::Json => {
                let text = serde_json::to_string_pretty(&item).unwrap_or_default().replace('\n', "\n  ");
                let lead = if self.items == 1 { "[\n  " } else { ",\n  " };
                let mut out = std::io::stdout().lock();
                write!(out, "{lead}{text}").map_err(broken_pipe)
            }
            Output::Text if self.columns.is_empty() => write_line(&item.to_string()),
            Output::Text => {
                let row: Vec<String> = self.columns.iter().map(|c| cell(&item, c)).collect();
                match &self.widths {
                    Some(widths) => write_line(&line(&row, widths)),
                    None => {
                        self.rows.push(row);
                        if self.rows.len() >= ROWS_TO_MEASURE {
                            self.flush()?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// The header and the rows held so far, with the widths they need
    /// (within the terminal's).
    fn flush(&mut self) -> Result<(), CliError> {
        let header: Vec<String> = self.columns.iter().map(|c| heading(c)).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        if let Some(total) = self.width {
            fit(&mut widths, total);
        }
        write_line(&line(&header, &widths))?;
        for row in std::mem::take(&mut self.rows) {
            write_line(&line(&row, &widths))?;
        }
        self.widths = Some(widths);
        Ok(())
    }

    /// The end of the listing.
    pub fn finish(mut self) -> Result<(), CliError> {
        match self.output {
            Output::Json if self.items == 0 => write_line("[]"),
            Output::Json => write_line("\n]"),
            // An empty table still shows its header.
            Output::Text if self.widths.is_none() && !self.columns.is_empty() => self.flush(),
            Output::Text => Ok(()),
        }
    }
}

/// `cluster_name` -> `Cluster Name`; `settings.name` -> `Name`.
fn heading(column: &str) -> String {
    let last = column.rsplit('.').next().unwrap_or(column);
    last.split('_')
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of a dotted path in an item; empty when absent.
fn cell(item: &Value, path: &str) -> String {
    let mut current = item;
    for key in path.split('.') {
        match current.get(key) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::String(s) => s.replace(['\n', '\t'], " "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Shrink the widest columns until the row fits `total` characters.
fn fit(widths: &mut [usize], total: usize) {
    let gaps = 2 * widths.len().saturating_sub(1);
    while widths.iter().sum::<usize>() + gaps > total {
        let Some(widest) = widths.iter_mut().max() else { return };
        if *widest <= 8 {
            return;
        }
        *widest -= 1;
    }
}

/// A row padded to `widths`, cells longer than their column cut with `…`.
fn line(cells: &[String], widths: &[usize]) -> String {
    let mut out = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        let count = cell.chars().count();
        let text = if count > *width {
            cell.chars().take(width.saturating_sub(1)).chain(['…']).collect::<String>()
        } else {
            cell.clone()
        };
        if i + 1 == cells.len() {
            out.push_str(&text);
        } else {
            out.push_str(&format!("{text:<width$}  ", width = *width));
        }
    }
    out.trim_end().to_string()
}

/// An error on stderr: a line of text, or an object in JSON mode.
pub fn report(output: Output, err: &CliError) {
    match output {
        Output::Text => stderr_line(&format!("Error: {}", err.message)),
        Output::Json => {
            let e = err.error.as_ref();
            let object = json!({
                "kind": e.map(|e| format!("{:?}", e.kind())).unwrap_or_else(|| format!("{:?}", err.exit)),
                "error_code": e.and_then(|e| e.error_code()),
                "status": e.and_then(|e| e.status()),
                "message": err.message,
                "request_id": e.and_then(|e| e.request_id()),
                "exit_code": err.exit as u8,
            });
            stderr_line(&object.to_string());
        }
    }
}

/// A warning on stderr, the command going on.
pub fn warn(message: &str) {
    stderr_line(&format!("Warning: {message}"));
}

/// One line on stderr. A closed or full stderr loses the line rather than
/// panicking as `eprintln!` would: the exit code still tells the outcome.
pub fn stderr_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_fit_the_terminal_and_cut_long_cells() {
        let mut widths = vec![30, 40, 10];
        fit(&mut widths, 50);
        assert!(widths.iter().sum::<usize>() + 4 <= 50, "{widths:?}");
        let row = line(&["a".repeat(40), "b".into(), "c".into()], &[10, 3, 3]);
        assert_eq!(row, format!("{}…  b    c", "a".repeat(9)));
        assert_eq!(heading("settings.job_name"), "Job Name");
        let item = json!({"settings": {"name": "etl"}, "n": 3, "none": null});
        assert_eq!(cell(&item, "settings.name"), "etl");
        assert_eq!(cell(&item, "n"), "3");
        assert_eq!(cell(&item, "none"), "");
        assert_eq!(cell(&item, "missing.deep"), "");
    }
}

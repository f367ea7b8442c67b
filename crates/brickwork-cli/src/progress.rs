//! The progress line of a wait, on stderr when a person watches: a spinner,
//! the state and its message, the states of a job run's tasks, and the time
//! spent.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// A progress display, or nothing when stderr is not a terminal.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Start showing progress on `what` when `enabled`.
    pub fn start(enabled: bool, what: &str) -> Progress {
        if !enabled {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]") {
            bar.set_style(style);
        }
        bar.set_prefix(what.to_string());
        bar.set_message("waiting");
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }

    /// The latest poll: its state, message, and tasks (a job run's).
    pub fn update(&self, state: Option<&str>, message: Option<&str>, polled: &Value) {
        let Some(bar) = &self.bar else { return };
        bar.set_message(describe(state, message, polled));
    }

    /// Clear the line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A copy's bar: the file being copied, bytes done of its size, the rate
/// and the time left; nothing when stderr is not a terminal.
pub struct TransferBar {
    bar: Option<ProgressBar>,
}

impl TransferBar {
    /// Start showing a copy when `enabled`.
    pub fn start(enabled: bool) -> TransferBar {
        if !enabled {
            return TransferBar { bar: None };
        }
        let bar = ProgressBar::new(0);
        let template = "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}";
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        TransferBar { bar: Some(bar) }
    }

    /// The callback the library's copy reports to: a new file restarts the bar.
    pub fn callback(
        &self,
    ) -> impl Fn(&brickwork::service::helpers::Location, brickwork::service::helpers::Progress) + Send + Sync + 'static
    {
        let bar = self.bar.clone();
        let current = std::sync::Mutex::new(String::new());
        move |file, progress| {
            let Some(bar) = &bar else { return };
            let name = file.to_string();
            if let Ok(mut current) = current.lock() {
                if *current != name {
                    bar.reset();
                    bar.set_prefix(name.clone());
                    *current = name;
                }
            }
            bar.set_length(progress.total.unwrap_or(progress.done));
            bar.set_position(progress.done);
        }
    }

    /// Clear the line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `RUNNING: Starting Spark (bronze TERMINATED/SUCCESS, silver RUNNING)`.
fn describe(state: Option<&str>, message: Option<&str>, polled: &Value) -> String {
    let mut text = state.unwrap_or("waiting").to_string();
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        text.push_str(": ");
        text.push_str(message);
    }
    let tasks: Vec<String> = polled
        .get("tasks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|task| {
            let key = task.get("task_key")?.as_str()?;
            let state = task.get("state")?;
            let life = state.get("life_cycle_state").and_then(Value::as_str).unwrap_or("PENDING");
            Some(match state.get("result_state").and_then(Value::as_str) {
                Some(result) => format!("{key} {life}/{result}"),
                None => format!("{key} {life}"),
            })
        })
        .collect();
    if !tasks.is_empty() {
        text.push_str(&format!(" ({})", tasks.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_tasks_are_shown_with_their_states() {
        let run = serde_json::json!({"tasks": [
            {"task_key": "bronze", "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}},
            {"task_key": "silver", "state": {"life_cycle_state": "RUNNING"}},
        ]});
        assert_eq!(
            describe(Some("RUNNING"), Some("In run"), &run),
            "RUNNING: In run (bronze TERMINATED/SUCCESS, silver RUNNING)"
        );
        assert_eq!(describe(None, None, &Value::Null), "waiting");
    }
}

//! Trace-level logs to a file, and a scan for secrets in any text.
//!
//! A secret is either a value the run knows (a client secret, a secret's
//! payload) or anything shaped like a credential the emulator issues:
//! `dapi` + 32 hex characters (a personal access token) or `eyJemu.` + 40
//! characters (an OAuth access token). Shapes catch tokens the run never saw.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Install a global subscriber writing every event of brickwork, the
/// emulator and reqwest at TRACE (the rest at DEBUG) to `path`.
pub fn install(path: &Path) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::new("debug,brickwork=trace,brickwork_emulator=trace,reqwest=trace");
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Arc::new(file))
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))
}

/// Where secrets were found in `text` (one entry per finding, value hidden).
pub fn findings(text: &str, secrets: &[String]) -> Vec<&'static str> {
    let mut found = Vec::new();
    if secrets.iter().any(|s| s.len() >= 8 && text.contains(s.as_str())) {
        found.push("a known secret value");
    }
    if shaped(text, "dapi", 32, |c| c.is_ascii_hexdigit()) {
        found.push("a personal access token (dapi...)");
    }
    if shaped(text, "eyJemu.", 40, |c| c.is_ascii_alphanumeric()) {
        found.push("an OAuth access token (eyJemu....)");
    }
    found
}

/// `prefix` followed by at least `len` characters matching `class`.
fn shaped(text: &str, prefix: &str, len: usize, class: impl Fn(char) -> bool) -> bool {
    text.match_indices(prefix)
        .any(|(at, _)| text[at + prefix.len()..].chars().take(len).filter(|c| class(*c)).count() == len)
}

/// Scan files line by line; prints a totals line, returns violations.
pub fn scan_files(files: &[PathBuf], secrets: &[String]) -> Vec<String> {
    let mut violations = Vec::new();
    let mut lines = 0usize;
    let mut requests = 0usize;
    for path in files {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) => {
                violations.push(format!("cannot read {}: {e}", path.display()));
                continue;
            }
        };
        for (number, line) in BufReader::new(file).split(b'\n').enumerate() {
            let Ok(line) = line else { break };
            lines += 1;
            let line = String::from_utf8_lossy(&line);
            requests += usize::from(line.contains("databricks.request"));
            for finding in findings(&line, secrets) {
                violations.push(format!("{}:{}: {finding}", path.display(), number + 1));
            }
        }
    }
    if requests == 0 {
        violations.push("no request was logged: nothing to scan (is the log at debug level or finer?)".to_string());
    }
    println!(
        "scan-secrets: {lines} lines ({requests} about requests) in {} files, {} known secrets and 2 token shapes looked for, {} findings",
        files.len(),
        secrets.len(),
        violations.len()
    );
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_known_values_and_token_shapes_only() {
        let pat = format!("dapi{}", "0123456789abcdef".repeat(2));
        let oauth = format!("eyJemu.{}", "Ab1".repeat(14));
        assert_eq!(findings(&format!("Authorization: Bearer {pat}"), &[]).len(), 1);
        assert_eq!(findings(&format!("token={oauth} "), &[]).len(), 1);
        assert_eq!(findings("value=s3cr3t-payload", &["s3cr3t-payload".to_string()]).len(), 1);
        assert!(findings("Authorization: Bearer ***, dapi-like words: dapi_client", &["short".into()]).is_empty());
    }
}

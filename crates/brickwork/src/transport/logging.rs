//! What request and response bodies look like in debug logs: secrets
//! replaced, long values cut.

use serde_json::Value;

const REDACTED: &str = "**REDACTED**";

/// Keys whose values are never logged, matched case-insensitively as substrings.
const SECRET_KEY_PARTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "credential",
    "string_value",
    "bytes_value",
    "private_key",
    "authorization",
    "api_key",
    "plaintext",
];

/// Keys that carry payloads (secret values, file and notebook contents) or
/// capabilities (a presigned storage URL: its signature is its credential),
/// matched case-insensitively as whole keys.
const SECRET_KEYS: &[&str] = &["value", "content", "contents", "url"];

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    // Pagination tokens are not credentials and are useful when debugging.
    if key.ends_with("page_token") {
        return false;
    }
    SECRET_KEYS.contains(&key.as_str()) || SECRET_KEY_PARTS.iter().any(|part| key.contains(part))
}

/// A log-safe rendering of a body: JSON with secret fields redacted and
/// strings cut to `max_bytes`, or a note for non-JSON bodies.
pub(crate) fn redacted_body(body: &[u8], max_bytes: usize) -> String {
    if body.is_empty() {
        return String::new();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            redact(&mut value, max_bytes);
            value.to_string()
        }
        Err(_) => format!("<{} bytes of non-JSON body>", body.len()),
    }
}

fn redact(value: &mut Value, max_bytes: usize) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) && !v.is_null() {
                    *v = Value::String(REDACTED.to_string());
                } else {
                    redact(v, max_bytes);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, max_bytes)),
        Value::String(s) if s.len() > max_bytes => {
            let cut = (0..=max_bytes).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
            let dropped = s.len() - cut;
            *s = format!("{}... ({dropped} more bytes)", &s[..cut]);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_and_plaintext_keys_are_redacted() {
        let body = br#"{"scope":"s","key":"k","value":"v4lue","content":"Y29udGVudA==","contents":"c0ntents",
            "openai_config":{"openai_api_key_plaintext":"sk-live"},"page_token":"p2",
            "upload_part_urls":[{"url":"https://s3/b/k?X-Amz-Signature=s1gned","part_number":1}]}"#;
        let shown = redacted_body(body, 1000);
        for secret in ["v4lue", "Y29udGVudA==", "c0ntents", "sk-live", "s1gned"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("p2") && shown.contains(r#""scope":"s""#), "{shown}");
    }

    #[test]
    fn secrets_are_redacted_and_long_strings_cut() {
        let body = br#"{"access_token":"abc","nested":{"client_secret":"s","Password":"p"},"string_value":"v",
            "next_page_token":"tok","items":[{"token_value":"x"}],"comment":"aaaaaaaaaaaaaaaaaaaa","n":1}"#;
        let out = redacted_body(body, 8);
        for secret in ["\"abc\"", "\"s\"", "\"p\"", "\"v\"", "\"x\""] {
            assert!(!out.contains(secret), "{secret} leaked in {out}");
        }
        assert!(out.contains("\"next_page_token\":\"tok\""));
        assert!(out.contains("aaaaaaaa... (12 more bytes)"));
        assert_eq!(redacted_body(b"\x00\x01", 8), "<2 bytes of non-JSON body>");
    }
}

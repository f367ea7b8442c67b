//! Turning a non-2xx response into an [`Error`].
//!
//! Bodies are tried in the official order: empty, JSON (standard envelope,
//! API 1.2 `{"error"}`, SCIM), `CODE: message` text, HTML, then anything else.

use std::time::Duration;

use serde_json::Value;

use super::{Error, ErrorDetail, ErrorInfo, ErrorKind, Inner, RequestInfo};

/// How much of an unparseable body is quoted in the message.
const RAW_BODY_QUOTE: usize = 512;

/// What the body said, before classification.
#[derive(Default)]
struct Raw {
    message: String,
    error_code: Option<String>,
    details: Vec<ErrorDetail>,
}

/// Build the error for a failed response.
///
/// `retry_after_header` is the raw `Retry-After` value; `path` is the request
/// path without the query string (used by the official overrides).
pub fn from_response(method: &str, path: &str, status: u16, retry_after_header: Option<&str>, body: &[u8]) -> Error {
    let reason = reason_phrase(status);
    let raw = parse_empty(body, reason)
        .or_else(|| parse_json(body))
        .or_else(|| parse_code_colon_message(body))
        .or_else(|| parse_storage_xml(body))
        .or_else(|| parse_html(body, reason))
        .unwrap_or_else(|| unparseable(body));

    let kind = classify(method, path, status, &raw);
    let retry_after = retry_after_for(status, retry_after_header, &raw.details);
    Error {
        inner: Box::new(Inner {
            kind,
            message: raw.message,
            status: Some(status),
            error_code: raw.error_code,
            details: raw.details,
            retry_after,
            request: Some(format!("{method} {path}")),
            connect_failure: false,
            operation_state: None,
            source: None,
        }),
    }
}

/// Official overrides first, then `error_code`, then status.
fn classify(method: &str, path: &str, status: u16, raw: &Raw) -> ErrorKind {
    if is_does_not_exist_override(method, path, status, raw) {
        return ErrorKind::ResourceDoesNotExist;
    }
    raw.error_code
        .as_deref()
        .and_then(ErrorKind::from_error_code)
        .or_else(|| ErrorKind::from_status(status))
        .unwrap_or(ErrorKind::Api)
}

/// Clusters, jobs and runs `get` answer 400 INVALID_PARAMETER_VALUE for a
/// missing object; the official SDKs reclassify those as ResourceDoesNotExist.
fn is_does_not_exist_override(method: &str, path: &str, status: u16, raw: &Raw) -> bool {
    if method != "GET" || status != 400 || raw.error_code.as_deref() != Some("INVALID_PARAMETER_VALUE") {
        return false;
    }
    let Some(rest) = api_2x_suffix(path) else {
        return false;
    };
    let msg = raw.message.as_str();
    let starts_then_contains =
        |prefix: &str, tail: &str| msg.strip_prefix(prefix).is_some_and(|after| after.contains(tail));
    if rest.starts_with("clusters/get") {
        starts_then_contains("Cluster ", " does not exist")
    } else if rest.starts_with("jobs/runs/get") {
        starts_then_contains("Run ", " does not exist")
            || msg
                .strip_prefix("Run: ")
                .and_then(|after| after.split_once(" in job: "))
                .is_some_and(|(_, tail)| tail.contains(" doesn't exist"))
    } else if rest.starts_with("jobs/get") {
        starts_then_contains("Job ", " does not exist")
    } else {
        false
    }
}

/// `/api/2.<digit>/<rest>` -> `<rest>`.
fn api_2x_suffix(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/2.")?;
    let mut chars = rest.chars();
    let digit = chars.next()?;
    if !digit.is_ascii_digit() {
        return None;
    }
    chars.as_str().strip_prefix('/')
}

fn parse_empty(body: &[u8], reason: &str) -> Option<Raw> {
    body.is_empty().then(|| Raw { message: reason.to_string(), ..Raw::default() })
}

fn parse_json(body: &[u8]) -> Option<Raw> {
    let Value::Object(map) = serde_json::from_slice::<Value>(body).ok()? else {
        return None;
    };
    let text = |key: &str| map.get(key).and_then(value_as_text);
    let mut raw = Raw {
        message: text("message").unwrap_or_else(|| "request failed".to_string()),
        error_code: text("error_code"),
        details: map.get("details").map(parse_details).unwrap_or_default(),
    };
    // API 1.2 style.
    if let Some(legacy) = text("error") {
        raw.message = legacy;
    }
    // SCIM style: {"detail", "status", "scimType"}.
    if let Some(detail) = text("detail").filter(|d| !d.is_empty()) {
        let detail = if detail == "null" { "SCIM API Internal Error".to_string() } else { detail };
        let scim_type = text("scimType").unwrap_or_default();
        raw.message = format!("{scim_type} {detail}").trim().to_string();
        raw.error_code = Some(format!("SCIM_{}", text("status").unwrap_or_default()));
    }
    Some(raw)
}

/// Strings as-is; numbers (e.g. `"error_code": 403`) as their decimal text.
fn value_as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_details(v: &Value) -> Vec<ErrorDetail> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items.iter().map(parse_detail).collect()
}

fn parse_detail(item: &Value) -> ErrorDetail {
    let field = |k: &str| item.get(k).and_then(value_as_text).unwrap_or_default();
    match item.get("@type").and_then(Value::as_str) {
        Some("type.googleapis.com/google.rpc.ErrorInfo") => ErrorDetail::ErrorInfo(ErrorInfo {
            reason: field("reason"),
            domain: field("domain"),
            metadata: item
                .get("metadata")
                .and_then(Value::as_object)
                .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), value_as_text(v)?))).collect())
                .unwrap_or_default(),
        }),
        Some("type.googleapis.com/google.rpc.RequestInfo") => ErrorDetail::RequestInfo(RequestInfo {
            request_id: field("request_id"),
            serving_data: field("serving_data"),
        }),
        Some("type.googleapis.com/google.rpc.RetryInfo") => {
            match item.get("retry_delay").and_then(parse_proto_duration) {
                Some(d) => ErrorDetail::RetryInfo(d),
                None => ErrorDetail::Other(item.clone()),
            }
        }
        _ => ErrorDetail::Other(item.clone()),
    }
}

/// Protobuf JSON durations are strings like `"3.5s"`; accept a bare number too.
/// The longest delay a server may ask for; more is clamped (the retry
/// budget ends long before), so hostile numbers cannot overflow a clock.
pub(crate) const MAX_SERVER_DELAY: Duration = Duration::from_secs(3600);

fn parse_proto_duration(v: &Value) -> Option<Duration> {
    let secs = match v {
        Value::String(s) => s.strip_suffix('s').unwrap_or(s).trim().parse::<f64>().ok()?,
        Value::Number(n) => n.as_f64()?,
        Value::Object(o) => {
            o.get("seconds").and_then(value_as_text)?.parse::<f64>().ok()?
                + o.get("nanos").and_then(Value::as_f64).unwrap_or(0.0) / 1e9
        }
        _ => return None,
    };
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(MAX_SERVER_DELAY).min(MAX_SERVER_DELAY))
}

/// `ERROR_CODE: message`, as some account APIs answer.
fn parse_code_colon_message(body: &[u8]) -> Option<Raw> {
    let text = std::str::from_utf8(body).ok()?;
    let (code, rest) = text.split_once(": ")?;
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return None;
    }
    Some(Raw {
        message: rest.lines().next().unwrap_or_default().to_string(),
        error_code: Some(code.to_string()),
        details: Vec::new(),
    })
}

/// Cloud storage (a presigned URL's S3 or Azure Blob) answers with XML:
/// `<Error><Code>AccessDenied</Code><Message>Request has expired</Message>`.
/// Its code is kept as the error code; the kind then follows the status.
fn parse_storage_xml(body: &[u8]) -> Option<Raw> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("<Error>") {
        return None;
    }
    let code = xml_text(text, "Code")?.trim();
    // Azure says why in a detail beside its generic message: keep both.
    let message = match (xml_text(text, "Message"), xml_text(text, "AuthenticationErrorDetail")) {
        (Some(message), Some(detail)) => format!("{} ({})", message.trim(), detail.trim()),
        (Some(text), None) | (None, Some(text)) => text.trim().to_string(),
        (None, None) => code.to_string(),
    };
    Some(Raw { message, error_code: Some(code.to_string()), details: Vec::new() })
}

/// Text between `<tag>` and `</tag>` anywhere in `text`.
fn xml_text<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(&text[start..end])
}

/// Proxies and gateways answer with HTML: take `<pre>` or `<title>`.
fn parse_html(body: &[u8], reason: &str) -> Option<Raw> {
    let text = String::from_utf8_lossy(body);
    let inner = ["pre", "title"].iter().find_map(|tag| tag_text(&text, tag))?;
    let message = if inner.trim().is_empty() { reason.to_string() } else { inner.trim().to_string() };
    Some(Raw { message, error_code: Some(reason.to_ascii_uppercase().replace(' ', "_")), details: Vec::new() })
}

/// Text between `<tag>` and `</tag>` on one line.
fn tag_text<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    text.lines().find_map(|line| {
        let start = line.find(&open)? + open.len();
        let end = line[start..].find(&close)? + start;
        Some(&line[start..end])
    })
}

fn unparseable(body: &[u8]) -> Raw {
    let text = String::from_utf8_lossy(body);
    let quoted: String = text.chars().take(RAW_BODY_QUOTE).collect();
    let ellipsis = if text.chars().count() > RAW_BODY_QUOTE { "..." } else { "" };
    Raw { message: format!("unable to parse response: {quoted}{ellipsis}"), ..Raw::default() }
}

/// 429/503 always carry a delay: the header (integer seconds or an HTTP date),
/// else a RetryInfo detail, else one second as the official SDKs default.
fn retry_after_for(status: u16, header: Option<&str>, details: &[ErrorDetail]) -> Option<Duration> {
    let from_header = header.and_then(parse_retry_after);
    let from_details = details.iter().find_map(|d| match d {
        ErrorDetail::RetryInfo(d) => Some(*d),
        _ => None,
    });
    match status {
        429 | 503 => Some(from_header.or(from_details).unwrap_or(Duration::from_secs(1))),
        _ => from_header.or(from_details),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_SERVER_DELAY));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or_default().min(MAX_SERVER_DELAY))
}

fn reason_phrase(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Unknown Status")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(method: &str, path: &str, status: u16, body: &str) -> Error {
        from_response(method, path, status, None, body.as_bytes())
    }

    #[test]
    fn hostile_delays_are_clamped_not_overflowed() {
        let e = from_response("GET", "/x", 429, Some("18446744073709551615"), b"");
        assert_eq!(e.retry_after(), Some(MAX_SERVER_DELAY));
        let body = r#"{"error_code":"RESOURCE_EXHAUSTED","message":"m","details":[
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retry_delay":"1e19s"}]}"#;
        let e = from_response("GET", "/x", 400, None, body.as_bytes());
        assert_eq!(e.retry_after(), Some(MAX_SERVER_DELAY));
        let body = r#"{"error_code":"RESOURCE_EXHAUSTED","message":"m","details":[
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retry_delay":"-5s"}]}"#;
        assert_eq!(from_response("GET", "/x", 400, None, body.as_bytes()).retry_after(), None);
    }

    #[test]
    fn standard_envelope_with_details() {
        let e = err(
            "POST",
            "/api/2.1/clusters/create",
            400,
            r#"{"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"","reason":"CM_API_ERROR_SOURCE_CALLER_ERROR","metadata":{"a":"b"}},
                {"@type":"type.googleapis.com/google.rpc.RequestInfo","request_id":"req-1","serving_data":""},
                {"@type":"type.googleapis.com/google.rpc.Help","links":[]}],
              "error_code":"INVALID_PARAMETER_VALUE","message":"Missing required field 'node_type_id'"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::InvalidParameterValue);
        assert!(e.is(ErrorKind::BadRequest));
        assert_eq!(e.message(), "Missing required field 'node_type_id'");
        assert_eq!(e.error_code(), Some("INVALID_PARAMETER_VALUE"));
        assert_eq!(e.error_info().map(|i| i.reason.as_str()), Some("CM_API_ERROR_SOURCE_CALLER_ERROR"));
        assert_eq!(e.request_id(), Some("req-1"));
        assert!(matches!(e.details()[2], ErrorDetail::Other(_)));
        assert!(!e.is_retryable());
    }

    #[test]
    fn numeric_error_code_is_text_and_status_classifies() {
        let e = err("GET", "/api/2.0/clusters/list", 403, r#"{"error_code":403,"message":"Invalid access token."}"#);
        assert_eq!(e.error_code(), Some("403"));
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e = err("GET", "/x", 401, r#"{"error_code":401,"message":"Credential was not sent"}"#);
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    }

    #[test]
    fn error_code_wins_over_status() {
        let e = err(
            "POST",
            "/api/2.0/workspace/import",
            400,
            r#"{"error_code":"RESOURCE_ALREADY_EXISTS","message":"exists"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::ResourceAlreadyExists);
        assert!(e.is(ErrorKind::ResourceConflict));
    }

    #[test]
    fn every_code_and_status_maps_like_the_official_table() {
        let table = [
            ("INVALID_PARAMETER_VALUE", 400, ErrorKind::InvalidParameterValue),
            ("INVALID_STATE", 400, ErrorKind::InvalidState),
            ("BAD_REQUEST", 400, ErrorKind::BadRequest),
            ("UNAUTHENTICATED", 401, ErrorKind::Unauthenticated),
            ("PERMISSION_DENIED", 403, ErrorKind::PermissionDenied),
            ("NOT_FOUND", 404, ErrorKind::NotFound),
            ("RESOURCE_DOES_NOT_EXIST", 404, ErrorKind::ResourceDoesNotExist),
            ("RESOURCE_CONFLICT", 409, ErrorKind::ResourceConflict),
            ("ABORTED", 409, ErrorKind::Aborted),
            ("ALREADY_EXISTS", 409, ErrorKind::AlreadyExists),
            ("RESOURCE_ALREADY_EXISTS", 409, ErrorKind::ResourceAlreadyExists),
            ("TOO_MANY_REQUESTS", 429, ErrorKind::TooManyRequests),
            ("REQUEST_LIMIT_EXCEEDED", 429, ErrorKind::RequestLimitExceeded),
            ("RESOURCE_EXHAUSTED", 429, ErrorKind::ResourceExhausted),
            ("CANCELLED", 499, ErrorKind::Cancelled),
            ("INTERNAL_ERROR", 500, ErrorKind::InternalError),
            ("UNKNOWN", 500, ErrorKind::Unknown),
            ("DATA_LOSS", 500, ErrorKind::DataLoss),
            ("NOT_IMPLEMENTED", 501, ErrorKind::NotImplemented),
            ("TEMPORARILY_UNAVAILABLE", 503, ErrorKind::TemporarilyUnavailable),
            ("DEADLINE_EXCEEDED", 504, ErrorKind::DeadlineExceeded),
            ("SOMETHING_NEW", 418, ErrorKind::Api),
        ];
        for (code, status, kind) in table {
            let body = format!(r#"{{"error_code":"{code}","message":"m"}}"#);
            assert_eq!(err("GET", "/api/2.0/x", status, &body).kind(), kind, "{code}");
        }
    }

    #[test]
    fn official_does_not_exist_overrides() {
        let cases = [
            ("/api/2.1/clusters/get", "Cluster 0929-205554-jm9y8aqe does not exist"),
            ("/api/2.0/clusters/get", "Cluster abc does not exist"),
            ("/api/2.2/jobs/get", "Job 42 does not exist."),
            ("/api/2.1/jobs/runs/get", "Run 7 does not exist"),
            ("/api/2.2/jobs/runs/get", "Run: 7 in job: 3 doesn't exist"),
        ];
        for (path, msg) in cases {
            let body = format!(r#"{{"error_code":"INVALID_PARAMETER_VALUE","message":"{msg}"}}"#);
            let e = err("GET", path, 400, &body);
            assert_eq!(e.kind(), ErrorKind::ResourceDoesNotExist, "{path}");
            assert!(e.is(ErrorKind::NotFound));
        }
        // Same message on another verb or path keeps the server's code.
        let body = r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"Cluster x does not exist"}"#;
        assert_eq!(err("POST", "/api/2.1/clusters/get", 400, body).kind(), ErrorKind::InvalidParameterValue);
        assert_eq!(err("GET", "/api/2.1/clusters/list", 400, body).kind(), ErrorKind::InvalidParameterValue);
        let other = r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"Missing cluster_id"}"#;
        assert_eq!(err("GET", "/api/2.1/clusters/get", 400, other).kind(), ErrorKind::InvalidParameterValue);
    }

    #[test]
    fn legacy_error_field() {
        let e = err("POST", "/api/1.2/commands/execute", 400, r#"{"error":"ContextNotFound"}"#);
        assert_eq!(e.message(), "ContextNotFound");
        assert_eq!(e.kind(), ErrorKind::BadRequest);
    }

    #[test]
    fn scim_errors() {
        let e = err(
            "GET",
            "/api/2.0/preview/scim/v2/Users/1",
            404,
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"User not found","status":"404","scimType":"invalidValue"}"#,
        );
        assert_eq!(e.message(), "invalidValue User not found");
        assert_eq!(e.error_code(), Some("SCIM_404"));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = err("GET", "/scim", 500, r#"{"detail":"null","status":"500"}"#);
        assert_eq!(e.message(), "SCIM API Internal Error");
    }

    #[test]
    fn plain_code_colon_message() {
        let e = err("GET", "/api/2.0/accounts/a/x", 404, "RESOURCE_DOES_NOT_EXIST: no such thing\nsecond line");
        assert_eq!(e.error_code(), Some("RESOURCE_DOES_NOT_EXIST"));
        assert_eq!(e.message(), "no such thing");
        assert_eq!(e.kind(), ErrorKind::ResourceDoesNotExist);
    }

    #[test]
    fn html_pages() {
        let page = "<html><head><title>Error 403</title></head><body><h2>HTTP ERROR 403</h2>\n<pre>Invalid access token.</pre></body></html>";
        let e = err("GET", "/api/2.0/clusters/list", 403, page);
        assert_eq!(e.message(), "Invalid access token.");
        assert_eq!(e.error_code(), Some("FORBIDDEN"));
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e = err("GET", "/x", 502, "<html><title>Bad Gateway</title></html>");
        assert_eq!(e.message(), "Bad Gateway");
        assert_eq!(e.error_code(), Some("BAD_GATEWAY"));
        assert_eq!(e.kind(), ErrorKind::Api);
    }

    #[test]
    fn cloud_storage_xml() {
        let s3 = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message><RequestId>X</RequestId></Error>";
        let e = err("PUT", "/bucket/key", 403, s3);
        assert_eq!((e.error_code(), e.message()), (Some("AccessDenied"), "Request has expired"));
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let azure = "<?xml version=\"1.0\"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.\nRequestId:1</Message><AuthenticationErrorDetail>Signed expiry time [Thu, 03 Dec 2026 12:00:00 GMT] must be after signed start time. Signature not valid in the specified time frame</AuthenticationErrorDetail></Error>";
        let e = err("PUT", "/container/blob", 403, azure);
        assert_eq!(e.error_code(), Some("AuthenticationFailed"));
        assert!(e.message().starts_with("Server failed to authenticate the request."), "{}", e.message());
        assert!(e.message().ends_with("Signature not valid in the specified time frame)"), "{}", e.message());
        let e = err("GET", "/bucket/key", 404, "<Error><Code>NoSuchKey</Code></Error>");
        assert_eq!((e.kind(), e.message()), (ErrorKind::NotFound, "NoSuchKey"));
    }

    #[test]
    fn empty_body_uses_reason_phrase() {
        let e = err("DELETE", "/x", 404, "");
        assert_eq!(e.message(), "Not Found");
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn garbage_and_truncated_bodies_are_quoted_not_fatal() {
        let e = err("GET", "/x", 500, r#"{"error_code":"INTERNAL_ER"#);
        assert_eq!(e.kind(), ErrorKind::InternalError);
        assert!(e.message().starts_with("unable to parse response: {\"error_code\""));
        let long = "x".repeat(5000);
        let e = err("GET", "/x", 500, &long);
        assert!(e.message().len() < 600 && e.message().ends_with("..."));
        let e = from_response("GET", "/x", 500, None, &[0xff, 0xfe, 0x00]);
        assert_eq!(e.kind(), ErrorKind::InternalError);
        // A JSON array is not an error object.
        let e = err("GET", "/x", 400, "[1,2]");
        assert!(e.message().starts_with("unable to parse response"));
    }

    #[test]
    fn retry_after_header_and_retry_info() {
        let e = from_response(
            "GET",
            "/x",
            429,
            Some("7"),
            br#"{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}"#,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.kind(), ErrorKind::RequestLimitExceeded);
        assert!(e.is_retryable() && e.is_throttled());
        let e = from_response("GET", "/x", 503, None, b"");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        let e = from_response("GET", "/x", 503, Some("soon"), b"");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        let body = br#"{"error_code":"RESOURCE_EXHAUSTED","message":"m","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retry_delay":"3.5s"}]}"#;
        let e = from_response("GET", "/x", 429, None, body);
        assert_eq!(e.retry_after(), Some(Duration::from_millis(3500)));
        let e = from_response("GET", "/x", 400, Some("Wed, 21 Oct 2015 07:28:00 GMT"), b"");
        assert_eq!(e.retry_after(), Some(Duration::ZERO));
    }

    #[test]
    fn transient_messages_are_retryable() {
        let e = err(
            "POST",
            "/api/2.1/clusters/create",
            400,
            r#"{"error_code":"INVALID_STATE","message":"ClusterNotReadyException: wait"}"#,
        );
        assert!(e.has_transient_message() && e.is_retryable());
        let e = err("GET", "/x", 500, r#"{"message":"boom"}"#);
        assert!(!e.is_retryable());
    }
}

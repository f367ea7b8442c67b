//! Request parsing and error responses in the shapes Databricks uses.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// Largest JSON body accepted (the real limit for most APIs is around 10 MB).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// An error answer: HTTP status plus `{error_code, message}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// A string code, or a number for the auth failures that really send one.
    pub error_code: Value,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Answer in the SCIM error shape (`{schemas, detail, status}`), as the
    /// SCIM APIs do, instead of `{error_code, message}`.
    pub scim: bool,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            error_code: Value::String(code.to_string()),
            message: message.into(),
            retry_after: None,
            scim: false,
        }
    }

    /// A SCIM API error: `status` with `detail`, in the SCIM shape.
    pub fn scim(status: u16, detail: impl Into<String>) -> Self {
        ApiError { scim: true, ..Self::new(status, "", detail) }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_PARAMETER_VALUE", message)
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_STATE", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "RESOURCE_DOES_NOT_EXIST", message)
    }

    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(400, "RESOURCE_ALREADY_EXISTS", message)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(400, "MALFORMED_REQUEST", message)
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(403, "PERMISSION_DENIED", message)
    }

    pub fn missing(field: &str) -> Self {
        Self::invalid(format!("Missing required field: {field}"))
    }

    /// The numeric-code auth answers real workspaces send.
    pub fn numeric(status: u16, message: impl Into<String>) -> Self {
        ApiError { error_code: Value::from(status), ..Self::new(status, "", message) }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.scim {
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "detail": self.message, "status": self.status.as_u16().to_string(),
            })
        } else {
            json!({"error_code": self.error_code, "message": self.message})
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert("retry-after", HeaderValue::from(secs));
        }
        if self.status == StatusCode::FORBIDDEN && self.error_code.is_number() {
            if let Ok(v) = HeaderValue::from_str(&self.message) {
                response.headers_mut().insert("x-databricks-reason-phrase", v);
            }
        }
        response
    }
}

/// A handler result: JSON on success, the real error shape on failure.
pub type ApiResult<T = axum::Json<Value>> = Result<T, ApiError>;

/// `200 {}`: the answer of most mutating calls.
pub fn empty() -> ApiResult {
    Ok(axum::Json(json!({})))
}

/// A JSON body decoded into `T`; malformed or wrongly typed JSON is a 400 in
/// the real shape, an over-large body too.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|_| {
            ApiError::new(400, "MAX_REQUEST_SIZE_EXCEEDED", format!("Request body exceeds {MAX_BODY_BYTES} bytes"))
        })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let value: Value = serde_json::from_slice(text)
            .map_err(|e| ApiError::malformed(format!("Invalid JSON given in the body of the request - {e}")))?;
        if !value.is_object() {
            return Err(ApiError::malformed("Invalid JSON given in the body of the request - expected an object"));
        }
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| ApiError::invalid(format!("Invalid JSON given in the body of the request - {e}")))
    }
}

/// Query parameters as pairs, keeping repeated and dotted keys.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(Params(form_urlencoded::parse(query.as_bytes()).into_owned().collect()))
    }
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    pub fn required(&self, key: &str) -> ApiResult<&str> {
        self.get(key).ok_or_else(|| ApiError::missing(key))
    }

    /// A boolean; Python's SDK sends nested booleans as `True`/`False`.
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid(format!("Invalid boolean for {key}: {v}"))),
        }
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        self.get(key)
            .map(|v| v.parse::<i64>().map_err(|_| ApiError::invalid(format!("Invalid value for {key}: {v}"))))
            .transpose()
    }
}

/// Accepts an int64 sent as a number or as a string.
pub fn int_field(body: &Value, key: &str) -> ApiResult<Option<i64>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| ApiError::invalid(format!("Invalid {key}"))),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| ApiError::invalid(format!("Invalid {key}: {s}"))),
        Some(_) => Err(ApiError::invalid(format!("Invalid type for {key}"))),
    }
}

pub fn required_int(body: &Value, key: &str) -> ApiResult<i64> {
    int_field(body, key)?.ok_or_else(|| ApiError::missing(key))
}

pub fn str_field<'a>(body: &'a Value, key: &str) -> ApiResult<Option<&'a str>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ApiError::invalid(format!("Invalid type for {key}: expected a string"))),
    }
}

pub fn required_str<'a>(body: &'a Value, key: &str) -> ApiResult<&'a str> {
    str_field(body, key)?.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing(key))
}

pub fn bool_field(body: &Value, key: &str) -> ApiResult<Option<bool>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(format!("Invalid type for {key}: expected a boolean"))),
    }
}

/// A list answer: `out` plus `key` (left out when empty, as Databricks
/// does) and `next_page_token` when there is a next page.
pub fn page_body(mut out: Value, key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    if !items.is_empty() {
        out[key] = Value::Array(items);
    }
    if let Some(next) = next {
        out["next_page_token"] = Value::String(next);
    }
    out
}

/// `http://<Host header>`: the emulator may be reached under several names.
pub fn base_url(headers: &axum::http::HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// A page token: opaque text naming where the next page starts, so that a
/// client never does arithmetic on it and a forged one cannot overflow ours.
pub fn page_token(start: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("page:{start}"))
}

/// A page token that resumes a listing after `last`, a key of the order the
/// listing walks (a job id, a name): each page then costs its own length,
/// and items added or removed meanwhile neither repeat nor skip others.
/// `kind` tags the token, so one listing refuses another's.
pub fn cursor_token(kind: &str, last: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{last}"))
}

/// The key the page token of the request resumes after (none without a
/// token); a 400 for a token of another kind or not issued here.
pub fn resume_after(params: &Params, kind: &str) -> ApiResult<Option<String>> {
    resume_after_token(params.get("page_token"), kind)
}

/// [`resume_after`] for a token sent under another name (the Repos API's
/// `next_page_token`).
pub fn resume_after_token(token: Option<&str>, kind: &str) -> ApiResult<Option<String>> {
    let Some(token) = token else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| Some(text.strip_prefix(kind)?.strip_prefix(':')?.to_string()))
        .map(Some)
        .ok_or_else(|| ApiError::invalid(format!("Invalid page token: {token}")))
}

/// [`resume_after`] for listings walked in id order: the id the token
/// carries, one of the world's ids (of their one length).
pub fn resume_after_id(params: &Params, kind: &str) -> ApiResult<Option<i64>> {
    resume_after(params, kind)?
        .map(|id| {
            id.parse()
                .ok()
                .filter(|id| crate::state::ID_RANGE.contains(id))
                .ok_or_else(|| ApiError::invalid(format!("Invalid page token: {id}")))
        })
        .transpose()
}

/// Where the page a token names starts: 0 without a token, a 400 for any
/// token this emulator did not issue.
pub fn page_start(token: Option<&str>) -> ApiResult<usize> {
    let Some(token) = token else { return Ok(0) };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("page:")?.parse().ok())
        .ok_or_else(|| ApiError::invalid(format!("Invalid page token: {token}")))
}

/// The page of `items` from `start`, and the token of the next one.
pub fn page<T: Clone>(items: &[T], start: usize, size: usize) -> (Vec<T>, Option<String>) {
    let start = start.min(items.len());
    let end = start.saturating_add(size.max(1)).min(items.len());
    let slice = items.get(start..end).unwrap_or_default().to_vec();
    (slice, (end < items.len()).then(|| page_token(end)))
}

/// The longest path taken, in bytes, and the longest name in it: what a
/// file system holds (`PATH_MAX`, `NAME_MAX`), and what keeps `mkdirs` of one
/// path (every prefix stored) small.
pub const MAX_PATH_BYTES: usize = 4096;
pub const MAX_NAME_BYTES: usize = 255;

/// An absolute path without `.`, `..` or empty segments (no traversal), trailing `/` dropped.
pub fn absolute_path(path: &str) -> ApiResult<String> {
    if path.len() > MAX_PATH_BYTES {
        let start: String = path.chars().take(64).collect();
        return Err(ApiError::invalid(format!("Path ({start}...) is longer than {MAX_PATH_BYTES} bytes.")));
    }
    let invalid = || ApiError::invalid(format!("Path ({path}) is not a valid absolute path."));
    if !path.starts_with('/') || path.contains('\0') {
        return Err(invalid());
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == ".." || s.len() > MAX_NAME_BYTES) {
        return Err(invalid());
    }
    Ok(format!("/{}", segments.join("/")))
}

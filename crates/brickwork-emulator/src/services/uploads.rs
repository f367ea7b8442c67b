//! The Files API's large-transfer protocol: multipart uploads and presigned
//! URLs. On AWS the URLs point at S3; here the emulator stands in for the
//! storage too (`/__storage/*`), so a client's parallel parts, retries,
//! aborts and ranged downloads run against one process.
//!
//! A presigned URL carries its own credential: an HMAC of the method, the
//! resource and the expiry, under a key drawn when the emulator starts. Its
//! errors are the storage's (S3-style XML), not the Databricks JSON ones.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use ring::hmac;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{absolute_path, base_url, required_str, str_field, ApiError, ApiResult, Body, Params};
use crate::schedule::Deadlines;
use crate::state::{AppState, World};
use crate::storage::{Blob, Ingest, IngestError};

/// S3's limit on part numbers.
const MAX_PART_NUMBER: i64 = 10_000;
/// S3's smallest part, but for the last: smaller ones fail the completion.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Part URLs handed out by one call.
const MAX_URLS_PER_CALL: i64 = 1_000;
/// Uploads open at once; abandoned ones are dropped first.
const MAX_OPEN_UPLOADS: usize = 1_000;
/// An upload untouched this many emulated minutes (a day) is abandoned:
/// its parts are dropped and their storage freed.
const ABANDONED_AFTER_MINUTES: u32 = 24 * 60;
/// A URL's life when the caller names none.
const DEFAULT_URL_LIFE: i64 = 3600;

/// Open multipart uploads by session token, and the key URLs are signed with.
#[derive(Debug)]
pub struct Uploads {
    sessions: HashMap<String, Upload>,
    /// When each session may next be abandoned (one entry per session).
    abandoning: Deadlines<String>,
    key: hmac::Key,
}

#[derive(Debug)]
struct Upload {
    path: String,
    overwrite: bool,
    parts: BTreeMap<i64, Part>,
    touched: Instant,
}

#[derive(Debug)]
struct Part {
    data: Blob,
    etag: String,
}

impl Default for Uploads {
    fn default() -> Self {
        let seed: [u8; 32] = crate::ids::secure_bytes();
        Uploads {
            sessions: HashMap::new(),
            abandoning: Deadlines::default(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &seed),
        }
    }
}

impl Uploads {
    /// Uploads initiated and neither completed nor aborted.
    pub fn open_count(&self) -> usize {
        self.sessions.len()
    }

    fn signature(&self, method: &str, resource: &str, expires: i64) -> String {
        let tag = hmac::sign(&self.key, signed_text(method, resource, expires).as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// An absolute URL for `method` on `path` (of the upload `upload`, if
    /// any), valid until `expires`. The upload travels in the query, as S3's
    /// `uploadId` does, so a path in a log names no upload.
    pub(crate) fn presign(&self, base: &str, method: &str, path: &str, upload: &str, expires: i64) -> String {
        let signature = self.signature(method, &format!("{path}\n{upload}"), expires);
        let upload = if upload.is_empty() { String::new() } else { format!("upload={upload}&") };
        format!("{base}{path}?{upload}expires={expires}&signature={signature}")
    }

    /// Check a presigned request as storage does: the signature first, then the expiry.
    pub(crate) fn verify(&self, method: &str, path: &str, params: &Params) -> Result<(), StorageError> {
        let resource = format!("{path}\n{}", params.get("upload").unwrap_or_default());
        let expires = params.get("expires").and_then(|e| e.parse::<i64>().ok());
        let signature = params.get("signature").unwrap_or_default();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
        // Checked in constant time: a timing difference would leak the tag byte by byte.
        let signed =
            |e: &i64| hmac::verify(&self.key, signed_text(method, &resource, *e).as_bytes(), &signature).is_ok();
        let Some(expires) = expires.filter(signed) else {
            return Err(storage_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            ));
        };
        if expires < unix_now() {
            return Err(storage_error(403, "AccessDenied", "Request has expired"));
        }
        Ok(())
    }

    fn session(&mut self, token: &str, path: &str) -> ApiResult<&mut Upload> {
        match self.sessions.get_mut(token) {
            Some(upload) if upload.path == path => Ok(upload),
            _ => Err(ApiError::not_found("The upload session does not exist or has expired.")),
        }
    }

    /// Drop the sessions untouched for `after`; look again later at those
    /// touched since their deadline was set.
    fn drop_abandoned(&mut self, now: Instant, after: Duration) {
        for (_, token) in self.abandoning.due(now) {
            let Some(touched) = self.sessions.get(&token).map(|u| u.touched) else { continue };
            match touched.checked_add(after).filter(|at| *at > now) {
                Some(at) => self.abandoning.schedule(at, token),
                None => {
                    self.sessions.remove(&token);
                }
            }
        }
    }
}

/// What a presigned URL's signature covers.
fn signed_text(method: &str, resource: &str, expires: i64) -> String {
    format!("{method}\n{resource}\n{expires}")
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The longest a presigned URL lives, as S3 allows (a week).
const MAX_URL_LIFE: i64 = 7 * 24 * 3600;

/// An `expire_time` (RFC 3339) as Unix seconds; an hour from now when
/// absent, and never more than a week away.
fn expiry(raw: Option<&str>) -> ApiResult<i64> {
    let Some(raw) = raw else {
        return Ok(unix_now() + DEFAULT_URL_LIFE);
    };
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp().min(unix_now() + MAX_URL_LIFE))
        .map_err(|_| ApiError::invalid(format!("expire_time is not an RFC 3339 timestamp: {raw}")))
}

/// A storage error, answered in storage's own (S3) XML shape.
#[derive(Debug)]
pub(crate) struct StorageError {
    status: u16,
    code: &'static str,
    message: &'static str,
}

fn storage_error(status: u16, code: &'static str, message: &'static str) -> StorageError {
    StorageError { status, code, message }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code, self.message
        );
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::FORBIDDEN);
        (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
    }
}

/// The Files API uploads service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "uploads"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }

    fn advance(&self, world: &mut World, now: Instant) {
        let after = abandoned_after(world);
        world.uploads.drop_abandoned(now, after);
    }
}

fn abandoned_after(w: &World) -> Duration {
    w.settings.minute().saturating_mul(ABANDONED_AFTER_MINUTES)
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/fs/create-upload-part-urls", post(create_upload_part_urls))
        .route("/api/2.0/fs/create-abort-upload-url", post(create_abort_upload_url))
        .route("/api/2.0/fs/create-download-url", post(create_download_url))
        .route("/__storage/parts/{part}", put(upload_part))
        .route("/__storage/uploads", axum::routing::delete(abort_presigned))
        .route("/__storage/files/{encoded}", get(download_presigned))
}

/// `POST /api/2.0/fs/files{path}?action=...`: initiate, complete or abort an upload.
pub async fn file_action(s: &AppState, path: &str, params: &Params, request: Request) -> Result<Response, ApiError> {
    match params.required("action")? {
        "initiate-upload" => {
            let overwrite = params.bool("overwrite")?.unwrap_or(true);
            let token = s.with(|w| initiate(w, path, overwrite))?;
            Ok(Json(json!({"multipart_upload": {"session_token": token}})).into_response())
        }
        "complete-upload" => {
            let token = params.required("session_token")?;
            let body = axum::body::to_bytes(request.into_body(), 16 * 1024 * 1024)
                .await
                .map_err(|_| ApiError::malformed("The request body is too large."))?;
            let listed: CompleteRequest =
                serde_json::from_slice(&body).map_err(|e| ApiError::malformed(format!("Invalid JSON: {e}")))?;
            complete(s, path, token, &listed.parts).await?;
            Ok(Json(json!({})).into_response())
        }
        "abort-upload" => {
            let token = params.required("session_token")?;
            s.with(|w| {
                w.uploads.session(token, path)?;
                w.uploads.sessions.remove(token);
                Ok::<_, ApiError>(())
            })?;
            Ok(Json(json!({})).into_response())
        }
        other => Err(ApiError::invalid(format!("Unsupported action: {other}"))),
    }
}

fn initiate(w: &mut World, path: &str, overwrite: bool) -> ApiResult<String> {
    w.files.check_writable(path, overwrite)?;
    if w.uploads.sessions.len() >= MAX_OPEN_UPLOADS {
        return Err(ApiError::new(400, "RESOURCE_EXHAUSTED", "Too many uploads in progress; complete or abort some."));
    }
    let token = crate::ids::secret(48);
    let now = Instant::now();
    let upload = Upload { path: path.to_string(), overwrite, parts: BTreeMap::new(), touched: now };
    w.uploads.sessions.insert(token.clone(), upload);
    let at = now.checked_add(abandoned_after(w)).unwrap_or(now);
    w.uploads.abandoning.schedule(at, token.clone());
    Ok(token)
}

#[derive(Deserialize)]
struct CompleteRequest {
    #[serde(default)]
    parts: Vec<ListedPart>,
}

#[derive(Deserialize)]
struct ListedPart {
    part_number: i64,
    #[serde(default)]
    etag: String,
}

/// Join the listed parts into the file, as S3's CompleteMultipartUpload
/// does: in ascending order, each with the ETag its upload returned and, but
/// for the last, of at least 5 MiB; parts uploaded but not listed are
/// dropped. The parts' data moves into the file; nothing is copied.
async fn complete(s: &AppState, path: &str, token: &str, listed: &[ListedPart]) -> ApiResult<()> {
    s.with(|w| {
        let upload = w.uploads.session(token, path)?;
        let parts = listed_parts(upload, listed)?;
        let overwrite = upload.overwrite;
        w.files.check_writable(path, overwrite)?;
        w.uploads.sessions.remove(token);
        w.files.store(path, Blob::join(parts), overwrite)
    })
}

/// The parts `listed` names, in order, checked as S3 checks them.
fn listed_parts(upload: &Upload, listed: &[ListedPart]) -> ApiResult<Vec<Blob>> {
    if listed.is_empty() {
        return Err(ApiError::invalid("The upload lists no parts."));
    }
    let mut previous = 0;
    let mut parts = Vec::with_capacity(listed.len());
    for (index, item) in listed.iter().enumerate() {
        if item.part_number <= previous {
            return Err(ApiError::invalid("Parts must be listed in ascending order of part_number."));
        }
        previous = item.part_number;
        let part = upload
            .parts
            .get(&item.part_number)
            .filter(|part| part.etag.trim_matches('"') == item.etag.trim_matches('"'))
            .ok_or_else(|| {
                ApiError::invalid(format!("Part {} was not uploaded or its etag does not match.", item.part_number))
            })?;
        if index + 1 < listed.len() && part.data.len() < MIN_PART_SIZE {
            return Err(ApiError::invalid(format!(
                "EntityTooSmall: part {} is {} bytes; every part but the last must be at least {MIN_PART_SIZE} bytes.",
                item.part_number,
                part.data.len()
            )));
        }
        parts.push(part.data.clone());
    }
    Ok(parts)
}

/// `PUT /__storage/parts/{part}?upload=...`: one part, answered with its ETag.
async fn upload_part(State(s): State<AppState>, Path(part): Path<i64>, params: Params, request: Request) -> Response {
    if let Err(denied) = s.with(|w| w.uploads.verify("PUT", &format!("/__storage/parts/{part}"), &params)) {
        return denied.into_response();
    }
    let token = params.get("upload").unwrap_or_default().to_string();
    let data = match Ingest::new(&s.budget, MAX_PART_SIZE).read(request.into_body()).await {
        Ok(data) => data,
        Err(IngestError::TooLarge { .. }) => {
            return storage_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
                .into_response()
        }
        // Final (a 4xx): waiting does not make room.
        Err(IngestError::Full(_)) => {
            return storage_error(
                400,
                "EntityTooLarge",
                "The emulator's storage budget (--max-stored-bytes) is used up.",
            )
            .into_response()
        }
        Err(IngestError::Broken) => {
            return storage_error(400, "IncompleteBody", "The request body ended before it was complete.")
                .into_response()
        }
    };
    let etag = format!("\"{}\"", crate::ids::hex16());
    let stored = s.with(|w| {
        let upload = w.uploads.sessions.get_mut(&token)?;
        upload.touched = Instant::now();
        upload.parts.insert(part, Part { data, etag: etag.clone() });
        Some(())
    });
    match stored {
        Some(()) => (StatusCode::OK, [(header::ETAG, etag)]).into_response(),
        None => storage_error(404, "NoSuchUpload", "The specified upload does not exist.").into_response(),
    }
}

/// `DELETE /__storage/uploads?upload=...`: abort, dropping every part.
async fn abort_presigned(State(s): State<AppState>, params: Params) -> Response {
    if let Err(denied) = s.with(|w| w.uploads.verify("DELETE", "/__storage/uploads", &params)) {
        return denied.into_response();
    }
    let token = params.get("upload").unwrap_or_default();
    match s.with(|w| w.uploads.sessions.remove(token)) {
        Some(_) => StatusCode::OK.into_response(),
        None => storage_error(404, "NoSuchUpload", "The specified upload does not exist.").into_response(),
    }
}

/// `GET /__storage/files/{encoded}`: a presigned download, ranges included.
async fn download_presigned(
    State(s): State<AppState>,
    Path(encoded): Path<String>,
    params: Params,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let resource = format!("/__storage/files/{encoded}");
    if let Err(denied) = s.with(|w| w.uploads.verify("GET", &resource, &params)) {
        return denied.into_response();
    }
    let path =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&encoded).ok().and_then(|p| String::from_utf8(p).ok());
    let Some(path) = path else {
        return storage_error(404, "NoSuchKey", "The specified key does not exist.").into_response();
    };
    match super::dbfs::serve_file(&s, &path, &method, &headers) {
        Ok(response) => response,
        Err(_) => storage_error(404, "NoSuchKey", "The specified key does not exist.").into_response(),
    }
}

/// The presigned URL's shape in the coordination API's answers.
fn url_node(url: String) -> Value {
    json!({"url": url, "headers": [{"name": "Content-Type", "value": "application/octet-stream"}]})
}

/// What both URL calls name: the file, its upload session, and the URLs' expiry.
fn session_request(body: &Value) -> ApiResult<(String, &str, i64)> {
    let path = absolute_path(required_str(body, "path")?)?;
    let token = required_str(body, "session_token")?;
    Ok((path, token, expiry(str_field(body, "expire_time")?)?))
}

/// `POST /api/2.0/fs/create-upload-part-urls`.
async fn create_upload_part_urls(
    State(s): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let (path, token, expires) = session_request(&body)?;
    let start = crate::api::required_int(&body, "start_part_number")?;
    let count = crate::api::int_field(&body, "count")?.unwrap_or(1);
    if !(1..=MAX_URLS_PER_CALL).contains(&count) {
        return Err(ApiError::invalid(format!("count must be between 1 and {MAX_URLS_PER_CALL}.")));
    }
    if start < 1 || start > MAX_PART_NUMBER - count + 1 {
        return Err(ApiError::invalid(format!("Part numbers must be between 1 and {MAX_PART_NUMBER}.")));
    }
    let base = base_url(&headers);
    s.with(|w| {
        w.uploads.session(token, &path)?.touched = Instant::now();
        let urls: Vec<Value> = (start..start + count)
            .map(|part| {
                let url = w.uploads.presign(&base, "PUT", &format!("/__storage/parts/{part}"), token, expires);
                let mut node = url_node(url);
                node["part_number"] = json!(part);
                node
            })
            .collect();
        Ok(Json(json!({"upload_part_urls": urls})))
    })
}

/// `POST /api/2.0/fs/create-abort-upload-url`.
async fn create_abort_upload_url(
    State(s): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let (path, token, expires) = session_request(&body)?;
    let base = base_url(&headers);
    s.with(|w| {
        w.uploads.session(token, &path)?;
        let url = w.uploads.presign(&base, "DELETE", "/__storage/uploads", token, expires);
        Ok(Json(json!({"abort_upload_url": url_node(url)})))
    })
}

/// `POST /api/2.0/fs/create-download-url?path=...&expire_time=...`.
async fn create_download_url(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<crate::state::Caller>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Json<Value>> {
    let path = absolute_path(params.required("path")?)?;
    let expires = expiry(params.get("expire_time"))?;
    let base = base_url(&headers);
    s.with(|w| {
        super::catalog::check_volume_path(w, &path, &caller, false)?;
        w.files.file(&path)?;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(path.as_bytes());
        let url = w.uploads.presign(&base, "GET", &format!("/__storage/files/{encoded}"), "", expires);
        Ok(Json(json!({"url": url, "headers": []})))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presigned_url_is_refused_when_altered_or_expired() {
        let uploads = Uploads::default();
        // The query of a URL `presign` built, as the handler sees it.
        let query = |url: &str| {
            let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
            Params(form_urlencoded::parse(query.as_bytes()).into_owned().collect())
        };
        let later = unix_now() + 60;
        let url = uploads.presign("http://h", "PUT", "/__storage/parts/1", "t0ken", later);
        assert!(url.starts_with("http://h/__storage/parts/1?upload=t0ken&"), "{url}");
        assert!(uploads.verify("PUT", "/__storage/parts/1", &query(&url)).is_ok());
        // Another part, another method, another upload, a longer life: each breaks the signature.
        assert!(uploads.verify("PUT", "/__storage/parts/2", &query(&url)).is_err());
        assert!(uploads.verify("DELETE", "/__storage/parts/1", &query(&url)).is_err());
        assert!(uploads.verify("PUT", "/__storage/parts/1", &query(&url.replace("t0ken", "other"))).is_err());
        let longer = url.replace(&format!("expires={later}"), &format!("expires={}", later + 1));
        assert!(uploads.verify("PUT", "/__storage/parts/1", &query(&longer)).is_err());
        let expired = uploads.presign("http://h", "PUT", "/__storage/parts/1", "t0ken", unix_now() - 1);
        let refused = uploads.verify("PUT", "/__storage/parts/1", &query(&expired));
        assert_eq!(refused.map_err(|e| (e.status, e.code)), Err((403, "AccessDenied")));
        assert!(uploads.verify("PUT", "/__storage/parts/1", &Params(Vec::new())).is_err());
    }

    #[test]
    fn expiry_reads_rfc_3339_and_refuses_anything_else() {
        assert_eq!(expiry(Some("2020-01-01T00:00:00Z")).ok(), Some(1_577_836_800));
        assert!(expiry(Some("2100-01-01T00:00:00Z")).is_ok_and(|t| t <= unix_now() + MAX_URL_LIFE), "a week at most");
        assert!(expiry(Some("tomorrow")).is_err());
        assert!(expiry(None).is_ok_and(|t| t > unix_now()));
    }
}

//! DBFS (`/api/2.0/dbfs/*`) and the Files API (`/api/2.0/fs/*`) over one file store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use crate::api::{
    absolute_path, bool_field, cursor_token, empty, page_body, required_int, required_str, resume_after, str_field,
    ApiError, ApiResult, Body, Params,
};
use crate::schedule::Deadlines;
use crate::state::{now_ms, AppState, Caller};
use crate::storage::{Blob, Budget, Held, Ingest, IngestError, StorageFull};

const MAX_BLOCK: usize = 1024 * 1024;
/// The largest single-shot upload (the Files API's limit for one `PUT`).
pub const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;
/// A DBFS handle left alone this many (emulated) minutes is closed, its
/// data dropped, as DBFS does.
const HANDLE_IDLE_MINUTES: u32 = 10;
/// DBFS handles open at once; past it `create` is refused until some close.
const MAX_OPEN_HANDLES: usize = 1_000;

#[derive(Debug, Clone)]
struct Entry {
    is_dir: bool,
    /// Shared, never copied: a read takes a slice of it out of the lock.
    data: Blob,
    modified: i64,
}

/// Files and directories by absolute path, plus open DBFS upload handles.
#[derive(Debug)]
pub struct FileStore {
    entries: BTreeMap<String, Entry>,
    /// The entries' names against the storage budget (file data counts
    /// apart): an empty directory or file is not free.
    names: Held,
    handles: HashMap<i64, Handle>,
    /// When each handle may next be idle long enough to close (one entry per handle).
    expiring: Deadlines<i64>,
    next_handle: i64,
}

/// A file being written through `dbfs/create`, `add-block` and `close`.
#[derive(Debug)]
struct Handle {
    path: String,
    data: Ingest,
    touched: Instant,
}

/// The answer to a body that could not be stored.
pub(super) fn ingest_error(e: IngestError) -> ApiError {
    e.api_error(|max| {
        ApiError::new(413, "MAX_REQUEST_SIZE_EXCEEDED", format!("The upload exceeds the limit of {max} bytes."))
    })
}

fn dbfs_path(raw: &str) -> ApiResult<String> {
    let path = absolute_path(raw.strip_prefix("dbfs:").unwrap_or(raw))?;
    // Volumes are Unity Catalog's, reached through the Files API with its
    // privilege checks; the DBFS API does not serve them.
    if path == "/Volumes" || path.starts_with("/Volumes/") {
        return Err(ApiError::invalid(format!(
            "The DBFS API does not serve Unity Catalog volumes ({path}): use the Files API."
        )));
    }
    Ok(path)
}

fn missing(path: &str) -> ApiError {
    ApiError::not_found(format!("No file or directory exists on path {path}."))
}

/// What an entry takes besides its data: its name and its record.
fn name_cost(path: &str) -> u64 {
    path.len() as u64 + 64
}

impl FileStore {
    pub fn new(budget: &Arc<Budget>) -> Self {
        FileStore {
            entries: BTreeMap::new(),
            names: budget.hold(),
            handles: HashMap::new(),
            expiring: Deadlines::default(),
            next_handle: 0,
        }
    }

    /// Store `entry` at `path`, counting a new name even past the budget
    /// (callers admit what they add first: see [`Self::admit`]).
    fn put_entry(&mut self, path: String, entry: Entry) {
        if !self.entries.contains_key(&path) {
            self.names.grow_anyway(name_cost(&path));
        }
        self.entries.insert(path, entry);
    }

    /// Take the entry at `path` out, giving its name's count back.
    fn take_entry(&mut self, path: &str) -> Option<Entry> {
        let entry = self.entries.remove(path)?;
        self.names.shrink(name_cost(path));
        Some(entry)
    }

    /// Refuse, before anything changes, names past the storage budget.
    fn admit(&mut self, new_paths: &[String]) -> ApiResult<()> {
        let cost = new_paths.iter().map(|p| name_cost(p)).sum();
        self.names.check_room(cost).map_err(StorageFull::api_error)?;
        Ok(())
    }

    /// What the paths take against the storage budget.
    pub fn name_bytes(&self) -> u64 {
        self.names.bytes()
    }

    fn is_dir(&self, path: &str) -> bool {
        path == "/" || self.entries.get(path).is_some_and(|e| e.is_dir)
    }

    fn mkdirs(&mut self, path: &str) -> ApiResult<()> {
        let mut current = String::new();
        let mut missing = Vec::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            current = format!("{current}/{segment}");
            match self.entries.get(&current) {
                Some(e) if !e.is_dir => {
                    return Err(ApiError::already_exists(format!(
                        "A file or directory already exists at the input path {current}."
                    )))
                }
                Some(_) => {}
                None => missing.push(current.clone()),
            }
        }
        self.admit(&missing)?;
        for dir in missing {
            self.put_entry(dir, Entry { is_dir: true, data: Blob::default(), modified: now_ms() });
        }
        Ok(())
    }

    /// Whether a file may be written at `path`: not over a directory, and
    /// over a file only with `overwrite`.
    fn writable(&self, path: &str, overwrite: bool) -> ApiResult<()> {
        match self.entries.get(path) {
            Some(e) if e.is_dir => Err(ApiError::already_exists(format!("A directory already exists at {path}."))),
            Some(_) if !overwrite => {
                Err(ApiError::already_exists(format!("A file or directory already exists at the input path {path}.")))
            }
            _ => Ok(()),
        }
    }

    fn write(&mut self, path: &str, data: Blob, overwrite: bool) -> ApiResult<()> {
        self.writable(path, overwrite)?;
        if !self.entries.contains_key(path) {
            self.admit(&[path.to_string()])?;
        }
        if let Some(parent) = path.rsplit_once('/').map(|(p, _)| p).filter(|p| !p.is_empty()) {
            self.mkdirs(parent)?;
        }
        self.put_entry(path.to_string(), Entry { is_dir: false, data, modified: now_ms() });
        Ok(())
    }

    /// `root` and everything under it, in path order, from the index: the
    /// cost is the subtree's, not the store's.
    fn tree<'a>(&'a self, root: &str) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        let prefix = if root == "/" { "/".to_string() } else { format!("{root}/") };
        let own = self.entries.get_key_value(root);
        let below = self.entries.range(prefix.clone()..).take_while(move |(p, _)| p.starts_with(&prefix));
        own.into_iter().chain(below)
    }

    /// Take `root` and everything under it out of the store.
    fn take_tree(&mut self, root: &str) -> Vec<(String, Entry)> {
        let paths: Vec<String> = self.tree(root).map(|(p, _)| p.clone()).collect();
        paths.into_iter().filter_map(|p| self.take_entry(&p).map(|e| (p, e))).collect()
    }

    /// Whether `from` and everything under it may move to `to`: no new path
    /// too long, and the longer names within the budget.
    fn check_move(&mut self, from: &str, to: &str) -> ApiResult<()> {
        let (mut count, mut longest) = (0u64, 0usize);
        for (path, _) in self.tree(from) {
            count += 1;
            longest = longest.max(path.len() - from.len());
        }
        if to.len() + longest > crate::api::MAX_PATH_BYTES {
            return Err(ApiError::invalid(format!(
                "Moving {from} to {to} makes paths longer than {} bytes.",
                crate::api::MAX_PATH_BYTES
            )));
        }
        let growth = count.saturating_mul(to.len().saturating_sub(from.len()) as u64);
        self.names.check_room(growth).map_err(StorageFull::api_error)?;
        Ok(())
    }

    /// Move `from` and everything under it to `to` (a volume renamed moves
    /// its files whatever their names: they were admitted already).
    fn move_tree(&mut self, from: &str, to: &str) -> usize {
        let moved = self.take_tree(from);
        let count = moved.len();
        for (path, entry) in moved {
            self.put_entry(format!("{to}{}", &path[from.len()..]), entry);
        }
        count
    }

    /// The entries directly in `dir`, jumping over each child's subtree.
    fn children(&self, dir: &str) -> Vec<(String, Entry)> {
        self.children_after(dir, None).map(|(path, entry)| (path.clone(), entry.clone())).collect()
    }

    /// The entries directly in `dir` whose names sort after `after`, in name
    /// order, read as they are walked: a page of a listing costs its length
    /// and the subtrees it jumps over, not the whole directory.
    fn children_after<'a>(&'a self, dir: &str, after: Option<&str>) -> impl Iterator<Item = (&'a String, &'a Entry)> {
        crate::index::children_after(&self.entries, dir, after)
    }

    fn remove(&mut self, path: &str, recursive: bool) -> ApiResult<()> {
        if !self.entries.contains_key(path) {
            return Err(missing(path));
        }
        if !recursive && self.tree(path).nth(1).is_some() {
            return Err(ApiError::new(
                400,
                "IO_ERROR",
                format!("Directory {path} is not empty. Use recursive delete."),
            ));
        }
        self.take_tree(path);
        Ok(())
    }
}

/// The Files API's view of the store: its own error codes over DBFS's.
impl FileStore {
    /// [`Self::writable`] with the Files API's 409 for an existing file.
    pub(super) fn check_writable(&self, path: &str, overwrite: bool) -> ApiResult<()> {
        self.writable(path, overwrite).map_err(files_conflict)
    }

    /// Write a whole file (single-shot or a completed multipart upload).
    pub(super) fn store(&mut self, path: &str, data: Blob, overwrite: bool) -> ApiResult<()> {
        self.write(path, data, overwrite).map_err(files_conflict)
    }

    /// DBFS write handles created and neither closed nor expired.
    pub fn open_handles(&self, minute: Duration) -> usize {
        let now = Instant::now();
        self.handles.values().filter(|h| !h.idle(now, minute)).count()
    }

    /// Close the handles left idle too long (their data goes), found from
    /// their deadlines; those used since are looked at again later.
    pub fn expire_handles(&mut self, minute: Duration) {
        let now = Instant::now();
        let idle_for = minute.saturating_mul(HANDLE_IDLE_MINUTES);
        for (_, id) in self.expiring.due(now) {
            let Some(handle) = self.handles.get(&id) else { continue };
            match handle.touched.checked_add(idle_for).filter(|at| *at > now) {
                Some(at) => self.expiring.schedule(at, id),
                None => {
                    self.handles.remove(&id);
                }
            }
        }
    }

    fn open_handle(&mut self, path: String, data: Ingest, minute: Duration) -> ApiResult<i64> {
        if self.handles.len() >= MAX_OPEN_HANDLES {
            return Err(ApiError::new(
                400,
                "RESOURCE_EXHAUSTED",
                format!("Too many open DBFS handles (at most {MAX_OPEN_HANDLES}); close some first."),
            ));
        }
        self.next_handle += 1;
        let id = self.next_handle;
        let now = Instant::now();
        self.handles.insert(id, Handle { path, data, touched: now });
        self.expiring.schedule(now.checked_add(minute.saturating_mul(HANDLE_IDLE_MINUTES)).unwrap_or(now), id);
        Ok(id)
    }

    fn handle(&mut self, handle: i64, minute: Duration) -> ApiResult<&mut Handle> {
        let now = Instant::now();
        if self.handles.get(&handle).is_some_and(|h| h.idle(now, minute)) {
            self.handles.remove(&handle);
        }
        let open = self.handles.get_mut(&handle).ok_or_else(|| no_handle(handle))?;
        open.touched = now;
        Ok(open)
    }

    /// The file at `path`: its data (shared, not copied) and modification time.
    pub(super) fn file(&self, path: &str) -> ApiResult<(Blob, i64)> {
        let e = self.entries.get(path).filter(|e| !e.is_dir).ok_or_else(fs_not_found)?;
        Ok((e.data.clone(), e.modified))
    }
}

impl Handle {
    fn idle(&self, now: Instant, minute: Duration) -> bool {
        now.duration_since(self.touched) >= minute.saturating_mul(HANDLE_IDLE_MINUTES)
    }
}

fn no_handle(handle: i64) -> ApiError {
    ApiError::not_found(format!("Handle {handle} does not exist."))
}

fn files_conflict(e: ApiError) -> ApiError {
    if e.error_code == "RESOURCE_ALREADY_EXISTS" {
        ApiError::new(409, "ALREADY_EXISTS", "The file being created already exists.")
    } else {
        e
    }
}

fn status(path: &str, e: &Entry) -> Value {
    json!({"path": path, "is_dir": e.is_dir, "file_size": if e.is_dir { 0 } else { e.data.len() }, "modification_time": e.modified})
}

/// The DBFS and Files service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "dbfs"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }

    fn on_event(&self, world: &mut crate::state::World, event: &super::Event) {
        match event {
            super::Event::VolumeDeleted { path } => {
                world.files.take_tree(path);
            }
            super::Event::VolumeRenamed { from, to } => {
                world.files.move_tree(from, to);
            }
            _ => {}
        }
    }

    /// Handles left idle are closed as their time runs out, so their data
    /// stops counting against the storage budget.
    fn advance(&self, world: &mut crate::state::World, _now: Instant) {
        let minute = world.settings.minute();
        world.files.expire_handles(minute);
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/dbfs/get-status", get(get_status))
        .route("/api/2.0/dbfs/list", get(list))
        .route("/api/2.0/dbfs/read", get(read))
        .route("/api/2.0/dbfs/put", post(put))
        .route("/api/2.0/dbfs/create", post(create))
        .route("/api/2.0/dbfs/add-block", post(add_block))
        .route("/api/2.0/dbfs/close", post(close))
        .route("/api/2.0/dbfs/mkdirs", post(mkdirs))
        .route("/api/2.0/dbfs/delete", post(delete))
        .route("/api/2.0/dbfs/move", post(move_file))
        .route("/api/2.0/fs/files/{*path}", any(files))
        .route("/api/2.0/fs/directories/{*path}", any(directories))
}

async fn get_status(State(s): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let path = dbfs_path(params.required("path")?)?;
    s.with(|w| {
        if path == "/" {
            return Ok(Json(json!({"path": "/", "is_dir": true, "file_size": 0})));
        }
        w.files.entries.get(&path).map(|e| Json(status(&path, e))).ok_or_else(|| missing(&path))
    })
}

async fn list(State(s): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let path = dbfs_path(params.required("path")?)?;
    s.with(|w| {
        if !w.files.is_dir(&path) {
            let e = w.files.entries.get(&path).ok_or_else(|| missing(&path))?;
            return Ok(Json(json!({"files": [status(&path, e)]})));
        }
        let files: Vec<Value> = w.files.children(&path).iter().map(|(p, e)| status(p, e)).collect();
        Ok(Json(if files.is_empty() { json!({}) } else { json!({"files": files}) }))
    })
}

async fn read(State(s): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let path = dbfs_path(params.required("path")?)?;
    let offset = params.int("offset")?.unwrap_or(0).max(0) as usize;
    let length = params.int("length")?.unwrap_or(512 * 1024).max(0) as usize;
    if length > MAX_BLOCK {
        return Err(ApiError::new(
            400,
            "MAX_READ_SIZE_EXCEEDED",
            format!("Cannot read more than {MAX_BLOCK} bytes at once."),
        ));
    }
    let data = s.with(|w| {
        let e = w.files.entries.get(&path).ok_or_else(|| missing(&path))?;
        if e.is_dir {
            return Err(ApiError::invalid(format!("Path {path} is a directory.")));
        }
        Ok(e.data.clone())
    })?;
    // Copied out of the lock: at most a block.
    let chunk = data.copy_range(offset as u64, (offset as u64).saturating_add(length as u64));
    Ok(Json(json!({"bytes_read": chunk.len(), "data": base64::engine::general_purpose::STANDARD.encode(&chunk)})))
}

fn decode_block(body: &Value, field: &str) -> ApiResult<Bytes> {
    let data = base64::engine::general_purpose::STANDARD
        .decode(str_field(body, field)?.unwrap_or_default())
        .map_err(|_| ApiError::invalid(format!("{field} is not valid base64")))?;
    if data.len() > MAX_BLOCK {
        return Err(ApiError::new(400, "MAX_BLOCK_SIZE_EXCEEDED", format!("The block exceeds {MAX_BLOCK} bytes.")));
    }
    Ok(data.into())
}

async fn put(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult {
    let path = dbfs_path(required_str(&body, "path")?)?;
    let mut data = Ingest::new(&s.budget, MAX_BLOCK as u64);
    data.push(decode_block(&body, "contents")?).map_err(ingest_error)?;
    let overwrite = bool_field(&body, "overwrite")?.unwrap_or(false);
    s.with(|w| w.files.write(&path, data.finish(), overwrite))?;
    empty()
}

async fn create(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult {
    let path = dbfs_path(required_str(&body, "path")?)?;
    let overwrite = bool_field(&body, "overwrite")?.unwrap_or(false);
    let minute = s.settings.minute();
    s.with(|w| {
        if w.files.entries.contains_key(&path) && !overwrite {
            return Err(ApiError::already_exists(format!(
                "A file or directory already exists at the input path {path}."
            )));
        }
        let data = Ingest::new(&s.budget, u64::MAX);
        let handle = w.files.open_handle(path, data, minute)?;
        Ok(Json(json!({"handle": handle})))
    })
}

async fn add_block(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult {
    let handle = required_int(&body, "handle")?;
    // Decoded out of the lock; under it the block is only appended.
    let data = decode_block(&body, "data")?;
    let minute = s.settings.minute();
    s.with(|w| w.files.handle(handle, minute)?.data.push(data).map_err(ingest_error))?;
    empty()
}

async fn close(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult {
    let handle = required_int(&body, "handle")?;
    let minute = s.settings.minute();
    s.with(|w| {
        let path = w.files.handle(handle, minute)?.path.clone();
        // Checked before the handle is taken: a refusal leaves the upload to retry.
        w.files.writable(&path, true)?;
        if !w.files.entries.contains_key(&path) {
            w.files.admit(std::slice::from_ref(&path))?;
        }
        let open = w.files.handles.remove(&handle).ok_or_else(|| no_handle(handle))?;
        w.files.write(&open.path, open.data.finish(), true)
    })?;
    empty()
}

async fn mkdirs(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult {
    let path = dbfs_path(required_str(&body, "path")?)?;
    s.with(|w| w.files.mkdirs(&path))?;
    empty()
}

async fn delete(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult {
    let path = dbfs_path(required_str(&body, "path")?)?;
    let recursive = bool_field(&body, "recursive")?.unwrap_or(false);
    // Deleting something absent succeeds, as DBFS does.
    s.with(|w| match w.files.remove(&path, recursive) {
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(()),
        other => other,
    })?;
    empty()
}

async fn move_file(State(s): State<AppState>, Body(body): Body<Value>) -> ApiResult {
    let from = dbfs_path(required_str(&body, "source_path")?)?;
    let to = dbfs_path(required_str(&body, "destination_path")?)?;
    s.with(|w| {
        if w.files.entries.contains_key(&to) {
            return Err(ApiError::already_exists(format!(
                "A file or directory already exists at the input path {to}."
            )));
        }
        if !w.files.entries.contains_key(&from) {
            return Err(missing(&from));
        }
        if to.starts_with(&format!("{from}/")) {
            return Err(ApiError::invalid(format!("Cannot move {from} into itself ({to}).")));
        }
        w.files.check_move(&from, &to)?;
        w.files.move_tree(&from, &to);
        Ok(())
    })?;
    empty()
}

fn fs_not_found() -> ApiError {
    ApiError::new(404, "NOT_FOUND", "The file being accessed is not found.")
}

/// An HTTP date (RFC 9110 IMF-fixdate), as Databricks sends it.
const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Whether `If-Unmodified-Since` (when sent and readable) rules the file
/// out: it changed after that second. An unreadable date is ignored, as
/// HTTP has it.
fn modified_since(headers: &header::HeaderMap, modified_ms: i64) -> bool {
    let since = headers.get(header::IF_UNMODIFIED_SINCE).and_then(|v| v.to_str().ok());
    since
        .and_then(|s| time::PrimitiveDateTime::parse(s.trim(), HTTP_DATE).ok())
        .is_some_and(|at| modified_ms / 1000 > at.assume_utc().unix_timestamp())
}

fn octets(data: axum::body::Body, modified: i64) -> Response {
    let last_modified = time::OffsetDateTime::from_unix_timestamp(modified / 1000)
        .ok()
        .and_then(|t| t.format(HTTP_DATE).ok())
        .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::LAST_MODIFIED, last_modified),
            (header::ACCEPT_RANGES, "bytes".to_string()),
        ],
        data,
    )
        .into_response()
}

/// The byte range a `Range` header asks of a file of `len` bytes: `None`
/// for the whole file (no header, or one this server ignores, as HTTP
/// allows), `Err` when it lies wholly past the end.
fn requested_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    // Several ranges at once would need a multipart answer: sent whole instead.
    let Some((first, last)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => (start, end.min(len.saturating_sub(1))),
        (Ok(start), Err(_)) if last.is_empty() => (start, len.saturating_sub(1)),
        // `bytes=-N`: the last N bytes.
        (Err(_), Ok(suffix)) if first.is_empty() && suffix > 0 => (len.saturating_sub(suffix), len.saturating_sub(1)),
        _ => return Ok(None),
    };
    if range.0 >= len {
        return Err(());
    }
    Ok(Some(range))
}

/// A file's bytes for GET (the whole file or the `Range` asked for) or its
/// metadata for HEAD: shared by the Files API and presigned downloads.
pub(super) fn serve_file(
    s: &AppState,
    path: &str,
    method: &Method,
    headers: &header::HeaderMap,
) -> Result<Response, ApiError> {
    let (data, modified) = s.with(|w| w.files.file(path))?;
    if modified_since(headers, modified) {
        return Err(ApiError::new(
            412,
            "PRECONDITION_FAILED",
            "The file has been modified since the time given in If-Unmodified-Since.",
        ));
    }
    let len = data.len();
    let length = |response: &mut Response, bytes: u64| {
        response.headers_mut().insert(header::CONTENT_LENGTH, bytes.into());
    };
    if method == Method::HEAD {
        let mut response = octets(axum::body::Body::empty(), modified);
        length(&mut response, len);
        return Ok(response);
    }
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    match requested_range(range, len) {
        Ok(None) => {
            let mut response = octets(data.body(0, len), modified);
            length(&mut response, len);
            Ok(response)
        }
        Ok(Some((start, end))) => {
            let mut response = octets(data.body(start, end + 1), modified);
            length(&mut response, end + 1 - start);
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let content_range = format!("bytes {start}-{end}/{}", data.len());
            if let Ok(value) = header::HeaderValue::from_str(&content_range) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            Ok(response)
        }
        Err(()) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = header::HeaderValue::from_str(&format!("bytes */{}", data.len())) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            Ok(response)
        }
    }
}

/// The path a Files API URL names. Runs of `/` count as one, as the real
/// service reads `/fs/files//Volumes/a//b`; `.` and `..` stay refused.
fn files_api_path(raw: &str) -> ApiResult<String> {
    let mut collapsed = String::with_capacity(raw.len() + 1);
    for segment in raw.split('/').filter(|s| !s.is_empty()) {
        collapsed.push('/');
        collapsed.push_str(segment);
    }
    let path = absolute_path(if collapsed.is_empty() { "/" } else { &collapsed })?;
    Ok(lowercase_volume(path))
}

/// `/Volumes/c/s/v/rest`: catalog, schema and volume names are case
/// insensitive (stored lower case); the rest of the path is not.
fn lowercase_volume(path: String) -> String {
    let Some(rest) = path.strip_prefix("/Volumes/") else { return path };
    let mut parts = rest.splitn(4, '/');
    let names: Vec<String> = parts.by_ref().take(3).map(str::to_lowercase).collect();
    let tail = parts.next().map(|t| format!("/{t}")).unwrap_or_default();
    format!("/Volumes/{}{tail}", names.join("/"))
}

/// `/api/2.0/fs/files{path}`: PUT upload, GET download, HEAD metadata,
/// DELETE, and POST for the multipart upload actions.
async fn files(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    params: Params,
    request: Request,
) -> Result<Response, ApiError> {
    let path = files_api_path(&raw)?;
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
    s.with(|w| super::catalog::check_volume_path(w, &path, &caller, writes))?;
    match *request.method() {
        Method::PUT => {
            let overwrite = params.bool("overwrite")?.unwrap_or(true);
            // Refused before the body is read when it may not be written.
            s.with(|w| w.files.check_writable(&path, overwrite))?;
            let data = Ingest::new(&s.budget, MAX_SINGLE_PUT).read(request.into_body()).await.map_err(ingest_error)?;
            s.with(|w| w.files.store(&path, data, overwrite))?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::GET | Method::HEAD => serve_file(&s, &path, request.method(), request.headers()),
        Method::POST => super::uploads::file_action(&s, &path, &params, request).await,
        Method::DELETE => {
            s.with(|w| {
                w.files.entries.get(&path).filter(|e| !e.is_dir).ok_or_else(fs_not_found)?;
                w.files.take_entry(&path);
                Ok::<_, ApiError>(())
            })?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(ApiError::new(405, "BAD_REQUEST", "Method not allowed")),
    }
}

/// `/api/2.0/fs/directories{path}`: PUT create, GET list, HEAD check, DELETE (empty only).
async fn directories(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    params: Params,
    method: Method,
) -> Result<Response, ApiError> {
    let path = files_api_path(&raw)?;
    let writes = !matches!(method, Method::GET | Method::HEAD);
    s.with(|w| super::catalog::check_volume_path(w, &path, &caller, writes))?;
    match method {
        Method::PUT => {
            s.with(|w| w.files.mkdirs(&path))?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::HEAD => {
            s.with(|w| if w.files.is_dir(&path) { Ok(()) } else { Err(fs_not_found()) })?;
            Ok(StatusCode::OK.into_response())
        }
        Method::GET => {
            let size = params.int("page_size")?.unwrap_or(1000).clamp(1, 1000) as usize;
            let after = resume_after(&params, "files")?;
            s.with(|w| {
                if !w.files.is_dir(&path) {
                    return Err(fs_not_found());
                }
                let mut children = w.files.children_after(&path, after.as_deref()).peekable();
                let (mut contents, mut last) = (Vec::new(), None);
                for (p, e) in children.by_ref().take(size) {
                    let name = p.rsplit('/').next().unwrap_or_default();
                    let mut item =
                        json!({"path": p, "name": name, "is_directory": e.is_dir, "last_modified": e.modified});
                    if !e.is_dir {
                        item["file_size"] = json!(e.data.len());
                    }
                    contents.push(item);
                    last = Some(name);
                }
                let next = last.filter(|_| children.peek().is_some()).map(|name| cursor_token("files", name));
                Ok(Json(page_body(json!({}), "contents", contents, next)).into_response())
            })
        }
        Method::DELETE => {
            s.with(|w| {
                if !w.files.is_dir(&path) {
                    return Err(fs_not_found());
                }
                if w.files.children_after(&path, None).next().is_some() {
                    return Err(ApiError::new(409, "RESOURCE_CONFLICT", "The directory being deleted is not empty."));
                }
                w.files.take_entry(&path);
                Ok(())
            })?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(ApiError::new(405, "BAD_REQUEST", "Method not allowed")),
    }
}

#[cfg(test)]
mod tests {
    use super::{modified_since, requested_range, FileStore};
    use crate::storage::Blob;
    use axum::http::{header, HeaderMap, HeaderValue};

    fn names(store: &FileStore, dir: &str) -> Vec<String> {
        store.children(dir).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn children_skip_subtrees_but_not_siblings_that_sort_among_them() {
        let mut store = FileStore::new(&crate::storage::Budget::new(u64::MAX));
        for path in ["/d/x/deep/er", "/d/x-1", "/d/x.txt", "/d/x/y", "/d/z", "/e/other", "/d0"] {
            store.write(path, Blob::default(), false).expect("write");
        }
        assert_eq!(names(&store, "/d"), ["/d/x", "/d/x-1", "/d/x.txt", "/d/z"]);
        assert_eq!(names(&store, "/"), ["/d", "/d0", "/e"]);
        assert_eq!(names(&store, "/d/x"), ["/d/x/deep", "/d/x/y"]);

        assert_eq!(store.move_tree("/d/x", "/m"), 4, "the folder and all below it");
        assert_eq!(names(&store, "/d"), ["/d/x-1", "/d/x.txt", "/d/z"]);
        assert_eq!(names(&store, "/m/deep"), ["/m/deep/er"]);
        assert!(store.remove("/d", false).is_err(), "not empty");
        store.remove("/d", true).expect("recursive");
        assert_eq!(names(&store, "/"), ["/d0", "/e", "/m"]);
    }

    #[test]
    fn if_unmodified_since_rules_out_a_file_changed_after_it() {
        let with = |date: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_UNMODIFIED_SINCE, HeaderValue::from_static(date));
            headers
        };
        // 2026-12-03 12:00:00 UTC, and half a second later.
        let at = 1_796_299_200_000;
        assert!(!modified_since(&with("Thu, 03 Dec 2026 12:00:00 GMT"), at + 500), "same second");
        assert!(modified_since(&with("Thu, 03 Dec 2026 11:59:59 GMT"), at));
        assert!(!modified_since(&with("not a date"), at));
        assert!(!modified_since(&HeaderMap::new(), at));
    }

    #[test]
    fn ranges_are_read_as_http_has_them_and_hostile_ones_never_panic() {
        let len = 100;
        assert_eq!(requested_range(None, len), Ok(None));
        assert_eq!(requested_range(Some("bytes=10-"), len), Ok(Some((10, 99))));
        assert_eq!(requested_range(Some("bytes=10-19"), len), Ok(Some((10, 19))));
        assert_eq!(requested_range(Some("bytes=90-1000"), len), Ok(Some((90, 99))));
        assert_eq!(requested_range(Some("bytes=-5"), len), Ok(Some((95, 99))));
        assert_eq!(requested_range(Some("bytes=-500"), len), Ok(Some((0, 99))));
        assert_eq!(requested_range(Some("bytes=100-"), len), Err(()));
        assert_eq!(requested_range(Some("bytes=18446744073709551615-"), len), Err(()));
        assert_eq!(requested_range(Some("bytes=0-18446744073709551615"), len), Ok(Some((0, 99))));
        // Ignored, so the whole file is sent: malformed, reversed, several, empty suffix, other units.
        for ignored in ["bytes=x-", "bytes=20-10", "bytes=0-1,5-6", "bytes=-0", "items=0-1", "bytes=--"] {
            assert_eq!(requested_range(Some(ignored), len), Ok(None), "{ignored}");
        }
        assert_eq!(requested_range(Some("bytes=0-"), 0), Err(()));
    }
}

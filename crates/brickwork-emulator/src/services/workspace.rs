//! Workspace objects: notebooks, files and directories under `/`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::api::{absolute_path, bool_field, empty, required_str, str_field, ApiError, ApiResult, Body, Params};
use crate::services::permissions;
use crate::state::{now_ms, AppState, Caller, World};
use crate::storage::{Budget, Held, Ingest, StorageFull};

/// Largest importable notebook (and base64 import), as the real service enforces.
const MAX_OBJECT_BYTES: usize = 10 * 1024 * 1024;
/// Largest workspace file a multipart import may carry, as the real service has it.
const MAX_FILE_BYTES: usize = 500 * 1024 * 1024;
/// Room for a multipart import's other fields and boundaries.
const FORM_OVERHEAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Object {
    pub kind: &'static str,
    pub language: Option<String>,
    pub content: Bytes,
    /// The content's count against the storage budget, given back when the
    /// last copy of the object goes.
    held: Option<Arc<Held>>,
    pub object_id: i64,
    pub created_at: i64,
    pub modified_at: i64,
}

impl Object {
    /// Directories and Git folders (repos) hold other objects.
    pub fn holds_objects(&self) -> bool {
        matches!(self.kind, "DIRECTORY" | "REPO")
    }
}

/// All objects by canonical path, and the paths by object id.
#[derive(Debug)]
pub struct Tree {
    objects: BTreeMap<String, Object>,
    paths: HashMap<i64, String>,
    next_id: i64,
    /// The objects' paths against the storage budget (contents count
    /// apart): an empty folder is not free.
    names: Held,
}

/// What an object takes besides its content: its path (twice: by path and
/// by id) and its record.
fn name_cost(path: &str) -> u64 {
    2 * path.len() as u64 + 96
}

/// A valid absolute path; `/Workspace/x` is the same object as `/x`.
pub fn canonical(path: &str) -> ApiResult<String> {
    let joined = absolute_path(path)?;
    Ok(match joined.strip_prefix("/Workspace") {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => joined,
    })
}

fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(i) if i > 0 => Some(&path[..i]),
        _ => None,
    }
}

impl Tree {
    pub fn new(budget: &Arc<Budget>) -> Self {
        Tree { objects: BTreeMap::new(), paths: HashMap::new(), next_id: 0, names: budget.hold() }
    }

    /// Store `object` at `path` (a new one admitted first by [`Self::admit`]).
    fn insert(&mut self, path: String, object: Object) {
        if !self.objects.contains_key(&path) {
            self.names.grow_anyway(name_cost(&path));
        }
        self.paths.insert(object.object_id, path.clone());
        self.objects.insert(path, object);
    }

    /// Refuse, before anything changes, new paths past the storage budget.
    fn admit<'a>(&mut self, new_paths: impl IntoIterator<Item = &'a String>) -> ApiResult<()> {
        let cost = new_paths.into_iter().map(|p| name_cost(p)).sum();
        self.names.check_room(cost).map_err(StorageFull::api_error)?;
        Ok(())
    }

    fn object(&mut self, kind: &'static str, language: Option<String>, content: Bytes) -> Object {
        self.next_id += 1;
        let now = now_ms();
        // Workspace object ids are as long as real ones (16 digits).
        let object_id = 2_000_000_000_000_000 + self.next_id;
        Object { kind, language, content, held: None, object_id, created_at: now, modified_at: now }
    }

    /// `mkdir -p`; fails when a non-directory is in the way.
    pub fn mkdirs(&mut self, path: &str) -> ApiResult<()> {
        let mut current = String::new();
        let mut missing = Vec::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            current = format!("{current}/{segment}");
            match self.objects.get(&current) {
                Some(o) if !o.holds_objects() => {
                    return Err(ApiError::already_exists(format!(
                        "Path ({current}) already exists and is not a directory."
                    )))
                }
                Some(_) => {}
                None => missing.push(current.clone()),
            }
        }
        self.admit(&missing)?;
        for dir in missing {
            let object = self.object("DIRECTORY", None, Bytes::new());
            self.insert(dir, object);
        }
        Ok(())
    }

    pub fn ensure_home(&mut self, user: &str) {
        let _ = self.mkdirs(&format!("/Users/{user}"));
        let _ = self.mkdirs("/Shared");
    }

    /// What the paths take against the storage budget.
    pub fn name_bytes(&self) -> u64 {
        self.names.bytes()
    }

    fn is_dir(&self, path: &str) -> bool {
        path == "/" || self.objects.get(path).is_some_and(Object::holds_objects)
    }

    fn get(&self, path: &str) -> ApiResult<&Object> {
        self.objects.get(path).ok_or_else(|| ApiError::not_found(format!("Path ({path}) doesn't exist.")))
    }

    /// Store a notebook or file at `path` (the parent must exist).
    pub fn put(
        &mut self,
        path: &str,
        kind: &'static str,
        language: Option<String>,
        content: Bytes,
        held: Held,
        overwrite: bool,
    ) -> ApiResult<()> {
        if let Some(dir) = parent(path) {
            if !self.is_dir(dir) {
                return Err(ApiError::not_found(format!("The parent folder ({dir}) does not exist.")));
            }
        }
        match self.objects.get(path) {
            Some(o) if o.holds_objects() => {
                return Err(ApiError::already_exists(format!("Path ({path}) already exists and is a directory.")))
            }
            Some(_) if !overwrite => return Err(ApiError::already_exists(format!("Path ({path}) already exists."))),
            _ => {}
        }
        let created = self.objects.get(path).map(|o| (o.object_id, o.created_at));
        if created.is_none() {
            self.admit([&path.to_string()])?;
        }
        let mut object = self.object(kind, language, content);
        object.held = Some(Arc::new(held));
        if let Some((id, created_at)) = created {
            object.object_id = id;
            object.created_at = created_at;
        }
        self.insert(path.to_string(), object);
        Ok(())
    }

    /// Make a Git folder at `path` (its parent folders too); answers its id.
    pub fn put_repo(&mut self, path: &str) -> ApiResult<i64> {
        if self.objects.contains_key(path) {
            return Err(ApiError::already_exists(format!("Path ({path}) already exists.")));
        }
        self.admit([&path.to_string()])?;
        if let Some(dir) = parent(path) {
            self.mkdirs(dir)?;
        }
        let repo = self.object("REPO", None, Bytes::new());
        let id = repo.object_id;
        self.insert(path.to_string(), repo);
        Ok(id)
    }

    /// Remove the object at `path` and everything under it (a Git folder
    /// deleted through the Repos API); answers what went, as
    /// [`remove_tree`](Self::remove_tree) does.
    pub fn remove(&mut self, path: &str) -> Vec<String> {
        self.remove_tree(path)
    }

    /// The path of the object with this id.
    pub fn path_of(&self, object_id: i64) -> Option<&str> {
        self.paths.get(&object_id).map(String::as_str)
    }

    /// The id of the object at `path`.
    pub fn id_of(&self, path: &str) -> Option<i64> {
        self.objects.get(path).map(|o| o.object_id)
    }

    /// `NOTEBOOK`, `FILE` or `DIRECTORY`, for the object at `path`.
    pub fn kind_at(&self, path: &str) -> Option<&'static str> {
        self.objects.get(path).map(|o| o.kind)
    }

    /// Remove `path` and everything under it; answers the objects removed,
    /// as the Permissions API names them (`/notebooks/123`).
    fn remove_tree(&mut self, path: &str) -> Vec<String> {
        // The object itself, then the keys under `path/`: a sibling such as
        // `path-b` sorts between the two and must not end the walk.
        let prefix = format!("{path}/");
        let below = self.objects.range(prefix.clone()..).map(|(p, _)| p).take_while(|p| p.starts_with(&prefix));
        let gone: Vec<String> =
            self.objects.get_key_value(path).map(|(p, _)| p).into_iter().chain(below).cloned().collect();
        let mut ids = Vec::new();
        for p in gone {
            if let Some(object) = self.objects.remove(&p) {
                self.paths.remove(&object.object_id);
                self.names.shrink(name_cost(&p));
                let segment = match object.kind {
                    "NOTEBOOK" => "notebooks",
                    "DIRECTORY" => "directories",
                    "REPO" => "repos",
                    _ => "files",
                };
                ids.push(format!("/{segment}/{}", object.object_id));
            }
        }
        ids
    }

    /// Source and language of the notebook at `path`.
    pub fn notebook(&self, path: &str) -> Option<(Option<&str>, Cow<'_, str>)> {
        let path = canonical(path).ok()?;
        let object = self.objects.get(&path).filter(|o| o.kind == "NOTEBOOK")?;
        // Read in place: the executor runs it under the lock, and a copy of
        // a large notebook there would cost every other request.
        Some((object.language.as_deref(), String::from_utf8_lossy(&object.content)))
    }

    /// Source of a workspace file (for `spark_python_task`), read in place.
    pub fn file(&self, path: &str) -> Option<Cow<'_, str>> {
        let path = canonical(path).ok()?;
        let object = self.objects.get(&path).filter(|o| !o.holds_objects())?;
        Some(String::from_utf8_lossy(&object.content))
    }

    fn info(&self, path: &str, o: &Object) -> Value {
        let mut info = json!({
            "object_type": o.kind, "path": path, "object_id": o.object_id, "resource_id": o.object_id.to_string(),
            "created_at": o.created_at, "modified_at": o.modified_at,
        });
        if let Some(lang) = &o.language {
            info["language"] = json!(lang);
        }
        if o.kind == "FILE" {
            info["size"] = json!(o.content.len());
        }
        info
    }

    /// The objects directly in `dir`, stepping over their subtrees.
    fn children(&self, dir: &str) -> Vec<(&String, &Object)> {
        crate::index::children_after(&self.objects, dir, None).collect()
    }
}

/// `Ok` when `caller` holds `level` on the object at `path`, or, for a
/// path not there yet, on the nearest folder above it (where it would be
/// made). The root and `/Users` are readable by all and writable by admins.
fn may(w: &World, path: &str, caller: &Caller, level: &str) -> ApiResult<()> {
    if caller.admin || permissions::owns_by_place(path, &caller.user_name) {
        return Ok(());
    }
    let mut at = path.to_string();
    loop {
        if let Some(object) = w.workspace.objects.get(&at) {
            let kind = match object.kind {
                "NOTEBOOK" => &permissions::NOTEBOOKS,
                "DIRECTORY" => &permissions::DIRECTORIES,
                "REPO" => &permissions::REPOS,
                _ => &permissions::FILES,
            };
            let reading = level == "CAN_READ";
            let open = reading && (at == "/Users" || at == "/Shared");
            if open || permissions::allows(w, kind, &object.object_id.to_string(), caller, level) {
                return Ok(());
            }
            break;
        }
        match parent(&at) {
            Some(up) => at = up.to_string(),
            // The root: anyone reads it, only admins write to it.
            None if level == "CAN_READ" => return Ok(()),
            None => break,
        }
    }
    Err(ApiError::permission_denied(format!(
        "User {} does not have {} permissions on {path}.",
        caller.user_name,
        level.trim_start_matches("CAN_").to_lowercase()
    )))
}

/// `Ok` when `caller` may read the object at `path`.
pub fn may_read(w: &World, path: &str, caller: &Caller) -> ApiResult<()> {
    let path = canonical(path)?;
    may(w, &path, caller, "CAN_READ")
}

/// `Ok` when `caller` may make or change objects at `path`.
pub fn may_write(w: &World, path: &str, caller: &Caller) -> ApiResult<()> {
    may(w, path, caller, "CAN_EDIT")
}

/// The Workspace service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "workspace"
    }

    fn routes(&self) -> Router<AppState> {
        routes()
    }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/2.0/workspace/import",
            post(import).layer(DefaultBodyLimit::max(MAX_FILE_BYTES + FORM_OVERHEAD_BYTES)),
        )
        .route("/api/2.0/workspace/export", get(export))
        .route("/api/2.0/workspace/list", get(list))
        .route("/api/2.0/workspace/get-status", get(get_status))
        .route("/api/2.0/workspace/mkdirs", post(mkdirs))
        .route("/api/2.0/workspace/delete", post(delete))
}

const NOTEBOOK_HEADERS: &[(&str, &str, &str)] = &[
    ("# Databricks notebook source", "PYTHON", ".py"),
    ("-- Databricks notebook source", "SQL", ".sql"),
    ("// Databricks notebook source", "SCALA", ".scala"),
];

/// `workspace/import` as JSON (`content` in base64, up to 10 MB) or as
/// `multipart/form-data` (what the official SDKs' `workspace.upload`
/// sends: the fields as text, `content` as a file part, files up to 500 MB).
async fn import(State(s): State<AppState>, Extension(caller): Extension<Caller>, request: Request) -> ApiResult {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    let (body, content, held) = if multipart {
        let form = Multipart::from_request(request, &s).await.map_err(|e| ApiError::malformed(e.body_text()))?;
        import_form(form, &s.budget).await?
    } else {
        let Body(body) = Body::<Value>::from_request(request, &s).await?;
        let content = match str_field(&body, "content")? {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| ApiError::invalid("content is not valid base64"))?,
            None => Vec::new(),
        };
        if content.len() > MAX_OBJECT_BYTES {
            return Err(too_large());
        }
        let held = s.budget.hold_exactly(content.len() as u64).map_err(StorageFull::api_error)?;
        (body, Bytes::from(content), held)
    };
    let path = canonical(required_str(&body, "path")?)?;
    let format = str_field(&body, "format")?.unwrap_or("SOURCE").to_ascii_uppercase();
    let language = str_field(&body, "language")?.map(str::to_ascii_uppercase);
    let overwrite = bool_field(&body, "overwrite")?.unwrap_or(false);
    let (path, kind, language) = match format.as_str() {
        "SOURCE" => match language {
            Some(lang) => (path, "NOTEBOOK", Some(lang)),
            None => {
                return Err(ApiError::invalid(
                    "The language field is required when importing a notebook in SOURCE format.",
                ))
            }
        },
        "AUTO" => {
            let text = String::from_utf8_lossy(&content[..content.len().min(64)]);
            match NOTEBOOK_HEADERS.iter().find(|(h, ..)| text.starts_with(h)) {
                Some((_, lang, ext)) => {
                    // `dir/.py` keeps its name: stripping would leave `dir/`.
                    let stripped = path.strip_suffix(ext).filter(|p| !p.ends_with('/')).map(str::to_string);
                    let stripped = stripped.unwrap_or(path);
                    (stripped, "NOTEBOOK", Some(lang.to_string()))
                }
                None => (path, "FILE", None),
            }
        }
        "RAW" => (path, "FILE", None),
        "JUPYTER" | "DBC" | "HTML" | "R_MARKDOWN" => {
            (path, "NOTEBOOK", Some(language.unwrap_or_else(|| "PYTHON".into())))
        }
        other => return Err(ApiError::invalid(format!("Invalid format: {other}"))),
    };
    if kind == "NOTEBOOK" && content.len() > MAX_OBJECT_BYTES {
        return Err(too_large());
    }
    s.with(|w| {
        may(w, &path, &caller, "CAN_EDIT")?;
        let new = w.workspace.id_of(&path).is_none();
        w.workspace.put(&path, kind, language, content, held, overwrite)?;
        if let Some(id) = w.workspace.id_of(&path).filter(|_| new && !caller.admin) {
            let kind = if kind == "NOTEBOOK" { &permissions::NOTEBOOKS } else { &permissions::FILES };
            permissions::created(w, kind, &id.to_string(), &caller);
        }
        Ok::<_, ApiError>(())
    })?;
    empty()
}

/// A multipart text field of at most 64 KiB: a path or a flag, read by the
/// chunk so that a hostile one is refused without being gathered whole.
async fn short_text(field: &mut axum::extract::multipart::Field<'_>) -> ApiResult<String> {
    const MAX: usize = 64 * 1024;
    let name = field.name().unwrap_or_default().to_string();
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| ApiError::malformed(e.body_text()))? {
        if text.len() + chunk.len() > MAX {
            return Err(ApiError::invalid(format!("The {name} field is longer than {MAX} bytes.")));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text).map_err(|_| ApiError::invalid(format!("The {name} field is not UTF-8 text.")))
}

fn too_large() -> ApiError {
    ApiError::new(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", "File size imported is too large")
}

/// A multipart import's text fields as a JSON object (`overwrite` as a
/// boolean) and its `content` part, counted against the budget as it
/// arrives: an over-large or over-budget file is refused at the chunk that
/// crosses the line, not once it is all in memory.
async fn import_form(mut form: Multipart, budget: &Arc<Budget>) -> ApiResult<(Value, Bytes, Held)> {
    let unreadable = |e: axum::extract::multipart::MultipartError| match e.status().as_u16() {
        413 => too_large(),
        _ => ApiError::malformed(e.body_text()),
    };
    let mut fields = serde_json::Map::new();
    let mut content = None;
    while let Some(mut field) = form.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "content" => {
                let mut ingest = Ingest::new(budget, MAX_FILE_BYTES as u64);
                while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                    ingest.push(chunk).map_err(|e| e.api_error(|_| too_large()))?;
                }
                content = Some(ingest.finish_contiguous().map_err(|e| e.api_error(|_| too_large()))?);
            }
            "path" | "format" | "language" => {
                fields.insert(name, Value::String(short_text(&mut field).await?));
            }
            "overwrite" => {
                let text = short_text(&mut field).await?;
                fields.insert(name, Value::Bool(text.trim().eq_ignore_ascii_case("true")));
            }
            // Unknown fields are dropped, as the real service drops them.
            _ => {}
        }
    }
    let (content, held) = content.unwrap_or_else(|| (Bytes::new(), budget.hold()));
    Ok((Value::Object(fields), content, held))
}

async fn export(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> Result<Response, ApiError> {
    let path = canonical(params.required("path")?)?;
    let direct = params.bool("direct_download")?.unwrap_or(false);
    let (content, extension) = s.with(|w| {
        let o = w.workspace.get(&path)?;
        may(w, &path, &caller, "CAN_READ")?;
        if o.holds_objects() {
            return Err(ApiError::invalid(format!(
                "Path ({path}) is a directory; only DBC export supports directories."
            )));
        }
        let ext = match o.language.as_deref() {
            Some("PYTHON") => "py",
            Some("SQL") => "sql",
            Some("SCALA") => "scala",
            Some("R") => "r",
            _ => "",
        };
        Ok((o.content.clone(), ext))
    })?;
    if direct {
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], content).into_response());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    Ok(Json(json!({"content": encoded, "file_type": extension})).into_response())
}

async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let path = canonical(params.required("path")?)?;
    s.with(|w| {
        if w.workspace.id_of(&path).is_some() {
            may(w, &path, &caller, "CAN_READ")?;
        }
        let tree = &w.workspace;
        if !tree.is_dir(&path) {
            let o = tree.get(&path)?;
            return Ok(Json(json!({"objects": [tree.info(&path, o)]})));
        }
        let objects: Vec<Value> = tree.children(&path).into_iter().map(|(p, o)| tree.info(p, o)).collect();
        Ok(Json(if objects.is_empty() { json!({}) } else { json!({"objects": objects}) }))
    })
}

async fn get_status(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let path = canonical(params.required("path")?)?;
    s.with(|w| {
        if path == "/" {
            return Ok(Json(json!({"object_type": "DIRECTORY", "path": "/", "object_id": 0})));
        }
        let o = w.workspace.get(&path)?;
        may(w, &path, &caller, "CAN_READ")?;
        Ok(Json(w.workspace.info(&path, o)))
    })
}

async fn mkdirs(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let path = canonical(required_str(&body, "path")?)?;
    s.with(|w| {
        may(w, &path, &caller, "CAN_EDIT")?;
        w.workspace.mkdirs(&path)
    })?;
    empty()
}

async fn delete(State(s): State<AppState>, Extension(caller): Extension<Caller>, Body(body): Body<Value>) -> ApiResult {
    let path = canonical(required_str(&body, "path")?)?;
    let recursive = bool_field(&body, "recursive")?.unwrap_or(false);
    if matches!(path.as_str(), "/" | "/Shared" | "/Users" | "/Repos") {
        // What every user may manage inside is not theirs to remove.
        return Err(ApiError::permission_denied(format!("{path} is a system folder and cannot be deleted.")));
    }
    s.with(|w| {
        w.workspace.get(&path)?;
        may(w, &path, &caller, "CAN_MANAGE")?;
        let tree = &mut w.workspace;
        let prefix = format!("{path}/");
        let has_children = tree.objects.range(prefix.clone()..).next().is_some_and(|(p, _)| p.starts_with(&prefix));
        if has_children && !recursive {
            return Err(ApiError::new(400, "DIRECTORY_NOT_EMPTY", format!("Folder ({path}) is not empty.")));
        }
        for object_id in tree.remove_tree(&path) {
            w.emit(super::Event::ObjectGone { object_id });
        }
        Ok(())
    })?;
    empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths() {
        assert_eq!(canonical("/Users/a/").ok().as_deref(), Some("/Users/a"));
        assert_eq!(canonical("/Workspace/Users/a").ok().as_deref(), Some("/Users/a"));
        assert_eq!(canonical("/Workspace").ok().as_deref(), Some("/"));
        assert_eq!(canonical("/WorkspaceX").ok().as_deref(), Some("/WorkspaceX"));
        for bad in ["relative", "/a/../b", "/a//b", "/a/./b", "/a\0b"] {
            assert!(canonical(bad).is_err(), "{bad}");
        }
    }
}

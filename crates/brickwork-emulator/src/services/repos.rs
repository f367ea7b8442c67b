//! Git folders (`/api/2.0/repos`) and Git credentials
//! (`/api/2.0/git-credentials`). A Git folder is a workspace object of
//! type `REPO`: notebooks and files imported under its path run from it
//! (the emulator reaches no Git server, so it holds what is put in it),
//! and moving it to a branch or tag gives it a new head commit.
//! Credentials belong to the caller (admins may name another principal);
//! their token is never answered back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound::{Excluded, Included, Unbounded};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::{cursor_token, empty, page_body, resume_after_token, ApiError, ApiResult, Body, Params};
use crate::services::permissions;
use crate::services::workspace::canonical;
use crate::state::{AppState, Caller, World};
use crate::storage::{Holdings, StorageFull};
use crate::{ids, index};

/// The providers the APIs take, as the SDKs spell them.
const PROVIDERS: &[&str] = &[
    "gitHub",
    "bitbucketCloud",
    "gitLab",
    "azureDevOpsServices",
    "gitHubEnterprise",
    "bitbucketServer",
    "gitLabEnterpriseEdition",
    "awsCodeCommit",
];

/// Repos listed per page.
const PAGE: usize = 100;

#[derive(Debug, Clone, Serialize)]
struct Repo {
    /// Its workspace path (fixed: no API moves a Git folder).
    path: String,
    url: String,
    provider: &'static str,
    branch: Option<String>,
    tag: Option<String>,
    head_commit_id: String,
    sparse_checkout: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
struct Credential {
    owner: String,
    git_provider: &'static str,
    git_username: Option<String>,
    git_email: Option<String>,
    name: Option<String>,
    is_default_for_provider: bool,
}

/// Git folders by id (their workspace object id) and by path, and
/// credentials by id and by owner.
#[derive(Debug, Default)]
pub struct Repos {
    repos: BTreeMap<i64, Repo>,
    /// The listing's order: a path prefix is a range of it.
    by_path: BTreeMap<String, i64>,
    credentials: BTreeMap<i64, Credential>,
    /// A principal's credentials, without reading everyone's.
    credentials_of: HashMap<String, BTreeSet<i64>>,
    next_credential: i64,
    /// Each Git folder's and credential's count against the storage budget.
    repos_held: Holdings<i64>,
    credentials_held: Holdings<i64>,
}

impl Repos {
    fn insert_repo(&mut self, id: i64, repo: Repo) {
        self.by_path.insert(repo.path.clone(), id);
        self.repos.insert(id, repo);
    }

    fn remove_repo(&mut self, id: i64) {
        if let Some(repo) = self.repos.remove(&id) {
            self.by_path.remove(&repo.path);
        }
        self.repos_held.release(&id);
    }

    /// Store a credential (new or changed: its owner never changes).
    fn insert_credential(&mut self, id: i64, credential: Credential) {
        index::file(&mut self.credentials_of, credential.owner.clone(), id);
        self.credentials.insert(id, credential);
    }

    fn remove_credential(&mut self, id: i64) {
        if let Some(c) = self.credentials.remove(&id) {
            index::unfile(&mut self.credentials_of, &c.owner, &id);
        }
        self.credentials_held.release(&id);
    }

    /// `owner`'s credentials, in id order.
    fn credentials_of<'a>(&'a self, owner: &str) -> impl Iterator<Item = (i64, &'a Credential)> + 'a {
        let ids = self.credentials_of.get(owner).into_iter().flatten();
        ids.filter_map(|id| Some((*id, self.credentials.get(id)?)))
    }

    /// The Git folders whose paths start with `prefix`, in path order,
    /// after the path `after`: a range of the path index, so a page costs
    /// its own length, however many folders lie elsewhere.
    fn listed<'a>(&'a self, prefix: &'a str, after: Option<&str>) -> impl Iterator<Item = i64> + 'a {
        let from = after.map_or_else(|| Included(prefix.to_string()), |after| Excluded(after.to_string()));
        let matching =
            self.by_path.range::<String, _>((from, Unbounded)).take_while(move |(path, _)| path.starts_with(prefix));
        matching.map(|(_, id)| *id)
    }

    pub fn exists(&self, id: &str) -> bool {
        id.parse().is_ok_and(|id: i64| self.repos.contains_key(&id))
    }
}

/// The Repos and Git credentials service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "repos"
    }

    fn routes(&self) -> Router<AppState> {
        Router::new()
            .route("/api/2.0/repos", get(list).post(create))
            .route("/api/2.0/repos/{id}", get(get_repo).patch(update).delete(delete))
            .route("/api/2.0/git-credentials", get(list_credentials).post(create_credential))
            .route(
                "/api/2.0/git-credentials/{id}",
                get(get_credential).patch(update_credential).delete(delete_credential),
            )
    }

    fn on_event(&self, world: &mut World, event: &super::Event) {
        match event {
            // A Git folder deleted through the workspace API is gone here too.
            super::Event::ObjectGone { object_id } => {
                if let Some(id) = object_id.strip_prefix("/repos/").and_then(|id| id.parse().ok()) {
                    world.repos.remove_repo(id);
                }
            }
            // A deleted principal's credentials go with it.
            super::Event::PrincipalDeleted { name } => {
                let theirs: Vec<i64> = world.repos.credentials_of(name).map(|(id, _)| id).collect();
                theirs.into_iter().for_each(|id| world.repos.remove_credential(id));
            }
            _ => {}
        }
    }
}

fn provider(raw: &str) -> ApiResult<&'static str> {
    PROVIDERS.iter().find(|p| p.eq_ignore_ascii_case(raw)).copied().ok_or_else(|| {
        ApiError::invalid(format!("Invalid Git provider {raw}. Expected one of {}.", PROVIDERS.join(", ")))
    })
}

fn commit() -> String {
    format!("{}{}{}", ids::hex16(), ids::hex16(), &ids::hex16()[..8])
}

fn repo_missing(id: &str) -> ApiError {
    ApiError::not_found(format!("Repo {id} does not exist."))
}

fn render(id: i64, repo: &Repo) -> Value {
    let mut out = json!({
        "id": id, "url": repo.url, "provider": repo.provider, "head_commit_id": repo.head_commit_id,
        "path": repo.path,
    });
    if let Some(branch) = &repo.branch {
        out["branch"] = json!(branch);
    }
    if let Some(checkout) = &repo.sparse_checkout {
        out["sparse_checkout"] = checkout.clone();
    }
    out
}

#[derive(Debug, Deserialize)]
struct CreateRepo {
    url: String,
    provider: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    sparse_checkout: Option<Value>,
}

async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<CreateRepo>,
) -> ApiResult {
    let provider = provider(&request.provider)?;
    let name = request.url.trim_end_matches('/').trim_end_matches(".git").rsplit('/').next().unwrap_or_default();
    if !(request.url.starts_with("https://") || request.url.starts_with("git@")) || name.is_empty() {
        return Err(ApiError::invalid(format!("Invalid Git repository URL: {}", request.url)));
    }
    let path = canonical(&request.path.unwrap_or_else(|| format!("/Repos/{}/{name}", caller.user_name)))?;
    let repo = Repo {
        path: path.clone(),
        url: request.url.clone(),
        provider,
        branch: Some("main".into()),
        tag: None,
        head_commit_id: commit(),
        sparse_checkout: request.sparse_checkout,
    };
    s.with(|w| {
        // Made where the caller may write, as any folder is.
        super::workspace::may_write(w, &path, &caller)?;
        let held = w.budget.hold_json(&repo).map_err(StorageFull::api_error)?;
        let id = w.workspace.put_repo(&path)?;
        w.repos.repos_held.keep(id, held);
        w.repos.insert_repo(id, repo.clone());
        permissions::created(w, &permissions::REPOS, &id.to_string(), &caller);
        Ok(Json(render(id, &repo)))
    })
}

/// `Ok` when `caller` holds `level` on the Git folder.
fn may(w: &World, id: i64, caller: &Caller, level: &str) -> ApiResult<()> {
    permissions::require(w, &permissions::REPOS, &id.to_string(), caller, level, || {
        ApiError::permission_denied(format!("User {} does not have {level} permission on repo {id}.", caller.user_name))
    })
}

fn repo_id(raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| repo_missing(raw))
}

async fn get_repo(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> ApiResult {
    let id = repo_id(&raw)?;
    s.with(|w| {
        let repo = w.repos.repos.get(&id).ok_or_else(|| repo_missing(&raw))?;
        may(w, id, &caller, "CAN_READ")?;
        Ok(Json(render(id, repo)))
    })
}

async fn list(State(s): State<AppState>, Extension(caller): Extension<Caller>, params: Params) -> ApiResult {
    let prefix = listed_prefix(params.get("path_prefix"))?;
    let after = resume_after_token(params.get("next_page_token"), "repos")?;
    // A token resumes the listing it came from: a path under this prefix.
    if let Some(after) = after.as_deref().filter(|after| !after.starts_with(&prefix)) {
        return Err(ApiError::invalid(format!(
            "Invalid page token for path_prefix {prefix}: it resumes after {after}."
        )));
    }
    s.with(|w| {
        let mut matching = w
            .repos
            .listed(&prefix, after.as_deref())
            // The folders the caller may manage, as the API lists them.
            .filter(|id| may(w, *id, &caller, "CAN_MANAGE").is_ok())
            .filter_map(|id| Some((id, w.repos.repos.get(&id)?)));
        let page: Vec<(i64, &Repo)> = matching.by_ref().take(PAGE).collect();
        let next = match (page.last(), matching.next()) {
            (Some((_, last)), Some(_)) => Some(cursor_token("repos", &last.path)),
            _ => None,
        };
        let items: Vec<Value> = page.iter().map(|(id, repo)| render(*id, repo)).collect();
        Ok(Json(page_body(json!({}), "repos", items, next)))
    })
}

/// The paths a listing's `path_prefix` selects: those starting with it, as
/// given (`/Workspace/...` read as `/...`, a trailing `/` kept). No prefix,
/// or one naming the whole workspace (`/`, `/Workspace`): the folders
/// under `/Repos`, as the API documents.
fn listed_prefix(raw: Option<&str>) -> ApiResult<String> {
    let Some(raw) = raw.filter(|raw| !raw.is_empty()) else { return Ok("/Repos/".to_string()) };
    let path = canonical(raw)?;
    Ok(match path.as_str() {
        "/" => "/Repos/".to_string(),
        _ if raw.ends_with('/') => format!("{path}/"),
        _ => path,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpdateRepo {
    branch: Option<String>,
    tag: Option<String>,
    sparse_checkout: Option<Value>,
}

async fn update(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Body(request): Body<UpdateRepo>,
) -> ApiResult {
    let id = repo_id(&raw)?;
    if request.branch.is_some() && request.tag.is_some() {
        return Err(ApiError::invalid("Only one of branch and tag may be given."));
    }
    s.with(|w| {
        w.repos.repos.get(&id).ok_or_else(|| repo_missing(&raw))?;
        may(w, id, &caller, "CAN_EDIT")?;
        let mut repo = w.repos.repos.get(&id).cloned().ok_or_else(|| repo_missing(&raw))?;
        if let Some(branch) = request.branch.filter(|b| !b.trim().is_empty()) {
            // Checked out: the branch's head, a new commit for a new branch.
            if repo.branch.as_deref() != Some(branch.as_str()) {
                repo.head_commit_id = commit();
            }
            repo.branch = Some(branch);
            repo.tag = None;
        }
        if let Some(tag) = request.tag.filter(|t| !t.trim().is_empty()) {
            // A tag detaches the head: no branch is shown.
            repo.head_commit_id = commit();
            repo.branch = None;
            repo.tag = Some(tag);
        }
        if let Some(checkout) = request.sparse_checkout {
            repo.sparse_checkout = Some(checkout);
        }
        w.repos.repos_held.count_json(&w.budget, id, &repo).map_err(StorageFull::api_error)?;
        w.repos.insert_repo(id, repo);
        Ok(())
    })?;
    empty()
}

async fn delete(State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(raw): Path<String>) -> ApiResult {
    let id = repo_id(&raw)?;
    s.with(|w| {
        let path = w.repos.repos.get(&id).ok_or_else(|| repo_missing(&raw))?.path.clone();
        may(w, id, &caller, "CAN_MANAGE")?;
        for object_id in w.workspace.remove(&path) {
            w.emit(super::Event::ObjectGone { object_id });
        }
        w.repos.remove_repo(id);
        Ok(())
    })?;
    empty()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CredentialRequest {
    git_provider: String,
    git_username: Option<String>,
    git_email: Option<String>,
    name: Option<String>,
    personal_access_token: Option<String>,
    is_default_for_provider: Option<bool>,
    principal_id: Option<i64>,
}

/// Whose credentials a call is about: the caller's, or those of the service
/// principal `principal_id` names (admins only: they manage every service
/// principal). Only a service principal's are reached by id, as the API
/// documents it.
fn owner_of(w: &World, caller: &Caller, principal_id: Option<i64>) -> ApiResult<String> {
    let Some(id) = principal_id else { return Ok(caller.user_name.clone()) };
    if !caller.admin {
        return Err(ApiError::permission_denied(
            "Only managers of a service principal can manage its Git credentials.",
        ));
    }
    let name =
        w.directory.principal_name(id).ok_or_else(|| ApiError::not_found(format!("Principal {id} does not exist.")))?;
    if w.directory.sp_id(&name) != Some(id) {
        return Err(ApiError::invalid(format!(
            "Principal {id} is not a service principal: principal_id names service principals only."
        )));
    }
    Ok(name)
}

fn credential_missing(id: i64) -> ApiError {
    ApiError::not_found(format!("Credential with id {id} does not exist."))
}

fn render_credential(id: i64, c: &Credential) -> Value {
    let mut out = json!({"credential_id": id, "git_provider": c.git_provider, "is_default_for_provider": c.is_default_for_provider});
    for (key, value) in [("git_username", &c.git_username), ("git_email", &c.git_email), ("name", &c.name)] {
        if let Some(value) = value {
            out[key] = json!(value);
        }
    }
    out
}

/// A credential made default for its provider is the only default there.
fn make_default(w: &mut World, id: i64) {
    let Some(chosen) = w.repos.credentials.get(&id).cloned() else { return };
    let same: Vec<i64> = w
        .repos
        .credentials_of(&chosen.owner)
        .filter(|(other, c)| *other != id && c.git_provider == chosen.git_provider)
        .map(|(other, _)| other)
        .collect();
    for other in same {
        if let Some(c) = w.repos.credentials.get_mut(&other) {
            c.is_default_for_provider = false;
        }
    }
}

async fn create_credential(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<CredentialRequest>,
) -> ApiResult {
    let git_provider = provider(&request.git_provider)?;
    s.with(|w| {
        let owner = owner_of(w, &caller, request.principal_id)?;
        let first_for_provider = !w.repos.credentials_of(&owner).any(|(_, c)| c.git_provider == git_provider);
        w.repos.next_credential += 1;
        let id = 1_000_000_000_000 + w.repos.next_credential;
        let credential = Credential {
            owner,
            git_provider,
            git_username: request.git_username,
            git_email: request.git_email,
            name: request.name,
            is_default_for_provider: request.is_default_for_provider.unwrap_or(first_for_provider),
        };
        let _ = request.personal_access_token;
        w.repos.credentials_held.count_json(&w.budget, id, &credential).map_err(StorageFull::api_error)?;
        w.repos.insert_credential(id, credential);
        if w.repos.credentials.get(&id).is_some_and(|c| c.is_default_for_provider) {
            make_default(w, id);
        }
        let answer = w.repos.credentials.get(&id).map(|c| render_credential(id, c)).unwrap_or_default();
        Ok(Json(answer))
    })
}

/// The credential `raw` names, if it belongs to `owner`.
fn owned(w: &World, raw: &str, owner: &str) -> ApiResult<i64> {
    let id: i64 = raw.parse().map_err(|_| ApiError::not_found(format!("Credential with id {raw} does not exist.")))?;
    match w.repos.credentials.get(&id) {
        Some(c) if c.owner == owner => Ok(id),
        _ => Err(credential_missing(id)),
    }
}

async fn list_credentials(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult {
    let principal = params.int("principal_id")?;
    s.with(|w| {
        let owner = owner_of(w, &caller, principal)?;
        let items: Vec<Value> = w.repos.credentials_of(&owner).map(|(id, c)| render_credential(id, c)).collect();
        Ok(Json(json!({"credentials": items})))
    })
}

async fn get_credential(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    params: Params,
) -> ApiResult {
    let principal = params.int("principal_id")?;
    s.with(|w| {
        let owner = owner_of(w, &caller, principal)?;
        let id = owned(w, &raw, &owner)?;
        Ok(Json(w.repos.credentials.get(&id).map(|c| render_credential(id, c)).unwrap_or_default()))
    })
}

async fn update_credential(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Body(request): Body<CredentialRequest>,
) -> ApiResult {
    let git_provider = provider(&request.git_provider)?;
    s.with(|w| {
        let owner = owner_of(w, &caller, request.principal_id)?;
        let id = owned(w, &raw, &owner)?;
        let Some(mut c) = w.repos.credentials.get(&id).cloned() else { return Err(credential_missing(id)) };
        c.git_provider = git_provider;
        if request.git_username.is_some() {
            c.git_username = request.git_username;
        }
        if request.git_email.is_some() {
            c.git_email = request.git_email;
        }
        if request.name.is_some() {
            c.name = request.name;
        }
        let made_default = request.is_default_for_provider == Some(true);
        if let Some(default) = request.is_default_for_provider {
            c.is_default_for_provider = default;
        }
        w.repos.credentials_held.count_json(&w.budget, id, &c).map_err(StorageFull::api_error)?;
        w.repos.insert_credential(id, c);
        if made_default {
            make_default(w, id);
        }
        Ok(())
    })?;
    empty()
}

async fn delete_credential(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    params: Params,
) -> ApiResult {
    let principal = params.int("principal_id")?;
    s.with(|w| {
        let owner = owner_of(w, &caller, principal)?;
        let id = owned(w, &raw, &owner)?;
        w.repos.remove_credential(id);
        Ok(())
    })?;
    empty()
}

//! The Permissions API (`/api/2.0/permissions/{type}/{id}`, also reached
//! through each service's `get_permissions`/`set_permissions`): access
//! control lists on clusters, jobs, pipelines, notebooks, directories,
//! files, repos, warehouses, cluster policies, instance pools and tokens,
//! and the checks other services make with them.
//!
//! Admins hold every level on every object (inherited from the type's
//! root, as real workspaces show it). Other principals hold what their
//! entries, their groups' entries and (for workspace objects) the entries
//! of the folders above grant; everyone manages their own home folder, and
//! `/Shared` is open to all users.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{ApiError, ApiResult, Body};
use crate::state::{AppState, Caller, World};
use crate::storage::{Budget, Holdings, StorageFull};

/// A kind of object with an access control list.
#[derive(Debug)]
pub struct Kind {
    /// The URL segment: `clusters`, `jobs`, `sql/warehouses`, ...
    pub segment: &'static str,
    /// `object_type` in answers.
    object_type: &'static str,
    /// The levels, weakest first: each grants what the ones before it do.
    levels: &'static [(&'static str, &'static str)],
    /// The level a creator gets.
    creator: &'static str,
    /// Whether an access control list must name exactly one owner.
    one_owner: bool,
}

const CLUSTER_LEVELS: &[(&str, &str)] = &[
    ("CAN_ATTACH_TO", "Can attach notebooks and run commands"),
    ("CAN_RESTART", "Can start, restart and terminate"),
    ("CAN_MANAGE", "Can edit, delete and change permissions"),
];
const JOB_LEVELS: &[(&str, &str)] = &[
    ("CAN_VIEW", "Can view the job and its runs"),
    ("CAN_MANAGE_RUN", "Can run and cancel runs"),
    ("CAN_MANAGE", "Can edit and delete the job"),
    ("IS_OWNER", "Owns the job; runs run as the owner"),
];
const PIPELINE_LEVELS: &[(&str, &str)] = &[
    ("CAN_VIEW", "Can view the pipeline"),
    ("CAN_RUN", "Can start and stop updates"),
    ("CAN_MANAGE", "Can edit and delete the pipeline"),
    ("IS_OWNER", "Owns the pipeline"),
];
const WORKSPACE_LEVELS: &[(&str, &str)] = &[
    ("CAN_READ", "Can read"),
    ("CAN_RUN", "Can run"),
    ("CAN_EDIT", "Can edit"),
    ("CAN_MANAGE", "Can manage and change permissions"),
];
const WAREHOUSE_LEVELS: &[(&str, &str)] = &[
    ("CAN_VIEW", "Can view the warehouse"),
    ("CAN_MONITOR", "Can view queries and metrics"),
    ("CAN_USE", "Can run statements"),
    ("CAN_MANAGE", "Can edit, start, stop and delete"),
    ("IS_OWNER", "Owns the warehouse"),
];
const USE_LEVELS: &[(&str, &str)] = &[("CAN_USE", "Can use")];
const SERVING_LEVELS: &[(&str, &str)] = &[
    ("CAN_VIEW", "Can view the endpoint"),
    ("CAN_QUERY", "Can query the endpoint"),
    ("CAN_MANAGE", "Can edit, delete and change permissions"),
];
const POOL_LEVELS: &[(&str, &str)] =
    &[("CAN_ATTACH_TO", "Can attach clusters"), ("CAN_MANAGE", "Can edit and delete the pool")];

const fn kind(
    segment: &'static str,
    object_type: &'static str,
    levels: &'static [(&'static str, &'static str)],
    creator: &'static str,
    one_owner: bool,
) -> Kind {
    Kind { segment, object_type, levels, creator, one_owner }
}

pub static CLUSTERS: Kind = kind("clusters", "cluster", CLUSTER_LEVELS, "CAN_MANAGE", false);
pub static JOBS: Kind = kind("jobs", "job", JOB_LEVELS, "IS_OWNER", true);
pub static PIPELINES: Kind = kind("pipelines", "pipelines", PIPELINE_LEVELS, "IS_OWNER", true);
pub static NOTEBOOKS: Kind = kind("notebooks", "notebook", WORKSPACE_LEVELS, "CAN_MANAGE", false);
pub static DIRECTORIES: Kind = kind("directories", "directory", WORKSPACE_LEVELS, "CAN_MANAGE", false);
pub static FILES: Kind = kind("files", "file", WORKSPACE_LEVELS, "CAN_MANAGE", false);
pub static REPOS: Kind = kind("repos", "repo", WORKSPACE_LEVELS, "CAN_MANAGE", false);
pub static WAREHOUSES: Kind = kind("sql/warehouses", "warehouses", WAREHOUSE_LEVELS, "IS_OWNER", true);
pub static CLUSTER_POLICIES: Kind = kind("cluster-policies", "cluster-policy", USE_LEVELS, "CAN_USE", false);
pub static INSTANCE_POOLS: Kind = kind("instance-pools", "instance-pool", POOL_LEVELS, "CAN_MANAGE", false);
pub static TOKENS: Kind = kind("authorization", "tokens", USE_LEVELS, "CAN_USE", false);
pub static SERVING_ENDPOINTS: Kind = kind("serving-endpoints", "serving-endpoint", SERVING_LEVELS, "CAN_MANAGE", false);
/// One-time runs (`runs/submit`): their list comes with the submit and has
/// no Permissions API route of its own.
pub static SUBMITTED_RUNS: Kind = kind("runs", "run", JOB_LEVELS, "IS_OWNER", true);

static KINDS: &[&Kind] = &[
    &CLUSTERS,
    &JOBS,
    &PIPELINES,
    &NOTEBOOKS,
    &DIRECTORIES,
    &FILES,
    &REPOS,
    &WAREHOUSES,
    &CLUSTER_POLICIES,
    &INSTANCE_POOLS,
    &TOKENS,
    &SERVING_ENDPOINTS,
];

impl Kind {
    fn rank(&self, level: &str) -> Option<usize> {
        self.levels.iter().position(|(name, _)| *name == level)
    }

    fn top(&self) -> usize {
        self.levels.len().saturating_sub(1)
    }

    fn object_id(&self, id: &str) -> String {
        format!("/{}/{id}", self.segment)
    }

    fn is_workspace_object(&self) -> bool {
        matches!(self.segment, "notebooks" | "directories" | "files" | "repos")
    }
}

/// Who an entry grants to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Grantee {
    User(String),
    Group(String),
    ServicePrincipal(String),
}

impl Grantee {
    fn of(world: &World, caller: &Caller) -> Grantee {
        match world.directory.sp_id(&caller.user_name) {
            Some(_) => Grantee::ServicePrincipal(caller.user_name.clone()),
            None => Grantee::User(caller.user_name.clone()),
        }
    }

    fn name(&self) -> &str {
        match self {
            Grantee::User(name) | Grantee::Group(name) | Grantee::ServicePrincipal(name) => name,
        }
    }

    fn render(&self, out: &mut Value) {
        match self {
            Grantee::User(name) => {
                out["user_name"] = json!(name);
                out["display_name"] = json!(name);
            }
            Grantee::Group(name) => out["group_name"] = json!(name),
            Grantee::ServicePrincipal(name) => {
                out["service_principal_name"] = json!(name);
                out["display_name"] = json!(name);
            }
        }
    }
}

/// Direct entries by object id (`/clusters/0123-...`).
#[derive(Debug, Default)]
pub struct Permissions {
    acls: HashMap<String, BTreeMap<Grantee, &'static str>>,
    /// Grantee -> the objects whose lists name them: what a listing of
    /// the objects a user may see starts from, instead of every object.
    named_in: HashMap<Grantee, BTreeSet<String>>,
    /// Each list's count against the storage budget, by object id.
    held: Holdings<String>,
}

/// What a list takes in memory, near enough: its names and a level each.
fn stored_len(acl: &BTreeMap<Grantee, &'static str>) -> u64 {
    acl.keys().map(|grantee| grantee.name().len() as u64 + 32).sum()
}

impl Permissions {
    /// An object is gone: its entries go with it.
    pub fn forget(&mut self, kind: &Kind, id: &str) {
        self.remove(&kind.object_id(id));
    }

    /// Object `object_id` takes the list `acl`, in place of any it had: the
    /// list a create makes, counted against the storage budget even past it
    /// (it comes with an object the budget admitted).
    fn set(&mut self, budget: &Arc<Budget>, object_id: String, acl: BTreeMap<Grantee, &'static str>) {
        self.held.note(budget, object_id.clone(), stored_len(&acl));
        self.unlist(&object_id);
        for grantee in acl.keys() {
            crate::index::file(&mut self.named_in, grantee.clone(), object_id.clone());
        }
        self.acls.insert(object_id, acl);
    }

    /// [`set`](Self::set) a list asked for through the API: it must fit.
    fn set_within_budget(
        &mut self,
        budget: &Arc<Budget>,
        object_id: String,
        acl: BTreeMap<Grantee, &'static str>,
    ) -> Result<(), StorageFull> {
        self.held.count(budget, object_id.clone(), stored_len(&acl))?;
        self.set(budget, object_id, acl);
        Ok(())
    }

    fn remove(&mut self, object_id: &str) {
        self.held.release(&object_id.to_string());
        self.unlist(object_id);
    }

    /// Take the object's list and its index entries out.
    fn unlist(&mut self, object_id: &str) {
        for grantee in self.acls.remove(object_id).unwrap_or_default().into_keys() {
            crate::index::unfile(&mut self.named_in, &grantee, &object_id.to_string());
        }
    }

    /// Whether the object has a list of its own (set through this API or at
    /// creation); without one, a kind's default holds.
    pub fn has_list(&self, kind: &Kind, id: &str) -> bool {
        self.acls.contains_key(&kind.object_id(id))
    }

    /// Objects with an access control list (for the admin counters).
    pub fn count(&self) -> usize {
        self.acls.len()
    }
}

/// Who an access control list may name for `caller`: itself and its groups.
fn grantees_of(world: &World, caller: &Caller) -> Vec<Grantee> {
    let mut grantees = vec![Grantee::of(world, caller)];
    grantees.extend(world.directory.group_names_of(&caller.user_name).into_iter().map(Grantee::Group));
    grantees
}

/// The entries of `caller`'s grantees (itself and its groups) between
/// `bounds`, one ordered range per grantee.
fn named_between<'a>(
    world: &'a World,
    caller: &Caller,
    bounds: (Bound<String>, Bound<String>),
) -> Vec<std::collections::btree_set::Range<'a, String>> {
    let grantees = grantees_of(world, caller);
    grantees
        .iter()
        .filter_map(|g| world.permissions.named_in.get(g))
        .map(|objects| objects.range(bounds.clone()))
        .collect()
}

/// Where the object ids of `kind` start (`/runs/`) and end: every one of
/// them sorts below the kind's name followed by '0', the character after '/'.
fn kind_span(kind: &Kind) -> (String, String) {
    let prefix = kind.object_id("");
    let end = format!("/{}0", kind.segment);
    (prefix, end)
}

/// The ids of the objects of `kind` whose lists name `caller` or a group of
/// theirs, after `after`, in the order of their ids as text: for kinds
/// without defaults (jobs, pipelines, warehouses), what a non-admin may see. Merged
/// lazily from each grantee's index, so a page costs its own length (per
/// grantee), not every object the caller may see.
pub fn named_for<'a>(
    world: &'a World,
    kind: &Kind,
    caller: &Caller,
    after: Option<&str>,
) -> impl Iterator<Item = &'a str> + 'a {
    let (prefix, end) = kind_span(kind);
    let start = match after {
        Some(after) => Bound::Excluded(format!("{prefix}{after}")),
        None => Bound::Included(prefix.clone()),
    };
    let sources = named_between(world, caller, (start, Bound::Excluded(end)));
    let skip = prefix.len();
    crate::index::union(sources).filter_map(move |object_id: &'a String| object_id.get(skip..))
}

/// [`named_for`] the other way: the ids below `before` (all without it),
/// in falling text order. For the world's number ids, all of one length,
/// that is newest first.
pub fn named_for_before<'a>(
    world: &'a World,
    kind: &Kind,
    caller: &Caller,
    before: Option<&str>,
) -> impl Iterator<Item = &'a str> + 'a {
    use std::cmp::Reverse;
    let (prefix, end) = kind_span(kind);
    let end = before.map_or(end, |before| format!("{prefix}{before}"));
    let sources = named_between(world, caller, (Bound::Included(prefix.clone()), Bound::Excluded(end)));
    let skip = prefix.len();
    let newest_first = sources.into_iter().map(|range| range.rev().map(Reverse)).collect();
    crate::index::union(newest_first).filter_map(move |Reverse(object_id): Reverse<&'a String>| object_id.get(skip..))
}

/// The user or service principal holding `IS_OWNER` on the object.
pub fn owner(world: &World, kind: &Kind, id: &str) -> Option<String> {
    let entries = world.permissions.acls.get(&kind.object_id(id))?;
    entries.iter().find(|(_, level)| **level == "IS_OWNER").and_then(|(grantee, _)| match grantee {
        Grantee::User(name) | Grantee::ServicePrincipal(name) => Some(name.clone()),
        Grantee::Group(_) => None,
    })
}

/// Give the creator of a new object the kind's creator level.
pub fn created(world: &mut World, kind: &Kind, id: &str, creator: &Caller) {
    let principal = Grantee::of(world, creator);
    let object_id = kind.object_id(id);
    let mut acl = world.permissions.acls.get(&object_id).cloned().unwrap_or_default();
    acl.insert(principal, kind.creator);
    world.permissions.set(&world.budget, object_id, acl);
}

/// An `access_control_list` sent with a create (`jobs/create`,
/// `runs/submit`), checked before the object exists so a bad entry creates
/// nothing.
#[derive(Debug, Default)]
pub struct InitialAcl(Vec<(Grantee, &'static str)>);

/// Check the `access_control_list` of a create request for `kind`.
pub fn initial_acl(world: &World, kind: &Kind, list: Option<&Value>) -> ApiResult<InitialAcl> {
    let Some(list) = list.filter(|l| !l.is_null()) else {
        return Ok(InitialAcl::default());
    };
    let access_control_list: Vec<Entry> = serde_json::from_value(list.clone())
        .map_err(|e| ApiError::invalid(format!("Invalid access_control_list: {e}")))?;
    let asked = entries(world, kind, AclRequest { access_control_list })?;
    if kind.one_owner && asked.iter().filter(|(_, level)| *level == "IS_OWNER").count() > 1 {
        let noun = kind.object_type.trim_end_matches('s');
        return Err(ApiError::invalid(format!("The {noun} must have exactly one owner.")));
    }
    Ok(InitialAcl(asked))
}

/// Install the list of a new object: its entries, and the creator's level
/// unless the list names another owner (then the creator manages it).
pub fn created_with(world: &mut World, kind: &Kind, id: &str, creator: &Caller, acl: InitialAcl) {
    let principal = Grantee::of(world, creator);
    let mut entries: BTreeMap<Grantee, &'static str> = acl.0.into_iter().collect();
    let owner_named = kind.one_owner && entries.values().any(|l| *l == "IS_OWNER");
    let creator_level = if owner_named { "CAN_MANAGE" } else { kind.creator };
    let keeps_own_entry = match entries.get(&principal).and_then(|l| kind.rank(l)) {
        // Without another owner the creator owns it, whatever they listed.
        Some(_) if kind.one_owner && !owner_named => false,
        Some(listed) => kind.rank(creator_level).is_none_or(|level| listed >= level),
        None => false,
    };
    if !keeps_own_entry {
        entries.insert(principal, creator_level);
    }
    world.permissions.set(&world.budget, kind.object_id(id), entries);
}

/// Whether a one-time run's list (if any) gives `caller` `level`.
pub fn run_allows(world: &World, run_id: i64, caller: &Caller, level: &str) -> bool {
    world.permissions.acls.contains_key(&SUBMITTED_RUNS.object_id(&run_id.to_string()))
        && allows(world, &SUBMITTED_RUNS, &run_id.to_string(), caller, level)
}

/// The rank of the level `caller` holds on the object (`None`: no access).
fn effective(world: &World, kind: &Kind, id: &str, caller: &Caller) -> Option<usize> {
    if caller.admin {
        return Some(kind.top());
    }
    let principal = Grantee::of(world, caller);
    let groups = world.directory.group_names_of(&caller.user_name);
    let holds = |entries: &BTreeMap<Grantee, &'static str>| {
        entries
            .iter()
            .filter(|(who, _)| match who {
                Grantee::Group(name) => groups.iter().any(|g| g == name),
                other => **other == principal,
            })
            .filter_map(|(_, level)| kind.rank(level))
            .max()
    };
    let mut best = world.permissions.acls.get(&kind.object_id(id)).and_then(holds);
    if kind.is_workspace_object() {
        // A folder's or Git folder's list covers what it holds.
        for (ancestor, _) in workspace_ancestors(world, id) {
            for holder in [&DIRECTORIES, &REPOS] {
                let from_folder = world.permissions.acls.get(&holder.object_id(&ancestor.to_string())).and_then(holds);
                best = best.max(from_folder);
            }
        }
        if let Some(path) = world.workspace.path_of(id.parse().unwrap_or(-1)) {
            if owns_by_place(path, &caller.user_name) {
                best = Some(kind.top());
            }
        }
    }
    best
}

/// Whether `user` manages whatever is at `path` by where it is: their home
/// folder, their Git folders (`/Repos/<user>`), and `/Shared`, open to all.
pub fn owns_by_place(path: &str, user: &str) -> bool {
    let under = |root: &str| path == root || path.starts_with(&format!("{root}/"));
    under(&format!("/Users/{user}")) || under(&format!("/Repos/{user}")) || under("/Shared")
}

/// The folders above a workspace object, nearest first: (object id, path).
fn workspace_ancestors(world: &World, id: &str) -> Vec<(i64, String)> {
    let Some(path) = id.parse().ok().and_then(|id| world.workspace.path_of(id)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current = path.to_string();
    while let Some((parent, _)) = current.rsplit_once('/') {
        if parent.is_empty() {
            break;
        }
        if let Some(parent_id) = world.workspace.id_of(parent) {
            out.push((parent_id, parent.to_string()));
        }
        current = parent.to_string();
    }
    out
}

/// Whether `caller` holds at least `level` on the object.
pub fn allows(world: &World, kind: &Kind, id: &str, caller: &Caller, level: &str) -> bool {
    let needed = kind.rank(level).unwrap_or(kind.top());
    effective(world, kind, id, caller).is_some_and(|held| held >= needed)
}

/// The name of the level `caller` holds on the object, if any.
pub fn level_of(world: &World, kind: &Kind, id: &str, caller: &Caller) -> Option<&'static str> {
    effective(world, kind, id, caller).and_then(|rank| kind.levels.get(rank)).map(|(name, _)| *name)
}

/// Whether the level `caller` holds is one of `levels` or above the highest
/// of them: for levels that do not include the ones below (a warehouse's
/// CAN_USE runs statements but does not monitor others').
pub fn holds_one_of(world: &World, kind: &Kind, id: &str, caller: &Caller, levels: &[&str]) -> bool {
    let Some(held) = effective(world, kind, id, caller) else { return false };
    let named = |rank: usize| kind.levels.get(rank).is_some_and(|(name, _)| levels.contains(name));
    named(held) || levels.iter().filter_map(|l| kind.rank(l)).max().is_some_and(|top| held > top)
}

/// `Ok` when `caller` holds at least `level`, else `denied()`.
pub fn require(
    world: &World,
    kind: &Kind,
    id: &str,
    caller: &Caller,
    level: &str,
    denied: impl FnOnce() -> ApiError,
) -> ApiResult<()> {
    if allows(world, kind, id, caller, level) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// The Permissions service of the workspace.
pub struct Api;

impl super::Service for Api {
    fn name(&self) -> &'static str {
        "permissions"
    }

    fn routes(&self) -> Router<AppState> {
        Router::new()
            .route("/api/2.0/permissions/{kind}/{id}", get(read).put(replace).patch(update))
            .route("/api/2.0/permissions/{kind}/{id}/permissionLevels", get(levels))
            .route(
                "/api/2.0/permissions/{prefix}/{kind}/{id}",
                get(read_nested).put(replace_nested).patch(update_nested),
            )
            .route("/api/2.0/permissions/{prefix}/{kind}/{id}/permissionLevels", get(levels_nested))
    }

    fn on_event(&self, world: &mut World, event: &super::Event) {
        match event {
            super::Event::ClusterRemoved { cluster_id } => world.permissions.forget(&CLUSTERS, cluster_id),
            super::Event::ObjectGone { object_id } => world.permissions.remove(object_id),
            _ => {}
        }
    }
}

/// Object types of the Permissions API whose services the emulator lacks.
const NOT_EMULATED: &[&str] = &[
    "apps",
    "experiments",
    "registered-models",
    "vector-search-endpoints",
    "dashboards",
    "dbsql-dashboards",
    "genie",
    "sql/alerts",
    "sql/queries",
    "alertsv2",
    "database-instances",
    "database-projects",
    "knowledge-assistants",
    "supervisor-agents",
    "authorization/passwords",
];

/// The kind a URL names: `clusters`, `sql/warehouses` (also `warehouses`),
/// `authorization/tokens`.
fn kind_of(segment: &str, id: &str) -> ApiResult<(&'static Kind, String)> {
    let segment = if segment == "warehouses" { "sql/warehouses" } else { segment };
    if segment == "authorization" && id == "tokens" {
        return Ok((&TOKENS, "tokens".to_string()));
    }
    if let Some(kind) = KINDS.iter().find(|k| k.segment == segment && k.segment != "authorization") {
        return Ok((kind, id.to_string()));
    }
    // Types Databricks has whose services the emulator does not serve:
    // answered as a route it lacks, not as a type no workspace knows.
    let named = if segment == "authorization" { format!("{segment}/{id}") } else { segment.to_string() };
    if NOT_EMULATED.contains(&named.as_str()) {
        return Err(ApiError::new(
            404,
            "ENDPOINT_NOT_FOUND",
            format!("The emulator does not serve permissions on {named}."),
        ));
    }
    Err(ApiError::invalid(format!("request_object_type is not recognized: {segment}")))
}

/// Whether the object exists (tokens always do).
fn exists(world: &World, kind: &Kind, id: &str) -> bool {
    match kind.segment {
        "clusters" => world.clusters.get(id).is_ok(),
        "jobs" => id.parse().is_ok_and(|id: i64| world.jobs.jobs.contains_key(&id)),
        "sql/warehouses" => world.warehouses.exists(id),
        "notebooks" | "directories" | "files" => {
            id.parse().ok().and_then(|id| world.workspace.path_of(id)).is_some_and(|path| {
                let object_kind = world.workspace.kind_at(path);
                match kind.segment {
                    "notebooks" => object_kind == Some("NOTEBOOK"),
                    "directories" => object_kind == Some("DIRECTORY"),
                    _ => object_kind == Some("FILE"),
                }
            })
        }
        "authorization" => true,
        "cluster-policies" => world.policies.exists(id),
        "instance-pools" => world.pools.exists(id),
        "repos" => world.repos.exists(id),
        "pipelines" => world.pipelines.exists(id),
        "serving-endpoints" => world.serving.exists(id),
        // Services the emulator does not serve yet have no objects.
        _ => false,
    }
}

fn missing(kind: &Kind, id: &str) -> ApiError {
    ApiError::not_found(format!("{} {id} does not exist.", kind.object_type))
}

fn render(world: &World, kind: &Kind, id: &str) -> Value {
    let mut list: Vec<Value> = Vec::new();
    for (principal, level) in world.permissions.acls.get(&kind.object_id(id)).into_iter().flatten() {
        let mut entry = json!({"all_permissions": [{"permission_level": level, "inherited": false}]});
        principal.render(&mut entry);
        list.push(entry);
    }
    if kind.is_workspace_object() {
        for (ancestor, _) in workspace_ancestors(world, id) {
            let folder = DIRECTORIES.object_id(&ancestor.to_string());
            for (principal, level) in world.permissions.acls.get(&folder).into_iter().flatten() {
                let inherited =
                    json!([{"permission_level": level, "inherited": true, "inherited_from_object": [folder]}]);
                let mut entry = json!({ "all_permissions": inherited });
                principal.render(&mut entry);
                list.push(entry);
            }
        }
    }
    let admins_level = kind.levels.iter().rev().find(|(l, _)| *l != "IS_OWNER").map_or("CAN_MANAGE", |(l, _)| l);
    let root = format!("/{}/", kind.segment);
    list.push(json!({
        "group_name": "admins",
        "all_permissions": [{"permission_level": admins_level, "inherited": true, "inherited_from_object": [root]}],
    }));
    json!({"object_id": kind.object_id(id), "object_type": kind.object_type, "access_control_list": list})
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AclRequest {
    access_control_list: Vec<Entry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Entry {
    user_name: Option<String>,
    group_name: Option<String>,
    service_principal_name: Option<String>,
    permission_level: Option<String>,
}

/// The request's entries, checked: one principal each, a level the kind has.
fn entries(world: &World, kind: &Kind, request: AclRequest) -> ApiResult<Vec<(Grantee, &'static str)>> {
    let mut out = Vec::new();
    for entry in request.access_control_list {
        let principal = match (entry.user_name, entry.group_name, entry.service_principal_name) {
            (Some(user), None, None) => {
                if world.directory.user_id(&user).is_none() {
                    return Err(ApiError::invalid(format!("Principal: UserName({user}) does not exist")));
                }
                Grantee::User(user)
            }
            (None, Some(group), None) => {
                if !world.directory.group_exists(&group) {
                    return Err(ApiError::invalid(format!("Principal: GroupName({group}) does not exist")));
                }
                Grantee::Group(group)
            }
            (None, None, Some(sp)) => {
                if world.directory.sp_id(&sp).is_none() {
                    return Err(ApiError::invalid(format!("Principal: ServicePrincipalName({sp}) does not exist")));
                }
                Grantee::ServicePrincipal(sp)
            }
            _ => return Err(ApiError::invalid("Each entry names exactly one user, group or service principal.")),
        };
        let asked = entry.permission_level.unwrap_or_default();
        let level = kind.levels.iter().map(|(l, _)| *l).find(|l| *l == asked).ok_or_else(|| {
            let allowed: Vec<&str> = kind.levels.iter().map(|(l, _)| *l).collect();
            ApiError::invalid(format!(
                "Permission {asked} is not valid for {}; allowed: {}.",
                kind.object_type,
                allowed.join(", ")
            ))
        })?;
        out.push((principal, level));
    }
    Ok(out)
}

/// The change a PUT (replace) or PATCH (add) asks, checked and applied.
fn change(
    world: &mut World,
    caller: &Caller,
    segment: &str,
    id: &str,
    method: &Method,
    body: Option<AclRequest>,
) -> ApiResult<Value> {
    let (kind, id) = kind_of(segment, id)?;
    if !exists(world, kind, &id) {
        return Err(missing(kind, &id));
    }
    // Reading and changing an access control list both take CAN_MANAGE;
    // kinds without that level (policies, tokens) are the admins' alone.
    let may_manage = match kind.rank("CAN_MANAGE") {
        Some(_) => allows(world, kind, &id, caller, "CAN_MANAGE"),
        None => caller.admin,
    };
    if !may_manage {
        return Err(denied(kind, &id, caller));
    }
    let Some(request) = body else {
        return Ok(render(world, kind, &id));
    };
    let asked = entries(world, kind, request)?;
    let object_id = kind.object_id(&id);
    let mut acl = if *method == Method::PUT {
        BTreeMap::new()
    } else {
        world.permissions.acls.get(&object_id).cloned().unwrap_or_default()
    };
    for (principal, level) in asked {
        acl.insert(principal, level);
    }
    if kind.one_owner {
        let owners = acl.values().filter(|l| **l == "IS_OWNER").count();
        if owners != 1 {
            let noun = kind.object_type.trim_end_matches('s');
            return Err(ApiError::invalid(format!("The {noun} must have exactly one owner.")));
        }
    }
    world.permissions.set_within_budget(&world.budget, object_id, acl).map_err(StorageFull::api_error)?;
    Ok(render(world, kind, &id))
}

fn denied(kind: &Kind, id: &str, caller: &Caller) -> ApiError {
    ApiError::permission_denied(format!(
        "{} does not have permission to manage the permissions of {} {id}.",
        caller.user_name, kind.object_type
    ))
}

async fn read(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult {
    s.with(|w| change(w, &c, &kind, &id, &Method::GET, None)).map(Json)
}

async fn replace(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((kind, id)): Path<(String, String)>,
    Body(body): Body<AclRequest>,
) -> ApiResult {
    s.with(|w| change(w, &c, &kind, &id, &Method::PUT, Some(body))).map(Json)
}

async fn update(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((kind, id)): Path<(String, String)>,
    Body(body): Body<AclRequest>,
) -> ApiResult {
    s.with(|w| change(w, &c, &kind, &id, &Method::PATCH, Some(body))).map(Json)
}

async fn levels(State(s): State<AppState>, Path((kind, id)): Path<(String, String)>) -> ApiResult {
    let (kind, id) = kind_of(&kind, &id)?;
    s.with(|w| if exists(w, kind, &id) { Ok(()) } else { Err(missing(kind, &id)) })?;
    let levels: Vec<Value> = kind
        .levels
        .iter()
        .map(|(level, description)| json!({"permission_level": level, "description": description}))
        .collect();
    Ok(Json(json!({"permission_levels": levels})))
}

/// `sql/warehouses/{id}` and `authorization/tokens/...`: the type has a slash.
fn joined(prefix: &str, kind: &str) -> String {
    format!("{prefix}/{kind}")
}

async fn read_nested(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((prefix, kind, id)): Path<(String, String, String)>,
) -> ApiResult {
    s.with(|w| change(w, &c, &joined(&prefix, &kind), &id, &Method::GET, None)).map(Json)
}

async fn replace_nested(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((prefix, kind, id)): Path<(String, String, String)>,
    Body(body): Body<AclRequest>,
) -> ApiResult {
    s.with(|w| change(w, &c, &joined(&prefix, &kind), &id, &Method::PUT, Some(body))).map(Json)
}

async fn update_nested(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((prefix, kind, id)): Path<(String, String, String)>,
    Body(body): Body<AclRequest>,
) -> ApiResult {
    s.with(|w| change(w, &c, &joined(&prefix, &kind), &id, &Method::PATCH, Some(body))).map(Json)
}

async fn levels_nested(
    State(s): State<AppState>,
    Path((prefix, kind, id)): Path<(String, String, String)>,
) -> ApiResult {
    levels(State(s), Path((joined(&prefix, &kind), id))).await
}
